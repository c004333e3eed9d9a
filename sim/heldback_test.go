package sim

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// TestHeldBackLaunchesAllocateLittle: a day of 1-GPU jobs, 30 GPUs of
// demand on 8 on-prem, queued for days once a small weekly budget is spent has karpenter ask, at every
// evaluation, for full 8-GPU nodes and one cheaper node for the jobs left
// over, and policy.Admit cut both to none (BenchmarkSimulatePhillyDeepQueue
// does so for months). Asking for what is cut must not cost the run more
// than it costs to decide: the plan's two launches are one allocation, not
// a map, an order list and a key string per node kind, and Admit merges
// nothing it need not merge.
func TestHeldBackLaunchesAllocateLittle(t *testing.T) {
	eight := policy.Offering{Name: "eight", Provider: "aws", Region: "r0", InstanceType: "x8", GPUs: 8, PricePerHour: 16,
		Boot: policy.Duration(2 * time.Minute), Billing: policy.BillingPerSecond}
	one := policy.Offering{Name: "one", Provider: "aws", Region: "r0", InstanceType: "x1", GPUs: 1, PricePerHour: 3,
		Boot: policy.Duration(2 * time.Minute), Billing: policy.BillingPerSecond}
	pool := policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
		WaitTarget: policy.Duration(5 * time.Minute), Offerings: []policy.Offering{eight, one},
		ScaleIn: policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}, DrainTimeout: policy.Duration(2 * time.Hour)},
		Limits:  policy.Limits{Budget: &policy.Budget{Amount: 300, Period: policy.PeriodWeek}}}
	tr := &trace.Trace{Name: "held-back", Start: trace.DefaultEpoch}
	for i := range 720 {
		tr.Jobs = append(tr.Jobs, trace.Job{Submit: time.Duration(i) * 2 * time.Minute, Duration: time.Hour, GPUs: 1})
	}
	p := pool
	var c workCounts
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res, err := Run(context.Background(), Options{Pool: &p, Trace: tr, Policy: Admitted(Karpenter()), counts: &c})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if h := res.LimitBoundHours[policy.LimitBudget]; h < 24 {
		t.Fatalf("the budget bound for %.1f hours, want days: the case holds nothing back", h)
	}
	perEval := float64(after.Mallocs-before.Mallocs) / float64(c.evals)
	t.Logf("%d evaluations, budget bound %.0f hours, %.1f allocations per evaluation", c.evals, res.LimitBoundHours[policy.LimitBudget], perEval)
	if perEval > 4 {
		t.Errorf("%.1f allocations per evaluation, want at most 4: asking for launches the budget cuts allocates per node kind", perEval)
	}
}
