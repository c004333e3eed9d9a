package policy

import (
	"testing"
	"time"
)

func TestBudgetPeriod(t *testing.T) {
	at := time.Date(2026, 11, 26, 15, 4, 0, 0, time.UTC) // a Thursday
	tests := []struct {
		period     BudgetPeriod
		start, end string
	}{
		{PeriodDay, "2026-11-26", "2026-11-27"},
		{PeriodWeek, "2026-11-23", "2026-11-30"},
		{PeriodMonth, "2026-11-01", "2026-12-01"},
		{"", "2026-11-01", "2026-12-01"},
	}
	for _, tc := range tests {
		p := &Pool{}
		if tc.period != "" {
			p.Limits.Budget = &Budget{Amount: 1, Period: tc.period}
		}
		s, e := p.BudgetPeriod(at)
		if s.Format(time.DateOnly) != tc.start || e.Format(time.DateOnly) != tc.end {
			t.Errorf("%q: period %s..%s, want %s..%s", tc.period, s.Format(time.DateOnly), e.Format(time.DateOnly), tc.start, tc.end)
		}
	}
}

func TestPeriodCostSplitsAtThePeriodStart(t *testing.T) {
	o := Offering{PricePerHour: 10, Billing: BillingPerSecond}
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	launched := start.Add(-2 * time.Hour)
	if got := PeriodCost(o, launched, start.Add(3*time.Hour), start); got != 30 {
		t.Fatalf("cost in period = %v, want 30 (3 of 5 hours)", got)
	}
	if got := PeriodCost(o, launched, start.Add(-time.Hour), start); got != 0 {
		t.Fatalf("cost of an instance that ended before the period = %v, want 0", got)
	}
}
