package policy

// The plan's actions (drain, terminate, launch) and the totals they change:
// what the pool holds after the actions planned so far.

// drain adds a drain of instance i to the plan and takes it out of the
// capacity and free slots.
func (fl *decFleet) drain(e *decEnv, out *decOut, i int, reason string) {
	in := &e.inst[i]
	if fl.flag(i)&decDrain == 0 && in.State != StateDraining && in.State != StateTerminating {
		fl.capacity -= decGPUs(&in.Offering)
		if free, class := decSlotOf(in); free > 0 {
			decTakeSlot(fl.slots, free, class)
		}
	}
	fl.setFlag(i, decDrain)
	out.plan.Drains = append(out.plan.Drains, Action{InstanceID: in.ID, Reason: reason})
}

// terminate adds a termination of instance i (drained, or drained in this
// plan) and takes it out of the totals.
func (fl *decFleet) terminate(e *decEnv, out *decOut, i int, reason string) {
	in := &e.inst[i]
	o := &in.Offering
	age := e.age(in)
	fl.setFlag(i, decTerminate)
	fl.totalGPUs -= decGPUs(o)
	fl.costPerHour -= o.PricePerHour
	if e.pool.Limits.Budget != nil {
		fl.committed = fl.committed.sub(e.commitOf(o, age, e.keepSpan(in)).sub(e.commitOf(o, age, 0)))
	}
	out.plan.Terminates = append(out.plan.Terminates, Action{InstanceID: in.ID, Reason: reason})
}

// launch adds count instances of o to the plan and the totals.
func (fl *decFleet) launch(e *decEnv, out *decOut, o *decOffer, count int, floor, reason string) {
	g := o.o.GPUs
	fl.totalGPUs += count * g
	fl.capacity += count * g
	fl.costPerHour += float64(count) * o.o.PricePerHour
	fl.committed = fl.committed.add(o.unit.times(count))
	out.plan.Launches = append(out.plan.Launches, Launch{Offering: e.pool.Offerings[o.idx], Count: count, Floor: floor, Reason: reason})
}

func (fl *decFleet) flag(i int) uint8 {
	if fl.flags == nil {
		return 0
	}
	return fl.flags[i]
}

func (fl *decFleet) setFlag(i int, f uint8) {
	if fl.flags == nil {
		fl.flags = make([]uint8, fl.n)
	}
	fl.flags[i] |= f
}
