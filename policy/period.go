package policy

import "time"

// BudgetPeriod returns the calendar period (UTC) containing now that the
// pool's budget counts spend in: its budget's period, or a month when it has
// no budget. Weeks start on Monday.
func (p *Pool) BudgetPeriod(now time.Time) (start, end time.Time) {
	period := PeriodMonth
	if p.Limits.Budget != nil && p.Limits.Budget.Period != "" {
		period = p.Limits.Budget.Period
	}
	return PeriodBounds(period, now)
}

// PeriodCost is what an instance of offering o, launched at launched and
// running (or ended) at end, was billed within the period starting at
// periodStart: its billed cost up to end less what was billed before the
// period began.
func PeriodCost(o Offering, launched, end, periodStart time.Time) float64 {
	if !end.After(periodStart) {
		return 0
	}
	total := BilledCost(o, launched, end)
	if launched.Before(periodStart) {
		total -= BilledCost(o, launched, periodStart)
	}
	return max(0, total)
}
