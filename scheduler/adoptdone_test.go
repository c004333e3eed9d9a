package scheduler_test

import (
	"testing"
	"time"
)

// TestAdoptedIntentsEndedInstancesAreNotBooting: a launch whose answer was lost (cut off at its
// 10-minute call timeout) leaves its intent pending, backed off for 10
// minutes; the next tick adopts the instance it made through its intent
// tag. Once the burst drained and the instance ended, the still pending
// intent's count was taken for a booting instance again: new demand
// launched nothing until the back-off ran out (3.5 minutes here; up to
// providers.ConsistencyWindow after a failover). What was adopted under a
// pending intent now counts as recorded, ended or not, and the new demand
// launches at the next tick.
func TestAdoptedIntentsEndedInstancesAreNotBooting(t *testing.T) {
	h := newHarness(t, testPool(), func(h *harness) {
		h.opts.Tick = 30 * time.Second
		h.opts.CallTimeouts = map[string]time.Duration{provName: 10 * time.Minute}
		h.prov = lateAnswer{Provider: h.prov, h: h, took: map[string]time.Duration{gpuType: 11 * time.Minute}}
	})
	h.setDemand(2*time.Minute, 8)
	h.tick()
	if n := len(h.emu.Instances()); n != 1 || len(h.rows(true)) != 0 {
		t.Fatalf("after the lost answer: %d instances, %d rows; want 1 instance and no row", n, len(h.rows(true)))
	}
	first := h.emu.Instances()[0].ID
	h.setDemand(0)
	h.until("the instance adopted", 30*time.Second, 4, func() bool { return len(h.rows(true)) == 1 })
	h.until("the adopted instance ended", 30*time.Second, 40, func() bool { return len(h.rows(true)) == 0 })
	h.setDemand(2*time.Minute, 8)
	launched := func() bool {
		for _, in := range h.emu.Instances() {
			if in.ID != first {
				return true
			}
		}
		return false
	}
	for range 2 {
		h.step(30 * time.Second)
		if launched() {
			return
		}
	}
	st, _ := h.sched.LastStatus(h.pool.Name)
	t.Fatalf("new demand launched nothing in 1m after the adopted instance ended: %+v", st)
}
