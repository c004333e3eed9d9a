package scheduler_test

import (
	"context"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// TestSpendKeepsCountingAfterAPriceIsLowered: a server restarted with a
// catalog whose price for a running instance's offering is a tenth of the
// one it launched at still counts that instance's cost from then on. The
// ledger keeps the larger amount, and the cost was recomputed over the
// instance's whole life at the new price, so the instance added nothing
// to the pool's spend until the new price had caught up with the old:
// after an hour at $32.77/h and three more it showed $32.77, not even
// the $42.60 the lower price bills.
func TestSpendKeepsCountingAfterAPriceIsLowered(t *testing.T) {
	p := testPool()
	p.Limits.Budget = &policy.Budget{Amount: 1000, Period: policy.PeriodDay}
	p.Interval = policy.Duration(time.Minute)
	h := newHarness(t, p)
	h.joinOne(time.Minute, 5)
	h.setDemand(0)
	h.busyFor(time.Hour)
	old := h.pool.Offerings[0].PricePerHour
	h.pool.Offerings[0].PricePerHour = old / 10
	h.restart()
	h.busyFor(3 * time.Hour)

	rs := h.rows(true)
	if len(rs) != 1 {
		t.Fatalf("%d live rows, want the busy instance still running", len(rs))
	}
	launched, now := rs[0].LaunchedAt, h.clk.Now()
	lowered := launched.Add(time.Hour) // the restart came after this
	least := old*lowered.Sub(launched).Hours() + old/10*now.Sub(lowered).Hours()
	start, _ := p.BudgetPeriod(now)
	spent, err := h.store.Spend(context.Background(), "train", start)
	if err != nil {
		t.Fatal(err)
	}
	if spent < least {
		t.Fatalf("ledger $%.2f for an instance at $%.2f/h for at least %s, then at $%.3f/h, %s in all: want at least $%.2f",
			spent, old, lowered.Sub(launched), old/10, now.Sub(launched).Round(time.Minute), least)
	}
	st, _ := h.sched.LastStatus("train")
	if st.Spend.Accrued < least {
		t.Fatalf("status spend $%.2f, want at least $%.2f", st.Spend.Accrued, least)
	}
}
