package scheduler_test

import (
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// TestInstanceOfARenamedOfferingIsCountedAtItsPrice: a launch whose
// answer was lost leaves its intent pending while the cloud, listing late,
// does not show the instance; the server restarts with the offering
// renamed (p4d to aws-p4d, the same instance type) and no more demand.
// The instance, listed at last, is adopted under its intent, whose
// offering the config no longer has: recorded with 0 GPUs at $0/h, it
// counted nothing toward the budget, and ran busy past it.
func TestInstanceOfARenamedOfferingIsCountedAtItsPrice(t *testing.T) {
	p := testPool()
	p.Limits.Budget = &policy.Budget{Amount: 80, Period: policy.PeriodDay}
	h := lostLaunchAnswer(t, p)
	o := h.pool.Offerings[0]
	h.pool.Offerings[0].Name = "aws-p4d"
	h.restart()
	h.setDemand(0)
	h.until("the instance is adopted", 30*time.Second, 40, func() bool { return len(h.rows(true)) == 1 })
	for range 360 { // 3 hours, busy
		h.agents.setBusy(8)
		h.step(30 * time.Second)
	}
	rs := h.rows(false)
	if len(rs) != 1 || len(h.emu.Instances()) != 1 {
		t.Fatalf("%d rows, %d instances: want the one launched before the restart", len(rs), len(h.emu.Instances()))
	}
	if r := rs[0]; r.GPUs != o.GPUs || r.PricePerHour != o.PricePerHour {
		t.Errorf("row of %s (offering %s): %d GPUs at $%.2f/h, want its type's %d at $%.2f/h", r.ID, r.Offering, r.GPUs, r.PricePerHour, o.GPUs, o.PricePerHour)
	}
	if billed := h.billedByRows(o); billed > 80 {
		t.Fatalf("the instance billed $%.2f of an $80 hard budget (row %s, ended %v)", billed, rs[0].State, rs[0].EndedAt)
	}
}
