package command

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/signalstest"
)

// FuzzParse: whatever the program prints, parse returns a demand in range
// (counts ≥ 0, each job from 0 to MaxJobGPUs GPUs, an oldest wait from 0 to
// MaxWait) read from one bare number or one JSON object, or an error of at
// most maxErrLen bytes.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"12", " 5\n\n", "2.25", `{"pending_jobs": 3, "pending_gpus": 10, "oldest_wait_s": 95.5}`,
		`{"job_gpus": [8, 1, 1], "oldest_wait_s": 0}`, `{"pending_jobs": 1, "job_gpus": [2], "x": "$HOME"}`,
		"lots of jobs", "-3", `{"pending_jobs": "three"}`, "{}", `{"pending_jobs": 1, "oldest_wait_s": 1e300}`,
		`{"pending_jobs": 1, "oldest_wait_s": -1}`, `{"job_gpus": [8, 1], "job_wait_s": [30, 612.5]}`, `{"job_gpus": [1], "job_wait_s": [1e300]}`, "1e300", "", "NaN", "Inf"} {
		f.Add(s, false)
	}
	for _, tt := range hostileOutputs {
		f.Add(tt.out, false)
	}
	f.Add(`{"job_gpus": [1, 1, 2], "job_wait_s": [3, 2, 1], "job_cpus": [2, 32, 500], "job_memory_gib": [1, 8, 0]}`, false)
	f.Fuzz(func(t *testing.T, out string, jobs bool) {
		number := NumberPendingGPUs
		if jobs {
			number = NumberPendingJobs
		}
		d, err := (&Source{cfg: Config{Number: number}}).parse(out)
		if err != nil {
			if len(err.Error()) > maxErrLen {
				t.Fatalf("error of %d bytes: %.300s…", len(err.Error()), err)
			}
			return
		}
		if text := strings.TrimSpace(out); strings.HasPrefix(text, "{") && !json.Valid([]byte(text)) {
			t.Fatalf("read %+v from %q, which is not one JSON object", d, text)
		}
		if d.PendingJobs < 0 || d.PendingGPUs < 0 {
			t.Fatalf("jobs %d, GPUs %d; want counts ≥ 0", d.PendingJobs, d.PendingGPUs)
		}
		for i, g := range d.JobGPUs {
			if g < 0 || g > signals.MaxJobGPUs {
				t.Fatalf("job %d asks %d GPUs, want 0 to %d", i, g, signals.MaxJobGPUs)
			}
		}
		if d.JobWaits != nil && len(d.JobWaits) != len(d.JobGPUs) {
			t.Fatalf("%d job waits for %d jobs", len(d.JobWaits), len(d.JobGPUs))
		}
		for i, w := range d.JobWaits {
			if w < 0 || w > signals.MaxWait {
				t.Fatalf("job %d waited %v, want 0 to %v", i, w, signals.MaxWait)
			}
		}
		if d.OldestWait < 0 || d.OldestWait > signals.MaxWait || (!d.OldestWaitKnown && d.OldestWait != 0) {
			t.Fatalf("oldest wait %v (known %v), want one from 0 to %v", d.OldestWait, d.OldestWaitKnown, signals.MaxWait)
		}
		// With shapes, each job kept is one read without them, at least as
		// large, its wait beside it; the counts stay counts.
		shaped, err := (&Source{cfg: Config{Number: number, Shapes: signalstest.Shapes}}).parse(out)
		if err != nil {
			t.Fatalf("with shapes: %v; without: none", err)
		}
		if shaped.PendingJobs < 0 || shaped.PendingGPUs < 0 || (shaped.JobWaits != nil && len(shaped.JobWaits) != len(shaped.JobGPUs)) {
			t.Fatalf("with shapes: %+v", shaped)
		}
		if !signalstest.Kept(shaped.JobGPUs, d.JobGPUs, 8) {
			t.Fatalf("with shapes: jobs %v, not each one of %v or larger, up to 8 GPUs", shaped.JobGPUs, d.JobGPUs)
		}
	})
}
