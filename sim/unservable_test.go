package sim

import (
	"context"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// TestNoPolicyRentsForJobsTheCloudCannotServe: a trace none of whose jobs
// any capacity the pool may rent can run, each job small enough for
// on-prem, so that they queue there behind one another. No policy rents
// anything: not for the queue (threshold counted a queued job no offering
// holds as demand when it was no larger than on-prem, and every policy
// was shown, and rented for, jobs that every cloud instance ends before
// they finish, killing each run), nor for headroom over on-prem GPUs busy
// with such jobs (threshold's utilisation counted them). Seeds 75 and
// 1287 of TestSimInvariants found the threshold's launches. A job whose
// every cloud run costs more than a hard budget pays in a period
// (budgetCap) is one: every policy rented for it, and the budget cut each
// run before it finished.
func TestNoPolicyRentsForJobsTheCloudCannotServe(t *testing.T) {
	offering := func(name string, gpus int, price float64) policy.Offering {
		return policy.Offering{Name: name, Provider: "aws", Region: "r", InstanceType: name, GPUs: gpus,
			PricePerHour: price, Boot: policy.Duration(time.Minute), Billing: policy.BillingPerSecond}
	}
	jobs := func(n, gpus int, dur time.Duration) *trace.Trace {
		tr := &trace.Trace{Name: "t", Start: trace.DefaultEpoch}
		for range n {
			tr.Jobs = append(tr.Jobs, trace.Job{Submit: 0, Duration: dur, GPUs: gpus})
		}
		return tr
	}
	for _, tt := range []struct {
		name string
		pool policy.Pool
		tr   *trace.Trace
	}{
		{"longer than max_lifetime + drain_timeout, no checkpoint",
			policy.Pool{OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}, Offerings: []policy.Offering{offering("p4d", 8, 32)},
				ScaleIn: policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}, MaxLifetime: policy.Duration(10 * time.Minute), DrainTimeout: policy.Duration(5 * time.Minute)}},
			jobs(4, 8, 2*time.Hour)},
		{"checkpoints further apart than an instance lives",
			policy.Pool{OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}, Offerings: []policy.Offering{offering("p4d", 8, 32)}, CheckpointInterval: policy.Duration(time.Hour),
				ScaleIn: policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}, MaxLifetime: policy.Duration(10 * time.Minute), DrainTimeout: policy.Duration(5 * time.Minute)}},
			jobs(4, 8, 2*time.Hour)},
		{"the offering that holds them over max_cost_per_hour, whole_jobs",
			policy.Pool{OnPrem: policy.OnPrem{Nodes: 4, GPUsPerNode: 1}, WholeJobs: true,
				Offerings: []policy.Offering{offering("big", 4, 5.18), offering("small", 2, 0.99)}, Limits: policy.Limits{MaxCostPerHour: 4.97}},
			jobs(5, 4, time.Hour)},
		{"costing more than a hard budget pays in a period, no checkpoint",
			policy.Pool{OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}, Offerings: []policy.Offering{offering("p4d", 8, 32)},
				Limits:  policy.Limits{Budget: &policy.Budget{Amount: 100, Period: policy.PeriodDay}},
				ScaleIn: policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}, DrainTimeout: policy.Duration(30 * time.Minute)}},
			jobs(4, 8, 4*time.Hour)},
		{"larger than an instance, which spans no instance below 8 GPUs",
			policy.Pool{OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 2}, Offerings: []policy.Offering{offering("g1", 1, 1)}},
			jobs(5, 2, time.Hour)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pool := tt.pool
			pool.Name, pool.Interval = "p", policy.Duration(time.Minute)
			if !pool.ScaleIn.Idle.Auto && pool.ScaleIn.Idle.Duration == 0 {
				pool.ScaleIn.Idle = policy.IdleSetting{Auto: true}
			}
			rep, err := Backtest{Pool: pool, Trace: tt.tr, Policies: policiesWith(BaselineKnobs{})}.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rep.Results {
				// Every job runs on-prem, one after another: the last waits
				// for all the others.
				wantMax := float64(len(tt.tr.Jobs)-1) * tt.tr.Jobs[0].Duration.Seconds()
				if r.Launches != 0 || r.CloudCostUSD != 0 || r.JobsKilled != 0 || r.JobsUnstarted != 0 || r.JobsNeverServed != 0 || r.JobsOnCloud != 0 ||
					r.WaitMaxS != wantMax {
					t.Errorf("%s: %d launches ($%.2f), %d killed, %d unstarted, %d never served, %d on cloud, longest wait %gs: want no launch, every job served on-prem, the last after %gs",
						r.Policy, r.Launches, r.CloudCostUSD, r.JobsKilled, r.JobsUnstarted, r.JobsNeverServed, r.JobsOnCloud, r.WaitMaxS, wantMax)
				}
			}
		})
	}
}

// TestThresholdCountsBusyJobsItsOfferingsHold: the threshold baseline is
// shown the offerings its operator would list (no spot offering for jobs
// that do not checkpoint, Admitted). A size only a spot offering holds is
// no demand for it when queued, and the GPUs on-prem busy with such jobs
// were yet counted in its utilisation as work it could burst: with 8 of 8
// on-prem GPUs busy with one 8-GPU job (which only the 8-GPU spot
// offering holds: the 4-GPU on-demand one is below span.min_gpus), it
// rented 4-GPU on-demand instances for 80% utilisation, none of which
// the job could use.
func TestThresholdCountsBusyJobsItsOfferingsHold(t *testing.T) {
	pool := policy.Pool{Name: "p", Interval: policy.Duration(time.Minute),
		OnPrem:  policy.OnPrem{Nodes: 1, GPUsPerNode: 8},
		ScaleIn: policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}},
		Offerings: []policy.Offering{
			{Name: "od4", Provider: "aws", Region: "r", InstanceType: "od4", GPUs: 4, PricePerHour: 12, Boot: policy.Duration(time.Minute), Billing: policy.BillingPerSecond},
			{Name: "sp8", Provider: "aws", Region: "r", InstanceType: "sp8", GPUs: 8, PricePerHour: 10, Boot: policy.Duration(time.Minute), Billing: policy.BillingPerSecond, Market: policy.MarketSpot},
		}}
	tr := &trace.Trace{Name: "t", Start: trace.DefaultEpoch, Jobs: []trace.Job{{Submit: 0, Duration: 4 * time.Hour, GPUs: 8}}}
	for _, k := range []BaselineKnobs{{}, {ThresholdTarget: 0.5}} {
		p, err := PolicyWith(PolicyThreshold, k)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(context.Background(), Options{Pool: &pool, Trace: tr, Policy: p})
		if err != nil {
			t.Fatal(err)
		}
		if res.Launches != 0 || res.CloudCostUSD != 0 {
			t.Errorf("target %g: %d launches ($%.2f) beside one 8-GPU job on-prem that only spot holds: want none, the on-demand offering it is shown holds no such job",
				k.withDefaults().ThresholdTarget, res.Launches, res.CloudCostUSD)
		}
	}
}
