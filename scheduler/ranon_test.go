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
// Run on EC2 and ECS, each through its real SDK on the emulator.
func TestTerminateNotCarriedOutEndsWhenTheInstanceDoes(t *testing.T) {
	for _, c := range lagClouds {
		t.Run(c.name, func(t *testing.T) {
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
		})
	}
}
