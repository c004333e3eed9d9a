package scheduler_test

import (
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

// TestLostTerminateAnswerEndsAsAsked: an instance that never joined is
// terminated at its join timeout; the cloud ends it and the answer is
// lost (a 5xx after the cloud acted, every retry alike). The scheduler
// recorded a terminate only once its call returned, so the next tick
// found the row's instance gone and ended it as "vanished", and a server
// restarted between the call and its record did the same, or on ECS,
// where a deleted instance lists as Stopping, took it for one stopped
// outside Spillway and deleted it a second time with that reason. The
// terminate is now written before its call: the row ends with the reason
// asked, and no second terminate call is made.
func TestLostTerminateAnswerEndsAsAsked(t *testing.T) {
	for _, c := range lagClouds {
		for _, restart := range []bool{false, true} {
			name := c.name + "/answer lost"
			if restart {
				name = c.name + "/restart between call and record"
			}
			t.Run(name, func(t *testing.T) {
				rig := newLagRig(t, c, 0)
				rig.setDemand(2*time.Minute, 8)
				rig.tick()
				live := rig.live()
				if len(live) != 1 {
					t.Fatalf("%d instances launched, want 1", len(live))
				}
				id := live[0].ID
				rig.agents.never(live[0].PrivateIP)
				rig.setDemand(0)
				rig.loseEnds.Store(true)
				rig.until("the join timeout asks its end", 30*time.Second, 30, func() bool { return rig.ends.Load() > 0 })
				if n := len(rig.live()); n != 0 {
					t.Fatalf("%d instances live after the terminate the cloud executed, want 0", n)
				}
				rig.loseEnds.Store(false)
				asked := rig.ends.Load()
				if restart {
					rig.useFreshProvider(rig.harness)
					rig.restart()
				}
				rig.until("the row ends", 30*time.Second, 10, func() bool {
					for _, r := range rig.rows(false) {
						if r.ID == id {
							return r.State == state.InstanceEnded
						}
					}
					return false
				})
				for range 4 {
					rig.step(30 * time.Second)
				}
				var row state.Instance
				for _, r := range rig.rows(false) {
					if r.ID == id {
						row = r
					}
				}
				if !strings.HasPrefix(row.EndReason, "never joined") {
					t.Errorf("instance %s ended with reason %q, want the join timeout's (never joined: …)", id, row.EndReason)
				}
				if more := rig.ends.Load() - asked; more != 0 {
					t.Errorf("%d more %s call(s) after the one whose answer was lost, want none", more, c.terminate)
				}
			})
		}
	}
}
