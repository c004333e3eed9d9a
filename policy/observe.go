package policy

// Stage 1 of Decide, observe: the evaluation's inputs and constants
// (decEnv) and one walk over the instances (what the pool holds, its committed spend, its free GPUs,
// drains that are done, max_lifetime drains, idle instances due for release).

import (
	"strings"
	"time"
)

// decEnv is one decision's inputs and the constants derived from them.
// Stages read it and never change it.
type decEnv struct {
	pool  *Pool
	snap  *Snapshot
	inst  []Instance
	spend Spend
	now   time.Time
	next  time.Time // the next evaluation
	nowNs int64     // now in Unix nanoseconds
	span  int64     // the interval in nanoseconds
	// slack is how much later than the interval a budget counts on the
	// next evaluation coming, and how long after an evaluation an end it
	// orders may reach the cloud (Pool.TickSlack, rounded up to the
	// interval).
	slack       int64
	interval    time.Duration
	stale       bool  // signals are stale: no launch for the queue, no idle scale-in
	toPeriodEnd int64 // nanoseconds from now to the budget period's end
	periodLen   int64 // the longest budget period of the budget's kind
	soft        bool  // the budget is soft: commitments run to the period's end, nothing is cut for money
	floorGPUs   int   // sum of active floors' GPUs
	// quiet: no reason or note is read (DecideWithoutNotes,
	// AdmitWithoutNotes), so why an offering is skipped need only say
	// that it is (decOffer.skip non-empty), not until when.
	quiet bool
	// idleMemo holds the idle thresholds of the first offerings asked
	// about (idleThreshold), idleMemos of them.
	idleMemo  [4]decIdleMemo
	idleMemos int
}

// newDecEnv derives a decision's constants from its inputs.
func newDecEnv(pool *Pool, snap *Snapshot, inst []Instance, spend Spend, now time.Time) decEnv {
	e := decEnv{pool: pool, snap: snap, inst: inst, spend: spend, now: now}
	e.interval = pool.Interval.D()
	if e.interval <= 0 {
		e.interval = decDefaultInterval
	}
	e.next = now.Add(e.interval)
	e.nowNs, e.span = now.UnixNano(), int64(e.interval)
	e.slack = decSlack(pool, e.span)
	e.stale = len(snap.Stale) > 0
	if b := pool.Limits.Budget; b != nil {
		e.periodLen = decPeriodLen(b.Period)
		end := spend.PeriodEnd
		if !end.After(now) {
			_, end = PeriodBounds(b.Period, now)
		}
		e.toPeriodEnd = min(int64(end.Sub(now)), e.periodLen)
		e.soft = b.Soft()
	}
	for i := range snap.Floors {
		if f := &snap.Floors[i]; e.floorActive(f) && f.GPUs > 0 {
			e.floorGPUs += f.GPUs
		}
	}
	return e
}

// decSlotOf is the free-GPU slot an instance adds to the pool's burst
// capacity: its GPUs neither busy nor unhealthy. One with unhealthy GPUs
// is never whole.
func decSlotOf(in *Instance) (free int, class uint8) {
	busy, bad := max(in.BusyGPUs, 0), max(in.UnhealthyGPUs, 0)
	free = max(decGPUs(&in.Offering)-busy-bad, 0)
	switch {
	case busy > 0 || bad > 0:
		class = decPartial
	case in.State == StateBooting:
		class = decBootFull
	default:
		class = decReadyFull
	}
	return free, class
}

// observe walks the instances once. It returns the fleet as the pool
// holds it after the terminations and drains observe plans (totals,
// committed spend, and free slots kept in slots' storage), the idle
// instances due for release (indices into the instances, for scale-in),
// and the plan begun with those terminations of drained instances and
// max-lifetime drains, and a note when the signals are stale. Without
// wantIdle (Admit, which judges no scale-in of its own), idle is nil.
func observe(e *decEnv, slots []decSlot, wantIdle bool) (fl decFleet, idle []int, p decPlan) {
	fl = newDecFleet(e, slots)
	if e.stale {
		p.note("holding: signals stale or missing (" + strings.Join(e.snap.Stale, ", ") + "): no launch for queue demand, no idle scale-in; floors, max_lifetime, drain_timeout and the budget still apply")
	}
	maxLife := int64(e.pool.ScaleIn.MaxLifetime)
	budget := e.pool.Limits.Budget != nil
	for i := range e.inst {
		in := &e.inst[i]
		o := &in.Offering
		age := e.age(in)
		if in.State == StateTerminating {
			if budget {
				fl.committed = fl.committed.add(e.commitOf(o, age, e.endSpan()))
			}
			continue
		}
		g := decGPUs(o)
		if in.State == StateDraining {
			if why := drainDone(e, &p, in); why != "" {
				if budget {
					fl.committed = fl.committed.add(e.commitOf(o, age, e.endSpan()))
				}
				fl.setFlag(i, decTerminate)
				p.terms = append(p.terms, Action{InstanceID: in.ID, Reason: why})
				continue
			}
			fl.totalGPUs += g
			fl.costPerHour += o.PricePerHour
			if budget {
				fl.committed = fl.committed.add(e.commitOf(o, age, e.keepSpan(in)))
			}
			continue
		}
		fl.totalGPUs += g
		fl.costPerHour += o.PricePerHour
		if budget {
			fl.committed = fl.committed.add(e.commitOf(o, age, e.keepSpan(in)))
		}
		if maxLife > 0 && age >= maxLife {
			launched := decLaunchedAt(in, e.now)
			fl.setFlag(i, decDrain)
			p.drains = append(p.drains, Action{InstanceID: in.ID, Reason: p.str(p.text().
				s("max lifetime: launched at ").at(e.now, launched).s(", ").dur(e.now.Sub(launched)).
				s(" ago >= max_lifetime ").dur(time.Duration(maxLife)).s("; draining so running jobs finish before it ends"))})
			continue
		}
		fl.capacity += decHeld(in)
		if free, class := decSlotOf(in); free > 0 {
			fl.slots = decAddSlot(fl.slots, free, class, 1)
		}
		if wantIdle && in.BusyGPUs <= 0 && in.State != StateBooting && !e.stale && e.idleDue(in, decLaunchedAt(in, e.now)) {
			idle = append(idle, i)
		}
	}
	return fl, idle, p
}

// drainDone says why a draining instance may be terminated now, or "".
func drainDone(e *decEnv, p *decPlan, in *Instance) string {
	started := in.DrainStartedAt
	if started.IsZero() || started.After(e.now) {
		started = e.now
	}
	if in.BusyGPUs <= 0 && !e.stale {
		return p.str(p.text().s("drained: no GPU busy since draining began at ").at(e.now, started).
			s(" (").dur(e.now.Sub(started)).s(" ago)"))
	}
	if to := e.pool.ScaleIn.DrainTimeout.D(); to > 0 && e.now.Sub(started) >= to {
		t := p.text().s("drain timeout: draining since ").at(e.now, started).s(", ").dur(e.now.Sub(started)).
			s(" >= drain_timeout ").dur(to).s(", ")
		if in.BusyGPUs <= 0 {
			t = t.s("busy GPUs unknown (signals stale)")
		} else {
			t = t.n(in.BusyGPUs).s(" of ").n(decGPUs(&in.Offering)).s(" GPUs still busy")
		}
		return p.str(t)
	}
	return ""
}

// decHeld is the burst capacity an instance holds for floors: its GPUs
// but those unhealthy and not busy (Instance.UnhealthyGPUs), which can take
// no job; a floor of 8 GPUs on an instance of 8 with 2 needing a reset
// holds 6.
func decHeld(in *Instance) int {
	return max(decGPUs(&in.Offering)-max(in.UnhealthyGPUs, 0), 0)
}

func decGPUs(o *Offering) int {
	if o.GPUs > 0 {
		return o.GPUs
	}
	return 0
}

// age is how long ago an instance was launched, in nanoseconds, as billed
// (see decLaunchedAt).
func (e *decEnv) age(in *Instance) int64 {
	if in.LaunchedAt.IsZero() {
		return 0
	}
	if a := e.nowNs - in.LaunchedAt.UnixNano(); a > 0 {
		return a
	}
	return 0
}

// decLaunchedAt is the launch time the engine bills from: LaunchedAt, or now
// when it is unknown or in the future (clock skew), so no cost is invented.
func decLaunchedAt(in *Instance, now time.Time) time.Time {
	if in.LaunchedAt.IsZero() || in.LaunchedAt.After(now) {
		return now
	}
	return in.LaunchedAt
}
