// Package boottime learns how long each offering's instances take from
// launch until they take work, so that a policy plans with the boots the
// cloud delivers (Snapshot.Boot) rather than with a configured guess.
//
// A Tracker keeps the last Window boots of each offering and estimates the
// Quantile of them (nearest rank), and their mean, once MinSamples are
// known. It is not safe
// for concurrent use: the scheduler keeps one per pool, used by the pool's
// tick, and the simulator one per run.
package boottime

import (
	"math"
	"slices"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// Defaults: plan with the p95 of the last 20 boots of an offering, once 3
// are known. A wait target is judged at p95 (the report and the status
// page flag a p95 wait above it), so boots are planned for at the same
// quantile: a job launched for starts within the target 19 times in 20
// even when boots spread. The window follows a cloud whose boots drift
// over a day of bursts.
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
	t.mean = withEstimate(t.mean, k, sum/time.Duration(len(r.d)))
	t.buf = append(t.buf[:0], r.d...)
	slices.Sort(t.buf)
	k1 := int(math.Ceil(t.quantile*float64(len(t.buf)))) - 1
	t.est = withEstimate(t.est, k, t.buf[max(0, min(k1, len(t.buf)-1))])
}

// withEstimate is m with k set to d: m itself when it already says so,
// else a new map, so that one handed out (and published with a status) is
// never written again.
func withEstimate(m map[policy.OfferingKey]time.Duration, k policy.OfferingKey, d time.Duration) map[policy.OfferingKey]time.Duration {
	if old, ok := m[k]; ok && old == d {
		return m
	}
	next := make(map[policy.OfferingKey]time.Duration, len(m)+1)
	for key, v := range m {
		next[key] = v
	}
	next[k] = d
	return next
}

// Estimates is the boot to plan with per offering, for Snapshot.Boot: nil
// until some offering has MinSamples boots. The map is never modified once
// returned (Observe replaces it), so it may be shared with readers on other
// goroutines; callers must not modify it.
func (t *Tracker) Estimates() map[policy.OfferingKey]time.Duration {
	if t == nil {
		return nil
	}
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
	return t.mean
}
