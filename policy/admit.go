package policy

import (
	"fmt"
	"time"
)

// Admit holds a plan made by another policy (the simulator's baselines) to
// the pool's hard rules, the way Decide holds its own: draining instances
// end at drain_timeout and old ones drain at max_lifetime; when the pool
// is over max_gpus or max_cost_per_hour, or keeping what runs would break
// a hard budget (see Decide), idle instances end and busy ones drain early,
// and nothing is launched (a soft budget cuts nothing, it only holds
// launches); otherwise each launch is cut to what the limits
// and the budget allow (to none when the instances left cannot run any
// pending job, each spanning more of them, as Decide cuts), and a launch of an offering out of stock or
// blocked by quota (the capacity cache) is dropped. The plan's own drains and terminations of
// instances the pool knows are kept (a terminate only after a drain).
// Launches of one offering are merged into one (with the first's reason).
// Like Decide it is pure. pool.Interval must be the interval at which the
// other policy is evaluated.
func Admit(pool *Pool, snap Snapshot, instances []Instance, spend Spend, now time.Time, plan Plan) Plan {
	return admit(pool, snap, instances, spend, now, plan, false)
}

// AdmitWithoutNotes is Admit for a caller that drops the plan's notes (the
// simulator, which evaluates a baseline at every interval): the same plan,
// but that Admit's own notes are not written (Plan.Notes is the other
// policy's). A cut launch would otherwise format one at every evaluation
// while a limit binds.
func AdmitWithoutNotes(pool *Pool, snap Snapshot, instances []Instance, spend Spend, now time.Time, plan Plan) Plan {
	return admit(pool, snap, instances, spend, now, plan, true)
}

// admit is Admit; quiet leaves its notes unwritten (AdmitWithoutNotes).
func admit(pool *Pool, snap Snapshot, instances []Instance, spend Spend, now time.Time, plan Plan, quiet bool) Plan {
	if pool == nil {
		return plan
	}
	var slotBuf [16]decSlot
	e := newDecEnv(pool, &snap, instances, spend, now)
	e.stale = false // the other policy judged its signals itself
	e.quiet = quiet
	var mk decMarket
	defer mk.release()
	fl, _, p := observe(&e, slotBuf[:0], false)
	p.quiet = quiet
	if e.breaksLimits(&fl) {
		fl, p = limitPressure(&e, fl, p)
	}
	if e.breaksBudget(&fl) {
		fl, p = budgetPressure(&e, fl, p)
	}
	// The plan names instances by ID; most plans name none, and most of
	// the rest a few (a baseline drains an idle instance or two at an
	// evaluation): those are looked for one by one, and an index is built
	// only for a plan that names more (a map for every drain was a tenth
	// of a million-job backtest's allocations). The last instance of an
	// ID is the one named, either way.
	var index map[string]int
	const scanned = 4
	byScan := len(plan.Drains)+len(plan.Terminates) <= scanned
	find := func(id string) (int, bool) {
		if byScan {
			for i := len(instances) - 1; i >= 0; i-- {
				if instances[i].ID == id {
					return i, true
				}
			}
			return 0, false
		}
		if index == nil {
			index = make(map[string]int, len(instances))
			for i := range instances {
				index[instances[i].ID] = i
			}
		}
		i, ok := index[id]
		return i, ok
	}
	for _, a := range plan.Drains {
		i, ok := find(a.InstanceID)
		if !ok || fl.flag(i) != 0 {
			continue
		}
		if in := &instances[i]; in.State == StateDraining || in.State == StateTerminating {
			continue
		}
		fl.drain(&e, &p, i, a.Reason)
	}
	for _, a := range plan.Terminates {
		i, ok := find(a.InstanceID)
		if !ok || fl.flag(i)&decTerminate != 0 {
			continue
		}
		in := &instances[i]
		if in.State == StateTerminating {
			continue
		}
		if in.State != StateDraining && fl.flag(i)&decDrain == 0 {
			fl.drain(&e, &p, i, a.Reason)
		}
		fl.terminate(&e, &p, i, a.Reason)
	}
	var jobBuf [16]decJob
	for _, l := range decMergeLaunches(plan.Launches) {
		offs := mk.offers(&e) // built once, for plans that launch
		var o *decOffer
		for k := range offs {
			if offs[k].o.Name == l.Offering.Name && offs[k].o.Key() == decWithMarket(l.Offering).Key() {
				o = &offs[k]
				break
			}
		}
		if o == nil || l.Count <= 0 {
			if !p.quiet {
				p.note(fmt.Sprintf("admit: launch of %s dropped: not an offering of the pool", decOfferingName(&l.Offering)))
			}
			continue
		}
		if o.skip != "" {
			if !p.quiet {
				p.note(fmt.Sprintf("admit: launch of %s dropped: %s", o.name(), o.skip))
			}
			continue
		}
		k, limit := allowed(&e, &fl, &p, o, l.Count)
		if k > 0 && k < l.Count {
			// As Decide's own cut launches: none when the instances left
			// cannot run any pending job (each spans more of them).
			if need, size := decSpanShort(&e, &fl, admitJobs(&snap, jobBuf[:0]), o, k, decMaxOfferGPUs(pool)); need > 0 {
				if !p.quiet {
					p.note(fmt.Sprintf("admit: launch of %s cut from %d to none: limit %s allows %d, with the %d whole ones free or booting too few for a pending %d-GPU job, which spans %d",
						o.name(), l.Count, limit, k, decWholeFree(&fl, o.o.GPUs), size, need))
				}
				continue
			}
		}
		if k < l.Count && !p.quiet {
			p.note(fmt.Sprintf("launch of %s cut from %d to %s by limit %s", o.name(), l.Count, counted(k, "instance"), limit))
		}
		if k > 0 {
			fl.launch(&e, &p, o, k, l.Floor, l.Reason)
		}
	}
	p.notes = append(plan.Notes, p.notes...)
	return explain(pool, &snap, now, p)
}

// admitJobs is the snapshot's pending jobs by size (PendingBySize, else
// PendingJobGPUs), in dst.
func admitJobs(snap *Snapshot, dst []decJob) []decJob {
	if len(snap.PendingBySize) > 0 {
		for _, ps := range snap.PendingBySize {
			if ps.GPUs > 0 && len(ps.Submitted) > 0 {
				dst = append(dst, decJob{size: ps.GPUs, n: len(ps.Submitted)})
			}
		}
		return dst
	}
	for _, g := range snap.PendingJobGPUs {
		if g > 0 {
			dst = decAddJob(dst, g)
		}
	}
	return dst
}

// decWithMarket is o with its market defaulted, as offers() keys it.
func decWithMarket(o Offering) Offering {
	if o.Market == "" {
		o.Market = MarketOnDemand
	}
	return o
}

// decSameLaunch reports whether decMergeLaunches merges a and b.
func decSameLaunch(a, b *Launch) bool {
	return a.Floor == b.Floor && a.Offering.Name == b.Offering.Name && a.Offering.Key() == b.Offering.Key()
}

// decLaunchesRepeat reports whether two of ls are of the same offering and
// floor (decMergeLaunches has launches to merge).
func decLaunchesRepeat(ls []Launch) bool {
	for i := range ls {
		for k := range i {
			if decSameLaunch(&ls[k], &ls[i]) {
				return true
			}
		}
	}
	return false
}

// decMergeLaunches sums launches of the same offering and floor (a
// baseline asks one per job), in the order each first appears.
func decMergeLaunches(ls []Launch) []Launch {
	if len(ls) < 2 || !decLaunchesRepeat(ls) {
		return ls // most plans, per-job's and karpenter's, ask one per offering
	}
	out := make([]Launch, 0, 4)
	for _, l := range ls {
		merged := false
		for k := range out {
			if o := &out[k]; decSameLaunch(o, &l) {
				if l.Count > 0 {
					o.Count += l.Count
				}
				merged = true
				break
			}
		}
		if !merged {
			out = append(out, l)
		}
	}
	return out
}
