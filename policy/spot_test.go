package policy

import (
	"strings"
	"testing"
	"time"
)

// TestSpotIsALastResortWithoutCheckpoints: a pool whose jobs do not
// checkpoint rents spot only when no on-demand offering can be launched,
// however cheap the spot price; with checkpoint_interval set, spot competes
// on price like any offering. Floors follow the same rule.
func TestSpotIsALastResortWithoutCheckpoints(t *testing.T) {
	od := Offering{Name: "p5", Provider: "aws", Region: "us-east-1", InstanceType: "p5.48xlarge", GPUs: 8,
		PricePerHour: 55.04, Boot: Duration(5 * time.Minute), Market: MarketOnDemand, Billing: BillingPerSecondMin60}
	spot := od
	spot.Name, spot.Market, spot.PricePerHour = "p5-spot", MarketSpot, 31.04
	snap := dtBusySnap(time.Hour, 8)
	outOfStock := snap
	outOfStock.Unavailable = map[OfferingKey]time.Time{od.Key(): dtT0.Add(time.Hour)}
	floor := Snapshot{OnPremGPUs: 32, OnPremBusyGPUs: 0, OnPremFreeGPUs: 32,
		Floors: []Floor{{Owner: "burst-1", GPUs: 8, Until: dtT0.Add(time.Hour), Reason: "manual"}}}
	checkpointing := func(p *Pool) *Pool { p.CheckpointInterval = Duration(30 * time.Minute); return p }
	for _, c := range []struct {
		name   string
		pool   *Pool
		snap   Snapshot
		want   string
		reason string
	}{
		{"no checkpoints: on-demand despite the cheaper spot", dtPool(spot, od), snap, "p5", "passed over p5-spot at $3.88: the pool's jobs do not checkpoint"},
		{"no checkpoints, on-demand out of stock: spot as a last resort", dtPool(spot, od), outOfStock, "p5-spot", "spot as a last resort"},
		{"checkpoints: spot on price", checkpointing(dtPool(od, spot)), snap, "p5-spot", ""},
		{"no checkpoints, a floor: on-demand", dtPool(spot, od), floor, "p5", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := Decide(c.pool, c.snap, nil, Spend{}, dtT0)
			if got := dtLaunched(p); len(got) != 1 || got[c.want] == 0 {
				t.Fatalf("launched %v, want %s; notes %q", got, c.want, p.Notes)
			}
			if c.reason != "" && !strings.Contains(p.Launches[0].Reason, c.reason) {
				t.Errorf("reason %q does not say %q", p.Launches[0].Reason, c.reason)
			}
		})
	}
}
