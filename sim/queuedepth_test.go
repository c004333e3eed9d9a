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

// sizedQueue is a trace whose first job takes all but one of on-prem's
// 8-GPU nodes for ten hours, then one job of each of n sizes from 9 GPUs up, each
// waiting for it: every arrival starts a placement pass over n queues in
// which no head fits.
func sizedQueue(onprem, n int) *trace.Trace {
	jobs := []trace.Job{{Submit: 0, Duration: 10 * time.Hour, GPUs: onprem - 8}}
	for i := range n {
		jobs = append(jobs, trace.Job{Submit: time.Duration(i+1) * time.Second, Duration: time.Hour, GPUs: 9 + i})
	}
	return &trace.Trace{Name: "sized", Start: trace.DefaultEpoch, Jobs: jobs}
}

// TestPlacementWorkIsLinearInSizes: a placement pass visits each queued
// size a bounded number of times (a heap of the queues by their oldest
// job), so its work grows in proportion to the sizes queued, not with
// their square: a pass over 1,000 sizes costs at most twice 10 times one
// over 100. Placement that rescanned every queue after each size that did
// not fit (3,000 sizes of a hostile trace took minutes) fails it.
func TestPlacementWorkIsLinearInSizes(t *testing.T) {
	const onprem = 2000
	pool := policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: onprem / 8, GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
		WaitTarget: policy.Duration(5 * time.Minute)}
	var per [2]float64
	sizes := [2]int{100, 1000}
	for k, n := range sizes {
		var c workCounts
		res, err := Run(context.Background(), Options{Pool: &pool, Trace: sizedQueue(onprem, n), Policy: OnPremOnly(), counts: &c})
		if err != nil {
			t.Fatal(err)
		}
		if res.JobsUnstarted != 0 || res.JobsNeverServed != 0 {
			t.Fatalf("%d jobs unstarted, %d never served: want every job run", res.JobsUnstarted, res.JobsNeverServed)
		}
		per[k] = float64(c.steps) / float64(max(c.passes, 1))
		t.Logf("%d sizes queued: %d placement passes, %.0f steps each", n, c.passes, per[k])
	}
	if limit := 2 * float64(sizes[1]/sizes[0]) * per[0]; per[1] > limit {
		t.Errorf("%.0f steps per placement pass with %d sizes queued, %.0f with %d: more than twice in proportion (%.0f)", per[1], sizes[1], per[0], sizes[0], limit)
	}
}

// TestUnservableSizesAreNotQueued: jobs of thousands of sizes that nothing
// can run (larger than on-prem, and than any instance may span) are not
// queued, so no policy walks them at every evaluation: the work per
// evaluation is what it is without them, and they are counted as never
// served.
func TestUnservableSizesAreNotQueued(t *testing.T) {
	pool := policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 4}, Interval: policy.Duration(30 * time.Second),
		WaitTarget: policy.Duration(5 * time.Minute), Offerings: []policy.Offering{offering4}}
	base := syntheticTrace(500)
	for _, p := range allPolicies() {
		var per [2]float64
		for k, n := range []int{0, 3000} {
			tr := &trace.Trace{Name: base.Name, Start: base.Start}
			for i := range n {
				tr.Jobs = append(tr.Jobs, trace.Job{Submit: 0, Duration: time.Hour, GPUs: 5 + i})
			}
			tr.Jobs = append(tr.Jobs, base.Jobs...)
			var c workCounts
			res, err := Run(context.Background(), Options{Pool: &pool, Trace: tr, Policy: p, Cloud: DefaultCloud(1), counts: &c})
			if err != nil {
				t.Fatal(err)
			}
			if res.JobsNeverServed != n {
				t.Fatalf("%s: %d jobs never served, want the %d too large", p.Name, res.JobsNeverServed, n)
			}
			per[k] = float64(c.steps) / float64(max(c.evals, 1))
		}
		if per[1] > 1.25*per[0]+10 {
			t.Errorf("%s: %.1f steps per evaluation with 3,000 unservable sizes, %.1f without: they are walked", p.Name, per[1], per[0])
		}
	}
}
