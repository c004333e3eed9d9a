package sim

import (
	"context"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// TestCloudPlacementBestFit: a job goes on the ready instance with the
// fewest free GPUs that holds it, as Slurm's cons_tres places a one-node
// job and as on-prem placement does. Two 4-GPU instances, ready at 60 s,
// take A (2 GPUs, 100 s), B (3 GPUs, 1000 s) and C (1 GPU, 1000 s) in
// that order: A goes on the first (2 free left), B on the second (1 left),
// and C on the second, the tighter fit; first fit would put it beside A.
// So the first instance empties when A ends at 160, is drained at the
// tick at 180 and ends then; the second at the tick at 1080, after B and
// C end at 1060: billed 180 s + 1080 s = $1.26. With C beside A both
// would bill until 1080 s: $2.16.
func TestCloudPlacementBestFit(t *testing.T) {
	pool := &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 0, GPUsPerNode: 4},
		Interval: policy.Duration(30 * time.Second), Offerings: []policy.Offering{offering4}}
	tr := &trace.Trace{Name: "three", Jobs: []trace.Job{job(0, 100, 2), job(0, 1000, 3), job(0, 1000, 1)}}
	got, err := Run(context.Background(), Options{Pool: pool, Trace: tr,
		Policy: Policy{Name: "two", Interval: 30 * time.Second, New: func() DecideFunc { return burstN(2) }}})
	if err != nil {
		t.Fatal(err)
	}
	if !near(got.CloudCostUSD, 1.26) || got.JobsOnCloud != 3 || got.Launches != 2 {
		t.Errorf("cost $%.4f, %d jobs on cloud, %d launches; want $1.26 (C on the fuller instance), 3, 2: %+v",
			got.CloudCostUSD, got.JobsOnCloud, got.Launches, got)
	}
}
