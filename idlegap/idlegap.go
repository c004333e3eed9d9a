// Package idlegap learns how long each offering's idle burst instances
// wait for their next job, so that scale_in.idle auto keeps an idle
// instance only as long as the pool's own history says keeping it pays
// (policy.Snapshot.IdleGaps).
//
// An idle spell begins when an instance's last job ends (or it joins with
// none) and ends one of two ways:
//   - a job lands on it: the spell's gap is how long it was idle;
//   - it is released: the gap is how long after the spell began the pool
//     next launched the same offering, the replacement that keeping it
//     would have saved, matched one launch to one released spell, oldest
//     first; policy.IdleGapNever when no launch came within the Horizon.
//
// A released spell's gap is therefore known even where it is longer than
// the threshold that released it, so a lower threshold can be learned, and
// a higher one again when work comes back sooner.
//
// A Tracker keeps the last Window gaps of each offering. It is not safe
// for concurrent use: the scheduler keeps one per pool, used by the pool's
// tick, and the simulator one per run. A nil Tracker learns nothing.
package idlegap

import (
	"maps"
	"slices"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// Defaults: the last 50 spells of an offering, a released one waiting up to
// an hour for its replacement launch. The policy uses the gaps once
// policy.MinIdleSpells are known, and never keeps an instance longer than
// its ski-rental break-even (the mean boot, minutes), so an hour is far
// beyond any gap that changes the choice.
const (
	DefaultWindow  = 50
	DefaultHorizon = time.Hour
)

// Tracker records idle spells per offering.
type Tracker struct {
	window  int
	horizon time.Duration
	by      map[policy.OfferingKey]*spells
	// gaps is what Gaps hands out: each offering's sorted gaps (its
	// spells' sorted), kept up to date as spells resolve. handed counts
	// the times Gaps handed it out (but in place); gapsMade is handed
	// when gaps was made: a map or slice handed out since it was made is
	// not written but replaced, so a caller may keep it while the
	// tracker goes on. inPlace (WriteInPlace) writes them where they are.
	gaps     map[policy.OfferingKey][]time.Duration
	handed   uint64
	gapsMade uint64
	inPlace  bool
	// kept is every gap resolved since the last Take, when keep is set.
	keep bool
	kept []Resolved
}

// Resolved is one gap as the tracker resolved it, for a caller that stores
// them (Keep, Take) and gives them back to the next tracker (Restore).
type Resolved struct {
	Key policy.OfferingKey
	Gap time.Duration // > 0, or policy.IdleGapNever
}

// MaxKept bounds the gaps Take has not handed out yet: beyond it the oldest
// are dropped (the tracker itself keeps only Window gaps an offering).
const MaxKept = 10000

type spells struct {
	done   []time.Duration // resolved gaps, oldest first, at most window
	sorted []time.Duration // done, sorted (IdleGapNever first): Gaps' entry
	made   uint64          // Tracker.handed when sorted was made
	open   []time.Time     // released spells awaiting a launch: when each began, oldest first
}

// New is a Tracker with the default window and horizon.
func New() *Tracker { return NewWith(DefaultWindow, DefaultHorizon) }

// NewWith is a Tracker keeping window gaps per offering, waiting up to
// horizon for a released spell's replacement launch (defaults when not
// positive).
func NewWith(window int, horizon time.Duration) *Tracker {
	if window < 1 {
		window = DefaultWindow
	}
	if horizon <= 0 {
		horizon = DefaultHorizon
	}
	return &Tracker{window: window, horizon: horizon}
}

// norm defaults a key's market to on-demand, as launches and instances
// carry it, whichever way the caller wrote the offering.
func norm(k policy.OfferingKey) policy.OfferingKey {
	if k.Market == "" {
		k.Market = policy.MarketOnDemand
	}
	return k
}

func (t *Tracker) of(k policy.OfferingKey) *spells {
	k = norm(k)
	if t.by == nil {
		t.by = map[policy.OfferingKey]*spells{}
	}
	s := t.by[k]
	if s == nil {
		s = &spells{}
		t.by[k] = s
	}
	return s
}

func (t *Tracker) add(k policy.OfferingKey, s *spells, gap time.Duration) {
	sorted := s.sorted
	if s.made != t.handed && !t.inPlace {
		// Handed out: the tracker goes on in a copy.
		sorted = slices.Grow(slices.Clone(sorted), 1)
		s.made = t.handed
	}
	if len(s.done) == t.window {
		// The oldest gap leaves the sorted ones too (one of its value:
		// equal gaps are alike).
		i, _ := slices.BinarySearch(sorted, s.done[0])
		sorted = slices.Delete(sorted, i, i+1)
		copy(s.done, s.done[1:])
		s.done = s.done[:t.window-1]
	}
	s.done = append(s.done, gap)
	i, _ := slices.BinarySearch(sorted, gap)
	s.sorted = slices.Insert(sorted, i, gap)
	if t.gaps == nil || (t.gapsMade != t.handed && !t.inPlace) {
		t.gaps = maps.Clone(t.gaps)
		if t.gaps == nil {
			t.gaps = make(map[policy.OfferingKey][]time.Duration, 1)
		}
		t.gapsMade = t.handed
	}
	t.gaps[k] = s.sorted
	if t.keep {
		if len(t.kept) == MaxKept {
			t.kept = slices.Delete(t.kept, 0, 1)
		}
		t.kept = append(t.kept, Resolved{Key: k, Gap: gap})
	}
}

// WriteInPlace makes the tracker write the map Gaps hands out, and its
// slices, where they are, for a caller that reads them only until the
// tracker next records or resolves a spell (the simulator, whose policy
// reads a snapshot during its call): a spell then allocates nothing once
// its offering has Window. Without it, what Gaps hands out is never
// written.
func (t *Tracker) WriteInPlace() {
	if t != nil {
		t.inPlace = true
	}
}

// Keep makes the tracker keep every gap it resolves from now on until Take
// hands it out. A tracker nobody takes from (the simulator's) keeps none.
func (t *Tracker) Keep() {
	if t != nil {
		t.keep = true
	}
}

// Take hands out the gaps resolved since the last Take, oldest first (none
// without Keep). The slice is the caller's.
func (t *Tracker) Take() []Resolved {
	if t == nil || len(t.kept) == 0 {
		return nil
	}
	out := t.kept
	t.kept = nil
	return out
}

// Restore adds gaps another tracker resolved (stored before a restart),
// oldest first, as if this one had: the newest Window of each offering
// count. Take does not hand them out again. A gap that is neither
// positive nor policy.IdleGapNever is ignored.
func (t *Tracker) Restore(rs []Resolved) {
	if t == nil {
		return
	}
	keep := t.keep
	t.keep = false
	for _, r := range rs {
		if r.Gap > 0 || r.Gap == policy.IdleGapNever {
			k := norm(r.Key)
			t.add(k, t.of(k), r.Gap)
		}
	}
	t.keep = keep
}

// Reused records a spell of an instance of offering k that ended when a
// job landed on it after gap. A gap of zero (a job took the GPUs the
// moment they freed) is no idle spell and is not recorded.
func (t *Tracker) Reused(k policy.OfferingKey, gap time.Duration) {
	if t == nil || gap <= 0 {
		return
	}
	k = norm(k)
	t.add(k, t.of(k), gap)
}

// Released records that an instance of offering k, idle since since, was
// released at at; its gap resolves at the next launch of k, or as
// IdleGapNever once the horizon has passed (Gaps).
func (t *Tracker) Released(k policy.OfferingKey, since, at time.Time) {
	if t == nil || since.IsZero() || since.After(at) {
		return
	}
	k = norm(k)
	s := t.of(k)
	t.expire(k, s, at)
	s.open = append(s.open, since)
}

// Launched records a launch of offering k at at: it resolves the oldest
// released spell of k still within the horizon.
func (t *Tracker) Launched(k policy.OfferingKey, at time.Time) {
	if t == nil {
		return
	}
	k = norm(k)
	s := t.by[k]
	if s == nil {
		return
	}
	t.expire(k, s, at)
	if len(s.open) == 0 {
		return
	}
	since := s.open[0]
	s.open = s.open[1:]
	t.add(k, s, max(at.Sub(since), 0))
}

// expire resolves released spells that began more than the horizon before
// now as IdleGapNever.
func (t *Tracker) expire(k policy.OfferingKey, s *spells, now time.Time) {
	n := 0
	for n < len(s.open) && now.Sub(s.open[n]) > t.horizon {
		t.add(k, s, policy.IdleGapNever)
		n++
	}
	if n > 0 {
		s.open = s.open[n:]
	}
}

// NextResolve is the time after which Gaps resolves a released spell that
// no launch took (one past the horizon), and whether there is one: until
// then, with no launch or release, Gaps changes nothing. The simulator
// reads it to probe a later evaluation without resolving spells early.
func (t *Tracker) NextResolve() (time.Time, bool) {
	var at time.Time
	if t == nil {
		return at, false
	}
	for _, s := range t.by {
		if len(s.open) > 0 && (at.IsZero() || s.open[0].Add(t.horizon).Before(at)) {
			at = s.open[0].Add(t.horizon)
		}
	}
	return at, !at.IsZero()
}

// Gaps is the resolved gaps of every offering with one (keyed with the
// market defaulted to on-demand), sorted, IdleGapNever first, as of now
// (released spells past the horizon resolve first). The map and its slices
// are never written after they are handed out (but see WriteInPlace):
// the tracker goes on in a new map, sharing the slices of offerings whose
// gaps did not change since.
func (t *Tracker) Gaps(now time.Time) map[policy.OfferingKey][]time.Duration {
	if t == nil {
		return nil
	}
	for k, s := range t.by {
		if len(s.open) > 0 {
			t.expire(k, s, now)
		}
	}
	if t.gaps != nil && !t.inPlace {
		t.handed++
	}
	return t.gaps
}
