package policy

// Stage 1 of Decide, observe: the evaluation's constants and one walk over
// the instances (what the pool holds, its committed spend, its free GPUs,
// drains that are done, max_lifetime drains, idle instances due for release).

import "time"

// decEnv is one decision's inputs and the constants derived from them.
// Stages read it and never change it.
type decEnv struct {
	pool        *Pool
	snap        *Snapshot
	inst        []Instance
	spend       Spend
	now         time.Time
	next        time.Time // the next evaluation
	nowNs       int64     // now in Unix nanoseconds
	span        int64     // the interval in nanoseconds
	interval    time.Duration
	stale       bool  // signals are stale: no launch for the queue, no idle scale-in
	toPeriodEnd int64 // nanoseconds from now to the budget period's end
	periodLen   int64 // the longest budget period of the budget's kind
	soft        bool  // the budget is soft: commitments run to the period's end, nothing is cut for money
	floorGPUs   int   // sum of active floors' GPUs
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

// init sets up one decision's working state.
func (d *decider) init(slots []decSlot) {
	d.committed = decCommit{cur: d.spend.Accrued}
	d.slots = slots
}

// decSlotOf is the free-GPU slot an instance adds to the pool's burst capacity.
func decSlotOf(in *Instance) (free int, class uint8) {
	busy := in.BusyGPUs
	if busy < 0 {
		busy = 0
	}
	free = decGPUs(&in.Offering) - busy
	switch {
	case busy > 0:
		class = decPartial
	case in.State == StateBooting:
		class = decBootFull
	default:
		class = decReadyFull
	}
	return free, class
}

// scan walks the instances once: totals, committed spend, free slots,
// terminations of drained instances, max-lifetime drains and the idle
// instances due for release.
func (d *decider) scan() {
	maxLife := int64(d.pool.ScaleIn.MaxLifetime)
	budget := d.pool.Limits.Budget != nil
	for i := range d.inst {
		in := &d.inst[i]
		o := &in.Offering
		age := d.age(in)
		if in.State == StateTerminating {
			if budget {
				d.committed = d.committed.add(d.commitOf(o, age, 0))
			}
			continue
		}
		g := decGPUs(o)
		if in.State == StateDraining {
			if why := d.drainDone(in); why != "" {
				if budget {
					d.committed = d.committed.add(d.commitOf(o, age, 0))
				}
				d.setFlag(i, decTerminate)
				d.plan.Terminates = append(d.plan.Terminates, Action{InstanceID: in.ID, Reason: why})
				continue
			}
			d.totalGPUs += g
			d.costPerHour += o.PricePerHour
			if budget {
				d.committed = d.committed.add(d.commitOf(o, age, d.keepSpan(in)))
			}
			continue
		}
		d.totalGPUs += g
		d.costPerHour += o.PricePerHour
		if budget {
			d.committed = d.committed.add(d.commitOf(o, age, d.keepSpan(in)))
		}
		if maxLife > 0 && age >= maxLife {
			launched := decLaunchedAt(in, d.now)
			d.setFlag(i, decDrain)
			d.plan.Drains = append(d.plan.Drains, Action{InstanceID: in.ID, Reason: d.str(d.text().
				s("max lifetime: launched at ").at(d.now, launched).s(", ").dur(d.now.Sub(launched)).
				s(" ago >= max_lifetime ").dur(time.Duration(maxLife)).s("; draining so running jobs finish before it ends"))})
			continue
		}
		d.capacity += g
		if free, class := decSlotOf(in); free > 0 {
			d.slots = decAddSlot(d.slots, free, class, 1)
		}
		if in.BusyGPUs <= 0 && in.State != StateBooting && !d.stale && d.idleDue(in, decLaunchedAt(in, d.now)) {
			d.cands = append(d.cands, i)
		}
	}
}

// drainDone says why a draining instance may be terminated now, or "".
func (d *decider) drainDone(in *Instance) string {
	started := in.DrainStartedAt
	if started.IsZero() || started.After(d.now) {
		started = d.now
	}
	if in.BusyGPUs <= 0 && !d.stale {
		return d.str(d.text().s("drained: no GPU busy since draining began at ").at(d.now, started).
			s(" (").dur(d.now.Sub(started)).s(" ago)"))
	}
	if to := d.pool.ScaleIn.DrainTimeout.D(); to > 0 && d.now.Sub(started) >= to {
		t := d.text().s("drain timeout: draining since ").at(d.now, started).s(", ").dur(d.now.Sub(started)).
			s(" >= drain_timeout ").dur(to).s(", ")
		if in.BusyGPUs <= 0 {
			t = t.s("busy GPUs unknown (signals stale)")
		} else {
			t = t.n(in.BusyGPUs).s(" of ").n(decGPUs(&in.Offering)).s(" GPUs still busy")
		}
		return d.str(t)
	}
	return ""
}

func decGPUs(o *Offering) int {
	if o.GPUs > 0 {
		return o.GPUs
	}
	return 0
}

// age is how long ago an instance was launched, in nanoseconds, as billed
// (see decLaunchedAt).
func (d *decEnv) age(in *Instance) int64 {
	if in.LaunchedAt.IsZero() {
		return 0
	}
	if a := d.nowNs - in.LaunchedAt.UnixNano(); a > 0 {
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
