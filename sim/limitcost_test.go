package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// TestLimitCosts: a budget that binds is reported with the run of the same
// policy without it; a budget that does not bind is not.
func TestLimitCosts(t *testing.T) {
	pool := func(budget float64) policy.Pool {
		return policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 2}, Offerings: []policy.Offering{offering4},
			Interval: policy.Duration(30 * time.Second), ScaleIn: policy.ScaleIn{DrainTimeout: policy.Duration(10 * time.Minute)},
			Limits: policy.Limits{Budget: &policy.Budget{Amount: budget, Period: policy.PeriodDay}}}
	}
	run := func(t *testing.T, budget float64, traceName string, costs bool) Result {
		rep, err := Backtest{Pool: pool(budget), Trace: loadTestTrace(t, traceName), Policies: []Policy{Spillway()}, LimitCosts: costs}.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return rep.Results[0]
	}
	t.Run("binds", func(t *testing.T) {
		// $1 a day holds one 4-GPU instance at a time ($3.60/h), not
		// two: the queue waits longer than without the budget.
		res := run(t, 1, "queue.csv", true)
		lc, ok := res.WithoutLimit[policy.LimitBudget]
		if !ok || len(res.WithoutLimit) != 1 || res.LimitBoundHours[policy.LimitBudget] <= 0 {
			t.Fatalf("bound %v, without limit %+v: want the budget bound and its counterfactual", res.LimitBoundHours, res.WithoutLimit)
		}
		if lc.BoundHours != res.LimitBoundHours[policy.LimitBudget] || lc.Error != "" || lc.KeptOffCloudGPUs != 0 {
			t.Errorf("counterfactual %+v does not carry the bound hours %v", lc, res.LimitBoundHours)
		}
		if !(lc.WaitP95S < res.WaitP95S) || !(lc.CloudCostUSD > res.CloudCostUSD) {
			t.Errorf("without the budget: p95 %.0fs at $%.2f; with it: p95 %.0fs at $%.2f; want shorter waits at a higher cost",
				lc.WaitP95S, lc.CloudCostUSD, res.WaitP95S, res.CloudCostUSD)
		}
		// Without LimitCosts there is no second run.
		if r := run(t, 1, "queue.csv", false); r.WithoutLimit != nil {
			t.Errorf("LimitCosts off: got %+v", r.WithoutLimit)
		}
		var b bytes.Buffer
		if err := (Report{Results: []Result{res}}).WriteTable(&b); err != nil {
			t.Fatal(err)
		}
		want := "spillway: limit budget bound for " + humanSeconds(lc.BoundHours*3600) + " of evaluations (held back launches or ended capacity); without it p95 wait would have been " +
			humanSeconds(lc.WaitP95S) + " (vs " + humanSeconds(res.WaitP95S) + ")"
		if !strings.Contains(b.String(), want) || !strings.Contains(b.String(), "more ($"+money(lc.CloudCostUSD)+" in all).") {
			t.Errorf("report lacks %q and the cost:\n%s", want, b.String())
		}
		js, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(js), `"without_limit":{"budget":{"bound_hours":`) {
			t.Errorf("JSON lacks without_limit.budget: %s", js)
		}
	})
	t.Run("leaves a job out of reach", func(t *testing.T) {
		// $0.01 a day holds no instance: the 4-GPU job is kept off the
		// cloud and never served, and is without the budget; so is the
		// 2-GPU job, the smallest kept off (it fits on-prem).
		res := run(t, 0.01, "burst.csv", true)
		lc, ok := res.WithoutLimit[policy.LimitBudget]
		if res.JobsNeverServed != 1 || !ok || lc.JobsNeverServed != 0 || lc.CloudCostUSD <= 0 || lc.KeptOffCloudGPUs != 2 || lc.BoundHours != 0 {
			t.Errorf("never served %d, without the budget %+v; want 1, then served at some cost", res.JobsNeverServed, res.WithoutLimit)
		}
	})
	t.Run("does not bind", func(t *testing.T) {
		if res := run(t, 1000, "queue.csv", true); len(res.LimitBoundHours) != 0 || res.WithoutLimit != nil {
			t.Errorf("a $1000 budget: bound %v, without limit %+v; want neither", res.LimitBoundHours, res.WithoutLimit)
		}
	})
}

// TestLimitCostsShowProgress: the runs without a binding limit count in
// the progress: after the policy's own run reports it is done, the second
// run joins (the mean drops to a half) and the last report is 1.
func TestLimitCostsShowProgress(t *testing.T) {
	pool := policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 2}, Offerings: []policy.Offering{offering4},
		Interval: policy.Duration(30 * time.Second), ScaleIn: policy.ScaleIn{DrainTimeout: policy.Duration(10 * time.Minute)},
		Limits: policy.Limits{Budget: &policy.Budget{Amount: 1, Period: policy.PeriodDay}}}
	var seen []float64
	rep, err := Backtest{Pool: pool, Trace: loadTestTrace(t, "queue.csv"), Policies: []Policy{Spillway()}, LimitCosts: true,
		Progress: func(f float64) { seen = append(seen, f) }}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results[0].WithoutLimit) != 1 {
		t.Fatalf("without limit %+v: want the budget's run", rep.Results[0].WithoutLimit)
	}
	first := slices.Index(seen, 1)
	if first < 0 || seen[len(seen)-1] != 1 || !slices.Contains(seen[first+1:], 0.5) {
		t.Errorf("progress %v: want 1 when the policy's run ends, then 0.5 as the run without the budget starts, and 1 at the end", seen)
	}
}
