package sim

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// syntheticTrace is n jobs arriving about every 90 s, an hour long on
// average, of 1 to 4 GPUs (each fits the 4-GPU test offering whole).
func syntheticTrace(n int) *trace.Trace {
	r := rand.New(rand.NewPCG(1, 2))
	tr := &trace.Trace{Name: "synthetic", Start: trace.DefaultEpoch, Jobs: make([]trace.Job, n)}
	var at time.Duration
	sizes := []int{1, 1, 2, 4, 4}
	for i := range tr.Jobs {
		tr.Jobs[i] = trace.Job{Submit: at, Duration: time.Duration(r.ExpFloat64()*3600+1) * time.Second, GPUs: sizes[r.IntN(len(sizes))]}
		at += time.Duration(r.ExpFloat64()*90) * time.Second
	}
	return tr
}

// liveBytes runs p on tr and returns the heap the run holds at its end,
// plus the waits slice finishRun allocates and drops, and its result.
func liveBytes(t testing.TB, pool *policy.Pool, tr *trace.Trace, p Policy) (float64, Result) {
	var before, end runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	progress := func(done float64) {
		if done == 1 {
			runtime.GC()
			runtime.ReadMemStats(&end)
		}
	}
	res, err := Run(context.Background(), Options{Pool: pool, Trace: tr, Policy: p, Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	return float64(end.HeapAlloc) - float64(before.HeapAlloc) + 8*float64(len(tr.Jobs)), res
}

// TestBytesPerJob: the heap one policy run holds stays within BytesPerJob
// for each job plus BytesPerInstance for each instance it launched, the
// figures the memory limit is computed from. The 32-GPU on-prem pool is
// kept busy enough that the bursting policies rent many instances.
func TestBytesPerJob(t *testing.T) {
	tr := syntheticTrace(10_000)
	pool := func() *policy.Pool {
		return &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 4, GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
			WaitTarget: policy.Duration(10 * time.Minute), Offerings: []policy.Offering{offering4}}
	}
	jobsOnly, _ := liveBytes(t, pool(), tr, OnPremOnly())
	perJob := jobsOnly / float64(len(tr.Jobs))
	t.Logf("onprem-only: %.0f bytes per job", perJob)
	if js := float64(unsafe.Sizeof(jobState{})); perJob < js || perJob > BytesPerJob {
		t.Errorf("onprem-only holds %.0f bytes per job, want from %.0f (its job state alone) to BytesPerJob = %d", perJob, js, BytesPerJob)
	}
	for _, p := range []Policy{Spillway(), Admitted(Threshold()), Admitted(PerJob())} {
		live, res := liveBytes(t, pool(), tr, p)
		if res.Launches < 200 {
			t.Fatalf("%s launched %d instances: too few to measure", p.Name, res.Launches)
		}
		perInst := (live - jobsOnly) / float64(res.Launches)
		t.Logf("%s: %.0f bytes per instance (%d launched)", p.Name, perInst, res.Launches)
		if perInst > BytesPerInstance {
			t.Errorf("%s holds %.0f bytes per instance, above BytesPerInstance = %d", p.Name, perInst, BytesPerInstance)
		}
	}
}

// TestMaxInstances: a run that would launch more instances than allowed
// ends with ErrTooManyInstances.
func TestMaxInstances(t *testing.T) {
	pool := &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
		Offerings: []policy.Offering{offering4}}
	_, err := Run(context.Background(), Options{Pool: pool, Trace: syntheticTrace(2000), Policy: Admitted(PerJob()), MaxInstances: 3})
	if !errors.Is(err, ErrTooManyInstances) {
		t.Fatalf("got %v, want ErrTooManyInstances", err)
	}
}

// TestHorizonErrorCounts: a run that reached the horizon with one job
// queued said "1 jobs still queued"; it says "1 job".
func TestHorizonErrorCounts(t *testing.T) {
	at := time.Date(2226, 3, 1, 0, 0, 0, 0, time.UTC)
	for queued, want := range map[int]string{
		1: "sim: " + ErrHorizon.Error() + ": 1 job still queued and 1 running at 2226-03-01",
		3: "sim: " + ErrHorizon.Error() + ": 3 jobs still queued and 1 running at 2226-03-01",
	} {
		err := horizonError(queued, 1, at)
		if !errors.Is(err, ErrHorizon) || err.Error() != want {
			t.Errorf("%d queued: %v, want %q", queued, err, want)
		}
	}
}
