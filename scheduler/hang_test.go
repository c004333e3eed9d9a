package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/state"
)

// TestAHangingLaunchDoesNotStopThePool: a RunInstances whose answer is held
// longer than CallTimeout costs its own call, not the tick: the tick goes on
// and records the launch's outcome, and the ticks after it, while the
// intent is resumed (and times out again), still drain an instance past its
// max_lifetime and record their decisions. A resume that keeps timing out
// is backed off instead of being called every tick.
func TestAHangingLaunchDoesNotStopThePool(t *testing.T) {
	pool := testPool()
	pool.ScaleIn.MaxLifetime = policy.Duration(5 * time.Minute)
	h := newHarness(t, pool, func(h *harness) { h.opts.CallTimeout = 200 * time.Millisecond })
	tick := func(when string) {
		t.Helper()
		if err := h.sched.Tick(context.Background(), pool.Name); err != nil {
			t.Fatalf("%s: tick failed: %v", when, err)
		}
	}
	h.setDemand(2*time.Minute, 8)
	tick("first launch")
	first := h.live()
	if len(first) != 1 {
		t.Fatalf("%d instances after the first launch, want 1", len(first))
	}
	h.until("the first instance joins", 30*time.Second, 10, func() bool {
		rs := h.rows(true)
		return len(rs) == 1 && rs[0].State == state.InstanceRunning
	})
	h.agents.setBusy(8)

	// Every RunInstances from now on is executed and its answer held.
	h.emu.StallResponses("RunInstances", 1000, time.Minute)
	h.setDemand(2*time.Minute, 8, 8)
	h.clk.Step(10 * time.Second)
	tick("the hanging launch")
	ds := h.decisions()
	if len(ds) == 0 || len(ds[0].Launches) != 1 || !strings.Contains(ds[0].Launches[0].Error, "deadline exceeded") {
		t.Fatalf("newest decision %+v: want the timed-out launch recorded", ds[:min(len(ds), 1)])
	}

	// Demand is gone; the pool must still end the first instance at its
	// max_lifetime while the launch hangs.
	h.setDemand(0)
	h.agents.setBusy(0)
	calls := h.emu.Calls("RunInstances")
	drainedAt := -1
	for i := range 12 {
		h.clk.Step(30 * time.Second)
		h.serveAgents()
		tick("while the launch hangs")
		if drainedAt < 0 && slices.Contains(h.drainedIDs(), first[0].ID) {
			drainedAt = i
		}
	}
	if drainedAt < 0 {
		t.Fatalf("instance %s never drained, %s past its max_lifetime", first[0].ID, h.clk.Since(first[0].LaunchTime)-pool.ScaleIn.MaxLifetime.D())
	}
	found := false
	for _, d := range h.decisions() {
		for _, dr := range d.Drains {
			found = found || (dr.Instance == first[0].ID && strings.Contains(dr.Reason, "max lifetime"))
		}
	}
	if !found {
		t.Fatalf("no recorded decision drains %s for its max lifetime", first[0].ID)
	}
	if n := h.emu.Calls("RunInstances") - calls; n >= 8 {
		t.Fatalf("%d RunInstances calls in 12 ticks while every one timed out: the resume is not backed off", n)
	}
}

func (h *harness) drainedIDs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.drained)
}

// hangingReconcile is the real provider with a Reconcile (as Terraform has)
// that hangs until its context ends.
type hangingReconcile struct{ providers.Provider }

func (hangingReconcile) Reconcile(ctx context.Context) error {
	<-ctx.Done()
	return fmt.Errorf("reconcile: %w", ctx.Err())
}

// TestAHangingReconcileDoesNotStopTheSweep: the sweeper's reconcile of a
// provider that hangs is bounded to its own CallTimeout and reported; the
// sweep still ends a stranger past the grace.
func TestAHangingReconcileDoesNotStopTheSweep(t *testing.T) {
	h := newHarness(t, testPool(), func(h *harness) {
		h.prov = hangingReconcile{h.prov}
		h.opts.CallTimeout = 200 * time.Millisecond
	})
	ctx := context.Background()
	stray, err := h.prov.Launch(ctx, providers.LaunchRequest{Offering: testPool().Offerings[0], Count: 1, ClientToken: "stray-1",
		Tags: map[string]string{providers.TagCluster: cluster, providers.TagPool: "train"}})
	if err != nil {
		t.Fatal(err)
	}
	h.clk.Step(11 * time.Minute)
	err = h.sched.Sweep(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Sweep: %v, want the reconcile's timeout reported", err)
	}
	for _, in := range h.emu.Instances() {
		if in.ID == stray[0].ID && in.State != "shutting-down" && in.State != "terminated" {
			t.Fatalf("the stray is %s after the sweep, want terminated though the reconcile hung", in.State)
		}
	}
}
