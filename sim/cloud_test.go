package sim

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// cloudPool has no on-prem GPUs and two 8-GPU offerings: a cheap one and a
// dearer fallback.
func cloudPool(market policy.Market) *policy.Pool {
	return &policy.Pool{Name: "c", OnPrem: policy.OnPrem{Nodes: 0, GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
		ScaleIn: policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}, DrainTimeout: policy.Duration(time.Hour)},
		Offerings: []policy.Offering{
			{Name: "cheap", Provider: "aws", Region: "r", InstanceType: "a", GPUs: 8, PricePerHour: 8, Boot: policy.Duration(3 * time.Minute), Market: market, Billing: policy.BillingPerSecond},
			{Name: "dear", Provider: "ali", Region: "r", InstanceType: "b", GPUs: 8, PricePerHour: 12, Boot: policy.Duration(3 * time.Minute), Billing: policy.BillingPerSecond},
		}}
}

func cloudTrace(n int, dur time.Duration) *trace.Trace {
	tr := &trace.Trace{Name: "c", Start: trace.DefaultEpoch}
	for k := range n {
		tr.Jobs = append(tr.Jobs, trace.Job{Submit: time.Duration(k) * 2 * time.Hour, Duration: dur, GPUs: 8})
	}
	return tr
}

// TestStockOutFallsBack: the cheap offering is always out of stock. Its
// launch fails as a capacity error, enters the capacity cache, and the
// policy (spillway, or karpenter with its ICE cache) falls back to the dear
// one in the same tick; every job runs.
func TestStockOutFallsBack(t *testing.T) {
	c := DefaultCloud(3)
	c.SpotMeanLife = 0
	c.Stock = map[string]StockModel{"cheap": {MeanInStock: time.Nanosecond, MeanOutOfStock: 1e6 * time.Hour}}
	for _, pol := range []Policy{Spillway(), Admitted(Karpenter())} {
		stockOutFallsBack(t, pol, c)
	}
}

func stockOutFallsBack(t *testing.T, pol Policy, c *Cloud) {
	t.Helper()
	res, err := Run(context.Background(), Options{Pool: cloudPool(""), Trace: cloudTrace(5, time.Hour), Policy: pol, Cloud: c})
	if err != nil {
		t.Fatal(err)
	}
	if res.FailedLaunches["capacity"] == 0 || res.CostByOffering["cheap"] != 0 || res.CostByOffering["dear"] == 0 {
		t.Errorf("%s: failed %v, cost by offering %v: want capacity failures on cheap and everything on dear", pol.Name, res.FailedLaunches, res.CostByOffering)
	}
	if res.JobsOnCloud != 5 || res.JobsUnstarted != 0 {
		t.Errorf("%s: %d jobs on cloud, %d unstarted: want all 5 run", pol.Name, res.JobsOnCloud, res.JobsUnstarted)
	}
	// The capacity cache keeps the failed offering out for its TTL: far
	// fewer failures than evaluations.
	if res.FailedLaunches["capacity"] > 5*int(time.Hour/c.CapacityTTL)+5 {
		t.Errorf("%d capacity failures for 5 jobs: the capacity cache is not used", res.FailedLaunches["capacity"])
	}
}

// TestStockOutSchedule: the cheap offering is out of stock from 1h30m to
// 4h30m after the first submission and never otherwise (a schedule, as
// simulate.cloud.offerings' out_of_stock gives it). The jobs submitted at
// 2h and 4h fall back to the dear offering, with capacity failures; the
// other three run on the cheap one. Every policy sees the same stock.
func TestStockOutSchedule(t *testing.T) {
	c := DefaultCloud(3)
	c.SpotMeanLife, c.MeanOutOfStock, c.BootP95 = 0, 0, 1
	c.Stock = map[string]StockModel{"cheap": {MeanInStock: time.Hour, MeanOutOfStock: 0,
		OutOfStock: []Window{{From: 90 * time.Minute, Until: 3 * time.Hour}, {From: 3 * time.Hour, Until: 270 * time.Minute}}}}
	// Each run: an hour of work on an instance of price an hour, plus its
	// boot and at most a short idle spell.
	within := func(cost, price float64, jobs int) bool {
		return cost >= float64(jobs)*price && cost <= float64(jobs)*price*1.25
	}
	for _, pol := range []Policy{Spillway(), Admitted(Karpenter()), Admitted(PerJob())} {
		res, err := Run(context.Background(), Options{Pool: cloudPool(""), Trace: cloudTrace(5, time.Hour), Policy: pol, Cloud: c})
		if err != nil {
			t.Fatal(err)
		}
		cheap, dear := res.CostByOffering["cheap"], res.CostByOffering["dear"]
		if res.FailedLaunches["capacity"] < 2 || !within(cheap, 8, 3) || !within(dear, 12, 2) || res.JobsOnCloud != 5 {
			t.Errorf("%s: failed %v, cheap $%.2f, dear $%.2f, %d jobs on cloud: want capacity failures, 3 runs on cheap ($24–30) and 2 on dear ($24–30)",
				pol.Name, res.FailedLaunches, cheap, dear, res.JobsOnCloud)
		}
	}
}

// TestSpotReclaim: spot instances reclaimed every 2 hours on average under
// 3-hour jobs: runs are killed after the notice, requeued, the lost
// GPU-hours counted, and every job finishes in the end.
func TestSpotReclaim(t *testing.T) {
	c := &Cloud{Seed: 5, SpotMeanLife: 2 * time.Hour, SpotNotice: 2 * time.Minute}
	pool := cloudPool(policy.MarketSpot)
	pool.Offerings = pool.Offerings[:1]
	res, err := Run(context.Background(), Options{Pool: pool, Trace: cloudTrace(6, 3*time.Hour), Policy: Spillway(), Cloud: c})
	if err != nil {
		t.Fatal(err)
	}
	if res.Interruptions == 0 || res.JobsKilled == 0 || res.GPUHoursLost <= 0 {
		t.Errorf("interruptions %d, kills %d, lost %.1f GPU-h: want reclaims to cost work", res.Interruptions, res.JobsKilled, res.GPUHoursLost)
	}
	if res.JobsUnstarted != 0 || res.JobsOnCloud != 6 {
		t.Errorf("%d unstarted, %d on cloud: want all 6 jobs to finish", res.JobsUnstarted, res.JobsOnCloud)
	}
	ideal, err := Run(context.Background(), Options{Pool: pool, Trace: cloudTrace(6, 3*time.Hour), Policy: Spillway()})
	if err != nil {
		t.Fatal(err)
	}
	if ideal.Interruptions != 0 || ideal.JobsKilled != 0 || res.CloudCostUSD <= ideal.CloudCostUSD {
		t.Errorf("ideal cloud: %d interruptions, %d kills, $%.2f vs $%.2f with reclaims", ideal.Interruptions, ideal.JobsKilled, ideal.CloudCostUSD, res.CloudCostUSD)
	}
}

// TestKilledRunIsNotWaiting: a job's wait is the time it spent queued,
// its first wait and each wait after a kill, not the runs a spot reclaim
// cut short (those are lost GPU-hours, counted apart). One 6-hour job on a
// spot offering whose instances live an hour on average is killed again
// and again; each time it waits only for a new instance to boot.
func TestKilledRunIsNotWaiting(t *testing.T) {
	c := &Cloud{Seed: 5, SpotMeanLife: time.Hour, SpotNotice: 2 * time.Minute}
	pool := cloudPool(policy.MarketSpot)
	pool.Offerings = pool.Offerings[:1]
	pool.WaitTarget = policy.Duration(time.Minute)
	tr := cloudTrace(1, 6*time.Hour)
	res, err := Run(context.Background(), Options{Pool: pool, Trace: tr, Policy: Spillway(), Cloud: c})
	if err != nil {
		t.Fatal(err)
	}
	if res.JobsKilled < 2 || res.GPUHoursLost < 8 {
		t.Fatalf("%d kills, %.1f GPU-hours lost: want the reclaims to kill the job's runs, an hour or more of work lost", res.JobsKilled, res.GPUHoursLost)
	}
	// Each wait is a launch's boot (3 minutes, fixed) and the decisions
	// around it.
	if limit := float64(res.JobsKilled+1) * (10 * time.Minute).Seconds(); res.WaitMaxS > limit {
		t.Errorf("wait %s over %d runs: want at most 10 minutes a run, the killed runs' %.1f GPU-hours not counted as waiting",
			time.Duration(res.WaitMaxS*float64(time.Second)), res.JobsKilled+1, res.GPUHoursLost)
	}
}

// TestReclaimSkipsTheOffering: a spot instance reclaimed before it comes
// up is a failed launch, whose offering enters the capacity cache for its
// TTL, as the server records it: with a cheap spot offering that takes 20
// minutes to boot and lives 5 minutes on average, spillway and karpenter
// soon rent the dearer on-demand fallback, which is never reclaimed, instead
// of relaunching spot that rarely comes up. A reclaim after the instance
// came up is the price of spot, not a failed launch (TestSpotReclaim).
func TestReclaimSkipsTheOffering(t *testing.T) {
	c := &Cloud{Seed: 5, SpotMeanLife: 5 * time.Minute, SpotNotice: 2 * time.Minute, CapacityTTL: 3 * time.Minute}
	pool := cloudPool(policy.MarketSpot)
	pool.Offerings[0].Boot = policy.Duration(20 * time.Minute)
	pool.CheckpointInterval = policy.Duration(10 * time.Minute) // spot competes on price
	tr := &trace.Trace{Name: "r", Start: trace.DefaultEpoch, Jobs: []trace.Job{{Duration: 2 * time.Hour, GPUs: 8}}}
	for _, pol := range []Policy{Spillway(), Admitted(Karpenter())} {
		res, err := Run(context.Background(), Options{Pool: pool, Trace: tr, Policy: pol, Cloud: c})
		if err != nil {
			t.Fatal(err)
		}
		if res.Interruptions > 3 || res.FailedLaunches["reclaimed_booting"] != res.Interruptions || res.CostByOffering["dear"] == 0 || res.JobsOnCloud != 1 || res.JobsUnstarted != 0 {
			t.Errorf("%s: %d reclaims, failed launches %v, cost by offering %v, %d jobs on cloud: want a reclaimed boot or few, each a failed launch, then the job on dear",
				pol.Name, res.Interruptions, res.FailedLaunches, res.CostByOffering, res.JobsOnCloud)
		}
		for cause := range res.FailedLaunches {
			if why := failureCause(cause, ""); why == failureCause("", "") {
				t.Errorf("%s: failed-launch cause %q has no explanation in the report (%q)", pol.Name, cause, why)
			}
		}
	}
}

// TestCloudSeed: the same seed gives the same result, another seed another.
func TestCloudSeed(t *testing.T) {
	pool := WithOnPremGPUs(backtestPool(t), 8)
	tr := loadBundled(t, "itp/cluster05.csv")
	run := func(seed uint64) Result {
		p := pool
		res, err := Run(context.Background(), Options{Pool: &p, Trace: tr, Policy: Spillway(), Cloud: DefaultCloud(seed)})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b, c := run(1), run(1), run(2)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("seed 1 twice differs:\n%+v\n%+v", a, b)
	}
	if a.CloudCostUSD == c.CloudCostUSD && a.WaitP95S == c.WaitP95S {
		t.Errorf("seeds 1 and 2 give the same run: %+v", a)
	}
	if a.FailedLaunches["capacity"] == 0 {
		t.Errorf("no stock-out met in two months: %+v", a.FailedLaunches)
	}
}

// TestQuotaBlocks: a 16-GPU quota on the cheap provider. Launches beyond it
// fail as quota errors, block the provider in the snapshot, and the policy
// rents the other provider for the rest; the cheap provider never holds
// more than its quota.
func TestQuotaBlocks(t *testing.T) {
	c := &Cloud{Seed: 1, Quota: map[string]int{"aws": 16}, QuotaTTL: 10 * time.Minute}
	tr := &trace.Trace{Name: "q", Start: trace.DefaultEpoch}
	for range 4 {
		tr.Jobs = append(tr.Jobs, trace.Job{Submit: 0, Duration: time.Hour, GPUs: 8})
	}
	res, err := Run(context.Background(), Options{Pool: cloudPool(""), Trace: tr, Policy: Spillway(), Cloud: c})
	if err != nil {
		t.Fatal(err)
	}
	if res.FailedLaunches["quota"] == 0 || res.CostByProvider["ali"] == 0 || res.JobsOnCloud != 4 {
		t.Errorf("failed %v, cost by provider %v, %d on cloud: want quota failures, the rest on ali, all 4 run", res.FailedLaunches, res.CostByProvider, res.JobsOnCloud)
	}
	// Two $8/h instances for the hour's job, boot and idle tail included.
	if aws := res.CostByProvider["aws"]; aws > 2*8*1.25 {
		t.Errorf("aws billed $%.2f: more than two 8-GPU instances for about an hour", aws)
	}
}

// TestSpotPerOffering: a per-offering spot model overrides the cloud's,
// both ways: reclaims where the cloud has none, none where it has them;
// and its notice is the time jobs keep running before the reclaim.
func TestSpotPerOffering(t *testing.T) {
	pool := cloudPool(policy.MarketSpot)
	pool.Offerings = pool.Offerings[:1]
	for _, tt := range []struct {
		name     string
		cloud    Cloud
		reclaims bool
	}{
		{"cloud never reclaims, the offering does", Cloud{Seed: 5, Spot: map[string]SpotModel{"cheap": {MeanLife: 2 * time.Hour, Notice: 2 * time.Minute}}}, true},
		{"cloud reclaims, the offering never", Cloud{Seed: 5, SpotMeanLife: 2 * time.Hour, Spot: map[string]SpotModel{"cheap": {}}, SpotNotice: 2 * time.Minute}, false},
		{"another offering's override changes nothing", Cloud{Seed: 5, SpotMeanLife: 2 * time.Hour, Spot: map[string]SpotModel{"dear": {}}, SpotNotice: 2 * time.Minute}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cloud
			res, err := Run(context.Background(), Options{Pool: pool, Trace: cloudTrace(6, 3*time.Hour), Policy: Spillway(), Cloud: &c})
			if err != nil {
				t.Fatal(err)
			}
			if (res.Interruptions > 0) != tt.reclaims || res.JobsOnCloud != 6 {
				t.Errorf("%d interruptions, %d jobs on cloud: want reclaims %v and all 6 jobs run", res.Interruptions, res.JobsOnCloud, tt.reclaims)
			}
		})
	}
}

// TestBootSpreadPerOffering: an offering's own boot_p95 replaces the
// cloud's: fixed boots for one, spread around the same median for the
// other, with about one boot in twenty past the p95.
func TestBootSpreadPerOffering(t *testing.T) {
	fixed := policy.Offering{Name: "baked", Boot: policy.Duration(4 * time.Minute)}
	spread := policy.Offering{Name: "pulls", Boot: policy.Duration(4 * time.Minute)}
	cs := newCloudState(&Cloud{Seed: 3, BootP95: 3, OfferingBootP95: map[string]float64{"baked": 1}})
	const n = 4000
	var over, below int
	for range n {
		if b := cs.boot(fixed); b != 4*time.Minute {
			t.Fatalf("offering with boot_p95 1: boot %s, want its 4m every time", b)
		}
		b := cs.boot(spread)
		if b > 12*time.Minute {
			over++
		}
		if b < 4*time.Minute {
			below++
		}
	}
	if over < n/40 || over > n/10 || below < n*4/10 || below > n*6/10 {
		t.Errorf("the cloud's boot_p95 3 around 4m: %d of %d boots past 12m (want about 5%%), %d below 4m (want about half)", over, n, below)
	}
}

// TestSpotProtection: no reclaim comes within a spot instance's
// protection period (Alibaba's hour), whether it is the offering's own,
// its provider's or the cloud's: 50-minute jobs on spot instances living
// 20 minutes on average are killed again and again without one, never
// with one.
func TestSpotProtection(t *testing.T) {
	pool := cloudPool(policy.MarketSpot)
	pool.Offerings = pool.Offerings[:1] // "cheap", provider "aws"
	quick := SpotModel{MeanLife: 20 * time.Minute, Notice: 2 * time.Minute}
	kept := quick
	kept.Protection = time.Hour
	for _, tt := range []struct {
		name  string
		cloud Cloud
		kills bool
	}{
		{"none", Cloud{SpotMeanLife: quick.MeanLife, SpotNotice: quick.Notice}, true},
		{"the cloud's", Cloud{SpotMeanLife: quick.MeanLife, SpotNotice: quick.Notice, SpotProtection: time.Hour}, false},
		{"the provider's", Cloud{SpotMeanLife: quick.MeanLife, SpotNotice: quick.Notice, SpotByProvider: map[string]SpotModel{"aws": kept}}, false},
		{"another provider's", Cloud{SpotMeanLife: quick.MeanLife, SpotNotice: quick.Notice, SpotByProvider: map[string]SpotModel{"ali": kept}}, true},
		{"the offering's over its provider's", Cloud{SpotByProvider: map[string]SpotModel{"aws": kept}, Spot: map[string]SpotModel{"cheap": quick}}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cloud
			c.Seed = 5
			res, err := Run(context.Background(), Options{Pool: pool, Trace: cloudTrace(6, 50*time.Minute), Policy: Spillway(), Cloud: &c})
			if err != nil {
				t.Fatal(err)
			}
			if (res.JobsKilled > 0) != tt.kills || res.JobsOnCloud != 6 || res.JobsUnstarted != 0 {
				t.Errorf("%d runs killed, %d jobs on cloud, %d unstarted: want kills %v and all 6 jobs run", res.JobsKilled, res.JobsOnCloud, res.JobsUnstarted, tt.kills)
			}
		})
	}
}

// TestSpotNoticePerOffering: an offering's own notice is how long its jobs
// keep running after a reclaim notice: without one, reclaims kill jobs;
// with one longer than any job (and a drain timeout longer still), every
// job finishes first.
func TestSpotNoticePerOffering(t *testing.T) {
	pool := cloudPool(policy.MarketSpot)
	pool.Offerings = pool.Offerings[:1]
	pool.ScaleIn.DrainTimeout = policy.Duration(10 * time.Hour)
	run := func(notice time.Duration) Result {
		c := &Cloud{Seed: 5, SpotMeanLife: 2 * time.Hour, SpotNotice: 2 * time.Minute, Spot: map[string]SpotModel{"cheap": {MeanLife: 2 * time.Hour, Notice: notice}}}
		res, err := Run(context.Background(), Options{Pool: pool, Trace: cloudTrace(6, 3*time.Hour), Policy: Spillway(), Cloud: c})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	short, long := run(0), run(3*time.Hour)
	if short.JobsKilled == 0 || long.JobsKilled != 0 || long.Interruptions == 0 {
		t.Errorf("no notice: %d kills; a 3-hour notice (longer than any job): %d kills over %d interruptions: want kills only without notice",
			short.JobsKilled, long.JobsKilled, long.Interruptions)
	}
}

// TestJoinTimeout: the cheap offering boots in 12 minutes (fixed), within
// the pool's 15-minute wait target. Spillway, at a 10-minute join timeout,
// ends its first instance as never joined, a failed launch that skips the
// offering for the capacity TTL, and runs the job on the dear one; at the
// pool's default (three boots) it waits for the cheap one. Karpenter waits
// at its 15-minute registration TTL; at 10 minutes it ends each instance
// and launches the same offering again (it caches no capacity error for
// it), so the job never runs.
func TestJoinTimeout(t *testing.T) {
	c := &Cloud{Seed: 1, CapacityTTL: 3 * time.Minute}
	pool := cloudPool("")
	pool.Offerings[0].Boot = policy.Duration(12 * time.Minute)
	pool.WaitTarget = policy.Duration(15 * time.Minute)
	tr := &trace.Trace{Name: "j", Start: trace.DefaultEpoch, Jobs: []trace.Job{{Duration: 2 * time.Hour, GPUs: 8}}}
	for _, tt := range []struct {
		name     string
		knob     string // a knob, or "" for none
		spillway bool
		// timeouts: 0 none, 1 exactly one, 2 at least two.
		timeouts  int
		onDear    bool
		jobRuns   bool
		waitBelow time.Duration
	}{
		{name: "spillway at 10m", knob: "10m", spillway: true, timeouts: 1, onDear: true, jobRuns: true, waitBelow: 17 * time.Minute},
		{name: "spillway at its default", spillway: true, jobRuns: true, waitBelow: 16 * time.Minute},
		{name: "karpenter at 15m", jobRuns: true, waitBelow: 13 * time.Minute},
		{name: "karpenter at 10m", knob: "karpenter.registration_ttl=10m", timeouts: 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var k BaselineKnobs
			pol := Admitted(KarpenterWith(k))
			if tt.spillway {
				if tt.knob != "" {
					d, _ := time.ParseDuration(tt.knob)
					k.JoinTimeout = d
				}
				pol = SpillwayWith(k)
			} else if tt.knob != "" {
				if err := k.ParseBaselineKnob(tt.knob); err != nil {
					t.Fatal(err)
				}
				pol = Admitted(KarpenterWith(k))
			}
			p := *pool
			res, err := Run(context.Background(), Options{Pool: &p, Trace: tr, Policy: pol, Cloud: c})
			if err != nil {
				t.Fatal(err)
			}
			n := res.FailedLaunches["join_timeout"]
			if (tt.timeouts < 2 && n != tt.timeouts) || (tt.timeouts == 2 && n < 2) {
				t.Errorf("%d join timeouts (failed launches %v), want %d (2: at least 2)", n, res.FailedLaunches, tt.timeouts)
			}
			if on := res.CostByOffering["dear"] > 0; on != tt.onDear {
				t.Errorf("cost by offering %v: on dear %v, want %v", res.CostByOffering, on, tt.onDear)
			}
			if runs := res.JobsOnCloud == 1; runs != tt.jobRuns {
				t.Errorf("%d jobs on cloud (%d unstarted), want the job to run: %v", res.JobsOnCloud, res.JobsUnstarted, tt.jobRuns)
			}
			if tt.jobRuns && res.WaitMaxS >= tt.waitBelow.Seconds() {
				t.Errorf("the job waited %.0fs, want under %s", res.WaitMaxS, tt.waitBelow)
			}
			if n > 0 && failureCause("join_timeout", "") == failureCause("", "") {
				t.Error("join_timeout has no explanation in the report")
			}
		})
	}
}

// TestSpillwayLearnsSpotReclaims: a spot offering at two thirds of
// on-demand's price whose instances are reclaimed an hour after launch on
// average, for jobs that checkpoint every two hours: a reclaim often comes
// before a checkpoint and throws away the whole run, and a boot. Spillway learns the rate from the
// notices (package spotlife) and moves to on-demand once that costs more
// than the discount; without the rate it keeps renting spot (on-demand only
// for the minutes after a reclaim before boot skips the offering).
// Learning throws away less work and costs less.
func TestSpillwayLearnsSpotReclaims(t *testing.T) {
	pool := &policy.Pool{Name: "s", OnPrem: policy.OnPrem{Nodes: 0, GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
		WaitTarget: policy.Duration(time.Minute), CheckpointInterval: policy.Duration(2 * time.Hour),
		ScaleIn: policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}, DrainTimeout: policy.Duration(time.Hour)},
		Offerings: []policy.Offering{
			{Name: "spot", Provider: "aws", Region: "r", InstanceType: "a", GPUs: 8, PricePerHour: 20, Boot: policy.Duration(5 * time.Minute), Market: policy.MarketSpot, Billing: policy.BillingPerSecond},
			{Name: "od", Provider: "aws", Region: "r", InstanceType: "a", GPUs: 8, PricePerHour: 30, Boot: policy.Duration(5 * time.Minute), Billing: policy.BillingPerSecond},
		}}
	tr := &trace.Trace{Name: "s", Start: trace.DefaultEpoch}
	for k := range 40 {
		tr.Jobs = append(tr.Jobs, trace.Job{Submit: time.Duration(k) * 15 * time.Minute, Duration: 6 * time.Hour, GPUs: 8})
	}
	c := &Cloud{Seed: 4, CapacityTTL: 3 * time.Minute, SpotMeanLife: time.Hour, SpotNotice: 2 * time.Minute}
	run := func(learns bool) Result {
		pol := Spillway()
		pol.LearnsSpot = learns
		p := *pool
		res, err := Run(context.Background(), Options{Pool: &p, Trace: tr, Policy: pol, Cloud: c})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	blind, learnt := run(false), run(true)
	t.Logf("blind: $%.0f, %d reclaims, %.0f GPU-h lost, by offering %v", blind.CloudCostUSD, blind.Interruptions, blind.GPUHoursLost, blind.CostByOffering)
	t.Logf("learnt: $%.0f, %d reclaims, %.0f GPU-h lost, by offering %v", learnt.CloudCostUSD, learnt.Interruptions, learnt.GPUHoursLost, learnt.CostByOffering)
	if learnt.CostByOffering["spot"] >= blind.CostByOffering["spot"]/2 || learnt.GPUHoursLost >= blind.GPUHoursLost/2 || learnt.CloudCostUSD >= blind.CloudCostUSD {
		t.Errorf("learning the rate: $%.0f and %.0f GPU-h lost (%v), want less than half the spot, less than half the lost work and less than $%.0f (%.0f GPU-h lost, %v)",
			learnt.CloudCostUSD, learnt.GPUHoursLost, learnt.CostByOffering, blind.CloudCostUSD, blind.GPUHoursLost, blind.CostByOffering)
	}
}

// TestSiblingCameUp: a join timeout skips the offering unless another
// instance of it, launched with the one that timed out or after it, has
// come up (the server's rule, scheduler.joinedSibling).
func TestSiblingCameUp(t *testing.T) {
	cheap, dear := policy.Offering{Name: "cheap", Provider: "aws", Region: "r", InstanceType: "c", GPUs: 8},
		policy.Offering{Name: "dear", Provider: "aws", Region: "r", InstanceType: "d", GPUs: 8}
	inst := func(o policy.Offering, launched, ready time.Duration) *instance {
		return &instance{off: o, launched: launched, ready: ready, ended: -1}
	}
	slow := inst(cheap, time.Hour, -1)
	for _, tt := range []struct {
		name   string
		others []*instance
		want   bool
	}{
		{"launched with it, came up", []*instance{inst(cheap, time.Hour, time.Hour+5*time.Minute)}, true},
		{"launched after it, came up", []*instance{inst(cheap, time.Hour+time.Minute, time.Hour+6*time.Minute)}, true},
		{"launched with it, still booting", []*instance{inst(cheap, time.Hour, -1)}, false},
		{"launched before it, came up", []*instance{inst(cheap, time.Hour-time.Minute, time.Hour+4*time.Minute)}, false},
		{"another offering came up", []*instance{inst(dear, time.Hour, time.Hour+5*time.Minute)}, false},
		{"alone", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &state{}
			for i, in := range append([]*instance{slow}, tt.others...) {
				s.slots = append(s.slots, in)
				s.slotOf = append(s.slotOf, int32(i+1))
				s.alive = append(s.alive, int32(i))
			}
			if got := s.siblingCameUp(slow); got != tt.want {
				t.Errorf("siblingCameUp = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSpillwayPricesSpotProtection: Alibaba spot instances cannot be
// reclaimed in their first hour (Offering.SpotProtection), but past it
// this one is reclaimed every 30 minutes on average. Six-hour jobs, which
// checkpoint hourly, first teach Spillway that rate and send it to
// on-demand; then come 40-minute jobs, two hours apart, each on an
// instance that lives less than the protection. Their hours cannot be
// reclaimed: Spillway rents spot for them again, loses no more work and
// pays less than it would pricing every hour at the learnt rate.
func TestSpillwayPricesSpotProtection(t *testing.T) {
	spot := policy.Offering{Name: "spot", Provider: "ali", Region: "r", InstanceType: "a", GPUs: 8, PricePerHour: 20,
		Boot: policy.Duration(5 * time.Minute), Market: policy.MarketSpot, Billing: policy.BillingPerSecond, SpotProtection: policy.Duration(time.Hour)}
	od := policy.Offering{Name: "od", Provider: "ali", Region: "r", InstanceType: "a", GPUs: 8, PricePerHour: 22,
		Boot: policy.Duration(5 * time.Minute), Billing: policy.BillingPerSecond}
	tr := &trace.Trace{Name: "p", Start: trace.DefaultEpoch}
	for k := range 3 {
		tr.Jobs = append(tr.Jobs, trace.Job{Submit: time.Duration(k) * time.Minute, Duration: 6 * time.Hour, GPUs: 8})
	}
	for k := range 30 {
		tr.Jobs = append(tr.Jobs, trace.Job{Submit: 12*time.Hour + time.Duration(k)*2*time.Hour, Duration: 40 * time.Minute, GPUs: 8})
	}
	c := &Cloud{Seed: 4, CapacityTTL: 3 * time.Minute, Spot: map[string]SpotModel{"spot": {MeanLife: 30 * time.Minute, Notice: 5 * time.Minute, Protection: time.Hour}}}
	run := func(protection time.Duration) Result {
		s := spot
		s.SpotProtection = policy.Duration(protection)
		pool := &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 0, GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
			WaitTarget: policy.Duration(time.Minute), CheckpointInterval: policy.Duration(time.Hour),
			ScaleIn:   policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}, DrainTimeout: policy.Duration(time.Hour)},
			Offerings: []policy.Offering{s, od}}
		pol := Spillway()
		pol.LearnsSpot = true
		res, err := Run(context.Background(), Options{Pool: pool, Trace: tr, Policy: pol, Cloud: c})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// Without the offering's protection the policy prices every hour, as
	// if the cloud could reclaim any.
	every, past := run(0), run(time.Hour)
	t.Logf("every hour priced: $%.0f, %d reclaims, %.0f GPU-h lost, by offering %v", every.CloudCostUSD, every.Interruptions, every.GPUHoursLost, every.CostByOffering)
	t.Logf("hours past the protection: $%.0f, %d reclaims, %.0f GPU-h lost, by offering %v", past.CloudCostUSD, past.Interruptions, past.GPUHoursLost, past.CostByOffering)
	if past.CostByOffering["spot"] < every.CostByOffering["spot"]+100 || past.GPUHoursLost > every.GPUHoursLost || past.CloudCostUSD >= every.CloudCostUSD {
		t.Errorf("pricing only the hours past the protection: $%.0f (%v), %.0f GPU-h lost; want more spot, no more lost work and less than $%.0f (%v), %.0f GPU-h lost",
			past.CloudCostUSD, past.CostByOffering, past.GPUHoursLost, every.CloudCostUSD, every.CostByOffering, every.GPUHoursLost)
	}
}
