package scheduler_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
)

// TestHardBudgetHoldsThroughSeveralSlowCallsInATick: a tick that meets a
// stock-out tries the next offering in the same tick, so with launch calls
// that each take nearly their call timeout (here p4d in one zone with 4 in
// stock, then p4d in a zone and p4de both stocked out) the tick lasted
// three call timeouts while the instances it kept billed, and the next
// evaluation came two call timeouts later than the hard budget's slack
// (one) counted on: $205.19 billed of a $200 day with 20-minute calls.
// Now a tick's launch calls end at its deadline, its evaluation plus the
// slack (a call cut off there, or not started, waits for the next tick):
// $177.96.
func TestHardBudgetHoldsThroughSeveralSlowCallsInATick(t *testing.T) {
	for _, tc := range []struct {
		d time.Duration // each launch call's length (less a second), the call timeout
	}{
		{20 * time.Minute},
		{10 * time.Minute},
	} {
		t.Run(fmt.Sprint(tc.d), func(t *testing.T) {
			p := testPool()
			p.Offerings = []policy.Offering{p.Offerings[0], p.Offerings[0], p.Offerings[0]}
			p.Offerings[0].Name, p.Offerings[0].Zone = "p4d-a", "us-east-1a"
			p.Offerings[1].Name, p.Offerings[1].Zone = "p4d-b", "us-east-1b"
			p.Offerings[2].Name, p.Offerings[2].InstanceType = "p4de", "p4de.24xlarge"
			p.Limits.MaxGPUs = 96
			p.Limits.Budget = &policy.Budget{Amount: 600, Period: policy.PeriodDay}
			p.Interval = policy.Duration(30 * time.Second)
			p.ScaleIn.DrainTimeout = policy.Duration(2 * time.Minute)
			h := newHarness(t, p, func(h *harness) {
				h.opts.Tick = 30 * time.Second
				h.opts.CallTimeouts = map[string]time.Duration{provName: tc.d}
				h.prov = cutoffLaunch{Provider: h.prov, h: h, d: tc.d - time.Second}
			})
			h.emu.SetStock(gpuType, "us-east-1a", 4)
			h.emu.SetStock(gpuType, "us-east-1b", 0)
			h.emu.SetStock("p4de.24xlarge", "us-east-1a", 0)
			h.emu.SetStock("p4de.24xlarge", "us-east-1b", 0)
			jobs := []int{8}
			h.setDemand(2*time.Minute, jobs...)
			for i := range 240 {
				if i%10 == 0 && len(jobs) < 8 {
					jobs = append(jobs, 8)
					h.setDemand(2*time.Minute, jobs...)
				}
				h.agents.setBusy(8)
				h.step(30 * time.Second)
			}
			billed := h.billedByRows(p.Offerings[0])
			t.Logf("billed $%.2f of $%.0f (%d instances, %d RunInstances, clock %s)", billed, p.Limits.Budget.Amount, len(h.emu.Instances()), h.emu.Calls("RunInstances"), h.clk.Now().Sub(t0))
			if billed > p.Limits.Budget.Amount {
				t.Fatalf("billed $%.2f of a $%.0f hard budget, launch calls taking %s each", billed, p.Limits.Budget.Amount, tc.d)
			}
			if len(h.emu.Instances()) < 4 {
				t.Fatalf("%d instances launched: the stock of 4 was never used up, so no tick tried the next offerings", len(h.emu.Instances()))
			}
			deferred := 0
			for _, d := range h.decisions() {
				for _, l := range d.Launches {
					if strings.HasPrefix(l.Outcome, "held: the tick's launch calls used") || strings.HasPrefix(l.Outcome, "cut off at the tick's deadline") {
						deferred++
					}
				}
			}
			if deferred == 0 {
				t.Fatal("no launch was held or cut off by a tick's deadline: the test did not make a tick longer than its slack")
			}
		})
	}
}

// cutoffLaunch is the real provider (the AWS SDK against the emulator) whose
// launch calls each take d on the injected clock, or until their
// context's deadline cuts them off first (a call cut off never reached the
// cloud), as a Terraform apply or a hung API call would.
type cutoffLaunch struct {
	providers.Provider
	h *harness
	d time.Duration
}

func (p cutoffLaunch) Launch(ctx context.Context, req providers.LaunchRequest) ([]providers.Instance, error) {
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < p.d {
			p.h.clk.Step(max(left, 0))
			return nil, fmt.Errorf("launch cut off after %s: %w", left, context.DeadlineExceeded)
		}
	}
	out, err := p.Provider.Launch(ctx, req)
	p.h.clk.Step(p.d)
	return out, err
}

// lateAnswer is the real provider whose launch of an instance type takes
// the time its map gives on the injected clock: the call reaches the
// cloud, and when its context's deadline comes first the answer is lost
// (the instances exist, the caller sees the deadline).
type lateAnswer struct {
	providers.Provider
	h    *harness
	took map[string]time.Duration
}

func (p lateAnswer) Launch(ctx context.Context, req providers.LaunchRequest) ([]providers.Instance, error) {
	out, err := p.Provider.Launch(ctx, req)
	d := p.took[req.Offering.InstanceType]
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		p.h.clk.Step(max(time.Until(dl), 0))
		return nil, fmt.Errorf("launch answer lost: %w", context.DeadlineExceeded)
	}
	p.h.clk.Step(d)
	return out, err
}

// TestLaunchCutOffAtTheTickDeadlineResumesOnce: with a 10-minute call
// timeout, a stock-out of p4d that took 3 minutes leaves 7 for p5 (at
// least half a call timeout: it is called); p5's launch, taking 9, is cut
// off at the tick's deadline with its answer lost. Its intent stays
// pending, backed off as a call that timed out: 10m from the call's end.
// The back-off ran from the tick's evaluation, so it was over when the cut
// call ended, and the next tick, 30 s later, called the provider again
// for another whole slack (a hung provider held every tick). The first
// tick after the back-off resumes it with the same client token: one p5
// instance, recorded, none launched twice.
func TestLaunchCutOffAtTheTickDeadlineResumesOnce(t *testing.T) {
	h := newHarness(t, testPool(), func(h *harness) {
		h.opts.Tick = 30 * time.Second
		h.opts.CallTimeouts = map[string]time.Duration{provName: 10 * time.Minute}
		h.prov = lateAnswer{Provider: h.prov, h: h, took: map[string]time.Duration{gpuType: 3 * time.Minute, altType: 9 * time.Minute}}
	})
	h.emu.SetStock(gpuType, "us-east-1a", 0)
	h.emu.SetStock(gpuType, "us-east-1b", 0)
	h.setDemand(2*time.Minute, 8)
	h.tick()
	ds := h.decisions()
	if len(ds) != 1 || len(ds[0].Launches) != 2 || ds[0].Launches[0].Cause != "capacity" || !strings.HasPrefix(ds[0].Launches[1].Outcome, "cut off at the tick's deadline") || !strings.HasSuffix(ds[0].Launches[1].Outcome, "after 10m0s") {
		t.Fatalf("first tick's launches = %+v, want p4d's capacity failure, then p5 cut off at the deadline and backed off 10m", ds[0].Launches)
	}
	// (The deadline is applied on the wall clock, as call timeouts are:
	// the test's own milliseconds come off it.)
	if n := h.clk.Now().Sub(t0); n > 10*time.Minute || n < 10*time.Minute-time.Second {
		t.Fatalf("the tick's launch calls took %s, want the 10m slack", n)
	}
	calls := h.emu.Calls("RunInstances")
	h.step(30 * time.Second)
	if n := h.emu.Calls("RunInstances"); n != calls {
		t.Fatalf("the tick 30 s after the cut-off call called the provider again (%d RunInstances, were %d): its back-off ran from the tick's evaluation, not the call's end", n, calls)
	}
	h.until("the back-off ends and the intent is resumed", 30*time.Second, 25, func() bool { return h.emu.Calls("RunInstances") > calls })
	var p5 []string
	for _, in := range h.emu.Instances() {
		if in.InstanceType == altType {
			p5 = append(p5, in.ID)
		}
	}
	rows := h.rows(true)
	if len(p5) != 1 || len(rows) != 1 || rows[0].ID != p5[0] {
		t.Fatalf("p5 instances %v, live rows %+v: want the cut-off launch resumed into one recorded instance", p5, rows)
	}
	// Decisions come newest first.
	if l := h.decisions()[0].Launches; len(l) == 0 || !strings.HasPrefix(l[0].Reason, "resumed") || l[0].Outcome != "launched 1" {
		t.Fatalf("second tick's launches = %+v, want the intent resumed and launched", l)
	}
}
