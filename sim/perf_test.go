package sim

import (
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// TestExtremePerformance: a job runs duration ÷ performance on an
// offering, and config allows performance from 1e-9 to 1000. At 1e-9 an
// hour's job would run 114,000 years: it once overflowed the clock and
// ended at once (and the run's efficiency read 1,450). Now it is still
// running when the run stops for want of progress, and counts unstarted;
// at 1000 it runs 3.6 s.
func TestExtremePerformance(t *testing.T) {
	for _, tt := range []struct {
		perf        float64
		wantOnCloud int
	}{{1e-9, 0}, {1000, 1}} {
		pool := policy.Pool{Name: "p", Interval: policy.Duration(30 * time.Second),
			Offerings: []policy.Offering{{Name: "o", Provider: "aws", Region: "r", InstanceType: "t", GPUs: 1, PricePerHour: 1,
				Performance: tt.perf, Billing: policy.BillingPerSecond}},
			ScaleIn: policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}, DrainTimeout: policy.Duration(10 * time.Minute)}}
		tr := &trace.Trace{Name: "t", Start: trace.DefaultEpoch, Jobs: []trace.Job{{Submit: 0, Duration: time.Hour, GPUs: 1}}}
		res, err := Run(t.Context(), Options{Pool: &pool, Trace: tr, Policy: Spillway()})
		if err != nil {
			t.Fatalf("performance %g: %v", tt.perf, err)
		}
		if res.JobsOnCloud != tt.wantOnCloud || res.JobsUnstarted != 1-tt.wantOnCloud || res.Efficiency > 1 || res.UsedGPUHours > res.PaidGPUHours {
			t.Errorf("performance %g: %d jobs on cloud, %d unstarted, efficiency %g, used %g of %g paid GPU-h: want %d on cloud, efficiency ≤ 1",
				tt.perf, res.JobsOnCloud, res.JobsUnstarted, res.Efficiency, res.UsedGPUHours, res.PaidGPUHours, tt.wantOnCloud)
		}
	}
}
