package sim

import (
	"context"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
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
