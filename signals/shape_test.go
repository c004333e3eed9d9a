package signals

import (
	"slices"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// TestFitJobs: a job counted as a larger shape adds its GPUs; a job no
// shape holds leaves the lists, with its wait, and the counts, and the
// oldest wait is the oldest kept; without shapes, or without CPUs and
// memory, nothing changes.
func TestFitJobs(t *testing.T) {
	shapes := []policy.Shape{{GPUs: 1, VCPUs: 4, MemMiB: 16 << 10}, {GPUs: 8, VCPUs: 96}} // the 8-GPU shape's memory unknown
	for _, tt := range []struct {
		name          string
		shapes        []policy.Shape
		cpus          []int
		mem           []int64
		jobs          []int
		waits         []time.Duration
		pending, gpus int
		larger, left  int
		oldest        time.Duration // 0: none known
		smallest      int           // the fewest GPUs a kept job asks for itself
	}{
		{"larger and left out", shapes, []int{2, 8, 200}, nil, []int{1, 8}, []time.Duration{3, 2}, 2, 9, 1, 1, 3, 1},
		{"the oldest job left out: the next is the oldest", shapes, []int{200, 8, 2}, nil, []int{8, 1}, []time.Duration{2, 1}, 2, 9, 1, 1, 2, 1},
		{"every job left out", shapes, []int{200, 300, 400}, nil, []int{}, []time.Duration{}, 0, 0, 0, 3, 0, 0},
		{"memory beyond the small shape", shapes, nil, []int64{1, 32 << 10, 0}, []int{1, 8, 1}, []time.Duration{3, 2, 1}, 3, 10, 1, 0, 3, 1},
		{"no shapes", nil, []int{2, 8, 200}, nil, []int{1, 1, 1}, []time.Duration{3, 2, 1}, 3, 3, 0, 0, 3, 0},
		{"no CPUs or memory", shapes, nil, nil, []int{1, 1, 1}, []time.Duration{3, 2, 1}, 3, 3, 0, 0, 3, 0},
	} {
		d := Demand{JobGPUs: []int{1, 1, 1}, JobWaits: []time.Duration{3, 2, 1}, PendingJobs: 3, PendingGPUs: 3, OldestWait: 3, OldestWaitKnown: true}
		FitJobs(&d, tt.shapes, tt.cpus, tt.mem)
		left := 0
		for _, l := range d.LeftOut {
			left += l.Jobs
		}
		if !slices.Equal(d.JobGPUs, tt.jobs) || !slices.Equal(d.JobWaits, tt.waits) || d.PendingJobs != tt.pending || d.PendingGPUs != tt.gpus ||
			d.Larger != tt.larger || left != tt.left || d.OldestWait != tt.oldest || d.OldestWaitKnown != (tt.oldest > 0) || d.Smallest != tt.smallest {
			t.Errorf("%s: jobs %v waits %v (%d jobs, %d GPUs, %d larger, %d left out, oldest %v known %v, smallest %d); want %v %v (%d, %d, %d, %d, oldest %v, smallest %d)", tt.name,
				d.JobGPUs, d.JobWaits, d.PendingJobs, d.PendingGPUs, d.Larger, left, d.OldestWait, d.OldestWaitKnown, d.Smallest,
				tt.jobs, tt.waits, tt.pending, tt.gpus, tt.larger, tt.left, tt.oldest, tt.smallest)
		}
	}
}
