package policy

import (
	"math"
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

// decCommit is spend committed in the budget period (cur) and in any one
// later period (next). See Decide for what is committed.
type decCommit struct{ cur, next float64 }

func (c decCommit) add(x decCommit) decCommit { return decCommit{c.cur + x.cur, c.next + x.next} }

func (c decCommit) sub(x decCommit) decCommit { return decCommit{c.cur - x.cur, c.next - x.next} }

func (c decCommit) times(k int) decCommit { return decCommit{c.cur * float64(k), c.next * float64(k)} }

// fits says whether c keeps within a hard budget of amount.
func (c decCommit) fits(amount float64) bool {
	limit := hardCap(amount)
	return c.cur <= limit && c.next <= limit
}

// budgetHeadroom is the share of a hard budget the policy keeps back from
// what it commits: its commitments and the bill are sums of the same
// prices taken in another order, and a budget committed to its last cent
// was billed a few 1e-13 dollars past its amount.
const budgetHeadroom = 1e-9

// hardCap is what a hard budget of amount lets the pool commit.
func hardCap(amount float64) float64 { return amount * (1 - budgetHeadroom) }

// commitOf is what an instance of offering o, age nanoseconds old, commits
// if it ends span nanoseconds from now: the rest of the current period
// (billed to the end, or to the period's end, less the prorated cost
// already accrued), and what it bills after the period ends, over at most
// the longest period of the budget's kind (any later period is at most
// that).
func (e *decEnv) commitOf(o *Offering, age, span int64) decCommit {
	if o.PricePerHour <= 0 {
		return decCommit{}
	}
	toEnd := e.toPeriodEnd
	if e.soft {
		// A soft budget counts the current period only: what runs past its
		// end is the next period's, which admits no launch until it fits.
		return decCommit{cur: decRemaining(o, age, min(span, toEnd))}
	}
	if span <= toEnd {
		return decCommit{cur: decRemaining(o, age, span)}
	}
	c := decCommit{cur: decRemaining(o, age, toEnd)}
	after := min(span-toEnd, e.periodLen)
	c.next = decBilled(o, age+toEnd+after) - decBilled(o, age+toEnd)
	return c
}

// drainSpan is how long an instance drained now may run at the latest:
// until the first evaluation at or after drain_timeout (and the slack by
// which a slow tick may delay it), then until the end that evaluation
// orders reaches the cloud (endSpan), or forever when there is no
// timeout.
func (e *decEnv) drainSpan() int64 {
	t := int64(e.pool.ScaleIn.DrainTimeout)
	if t <= 0 {
		return decForever
	}
	return decAddSpan(decAddSpan(decRoundUp(t, e.span), e.slack), e.endSpan())
}

// endSpan is how long an instance the policy ends now (terminates) may
// still run: its tick makes the call after the list and the drain hooks,
// and the call may take its whole call timeout, so the end may reach the
// cloud up to a tick's length (the slack) after the evaluation. 0 in the
// simulator.
func (e *decEnv) endSpan() int64 { return e.slack }

// dueSpan is how long an instance whose drain_timeout ends due
// nanoseconds from now (0 or less: it has ended) may run at the latest:
// ended now when it has (endSpan), else at the first evaluation at or
// after due, which a slow tick may delay by the slack, and then until
// that end reaches the cloud.
func (e *decEnv) dueSpan(due int64) int64 {
	if due <= 0 {
		return e.endSpan()
	}
	return decAddSpan(decAddSpan(decRoundUp(due, e.span), e.slack), e.endSpan())
}

// decSlack is how much later than the first evaluation at or after a time
// the next evaluation may come, and how long after an evaluation an end
// it orders may reach the cloud: a tick waits for its cloud calls, one
// after another, up to Pool.TickSlack (rounded up to the interval, span).
// 0 in the simulator.
func decSlack(pool *Pool, span int64) int64 {
	if pool.TickSlack <= 0 {
		return 0
	}
	return decRoundUp(int64(pool.TickSlack), span)
}

// nextSpan is how long from now an instance kept now may run before the next
// evaluation can drain it: the interval, and the slack by which a slow
// call may delay that evaluation.
func (e *decEnv) nextSpan() int64 { return decAddSpan(e.span, e.slack) }

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
func (e *decEnv) keepSpan(in *Instance) int64 {
	if e.soft {
		return e.softSpan(in)
	}
	if in.State == StateDraining {
		t := int64(e.pool.ScaleIn.DrainTimeout)
		if t <= 0 {
			return decForever
		}
		started := in.DrainStartedAt
		if started.IsZero() || started.After(e.now) {
			started = e.now
		}
		return e.dueSpan(started.UnixNano() + t - e.nowNs)
	}
	return decAddSpan(e.nextSpan(), e.drainSpan())
}

// launchSpan is how long an instance launched now may run at the latest:
// with a hard budget, kept until the next evaluation and then drained
// until drain_timeout; with a soft one, until max_lifetime and
// drain_timeout end it (see softSpan).
func (e *decEnv) launchSpan() int64 {
	if e.soft {
		return decAddSpan(decSoftLife(int64(e.pool.ScaleIn.MaxLifetime), 0, e.span, e.drainSpan()), e.slack)
	}
	return decAddSpan(e.nextSpan(), e.drainSpan())
}

// softSpan is how long an instance may run at the latest when the policy
// never cuts running work for money (a soft budget): a draining one until
// the first evaluation after its own drain_timeout; any other until it is
// drained at max_lifetime and ended by drain_timeout (the first
// evaluations at or after each); with no max_lifetime or no drain_timeout,
// for ever (the period's end bounds what the budget counts).
func (e *decEnv) softSpan(in *Instance) int64 {
	t := int64(e.pool.ScaleIn.DrainTimeout)
	if t <= 0 {
		return decForever
	}
	if in.State == StateDraining {
		started := in.DrainStartedAt
		if started.IsZero() || started.After(e.now) {
			started = e.now
		}
		return e.dueSpan(started.UnixNano() + t - e.nowNs)
	}
	return decAddSpan(decSoftLife(int64(e.pool.ScaleIn.MaxLifetime), e.age(in), e.span, e.drainSpan()), e.slack)
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
func (e *decEnv) nowSpan(in *Instance) int64 {
	if in.BusyGPUs <= 0 {
		return e.endSpan()
	}
	if in.State == StateDraining {
		return e.keepSpan(in)
	}
	return e.drainSpan()
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

// LeastLaunchCommit is the least one launch of offering o can commit
// within a single budget period of pool's budget, wherever in the period
// it falls: a budget whose amount is below it for every offering admits
// no launch, ever. With a hard budget a launch commits its billed cost
// until drain_timeout after the next evaluation (decHoldSpan), which a
// period's end may split in two, so at least half of it lands in one
// period; and never less than the offering's minimum charge (60 s, or an
// hour for hourly billing), which the period it starts in always holds.
// With a soft budget only the current period counts, so a launch at its
// very end commits the minimum charge alone. A hard budget lets the pool
// commit its amount less budgetHeadroom (hardCap): for one, it is the
// least amount whose cap holds that commitment. 0 for an offering without
// a price, or a pool without a budget.
func LeastLaunchCommit(pool *Pool, o Offering) float64 {
	b := pool.Limits.Budget
	if b == nil || o.PricePerHour <= 0 {
		return 0
	}
	least := decBilled(&o, 1) // the minimum charge
	if b.Soft() {
		return least
	}
	least = max(least, decBilled(&o, decHoldSpan(pool))/2)
	amount := least / (1 - budgetHeadroom)
	for hardCap(amount) < least {
		amount = math.Nextafter(amount, math.Inf(1))
	}
	return amount
}
