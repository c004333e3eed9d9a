package sim

import (
	"context"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
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
