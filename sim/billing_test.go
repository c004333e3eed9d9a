package sim

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// TestPeriodShare: what an instance is billed within a budget period. The
// shares of the periods an instance lives in add up to its bill; one
// launched at a period's start and ended the same instant is billed its
// minimum there (it was once counted as nothing: the budget periods of a
// run then added up to less than it billed, and the policy was told less
// than was spent).
func TestPeriodShare(t *testing.T) {
	day := policy.Budget{Amount: 100, Period: policy.PeriodDay}
	start := trace.DefaultEpoch // a day's start
	for _, tt := range []struct {
		name            string
		billing         policy.Billing
		launched, ended time.Duration // from start
		want            float64       // the share of the day from start
	}{
		{"per-second-min-60s, zero life at the period's start", policy.BillingPerSecondMin60, 0, 0, 0.6 / 60},
		{"hourly, zero life at the period's start", policy.BillingHourly, 0, 0, 0.6},
		{"per-second, zero life at the period's start", policy.BillingPerSecond, 0, 0, 0},
		{"per-second-min-60s, 10 s", policy.BillingPerSecondMin60, time.Minute, time.Minute + 10*time.Second, 0.6 / 60},
		{"hourly, 90 min", policy.BillingHourly, time.Minute, 91 * time.Minute, 1.2},
		{"per-second, launched the day before", policy.BillingPerSecond, -time.Hour, time.Hour, 0.6},
		{"per-second-min-60s, launched 10 s before, ended at the start", policy.BillingPerSecondMin60, -10 * time.Second, 0, 0},
		{"per-second-min-60s, launched 10 s before, ended 30 s in", policy.BillingPerSecondMin60, -10 * time.Second, 30 * time.Second, 0},
		{"per-second-min-60s, launched 10 s before, ended 70 s in", policy.BillingPerSecondMin60, -10 * time.Second, 70 * time.Second, 0.6 * 20 / 3600},
		{"hourly, launched 30 min before, ended 20 min in", policy.BillingHourly, -30 * time.Minute, 20 * time.Minute, 0},
		{"hourly, launched 30 min before, ended 40 min in", policy.BillingHourly, -30 * time.Minute, 40 * time.Minute, 0.6},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pool := policy.Pool{Name: "p", Limits: policy.Limits{Budget: &day}}
			s := &state{pool: &pool, start: start}
			s.rollPeriod()
			if !s.periodStart.Equal(start) {
				t.Fatalf("period starts %s, want %s", s.periodStart, start)
			}
			off := policy.Offering{Name: "o", GPUs: 1, PricePerHour: 0.6, Billing: tt.billing}
			in := &instance{off: off, launchedAt: start.Add(tt.launched)}
			got := s.periodShare(in, start.Add(tt.ended))
			if math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("share %.6f, want %.6f", got, tt.want)
			}
			// The day before took the rest of the bill.
			before := 0.0
			if tt.launched < 0 {
				prev := &state{pool: &pool, start: start.Add(-time.Hour)}
				prev.rollPeriod()
				before = prev.periodShare(&instance{off: off, launchedAt: start.Add(tt.launched)}, start)
			}
			if bill := policy.BilledCost(off, start.Add(tt.launched), start.Add(tt.ended)); math.Abs(before+got-bill) > 1e-12 {
				t.Errorf("shares %.6f + %.6f, billed %.6f", before, got, bill)
			}
		})
	}
}

// TestEfficiencyWithLastResortSpot: a pool whose jobs do not checkpoint
// rents spot only as a last resort, and the efficiency figure's reference
// price leaves such spot out. When the run rents it all the same (here
// the on-demand offering is dearer than max_cost_per_hour allows), the
// work done on it is valued at its own price: efficiency stays within 1
// (it was once 191,262 on a random pool of the property test).
func TestEfficiencyWithLastResortSpot(t *testing.T) {
	pool := policy.Pool{Name: "p", Interval: policy.Duration(30 * time.Second), OnPrem: policy.OnPrem{GPUsPerNode: 8},
		Offerings: []policy.Offering{
			{Name: "od", Provider: "aws", Region: "r", InstanceType: "od", GPUs: 8, PricePerHour: 24, Billing: policy.BillingPerSecond},
			{Name: "spot", Provider: "aws", Region: "r", InstanceType: "sp", GPUs: 8, PricePerHour: 8, Billing: policy.BillingPerSecond, Market: policy.MarketSpot},
		},
		Limits:  policy.Limits{MaxCostPerHour: 10},
		ScaleIn: policy.ScaleIn{Idle: policy.IdleSetting{Duration: time.Minute}, DrainTimeout: policy.Duration(10 * time.Minute)},
	}
	tr := &trace.Trace{Name: "t", Start: trace.DefaultEpoch, Jobs: []trace.Job{{Submit: 0, Duration: 4 * time.Hour, GPUs: 8}}}
	// (The baselines do not see such spot: their operators would not list
	// it, see Admitted.)
	res, err := Run(t.Context(), Options{Pool: &pool, Trace: tr, Policy: Spillway()})
	if err != nil {
		t.Fatal(err)
	}
	if res.CostByOffering["spot"] == 0 || res.CostByOffering["od"] != 0 || res.Efficiency > 1 || res.Efficiency < 0.5 {
		t.Errorf("cost by offering %v, efficiency %.4f: want the job on spot, efficiency at most 1 (and above 0.5)", res.CostByOffering, res.Efficiency)
	}
}

// TestRoundedGPUHours: what billing rounds up after an instance ends is
// counted apart from its idle GPUs. One hourly 4-GPU instance boots for a
// minute, runs a 4-GPU job for ten and is ended: of its whole paid hour,
// what it neither booted, ran nor idled through is rounded, and nothing is
// left to count as idle beside jobs. Billed per second, nothing is rounded.
func TestRoundedGPUHours(t *testing.T) {
	for _, billing := range []policy.Billing{policy.BillingHourly, policy.BillingPerSecond} {
		off := offering4
		off.Billing = billing
		pool := &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 0, GPUsPerNode: 4},
			Interval: policy.Duration(30 * time.Second), Offerings: []policy.Offering{off}}
		tr := &trace.Trace{Name: "one", Jobs: []trace.Job{job(0, 600, 4)}}
		// burstOnce, launching the pool's offering.
		once := func(pool *policy.Pool, snap policy.Snapshot, insts []policy.Instance, sp policy.Spend, now time.Time) policy.Plan {
			plan := burstOnce(pool, snap, insts, sp, now)
			for i := range plan.Launches {
				plan.Launches[i].Offering = pool.Offerings[0]
			}
			return plan
		}
		got, err := Run(context.Background(), Options{Pool: pool, Trace: tr,
			Policy: Policy{Name: "one", Interval: 30 * time.Second, New: func() DecideFunc { return once }}})
		if err != nil {
			t.Fatal(err)
		}
		rest := got.PaidGPUHours - got.UsedGPUHours - got.BootGPUHours - got.IdleGPUHours - got.RoundedGPUHours
		wantPaid, wantRounded := 4.0, 4-got.UsedGPUHours-got.BootGPUHours-got.IdleGPUHours
		if billing == policy.BillingPerSecond {
			wantPaid, wantRounded = got.UsedGPUHours+got.BootGPUHours+got.IdleGPUHours, 0
		}
		if !near(got.PaidGPUHours, wantPaid) || !near(got.RoundedGPUHours, wantRounded) || math.Abs(rest) > 1e-9 || got.Launches != 1 {
			t.Errorf("%s: paid %.4f GPU-h, used %.4f, booting %.4f, idle %.4f, rounded %.4f (want %.4f of %.4f paid), %d launches; %.4f left as idle beside jobs, want 0",
				billing, got.PaidGPUHours, got.UsedGPUHours, got.BootGPUHours, got.IdleGPUHours, got.RoundedGPUHours, wantRounded, wantPaid, got.Launches, rest)
		}
	}
}

// TestBudgetPeriodsFromTheRunsStart: every policy lists the budget periods
// from the trace's first, $0 where it spent nothing. They were listed from
// a policy's first look at its spend: onprem-only listed only the last
// period, and spillway (evaluated only when there is work) started on the
// third day, where threshold started on the first.
func TestBudgetPeriodsFromTheRunsStart(t *testing.T) {
	pool := modelPool(8, 1)
	pool.OnPrem.Nodes = 1
	pool.ScaleIn.Idle = policy.IdleSetting{Auto: true}
	pool.Limits.Budget = &policy.Budget{Amount: 1000, Period: policy.PeriodDay}
	tr := &trace.Trace{Name: "t", Start: trace.DefaultEpoch, Jobs: []trace.Job{
		{Submit: 0, Duration: time.Hour, GPUs: 8},               // on-prem
		{Submit: 50 * time.Hour, Duration: time.Hour, GPUs: 16}, // the cloud, on the third day
	}}
	for _, name := range PolicyNames {
		p, err := PolicyByName(name)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(t.Context(), Options{Pool: pool, Trace: tr, Policy: p})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.BudgetPeriods) < 3 || !res.BudgetPeriods[0].Start.Equal(trace.DefaultEpoch) {
			t.Errorf("%s: budget periods %+v: want the days from %s on", name, res.BudgetPeriods, trace.DefaultEpoch.Format(time.DateOnly))
			continue
		}
		for k, bp := range res.BudgetPeriods {
			if want := trace.DefaultEpoch.AddDate(0, 0, k); !bp.Start.Equal(want) {
				t.Errorf("%s: period %d %+v: want it to start %s", name, k, bp, want.Format(time.DateOnly))
			}
		}
	}
}
