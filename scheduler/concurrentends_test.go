package scheduler_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
)

// clockedEnds is the real provider (the AWS SDK against the emulator)
// whose Terminate calls each take d on the injected clock from their
// start, as a slow API would: a call moves the clock to its start plus d
// unless another call made at the same time has moved it past that. It
// records when each instance's termination reached the cloud: its bill
// stops there.
type clockedEnds struct {
	providers.Provider
	h     *harness
	d     time.Duration
	mu    *sync.Mutex
	ended map[string]time.Time
}

func (p clockedEnds) Terminate(ctx context.Context, ids []string) error {
	start := p.h.clk.Now()
	err := p.Provider.Terminate(ctx, ids)
	p.mu.Lock()
	defer p.mu.Unlock()
	if end := start.Add(p.d); p.h.clk.Now().Before(end) {
		p.h.clk.SetTime(end)
	}
	for _, id := range providers.Ended(ids, err) {
		p.ended[id] = p.h.clk.Now()
	}
	return err
}

// newClockedEnds gives h a clockedEnds provider whose calls take d.
func newClockedEnds(h *harness, d time.Duration) clockedEnds {
	return clockedEnds{Provider: h.prov, h: h, d: d, mu: &sync.Mutex{}, ended: map[string]time.Time{}}
}

// TestATicksEndsShareOneCall: two instances drained at different ticks
// (max_lifetime) and done at the same one are ended for two reasons, two
// terminate calls. The calls were made one after the other, so with calls
// taking 9 of their 10 minutes the second instance's bill ran 18 minutes
// past the evaluation that ended it, while a hard budget counts one
// call_timeout (the tick's slack). Now one call per provider ends both,
// 9 minutes after it.
func TestATicksEndsShareOneCall(t *testing.T) {
	const d = 9 * time.Minute
	p := testPool()
	p.ScaleIn.MaxLifetime = policy.Duration(20 * time.Minute)
	p.ScaleIn.Idle.Duration = time.Hour
	var oe clockedEnds
	h := newHarness(t, p, func(h *harness) {
		h.opts.Tick = 10 * time.Second
		h.opts.CallTimeouts = map[string]time.Duration{provName: 10 * time.Minute}
		oe = newClockedEnds(h, d)
		h.prov = oe
	})
	h.setDemand(2*time.Minute, 8)
	h.tick()
	h.setDemand(2*time.Minute, 8, 8)
	h.step(10 * time.Second)
	if n := len(h.live()); n != 2 {
		t.Fatalf("%d instances launched, want 2", n)
	}
	h.setDemand(0)
	h.until("both instances are draining", 10*time.Second, 150, func() bool {
		h.agents.setBusy(8)
		draining := 0
		for _, r := range h.rows(true) {
			if r.State == "draining" {
				draining++
			}
		}
		return draining == 2
	})
	h.agents.setBusy(0)
	h.clk.Step(10 * time.Second)
	eval := h.clk.Now()
	h.tick()
	if len(oe.ended) != 2 {
		t.Fatalf("%d instances terminated at the tick after both were drained and idle, want 2", len(oe.ended))
	}
	for id, at := range oe.ended {
		if late := at.Sub(eval); late > d {
			t.Errorf("instance %s's termination reached the cloud %s after the evaluation that ended it, want at most one call's %s", id, late, d)
		}
	}
}

// TestJoinTimeoutsEndTogether: two instances launched together whose
// agents never answer reach their join timeout at the same tick. Each was
// ended by its own terminate call, one after the other: with calls
// taking 9 of their 10 minutes, the second bill ran 18 minutes past the
// evaluation. One call now ends both.
func TestJoinTimeoutsEndTogether(t *testing.T) {
	const d = 9 * time.Minute
	var oe clockedEnds
	h := newHarness(t, testPool(), func(h *harness) {
		h.opts.Tick = 10 * time.Second
		h.opts.CallTimeouts = map[string]time.Duration{provName: 10 * time.Minute}
		oe = newClockedEnds(h, d)
		h.prov = oe
	})
	h.setDemand(2*time.Minute, 8, 8)
	h.tick()
	live := h.live()
	if len(live) != 2 {
		t.Fatalf("%d instances launched, want 2", len(live))
	}
	for _, in := range live {
		h.agents.never(in.PrivateIP)
	}
	var eval time.Time
	h.until("the join timeouts end both", 30*time.Second, 30, func() bool {
		if len(oe.ended) == 0 {
			eval = h.clk.Now().Add(30 * time.Second) // the next step's evaluation
		}
		return len(oe.ended) == 2
	})
	for id, at := range oe.ended {
		if late := at.Sub(eval); late > d {
			t.Errorf("instance %s's termination reached the cloud %s after the evaluation that ended it, want at most one call's %s", id, late, d)
		}
	}
}

// TestATicksDrainHooksRunTogether: two instances launched together reach
// max_lifetime at the same tick and are drained, each by the pool's drain
// hook, which takes 59 seconds (a cluster scheduler slow to answer,
// within the hook's 60-second bound). The hooks ran one after another:
// the tick, and with it its ends and the next evaluation, lasted 1m58s,
// twice a hook's time. They now run at once: 59s.
func TestATicksDrainHooksRunTogether(t *testing.T) {
	const d = 59 * time.Second // drain.timeout is at most 60s
	p := testPool()
	p.ScaleIn.MaxLifetime = policy.Duration(20 * time.Minute)
	p.ScaleIn.Idle.Duration = time.Hour
	var mu sync.Mutex
	started, both := 0, make(chan struct{})
	h := newHarness(t, p, func(h *harness) {
		h.opts.Tick = 10 * time.Second
		h.hook = func(ctx context.Context, _ config.InstanceFields) error {
			start := h.clk.Now()
			mu.Lock()
			if started++; started == 2 {
				close(both)
			}
			mu.Unlock()
			// Wait (a second of wall time at most) for the other hook of
			// the pair to start: hooks run at once both start at the
			// same clock reading.
			wait, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			select {
			case <-both:
			case <-wait.Done():
			}
			mu.Lock()
			defer mu.Unlock()
			if end := start.Add(d); h.clk.Now().Before(end) {
				h.clk.SetTime(end)
			}
			return nil
		}
	})
	h.setDemand(2*time.Minute, 8, 8)
	h.tick()
	if n := len(h.live()); n != 2 {
		t.Fatalf("%d instances launched, want 2", n)
	}
	h.setDemand(0)
	h.agents.setBusy(8)
	var eval time.Time
	h.until("both instances are drained", 10*time.Second, 150, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		if len(h.drained) == 0 {
			eval = h.clk.Now().Add(10 * time.Second) // the next step's evaluation
		}
		return len(h.drained) == 2
	})
	if took := h.clk.Now().Sub(eval); took > d {
		t.Errorf("the tick that drained both instances lasted %s, want one hook's %s", took, d)
	}
}
