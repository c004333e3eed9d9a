package sim

import (
	"context"
	"fmt"
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
// 8 on-prem GPUs, and 4-GPU instances are too small to span), which are
// not queued.
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
		s.arrive(j)
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

// TestInstanceViewStaysInLaunchOrder: while a policy launches and drains
// at random and jobs come and go, the instances it is shown are the live
// ones in launch order, each once, an ended one never again, each with a
// consistent state.
func TestInstanceViewStaysInLaunchOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	gone := map[string]bool{}
	var prev []string
	checks := 0
	decide := func(pool *policy.Pool, snap policy.Snapshot, insts []policy.Instance, _ policy.Spend, now time.Time) policy.Plan {
		plan := policy.Plan{Pool: pool.Name, Time: now}
		seen := map[string]bool{}
		last := 0
		for _, in := range insts {
			var n int
			if _, err := fmt.Sscanf(in.ID, "sim-%d", &n); err != nil || n <= last || gone[in.ID] {
				t.Fatalf("at %s: instance %q after sim-%d (ended before: %t): not launch order", now, in.ID, last, gone[in.ID])
			}
			last = n
			seen[in.ID] = true
			if in.BusyGPUs < 0 || in.BusyGPUs > in.Offering.GPUs || (in.State == policy.StateBooting) != in.ReadyAt.IsZero() {
				t.Fatalf("at %s: %s is %s with %d of %d GPUs busy, ready at %s", now, in.ID, in.State, in.BusyGPUs, in.Offering.GPUs, in.ReadyAt)
			}
		}
		for _, id := range prev {
			if !seen[id] {
				gone[id] = true
			}
		}
		prev = prev[:0]
		for _, in := range insts {
			prev = append(prev, in.ID)
			if in.State == policy.StateRunning && r.IntN(8) == 0 {
				plan.Drains = append(plan.Drains, policy.Action{InstanceID: in.ID})
			}
		}
		if snap.PendingJobs > 0 && r.IntN(3) == 0 {
			plan.Launches = append(plan.Launches, policy.Launch{Offering: offering4, Count: 1 + r.IntN(3)})
		}
		checks++
		return plan
	}
	pool := &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 4}, Interval: policy.Duration(30 * time.Second),
		Offerings: []policy.Offering{offering4}}
	res, err := Run(context.Background(), Options{Pool: pool, Trace: syntheticTrace(3000), Policy: Policy{Name: "random", New: func() DecideFunc { return decide }}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Launches < 500 || len(gone) < 400 || checks < 1000 {
		t.Fatalf("%d launches, %d ended, %d evaluations: too few to exercise the view", res.Launches, len(gone), checks)
	}
}
