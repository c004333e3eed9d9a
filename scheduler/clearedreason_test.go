package scheduler_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

// TestClearedTerminateReasonSurvivesARestart: a drained instance's
// terminate is refused (the cloud does not act) after its reason was
// written to the row (askEnds). The next tick finds it still running and
// clears the reason, so that a later end is not taken for the one asked;
// the clear was written only with the tick's other row changes at the
// end of its observation, after the agents' probes and the terminate
// calls. A server stopped in between (here while it probes the agent)
// left the reason on the row: the next server, finding the instance
// stopped by hand, ended its row with the refused terminate's reason and
// made no terminate call (the stopped instance billed on, uncounted,
// until a later tick found it listed under an ended row and asked
// again). The clear is now written before the tick probes or calls
// anything: the stopped instance is terminated in the tick that sees it
// stopped, its row ended as stopped outside Spillway.
func TestClearedTerminateReasonSurvivesARestart(t *testing.T) {
	for _, c := range lagClouds {
		t.Run(c.name, func(t *testing.T) {
			rig, h, id, asked := refusedTerminate(t, c)

			// The next tick clears the reason, and the server stops while
			// it probes the instance's agent.
			probing := make(chan struct{}, 1)
			h.agents.mu.Lock()
			h.agents.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case probing <- struct{}{}:
				default:
				}
				<-r.Context().Done()
			})
			h.agents.mu.Unlock()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan struct{})
			old := h.sched
			h.clk.Step(30 * time.Second)
			go func() {
				defer close(done)
				_ = old.Tick(ctx, h.pool.Name)
			}()
			wait, stop := context.WithTimeout(context.Background(), 30*time.Second)
			defer stop()
			select {
			case <-probing:
			case <-wait.Done():
				t.Fatal("the tick after the refused terminate never probed the instance's agent")
			}
			h.store.Close() // the server stops: nothing more of its tick is written
			cancel()
			<-done
			h.agents.mu.Lock()
			h.agents.handler = nil
			h.agents.mu.Unlock()
			rig.useFreshProvider(h)
			h.start()
			t.Logf("after the stop, the row's end reason is %q", rowOf(t, h, id).EndReason)
			stopByHand(t, rig, id)
			before := rig.ends.Load()
			h.step(10 * time.Second)
			r := rowOf(t, h, id)
			if strings.HasPrefix(r.EndReason, "drained") || r.EndReason == asked {
				t.Errorf("instance %s, stopped by hand after the refused terminate, has end reason %q: the refused terminate's", id, r.EndReason)
			}
			if !strings.HasPrefix(r.EndReason, "stopped outside Spillway") {
				t.Errorf("instance %s has end reason %q, want it terminated as stopped outside Spillway", id, r.EndReason)
			}
			if rig.ends.Load() == before {
				t.Errorf("no %s call for instance %s in the tick that saw it stopped by hand: it bills on, its row ended", c.terminate, id)
			}
		})
	}
}

// rowOf is the state's row of instance id.
func rowOf(t *testing.T, h *harness, id string) state.Instance {
	t.Helper()
	for _, r := range h.rows(false) {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("no row of instance %s", id)
	return state.Instance{}
}

// refusedTerminate launches one instance for an 8-GPU demand, lets it join,
// drains it and has the cloud refuse its terminate once: the row is live
// with the reason asked, which it returns with the instance's id.
func refusedTerminate(t *testing.T, c lagCloud) (*lagRig, *harness, string, string) {
	t.Helper()
	rig := newLagRig(t, c, 0)
	h := rig.harness
	h.setDemand(2*time.Minute, 8)
	h.tick()
	live := h.live()
	if len(live) != 1 {
		t.Fatalf("%d instances launched, want 1", len(live))
	}
	id := live[0].ID
	h.until("the instance joins", 10*time.Second, 30, func() bool {
		rs := h.rows(true)
		return len(rs) == 1 && rs[0].State == state.InstanceRunning
	})
	h.agents.setBusy(0)
	h.setDemand(0)
	rig.refuseEnds.Store(true)
	h.until("its terminate is refused", 30*time.Second, 30, func() bool { return rig.ends.Load() > 0 })
	rig.refuseEnds.Store(false)
	rs := h.rows(true)
	if len(rs) != 1 || rs[0].EndReason == "" {
		t.Fatalf("rows after the refused terminate: %+v; want the instance live with the reason asked", rs)
	}
	return rig, h, id, rs[0].EndReason
}
