package policy

import (
	"math"
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

// TestSpotReclaimsCount: for jobs that checkpoint every 30 minutes, a
// spot offering is weighed by the work it delivers after its reclaims
// (Snapshot.SpotReclaims). Reclaimed every hour, each reclaim losing the
// work since the last checkpoint and a 5-minute boot, it delivers 31%
// less: at
// 56% of on-demand's price it still wins, at 73% it costs more per useful
// GPU-hour than on-demand. The reasons say so.
func TestSpotReclaimsCount(t *testing.T) {
	od := Offering{Name: "p5", Provider: "aws", Region: "us-east-1", InstanceType: "p5.48xlarge", GPUs: 8,
		PricePerHour: 55.04, Boot: Duration(5 * time.Minute), Market: MarketOnDemand, Billing: BillingPerSecondMin60}
	spot := od
	spot.Name, spot.Market = "p5-spot", MarketSpot
	pool := func(spotPrice float64) *Pool {
		s := spot
		s.PricePerHour = spotPrice
		p := dtPool(od, s)
		p.CheckpointInterval = Duration(30 * time.Minute)
		return p
	}
	for _, c := range []struct {
		name      string
		spotPrice float64
		rate      float64 // reclaims an instance-hour; 0: none known
		want      string
		reason    string
	}{
		{"nothing known: on list price", 35.2, 0, "p5-spot", ""},
		{"a reclaim a week: spot", 31.04, 1.0 / 168, "p5-spot", ""},
		{"reclaimed hourly: spot at 56% still wins", 31.04, 1, "p5-spot", "chose p5-spot at $5.64 per useful GPU-hour (1 × 8 GPUs, $31.04/h each, for 8 GPUs of jobs); its price counts its reclaims: one per instance every 1h, losing 31.3% of its GPU-hours"},
		{"reclaimed hourly: on-demand against spot at 73%", 40, 1, "p5", "passed over p5-spot at $7.27 ($5.00 before its reclaims: one per instance every 1h, losing 31.3% of its GPU-hours)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			snap := dtBusySnap(time.Hour, 8)
			if c.rate > 0 {
				snap.SpotReclaims = map[OfferingKey]float64{spot.Key(): c.rate}
			}
			p := Decide(pool(c.spotPrice), snap, nil, Spend{}, dtT0)
			if got := dtLaunched(p); len(got) != 1 || got[c.want] == 0 {
				t.Fatalf("launched %v, want %s; notes %q", got, c.want, p.Notes)
			}
			if c.reason != "" && !strings.Contains(p.Launches[0].Reason, c.reason) {
				t.Errorf("reason %q does not say %q", p.Launches[0].Reason, c.reason)
			}
		})
	}
}

// TestSpotProtectionIsNotPriced: an Alibaba spot instance cannot be
// reclaimed in its first hour (Offering.SpotProtection), so its reclaims
// cost only the hours an instance lives past it (Snapshot.BurstLife).
// Reclaimed once an exposed hour, with 30-minute checkpoints and a
// 5-minute boot, an exposed hour loses 31.3% of its work: instances used
// 45 minutes lose nothing, ones used 6 hours lose it on 5 of their 6 hours
// (26.0%), and either way spot at $31.04 beats on-demand at $44; with the
// life unknown, or without the protection, every hour is priced and
// on-demand wins.
func TestSpotProtectionIsNotPriced(t *testing.T) {
	od := Offering{Name: "gn7", Provider: "ali", Region: "cn-hangzhou", InstanceType: "ecs.gn7-c13g1.26xlarge", GPUs: 8,
		PricePerHour: 44, Boot: Duration(5 * time.Minute), Market: MarketOnDemand, Billing: BillingPerSecond}
	spot := od
	spot.Name, spot.Market, spot.PricePerHour, spot.SpotProtection = "gn7-spot", MarketSpot, 31.04, Duration(time.Hour)
	unprotected := spot
	unprotected.SpotProtection = 0
	for _, c := range []struct {
		name   string
		spot   Offering
		life   time.Duration // 0: unknown
		want   string
		reason string // "": the reason names no reclaims
	}{
		{"used 45 minutes, within the protection: no loss", spot, 45 * time.Minute, "gn7-spot", ""},
		{"used 6 hours: the loss on the 5 past the protection", spot, 6 * time.Hour, "gn7-spot",
			"its price counts its reclaims: one per instance every 1h past its 1h protection, losing 26.0% of its GPU-hours"},
		{"life unknown: every hour priced", spot, 0, "gn7",
			"passed over gn7-spot at $5.64 ($3.88 before its reclaims: one per instance every 1h past its 1h protection, losing 31.3% of its GPU-hours)"},
		{"no protection, used 45 minutes: every hour priced", unprotected, 45 * time.Minute, "gn7",
			"passed over gn7-spot at $5.64 ($3.88 before its reclaims: one per instance every 1h, losing 31.3% of its GPU-hours)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := dtPool(od, c.spot)
			p.CheckpointInterval = Duration(30 * time.Minute)
			snap := dtBusySnap(time.Hour, 8)
			snap.SpotReclaims = map[OfferingKey]float64{spot.Key(): 1}
			snap.BurstLife = c.life
			plan := Decide(p, snap, nil, Spend{}, dtT0)
			if got := dtLaunched(plan); len(got) != 1 || got[c.want] == 0 {
				t.Fatalf("launched %v, want %s; notes %q", got, c.want, plan.Notes)
			}
			r := plan.Launches[0].Reason
			if c.reason == "" && strings.Contains(r, "reclaims") || c.reason != "" && !strings.Contains(r, c.reason) {
				t.Errorf("reason %q, want it to say %q", r, c.reason)
			}
		})
	}
}

func TestSpotExposed(t *testing.T) {
	for _, c := range []struct {
		protection, life time.Duration
		want             float64
	}{
		{0, 45 * time.Minute, 1},
		{time.Hour, 0, 1},
		{time.Hour, 45 * time.Minute, 0},
		{time.Hour, time.Hour, 0},
		{time.Hour, 6 * time.Hour, 5.0 / 6},
	} {
		if got := SpotExposed(c.protection, c.life); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("SpotExposed(%s, %s) = %v, want %v", c.protection, c.life, got, c.want)
		}
	}
}

func TestSpotLoss(t *testing.T) {
	for _, c := range []struct {
		rate             float64
		checkpoint, boot time.Duration
		want             float64
	}{
		{0, 30 * time.Minute, 5 * time.Minute, 0},
		{-1, 30 * time.Minute, 5 * time.Minute, 0},
		// Rare reclaims: half an interval and a boot each.
		{1e-6, 30 * time.Minute, 6 * time.Minute, 1e-6 * 0.35},
		// One an hour, 30-minute checkpoints: 1 - 0.5/(e^0.5 - 1) and a boot.
		{1, 30 * time.Minute, 5 * time.Minute, 1 - 0.5/(math.Exp(0.5)-1) + 5.0/60},
		// No checkpoints: the whole life.
		{0.01, 0, 0, 1},
		{10, 30 * time.Minute, 5 * time.Minute, MaxSpotLoss},
	} {
		if got := SpotLoss(c.rate, c.checkpoint, c.boot); math.Abs(got-min(c.want, MaxSpotLoss)) > 1e-6*c.want {
			t.Errorf("SpotLoss(%v, %s, %s) = %v, want %v", c.rate, c.checkpoint, c.boot, got, c.want)
		}
	}
}
