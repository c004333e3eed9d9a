package sim

import (
	"context"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// A job placed on-prem takes the parts array a job before it left, so a
// run's allocations do not grow with the jobs it places: each job once
// allocated its parts (a tenth of BenchmarkSimulateGenerated1M's bytes),
// a node's worth or several nodes' (a job larger than a node).
func TestOnPremJobsAllocateNoParts(t *testing.T) {
	for _, tc := range []struct {
		name string
		gpus int
	}{
		{name: "a job within a node", gpus: 2},
		{name: "a job of several nodes", gpus: 24},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 64, GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
				WaitTarget: policy.Duration(5 * time.Minute), Offerings: []policy.Offering{offering4}}
			jobs := func(n int) *trace.Trace {
				tr := &trace.Trace{Name: "onprem", Start: trace.DefaultEpoch}
				for i := range n {
					// Each ends before the next arrives, or with one or
					// two others: on-prem holds them all at once.
					tr.Jobs = append(tr.Jobs, trace.Job{Submit: time.Duration(i) * time.Minute, Duration: time.Duration(30+i%120) * time.Second, GPUs: tc.gpus})
				}
				return tr
			}
			allocs := func(n int) float64 {
				tr := jobs(n)
				return testing.AllocsPerRun(2, func() {
					res, err := Run(context.Background(), Options{Pool: &pool, Trace: tr, Policy: OnPremOnly()})
					if err != nil || res.JobsUnstarted > 0 {
						t.Fatalf("run: %v, %d jobs unstarted", err, res.JobsUnstarted)
					}
				})
			}
			small, large := allocs(1000), allocs(5000)
			if per := (large - small) / 4000; per > 0.1 {
				t.Errorf("%.0f allocations for 1000 jobs, %.0f for 5000: %.2f a job, want at most 0.1", small, large, per)
			}
		})
	}
}
