package policy

import (
	"testing"
	"time"
)

// TestBudgetAtLeastLaunchCommitLaunches: a hard budget of exactly
// LeastLaunchCommit, the least amount the config check accepts, admits
// the launch that commits the least. With hourly billing that is any
// launch early in the period: its minimum charge, an hour, is more than
// half its cost until drain_timeout. LeastLaunchCommit left out the
// headroom the policy keeps back from a hard budget, so a budget of
// $21.96 for a $21.96/h hourly instance passed the config check ("give at
// least 21.96") and then never launched anything ("one more p4d commits
// $21.96").
func TestBudgetAtLeastLaunchCommitLaunches(t *testing.T) {
	o := dtP4d()
	o.Billing = BillingHourly
	pool := dtPool(o)
	pool.Limits = Limits{Budget: &Budget{Amount: 1, Period: PeriodDay, Mode: BudgetHard}}
	pool.Limits.Budget.Amount = LeastLaunchCommit(pool, o)
	if minCharge := decBilled(&o, 1); pool.Limits.Budget.Amount < minCharge {
		t.Fatalf("LeastLaunchCommit %v, below the minimum charge %v", pool.Limits.Budget.Amount, minCharge)
	}
	// At 10:00 the day has 14 h left: the launch commits its minimum
	// charge, this day's alone.
	p := Decide(pool, dtBusySnap(time.Hour, 8), nil, Spend{}, dtT0)
	if got := dtLaunched(p)[o.Name]; got != 1 {
		t.Errorf("budget $%v per day: launched %d, want 1; notes %v", pool.Limits.Budget.Amount, got, p.Notes)
	}
}
