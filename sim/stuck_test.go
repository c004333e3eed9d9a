package sim

import (
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// TestStuckRunEnds: a job that can never finish (it spans two instances at
// a slowdown of 3, so its 5 minutes take 15, and every instance reaches
// max_lifetime and its drain timeout 11 minutes after its launch; the job
// does not checkpoint) is relaunched and killed until the run stops for
// want of progress: no job finished for a day plus the longest job plus,
// with a budget, the budget's longest period (a spent budget holds
// launches back that long). It was a month whatever the period: at a 1s
// interval a five-job trace took 157 s of wall time. (A job that outlasts
// the instances even unspanned is never queued: TestNowhereJobsAreNeverServed.)
func TestStuckRunEnds(t *testing.T) {
	for _, tt := range []struct {
		period   policy.BudgetPeriod
		min, max time.Duration // the run's end
	}{
		{"", 24 * time.Hour, 25 * time.Hour},
		{policy.PeriodDay, 48 * time.Hour, 49 * time.Hour},
		{policy.PeriodWeek, 192 * time.Hour, 193 * time.Hour},
		{policy.PeriodMonth, 768 * time.Hour, 769 * time.Hour},
	} {
		pool := policy.Pool{Name: "p", Interval: policy.Duration(time.Minute), OnPrem: policy.OnPrem{GPUsPerNode: 8},
			Offerings: []policy.Offering{{Name: "o", Provider: "aws", Region: "r", InstanceType: "t", GPUs: 8, PricePerHour: 1, Billing: policy.BillingPerSecond}},
			ScaleIn: policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}, MaxLifetime: policy.Duration(10 * time.Minute),
				DrainTimeout: policy.Duration(time.Minute)},
			Span: policy.Span{MinGPUs: 8, Slowdown: 3}}
		if tt.period != "" {
			pool.Limits.Budget = &policy.Budget{Amount: 1e6, Period: tt.period}
		}
		tr := &trace.Trace{Name: "t", Start: trace.DefaultEpoch, Jobs: []trace.Job{{Submit: 0, Duration: 5 * time.Minute, GPUs: 16}}}
		res, err := Run(t.Context(), Options{Pool: &pool, Trace: tr, Policy: Spillway(), Timeline: true})
		if err != nil {
			t.Fatal(err)
		}
		// The run's end is its last timeline sample (a minute apart).
		end := res.Timeline.Samples[len(res.Timeline.Samples)-1].At
		if res.JobsUnstarted != 1 || res.JobsKilled == 0 || end < tt.min || end > tt.max {
			t.Errorf("budget period %q: %d unstarted, %d kills, the run ended after %s: want 1 unstarted, kills, the end within %s–%s",
				tt.period, res.JobsUnstarted, res.JobsKilled, end, tt.min, tt.max)
		}
		// Its wait is the time it was queued, not the runs killed.
		if wait := time.Duration(res.WaitMaxS * float64(time.Second)); wait <= 0 || wait >= end/2 {
			t.Errorf("budget period %q: the unstarted job waited %s of the %s run: want the killed runs, most of it, left out", tt.period, wait, end)
		}
	}
}

// TestAJobAfterAQuietSpellIsServed: a run stops after a day (plus a budget
// period) in which no job arrived, started or ended, but a job that
// arrives after such a spell (a weekend, a holiday, a gap in a trace cut
// to one small cluster) is progress, served as any other. The spillway
// and threshold runs stopped at the first job after the gap, reporting it
// never started and looking cheaper than the baselines that ran it.
func TestAJobAfterAQuietSpellIsServed(t *testing.T) {
	for _, tt := range []struct {
		name   string
		period policy.BudgetPeriod
		gap    time.Duration
	}{
		{"no budget, two days", "", 48 * time.Hour},
		{"monthly budget, forty days", policy.PeriodMonth, 40 * 24 * time.Hour},
	} {
		pool := policy.Pool{Name: "p", Interval: policy.Duration(time.Minute), OnPrem: policy.OnPrem{GPUsPerNode: 8, Nodes: 1},
			WaitTarget: policy.Duration(5 * time.Minute),
			Offerings:  []policy.Offering{{Name: "o", Provider: "aws", Region: "r", InstanceType: "t", GPUs: 8, PricePerHour: 1, Billing: policy.BillingPerSecond}},
			ScaleIn:    policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}},
			Span:       policy.Span{MinGPUs: 8, Slowdown: 1}}
		if tt.period != "" {
			pool.Limits.Budget = &policy.Budget{Amount: 1e6, Period: tt.period}
		}
		// Each job is larger than on-prem: it runs only on the cloud.
		tr := &trace.Trace{Name: "t", Start: trace.DefaultEpoch, Jobs: []trace.Job{
			{Submit: 0, Duration: time.Hour, GPUs: 16},
			{Submit: tt.gap, Duration: time.Hour, GPUs: 16},
			{Submit: 2 * tt.gap, Duration: time.Hour, GPUs: 16},
		}}
		for _, p := range []Policy{Spillway(), Threshold(), PerJob(), Karpenter()} {
			res, err := Run(t.Context(), Options{Pool: &pool, Trace: tr, Policy: p})
			if err != nil {
				t.Fatalf("%s, %s: %v", tt.name, p.Name, err)
			}
			if res.JobsUnstarted != 0 || res.JobsOnCloud != 3 || res.Stopped != "" {
				t.Errorf("%s, %s: %d jobs unstarted, %d on the cloud, stopped %q: want all 3 run on the cloud",
					tt.name, p.Name, res.JobsUnstarted, res.JobsOnCloud, res.Stopped)
			}
		}
	}
}
