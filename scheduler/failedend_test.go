package scheduler_test

import (
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/state"
)

// TestFailedTerminateLaunchesNothingPastALimit: a drained instance is
// terminated in the tick that new demand arrives, and the plan launches
// an instance for the demand in its place, counting the terminated one's
// GPUs and cost freed. The cloud refuses the terminate (a 5xx, every
// retry alike, nothing done): the launch was made all the same, and the
// pool held two instances, 16 GPUs at $65.54/h, past max_gpus 8 or
// max_cost_per_hour $40 (the real AWS SDK on the emulator). A tick
// whose terminate fails now decides again, counting the instance kept:
// it launches nothing past a limit; once the terminate goes through, the
// demand has its instance.
func TestFailedTerminateLaunchesNothingPastALimit(t *testing.T) {
	cases := []struct {
		name   string
		limits policy.Limits
	}{
		{"max_gpus", policy.Limits{MaxGPUs: 8}},
		{"max_cost_per_hour", policy.Limits{MaxGPUs: 32, MaxCostPerHour: 40}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := lagClouds[0]
			c.pool = func() policy.Pool {
				p := testPool()
				p.Limits = tc.limits
				return p
			}
			rig := newLagRig(t, c, 0)
			h := rig.harness
			first := h.joinOne(10*time.Second, 30)
			h.agents.setBusy(0)
			h.setDemand(0)
			h.until("the idle instance drains", 30*time.Second, 30, func() bool {
				rs := h.rows(true)
				return len(rs) == 1 && rs[0].State == state.InstanceDraining
			})
			h.setDemand(2*time.Minute, 8)
			rig.refuseEnds.Store(true)
			held := func() (gpus int, perHour float64) {
				for _, in := range h.live() {
					gpus += 8
					for _, o := range h.pool.Offerings {
						if o.InstanceType == in.InstanceType {
							perHour += o.PricePerHour
						}
					}
				}
				return gpus, perHour
			}
			for range 4 {
				h.step(30 * time.Second)
				g, c := held()
				if tc.limits.MaxGPUs > 0 && g > tc.limits.MaxGPUs || tc.limits.MaxCostPerHour > 0 && c > tc.limits.MaxCostPerHour {
					t.Fatalf("at %s, with the terminate of %s refused, the cloud runs %d burst GPUs at $%.2f/h: past max_gpus %d / max_cost_per_hour $%.2f",
						h.clk.Now().Sub(t0), first, g, c, tc.limits.MaxGPUs, tc.limits.MaxCostPerHour)
				}
			}
			if rig.ends.Load() == 0 {
				t.Fatal("no terminate was refused: the failure was not tested")
			}
			rig.refuseEnds.Store(false)
			h.until("the demand has an instance once the terminate goes through", 30*time.Second, 6, func() bool {
				for _, in := range h.live() {
					if in.ID != first {
						return true
					}
				}
				return false
			})
		})
	}
}
