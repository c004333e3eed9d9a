package sim

import (
	"context"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// TestSpotOnlyForCheckpointingPools: spot is rented for a pool whose jobs
// do not checkpoint only as a last resort — by the spillway policy
// (policy.SpotLastResort) and by the baselines, whose operators would not
// list it — and competes on price once the pool declares
// checkpoint_interval.
func TestSpotOnlyForCheckpointingPools(t *testing.T) {
	tr := loadTestTrace(t, "one4.csv")
	pool := func(checkpoint time.Duration) *policy.Pool {
		od := offering4
		od.Name, od.InstanceType = "od", "c4"
		spot := od
		spot.Name, spot.Market, spot.PricePerHour = "spot", policy.MarketSpot, od.PricePerHour/3
		return &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 0, GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
			WaitTarget: policy.Duration(time.Minute), CheckpointInterval: policy.Duration(checkpoint),
			ScaleIn:   policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}, DrainTimeout: policy.Duration(10 * time.Minute)},
			Offerings: []policy.Offering{spot, od}}
	}
	for _, name := range []string{PolicySpillway, PolicyThreshold, PolicyPerJob, PolicyKarpenter} {
		for _, c := range []struct {
			checkpoint time.Duration
			want       string
		}{{0, "od"}, {30 * time.Minute, "spot"}} {
			p, err := PolicyByName(name)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Run(context.Background(), Options{Pool: pool(c.checkpoint), Trace: tr, Policy: p})
			if err != nil {
				t.Fatal(err)
			}
			if res.CostByOffering[c.want] <= 0 || len(res.CostByOffering) != 1 {
				t.Errorf("%s, checkpoint_interval %s: cost by offering %v, want all on %s", name, c.checkpoint, res.CostByOffering, c.want)
			}
		}
	}
}

// TestEfficiencyAtMostOneWithLastResortSpot: jobs that do not checkpoint,
// an on-demand offering max_cost_per_hour keeps out, and a spot one taken
// as the last resort. The efficiency reference leaves such spot out until
// it is launched; launched, it is the price on offer, and efficiency stays
// at most 1 (it came out near 3).
func TestEfficiencyAtMostOneWithLastResortSpot(t *testing.T) {
	od := policy.Offering{Name: "od", Provider: "p", Region: "r", InstanceType: "x8", GPUs: 8, PricePerHour: 30,
		Boot: policy.Duration(time.Minute), Billing: policy.BillingPerSecond, Market: policy.MarketOnDemand}
	spot := od
	spot.Name, spot.Market, spot.PricePerHour = "spot", policy.MarketSpot, 10
	pool := &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
		WaitTarget: policy.Duration(time.Minute), Limits: policy.Limits{MaxCostPerHour: 20},
		ScaleIn:   policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}, DrainTimeout: policy.Duration(10 * time.Minute)},
		Offerings: []policy.Offering{od, spot}}
	tr := &trace.Trace{Name: "spot", Start: trace.DefaultEpoch, Jobs: []trace.Job{
		{Submit: 0, Duration: 10 * time.Hour, GPUs: 8}, {Submit: time.Minute, Duration: time.Hour, GPUs: 8}}}
	res, err := Run(context.Background(), Options{Pool: pool, Trace: tr, Policy: Spillway()})
	if err != nil {
		t.Fatal(err)
	}
	if res.CostByOffering["spot"] <= 0 || res.CostByOffering["od"] > 0 {
		t.Fatalf("cost by offering %v: want the spot offering taken as the last resort", res.CostByOffering)
	}
	if res.Efficiency > 1+1e-9 || res.Efficiency < 0.5 {
		t.Errorf("efficiency %.3f, want at most 1 (and above 0.5: one job on one instance)", res.Efficiency)
	}
}
