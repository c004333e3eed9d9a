package sim

import (
	"context"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// TestSpanningJobWaitsForItsNodes: a 32-GPU job spans four 8-GPU nodes
// whose boots spread over minutes. The nodes that come up first wait for
// the others — Slurm allocated them to the job at resume, and Karpenter
// does not disrupt a node nominated for a pending pod — so every policy
// launches four nodes once, not again each time one comes up idle.
func TestSpanningJobWaitsForItsNodes(t *testing.T) {
	eight := policy.Offering{Name: "eight", Provider: "p", InstanceType: "x8", GPUs: 8, PricePerHour: 7.2,
		Boot: policy.Duration(3 * time.Minute), Billing: policy.BillingPerSecond}
	pool := &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 0, GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
		WaitTarget: policy.Duration(time.Minute),
		ScaleIn:    policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}, DrainTimeout: policy.Duration(10 * time.Minute)},
		Offerings:  []policy.Offering{eight}}
	tr := loadTestTrace(t, "span32.csv")
	for _, name := range []string{PolicySpillway, PolicyPerJob, PolicyKarpenter} {
		for seed := uint64(1); seed <= 5; seed++ {
			// Every boot is waited for: the controllers' join timeouts
			// at an hour (TestJoinTimeout covers them).
			p, err := PolicyWith(name, BaselineKnobs{JoinTimeout: time.Hour, KarpenterRegistrationTTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			// Boots spread widely (p95 five times the median), nothing
			// else of the realistic cloud.
			cloud := &Cloud{Seed: seed, BootP95: 5}
			res, err := Run(context.Background(), Options{Pool: pool, Trace: tr, Policy: p, Cloud: cloud})
			if err != nil {
				t.Fatal(err)
			}
			if res.Launches != 4 || res.JobsOnCloud != 1 {
				t.Errorf("%s, seed %d: %d launches, %d jobs on cloud; want the four nodes launched once and the job run on them",
					name, seed, res.Launches, res.JobsOnCloud)
			}
		}
	}
}
