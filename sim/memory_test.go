package sim

import (
	"context"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// syntheticTrace is n jobs arriving about every 90 s, an hour long on
// average, of 1 to 8 GPUs: about 40 GPUs of demand.
func syntheticTrace(n int) *trace.Trace {
	r := rand.New(rand.NewPCG(1, 2))
	tr := &trace.Trace{Name: "synthetic", Start: trace.DefaultEpoch, Jobs: make([]trace.Job, n)}
	var at time.Duration
	sizes := []int{1, 1, 2, 4, 8}
	for i := range tr.Jobs {
		tr.Jobs[i] = trace.Job{Submit: at, Duration: time.Duration(r.ExpFloat64()*3600+1) * time.Second, GPUs: sizes[r.IntN(len(sizes))]}
		at += time.Duration(r.ExpFloat64()*90) * time.Second
	}
	return tr
}

// liveBytesPerJob runs p on tr and returns the heap the run holds at its
// end, per job, plus the waits slice finishRun allocates and drops.
func liveBytesPerJob(t testing.TB, pool *policy.Pool, tr *trace.Trace, p Policy) float64 {
	var before, end runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	progress := func(done float64) {
		if done == 1 {
			runtime.GC()
			runtime.ReadMemStats(&end)
		}
	}
	if _, err := Run(context.Background(), Options{Pool: pool, Trace: tr, Policy: p, Progress: progress}); err != nil {
		t.Fatal(err)
	}
	live := float64(end.HeapAlloc) - float64(before.HeapAlloc)
	return live/float64(len(tr.Jobs)) + 8
}

// TestBytesPerJob: the heap one policy run holds per job stays within
// BytesPerJob, the figure the memory limit is computed from. The 40-GPU on-prem pool is kept busy enough that
// the bursting policies rent instances.
func TestBytesPerJob(t *testing.T) {
	tr := syntheticTrace(50_000)
	for _, p := range []Policy{Spillway(), OnPremOnly(), Threshold(), PerJob()} {
		pool := &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 4, GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
			WaitTarget: policy.Duration(10 * time.Minute), Offerings: []policy.Offering{offering4}}
		got := liveBytesPerJob(t, pool, tr, p)
		t.Logf("%s: %.0f bytes per job", p.Name, got)
		if got < 48 {
			t.Errorf("%s: %.0f bytes per job is less than its job state alone: the measurement is broken", p.Name, got)
		}
		if got > BytesPerJob {
			t.Errorf("%s allocated %.0f bytes per job, above BytesPerJob = %d", p.Name, got, BytesPerJob)
		}
	}
}
