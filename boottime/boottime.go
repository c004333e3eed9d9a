// Package boottime learns how long each offering's instances take from
// launch until they take work, so that a policy plans with the boots the
// cloud delivers (Snapshot.Boot) rather than with a configured guess.
//
// A Tracker keeps the last Window boots of each offering and estimates,
// once MinSamples are known, a boot that the next stays within with
// probability Quantile (a prediction bound), and their mean. It is not safe
// for concurrent use: the scheduler keeps one per pool, used by the pool's
// tick, and the simulator one per run.
package boottime

import (
	"maps"
	"math"
	"slices"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// Defaults: plan with a boot that the next boot of an offering stays
// within 19 times in 20, judged from its last 20 boots once 3 are known. A
// wait target is judged at p95 (the report and the status page flag a p95
// wait above it), so a job launched for must start within the target 19
// times in 20 even when boots spread. The window follows a cloud whose
// boots drift over a day of bursts.
//
// Of n boots alike, the next one is slower than the k-th fastest with
// probability (n+1-k)/(n+1), whatever their distribution (a prediction
// bound from order statistics). So the estimate for quantile q is the k-th
// fastest with k = ⌈q·(n+1)⌉, the slowest when that exceeds n: of 20
// boots, the slowest (the next exceeds it 1 time in 21). The nearest-rank
// quantile (the nineteenth of 20) is exceeded 2 times in 21, about 10%,
// and jobs held to the wait target then started late that often.
const (
	DefaultWindow     = 20
	DefaultQuantile   = 0.95
	DefaultMinSamples = 3
)

// Tracker estimates boot times per offering from the boots observed.
type Tracker struct {
	window, minSamples int
	quantile           float64
	samples            map[policy.OfferingKey]*ring
	est                map[policy.OfferingKey]time.Duration
	mean               map[policy.OfferingKey]time.Duration
	buf                []time.Duration
	// estOut and meanOut say that est and mean have been handed out
	// (Estimates, Means) since they were made: the next change makes a
	// new map. inPlace (WriteInPlace) writes them where they are.
	estOut, meanOut bool
	inPlace         bool
}

type ring struct {
	d    []time.Duration
	next int
}

// New returns a Tracker with the defaults.
func New() *Tracker { return NewWith(DefaultWindow, DefaultQuantile, DefaultMinSamples) }

// NewWith returns a Tracker keeping window boots per offering (at least 1)
// and estimating their quantile q (0 < q ≤ 1) once minSamples (1..window)
// are known. Out-of-range values take the defaults.
func NewWith(window int, q float64, minSamples int) *Tracker {
	if window < 1 {
		window = DefaultWindow
	}
	if !(q > 0 && q <= 1) {
		q = DefaultQuantile
	}
	if minSamples < 1 || minSamples > window {
		minSamples = min(DefaultMinSamples, window)
	}
	return &Tracker{window: window, quantile: q, minSamples: minSamples}
}

// Observe records that an instance of offering k took d from launch until
// it took work. Negative boots are ignored, and so is everything on a nil
// Tracker (which learns nothing).
func (t *Tracker) Observe(k policy.OfferingKey, d time.Duration) {
	if t == nil || d < 0 {
		return
	}
	if t.samples == nil {
		t.samples = map[policy.OfferingKey]*ring{}
	}
	r := t.samples[k]
	if r == nil {
		r = &ring{}
		t.samples[k] = r
	}
	if len(r.d) < t.window {
		r.d = append(r.d, d)
	} else {
		r.d[r.next] = d
		r.next = (r.next + 1) % t.window
	}
	if len(r.d) < t.minSamples {
		return
	}
	var sum time.Duration
	for _, d := range r.d {
		sum += d
	}
	t.mean, t.meanOut = withEstimate(t.mean, t.meanOut, k, sum/time.Duration(len(r.d)))
	t.buf = append(t.buf[:0], r.d...)
	slices.Sort(t.buf)
	t.est, t.estOut = withEstimate(t.est, t.estOut, k, t.buf[predictionRank(t.quantile, len(t.buf))])
}

// WriteInPlace makes the tracker write the maps Estimates and Means hand
// out where they are, for a caller that reads them only until the next
// Observe (the simulator, whose policy reads a snapshot during its call):
// a boot then allocates nothing. Without it, a map handed out is never
// written.
func (t *Tracker) WriteInPlace() {
	if t != nil {
		t.inPlace = true
	}
}

// predictionRank is the index, in n sorted samples, of the bound that one
// more sample alike stays within with probability q: ⌈q·(n+1)⌉ - 1, the
// largest when that is beyond them.
func predictionRank(q float64, n int) int {
	k := int(math.Ceil(q*float64(n+1))) - 1
	return max(0, min(k, n-1))
}

// withEstimate is m with k set to d, and whether the map returned has
// been handed out: m itself when it already says so, or when m has not
// been handed out since it was made (out false), written; else a new map,
// so that one handed out (and published with a status) is never written
// again.
func withEstimate(m map[policy.OfferingKey]time.Duration, out bool, k policy.OfferingKey, d time.Duration) (map[policy.OfferingKey]time.Duration, bool) {
	if old, ok := m[k]; ok && old == d {
		return m, out
	}
	if m == nil || out {
		m = maps.Clone(m)
		if m == nil {
			m = make(map[policy.OfferingKey]time.Duration, 1)
		}
	}
	m[k] = d
	return m, false
}

// Estimates is the boot to plan with per offering, for Snapshot.Boot: nil
// until some offering has MinSamples boots. The map is never modified once
// returned (Observe replaces it; but see WriteInPlace), so it may be
// shared with readers on other goroutines; callers must not modify it.
func (t *Tracker) Estimates() map[policy.OfferingKey]time.Duration {
	if t == nil {
		return nil
	}
	t.estOut = t.est != nil && !t.inPlace
	return t.est
}

// Means is the mean of each offering's recent boots (the same window, once
// MinSamples are known), for Snapshot.BootMean: what booting a replacement
// costs on average. Like Estimates, the map is never modified once
// returned.
func (t *Tracker) Means() map[policy.OfferingKey]time.Duration {
	if t == nil {
		return nil
	}
	t.meanOut = t.mean != nil && !t.inPlace
	return t.mean
}
