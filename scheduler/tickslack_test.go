package scheduler_test

import (
	"context"
	"testing"
	"time"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
)

// slowListEnds is slowEnds whose List calls also take list on the
// injected clock (a slow API answering inside its call timeout).
type slowListEnds struct {
	slowEnds
	list time.Duration
}

func (p slowListEnds) List(ctx context.Context, f providers.ListFilter) ([]providers.Instance, error) {
	p.h.clk.Step(p.list)
	return p.slowEnds.List(ctx, f)
}

// TestHardBudgetHoldsThroughASlowListAndSlowEnds: a tick's list, drain
// hooks and terminate calls run one after another, each inside its call
// timeout (10 minutes), and each instance bills until its termination
// reached the cloud. Rows once ended at the evaluation (9-minute
// terminates billed $68.54 of a $60 day), then when their terminate call
// returned ($54.34), but the budget still counted one call_timeout for
// the next evaluation's delay and one for the end it orders: a 4-minute
// list billed $63.90 then $68.82, a 2-minute list $71.00. It now counts a
// tick's whole length (config.TickLength) for each: every day stays
// within the budget.
func TestHardBudgetHoldsThroughASlowListAndSlowEnds(t *testing.T) {
	for _, tc := range []struct {
		name             string
		list, term, hook time.Duration
	}{
		{"terminate 9m", 0, 9 * time.Minute, 0},
		{"list 4m, terminate 9m", 4 * time.Minute, 9 * time.Minute, 0},
		{"list 4m, terminate 9m, drain hook 59s", 4 * time.Minute, 9 * time.Minute, 59 * time.Second},
		{"list 2m, terminate 9m", 2 * time.Minute, 9 * time.Minute, 0},
		{"terminate 9m, drain hook 59s", 0, 9 * time.Minute, 59 * time.Second},
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
				h.prov = slowListEnds{slowEnds: se, list: tc.list}
				h.hook = func(context.Context, config.InstanceFields) error { h.clk.Step(tc.hook); return nil }
			})
			h.risingBusyDemand()
			days, ended := se.billedByDay(p.Offerings[0])
			t.Logf("billed %.2f (USD by day) of $%.0f a day (%d instances, %d ended by a slow terminate, clock %s)", days, p.Limits.Budget.Amount, len(h.emu.Instances()), ended, h.clk.Now().Sub(t0))
			if ended == 0 {
				t.Fatal("no instance was terminated: the slow ends were never tested")
			}
			for i, billed := range days {
				if billed > p.Limits.Budget.Amount {
					t.Errorf("day %d: billed $%.2f of a $%.0f hard budget", i, billed, p.Limits.Budget.Amount)
				}
			}
		})
	}
}

// billedByDay is what the emulator's instances of o cost in each budget
// day from t0's (UTC), until their termination reached the cloud (until
// now for those still running), and how many were ended that way.
func (p slowEnds) billedByDay(o policy.Offering) ([]float64, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.h.clk.Now()
	day := t0.Truncate(24 * time.Hour)
	var out []float64
	for start := day; start.Before(now); start = start.Add(24 * time.Hour) {
		var sum float64
		for _, in := range p.h.emu.Instances() {
			end, ok := p.ended[in.ID]
			if !ok {
				end = now
			}
			if stop := start.Add(24 * time.Hour); end.After(stop) {
				end = stop
			}
			if in.LaunchTime.Before(end) {
				sum += policy.PeriodCost(o, in.LaunchTime, end, start)
			}
		}
		out = append(out, sum)
	}
	return out, len(p.ended)
}
