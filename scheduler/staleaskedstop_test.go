package scheduler_test

import (
	"strings"
	"testing"
	"time"
)

// TestStoppedByHandAfterARefusedTerminate: a drained instance's terminate
// is refused (the cloud does not act) after its reason was written to the
// row, and the server stops before a next tick clears the reason. The
// instance is then stopped by hand. The next server found it stopped with
// its end asked, ended its row with the refused terminate's reason and
// made no terminate call: the stopped instance billed until the orphan
// sweep's grace. An instance the cloud lists Stopped (not Stopping, which
// on ECS may be the release asked) is now terminated in the tick that
// sees it, its row ended as stopped outside Spillway.
func TestStoppedByHandAfterARefusedTerminate(t *testing.T) {
	for _, c := range lagClouds {
		t.Run(c.name, func(t *testing.T) {
			rig, h, id, asked := refusedTerminate(t, c)

			// The server stops before its next tick; the instance is
			// stopped by hand and is Stopped when the next server ticks.
			rig.useFreshProvider(h)
			h.restart()
			stopByHand(t, rig, id)
			h.clk.Step(2 * bootTime)
			if st := rig.launched()[0].State; st != "stopped" {
				t.Fatalf("the emulator shows instance %s %s, want stopped", id, st)
			}
			before := rig.ends.Load()
			h.step(10 * time.Second)
			r := rowOf(t, h, id)
			if r.EndReason == asked || !strings.HasPrefix(r.EndReason, "stopped outside Spillway") {
				t.Errorf("instance %s, stopped by hand after the refused terminate, has end reason %q, want it terminated as stopped outside Spillway (the refused terminate's was %q)", id, r.EndReason, asked)
			}
			if more := rig.ends.Load() - before; more != 1 {
				t.Errorf("%d %s call(s) in the tick that saw instance %s stopped by hand, want 1: with none it bills on, its row ended", more, c.terminate, id)
			}
			for range 4 {
				h.step(30 * time.Second)
			}
			if n := len(h.live()); n != 0 {
				t.Errorf("%d instance(s) live two minutes after the stopped one's terminate, want 0", n)
			}
		})
	}
}
