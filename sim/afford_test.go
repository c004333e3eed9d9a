package sim

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// affordPool is 8 on-prem GPUs renting 8-GPU instances at $24.48/h under
// a hard budget of $500 a day, drains cut at 2h: a 32-GPU gang costs
// $97.92/h, so a 10-hour run costs $979, twice what a day pays.
func affordPool() policy.Pool {
	return policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
		WaitTarget: policy.Duration(5 * time.Minute),
		Offerings: []policy.Offering{{Name: "p3", Provider: "aws", Region: "r", InstanceType: "p3.16xlarge", GPUs: 8, PricePerHour: 24.48,
			Boot: policy.Duration(4 * time.Minute), Billing: policy.BillingPerSecond}},
		Limits:  policy.Limits{Budget: &policy.Budget{Amount: 500, Period: policy.PeriodDay}},
		ScaleIn: policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}, DrainTimeout: policy.Duration(2 * time.Hour)}}
}

// TestHardBudgetRentsNoRunItCannotPay: one 32-GPU job of 10 hours, larger
// than on-prem, under a hard budget of $500 a day: every cloud run of it
// costs $979. Each policy launched a gang at each day's start, the budget
// drained and cut it before it finished, and the next day again ($1,498
// spent, 480 GPU-hours lost, 0 used, the job unstarted with a 43-hour
// wait in the percentiles). Now a note says so once, no policy launches,
// and the job counts as never served, saying why; the budget's line says
// it keeps the job off the cloud, beside the run without it, and that
// with no job served there is no wait to compare ('vs 0s' before).
func TestHardBudgetRentsNoRunItCannotPay(t *testing.T) {
	tr := oneJob(32, 10*time.Hour)
	tr.Jobs[0].Submit = 100 * time.Second
	rep, err := Backtest{Pool: affordPool(), Trace: tr, Policies: policiesWith(BaselineKnobs{}), LimitCosts: true}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	note := "1 job of the trace's 1 (100% of its GPU-hours) costs more on the cloud than the hard budget's $500.00 a day even on the offering where its run costs least, and the pool declares no checkpoint_interval: " +
		"the budget drains and cuts such a run before it finishes, every period, each run paid for and lost (a launch timed to straddle a period's end could finish one costing up to twice the amount; no policy, nor the server, times launches so), " +
		"so the backtest shows them to no policy as demand and runs none on the cloud; it is larger than on-prem's 8 GPUs too, so it runs nowhere: the backtest counts it as never served"
	if len(rep.Notes) != 1 || rep.Notes[0] != note {
		t.Errorf("notes %q\nwant %q", rep.Notes, note)
	}
	why := "larger than the 8 on-prem GPUs, and every cloud run of it costs more than the hard budget's $500.00 a day, with no checkpoint within that: the budget cuts each run before it finishes"
	for _, r := range rep.Results {
		if r.Policy == "onprem-only" {
			continue
		}
		if r.Launches != 0 || r.CloudCostUSD != 0 || r.GPUHoursLost != 0 || r.JobsNeverServed != 1 || r.JobsUnstarted != 0 || r.NeverServedWhy != why {
			t.Errorf("%s: %d launches ($%.2f, %.0f GPU-h lost), %d never served (%q), %d unstarted; want none launched, the job never served: %q",
				r.Policy, r.Launches, r.CloudCostUSD, r.GPUHoursLost, r.JobsNeverServed, r.NeverServedWhy, r.JobsUnstarted, why)
		}
		if lc, ok := r.WithoutLimit[policy.LimitBudget]; !ok || lc.UnpaidJobs != 1 || lc.JobsNeverServed != 0 || lc.CloudCostUSD <= 0 {
			t.Errorf("%s: without the budget %+v (%v): want 1 job kept off by it, served at a cost without it", r.Policy, lc, ok)
		}
	}
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if line := "\nspillway: limit budget keeps 1 job off the cloud (every cloud run of it costs more than a period's amount); without it p95 wait would have been 4m50s, p99 4m50s (vs none: no job served), 1 fewer job left unserved, at $992.26 more ($992.26 in all).\n"; !strings.Contains(b.String(), line) {
		t.Errorf("the report does not say %q:\n%s", line, b.String())
	}
}

// TestCloudUnaffordableOnlyWhenNoRunIsPaid: no note, so the cloud runs
// the job, where a run fits the amount, where checkpoints save work
// before a run has cost it, and under a soft budget, which never cuts
// running work (guards).
func TestCloudUnaffordableOnlyWhenNoRunIsPaid(t *testing.T) {
	for _, tt := range []struct {
		name  string
		hours int
		edit  func(p *policy.Pool)
	}{
		{"a run of 5 hours costs $490", 5, func(*policy.Pool) {}},
		{"checkpoints every hour", 10, func(p *policy.Pool) { p.CheckpointInterval = policy.Duration(time.Hour) }},
		{"soft budget", 10, func(p *policy.Pool) { p.Limits.Budget.Mode = policy.BudgetSoft }},
		{"no budget", 10, func(p *policy.Pool) { p.Limits.Budget = nil }},
	} {
		pool := affordPool()
		tt.edit(&pool)
		if n := CloudUnaffordable(&pool, oneJob(32, time.Duration(tt.hours)*time.Hour)); n != "" {
			t.Errorf("%s: %q, want no note", tt.name, n)
		}
	}
	pool := affordPool()
	pool.CheckpointInterval = policy.Duration(6 * time.Hour)
	if n := CloudUnaffordable(&pool, oneJob(32, 10*time.Hour)); n == "" {
		t.Errorf("checkpoints every 6 hours, further apart than the 5h06m a day pays: no note")
	}
}
