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
// policy falls back to the dear one in the same tick; every job runs.
func TestStockOutFallsBack(t *testing.T) {
	c := DefaultCloud(3)
	c.SpotMeanLife = 0
	c.Stock = map[string]StockModel{"cheap": {MeanInStock: time.Nanosecond, MeanOutOfStock: 1e6 * time.Hour}}
	res, err := Run(context.Background(), Options{Pool: cloudPool(""), Trace: cloudTrace(5, time.Hour), Policy: Spillway(), Cloud: c})
	if err != nil {
		t.Fatal(err)
	}
	if res.FailedLaunches["capacity"] == 0 || res.CostByOffering["cheap"] != 0 || res.CostByOffering["dear"] == 0 {
		t.Errorf("failed %v, cost by offering %v: want capacity failures on cheap and everything on dear", res.FailedLaunches, res.CostByOffering)
	}
	if res.JobsOnCloud != 5 || res.JobsUnstarted != 0 {
		t.Errorf("%d jobs on cloud, %d unstarted: want all 5 run", res.JobsOnCloud, res.JobsUnstarted)
	}
	// The capacity cache keeps the failed offering out for its TTL: far
	// fewer failures than evaluations.
	if res.FailedLaunches["capacity"] > 5*int(time.Hour/c.CapacityTTL)+5 {
		t.Errorf("%d capacity failures for 5 jobs: the capacity cache is not used", res.FailedLaunches["capacity"])
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
