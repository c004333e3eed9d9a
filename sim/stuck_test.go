package sim

import (
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// TestStuckRunEnds: a job that can never finish (every instance reaches
// max_lifetime and its drain timeout before the job's end, and the job
// does not checkpoint) is relaunched and killed until the run stops for
// want of progress: no job finished for a day plus the longest job plus,
// with a budget, the budget's longest period (a spent budget holds
// launches back that long). It was a month whatever the period: at a 1s
// interval a five-job trace took 157 s of wall time.
func TestStuckRunEnds(t *testing.T) {
	for _, tt := range []struct {
		period   policy.BudgetPeriod
		min, max time.Duration // the run's end, as the unstarted job's wait
	}{
		{"", 29 * time.Hour, 30 * time.Hour},
		{policy.PeriodDay, 53 * time.Hour, 54 * time.Hour},
		{policy.PeriodWeek, 197 * time.Hour, 198 * time.Hour},
		{policy.PeriodMonth, 773 * time.Hour, 774 * time.Hour},
	} {
		pool := policy.Pool{Name: "p", Interval: policy.Duration(time.Minute), OnPrem: policy.OnPrem{GPUsPerNode: 8},
			Offerings: []policy.Offering{{Name: "o", Provider: "aws", Region: "r", InstanceType: "t", GPUs: 8, PricePerHour: 1, Billing: policy.BillingPerSecond}},
			ScaleIn: policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}, MaxLifetime: policy.Duration(10 * time.Minute),
				DrainTimeout: policy.Duration(time.Minute)}}
		if tt.period != "" {
			pool.Limits.Budget = &policy.Budget{Amount: 1e6, Period: tt.period}
		}
		tr := &trace.Trace{Name: "t", Start: trace.DefaultEpoch, Jobs: []trace.Job{{Submit: 0, Duration: 5 * time.Hour, GPUs: 8}}}
		res, err := Run(t.Context(), Options{Pool: &pool, Trace: tr, Policy: Spillway()})
		if err != nil {
			t.Fatal(err)
		}
		if end := time.Duration(res.WaitMaxS * float64(time.Second)); res.JobsUnstarted != 1 || res.JobsKilled == 0 || end < tt.min || end > tt.max {
			t.Errorf("budget period %q: %d unstarted, %d kills, the run ended after %s: want 1 unstarted, kills, the end within %s–%s",
				tt.period, res.JobsUnstarted, res.JobsKilled, end, tt.min, tt.max)
		}
	}
}
