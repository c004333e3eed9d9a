package policy

// Stage 2 of Decide, limits and budget: a pool over max_gpus,
// max_cost_per_hour or its budget ends capacity and launches nothing; every
// launch is cut to what the limits and the budget allow (allowed).

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
)

// limitPressure handles burst capacity above max_gpus or max_cost_per_hour
// before any launch (the limits were lowered while instances ran): idle
// instances are drained and terminated in the same plan, costliest first,
// until the pool fits; busy ones are left to finish their work, and nothing
// is launched while the pool is over a limit (the fleet it returns is
// marked overLimit). Like the budget, it acts on stale signals too. It
// returns the fleet and the plan with its actions and note.
func limitPressure(e *decEnv, fl decFleet, p decPlan) (decFleet, decPlan) {
	if !e.breaksLimits(&fl) {
		return fl, p
	}
	lim := &e.pool.Limits
	over := func() bool { return e.breaksLimits(&fl) }
	if lim.MaxGPUs > 0 && fl.totalGPUs > lim.MaxGPUs {
		p.bound(LimitMaxGPUs)
	}
	if lim.MaxCostPerHour > 0 && fl.costPerHour > lim.MaxCostPerHour {
		p.bound(LimitMaxCostPerHour)
	}
	heldG, heldC := fl.totalGPUs, fl.costPerHour
	fl.overLimit = true
	victims := idleVictims(e, &fl)
	ended := 0
	for _, i := range victims {
		if !over() {
			break
		}
		in := &e.inst[i]
		reason := p.str(p.text().s("over a hard limit: ").n(fl.totalGPUs).s(" burst GPUs at ").usd(fl.costPerHour).
			s("/h held, limits max_gpus ").n(lim.MaxGPUs).s(", max_cost_per_hour ").usd(lim.MaxCostPerHour).
			s("; ending idle instances costliest first, this one ").n(decGPUs(&in.Offering)).s(" GPUs at ").
			usd(in.Offering.PricePerHour).s("/h"))
		if in.State != StateDraining && fl.flag(i)&decDrain == 0 {
			fl.drain(e, &p, i, reason)
		}
		fl.terminate(e, &p, i, reason)
		ended++
	}
	still := "; no launches in this plan"
	if over() {
		still = fmt.Sprintf("; still over with %d GPUs at $%.2f/h busy; no launches", fl.totalGPUs, fl.costPerHour)
	}
	if !p.quiet {
		p.note(fmt.Sprintf("over a hard limit before this plan: %d burst GPUs at $%.2f/h held, limits max_gpus %d, max_cost_per_hour $%.2f; ended %d idle instance(s)%s",
			heldG, heldC, lim.MaxGPUs, lim.MaxCostPerHour, ended, still))
	}
	return fl, p
}

// budgetPressure keeps the budget a hard limit. What the pool commits
// (see Decide) assumes it may keep every instance until the next
// evaluation; when that would exceed the budget in this period or the
// next, instances are ended as soon as they can be, until it fits: idle
// ones are drained and terminated in this plan, costliest first, then busy
// ones are drained (fewest busy GPUs first, then costliest), so that a
// drain_timeout termination lands before the money runs out, and nothing
// is launched (the fleet it returns is marked overBudget). It acts even on
// stale signals. It returns the fleet and the plan with its actions and
// note.
func budgetPressure(e *decEnv, fl decFleet, p decPlan) (decFleet, decPlan) {
	if !e.breaksBudget(&fl) {
		return fl, p
	}
	b := e.pool.Limits.Budget
	before := fl.committed
	fl.overBudget = true
	p.bound(LimitBudget)
	ended := 0
	for _, i := range idleVictims(e, &fl) {
		if fl.committed.fits(b.Amount) {
			break
		}
		in := &e.inst[i]
		age := e.age(in)
		saved := e.commitOf(&in.Offering, age, e.keepSpan(in)).sub(e.commitOf(&in.Offering, age, e.endSpan()))
		if saved.cur <= 0 && saved.next <= 0 {
			continue // its paid time runs past the next evaluation anyway
		}
		reason := p.str(p.text().s("budget: keeping burst capacity commits ").usd(fl.committed.cur).
			s(" this ").s(decPeriod(b.Period)).s(" and ").usd(fl.committed.next).s(" in the next, of a ").usd(b.Amount).
			s(" budget (").usd(e.spend.Accrued).s(" accrued; each instance counted until drain_timeout after the next evaluation); ending idle instances costliest first, this one (").
			usd(in.Offering.PricePerHour).s("/h) frees ").usd(saved.cur + saved.next))
		if in.State != StateDraining && fl.flag(i)&decDrain == 0 {
			fl.drain(e, &p, i, reason)
		}
		fl.terminate(e, &p, i, reason)
		ended++
	}
	if fl.committed.fits(b.Amount) {
		if !p.quiet {
			p.note(fmt.Sprintf("budget: committed spend $%.2f this %s, $%.2f in the next, would exceed the $%.2f budget; ended %d idle instance(s), now $%.2f and $%.2f; no launches",
				before.cur, decPeriod(b.Period), before.next, b.Amount, ended, fl.committed.cur, fl.committed.next))
		}
		return fl, p
	}
	var busy []int
	for i := range e.inst {
		in := &e.inst[i]
		if in.State == StateTerminating || in.State == StateDraining || fl.flag(i) != 0 || in.Held {
			continue
		}
		busy = append(busy, i)
	}
	slices.SortFunc(busy, func(a, c int) int {
		x, y := &e.inst[a], &e.inst[c]
		if x.BusyGPUs != y.BusyGPUs {
			return x.BusyGPUs - y.BusyGPUs
		}
		if x.Offering.PricePerHour != y.Offering.PricePerHour {
			if x.Offering.PricePerHour > y.Offering.PricePerHour {
				return -1
			}
			return 1
		}
		return strings.Compare(x.ID, y.ID)
	})
	var drains []int
	for _, i := range busy {
		if fl.committed.fits(b.Amount) {
			break
		}
		in := &e.inst[i]
		age := e.age(in)
		saved := e.commitOf(&in.Offering, age, e.keepSpan(in)).sub(e.commitOf(&in.Offering, age, e.nowSpan(in)))
		fl.committed = fl.committed.sub(saved)
		drains = append(drains, i)
	}
	// Only now is it known whether the drains keep within the budget.
	for _, i := range drains {
		fl.drain(e, &p, i, busyDrainReason(e, &p, before, fl.committed, &e.inst[i]))
	}
	drained := len(drains)
	if fl.committed.fits(b.Amount) {
		if !p.quiet {
			p.note(fmt.Sprintf("budget: committed spend $%.2f this %s, $%.2f in the next, would exceed the $%.2f budget; ended %d idle instance(s), drained %d busy one(s) early so that drain_timeout ends them within it; no launches",
				before.cur, decPeriod(b.Period), before.next, b.Amount, ended, drained))
		}
		return fl, p
	}
	if !p.quiet {
		p.note(fmt.Sprintf("budget exhausted: committed spend $%.2f this %s, $%.2f in the next, exceeds the $%.2f budget even with every instance ending as soon as it can ($%.2f accrued); ended %d idle instance(s), drained %d busy one(s); no launches",
			fl.committed.cur, decPeriod(b.Period), fl.committed.next, b.Amount, e.spend.Accrued, ended, drained))
	}
	return fl, p
}

// busyDrainReason is the reason budgetPressure drains busy instance in,
// the pool's commitments before its plan and after its drains. A budget
// already spent (lowered below it by a restart) can no longer be kept by
// a drain: it says so, rather than that drain_timeout ends the instance
// within the budget; nor can one whose commitments still pass it with
// every busy instance drained (spend just under it), which says what is
// committed even so.
func busyDrainReason(e *decEnv, p *decPlan, before, after decCommit, in *Instance) string {
	b := e.pool.Limits.Budget
	if e.spend.Accrued >= b.Amount {
		return p.str(p.text().s("budget: the ").usd(b.Amount).s(" ").s(decPeriod(b.Period)).s(" budget is already spent (").
			usd(e.spend.Accrued).s(" accrued this period); draining now so that it ends as soon as its ").n(in.BusyGPUs).
			s(" busy GPU(s) finish or drain_timeout passes, billed past the budget until then"))
	}
	t := p.text().s("budget: keeping it past the next evaluation could bill beyond the ").usd(b.Amount).
		s(" ").s(decPeriod(b.Period)).s(" budget (committed ").usd(before.cur).s(" this period, ").usd(before.next).
		s(" in the next); draining now so that its ").n(in.BusyGPUs).s(" busy GPU(s) finish, or drain_timeout ends it")
	if after.fits(b.Amount) {
		return p.str(t.s(", within the budget"))
	}
	return p.str(t.s(" as soon as it can; even so ").usd(after.cur).s(" this period and ").usd(after.next).
		s(" in the next stay committed, past the budget: billed past it until they end"))
}

// breaksLimits reports whether the fleet holds more than max_gpus or
// max_cost_per_hour: what sets limitPressure off.
func (e *decEnv) breaksLimits(fl *decFleet) bool {
	lim := &e.pool.Limits
	return (lim.MaxGPUs > 0 && fl.totalGPUs > lim.MaxGPUs) || (lim.MaxCostPerHour > 0 && fl.costPerHour > lim.MaxCostPerHour)
}

// breaksBudget reports whether keeping the fleet would break a hard budget
// (see Decide): what sets budgetPressure off. Under a soft budget running
// work is never cut for money; allowed admits nothing until the
// commitments fit again, and says so when it holds a launch (a note every
// evaluation of a period would be noise).
func (e *decEnv) breaksBudget(fl *decFleet) bool {
	b := e.pool.Limits.Budget
	return b != nil && !fl.committed.fits(b.Amount) && !e.soft
}

// idleVictims lists the instances with no busy GPU that are not ending yet,
// costliest first: what the budget and the hard limits end first. A held
// commitment (Instance.Held) is none: the plan cannot end it.
func idleVictims(e *decEnv, fl *decFleet) []int {
	var victims []int
	for i := range e.inst {
		in := &e.inst[i]
		if in.State == StateTerminating || fl.flag(i)&decTerminate != 0 || in.BusyGPUs > 0 || in.Held {
			continue
		}
		victims = append(victims, i)
	}
	decSortByPriceDesc(e.inst, victims)
	return victims
}

// allowed says how many instances of o (up to want) may be launched without
// breaking max_gpus, max_cost_per_hour or the budget, given what the plan
// keeps so far; limit names the binding limit when fewer than want fit, and
// bound its kind (LimitMaxGPUs, …).
func allowed(e *decEnv, fl *decFleet, p *decPlan, o *decOffer, want int) (int, string) {
	k, limit, _ := allowedBy(e, fl, p, o, want)
	return k, limit
}

func allowedBy(e *decEnv, fl *decFleet, p *decPlan, o *decOffer, want int) (int, string, string) {
	k, limit, bound := want, "", ""
	g := o.o.GPUs
	lim := &e.pool.Limits
	if lim.MaxGPUs > 0 {
		room := 0
		if free := lim.MaxGPUs - fl.totalGPUs; free > 0 {
			room = free / g
		}
		if room < k {
			k = room
			bound = LimitMaxGPUs
			if !p.quiet {
				limit = p.str(p.text().s("max_gpus ").n(lim.MaxGPUs).s(" (").n(fl.totalGPUs).s(" burst GPUs held)"))
			}
		}
	}
	if lim.MaxCostPerHour > 0 && o.o.PricePerHour > 0 {
		room := decRoom(lim.MaxCostPerHour, fl.costPerHour, o.o.PricePerHour, k)
		if room < k {
			k = room
			if !p.quiet {
				limit = p.str(p.text().s("max_cost_per_hour ").usd(lim.MaxCostPerHour).s(" (burst costs ").usd(fl.costPerHour).
					s("/h, ").s(o.name()).s(" is ").usd(o.o.PricePerHour).s("/h)"))
			}
			bound = LimitMaxCostPerHour
		}
	}
	if fl.overLimit && k > 0 {
		k = 0
		if !p.quiet {
			limit = p.str(p.text().s("max_gpus ").n(lim.MaxGPUs).s(" / max_cost_per_hour ").usd(lim.MaxCostPerHour).
				s(" (the pool was over a limit before this plan: no launch until it fits)"))
		}
		bound = LimitMaxGPUs
		if lim.MaxGPUs <= 0 || fl.totalGPUs <= lim.MaxGPUs {
			bound = LimitMaxCostPerHour
		}
	}
	if b := lim.Budget; b != nil && fl.overBudget && k > 0 {
		k = 0
		if !p.quiet {
			limit = p.str(p.text().s("budget ").usd(b.Amount).s(" per ").s(decPeriod(b.Period)).
				s(" (committed spend was over it before this plan: no launch until it fits)"))
		}
		bound = LimitBudget
	}
	if b := lim.Budget; b != nil && e.soft && k > 0 {
		room := decRoom(b.Amount, fl.committed.cur, o.unit.cur, k)
		if room < k {
			k = room
			if !p.quiet {
				limit = p.str(p.text().s("soft budget ").usd(b.Amount).s(" per ").s(decPeriod(b.Period)).
					s(" (committed ").usd(fl.committed.cur).s(" this ").s(decPeriod(b.Period)).
					s(", each instance counted until the period's end or the latest moment it can end; one more ").s(o.name()).
					s(" commits ").usd(o.unit.cur).s(")"))
			}
			bound = LimitBudget
		}
	} else if b := lim.Budget; b != nil && k > 0 {
		room := min(decRoom(hardCap(b.Amount), fl.committed.cur, o.unit.cur, k), decRoom(hardCap(b.Amount), fl.committed.next, o.unit.next, k))
		if room < k {
			k = room
			if !p.quiet {
				limit = p.str(p.text().s("budget ").usd(b.Amount).s(" per ").s(decPeriod(b.Period)).
					s(" (committed ").usd(fl.committed.cur).s(" this ").s(decPeriod(b.Period)).s(" and ").usd(fl.committed.next).
					s(" in the next, each instance counted until drain_timeout after the next evaluation; one more ").s(o.name()).
					s(" commits ").usd(o.unit.cur + o.unit.next).s(")"))
			}
			bound = LimitBudget
		}
	}
	if k < 0 {
		k = 0
	}
	if k < want && bound != "" {
		p.bound(bound)
	}
	return k, limit, bound
}

// decRoom is how many units of cost each fit between used and limit, at most want.
func decRoom(limit, used, each float64, want int) int {
	if !(each > 0) {
		if used <= limit {
			return want
		}
		return 0
	}
	x := (limit - used) / each
	if !(x > 0) { // also NaN
		return 0
	}
	if x >= float64(want) {
		x = float64(want)
	}
	n := int(math.Floor(x))
	for n > 0 && used+float64(n)*each > limit {
		n--
	}
	return n
}

// decSortByPriceDesc orders instance indices costliest first, then by ID.
func decSortByPriceDesc(inst []Instance, idx []int) {
	slices.SortFunc(idx, func(a, b int) int {
		x, y := &inst[a], &inst[b]
		if c := cmp.Compare(y.Offering.PricePerHour, x.Offering.PricePerHour); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
}
