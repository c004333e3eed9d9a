package scheduler_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/scheduler"
)

// TestConcurrentBurstsLaunchWithinThePoolsLimits: 20 manual bursts of 16
// GPUs each, opened at once on one pool, are all opened (320 GPUs of
// floors), and what the ticks launch for them never passes the pool's
// max_gpus, max_cost_per_hour or hard budget; the decision says which limit
// holds the bursts back, so the on-call engineer sees why they wait.
// A guard: nothing here failed on the code it was written against.
func TestConcurrentBurstsLaunchWithinThePoolsLimits(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits policy.Limits
		// maxGPUs and maxCost bound what may run at once; budget what may
		// be billed over the run.
		maxGPUs int
		maxCost float64
		budget  float64
		note    string
	}{
		{"max_gpus", policy.Limits{MaxGPUs: 32}, 32, 0, 0, "limit max_gpus"},
		{"max_cost_per_hour", policy.Limits{MaxGPUs: 320, MaxCostPerHour: 70}, 0, 70, 0, "limit max_cost_per_hour"},
		{"hard budget", policy.Limits{MaxGPUs: 320, Budget: &policy.Budget{Amount: 60, Period: policy.PeriodDay}}, 0, 0, 60, "budget"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testPool()
			p.Limits = tc.limits
			h := newHarness(t, p)
			ctx := context.Background()
			var wg sync.WaitGroup
			errs := make([]error, 20)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = h.sched.CreateBurst(ctx, scheduler.BurstRequest{Pool: "train", GPUs: 16, For: 3 * time.Hour, Reason: "INC-9", Principal: "alice"})
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("burst %d: %v, want it opened", i, err)
				}
			}
			off := p.Offerings[0]
			for range 120 {
				h.step(time.Minute)
				gpus, cost := 0, 0.0
				for _, in := range h.live() {
					gpus += 8
					if in.InstanceType == altType {
						cost += p.Offerings[1].PricePerHour
					} else {
						cost += off.PricePerHour
					}
				}
				if tc.maxGPUs > 0 && gpus > tc.maxGPUs {
					t.Fatalf("%v: %d GPUs live, past max_gpus %d", h.clk.Now(), gpus, tc.maxGPUs)
				}
				if tc.maxCost > 0 && cost > tc.maxCost {
					t.Fatalf("%v: $%.2f/h live, past max_cost_per_hour $%.2f", h.clk.Now(), cost, tc.maxCost)
				}
			}
			if tc.budget > 0 {
				if billed := h.billedByRows(off); billed > tc.budget {
					t.Errorf("billed $%.2f over 2 hours, past the $%.2f day's hard budget", billed, tc.budget)
				}
			}
			if len(h.live()) == 0 && tc.budget == 0 {
				t.Errorf("nothing launched for 320 GPUs of bursts")
			}
			ds := h.decisions()
			if len(ds) == 0 || !strings.Contains(strings.Join(ds[0].Notes, "; "), tc.note) {
				t.Errorf("latest decision %+v does not say the bursts wait on %s", ds[0].Notes, tc.note)
			}
			t.Logf("%s: %d instances live, $%.2f billed", tc.name, len(h.live()), h.billedByRows(off))
		})
	}
}
