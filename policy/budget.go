package policy

import (
	"fmt"
	"math"
	"time"
)

// minBilled60 is the minimum billed duration of per-second-min-60s billing.
const minBilled60 = 60 * time.Second

// BilledCost is what an instance of offering o costs when it runs from
// launched to ended, under the offering's billing rule:
//
//   - per-second-min-60s (also used when Billing is empty): every second is
//     billed, at least 60 seconds in all;
//   - per-second: every second is billed, no minimum;
//   - hourly: every started hour is billed in full (at least one hour).
//
// An instance that ended before it was launched costs nothing. The engine
// uses it to count committed spend, and the simulator to bill instances, so
// that both agree on what a lifetime costs.
func BilledCost(o Offering, launched, ended time.Time) float64 {
	if o.PricePerHour <= 0 || ended.Before(launched) {
		return 0
	}
	d := ended.Sub(launched)
	switch o.Billing {
	case BillingPerSecond:
		return o.PricePerHour * d.Hours()
	case BillingHourly:
		return o.PricePerHour * float64(decStartedHours(d))
	default:
		if d < minBilled60 {
			d = minBilled60
		}
		return o.PricePerHour * d.Hours()
	}
}

// decStartedHours is the number of started hours in d, at least one.
func decStartedHours(d time.Duration) int64 {
	h := int64((d + time.Hour - 1) / time.Hour)
	if h < 1 {
		h = 1
	}
	return h
}

// decHourEnd is when the paid hour of an hourly instance launched at
// launched, current at now, ends.
func decHourEnd(launched, now time.Time) time.Time {
	return launched.Add(time.Duration(decStartedHours(now.Sub(launched))) * time.Hour)
}

// decLaunchedAt is the launch time the engine bills from: LaunchedAt, or now
// when it is unknown or in the future (clock skew), so no cost is invented.
func decLaunchedAt(in *Instance, now time.Time) time.Time {
	if in.LaunchedAt.IsZero() || in.LaunchedAt.After(now) {
		return now
	}
	return in.LaunchedAt
}

// decRemaining is the cost an instance adds from now on if it runs span
// more nanoseconds: its billed cost for its whole life (age, its age now in
// nanoseconds, plus span) less the prorated cost of its age, which
// Spend.Accrued already holds. With span 0 it is the minimum remaining
// billable cost (the rest of a 60 s minimum or of a started hour). It works
// on nanoseconds, not time.Time, because it runs for every instance.
func decRemaining(o *Offering, age, span int64) float64 {
	p := o.PricePerHour
	if p <= 0 {
		return 0
	}
	const hour = int64(time.Hour)
	end := age + span
	var r float64
	switch o.Billing {
	case BillingPerSecond:
		r = p * float64(span) / float64(hour)
	case BillingHourly:
		h := (end + hour - 1) / hour
		if h < 1 {
			h = 1
		}
		r = p*float64(h) - p*float64(age)/float64(hour)
	default:
		if end < int64(minBilled60) {
			end = int64(minBilled60)
		}
		r = p * float64(end-age) / float64(hour)
	}
	if r < 0 {
		return 0
	}
	return r
}

// age is how long ago an instance was launched, in nanoseconds, as billed
// (see decLaunchedAt).
func (d *decider) age(in *Instance) int64 {
	if in.LaunchedAt.IsZero() {
		return 0
	}
	if a := d.nowNs - in.LaunchedAt.UnixNano(); a > 0 {
		return a
	}
	return 0
}

// allowed says how many instances of o (up to want) may be launched without
// breaking max_gpus, max_cost_per_hour or the budget, given what the plan
// keeps so far; limit names the binding limit when fewer than want fit.
func (d *decider) allowed(o *decOffer, want int) (int, string) {
	k, limit := want, ""
	g := o.o.GPUs
	lim := &d.pool.Limits
	if lim.MaxGPUs > 0 {
		room := 0
		if free := lim.MaxGPUs - d.totalGPUs; free > 0 {
			room = free / g
		}
		if room < k {
			k = room
			limit = fmt.Sprintf("max_gpus %d (%d burst GPUs held)", lim.MaxGPUs, d.totalGPUs)
		}
	}
	if lim.MaxCostPerHour > 0 && o.o.PricePerHour > 0 {
		room := decRoom(lim.MaxCostPerHour, d.costPerHour, o.o.PricePerHour, k)
		if room < k {
			k = room
			limit = fmt.Sprintf("max_cost_per_hour $%.2f (burst costs $%.2f/h, %s is $%.2f/h)",
				lim.MaxCostPerHour, d.costPerHour, o.name(), o.o.PricePerHour)
		}
	}
	if d.overLimit && k > 0 {
		k = 0
		limit = fmt.Sprintf("max_gpus %d / max_cost_per_hour $%.2f (the pool was over a limit before this plan: no launch until it fits)", lim.MaxGPUs, lim.MaxCostPerHour)
	}
	if b := lim.Budget; b != nil && d.overBudget && k > 0 {
		k = 0
		limit = fmt.Sprintf("budget $%.2f per %s (committed spend was over it before this plan: no launch until it fits)", b.Amount, decPeriod(b.Period))
	}
	if b := lim.Budget; b != nil && o.unit > 0 {
		room := decRoom(b.Amount, d.committed, o.unit, k)
		if room < k {
			k = room
			limit = fmt.Sprintf("budget $%.2f per %s (committed $%.2f incl. running until the next evaluation; one more %s commits $%.2f)",
				b.Amount, decPeriod(b.Period), d.committed, o.name(), o.unit)
		}
	}
	if k < 0 {
		k = 0
	}
	return k, limit
}

// decRoom is how many units of cost each fit between used and limit, at most want.
func decRoom(limit, used, each float64, want int) int {
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

func decPeriod(p BudgetPeriod) string {
	if p == "" {
		return "period"
	}
	return string(p)
}

// budgetPressure handles a budget that keeping what runs until the next
// evaluation would exceed: idle instances are drained and terminated in the
// same plan, costliest first, until the committed spend fits; if it still
// does not, busy instances are drained so they end when their jobs do. It
// acts even on stale signals: the budget is a hard limit.
func (d *decider) budgetPressure() {
	b := d.pool.Limits.Budget
	if b == nil || d.committed <= b.Amount {
		return
	}
	before := d.committed
	d.overBudget = true
	victims := d.idleVictims()
	ended := 0
	for _, i := range victims {
		if d.committed <= b.Amount {
			break
		}
		in := &d.inst[i]
		age := d.age(in)
		saved := decRemaining(&in.Offering, age, d.span) - decRemaining(&in.Offering, age, 0)
		if saved <= 0 {
			continue // its paid time runs past the next evaluation anyway
		}
		reason := d.str(d.text().s("budget: keeping burst capacity until the next evaluation commits ").usd(d.committed).
			s(" of the ").usd(b.Amount).s(" ").s(decPeriod(b.Period)).s(" budget (").usd(d.spend.Accrued).
			s(" accrued); ending idle instances costliest first, this one (").usd(in.Offering.PricePerHour).s("/h) saves ").usd(saved))
		if in.State != StateDraining && d.flag(i)&decDrain == 0 {
			d.drain(i, reason)
		}
		d.terminate(i, reason)
		ended++
	}
	if d.committed <= b.Amount {
		d.note(fmt.Sprintf("budget: committed spend $%.2f would exceed the $%.2f %s budget; ended %d idle instance(s), now $%.2f", before, b.Amount, decPeriod(b.Period), ended, d.committed))
		return
	}
	drained := 0
	for i := range d.inst {
		in := &d.inst[i]
		if in.State == StateTerminating || in.State == StateDraining || d.flag(i) != 0 {
			continue
		}
		d.drain(i, d.str(d.text().s("budget exhausted: committed spend ").usd(d.committed).s(" exceeds the ").usd(b.Amount).
			s(" ").s(decPeriod(b.Period)).s(" budget even after ending idle instances; draining so it ends when its ").
			n(in.BusyGPUs).s(" busy GPU(s) finish")))
		drained++
	}
	d.note(fmt.Sprintf("budget exhausted: committed spend $%.2f exceeds the $%.2f %s budget ($%.2f accrued); ended %d idle instance(s), drained %d busy one(s); no launches",
		d.committed, b.Amount, decPeriod(b.Period), d.spend.Accrued, ended, drained))
}

// limitPressure handles burst capacity above max_gpus or max_cost_per_hour
// before any launch (the limits were lowered while instances ran): idle
// instances are drained and terminated in the same plan, costliest first,
// until the pool fits; busy ones are left to finish their work, and nothing
// is launched while the pool is over a limit. Like the budget, it acts on
// stale signals too.
func (d *decider) limitPressure() {
	lim := &d.pool.Limits
	over := func() bool {
		return (lim.MaxGPUs > 0 && d.totalGPUs > lim.MaxGPUs) || (lim.MaxCostPerHour > 0 && d.costPerHour > lim.MaxCostPerHour)
	}
	if !over() {
		return
	}
	heldG, heldC := d.totalGPUs, d.costPerHour
	d.overLimit = true
	victims := d.idleVictims()
	ended := 0
	for _, i := range victims {
		if !over() {
			break
		}
		in := &d.inst[i]
		reason := d.str(d.text().s("over a hard limit: ").n(d.totalGPUs).s(" burst GPUs at ").usd(d.costPerHour).
			s("/h held, limits max_gpus ").n(lim.MaxGPUs).s(", max_cost_per_hour ").usd(lim.MaxCostPerHour).
			s("; ending idle instances costliest first, this one ").n(decGPUs(&in.Offering)).s(" GPUs at ").
			usd(in.Offering.PricePerHour).s("/h"))
		if in.State != StateDraining && d.flag(i)&decDrain == 0 {
			d.drain(i, reason)
		}
		d.terminate(i, reason)
		ended++
	}
	still := "; no launches in this plan"
	if over() {
		still = fmt.Sprintf("; still over with %d GPUs at $%.2f/h busy; no launches", d.totalGPUs, d.costPerHour)
	}
	d.note(fmt.Sprintf("over a hard limit before this plan: %d burst GPUs at $%.2f/h held, limits max_gpus %d, max_cost_per_hour $%.2f; ended %d idle instance(s)%s",
		heldG, heldC, lim.MaxGPUs, lim.MaxCostPerHour, ended, still))
}

// idleVictims lists the instances with no busy GPU that are not ending yet,
// costliest first: what the budget and the hard limits end first.
func (d *decider) idleVictims() []int {
	var victims []int
	for i := range d.inst {
		in := &d.inst[i]
		if in.State == StateTerminating || d.flag(i)&decTerminate != 0 || in.BusyGPUs > 0 {
			continue
		}
		victims = append(victims, i)
	}
	decSortByPriceDesc(d.inst, victims)
	return victims
}
