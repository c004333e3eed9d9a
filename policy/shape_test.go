package policy

import (
	"testing"
	"time"
)

// TestSmallerShapeWinsATie: younger jobs that may share a new instance make
// a large shape score as well as a small one; at an equal price per useful
// GPU-hour the smaller shape is launched even when the larger boots faster,
// since its GPUs are released one instance at a time and the younger jobs
// may yet start on-prem.
func TestSmallerShapeWinsATie(t *testing.T) {
	small := Offering{Name: "one", Provider: "aws", Region: "us-east-1", InstanceType: "p3.2xlarge", GPUs: 1,
		PricePerHour: 3.06, Boot: Duration(4 * time.Minute), Market: MarketOnDemand, Billing: BillingPerSecondMin60}
	big := Offering{Name: "four", Provider: "aws", Region: "us-east-1", InstanceType: "p3.8xlarge", GPUs: 4,
		PricePerHour: 12.24, Boot: Duration(2 * time.Minute), Market: MarketOnDemand, Billing: BillingPerSecondMin60}
	// The wait horizon is 5m - 30s - 4m = 30s: the job that waited 9m is
	// due, the three that just arrived are younger.
	snap := Snapshot{
		OnPremGPUs: 32, OnPremBusyGPUs: 32, OnPremFreeGPUs: 0,
		PendingJobs: 4, PendingGPUs: 4, PendingJobGPUs: []int{1, 1, 1, 1},
		PendingJobWaits: []time.Duration{9 * time.Minute, 0, 0, 0}, OldestWait: 9 * time.Minute,
	}
	for _, order := range [][]Offering{{small, big}, {big, small}} {
		p := Decide(dtPool(order...), snap, nil, Spend{}, dtT0)
		if got := dtLaunched(p); len(got) != 1 || got["one"] != 1 {
			t.Errorf("offerings %s, %s: launched %v, want one p3.2xlarge (equal price per useful GPU-hour, smaller shape); notes %q",
				order[0].Name, order[1].Name, got, p.Notes)
		}
	}
}

// TestTieIgnoresRounding: eleven due 1-GPU jobs on eleven p3.2xlarge cost
// 11 × $3.06 ÷ 11, which float arithmetic makes a last bit above $3.06,
// while two p3.16xlarge that five younger jobs fill cost exactly $3.06 per
// GPU. The tie is a tie: the smaller shape is launched.
func TestTieIgnoresRounding(t *testing.T) {
	small := Offering{Name: "one", Provider: "aws", Region: "us-east-1", InstanceType: "p3.2xlarge", GPUs: 1,
		PricePerHour: 3.06, Boot: Duration(3 * time.Minute), Market: MarketOnDemand, Billing: BillingPerSecondMin60}
	big := Offering{Name: "eight", Provider: "aws", Region: "us-east-1", InstanceType: "p3.16xlarge", GPUs: 8,
		PricePerHour: 24.48, Boot: Duration(3 * time.Minute), Market: MarketOnDemand, Billing: BillingPerSecondMin60}
	if 11*small.PricePerHour/11 == 2*big.PricePerHour/16 {
		t.Fatal("the scores tie exactly: the test no longer exercises rounding")
	}
	gpus := make([]int, 16)
	waits := make([]time.Duration, 16)
	for i := range gpus {
		gpus[i] = 1
		if i < 11 {
			waits[i] = 9 * time.Minute
		}
	}
	snap := Snapshot{
		OnPremGPUs: 32, OnPremBusyGPUs: 32, PendingJobs: 16, PendingGPUs: 16,
		PendingJobGPUs: gpus, PendingJobWaits: waits, OldestWait: 9 * time.Minute,
	}
	for _, order := range [][]Offering{{small, big}, {big, small}} {
		p := Decide(dtPool(order...), snap, nil, Spend{}, dtT0)
		if got := dtLaunched(p); got["eight"] != 0 || got["one"] == 0 {
			t.Errorf("offerings %s, %s: launched %v, want p3.2xlarge only (an equal price per useful GPU-hour, the smaller shape); notes %q",
				order[0].Name, order[1].Name, got, p.Notes)
		}
	}
}
