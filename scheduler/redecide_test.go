package scheduler_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/state"
)

// refusedEnds is the real provider whose terminate calls, while refuse
// is set, take d on the injected clock and fail (the cloud's API
// unavailable for ends), counted in calls.
type refusedEnds struct {
	providers.Provider
	h      *harness
	d      time.Duration
	refuse *atomic.Bool
	calls  *atomic.Int32
}

func (p refusedEnds) Terminate(ctx context.Context, ids []string) error {
	if !p.refuse.Load() {
		return p.Provider.Terminate(ctx, ids)
	}
	p.calls.Add(1)
	p.h.clk.Step(p.d)
	return &providers.TransientError{Provider: provName, Code: "Unavailable", Err: errors.New("the service is unavailable")}
}

// TestSecondRoundDoesNotRetryAFailedTerminate: a tick whose terminate of a
// drained instance failed after 4 minutes, and whose launch then failed
// for capacity (p4d stocked out), decided again and asked again to end
// the instance, another 4 minutes: the fallback launch (p5) then had 2
// of its 10-minute call_timeout left before the tick's deadline and was
// held, and the decision recorded the instance's termination twice. The
// tick's next round asks no end this tick already asked: the fallback is
// launched 4 minutes after the evaluation, the instance is asked to end
// again at the next tick.
func TestSecondRoundDoesNotRetryAFailedTerminate(t *testing.T) {
	var refuse atomic.Bool
	var calls atomic.Int32
	h := newHarness(t, testPool(), func(h *harness) {
		h.opts.Tick = 30 * time.Second
		h.opts.CallTimeouts = map[string]time.Duration{provName: 10 * time.Minute}
		h.prov = refusedEnds{Provider: h.prov, h: h, d: 4 * time.Minute, refuse: &refuse, calls: &calls}
	})
	first := h.joinOne(30*time.Second, 10)
	h.setDemand(0)
	h.agents.setBusy(0)
	refuse.Store(true)
	h.until("the idle instance drains", time.Minute, 15, func() bool {
		rs := h.rows(true)
		return len(rs) == 1 && rs[0].State == state.InstanceDraining
	})
	for _, z := range []string{"us-east-1a", "us-east-1b"} {
		h.emu.SetStock(gpuType, z, 0)
	}
	h.setDemand(2*time.Minute, 8)
	h.clk.Step(30 * time.Second)
	h.serveAgents()
	before, began := calls.Load(), h.clk.Now()
	h.tick()
	took := h.clk.Now().Sub(began)

	d := h.decisions()[0]
	ends, fallback := 0, ""
	for _, a := range d.Terminates {
		if a.Instance == first {
			ends++
		}
	}
	for _, l := range d.Launches {
		if l.Offering == "p5" {
			fallback = l.Outcome
		}
	}
	t.Logf("tick took %s on the clock, %d terminate call(s), %d record(s) of ending %s; p5: %q", took, calls.Load()-before, ends, first, fallback)
	if !strings.Contains(d.Summary, "p4d: failed (capacity)") {
		t.Fatalf("decision %q: the p4d launch did not fail for capacity, the second round was not tested", d.Summary)
	}
	if n := calls.Load() - before; n != 1 || ends != 1 {
		t.Errorf("%d terminate calls and %d records of ending %s in one tick, want 1 and 1: the second round asked again", n, ends, first)
	}
	if fallback != "launched 1" {
		t.Errorf("the fallback p5 launch: %q, want launched 1 (the tick's deadline is 10m after its evaluation; one terminate took 4m)", fallback)
	}
	if took > 5*time.Minute {
		t.Errorf("the tick took %s on the clock, want one terminate call's 4m (and the launch's)", took)
	}
}
