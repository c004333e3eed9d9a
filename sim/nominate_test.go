package sim

import (
	"context"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// TestNeverServableJobHoldsNoNode: a queued job that nothing the pool may
// rent can ever run (64 GPUs under max_gpus 16) is no reason to keep an
// idle node: once the 8-GPU job ends, every policy lets its node go, as
// it would with an empty queue.
func TestNeverServableJobHoldsNoNode(t *testing.T) {
	eight := policy.Offering{Name: "eight", Provider: "p", InstanceType: "x8", GPUs: 8, PricePerHour: 8,
		Boot: policy.Duration(time.Minute), Billing: policy.BillingPerSecond}
	pool := &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 0, GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
		WaitTarget: policy.Duration(time.Minute), Limits: policy.Limits{MaxGPUs: 16},
		ScaleIn:   policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}, DrainTimeout: policy.Duration(10 * time.Minute)},
		Offerings: []policy.Offering{eight}}
	tr := loadTestTrace(t, "unservable_span.csv")
	for _, name := range []string{PolicySpillway, PolicyPerJob, PolicyKarpenter} {
		p, err := PolicyByName(name)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(context.Background(), Options{Pool: pool, Trace: tr, Policy: p})
		if err != nil {
			t.Fatal(err)
		}
		// One node: a minute of boot, the hour of work, at most a few
		// minutes idle ($8/h): well under two hours.
		if res.JobsNeverServed != 1 || res.CloudCostUSD <= 8 || res.CloudCostUSD > 16 {
			t.Errorf("%s: $%.2f for one 1-hour job on an $8/h node, %d never served; want the node let go once idle (at most $16) and the 64-GPU job never served",
				name, res.CloudCostUSD, res.JobsNeverServed)
		}
	}
}

// TestNominatedWithWholeJobs: with whole_jobs, a job larger than every
// offering spans nodes of the largest, so an idle node of that size is
// nominated for it (kept while the rest boot); a smaller node is not.
func TestNominatedWithWholeJobs(t *testing.T) {
	four := policy.Offering{Name: "four", Provider: "p", InstanceType: "x4", GPUs: 4, PricePerHour: 4}
	eight := policy.Offering{Name: "eight", Provider: "p", InstanceType: "x8", GPUs: 8, PricePerHour: 8}
	pending := func(gpus int) []policy.PendingSize {
		return []policy.PendingSize{{GPUs: gpus, Submitted: []time.Time{trace.DefaultEpoch}}}
	}
	for _, tt := range []struct {
		name       string
		whole      bool
		job, nodes int
		want       bool
	}{
		{"whole_jobs: 16-GPU job, 8-GPU node", true, 16, 8, true},
		{"whole_jobs: 16-GPU job, 4-GPU node (not the largest)", true, 16, 4, false},
		{"whole_jobs: 6-GPU job held whole by an 8-GPU node", true, 6, 8, true},
		{"whole_jobs: 6-GPU job does not span 4-GPU nodes", true, 6, 4, false},
		{"spanning allowed: 16-GPU job, 8-GPU node", false, 16, 8, true},
		{"spanning allowed: 4-GPU node below span.min_gpus", false, 16, 4, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pool := &policy.Pool{Name: "p", WholeJobs: tt.whole, Offerings: []policy.Offering{four, eight}}
			if got := nominated(pool, cloudHolds{}, pending(tt.job), tt.nodes); got != tt.want {
				t.Errorf("nominated = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestKarpenterSpansTheCheapestWithinLimits: a 16-GPU job with whole_jobs
// spans two 8-GPU nodes. The first 8-GPU offering in the config is dearer
// and two of its nodes pass max_cost_per_hour; Karpenter leaves out
// instance types past a NodePool's limits, so it opens both nodes on the
// cheaper one and the job runs (it used to open the first largest, which
// the limit cut to one node: relaunched without end, the job never ran).
func TestKarpenterSpansTheCheapestWithinLimits(t *testing.T) {
	dear := policy.Offering{Name: "dear", Provider: "p", InstanceType: "d8", GPUs: 8, PricePerHour: 10,
		Boot: policy.Duration(time.Minute), Billing: policy.BillingPerSecond}
	cheap := dear
	cheap.Name, cheap.InstanceType, cheap.PricePerHour = "cheap", "c8", 8
	pool := &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 0, GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
		WaitTarget: policy.Duration(time.Minute), WholeJobs: true, Limits: policy.Limits{MaxCostPerHour: 17},
		ScaleIn:   policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}, DrainTimeout: policy.Duration(10 * time.Minute)},
		Offerings: []policy.Offering{dear, cheap}}
	tr := &trace.Trace{Name: "span16", Start: trace.DefaultEpoch, Jobs: []trace.Job{{Submit: 0, Duration: time.Hour, GPUs: 16}}}
	res, err := Run(context.Background(), Options{Pool: pool, Trace: tr, Policy: Admitted(Karpenter())})
	if err != nil {
		t.Fatal(err)
	}
	// Two nodes at $8/h: a minute of boot, the hour, half a minute idle.
	if res.JobsUnstarted != 0 || res.Launches != 2 || res.CloudCostUSD > 2*8*(62.0/60) {
		t.Errorf("%d launches, $%.2f, %d unstarted; want 2 launches of the $8/h offering (at most $%.2f) and the job run",
			res.Launches, res.CloudCostUSD, res.JobsUnstarted, 2*8*(62.0/60))
	}
	if _, dearUsed := res.CostByOffering["dear"]; dearUsed {
		t.Errorf("cost by offering %v: the dearer offering, two of whose nodes pass max_cost_per_hour, was launched", res.CostByOffering)
	}
}

// TestHeldForJobExpires: an idle node waits for the rest of its job's
// nodes for at most the TTL (Slurm's ResumeTimeout) since it became idle.
func TestHeldForJobExpires(t *testing.T) {
	now := trace.DefaultEpoch.Add(time.Hour)
	for _, tt := range []struct {
		name string
		idle time.Time
		want bool
	}{
		{"idle since unknown", time.Time{}, true},
		{"idle 29m", now.Add(-29 * time.Minute), true},
		{"idle 30m", now.Add(-30 * time.Minute), false},
		{"idle a day", now.Add(-24 * time.Hour), false},
	} {
		in := policy.Instance{ID: "i", IdleSince: tt.idle}
		if got := heldForJob(now, &in, PerJobResumeTimeout); got != tt.want {
			t.Errorf("%s: heldForJob = %v, want %v", tt.name, got, tt.want)
		}
	}
}
