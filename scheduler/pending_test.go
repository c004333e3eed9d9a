package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/state"
)

// flakyLaunches is the real provider whose launches fail with a transient
// error (nothing typed: a reset connection) while failing is set, or run
// with their answer lost while losing is; lists and terminations go
// through.
type flakyLaunches struct {
	providers.Provider
	failing atomic.Bool
	// losing makes a launch reach the cloud, which runs it, and lose its
	// answer, as a call cut off at its call timeout does, with no time
	// passing on the scheduler's clock: a test need not race a short real
	// call timeout, which bounds every call of the tick, against an
	// emulator holding its answer (at 300 ms, a loaded machine failed
	// calls that were to succeed).
	losing atomic.Bool
}

func (f *flakyLaunches) Launch(ctx context.Context, req providers.LaunchRequest) ([]providers.Instance, error) {
	if f.failing.Load() {
		return nil, fmt.Errorf("launch %s: %w", req.ClientToken, errors.New("read tcp: connection reset by peer"))
	}
	out, err := f.Provider.Launch(ctx, req)
	if err == nil && f.losing.Load() {
		return nil, fmt.Errorf("launch %s: answer lost: %w", req.ClientToken, context.DeadlineExceeded)
	}
	return out, err
}

// TestPendingIntentsCountAsCommitted: launches that fail transiently for
// several ticks leave their intent pending, and the policy counts it as the
// booting capacity it will become: it writes no second intent for the same
// demand, and when the failure clears the pool holds what max_gpus allows,
// not one launch per failed tick.
func TestPendingIntentsCountAsCommitted(t *testing.T) {
	pool := testPool()
	pool.Limits.MaxGPUs = 16
	var flaky *flakyLaunches
	h := newHarness(t, pool, func(h *harness) {
		flaky = &flakyLaunches{Provider: h.prov}
		h.prov = flaky
	})
	flaky.failing.Store(true)
	h.setDemand(2*time.Minute, 8, 8, 8, 8) // 32 GPUs wanted, 16 allowed
	check := func(when string) []state.Intent {
		t.Helper()
		intents, err := h.store.Intents(context.Background(), state.IntentFilter{Pool: pool.Name})
		if err != nil {
			t.Fatal(err)
		}
		gpus := 8 * len(h.live())
		for _, in := range intents {
			if in.Status == state.IntentPending {
				gpus += 8 * in.Count
			}
		}
		if gpus > pool.Limits.MaxGPUs {
			t.Fatalf("%s: %d GPUs launched or pending (intents %+v), over max_gpus %d", when, gpus, intents, pool.Limits.MaxGPUs)
		}
		return intents
	}
	h.tick()
	for i := range 5 {
		h.step(30 * time.Second)
		if intents := check(fmt.Sprintf("failing tick %d", i+1)); len(intents) != 1 {
			t.Fatalf("failing tick %d: %d intents, want the first one only: %+v", i+1, len(intents), intents)
		}
	}
	if n := len(h.live()); n != 0 {
		t.Fatalf("%d instances while every launch failed", n)
	}

	flaky.failing.Store(false)
	h.step(30 * time.Second)
	intents := check("after the failure cleared")
	if len(intents) != 1 || intents[0].Status != state.IntentDone {
		t.Fatalf("intents %+v: want the one intent, done", intents)
	}
	if n := len(h.live()); n != 2 {
		t.Fatalf("%d instances after the failure cleared, want 2 (max_gpus 16)", n)
	}
	for range 3 {
		h.step(30 * time.Second)
		check("later")
	}
}
