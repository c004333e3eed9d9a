package scheduler_test

import (
	"strings"
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

// TestInstanceOfAnOfferingGoneIsCountedAtTheDearest: as above, but the
// restart's config has no offering of the instance's type left (p4d
// removed, p5 kept): the instance, adopted under its intent, was recorded
// with 0 GPUs at $0/h and counted nothing toward the limits or the
// budget. It is counted at the dearest price and the most GPUs of the
// pool's offerings on its provider (p5's $98.32/h and 8), more than it
// bills, and the server warns that it does so.
func TestInstanceOfAnOfferingGoneIsCountedAtTheDearest(t *testing.T) {
	p := testPool()
	p.Limits.Budget = &policy.Budget{Amount: 1000, Period: policy.PeriodDay}
	h := lostLaunchAnswer(t, p)
	h.logs = &lockedBuffer{}
	dearest := h.pool.Offerings[1]
	h.pool.Offerings = h.pool.Offerings[1:]
	h.restart()
	h.setDemand(0)
	h.until("the instance is adopted", 30*time.Second, 40, func() bool { return len(h.rows(true)) == 1 })
	r := h.rows(true)[0]
	if r.GPUs != dearest.GPUs || r.PricePerHour != dearest.PricePerHour || r.InstanceType != gpuType {
		t.Errorf("row of %s (offering %s, %s): %d GPUs at $%.2f/h, want the pool's dearest on its provider, %d at $%.2f/h",
			r.ID, r.Offering, r.InstanceType, r.GPUs, r.PricePerHour, dearest.GPUs, dearest.PricePerHour)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "instance of an offering the config no longer has") || !strings.Contains(logs, r.ID) {
		t.Errorf("no warning naming %s in the logs", r.ID)
	}
}
