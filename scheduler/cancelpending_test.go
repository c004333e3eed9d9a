package scheduler_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/scheduler"
	"github.com/spillway-io/spillway/state"
)

// TestCancelledBurstsPendingLaunchIsNotResumed: a manual burst whose launch
// intent was left pending (the call failed before it reached the cloud, or
// the cloud launched and its answer was lost) is cancelled, and the server
// restarts. The restarted server does not call the launch again: an
// instance the first attempt launched is adopted through its intent tag,
// drained and terminated; one that never launched is not launched now. The
// intent ends failed, naming the cancel.
func TestCancelledBurstsPendingLaunchIsNotResumed(t *testing.T) {
	for _, tc := range []struct {
		name string
		// lose makes the first launch fail: flaky (the call never reached
		// the cloud) or a stall (executed, the answer lost).
		lose     func(h *harness, flaky *flakyLaunches)
		launched int // instances the first attempt launched
		// back sets the restarted server's clock this far behind the
		// first one's (a failover to a server whose clock is behind).
		back time.Duration
	}{
		{"the launch never reached the cloud", func(_ *harness, f *flakyLaunches) { f.failing.Store(true) }, 0, 0},
		{"the cloud launched, the answer was lost", func(_ *harness, f *flakyLaunches) { f.losing.Store(true) }, 1, 0},
		{"the restarted server's clock is an hour behind", func(_ *harness, f *flakyLaunches) { f.failing.Store(true) }, 0, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			var flaky *flakyLaunches
			h := newHarness(t, testPool(), func(h *harness) {
				flaky = &flakyLaunches{Provider: h.prov}
				h.prov = flaky
			})
			fl, err := h.sched.CreateBurst(ctx, scheduler.BurstRequest{Pool: "train", GPUs: 8, For: 2 * time.Hour, Reason: "incident", Principal: "bob"})
			if err != nil {
				t.Fatal(err)
			}
			tc.lose(h, flaky)
			_ = h.sched.Tick(ctx, "train") // the launch's failure is this test's, not the tick's
			pending, err := h.store.Intents(ctx, state.IntentFilter{Status: state.IntentPending})
			if err != nil || len(pending) != 1 || len(h.live()) != tc.launched {
				t.Fatalf("after the failed launch: pending intents %+v (%v), %d instances: want one pending intent and %d instances", pending, err, len(h.live()), tc.launched)
			}
			calls := h.emu.Calls("RunInstances")
			first := h.live()

			if _, err := h.sched.CancelBurst(ctx, fl.ID, "bob"); err != nil {
				t.Fatal(err)
			}
			flaky.failing.Store(false)
			flaky.losing.Store(false)
			h.restart()
			h.clk.SetTime(h.clk.Now().Add(-tc.back))
			h.tick()
			h.until("the intent resolves and no instance is left", 10*time.Second, 40, func() bool {
				return intent(t, h, pending[0].ID).Status != state.IntentPending && len(h.live()) == 0
			})
			if n := h.emu.Calls("RunInstances"); n != calls {
				t.Fatalf("RunInstances called %d times after the cancel, want none: a cancelled burst's launch was resumed", n-calls)
			}
			in := intent(t, h, pending[0].ID)
			if in.Status != state.IntentFailed || !strings.Contains(in.Error, "cancelled by bob") {
				t.Fatalf("intent %+v: want it failed, naming the cancel", in)
			}
			for _, inst := range first {
				rows := h.rows(false)
				i := slices.IndexFunc(rows, func(r state.Instance) bool { return r.ID == inst.ID })
				if i < 0 || rows[i].Floor != fl.ID || rows[i].State != state.InstanceEnded || rows[i].DrainStartedAt.IsZero() {
					t.Fatalf("instance %s the first attempt launched: rows %+v, want it adopted for burst %s, drained and ended", inst.ID, rows, fl.ID)
				}
			}
		})
	}
}

// intent reads the intent id from the state.
func intent(t *testing.T, h *harness, id string) state.Intent {
	t.Helper()
	all, err := h.store.Intents(context.Background(), state.IntentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(all, func(in state.Intent) bool { return in.ID == id })
	if i < 0 {
		t.Fatalf("no intent %s in %+v", id, all)
	}
	return all[i]
}

// TestBurstCancelledDuringATickLaunchesNothing: a tick plans a burst's
// launch after a termination whose call is slow; the burst is cancelled
// while that call runs. The launch the plan still holds is not made.
func TestBurstCancelledDuringATickLaunchesNothing(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, testPool())
	// An instance launched for the queue idles until it drains.
	h.setDemand(2*time.Minute, 8)
	h.tick()
	h.until("joined", 10*time.Second, 20, func() bool { rs := h.rows(true); return len(rs) == 1 && rs[0].State == state.InstanceRunning })
	h.setDemand(0)
	h.until("draining", time.Minute, 15, func() bool { rs := h.rows(true); return len(rs) == 1 && rs[0].State == state.InstanceDraining })

	fl, err := h.sched.CreateBurst(ctx, scheduler.BurstRequest{Pool: "train", GPUs: 8, For: 2 * time.Hour, Reason: "incident", Principal: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	// The next tick terminates the drained instance, slowly, then would
	// launch for the burst.
	terms, runs := h.emu.Calls("TerminateInstances"), h.emu.Calls("RunInstances")
	h.emu.StallResponses("TerminateInstances", 1, time.Second)
	h.clk.Step(10 * time.Second)
	done := make(chan error, 1)
	go func() { done <- h.sched.Tick(ctx, "train") }()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tk := time.NewTicker(5 * time.Millisecond)
	defer tk.Stop()
	for h.emu.Calls("TerminateInstances") == terms {
		select {
		case <-wctx.Done():
			t.Fatal("the tick never called TerminateInstances")
		case <-tk.C:
		}
	}
	if _, err := h.sched.CancelBurst(ctx, fl.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("tick: %v", err)
	}
	if n := h.emu.Calls("RunInstances") - runs; n != 0 {
		t.Fatalf("RunInstances called %d times after the burst was cancelled during the tick, want none", n)
	}
	intents, err := h.store.Intents(ctx, state.IntentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range intents {
		if in.Floor == fl.ID {
			t.Fatalf("intent %+v written for the cancelled burst", in)
		}
	}
}
