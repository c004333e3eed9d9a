package policy

// The plan's actions (drain, terminate, launch) and the totals they change:
// what the pool holds after the actions planned so far.

// drain adds a drain of instance i to the plan and takes it out of the
// capacity and free slots.
func (d *decider) drain(i int, reason string) {
	in := &d.inst[i]
	if d.flag(i)&decDrain == 0 && in.State != StateDraining && in.State != StateTerminating {
		d.capacity -= decGPUs(&in.Offering)
		if free, class := decSlotOf(in); free > 0 {
			decTakeSlot(d.slots, free, class)
		}
	}
	d.setFlag(i, decDrain)
	d.plan.Drains = append(d.plan.Drains, Action{InstanceID: in.ID, Reason: reason})
}

// terminate adds a termination of instance i (drained, or drained in this
// plan) and takes it out of the totals.
func (d *decider) terminate(i int, reason string) {
	in := &d.inst[i]
	o := &in.Offering
	age := d.age(in)
	d.setFlag(i, decTerminate)
	d.totalGPUs -= decGPUs(o)
	d.costPerHour -= o.PricePerHour
	if d.pool.Limits.Budget != nil {
		d.committed = d.committed.sub(d.commitOf(o, age, d.keepSpan(in)).sub(d.commitOf(o, age, 0)))
	}
	d.plan.Terminates = append(d.plan.Terminates, Action{InstanceID: in.ID, Reason: reason})
}

// launch adds count instances of o to the plan and the totals.
func (d *decider) launch(o *decOffer, count int, floor, reason string) {
	g := o.o.GPUs
	d.totalGPUs += count * g
	d.capacity += count * g
	d.costPerHour += float64(count) * o.o.PricePerHour
	d.committed = d.committed.add(o.unit.times(count))
	d.plan.Launches = append(d.plan.Launches, Launch{Offering: d.pool.Offerings[o.idx], Count: count, Floor: floor, Reason: reason})
}

func (d *decider) flag(i int) uint8 {
	if d.flags == nil {
		return 0
	}
	return d.flags[i]
}

func (d *decider) setFlag(i int, f uint8) {
	if d.flags == nil {
		d.flags = make([]uint8, len(d.inst))
	}
	d.flags[i] |= f
}
