package scheduler_test

import (
	"context"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// TestSpendKeepsCountingAfterBillingTurnsPerSecond: a server restarted
// with an offering's billing changed from hourly to per-second, while an
// instance launched under hourly billing runs, keeps counting the hours
// that instance started: its cost was recomputed over its whole life by
// the second, and the ledger, which keeps the larger amount, counted
// nothing more for it until the seconds caught up with the started
// hours (at 2h30m: 2.5 hours of the price, where 3 were billed).
func TestSpendKeepsCountingAfterBillingTurnsPerSecond(t *testing.T) {
	p := testPool()
	p.Offerings[0].Billing = policy.BillingHourly
	p.Limits.Budget = &policy.Budget{Amount: 1000, Period: policy.PeriodDay}
	p.Interval = policy.Duration(time.Minute)
	h := newHarness(t, p)
	h.joinOne(time.Minute, 5)
	h.setDemand(0)
	h.busyFor(40 * time.Minute)
	h.pool.Offerings[0].Billing = policy.BillingPerSecond
	h.restart()
	rs := h.rows(true)
	if len(rs) != 1 {
		t.Fatalf("%d live rows, want the busy instance", len(rs))
	}
	h.busyFor(rs[0].LaunchedAt.Add(150 * time.Minute).Sub(h.clk.Now()))

	price := p.Offerings[0].PricePerHour
	least := 3 * price // hours started under hourly billing
	start, _ := p.BudgetPeriod(h.clk.Now())
	spent, err := h.store.Spend(context.Background(), "train", start)
	if err != nil {
		t.Fatal(err)
	}
	if spent < least-1e-6 {
		t.Fatalf("ledger $%.2f for an instance launched hourly at $%.2f/h, %s old: want at least its 3 started hours, $%.2f",
			spent, price, h.clk.Now().Sub(rs[0].LaunchedAt).Round(time.Minute), least)
	}
}
