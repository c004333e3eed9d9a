package scheduler_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/state"
)

// TestDrainHookIgnoringItsContextHoldsTheTickNoLongerThanItsCap: a drain
// hook that never returns, whatever its context says (a Go hook that
// ignores it), held its tick for ever: no end, no launch, no next
// evaluation of the pool. The scheduler now waits for a tick's hooks at
// most config.MaxDrainHookTimeout (what a tick's length counts for them),
// records the drain with the hook's error and goes on. Meanwhile, and
// after, until the hook returns, DrainHooks names the instance as having
// its drain hook running, and since when: an operator saw it running,
// not draining, with nothing saying a hook was waited on.
func TestDrainHookIgnoringItsContextHoldsTheTickNoLongerThanItsCap(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	h := newHarness(t, testPool(), func(h *harness) {
		h.hook = func(context.Context, config.InstanceFields) error {
			once.Do(func() { close(started) })
			<-release
			return nil
		}
	})
	var released sync.Once
	unblock := func() { released.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	h.setDemand(2*time.Minute, 8)
	h.tick()
	h.until("the instance joins", 30*time.Second, 10, func() bool {
		rs := h.rows(true)
		return len(rs) == 1 && rs[0].State == state.InstanceRunning
	})
	h.setDemand(0)
	h.agents.setBusy(0)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	var began time.Time
	for hooked := false; !hooked; {
		h.clk.Step(time.Minute)
		h.serveAgents()
		began = h.clk.Now()
		go func() { done <- h.sched.Tick(context.Background(), h.pool.Name) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			if h.clk.Now().Sub(t0) > 20*time.Minute {
				t.Fatal("the idle instance was never drained")
			}
		case <-started:
			hooked = true
		case <-ctx.Done():
			t.Fatal("a tick before the drain did not return")
		}
	}
	id := h.rows(true)[0].ID
	hooked := func(when string) {
		t.Helper()
		if since, ok := h.sched.DrainHooks(h.pool.Name)[id]; !ok || !since.Equal(began) {
			t.Errorf("%s: DrainHooks says %v, want %s's hook running since %s", when, h.sched.DrainHooks(h.pool.Name), id, began)
		}
	}
	hooked("the hook running")
	// The tick waits on the clock for its hooks: step it past the cap
	// once it does.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !h.clk.HasWaiters() {
		select {
		case <-tick.C:
		case err := <-done:
			t.Fatalf("the tick returned (%v) before its hook", err)
		case <-ctx.Done():
			t.Fatal("the tick waits on its drain hook, which ignores its context, without bound: held for ever")
		}
	}
	h.clk.Step(config.MaxDrainHookTimeout + time.Second)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("the tick did not return once its hooks' time was over")
	}
	hooked("the tick gone on without the hook")
	unblock()
	for len(h.sched.DrainHooks(h.pool.Name)) != 0 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("the hook returned, but DrainHooks still says %v", h.sched.DrainHooks(h.pool.Name))
		}
	}
	took := h.clk.Now().Sub(began)
	d := h.decisions()[0]
	if len(d.Drains) != 1 || d.Drains[0].Outcome != "draining" || !strings.Contains(d.Drains[0].Error, "ran past the 1m0s a tick gives it") {
		t.Fatalf("drains %+v, want one draining with the hook's error naming its 1m0s", d.Drains)
	}
	t.Logf("the tick took %s on the clock; drain: %+v", took, d.Drains[0])
	spec, _ := h.sched.PoolSpec(h.pool.Name)
	if slack := spec.TickSlack.D(); took > slack {
		t.Errorf("the tick took %s, past the %s a tick's length counts", took, slack)
	}
}
