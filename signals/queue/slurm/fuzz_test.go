package slurm

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/signalstest"
)

// maxErrLen bounds a parse error, whatever squeue printed: the error goes
// to logs and the status page on every tick.
const maxErrLen = 1000

// FuzzParseGPUs: a TRES string reads as a count from 0 to MaxJobGPUs or as
// a bounded error; other items beside it change nothing, and it adds up
// with itself.
func FuzzParseGPUs(f *testing.F) {
	for _, s := range []string{"N/A", "", "(null)", "gres:gpu:4", "gres/gpu:a100:2", "gpu", "gres/gpu=5", "gres/gpu:h100=6",
		"cpu=4,mem=1G,gres/gpu=2", "gres/gpu:a100:2,gres/gpu:v100:1", "gres:gpu:2(IDX:0-1)", "gres:mps:100",
		"gres:gpu:lots", "gres/gpu:a100:-1", "gres/gpu:9223372036854775807", "gres/gpu:1048576"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tres string) {
		n, err := ParseGPUs(tres)
		if err != nil {
			if len(err.Error()) > maxErrLen {
				t.Fatalf("error of %d bytes: %.300s…", len(err.Error()), err)
			}
			return
		}
		if n < 0 || n > signals.MaxJobGPUs {
			t.Fatalf("ParseGPUs(%q) = %d, want 0 to %d", tres, n, signals.MaxJobGPUs)
		}
		if m, err := ParseGPUs("cpu=4,mem=1G," + tres); m != n || err != nil {
			t.Fatalf("with cpu and mem items before it: %d, %v; want %d", m, err, n)
		}
		m, err := ParseGPUs(tres + "," + tres)
		if n <= signals.MaxJobGPUs/2 && (m != 2*n || err != nil) {
			t.Fatalf("ParseGPUs(%q) twice = %d, %v; want %d", tres, m, err, 2*n)
		}
		if n > signals.MaxJobGPUs/2 && err == nil {
			t.Fatalf("ParseGPUs(%q) twice = %d, want an error (%d GPUs is above %d)", tres, m, 2*n, signals.MaxJobGPUs)
		}
	})
}

// FuzzParseSqueue: whatever squeue prints, parse returns either a bounded
// error or demand in range: each job from 0 to MaxJobGPUs GPUs, the totals
// their sum, an oldest wait from 0 to MaxWait known exactly when a job is.
func FuzzParseSqueue(f *testing.F) {
	out, err := os.ReadFile("testdata/squeue.txt")
	if err != nil {
		f.Fatal(err)
	}
	het, err := os.ReadFile("testdata/squeue_het.txt")
	if err != nil {
		f.Fatal(err)
	}
	for _, out := range []string{string(out), string(het)} {
		f.Add(out, false)
		f.Add(out, true)
		for line := range strings.Lines(out) {
			f.Add(line, false)
		}
	}
	f.Add("7|N/A|gres:gpu:4|\n", false)
	f.Add("7|N/A|gres:gpu:x|N/A|1|1|Priority|2026-11-22T10:00:00|2026-11-22T10:00:00|\n", false)
	f.Add("7|N/A|gres:gpu:1|N/A|1|1|Priority|yesterday|Unknown|\n", false)
	f.Add("7|N/A|gres/gpu:1024|N/A|4096|1|Priority|2026-11-22T10:00:00|N/A|\n", false)
	f.Add("7|gres/gpu:a100=2,gres/gpu:h100:1(S:0)|N/A|N/A|1|1|Priority|2026-11-22T10:00:00|N/A|\n", false)
	f.Add("7|N/A|gres:gpu:1|N/A|1|1|Priority|2026-11-22T10:00:00|N/A|64G|cpu=32,mem=64G,node=1,billing=32|\n", false)
	f.Add("7|N/A|gres:gpu:1|N/A|1|1|Priority|2026-11-22T10:00:00|N/A|0|cpu=999,mem=9P,node=1|\n", false)
	f.Add("7|N/A|gres:gpu:1|N/A|1|1|Priority|2026-11-22T10:00:00|N/A|0|cpu=1|N/A|N/A|*:*:*|[rack1*2|ib]&!onprem|\n", false)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, out string, countAll bool) {
		d, err := New(Config{Partition: "gpu", CountAll: countAll}, WithLocation(time.UTC)).parse(out, now)
		if err != nil {
			if len(err.Error()) > maxErrLen {
				t.Fatalf("error of %d bytes: %.300s…", len(err.Error()), err)
			}
			return
		}
		sum := 0
		for i, g := range d.JobGPUs {
			if g < 0 || g > signals.MaxJobGPUs {
				t.Fatalf("job %d asks %d GPUs, want 0 to %d", i, g, signals.MaxJobGPUs)
			}
			sum += g
		}
		if d.PendingJobs != len(d.JobGPUs) || d.PendingGPUs != sum || !d.PendingGPUsKnown {
			t.Fatalf("jobs %d, GPUs %d (known %v); want %d jobs and %d GPUs known, from %v", d.PendingJobs, d.PendingGPUs, d.PendingGPUsKnown, len(d.JobGPUs), sum, d.JobGPUs)
		}
		if d.OldestWaitKnown != (d.PendingJobs > 0) || d.OldestWait < 0 || d.OldestWait > signals.MaxWait {
			t.Fatalf("%d jobs, oldest wait %v (known %v); want one from 0 to %v when a job is pending", d.PendingJobs, d.OldestWait, d.OldestWaitKnown, signals.MaxWait)
		}
		if len(d.JobWaits) != len(d.JobGPUs) {
			t.Fatalf("%d job waits for %d jobs", len(d.JobWaits), len(d.JobGPUs))
		}
		for i, w := range d.JobWaits {
			if w < 0 || w > d.OldestWait {
				t.Fatalf("job %d waited %v, want 0 to the oldest wait %v", i, w, d.OldestWait)
			}
		}
		// gpu_types and features only leave jobs out: the jobs they keep
		// are some of those read without them, in the same order. Shapes
		// also count a job as more GPUs, up to the largest shape.
		for _, c := range []struct {
			what string
			cfg  Config
			upTo int
		}{
			{"gpu_types", Config{GPUTypes: []string{"a100"}}, 0},
			{"features", Config{Features: []string{"ib"}}, 0},
			{"shapes", Config{Shapes: signalstest.Shapes}, 8},
		} {
			c.cfg.Partition, c.cfg.CountAll = "gpu", countAll
			got, err := New(c.cfg, WithLocation(time.UTC)).parse(out, now)
			if err != nil {
				t.Fatalf("with %s: %v; without: none", c.what, err)
			}
			if !signalstest.Kept(got.JobGPUs, d.JobGPUs, c.upTo) {
				t.Fatalf("with %s: jobs %v, not each one of %v (or larger, up to %d GPUs)", c.what, got.JobGPUs, d.JobGPUs, c.upTo)
			}
		}
	})
}

// FuzzParseArrayRoom: whatever the array query prints, each array's room
// is from 0 to its %N limit, and only arrays with a pending task and a
// limit have one.
func FuzzParseArrayRoom(f *testing.F) {
	for _, s := range []string{"", "1234|1-6%2|PD\n", "1234|1-6%2|PD\n1234|3|R\n1234|4|R\n1234|5|R\n", "1234|N/A|PD\n",
		"1234|[1-1000%0]|PD\n", "1234|1-9%-3|PD\n", "1234|1-9%99999999999999999999|PD\n", "|%|\n||||\n", "1|%4|PD\r\n1|%4|R\n"} {
		f.Add(s)
	}
	f.Add("1234|1-6%2|PD\n1234|9|PD\n1234|3-4,7,...%2|PD\n")
	f.Add("1234|[4-5,2,9-1]|PD\n")
	f.Fuzz(func(t *testing.T, out string) {
		arr := parseArrayRoom(out)
		kept := 0
		for id, ranges := range arr.pending {
			// Sorted ranges of tasks, kept within the bound.
			for i, r := range ranges {
				if r.lo < 0 || r.hi < r.lo || i > 0 && ranges[i-1].lo > r.lo {
					t.Fatalf("array %q: pending ranges %v, not sorted ranges of tasks", id, ranges)
				}
				if !arr.pends(id, strconv.Itoa(r.lo)) || !arr.pends(id, strconv.Itoa(r.hi)) {
					t.Fatalf("array %q: ranges %v, yet task %d or %d does not pend", id, ranges, r.lo, r.hi)
				}
			}
			kept += len(ranges)
		}
		if kept > maxTaskRanges {
			t.Fatalf("%d ranges kept, want at most %d", kept, maxTaskRanges)
		}
		for id, room := range arr.room {
			if room < 0 {
				t.Fatalf("array %q: room %d, want at least 0", id, room)
			}
			limit := -1
			for line := range strings.Lines(out) {
				fs := strings.Split(strings.TrimSpace(line), "|")
				if len(fs) >= 3 && strings.TrimSpace(fs[0]) == id && strings.TrimSpace(fs[2]) == "PD" {
					if i := strings.LastIndexByte(fs[1], '%'); i >= 0 {
						if n, err := atoi(strings.TrimSpace(fs[1][i+1:])); err == nil && n > 0 {
							limit = max(limit, n)
						}
					}
				}
			}
			if limit < 0 || room > limit {
				t.Fatalf("array %q: room %d, want 0 to its limit (%d; -1: no pending task with a limit)", id, room, limit)
			}
		}
	})
}

// FuzzParseReasonCodes: squeue --json's output, whatever it holds, reads
// as reason codes only (never a description, which would match no
// skip_reasons), at most one a job it lists, or none.
func FuzzParseReasonCodes(f *testing.F) {
	for _, file := range []string{"testdata/squeue_22.05.json", "testdata/squeue_23.02.json"} {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{"", "null", `{"jobs": null}`, `{"jobs": [{}]}`, `{"jobs": [{"job_id": -1, "state_reason": "Priority"}]}`,
		`{"jobs": [{"job_id": {"set": true, "number": 9}, "array_job_id": 9, "array_task_id": {"set": true, "number": 1}, "state_reason": "Priority"}]}`,
		`{"jobs": [{"job_id": 1e3, "state_reason": "Resources"}]}`, `{"jobs": [{"job_id": 1, "het_job_id": 1, "het_job_offset": 99999999999, "state_reason": "X"}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, out []byte) {
		codes := parseReasonCodes(out)
		if n := strings.Count(string(out), "job_id"); len(codes) > n {
			t.Fatalf("%d codes from output naming job_id %d times", len(codes), n)
		}
		for id, code := range codes {
			if !isReasonCode(code) || id == "" {
				t.Fatalf("job %q: reason %q is not a code", id, code)
			}
			if got, ok := reasonCode(codes, id); !ok || got != code {
				t.Fatalf("reasonCode(%q) = %q, %v; want %q", id, got, ok, code)
			}
		}
	})
}
