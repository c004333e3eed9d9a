package sim

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// TestLifeWindowLeavesOutLastResortSpot: a pool with max_lifetime 2h and
// drain_timeout 10m, whose jobs do not checkpoint, lists an on-demand
// A100 offering and a spot H100 one twice as fast. A 3-hour 8-GPU job,
// larger than on-prem, finishes within 2h10m only on the spot offering,
// which no policy rents for such jobs while the on-demand one can be
// (policy.Pool.SpotLastResort). It was judged on the spot offering's
// speed and queued for the cloud: every policy ran it 13 times on
// on-demand instances, each killed at max_lifetime, billing about $806
// for 211 GPU-hours thrown away. It is never served, and nothing is
// rented for it; a pool of spot offerings alone is judged on them.
func TestLifeWindowLeavesOutLastResortSpot(t *testing.T) {
	od := policy.Offering{Name: "od", Provider: "aws", Region: "r", InstanceType: "a100x8", GPUs: 8, PricePerHour: 30,
		Boot: policy.Duration(2 * time.Minute), Billing: policy.BillingPerSecond, Market: policy.MarketOnDemand, Performance: 1}
	sp := policy.Offering{Name: "sp", Provider: "aws", Region: "r", InstanceType: "h100x8", GPUs: 8, PricePerHour: 25,
		Boot: policy.Duration(2 * time.Minute), Billing: policy.BillingPerSecond, Market: policy.MarketSpot, Performance: 2}
	tr := &trace.Trace{Name: "t", Start: trace.DefaultEpoch, Jobs: []trace.Job{{Submit: 0, Duration: 3 * time.Hour, GPUs: 8}}}
	for _, tt := range []struct {
		name       string
		offerings  []policy.Offering
		checkpoint time.Duration
		never      bool // the job is never served, and nothing rented
	}{
		{name: "on-demand and last-resort spot", offerings: []policy.Offering{od, sp}, never: true},
		{name: "spot alone", offerings: []policy.Offering{sp}},
		// A checkpoint past the window saves nothing within a run, but
		// spot is then no last resort: it is rented first, and finishes.
		{name: "spot checkpointing past the window", offerings: []policy.Offering{od, sp}, checkpoint: 3 * time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pool := policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 4}, Interval: policy.Duration(30 * time.Second),
				WaitTarget: policy.Duration(5 * time.Minute), Offerings: tt.offerings, CheckpointInterval: policy.Duration(tt.checkpoint),
				ScaleIn: policy.ScaleIn{MaxLifetime: policy.Duration(2 * time.Hour), DrainTimeout: policy.Duration(10 * time.Minute)}}
			note := CloudUnfinishable(&pool, tr)
			if tt.never != (note != "") || tt.never && !strings.Contains(note, "can run nowhere") {
				t.Errorf("note %q, want one naming the job as unfinishable on the cloud: %v", note, tt.never)
			}
			for _, p := range allPolicies() {
				if p.Name == PolicyOnPremOnly {
					continue
				}
				pl := pool
				res, err := Run(context.Background(), Options{Pool: &pl, Trace: tr, Policy: p, Floors: scheduleFloors})
				if err != nil {
					t.Fatalf("%s: %v", p.Name, err)
				}
				if res.JobsKilled > 0 || res.GPUHoursLost > 0 {
					t.Errorf("%s: %d runs killed, %.1f GPU-hours lost, $%.0f billed: the job was run where every run is killed", p.Name, res.JobsKilled, res.GPUHoursLost, res.CloudCostUSD)
				}
				if tt.never && (res.JobsNeverServed != 1 || res.Launches > 0) {
					t.Errorf("%s: %d never served, %d launches; want the job never served and nothing launched", p.Name, res.JobsNeverServed, res.Launches)
				}
				if !tt.never && (res.JobsNeverServed != 0 || res.JobsUnstarted != 0) {
					t.Errorf("%s: %d never served, %d unstarted; want the job run on spot", p.Name, res.JobsNeverServed, res.JobsUnstarted)
				}
			}
		})
	}
}
