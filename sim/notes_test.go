package sim

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// TestSharedGPUs: the report notes the jobs that asked for part of a GPU
// and what running them on whole GPUs adds, before the lifetime note, and
// only when there are such jobs.
func TestSharedGPUs(t *testing.T) {
	tr := &trace.Trace{Name: "t", Start: trace.DefaultEpoch, Jobs: []trace.Job{
		{Submit: 0, Duration: time.Hour, GPUs: 1},
		{Submit: 0, Duration: 3 * time.Hour, GPUs: 2},
	}}
	pool := modelPool(8, 1)
	if notes := TraceNotes(pool, tr); len(notes) != 0 {
		t.Errorf("no shares: notes %q", notes)
	}
	tr.Shared, tr.SharedGPUHours = 1, 0.5
	want := "1 job of the trace's 2 asks for part of a GPU (GPU sharing); the simulator rents and places whole GPUs, so each runs on whole ones, rounded up: that adds 0.50 GPU-hours (7.1% of the 7 replayed) to what every policy serves"
	if got := SharedGPUs(tr); got != want {
		t.Errorf("note\n got %q\nwant %q", got, want)
	}
	pool.ScaleIn.MaxLifetime, pool.ScaleIn.DrainTimeout = policy.Duration(time.Hour), policy.Duration(time.Minute)
	notes := TraceNotes(pool, tr)
	if len(notes) != 2 || notes[0] != want || !strings.HasPrefix(notes[1], "1 job of the trace's 2 (86% of its GPU-hours) runs longer") {
		t.Errorf("notes %q, want the shares' then the lifetime's", notes)
	}
	rep, err := Backtest{Pool: *pool, Trace: tr, Policies: []Policy{OnPremOnly()}}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Notes) != 2 || rep.Notes[0] != want {
		t.Errorf("report notes %q", rep.Notes)
	}
}

// TestCloudUnfinishable: the report notes the jobs that no cloud run can
// finish (longer than max_lifetime + drain_timeout on the fastest
// offering, with no checkpoint saved within that), and only when there
// are such jobs.
func TestCloudUnfinishable(t *testing.T) {
	tr := &trace.Trace{Name: "t", Start: trace.DefaultEpoch, Jobs: []trace.Job{
		{Submit: 0, Duration: 10 * time.Minute, GPUs: 1},
		{Submit: 0, Duration: 20 * time.Minute, GPUs: 1},
		{Submit: 0, Duration: 2 * time.Hour, GPUs: 2},
	}}
	for _, tt := range []struct {
		name              string
		life, drain, ckpt time.Duration
		perf              float64
		want              string // "" for no note
	}{
		{"no lifetime", 0, 5 * time.Minute, 0, 1, ""},
		{"no drain timeout", 10 * time.Minute, 0, 0, 1, ""},
		{"15 minutes", 10 * time.Minute, 5 * time.Minute, 0, 1, "2 jobs of the trace's 3 (96% of its GPU-hours) run longer than scale_in.max_lifetime + drain_timeout (15m00s) even on the fastest offering, and the pool declares no checkpoint_interval: a cloud instance always ends before such a job finishes, so the backtest shows them to no policy as demand and runs none on the cloud (each run would be killed and lost); only on-prem finishes them"},
		{"twice as fast", 10 * time.Minute, 5 * time.Minute, 0, 2, "1 job of the trace's 3 (89% of its GPU-hours) runs longer"},
		{"checkpoints within", 10 * time.Minute, 5 * time.Minute, 14 * time.Minute, 1, ""},
		{"checkpoints too late", 10 * time.Minute, 5 * time.Minute, 15 * time.Minute, 1, "and the pool declares a checkpoint_interval of 15m00s, longer than that:"},
		{"all fit", 3 * time.Hour, 5 * time.Minute, 0, 1, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pool := modelPool(8, tt.perf)
			pool.ScaleIn.MaxLifetime = policy.Duration(tt.life)
			pool.ScaleIn.DrainTimeout = policy.Duration(tt.drain)
			pool.CheckpointInterval = policy.Duration(tt.ckpt)
			got := CloudUnfinishable(pool, tr)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	// It says which of them can run nowhere (larger than on-prem, too).
	for nodes, want := range map[int]string{
		0: "; only on-prem finishes them, and the 2 larger than its 0 GPUs can run nowhere: the backtest counts them as never served",
		1: "; only on-prem finishes them",
	} {
		pool := modelPool(8, 1)
		pool.OnPrem.Nodes = nodes
		pool.ScaleIn.MaxLifetime = policy.Duration(10 * time.Minute)
		pool.ScaleIn.DrainTimeout = policy.Duration(5 * time.Minute)
		if got := CloudUnfinishable(pool, tr); !strings.HasSuffix(got, want) {
			t.Errorf("%d on-prem nodes: got %q, want it to end %q", nodes, got, want)
		}
	}
	// A backtest carries it in its report and prints it under the first line.
	pool := modelPool(8, 1)
	pool.ScaleIn.MaxLifetime = policy.Duration(10 * time.Minute)
	pool.ScaleIn.DrainTimeout = policy.Duration(5 * time.Minute)
	rep, err := Backtest{Pool: *pool, Trace: tr, Policies: []Policy{OnPremOnly()}}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if len(rep.Notes) != 1 || !strings.Contains(b.String(), "\n\nnote: 2 jobs of the trace's 3 ") {
		t.Errorf("notes %q; table:\n%s", rep.Notes, b.String())
	}
}

// TestNowhereJobsAreNeverServed: a job larger than on-prem that outlasts
// every cloud instance (max_lifetime + drain_timeout, no checkpoint) can
// run nowhere: no policy launches for it, none kills it again and again,
// and the report counts it as never served, saying why. A job as large
// that fits in the window, and one that outlasts it but fits on-prem,
// still run.
func TestNowhereJobsAreNeverServed(t *testing.T) {
	pool := modelPool(8, 1)
	pool.OnPrem.Nodes = 1
	pool.ScaleIn.MaxLifetime = policy.Duration(10 * time.Minute)
	pool.ScaleIn.DrainTimeout = policy.Duration(5 * time.Minute)
	tr := &trace.Trace{Name: "t", Start: trace.DefaultEpoch, Jobs: []trace.Job{
		{Submit: 0, Duration: 2 * time.Hour, GPUs: 16},   // nowhere
		{Submit: 0, Duration: 5 * time.Minute, GPUs: 16}, // on the cloud
		{Submit: 0, Duration: 2 * time.Hour, GPUs: 4},    // on-prem
	}}
	var pols []Policy
	for _, name := range PolicyNames {
		p, err := PolicyByName(name)
		if err != nil {
			t.Fatal(err)
		}
		pols = append(pols, p)
	}
	rep, err := Backtest{Pool: *pool, Trace: tr, Policies: pols}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		// onprem-only rents nothing: both 16-GPU jobs, larger than its
		// on-prem, are never served by it, not left unstarted with a wait
		// that lasts as long as the run happens to.
		never, why := 1, "longer than scale_in.max_lifetime + drain_timeout (15m00s)"
		if r.Policy == PolicyOnPremOnly {
			never, why = 2, "larger than the 8 on-prem GPUs, and onprem-only rents no cloud"
		}
		if r.JobsNeverServed != never || r.NeverServedGPUs != 16 || !strings.Contains(r.NeverServedWhy, why) ||
			r.JobsKilled != 0 || r.JobsUnstarted != 0 {
			t.Errorf("%s: never served %d (%d GPUs, %q), killed %d, unstarted %d; want %d never served (16 GPUs, %q), none killed or unstarted",
				r.Policy, r.JobsNeverServed, r.NeverServedGPUs, r.NeverServedWhy, r.JobsKilled, r.JobsUnstarted, never, why)
		}
	}
}
