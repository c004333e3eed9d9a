package scheduler_test

import (
	"context"
	"testing"
	"time"
)

// TestWaitingNamesTheCallATickWaitsOn: a tick waiting on a slow cloud call
// left the pool's figures growing old with nothing to say why, read as a
// stuck server. While the tick's launch is in flight, Waiting names its
// provider and since when; once the tick ends, nothing.
func TestWaitingNamesTheCallATickWaitsOn(t *testing.T) {
	const global = 500 * time.Millisecond // see TestALaunchIsBoundedByItsProvidersCallTimeout
	slow := slowLaunch{}
	pool := testPool()
	h := newHarness(t, pool, func(h *harness) {
		slow = newSlowLaunch(h.prov, 4*global)
		h.prov = slow
		h.opts.CallTimeout, h.opts.CallTimeouts = global, map[string]time.Duration{provName: time.Minute}
	})
	if p, _, ok := h.sched.Waiting(pool.Name); ok {
		t.Fatalf("before any tick, Waiting names %s", p)
	}
	h.setDemand(2*time.Minute, 8)
	began := h.clk.Now()
	done := make(chan error, 1)
	go func() { done <- h.sched.Tick(context.Background(), pool.Name) }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	select {
	case <-slow.started:
	case <-ctx.Done():
		t.Fatal("the launch never started")
	}
	if p, since, ok := h.sched.Waiting(pool.Name); !ok || p != provName || since.Before(began) {
		t.Errorf("while the launch is in flight, Waiting says %q since %s (%v), want %s since the tick began (%s)", p, since, ok, provName, began)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("the tick never ended")
	}
	if p, _, ok := h.sched.Waiting(pool.Name); ok {
		t.Errorf("after the tick, Waiting names %s", p)
	}
	if n := len(h.live()); n != 1 {
		t.Errorf("%d instances launched, want 1", n)
	}
}
