package scheduler_test

import (
	"context"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

// TestTerminateNotCarriedOutEndsWhenTheInstanceDoes: an instance whose
// terminate the cloud answered with success but did not carry out ran on,
// listed running, until a later terminate ended it minutes after; its row
// ended with the first call's time as its EndedAt, the run understated by
// those minutes (the spend ledger, accrued at each tick, was right). The
// row now ends at the last tick that listed the instance running.
//
// The last such tick is stored on the row: kept in memory only, a server
// restarted (or a failover to the other server) while the instance ran
// on and the next tick saw it end ended the row at the first call
// again (on EC2 a run of 6m30s, $3.55, against $6.55 in the ledger).
//
// Run on EC2 and ECS, each through its real SDK on the emulator.
func TestTerminateNotCarriedOutEndsWhenTheInstanceDoes(t *testing.T) {
	for _, c := range lagClouds {
		for _, restart := range []bool{false, true} {
			name := c.name
			if restart {
				name += "/restarted"
			}
			t.Run(name, func(t *testing.T) { ranOnPastTerminate(t, c, restart) })
		}
	}
}

// ranOnPastTerminate runs an instance on for 5 minutes of ticks past its
// terminate, then ends it (the server restarted between the last tick
// that listed it running and the one that sees it end, if restart), and
// checks its row's run against the ledger.
func ranOnPastTerminate(t *testing.T, c lagCloud, restart bool) {
	rig, ignored, id := terminateAnsweredNotCarriedOut(t, c)
	h := rig.harness
	first := rowOf(t, h, id)
	cloudState := func() string {
		for _, in := range rig.launched() {
			if in.ID == id {
				return in.State
			}
		}
		return ""
	}
	// It runs on for 5 minutes of ticks, its terminate asked
	// again and answered at each.
	var lastRunning time.Time
	for range 10 {
		h.step(30 * time.Second)
		if s := cloudState(); s != "running" {
			t.Fatalf("instance %s is %s in the cloud, want running: its terminates are not carried out", id, s)
		}
		lastRunning = h.clk.Now()
	}
	// The cloud acts at last.
	ignored.on.Store(false)
	if restart {
		// A tick lists it running a last time, its terminate carried
		// out, and the server restarts before the next sees it end.
		h.step(30 * time.Second)
		lastRunning = h.clk.Now()
		h.restart()
	}
	h.until("its row ends", 30*time.Second, 10, func() bool { return rowOf(t, h, id).State == state.InstanceEnded })
	ended := h.clk.Now()
	r := rowOf(t, h, id)
	if r.EndedAt.Before(lastRunning) || r.EndedAt.After(ended) {
		t.Errorf("instance %s's row ended at %s (its first terminate call at %s); the cloud listed it running until %s and it was ended by %s: want its end within those",
			id, r.EndedAt.Format(time.TimeOnly), first.EndedAt.Format(time.TimeOnly), lastRunning.Format(time.TimeOnly), ended.Format(time.TimeOnly))
	}
	// The run the row gives is what the ledger billed for it.
	start, _ := h.pool.BudgetPeriod(ended)
	billed, err := h.store.Spend(context.Background(), h.pool.Name, start)
	if err != nil {
		t.Fatal(err)
	}
	run := rig.spendOf(map[string]bool{id: true})
	if d := billed - run; d > 0.01 || d < -0.01 {
		t.Errorf("instance %s's row gives a run of %s, $%.2f; the ledger billed $%.2f for it", id, r.EndedAt.Sub(r.LaunchedAt), run, billed)
	}
}
