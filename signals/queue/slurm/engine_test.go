package slurm

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/signals"
)

// TestJobPendingBesideFreeGPUs: the real Slurm leaves a 4-GPU job pending
// beside 6 free GPUs when another job holds the node's CPUs, which no GPU
// count shows. Read an hour later with the node's GPUs, the engine
// launches for the job instead of counting the free GPUs as room for it
// (which held it for as long as the CPUs stayed taken: no launch at all).
func TestJobPendingBesideFreeGPUs(t *testing.T) {
	cancelAll(t)
	submit(t, "RUNNING", "--gres=gpu:2", "--ntasks=1", fmt.Sprintf("--cpus-per-task=%d", runtime.NumCPU()))
	id := submit(t, "PENDING", "--gres=gpu:4")
	// Slurm gives its reason: the node is short of something the job asks.
	waitReason(t, id, "Resources")

	now := time.Now().Add(time.Hour)
	src := New(Config{Squeue: squeuePath(t), SlurmConf: slurmCluster(t).Conf, Partition: slurmCluster(t).Partition}, WithNow(func() time.Time { return now }))
	d, err := src.Demand(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The node as its agents see it: 2 GPUs busy, 6 idle.
	var gpus []signals.GPU
	for i := range 8 {
		busy := i < 2
		gpus = append(gpus, signals.GPU{Node: "localhost", Index: i, Busy: busy, Allocated: busy, Idle: !busy})
	}
	base := &signals.BaselineReading{Source: "agents", Baseline: signals.Baseline{Time: now, GPUs: gpus}}
	pool := policy.Pool{
		Name: "gpu", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8},
		WaitTarget: policy.Duration(10 * time.Minute), Interval: policy.Duration(30 * time.Second), StaleAfter: policy.Duration(time.Minute),
		Offerings: []policy.Offering{{Name: "p4d", Provider: "aws", Region: "us-east-1", InstanceType: "p4d.24xlarge", GPUs: 8,
			PricePerHour: 32.77, Boot: policy.Duration(3 * time.Minute), Market: policy.MarketOnDemand, Performance: 1,
			Billing: policy.BillingPerSecondMin60}},
		Limits: policy.Limits{MaxGPUs: 64},
	}
	snap := signals.Assemble(pool, now, base, []signals.DemandReading{{Source: d.Source, Demand: d}})
	if snap.OnPremFreeGPUs != 6 || len(snap.PendingJobGPUs) != 1 || snap.PendingJobGPUs[0] != 4 {
		t.Fatalf("snapshot: %d free on-prem, jobs %v; want 6 free and the one 4-GPU job", snap.OnPremFreeGPUs, snap.PendingJobGPUs)
	}
	plan := policy.Decide(&pool, snap, nil, policy.Spend{}, now)
	if len(plan.Launches) != 1 || plan.Launches[0].Count != 1 {
		t.Fatalf("launches %+v (notes %q), want one instance for the job", plan.Launches, plan.Notes)
	}
	if r := plan.Launches[0].Reason; !strings.Contains(r, "6 free on-prem (not room for jobs that waited beside them)") {
		t.Errorf("reason %q does not say why the free GPUs were not room", r)
	}
}
