package sim

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// TestKarpenterConsolidation: four 2-GPU jobs at 0 s, one of 4 hours and
// three of 10 minutes, no on-prem GPU. Karpenter packs them onto one
// 8-GPU node ($8/h, the cheapest per GPU), up at 60 s. At 660 s three
// jobs end and the node runs 2 of 8 GPUs busy.
func TestKarpenterConsolidation(t *testing.T) {
	big := policy.Offering{Name: "big", Provider: "p", InstanceType: "x8", GPUs: 8, PricePerHour: 8,
		Boot: policy.Duration(time.Minute), Billing: policy.BillingPerSecond}
	small := policy.Offering{Name: "small", Provider: "p", InstanceType: "x2", GPUs: 2, PricePerHour: 2.5,
		Boot: policy.Duration(time.Minute), Billing: policy.BillingPerSecond}
	tr := loadTestTrace(t, "consolidate.csv")
	for _, tt := range []struct {
		name       string
		opts       []string
		checkpoint time.Duration
		interval   time.Duration // 30 s when 0
		boot       time.Duration // 60 s when 0
		launches   int
		killed     int
		lost       float64 // GPU-hours
		cost       float64
		// spot: both offerings are spot; cheaper adds that many more
		// cheaper spot types of 2 GPUs.
		spot    bool
		cheaper int
	}{
		{
			// Its job does not checkpoint: do-not-disrupt, the node stays
			// until the long job ends at 14,460 s and is removed 30 s later.
			name: "running work is not disrupted", launches: 1, cost: 14490 * 8.0 / 3600,
		},
		{
			// WhenEmpty never replaces, even where work may move.
			name: "WhenEmpty", opts: []string{"karpenter.consolidation_policy=WhenEmpty", "karpenter.evict=true"},
			launches: 1, cost: 14490 * 8.0 / 3600,
		},
		{
			// Unchanged for consolidateAfter at 690 s, the node is replaced
			// by a 2-GPU node, up at 750 s: then the 8-GPU node ends, the
			// long job is evicted (690 s × 2 GPUs lost), runs again on the
			// small node from 750 s to 15,150 s, which is removed at 15,180 s.
			name: "evict", opts: []string{"karpenter.evict=true"}, launches: 2, killed: 1, lost: 690 * 2.0 / 3600,
			cost: 750*8.0/3600 + (15180-690)*2.5/3600,
		},
		{
			// Evaluations every 60 s, boots of 90 s: the replacement is up
			// 30 s before the evaluation that ends the old node, and must
			// not be taken for an empty node then.
			name: "replacement up between evaluations", opts: []string{"karpenter.evict=true"}, interval: time.Minute, boot: 90 * time.Second,
			launches: 2, killed: 1, lost: -1, cost: -1,
		},
		{
			// A pool whose jobs checkpoint lets Karpenter move them.
			name: "checkpointing pool", checkpoint: time.Hour, launches: 2, killed: 1, lost: -1,
			cost: -1,
		},
		{
			// Spot by spot: not without the SpotToSpotConsolidation gate.
			name: "spot, spot-to-spot off", checkpoint: time.Hour, spot: true, cheaper: 20,
			launches: 1, cost: 14490 * 8.0 / 3600,
		},
		{
			// With the gate, only when 15 cheaper spot types are on offer.
			name: "spot-to-spot on, 1 cheaper spot type", opts: []string{"karpenter.spot_to_spot=true"}, checkpoint: time.Hour, spot: true,
			launches: 1, cost: 14490 * 8.0 / 3600,
		},
		{
			name: "spot-to-spot on, 15 cheaper spot types", opts: []string{"karpenter.spot_to_spot=true"}, checkpoint: time.Hour, spot: true, cheaper: 14,
			launches: 2, killed: 1, lost: -1, cost: -1,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var k BaselineKnobs
			for _, o := range tt.opts {
				if err := k.ParseBaselineKnob(o); err != nil {
					t.Fatal(err)
				}
			}
			iv, boot := cmp.Or(tt.interval, 30*time.Second), cmp.Or(tt.boot, time.Minute)
			b, s := big, small
			b.Boot, s.Boot = policy.Duration(boot), policy.Duration(boot)
			offs := []policy.Offering{b, s}
			if tt.spot {
				for i := range offs {
					offs[i].Market = policy.MarketSpot
				}
				for i := range tt.cheaper {
					o := offs[1]
					o.Name, o.InstanceType = fmt.Sprintf("small%d", i), fmt.Sprintf("y%d", i)
					offs = append(offs, o)
				}
			}
			pool := &policy.Pool{Name: "p", OnPrem: policy.OnPrem{GPUsPerNode: 8}, Interval: policy.Duration(iv),
				Offerings: offs, CheckpointInterval: policy.Duration(tt.checkpoint)}
			res, err := Run(context.Background(), Options{Pool: pool, Trace: tr, Policy: Admitted(KarpenterWith(k))})
			if err != nil {
				t.Fatal(err)
			}
			if res.Launches != tt.launches || res.JobsKilled != tt.killed || res.JobsUnstarted != 0 {
				t.Errorf("%d launches, %d killed, %d unstarted; want %d, %d, 0", res.Launches, res.JobsKilled, res.JobsUnstarted, tt.launches, tt.killed)
			}
			if tt.lost >= 0 && !near(res.GPUHoursLost, tt.lost) {
				t.Errorf("lost %.4f GPU-h, want %.4f", res.GPUHoursLost, tt.lost)
			}
			if tt.cost >= 0 && !near(res.CloudCostUSD, tt.cost) {
				t.Errorf("cost $%.4f, want $%.4f", res.CloudCostUSD, tt.cost)
			}
		})
	}
}

// TestKarpenterConsolidationDeletes: two 8-GPU nodes each left with one
// busy 2-GPU job: one node's job moves into the other's free room and the
// node is ended, without a replacement.
func TestKarpenterConsolidationDeletes(t *testing.T) {
	big := policy.Offering{Name: "big", Provider: "p", InstanceType: "x8", GPUs: 8, PricePerHour: 8,
		Boot: policy.Duration(time.Minute), Billing: policy.BillingPerSecond}
	tr := loadTestTrace(t, "consolidate.csv")
	// Eight jobs: two long ones, six short, 16 GPUs: two nodes.
	tr.Jobs = append(tr.Jobs, tr.Jobs...)
	var k BaselineKnobs
	if err := k.ParseBaselineKnob("karpenter.evict=true"); err != nil {
		t.Fatal(err)
	}
	pool := &policy.Pool{Name: "p", OnPrem: policy.OnPrem{GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
		Offerings: []policy.Offering{big}}
	res, err := Run(context.Background(), Options{Pool: pool, Trace: tr, Policy: Admitted(KarpenterWith(k))})
	if err != nil {
		t.Fatal(err)
	}
	if res.Launches != 2 || res.JobsKilled != 1 || res.JobsUnstarted != 0 {
		t.Errorf("%d launches, %d killed; want 2 (no replacement) and 1 job moved", res.Launches, res.JobsKilled)
	}
	// Both up at 60 s; at 690 s one ends and its job restarts on the
	// other, which runs until 690 + 14,400 s and is removed 30 s later.
	if want := 690*8.0/3600 + (690+14400+30)*8.0/3600; !near(res.CloudCostUSD, want) {
		t.Errorf("cost $%.4f, want $%.4f", res.CloudCostUSD, want)
	}
}

// TestKarpenterPacksLeftoverOnCheapestNode: five 2-GPU jobs fill one
// 8-GPU node (cheapest per GPU); the fifth goes on the cheapest node that
// holds it, a 2-GPU one, not on a second 8-GPU node.
func TestKarpenterPacksLeftoverOnCheapestNode(t *testing.T) {
	big := policy.Offering{Name: "big", Provider: "p", InstanceType: "x8", GPUs: 8, PricePerHour: 8,
		Boot: policy.Duration(time.Minute), Billing: policy.BillingPerSecond}
	small := policy.Offering{Name: "small", Provider: "p", InstanceType: "x2", GPUs: 2, PricePerHour: 2.5,
		Boot: policy.Duration(time.Minute), Billing: policy.BillingPerSecond}
	tr := loadTestTrace(t, "consolidate.csv")
	tr.Jobs = append(tr.Jobs, tr.Jobs[1])
	pool := &policy.Pool{Name: "p", OnPrem: policy.OnPrem{GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
		Offerings: []policy.Offering{big, small}}
	res, err := Run(context.Background(), Options{Pool: pool, Trace: tr, Policy: Admitted(Karpenter())})
	if err != nil {
		t.Fatal(err)
	}
	if res.Launches != 2 || res.CostByOffering["small"] <= 0 || res.CostByOffering["big"] <= 0 || res.WaitMaxS != 60 {
		t.Errorf("%d launches, cost %v, wait max %.0fs; want one node of each, every job started at 60 s", res.Launches, res.CostByOffering, res.WaitMaxS)
	}
}

// TestKarpenterICECache: the cheaper offering is always out of stock and a
// 4-GPU job arrives every minute for 30 minutes. Karpenter skips the
// offering for 3 minutes after each capacity error (its ICE cache), not
// for the simulator's 5-minute capacity cache: it fails at 0, 3, …, 27
// minutes, and every job runs on the dearer offering.
func TestKarpenterICECache(t *testing.T) {
	pool := perJobPool()
	tr := &trace.Trace{Name: "every-minute", Start: trace.DefaultEpoch}
	for k := range 30 {
		tr.Jobs = append(tr.Jobs, trace.Job{Submit: time.Duration(k) * time.Minute, Duration: time.Hour, GPUs: 4})
	}
	res, err := Run(context.Background(), Options{Pool: pool, Trace: tr, Policy: Admitted(Karpenter()), Cloud: stockedOut("cheap")})
	if err != nil {
		t.Fatal(err)
	}
	if n := res.FailedLaunches["capacity"]; n != 10 || res.CostByOffering["cheap"] != 0 || res.JobsOnCloud != 30 || res.WaitMaxS != 60 {
		t.Errorf("%d capacity failures, cost %v, %d on cloud, wait max %.0fs; want 10, only dear, 30, 60s", n, res.CostByOffering, res.JobsOnCloud, res.WaitMaxS)
	}
}

// TestTakeSpan: a spanning job takes whole free nodes of one offering, the
// first whose free nodes are enough, and nothing when none has enough.
func TestTakeSpan(t *testing.T) {
	node := func(name string, gpus, free int) nodeRoom { return nodeRoom{free: free, gpus: gpus, name: name} }
	for _, tt := range []struct {
		name string
		room []nodeRoom
		g    int
		ok   bool
		free []int // each node's free GPUs after
	}{
		{"two whole nodes", []nodeRoom{node("a", 8, 8), node("a", 8, 4), node("a", 8, 8)}, 16, true, []int{0, 4, 0}},
		{"too few of the first, enough of the second", []nodeRoom{node("a", 8, 8), node("b", 8, 8), node("a", 8, 2), node("b", 8, 8)}, 16, true, []int{8, 0, 2, 0}},
		{"none enough", []nodeRoom{node("a", 8, 8), node("b", 8, 8), node("a", 8, 2)}, 16, false, []int{8, 8, 2}},
		{"below span.min_gpus", []nodeRoom{node("a", 4, 4), node("a", 4, 4)}, 8, false, []int{4, 4}},
		{"not larger than a node", []nodeRoom{node("a", 8, 8)}, 8, false, []int{8}},
	} {
		room := slices.Clone(tt.room)
		if ok := takeSpan(room, tt.g, 8); ok != tt.ok {
			t.Errorf("%s: took %v, want %v", tt.name, ok, tt.ok)
		}
		for i, r := range room {
			if r.free != tt.free[i] {
				t.Errorf("%s: node %d has %d free, want %d", tt.name, i, r.free, tt.free[i])
			}
		}
	}
}

// BenchmarkTakeSpanTooFew: a job one node larger than the 4,096 whole
// free nodes of the fleet, the case that scanned the rest of the fleet
// from every node.
func BenchmarkTakeSpanTooFew(b *testing.B) {
	room := make([]nodeRoom, 4096)
	for i := range room {
		room[i] = nodeRoom{free: 8, gpus: 8, name: "a"}
	}
	for b.Loop() {
		if takeSpan(room, 8*4097, 8) {
			b.Fatal("took nodes it does not have")
		}
	}
}

// TestBaselineLaunchReasonsAreNotFormatted: karpenter and per-job plan at
// every evaluation, and a backtest shows none of their reasons, so a
// launch's reason is a constant (the count is the launch's Count): one
// fmt.Sprintf a launch was 6% of a karpenter run at a 1 s interval.
func TestBaselineLaunchReasonsAreNotFormatted(t *testing.T) {
	pool := backtestPool(t)
	pool.OnPrem.Nodes = 0
	now := trace.DefaultEpoch
	for _, tt := range []struct {
		pol  Policy
		want string
	}{
		{Karpenter(), karpenterLaunchReason},
		{PerJob(), perJobLaunchReason},
	} {
		t.Run(tt.pol.Name, func(t *testing.T) {
			for _, jobs := range []int{1, 3} {
				subs := make([]time.Time, jobs)
				for i := range subs {
					subs[i] = now
				}
				snap := policy.Snapshot{Time: now, PendingJobs: jobs, PendingGPUs: 8 * jobs, PendingJobGPUs: slices.Repeat([]int{8}, jobs),
					PendingBySize: []policy.PendingSize{{GPUs: 8, Submitted: subs}}, OldestWait: time.Hour}
				plan := tt.pol.NewDecider().Decide(&pool, snap, nil, policy.Spend{}, now.Add(time.Hour))
				if len(plan.Launches) == 0 {
					t.Fatalf("%d jobs of 8 GPUs pending: no launch planned", jobs)
				}
				for _, l := range plan.Launches {
					if l.Reason != tt.want || unsafe.StringData(l.Reason) != unsafe.StringData(tt.want) {
						t.Errorf("%d jobs: launch of %d %s for %q: want the constant %q, not a string formatted for the plan", jobs, l.Count, l.Offering.Name, l.Reason, tt.want)
					}
				}
			}
		})
	}
}
