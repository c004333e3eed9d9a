package policy

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// minBilled60 is the minimum billed duration of per-second-min-60s billing.
const minBilled60 = 60 * time.Second

// decForever is a span with no end: an instance that a drain cannot end
// because scale_in.drain_timeout is 0 (no timeout).
const decForever = int64(math.MaxInt64)

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
	return decBilled(&o, int64(ended.Sub(launched)))
}

// decBilled is the billed cost of a lifetime of life nanoseconds.
func decBilled(o *Offering, life int64) float64 {
	p := o.PricePerHour
	if p <= 0 || life < 0 {
		return 0
	}
	const hour = int64(time.Hour)
	switch o.Billing {
	case BillingPerSecond:
		return p * float64(life) / float64(hour)
	case BillingHourly:
		return p * float64(decStartedHours(time.Duration(life)))
	default:
		if life < int64(minBilled60) {
			life = int64(minBilled60)
		}
		return p * float64(life) / float64(hour)
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
	r := decBilled(o, age+span) - p*float64(age)/float64(time.Hour)
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

// decCommit is spend committed in the budget period (cur) and in any one
// later period (next). See Decide for what is committed.
type decCommit struct{ cur, next float64 }

func (c decCommit) add(x decCommit) decCommit   { return decCommit{c.cur + x.cur, c.next + x.next} }
func (c decCommit) sub(x decCommit) decCommit   { return decCommit{c.cur - x.cur, c.next - x.next} }
func (c decCommit) times(k int) decCommit       { return decCommit{c.cur * float64(k), c.next * float64(k)} }
func (c decCommit) fits(amount float64) bool    { return c.cur <= amount && c.next <= amount }
func (c decCommit) over(amount float64) float64 { return max(c.cur-amount, c.next-amount) }

// commitOf is what an instance of offering o, age nanoseconds old, commits
// if it ends span nanoseconds from now: the rest of the current period
// (billed to the end, or to the period's end, less the prorated cost
// already accrued), and what it bills after the period ends, over at most
// the longest period of the budget's kind (any later period is at most
// that).
func (d *decider) commitOf(o *Offering, age, span int64) decCommit {
	if o.PricePerHour <= 0 {
		return decCommit{}
	}
	toEnd := d.toPeriodEnd
	if d.soft {
		// A soft budget counts the current period only: what runs past its
		// end is the next period's, which admits no launch until it fits.
		return decCommit{cur: decRemaining(o, age, min(span, toEnd))}
	}
	if span <= toEnd {
		return decCommit{cur: decRemaining(o, age, span)}
	}
	c := decCommit{cur: decRemaining(o, age, toEnd)}
	after := min(span-toEnd, d.periodLen)
	c.next = decBilled(o, age+toEnd+after) - decBilled(o, age+toEnd)
	return c
}

// drainSpan is how long an instance drained now may run at the latest:
// until the first evaluation at or after drain_timeout, or forever when
// there is no timeout.
func (d *decider) drainSpan() int64 {
	t := int64(d.pool.ScaleIn.DrainTimeout)
	if t <= 0 {
		return decForever
	}
	return decRoundUp(t, d.span)
}

// decRoundUp rounds x up to a multiple of step (x ≥ 0, step > 0), saturating.
func decRoundUp(x, step int64) int64 {
	if x <= 0 {
		return 0
	}
	n := (x-1)/step + 1
	if n > decForever/step {
		return decForever
	}
	return n * step
}

// decAddSpan adds spans, saturating at decForever.
func decAddSpan(a, b int64) int64 {
	if a >= decForever-b {
		return decForever
	}
	return a + b
}

// keepSpan is how long a live instance kept by this plan may run at the
// latest: drained at the next evaluation (a job may land on it before),
// then ended by drain_timeout. A draining one ends at the first evaluation
// after its own drain_timeout.
func (d *decider) keepSpan(in *Instance) int64 {
	if d.soft {
		return d.softSpan(in)
	}
	if in.State == StateDraining {
		t := int64(d.pool.ScaleIn.DrainTimeout)
		if t <= 0 {
			return decForever
		}
		started := in.DrainStartedAt
		if started.IsZero() || started.After(d.now) {
			started = d.now
		}
		return decRoundUp(started.UnixNano()+t-d.nowNs, d.span)
	}
	return decAddSpan(d.span, d.drainSpan())
}

// launchSpan is how long an instance launched now may run at the latest:
// with a hard budget, kept until the next evaluation and then drained
// until drain_timeout; with a soft one, until max_lifetime and
// drain_timeout end it (see softSpan).
func (d *decider) launchSpan() int64 {
	if d.soft {
		return decSoftLife(int64(d.pool.ScaleIn.MaxLifetime), 0, d.span, d.drainSpan())
	}
	return decAddSpan(d.span, d.drainSpan())
}

// softSpan is how long an instance may run at the latest when the policy
// never cuts running work for money (a soft budget): a draining one until
// the first evaluation after its own drain_timeout; any other until it is
// drained at max_lifetime and ended by drain_timeout (the first
// evaluations at or after each); with no max_lifetime or no drain_timeout,
// for ever (the period's end bounds what the budget counts).
func (d *decider) softSpan(in *Instance) int64 {
	t := int64(d.pool.ScaleIn.DrainTimeout)
	if t <= 0 {
		return decForever
	}
	if in.State == StateDraining {
		started := in.DrainStartedAt
		if started.IsZero() || started.After(d.now) {
			started = d.now
		}
		return decRoundUp(started.UnixNano()+t-d.nowNs, d.span)
	}
	return decSoftLife(int64(d.pool.ScaleIn.MaxLifetime), d.age(in), d.span, d.drainSpan())
}

// decSoftLife is how long from now an instance age nanoseconds old may run
// at the latest when only max_lifetime (life; 0 for none) ends it: drained
// at the first evaluation (every step) at or after life, then ended drain
// nanoseconds later.
func decSoftLife(life, age, step, drain int64) int64 {
	if life <= 0 || drain == decForever {
		return decForever
	}
	return decAddSpan(decRoundUp(life-age, step), drain)
}

// nowSpan is how long an instance may run at the latest if it is ended as
// soon as possible now: an idle one is terminated in this plan, a busy one
// drained.
func (d *decider) nowSpan(in *Instance) int64 {
	if in.BusyGPUs <= 0 {
		return 0
	}
	if in.State == StateDraining {
		return d.keepSpan(in)
	}
	return d.drainSpan()
}

// allowed says how many instances of o (up to want) may be launched without
// breaking max_gpus, max_cost_per_hour or the budget, given what the plan
// keeps so far; limit names the binding limit when fewer than want fit, and
// bound its kind (LimitMaxGPUs, …).
func (d *decider) allowed(o *decOffer, want int) (int, string) {
	k, limit, _ := d.allowedBy(o, want)
	return k, limit
}

func (d *decider) allowedBy(o *decOffer, want int) (int, string, string) {
	k, limit, bound := want, "", ""
	g := o.o.GPUs
	lim := &d.pool.Limits
	if lim.MaxGPUs > 0 {
		room := 0
		if free := lim.MaxGPUs - d.totalGPUs; free > 0 {
			room = free / g
		}
		if room < k {
			k = room
			limit, bound = fmt.Sprintf("max_gpus %d (%d burst GPUs held)", lim.MaxGPUs, d.totalGPUs), LimitMaxGPUs
		}
	}
	if lim.MaxCostPerHour > 0 && o.o.PricePerHour > 0 {
		room := decRoom(lim.MaxCostPerHour, d.costPerHour, o.o.PricePerHour, k)
		if room < k {
			k = room
			limit = fmt.Sprintf("max_cost_per_hour $%.2f (burst costs $%.2f/h, %s is $%.2f/h)",
				lim.MaxCostPerHour, d.costPerHour, o.name(), o.o.PricePerHour)
			bound = LimitMaxCostPerHour
		}
	}
	if d.overLimit && k > 0 {
		k = 0
		limit = fmt.Sprintf("max_gpus %d / max_cost_per_hour $%.2f (the pool was over a limit before this plan: no launch until it fits)", lim.MaxGPUs, lim.MaxCostPerHour)
		bound = LimitMaxGPUs
		if lim.MaxGPUs <= 0 || d.totalGPUs <= lim.MaxGPUs {
			bound = LimitMaxCostPerHour
		}
	}
	if b := lim.Budget; b != nil && d.overBudget && k > 0 {
		k = 0
		limit = fmt.Sprintf("budget $%.2f per %s (committed spend was over it before this plan: no launch until it fits)", b.Amount, decPeriod(b.Period))
		bound = LimitBudget
	}
	if b := lim.Budget; b != nil && d.soft && k > 0 {
		room := decRoom(b.Amount, d.committed.cur, o.unit.cur, k)
		if room < k {
			k = room
			limit = fmt.Sprintf("soft budget $%.2f per %s (committed $%.2f this %s, each instance counted until the period's end or the latest moment it can end; one more %s commits $%.2f)",
				b.Amount, decPeriod(b.Period), d.committed.cur, decPeriod(b.Period), o.name(), o.unit.cur)
			bound = LimitBudget
		}
	} else if b := lim.Budget; b != nil && k > 0 {
		room := min(decRoom(b.Amount, d.committed.cur, o.unit.cur, k), decRoom(b.Amount, d.committed.next, o.unit.next, k))
		if room < k {
			k = room
			limit = fmt.Sprintf("budget $%.2f per %s (committed $%.2f this %s and $%.2f in the next, each instance counted until drain_timeout after the next evaluation; one more %s commits $%.2f)",
				b.Amount, decPeriod(b.Period), d.committed.cur, decPeriod(b.Period), d.committed.next, o.name(), o.unit.cur+o.unit.next)
			bound = LimitBudget
		}
	}
	if k < 0 {
		k = 0
	}
	if k < want && bound != "" {
		d.bound(bound)
	}
	return k, limit, bound
}

// bound records that a limit held back or ended capacity in this plan.
func (d *decider) bound(limit string) {
	if !slices.Contains(d.plan.BoundBy, limit) {
		d.plan.BoundBy = append(d.plan.BoundBy, limit)
	}
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

// decUSD writes $x.xx.
func decUSD(x float64) string { return fmt.Sprintf("$%.2f", x) }

func decPeriod(p BudgetPeriod) string {
	if p == "" {
		return "period"
	}
	return string(p)
}

// decPeriodLen is the longest a budget period of kind p can be.
func decPeriodLen(p BudgetPeriod) int64 {
	switch p {
	case PeriodDay:
		return int64(24 * time.Hour)
	case PeriodWeek:
		return int64(7 * 24 * time.Hour)
	default:
		return int64(31 * 24 * time.Hour)
	}
}

// budgetPressure keeps the budget a hard limit. What the pool commits
// (see Decide) assumes it may keep every instance until the next
// evaluation; when that would exceed the budget in this period or the
// next, instances are ended as soon as they can be, until it fits: idle
// ones are drained and terminated in this plan, costliest first, then busy
// ones are drained (fewest busy GPUs first, then costliest), so that a
// drain_timeout termination lands before the money runs out. It acts even
// on stale signals.
func (d *decider) budgetPressure() {
	b := d.pool.Limits.Budget
	if b == nil || d.committed.fits(b.Amount) {
		return
	}
	if d.soft {
		// Running work is never cut for money; allowed admits nothing
		// until the commitments fit again.
		d.note(fmt.Sprintf("soft budget: committed spend $%.2f this %s (%s accrued, each instance counted until the period's end or the latest moment it can end) is over the $%.2f budget; no launches, running work is not cut",
			d.committed.cur, decPeriod(b.Period), decUSD(d.spend.Accrued), b.Amount))
		return
	}
	before := d.committed
	d.overBudget = true
	d.bound(LimitBudget)
	ended := 0
	for _, i := range d.idleVictims() {
		if d.committed.fits(b.Amount) {
			break
		}
		in := &d.inst[i]
		age := d.age(in)
		saved := d.commitOf(&in.Offering, age, d.keepSpan(in)).sub(d.commitOf(&in.Offering, age, 0))
		if saved.cur <= 0 && saved.next <= 0 {
			continue // its paid time runs past the next evaluation anyway
		}
		reason := d.str(d.text().s("budget: keeping burst capacity commits ").usd(d.committed.cur).
			s(" this ").s(decPeriod(b.Period)).s(" and ").usd(d.committed.next).s(" in the next, of a ").usd(b.Amount).
			s(" budget (").usd(d.spend.Accrued).s(" accrued; each instance counted until drain_timeout after the next evaluation); ending idle instances costliest first, this one (").
			usd(in.Offering.PricePerHour).s("/h) frees ").usd(saved.cur + saved.next))
		if in.State != StateDraining && d.flag(i)&decDrain == 0 {
			d.drain(i, reason)
		}
		d.terminate(i, reason)
		ended++
	}
	if d.committed.fits(b.Amount) {
		d.note(fmt.Sprintf("budget: committed spend $%.2f this %s, $%.2f in the next, would exceed the $%.2f budget; ended %d idle instance(s), now $%.2f and $%.2f; no launches",
			before.cur, decPeriod(b.Period), before.next, b.Amount, ended, d.committed.cur, d.committed.next))
		return
	}
	var busy []int
	for i := range d.inst {
		in := &d.inst[i]
		if in.State == StateTerminating || in.State == StateDraining || d.flag(i) != 0 {
			continue
		}
		busy = append(busy, i)
	}
	slices.SortFunc(busy, func(a, c int) int {
		x, y := &d.inst[a], &d.inst[c]
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
	drained := 0
	for _, i := range busy {
		if d.committed.fits(b.Amount) {
			break
		}
		in := &d.inst[i]
		age := d.age(in)
		saved := d.commitOf(&in.Offering, age, d.keepSpan(in)).sub(d.commitOf(&in.Offering, age, d.nowSpan(in)))
		d.committed = d.committed.sub(saved)
		d.drain(i, d.str(d.text().s("budget: keeping it past the next evaluation could bill beyond the ").usd(b.Amount).
			s(" ").s(decPeriod(b.Period)).s(" budget (committed ").usd(before.cur).s(" this period, ").usd(before.next).
			s(" in the next); draining now so that its ").n(in.BusyGPUs).s(" busy GPU(s) finish, or drain_timeout ends it, within the budget")))
		drained++
	}
	if d.committed.fits(b.Amount) {
		d.note(fmt.Sprintf("budget: committed spend $%.2f this %s, $%.2f in the next, would exceed the $%.2f budget; ended %d idle instance(s), drained %d busy one(s) early so that drain_timeout ends them within it; no launches",
			before.cur, decPeriod(b.Period), before.next, b.Amount, ended, drained))
		return
	}
	d.note(fmt.Sprintf("budget exhausted: committed spend $%.2f this %s, $%.2f in the next, exceeds the $%.2f budget even with every instance ending as soon as it can ($%.2f accrued); ended %d idle instance(s), drained %d busy one(s); no launches",
		d.committed.cur, decPeriod(b.Period), d.committed.next, b.Amount, d.spend.Accrued, ended, drained))
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
	if lim.MaxGPUs > 0 && d.totalGPUs > lim.MaxGPUs {
		d.bound(LimitMaxGPUs)
	}
	if lim.MaxCostPerHour > 0 && d.costPerHour > lim.MaxCostPerHour {
		d.bound(LimitMaxCostPerHour)
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

// PeriodBounds is the calendar budget period of kind p (UTC) that holds
// now: a day from midnight, a week from Monday, a month from its first day
// (a month when p is empty).
func PeriodBounds(p BudgetPeriod, now time.Time) (start, end time.Time) {
	now = now.UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	switch p {
	case PeriodDay:
		return day, day.AddDate(0, 0, 1)
	case PeriodWeek:
		start := day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7)) // Monday
		return start, start.AddDate(0, 0, 7)
	default:
		start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	}
}
