package sim

import (
	"context"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// TestPerJobNeverResumesForJobsNoNodeHolds: 8-GPU jobs cannot span 4-GPU
// nodes, so the per-job baseline resumes none for them (it once resumed
// millions).
func TestPerJobNeverResumesForJobsNoNodeHolds(t *testing.T) {
	pool := &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
		WaitTarget: policy.Duration(10 * time.Minute), Offerings: []policy.Offering{offering4}}
	tr := &trace.Trace{Name: "wide", Start: trace.DefaultEpoch}
	for i := range 20 {
		tr.Jobs = append(tr.Jobs, trace.Job{Submit: time.Duration(i) * time.Minute, Duration: time.Hour, GPUs: 8})
	}
	res, err := Run(context.Background(), Options{Pool: pool, Trace: tr, Policy: Admitted(PerJob())})
	if err != nil {
		t.Fatal(err)
	}
	if res.Launches != 0 {
		t.Fatalf("per-job launched %d 4-GPU nodes for 8-GPU jobs none can hold, want 0", res.Launches)
	}
}
