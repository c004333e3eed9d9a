package scheduler_test

import (
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// TestSpendCountsALostLaunchFromItsLaunch: a launch call that reached the
// cloud and was cut off at its 10-minute call timeout (its answer lost)
// leaves its intent pending, backed off for 10 minutes, while the
// instance it made bills; a cloud listing fresh instances 15 minutes late
// lets it be adopted only then. The pool's spend left it out until its
// adoption ($0.00 counted of $5.73 billed at 10m30s, of $8.19 at 15m), and
// a hard budget could launch on that money. A pending intent's
// instances not yet recorded now count from the intent's writing: every
// tick's spend is at least what the cloud billed, and once adopted the
// instance counts from its LaunchTime.
func TestSpendCountsALostLaunchFromItsLaunch(t *testing.T) {
	h := lostLaunchAnswer(t, testPool())
	o := h.pool.Offerings[0]
	pendingTicks := 0
	for range 20 { // ten minutes
		h.step(30 * time.Second)
		st, _ := h.sched.LastStatus(h.pool.Name)
		var billed float64
		for _, in := range h.emu.Instances() {
			if in.LaunchTime.Before(st.Time) {
				billed += policy.BilledCost(o, in.LaunchTime, st.Time)
			}
		}
		if len(h.rows(true)) == 0 {
			pendingTicks++
		}
		if st.Spend.Accrued < billed-1e-9 {
			t.Errorf("at %s the pool's spend was $%.2f while the cloud had billed $%.2f (%d live rows)", st.Time.Sub(t0).Round(time.Second), st.Spend.Accrued, billed, len(h.rows(true)))
		}
	}
	if pendingTicks == 0 {
		t.Fatal("the instance was adopted at once: the listing lag did not keep its intent pending")
	}
	// (EC2 gives launch times to the millisecond.)
	launch := h.emu.Instances()[0].LaunchTime
	if rows := h.rows(true); len(rows) != 1 || rows[0].LaunchedAt.Sub(launch).Abs() > time.Millisecond {
		t.Fatalf("rows %+v: want the instance adopted, launched at its LaunchTime %s", rows, launch)
	}
}

// lostLaunchAnswer is a harness on pool p whose first tick launches one
// p4d for a queue of 8 GPUs with the answer lost (the call cut off at its
// 10-minute call timeout), on a cloud that lists fresh instances 15
// minutes late: one instance runs, no row records it.
func lostLaunchAnswer(t *testing.T, p policy.Pool) *harness {
	t.Helper()
	h := newHarness(t, p, func(h *harness) {
		h.opts.Tick = 30 * time.Second
		h.opts.CallTimeouts = map[string]time.Duration{provName: 10 * time.Minute}
		h.prov = lateAnswer{Provider: h.prov, h: h, took: map[string]time.Duration{gpuType: 11 * time.Minute}}
	})
	h.emu.SetConsistencyLag(15 * time.Minute)
	h.setDemand(2*time.Minute, 8)
	h.tick()
	if n := len(h.emu.Instances()); n != 1 || len(h.rows(true)) != 0 {
		t.Fatalf("after the lost answer: %d instances, %d rows; want 1 instance and no row", n, len(h.rows(true)))
	}
	return h
}
