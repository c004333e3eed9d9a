package scheduler_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
)

// slowEnds is the real provider (the AWS SDK against the emulator) whose
// Terminate calls each take d on the injected clock before they reach the
// cloud (a slow API answering inside its call timeout). It records when
// each instance's termination reached the cloud: its bill stops there.
type slowEnds struct {
	providers.Provider
	h     *harness
	d     time.Duration
	mu    *sync.Mutex
	ended map[string]time.Time
}

func newSlowEnds(h *harness, d time.Duration) slowEnds {
	return slowEnds{Provider: h.prov, h: h, d: d, mu: &sync.Mutex{}, ended: map[string]time.Time{}}
}

func (p slowEnds) Terminate(ctx context.Context, ids []string) error {
	p.h.clk.Step(p.d)
	err := p.Provider.Terminate(ctx, ids)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range providers.Ended(ids, err) {
		if _, ok := p.ended[id]; !ok {
			p.ended[id] = p.h.clk.Now()
		}
	}
	return err
}

// billed is what the emulator's instances of o cost until their
// termination reached the cloud (until now for those still running), and
// how many were ended that way.
func (p slowEnds) billed(o policy.Offering) (float64, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var sum float64
	for _, in := range p.h.emu.Instances() {
		end, ok := p.ended[in.ID]
		if !ok {
			end = p.h.clk.Now()
		}
		sum += policy.BilledCost(o, in.LaunchTime, end)
	}
	return sum, len(p.ended)
}

// hungZone is slowEnds whose launches into zone hang until their
// context's deadline cuts them off, never reaching the cloud.
type hungZone struct {
	slowEnds
	zone string
}

func (p hungZone) Launch(ctx context.Context, req providers.LaunchRequest) ([]providers.Instance, error) {
	if req.Offering.Zone == p.zone {
		dl, _ := ctx.Deadline()
		p.h.clk.Step(max(time.Until(dl), 0))
		return nil, fmt.Errorf("launch hung: %w", context.DeadlineExceeded)
	}
	return p.slowEnds.Launch(ctx, req)
}

// TestHardBudgetHoldsThroughAHungLaunchAndSlowTerminates: p4d in zone b
// hangs (each launch call runs to its deadline and never reaches the
// cloud), zone a has 3 in stock, and terminate calls take 9 of their 10
// minutes. The intent cut off in zone b was resumed at the start of the
// next ticks, before their ends, and each resume held its tick for the
// whole slack: a drained instance's termination came a call_timeout late,
// and its terminate call took most of another, past the one slack the
// budget counts for it: $83.56 billed of a $60 day. With the back-off run
// from the call's end it was still $67.18: the resume, now after the
// tick's ends, held the tick while a drained instance's drain_timeout ran
// out. Now resumes are called after the tick's first ends, and a launch
// call, new or resumed, ends by the end of the drain_timeout of any
// instance left draining (held when less than half its call timeout is
// left before it), so the next tick is there to terminate it: $53.25.
func TestHardBudgetHoldsThroughAHungLaunchAndSlowTerminates(t *testing.T) {
	p := testPool()
	p.Offerings = []policy.Offering{p.Offerings[0], p.Offerings[0]}
	p.Offerings[0].Name, p.Offerings[0].Zone = "p4d-a", "us-east-1a"
	p.Offerings[1].Name, p.Offerings[1].Zone = "p4d-b", "us-east-1b"
	p.Limits.Budget = &policy.Budget{Amount: 200, Period: policy.PeriodDay}
	p.Interval = policy.Duration(30 * time.Second)
	p.ScaleIn.DrainTimeout = policy.Duration(2 * time.Minute)
	var se slowEnds
	h := newHarness(t, p, func(h *harness) {
		h.opts.Tick = 30 * time.Second
		h.opts.CallTimeouts = map[string]time.Duration{provName: 10 * time.Minute}
		se = newSlowEnds(h, 9*time.Minute)
		h.prov = hungZone{slowEnds: se, zone: "us-east-1b"}
	})
	h.emu.SetStock(gpuType, "us-east-1a", 3)
	h.risingBusyDemand()
	billed, ended := se.billed(p.Offerings[0])
	t.Logf("billed $%.2f of $%.0f (%d instances, %d ended by a slow terminate, clock %s)", billed, p.Limits.Budget.Amount, len(h.emu.Instances()), ended, h.clk.Now().Sub(t0))
	hung := 0
	for _, d := range h.decisions() {
		for _, l := range d.Launches {
			if l.Offering == "p4d-b" && l.Cause == "transient" {
				hung++
			}
		}
	}
	if hung == 0 || ended == 0 {
		t.Fatalf("%d launches into the hung zone timed out, %d instances were terminated: the test did not hold a tick on a hung launch beside slow ends", hung, ended)
	}
	if billed > p.Limits.Budget.Amount {
		t.Fatalf("billed $%.2f of a $%.0f hard budget", billed, p.Limits.Budget.Amount)
	}
}
