package sim

import (
	"context"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// stockedOut is a cloud where the offering named out is out of stock for
// the whole run and every other offering always in stock, boots fixed.
func stockedOut(out string) *Cloud {
	return &Cloud{Seed: 1, CapacityTTL: 5 * time.Minute,
		Stock: map[string]StockModel{out: {MeanInStock: time.Nanosecond, MeanOutOfStock: 100000 * time.Hour}}}
}

// perJobPool has no on-prem GPU and two 4-GPU offerings: "cheap" and
// "dear" at twice its price, both booting in 60 s.
func perJobPool() *policy.Pool {
	cheap := offering4
	cheap.Name, cheap.InstanceType = "cheap", "c4"
	dear := offering4
	dear.Name, dear.InstanceType, dear.PricePerHour = "dear", "d4", 7.2
	return &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 0, GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
		Offerings: []policy.Offering{cheap, dear}}
}

// TestPerJobFailedResumes: a 4-GPU job, the cheapest node type out of
// stock for the whole run.
func TestPerJobFailedResumes(t *testing.T) {
	tr := loadTestTrace(t, "one4.csv")
	run := func(t *testing.T, opts ...string) Result {
		var k BaselineKnobs
		for _, o := range opts {
			if err := k.ParseBaselineKnob(o); err != nil {
				t.Fatal(err)
			}
		}
		res, err := Run(context.Background(), Options{Pool: perJobPool(), Trace: tr, Policy: Admitted(PerJobWith(k)), Cloud: stockedOut("cheap")})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	t.Run("fast fail-over", func(t *testing.T) {
		// The resume of "cheap" fails at 0 s; its type is DOWN for 600 s
		// and the job is requeued at once onto "dear": it starts when that
		// node is up, at 60 s, runs an hour there, and the node is
		// suspended after 300 s idle: billed 3960 s.
		res := run(t)
		if res.FailedLaunches["capacity"] != 1 || res.Launches != 1 || res.WaitMaxS != 60 || res.JobsUnstarted != 0 {
			t.Errorf("got %d capacity failures, %d launches, wait %.0fs, %d unstarted; want 1, 1, 60s, 0",
				res.FailedLaunches["capacity"], res.Launches, res.WaitMaxS, res.JobsUnstarted)
		}
		if c := res.CostByOffering["dear"]; !near(c, 7.2*3960/3600) || res.CostByOffering["cheap"] != 0 {
			t.Errorf("cost by offering %v, want dear for 3960 s", res.CostByOffering)
		}
	})
	t.Run("plain Slurm", func(t *testing.T) {
		// Without the fail-over the job waits on the failed node until
		// ResumeTimeout (10 min), then resumes a node of the cheapest type
		// again, which fails again: it never starts, and the failures
		// are 10 minutes apart until the run gives up after a quiet day.
		res := run(t, "per-job.insufficient_capacity_timeout=0s", "per-job.resume_timeout=10m")
		n := res.FailedLaunches["capacity"]
		if res.Launches != 0 || res.JobsUnstarted != 1 || n < 2 || n > 24*6+1 {
			t.Errorf("got %d launches, %d unstarted, %d capacity failures; want 0, 1, 2 to %d", res.Launches, res.JobsUnstarted, n, 24*6+1)
		}
	})
	t.Run("a longer down time is waited out", func(t *testing.T) {
		// With "dear" out of stock too, the job waits for "cheap" to be
		// returned to service; with neither ever in stock nothing runs.
		pool := perJobPool()
		c := stockedOut("cheap")
		c.Stock["dear"] = c.Stock["cheap"]
		res, err := Run(context.Background(), Options{Pool: pool, Trace: tr, Policy: Admitted(PerJob()), Cloud: c})
		if err != nil {
			t.Fatal(err)
		}
		// One failure per type per 600 s of down time (the capacity cache,
		// 5 minutes, is shorter), over the day the run waits.
		if n := res.FailedLaunches["capacity"]; res.Launches != 0 || n < 4 || n > 2*(24*6+1) {
			t.Errorf("got %d launches and %d capacity failures, want 0 and about 2 a 10 minutes", res.Launches, n)
		}
	})
}

// TestPerJobResumeTimeoutEndsSlowBoots: a node not up within ResumeTimeout
// is marked DOWN and ended (billed until then), and another is resumed.
func TestPerJobResumeTimeoutEndsSlowBoots(t *testing.T) {
	pool := perJobPool()
	pool.Offerings = pool.Offerings[:1]
	pool.Offerings[0].Boot = policy.Duration(20 * time.Minute)
	var k BaselineKnobs
	if err := k.ParseBaselineKnob("per-job.resume_timeout=10m"); err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), Options{Pool: pool, Trace: loadTestTrace(t, "one4.csv"), Policy: Admitted(PerJobWith(k))})
	if err != nil {
		t.Fatal(err)
	}
	// Every node is ended at 10 minutes (the last one when the run gives
	// up): the job never starts.
	if n := float64(res.Launches); n < 2 || res.JobsUnstarted != 1 || res.CloudCostUSD > n*0.6+1e-9 || res.CloudCostUSD < (n-1)*0.6-1e-9 {
		t.Errorf("got %d launches, %d unstarted, $%.2f; want ≥ 2 launches of 10 billed minutes each and the job unstarted", res.Launches, res.JobsUnstarted, res.CloudCostUSD)
	}
	// Each node ended before it came up is a failed launch; the last may
	// still be booting when the run gives up.
	if n := res.FailedLaunches["not_up"]; n < res.Launches-1 || n > res.Launches {
		t.Errorf("failed launches %v, want %d or %d not_up (one per node marked DOWN)", res.FailedLaunches, res.Launches-1, res.Launches)
	}
	// With the default ResumeTimeout (30 min) the node comes up at 20.
	res, err = Run(context.Background(), Options{Pool: pool, Trace: loadTestTrace(t, "one4.csv"), Policy: Admitted(PerJob())})
	if err != nil {
		t.Fatal(err)
	}
	if res.Launches != 1 || res.WaitMaxS != 1200 || len(res.FailedLaunches) != 0 {
		t.Errorf("default resume timeout: %d launches, wait %.0fs, failed %v; want 1 and 1200s, none failed", res.Launches, res.WaitMaxS, res.FailedLaunches)
	}
}
