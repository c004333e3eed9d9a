package sim

import (
	"context"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// withUnservable is tr with n 8-GPU jobs submitted first: on a pool of
// 4-GPU nodes and 4-GPU offerings nothing can ever run them, so they sit
// at the head of the queue for the whole run.
func withUnservable(tr *trace.Trace, n int) *trace.Trace {
	out := &trace.Trace{Name: tr.Name, Start: tr.Start, Jobs: make([]trace.Job, 0, n+len(tr.Jobs))}
	for range n {
		out.Jobs = append(out.Jobs, trace.Job{Submit: 0, Duration: time.Hour, GPUs: 8})
	}
	return &trace.Trace{Name: tr.Name, Start: tr.Start, Jobs: append(out.Jobs, tr.Jobs...)}
}

// TestWorkPerEvaluationIgnoresQueueDepth: the simulator's work per
// evaluation (items its loops visit: queues, listed jobs, instances) is
// the same whether 10 or 5,000 jobs that can never start are queued, for
// every policy, and so is what each policy rents. It would grow with them if the snapshot or placement walked
// the queue, or if a policy rented capacity for jobs nothing can run.
func TestWorkPerEvaluationIgnoresQueueDepth(t *testing.T) {
	pool := policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 4}, Interval: policy.Duration(30 * time.Second),
		WaitTarget: policy.Duration(5 * time.Minute), Offerings: []policy.Offering{offering4}}
	base := syntheticTrace(2000)
	for _, p := range allPolicies() {
		t.Run(p.Name, func(t *testing.T) {
			var per [2]float64
			var launches [2]int
			for k, n := range []int{10, 5000} {
				var c workCounts
				res, err := Run(context.Background(), Options{Pool: &pool, Trace: withUnservable(base, n), Policy: p, Cloud: DefaultCloud(1), counts: &c})
				if err != nil {
					t.Fatal(err)
				}
				if res.JobsNeverServed != n {
					t.Fatalf("%d jobs never served, want the %d unservable ones", res.JobsNeverServed, n)
				}
				if p.New != nil && c.evals < 1000 {
					t.Fatalf("%d evaluations: too few to compare", c.evals)
				}
				per[k] = float64(c.steps) / float64(max(c.evals, 1))
				launches[k] = res.Launches
				t.Logf("%d unservable jobs: %d evaluations, %.1f steps each (%d launches)", n, c.evals, per[k], res.Launches)
			}
			if launches[1] != launches[0] {
				t.Errorf("%d launches with 5,000 unservable jobs queued, %d with 10: jobs nothing can run changed what was rented", launches[1], launches[0])
			}
			if per[1] > 1.25*per[0]+10 {
				t.Errorf("%.1f steps per evaluation with 5,000 unservable jobs queued, %.1f with 10: work grows with the queue", per[1], per[0])
			}
		})
	}
}
