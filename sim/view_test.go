package sim

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// TestSnapshotListsFirstPendingJobsInArrivalOrder: with jobs of every
// size queued and some started out of order (backfill), the snapshot's job
// list is the first maxListed pending jobs by arrival, with their waits,
// leaving out the jobs nothing can ever run (16 GPUs here: more than the
// 8 on-prem GPUs, and 4-GPU instances are too small to span).
func TestSnapshotListsFirstPendingJobsInArrivalOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	jobs := make([]trace.Job, 3000)
	for i := range jobs {
		jobs[i] = trace.Job{Submit: time.Duration(i) * time.Second, Duration: time.Hour, GPUs: []int{1, 2, 4, 8, 16}[r.IntN(5)]}
	}
	pool := &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}, Offerings: []policy.Offering{offering4}}
	s := &state{o: Options{Pool: pool, Policy: Policy{JobList: true}}, pool: pool, jobs: jobs, js: make([]jobState, len(jobs)),
		start: trace.DefaultEpoch, queueOf: map[int]int{}, on: newOnprem(1, 8)}
	for j := range jobs {
		s.enqueue(j)
	}
	// Start jobs from the heads of random queues, as backfill does.
	for range 1500 {
		q := &s.queues[r.IntN(len(s.queues))]
		if q.len() > 0 {
			q.pop()
			s.pendingJobs--
		}
	}
	s.now = 4000 * time.Second
	var want []int
	for qi := range s.queues {
		if q := &s.queues[qi]; q.gpus != 16 {
			for _, j := range q.jobs[q.head:] {
				want = append(want, int(j))
			}
		}
	}
	slices.Sort(want)
	want = want[:maxListed]
	snap := s.snapshot()
	if len(snap.PendingJobGPUs) != len(want) || len(snap.PendingJobWaits) != len(want) {
		t.Fatalf("listed %d jobs with %d waits, want %d", len(snap.PendingJobGPUs), len(snap.PendingJobWaits), len(want))
	}
	for k, j := range want {
		if g, w := snap.PendingJobGPUs[k], snap.PendingJobWaits[k]; g != jobs[j].GPUs || w != s.now-jobs[j].Submit {
			t.Fatalf("listed job %d: %d GPUs waiting %s, want job %d: %d GPUs waiting %s", k, g, w, j, jobs[j].GPUs, s.now-jobs[j].Submit)
		}
	}
}
