package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// TestCloudOnlyPool: a pool without on-prem nodes need not say how many
// GPUs a node has (config validation asks for gpus_per_node only when
// nodes > 0), and simulates with every job on the cloud; it was once
// refused ("onprem.gpus_per_node is 0"). A pool with nodes still needs
// gpus_per_node.
func TestCloudOnlyPool(t *testing.T) {
	tr := &trace.Trace{Name: "t", Start: trace.DefaultEpoch, Jobs: []trace.Job{
		{Submit: 0, Duration: time.Hour, GPUs: 8}, {Submit: time.Minute, Duration: time.Hour, GPUs: 1},
	}}
	pool := policy.Pool{Name: "cloud-only", Interval: policy.Duration(30 * time.Second),
		Offerings: []policy.Offering{{Name: "o", Provider: "aws", Region: "r", InstanceType: "t", GPUs: 8, PricePerHour: 24, Boot: policy.Duration(time.Minute), Billing: policy.BillingPerSecond}},
		ScaleIn:   policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}, DrainTimeout: policy.Duration(10 * time.Minute)}}
	for _, onprem := range []policy.OnPrem{{}, {Nodes: 0, GPUsPerNode: 8}} {
		pool.OnPrem = onprem
		for _, name := range PolicyNames {
			p, err := PolicyByName(name)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Run(t.Context(), Options{Pool: &pool, Trace: tr, Policy: p})
			if err != nil {
				t.Fatalf("%+v, %s: %v", onprem, name, err)
			}
			// onprem-only rents nothing: it never serves either job.
			wantOnCloud := 2
			if name == PolicyOnPremOnly {
				wantOnCloud = 0
			}
			if res.JobsOnCloud != wantOnCloud || res.JobsNeverServed != 2-wantOnCloud || res.JobsUnstarted != 0 {
				t.Errorf("%+v, %s: %d jobs on cloud, %d never served, %d unstarted: want %d on cloud, the rest never served",
					onprem, name, res.JobsOnCloud, res.JobsNeverServed, res.JobsUnstarted, wantOnCloud)
			}
		}
	}
	pool.OnPrem = policy.OnPrem{Nodes: 2}
	if _, err := Run(t.Context(), Options{Pool: &pool, Trace: tr, Policy: Spillway()}); err == nil || !strings.Contains(err.Error(), "onprem.gpus_per_node is 0 (want 1 to") {
		t.Errorf("2 nodes of 0 GPUs: %v, want an error naming gpus_per_node", err)
	}
}
