package sim

import (
	"testing"

	"github.com/spillway-io/spillway/policy"
)

// TestCloudFitAllocatesNothing: a job placed on the cloud, on the instance
// that fits it best or spanning whole idle instances of one offering,
// takes the parts array of a run entry a job before it left, and the span
// search keeps its groups of instances between searches: each search once
// built a map of the fleet's offerings (47 MB of
// BenchmarkSimulateGenerated1M/all's allocations), and each job allocated
// its parts.
func TestCloudFitAllocatesNothing(t *testing.T) {
	small := policy.Offering{Name: "small", Provider: "aws", Region: "r", InstanceType: "s", GPUs: 4}
	big := policy.Offering{Name: "big", Provider: "aws", Region: "r", InstanceType: "b", GPUs: 8}
	pool := &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}, Offerings: []policy.Offering{small, big}}
	s := &state{pool: pool, maxOfferGPUs: 8, spanMin: pool.SpanMin()}
	// small and big instances in turn, all idle and running, but the
	// second small one, 1 of whose GPUs is busy
	for i, off := range []policy.Offering{small, big, small, big, small, big, small} {
		in := &instance{off: off, gpus: off.GPUs, free: off.GPUs, state: policy.StateRunning, ended: -1}
		if i == 2 {
			in.free--
		}
		s.slots = append(s.slots, in)
		s.slotOf = append(s.slotOf, int32(i+1))
		s.alive = append(s.alive, int32(i))
		s.cloudFree += in.free
		s.cloudWhole += s.spanWhole(in)
		s.room.set(i, in.free)
	}
	into := make([]part, 0, 8) // a run entry a job left
	for _, tt := range []struct {
		name string
		gpus int
		want []part
	}{
		{"best fit: the instance with 3 GPUs free", 3, []part{{cloud: true, idx: 2, gpus: 3}}},
		// the big ones make 12 GPUs before the whole small ones do
		{"a span of two big instances", 12, []part{{cloud: true, idx: 1, gpus: 8}, {cloud: true, idx: 3, gpus: 8}}},
		{"a span of three big instances", 24, []part{{cloud: true, idx: 1, gpus: 8}, {cloud: true, idx: 3, gpus: 8}, {cloud: true, idx: 5, gpus: 8}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := s.cloudFit(tt.gpus, into)
			if len(got) != len(tt.want) {
				t.Fatalf("cloudFit(%d) = %v, want %v", tt.gpus, got, tt.want)
			}
			for k := range got {
				if got[k] != tt.want[k] {
					t.Fatalf("cloudFit(%d) = %v, want %v", tt.gpus, got, tt.want)
				}
			}
			if allocs := testing.AllocsPerRun(100, func() { s.cloudFit(tt.gpus, into) }); allocs != 0 {
				t.Errorf("cloudFit(%d) allocates %.1f times a search, want none", tt.gpus, allocs)
			}
		})
	}
}
