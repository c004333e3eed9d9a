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

// TestHardBudgetHoldsThroughSlowTerminates: a terminate call that takes
// most of its call timeout (9 of 10 minutes) ends its instances that long
// after the tick's evaluation, and they bill until then. The row's end was
// the evaluation's time, so the budget's ledger stopped counting each one
// 9 minutes early, and the pool kept others running on that money: $68.54
// billed of a $60 day (the emulator's instances, each until its
// termination reached the cloud). Each row now ends when its terminate
// call returned: $54.34.
func TestHardBudgetHoldsThroughSlowTerminates(t *testing.T) {
	for _, tc := range []struct {
		name string
		term time.Duration // each terminate call's length
		hook time.Duration // each drain hook's run
	}{
		{"terminate 9m", 9 * time.Minute, 0},
		{"terminate 9m, drain hook 59s", 9 * time.Minute, 59 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testPool()
			p.Limits.Budget = &policy.Budget{Amount: 60, Period: policy.PeriodDay}
			p.Interval = policy.Duration(30 * time.Second)
			p.ScaleIn.DrainTimeout = policy.Duration(2 * time.Minute)
			var se slowEnds
			h := newHarness(t, p, func(h *harness) {
				h.opts.Tick = 30 * time.Second
				h.opts.CallTimeouts = map[string]time.Duration{provName: 10 * time.Minute}
				se = newSlowEnds(h, tc.term)
				h.prov = se
				h.hook = func(context.Context, config.InstanceFields) error { h.clk.Step(tc.hook); return nil }
			})
			jobs := []int{8}
			h.setDemand(2*time.Minute, jobs...)
			for i := range 240 {
				if i%20 == 0 && len(jobs) < 4 {
					jobs = append(jobs, 8)
					h.setDemand(2*time.Minute, jobs...)
				}
				h.agents.setBusy(8)
				h.step(30 * time.Second)
			}
			billed, ended := se.billed(p.Offerings[0])
			t.Logf("billed $%.2f of $%.0f (%d instances, %d ended by a slow terminate)", billed, p.Limits.Budget.Amount, len(h.emu.Instances()), ended)
			if ended == 0 {
				t.Fatal("no instance was terminated: the slow terminates were never tested")
			}
			if billed > p.Limits.Budget.Amount {
				t.Fatalf("billed $%.2f of a $%.0f hard budget, terminate calls taking %s each", billed, p.Limits.Budget.Amount, tc.term)
			}
		})
	}
}
