package sim

// Billing against budget periods: what the policy is told it spent, and each period's spend for the report.

import (
	"time"

	"github.com/spillway-io/spillway/policy"
)

// BudgetPeriod is one budget period's spend.
type BudgetPeriod struct {
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	BudgetUSD float64   `json:"budget_usd"`
	SpendUSD  float64   `json:"spend_usd"`
	// Soft is set when the budget is soft (budget.mode: soft), which
	// never cuts running work for money, so a period can go over.
	Soft bool `json:"soft,omitempty"`
}

// cheapestPerGPUHour is the lowest price per useful GPU-hour on offer:
// price ÷ (GPUs × performance). Spot offerings of a pool whose jobs do not
// checkpoint (Pool.SpotLastResort) count only when nothing else is on
// offer (work done on one taken as a last resort is valued at its own
// price, state.addWork): a reclaim loses the runs on them, so their list
// price is not a price per useful GPU-hour.
func cheapestPerGPUHour(pool *policy.Pool) float64 {
	best, last := 0.0, 0.0
	for _, o := range pool.Offerings {
		if o.GPUs <= 0 || o.PricePerHour <= 0 {
			continue
		}
		p := perUsefulGPUHour(o)
		if pool.SpotLastResort(o) {
			if last == 0 || p < last {
				last = p
			}
			continue
		}
		if best == 0 || p < best {
			best = p
		}
	}
	if best == 0 {
		return last
	}
	return best
}

// perUsefulGPUHour is an offering's price per useful GPU-hour: price ÷
// (GPUs × performance).
func perUsefulGPUHour(o policy.Offering) float64 {
	return o.PricePerHour / (float64(o.GPUs) * offeringPerf(o))
}

// periodShare is what an instance was billed within the current budget
// period, up to end. One launched in the period is billed there in full,
// its minimum included, even when it ends the instant it was launched.
func (s *state) periodShare(in *instance, end time.Time) float64 {
	total := billedCost(in.off, in.launchedAt, end)
	if in.launchedAt.Before(s.periodStart) {
		if !end.After(s.periodStart) {
			return 0
		}
		if !in.prePeriodOf.Equal(s.periodStart) {
			in.prePeriod, in.prePeriodOf = billedCost(in.off, in.launchedAt, s.periodStart), s.periodStart
		}
		total -= in.prePeriod
	}
	return max(0, total)
}

// rollPeriod moves the budget period forward to the one containing now,
// recording the spend of each period it leaves.
func (s *state) rollPeriod() {
	now := s.at(s.now)
	if s.periodEnd.IsZero() {
		s.periodStart, s.periodEnd = s.pool.BudgetPeriod(now)
		return
	}
	for !now.Before(s.periodEnd) {
		s.closePeriod(s.periodEnd)
		s.periodStart, s.periodEnd = s.pool.BudgetPeriod(s.periodEnd)
		s.closedInPeriod = 0
	}
}

// closePeriod records the current budget period's spend, billed up to end.
func (s *state) closePeriod(end time.Time) {
	b := s.pool.Limits.Budget
	if b == nil {
		return
	}
	spend := s.closedInPeriod
	for _, ii := range s.alive {
		spend += s.periodShare(s.inst(ii), end)
	}
	s.res.BudgetPeriods = append(s.res.BudgetPeriods, BudgetPeriod{Start: s.periodStart, End: s.periodEnd, BudgetUSD: b.Amount, SpendUSD: spend, Soft: b.Soft()})
}

// spend is what the policy is told it spent in the budget period: what
// ended instances were billed in it, plus the prorated cost of the live
// ones (price × time run in the period), as policy.Spend documents.
func (s *state) spend() policy.Spend {
	s.rollPeriod()
	start, end := s.periodStart, s.periodEnd
	acc := s.closedInPeriod
	// In durations since the trace's start: the same exact differences
	// as time.Time's, at a fraction of the cost (this runs every tick).
	ps := start.Sub(s.start)
	s.counts.steps += int64(len(s.alive))
	for _, ii := range s.alive {
		in := s.inst(ii)
		acc += in.off.PricePerHour * (s.now - max(in.launched, ps)).Hours()
	}
	return policy.Spend{PeriodStart: start, PeriodEnd: end, Accrued: acc}
}
