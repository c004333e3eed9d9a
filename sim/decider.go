package sim

import (
	"maps"
	"slices"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// A Decider is a policy's decision function with its memory between
// evaluations (a baseline's timers and caches), which can be copied: the
// simulator evaluates a copy at a later time to learn whether the
// evaluations up to then would plan anything (steadySkip), without
// touching the run's own.
type Decider interface {
	Decide(pool *policy.Pool, snap policy.Snapshot, instances []policy.Instance, spend policy.Spend, now time.Time) policy.Plan
	// Fork returns a copy whose calls leave this Decider as it was.
	Fork() Decider
	// NextTimer is the earliest time after its last call at which its
	// memory alone could change its plan (a node type back from DOWN, an
	// offering out of its ICE cache), and whether there is one.
	NextTimer() (time.Time, bool)
}

// withDecider sets p's NewDecider, and New from it.
func withDecider(p Policy, newDecider func() Decider) Policy {
	p.NewDecider = newDecider
	p.New = func() DecideFunc { return newDecider().Decide }
	return p
}

// pure is a Decider without memory (policy.Decide): a copy is itself.
type pure DecideFunc

func (f pure) Decide(pool *policy.Pool, snap policy.Snapshot, insts []policy.Instance, spend policy.Spend, now time.Time) policy.Plan {
	return f(pool, snap, insts, spend, now)
}

func (f pure) Fork() Decider { return f }

func (f pure) NextTimer() (time.Time, bool) { return time.Time{}, false }

// admitted is a baseline held to the pool's hard rules (Admitted).
type admitted struct {
	inner Decider
	// listed is the pool as its operator lists it (operatorOfferings),
	// for the pool listedOf.
	listed, listedOf *policy.Pool
}

func (a *admitted) Decide(pool *policy.Pool, snap policy.Snapshot, insts []policy.Instance, spend policy.Spend, now time.Time) policy.Plan {
	if a.listedOf != pool {
		a.listed, a.listedOf = operatorOfferings(pool), pool
	}
	plan := a.inner.Decide(a.listed, snap, insts, spend, now)
	snap.Unavailable = nil
	// The simulator reads no plan's notes: Admit need not write its own.
	plan = policy.AdmitWithoutNotes(pool, snap, insts, spend, now, plan)
	if o, ok := a.inner.(admitObserver); ok {
		o.admitted(plan)
	}
	return plan
}

// An admitObserver is a baseline whose memory depends on what the pool's
// rules let through of its plan (threshold's cooldown).
type admitObserver interface {
	// admitted is told the plan its last Decide made, as admitted.
	admitted(plan policy.Plan)
}

func (a *admitted) NextTimer() (time.Time, bool) { return a.inner.NextTimer() }

func (a *admitted) Fork() Decider {
	cp := *a
	cp.inner = a.inner.Fork()
	return &cp
}

// Fork copies the threshold baseline's memory; holds is the same for
// every copy.
func (th *threshold) Fork() Decider {
	cp := *th
	cp.down = slices.Clone(th.down)
	cp.liveBuf = nil
	return &cp
}

// NextTimer is the end of the cooldown, when it runs at the last
// evaluation.
func (th *threshold) NextTimer() (time.Time, bool) {
	if th.last.IsZero() || th.at.Sub(th.last) >= th.k.ThresholdCooldown {
		return time.Time{}, false
	}
	return th.last.Add(th.k.ThresholdCooldown), true
}

// Fork copies the per-job baseline's memory. holds is a cache of what the
// pool's offerings can hold, the same for every copy.
func (pj *perJob) Fork() Decider {
	cp := *pj
	cp.last = maps.Clone(pj.last)
	cp.seen = maps.Clone(pj.seen)
	cp.down = maps.Clone(pj.down)
	cp.failed = append([]failedResume(nil), pj.failed...)
	cp.up, cp.booting = nil, nil
	return &cp
}

// NextTimer is when the first node type DOWN returns or the first failed
// resume stops holding its jobs.
func (pj *perJob) NextTimer() (time.Time, bool) {
	var at time.Time
	for _, until := range pj.down {
		at = earliest(at, until)
	}
	for _, f := range pj.failed {
		at = earliest(at, f.until)
	}
	return at, !at.IsZero()
}

// NextTimer is when the first offering leaves the ICE cache.
func (kp *karpenter) NextTimer() (time.Time, bool) {
	var at time.Time
	for _, until := range kp.ice {
		at = earliest(at, until)
	}
	return at, !at.IsZero()
}

// earliest is the earlier of a (zero: none) and b.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// Fork copies the karpenter baseline's memory. holds is a cache of what
// the pool's offerings can hold, the same for every copy; byID, ended and
// the buffers are scratch.
func (kp *karpenter) Fork() Decider {
	cp := *kp
	cp.busy = maps.Clone(kp.busy)
	cp.replacing = make(map[string]*replacement, len(kp.replacing))
	for id, r := range kp.replacing {
		rc := *r
		cp.replacing[id] = &rc
	}
	cp.byID, cp.ended = map[string]int{}, map[string]bool{}
	cp.seen = maps.Clone(kp.seen)
	cp.ice = maps.Clone(kp.ice)
	cp.freeBuf, cp.availBuf, cp.sizesBuf = nil, nil, nil
	cp.counts, cp.order = nil, nil
	return &cp
}
