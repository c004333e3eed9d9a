package policy

// The fleet that flows down Decide's stages, and the actions (drain,
// terminate, launch) a stage plans on it: each adds the action to the
// stage's plan and changes the fleet's totals to match.

// decFleet is what the pool holds after the actions planned so far. A
// stage takes it and returns it changed by its actions (observe makes it):
// like a slice passed to append, the caller goes on with the fleet a stage
// returns, whose flags and slots may share storage with the one it took.
// overLimit and overBudget are set by the limits stage, which thereby
// holds every later launch (allowed).
type decFleet struct {
	n     int     // instances
	flags []uint8 // per instance: decDrain, decTerminate; nil until an action

	totalGPUs   int       // GPUs of non-terminating instances kept, plus launches
	capacity    int       // GPUs of booting and running instances not drained, less those unhealthy (decHeld), plus launches
	costPerHour float64   // hourly price of non-terminating instances kept, plus launches
	committed   decCommit // committed spend in the budget period and the next (see Decide)
	overBudget  bool      // committed spend exceeded the budget before this plan
	overLimit   bool      // the pool held more than max_gpus or max_cost_per_hour before this plan

	slots []decSlot // free burst GPUs, by size and class
}

// newDecFleet is an empty fleet that has spent what the period accrued;
// slots is the (empty) storage for its free GPUs.
func newDecFleet(e *decEnv, slots []decSlot) decFleet {
	return decFleet{n: len(e.inst), committed: decCommit{cur: e.spend.Accrued}, slots: slots}
}

// drain adds a drain of instance i to p and takes it out of the fleet's
// capacity and free slots.
func (fl *decFleet) drain(e *decEnv, p *decPlan, i int, reason string) {
	in := &e.inst[i]
	if fl.flag(i)&decDrain == 0 && in.State != StateDraining && in.State != StateTerminating {
		fl.capacity -= decHeld(in)
		if free, class := decSlotOf(in); free > 0 {
			decTakeSlot(fl.slots, free, class)
		}
	}
	fl.setFlag(i, decDrain)
	p.drains = append(p.drains, Action{InstanceID: in.ID, Reason: reason})
}

// terminate adds a termination of instance i (drained, or drained in this
// plan) to p and takes it out of the fleet's totals.
func (fl *decFleet) terminate(e *decEnv, p *decPlan, i int, reason string) {
	in := &e.inst[i]
	o := &in.Offering
	age := e.age(in)
	fl.setFlag(i, decTerminate)
	fl.totalGPUs -= decGPUs(o)
	fl.costPerHour -= o.PricePerHour
	if e.pool.Limits.Budget != nil {
		fl.committed = fl.committed.sub(e.commitOf(o, age, e.keepSpan(in)).sub(e.commitOf(o, age, e.endSpan())))
	}
	p.terms = append(p.terms, Action{InstanceID: in.ID, Reason: reason})
}

// launch adds count instances of o to p and to the fleet's totals.
func (fl *decFleet) launch(e *decEnv, p *decPlan, o *decOffer, count int, floor, reason string) {
	g := o.o.GPUs
	fl.totalGPUs += count * g
	fl.capacity += count * g
	fl.costPerHour += float64(count) * o.o.PricePerHour
	fl.committed = fl.committed.add(o.unit.times(count))
	p.launches = append(p.launches, Launch{Offering: e.pool.Offerings[o.idx], Count: count, Floor: floor, Reason: reason})
}

// flag is what the plan does to instance i: decDrain, decTerminate or both.
func (fl *decFleet) flag(i int) uint8 {
	if fl.flags == nil {
		return 0
	}
	return fl.flags[i]
}

// setFlag records an action on instance i.
func (fl *decFleet) setFlag(i int, f uint8) {
	if fl.flags == nil {
		fl.flags = make([]uint8, fl.n)
	}
	fl.flags[i] |= f
}
