package scheduler_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/scheduler"
	"github.com/spillway-io/spillway/state"
)

// TestBurstHeldByAPendingLaunchSaysWhy: a manual burst whose launch is
// committed, its intent held back from its call (here found pending, as
// after a restart or a failover, and not resumed for
// providers.ConsistencyWindow), had no instance and no wait for those 2
// minutes: the policy counts the intent's instances as booting for the
// burst, so its plan left no wait, and GET /v1/bursts/{id} said nothing of
// why nothing ran. The pool's status now carries a wait for the burst,
// held by launch_held in the words of the tick's note, until the intent
// is called.
func TestBurstHeldByAPendingLaunchSaysWhy(t *testing.T) {
	h := newHarness(t, testPool())
	ctx := context.Background()
	fl, err := h.sched.CreateBurst(ctx, scheduler.BurstRequest{Pool: h.pool.Name, GPUs: 8, For: 2 * time.Hour, Reason: "incident", Principal: "oncall"})
	if err != nil {
		t.Fatal(err)
	}
	// Its launch, written by the server that led before this one.
	in := state.Intent{ID: "20261130t085930-0000000000bb", Pool: h.pool.Name, Provider: provName, Offering: "p4d", Count: 1, Floor: fl.ID,
		Reason: "burst", Status: state.IntentPending, ClientToken: "spw-20261130t085930-0000000000bb",
		CreatedAt: h.clk.Now(), UpdatedAt: h.clk.Now()}
	if err := h.store.CreateIntent(ctx, in); err != nil {
		t.Fatal(err)
	}
	h.tick()
	if n := h.emu.Calls("RunInstances"); n != 0 {
		t.Fatalf("%d launch calls at the first tick, want none: the intent is held for %s", n, providers.ConsistencyWindow)
	}
	w, ok := burstWait(t, h, fl.ID)
	if !ok || w.Limit != scheduler.WaitLaunchHeld || w.GPUs != 8 || !strings.Contains(w.Why, "intent "+in.ID) || !strings.Contains(w.Why, "resume held back until") {
		t.Fatalf("burst %s with its launch held back: wait %+v (found %v), want one held by %s for 8 GPUs naming intent %s and its hold", fl.ID, w, ok, scheduler.WaitLaunchHeld, in.ID)
	}
	h.step(providers.ConsistencyWindow)
	h.until("the intent is called", 30*time.Second, 10, func() bool { return h.emu.Calls("RunInstances") > 0 })
	if w, ok := burstWait(t, h, fl.ID); ok {
		t.Fatalf("burst %s once its launch was called: still waits %+v", fl.ID, w)
	}
}

// burstWait is the wait the pool's last status gives the floor owner.
func burstWait(t *testing.T, h *harness, owner string) (policy.FloorWait, bool) {
	t.Helper()
	st, ok := h.sched.LastStatus(h.pool.Name)
	if !ok {
		t.Fatal("no status of the pool")
	}
	for _, w := range st.Plan.Waits {
		if w.Owner == owner {
			return w, true
		}
	}
	return policy.FloorWait{}, false
}
