package scheduler_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
)

// waitingLaunch is the real provider (the AWS SDK against the emulator) with a
// Launch that takes d on the injected clock after its instances were
// created, as a Terraform apply waits for them: the tick, and so the pool's
// next evaluation, waits with it.
type waitingLaunch struct {
	providers.Provider
	h *harness
	d time.Duration
}

func (p waitingLaunch) Launch(ctx context.Context, req providers.LaunchRequest) ([]providers.Instance, error) {
	out, err := p.Provider.Launch(ctx, req)
	p.h.clk.Step(p.d)
	return out, err
}

// TestHardBudgetHoldsThroughSlowLaunches: a launch that holds the pool's
// tick for as long as its call timeout allows (20 or 30 minutes, as a
// Terraform apply may) delays the next evaluation by as much, while the
// instances already running bill. A hard budget counted each instance only
// until the next evaluation at the pool's interval (30 s) and its drain:
// $69.91 and $102.68 were billed of a $60 day. It now counts until the
// latest the next evaluation may come, the interval plus the longest call
// timeout of the pool's providers.
func TestHardBudgetHoldsThroughSlowLaunches(t *testing.T) {
	for _, d := range []time.Duration{20 * time.Minute, 30 * time.Minute} {
		t.Run(fmt.Sprint(d), func(t *testing.T) {
			p := testPool()
			p.Limits.Budget = &policy.Budget{Amount: 200, Period: policy.PeriodDay}
			p.Interval = policy.Duration(30 * time.Second)
			p.ScaleIn.DrainTimeout = policy.Duration(2 * time.Minute)
			h := newHarness(t, p, func(h *harness) {
				h.opts.Tick = 30 * time.Second
				h.opts.CallTimeouts = map[string]time.Duration{provName: d}
				h.prov = waitingLaunch{Provider: h.prov, h: h, d: d}
			})
			h.risingBusyDemand()
			billed := h.billedByRows(p.Offerings[0])
			if launched := h.emu.Calls("RunInstances"); launched == 0 {
				t.Fatal("nothing launched: the budget was never tested")
			}
			if billed > p.Limits.Budget.Amount {
				t.Fatalf("billed $%.2f of a $%.0f hard budget, launches taking %s each (%d instances launched)", billed, p.Limits.Budget.Amount, d, len(h.emu.Instances()))
			}
			t.Logf("billed $%.2f of $%.0f (%d instances, %d RunInstances)", billed, p.Limits.Budget.Amount, len(h.emu.Instances()), h.emu.Calls("RunInstances"))
		})
	}
}

// risingBusyDemand runs two hours of 30-second steps under a queue of
// 8-GPU jobs that grows by one every ten minutes up to four, every GPU
// rented busy: the demand the slow-call budget tests bill against.
func (h *harness) risingBusyDemand() {
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
}
