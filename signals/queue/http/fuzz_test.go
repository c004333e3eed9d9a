package http

import (
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/signalstest"
)

// FuzzParsePath: an accepted path reads back the same from its canonical
// form (every key quoted, every index bracketed) and leads lookup to the
// value at its end; any key written as ["key"] is that one key.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"a", "queue.pending_gpus", "data[0].value", "data.result[0].value[1]", "[2]", `labels["gpu.count"]`,
		`a["b\"c"][3]`, "a..b", "data[x]", "data[0", ".a", "a.", "a[0]b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if p, err := ParsePath("[" + strconv.Quote(text) + "]"); err != nil || len(p.steps) != 1 || p.steps[0] != (step{key: text}) {
			t.Fatalf("key %q written as [%q]: steps %v, error %v; want the one key", text, text, p.steps, err)
		}
		p, err := ParsePath(text)
		if err != nil {
			return
		}
		if len(p.steps) == 0 {
			t.Fatalf("ParsePath(%q) has no steps", text)
		}
		var canon strings.Builder
		for _, s := range p.steps {
			if s.isIdx {
				canon.WriteString("[" + strconv.Itoa(s.index) + "]")
			} else {
				canon.WriteString("[" + strconv.Quote(s.key) + "]")
			}
		}
		again, err := ParsePath(canon.String())
		if err != nil || !slices.Equal(again.steps, p.steps) {
			t.Fatalf("ParsePath(%q) = %v; its canonical form %s reads %v, error %v", text, p.steps, canon.String(), again.steps, err)
		}
		// A document holding a value at the path, built from the inside out.
		var doc any = "found"
		for _, s := range slices.Backward(p.steps) {
			if !s.isIdx {
				doc = map[string]any{s.key: doc}
				continue
			}
			if s.index > 16 {
				return
			}
			arr := make([]any, s.index+1)
			arr[s.index] = doc
			doc = arr
		}
		if v, err := p.lookup(doc); v != "found" || err != nil {
			t.Fatalf("%s in its own document: %v, error %v", text, v, err)
		}
	})
}

// FuzzRead: whatever JSON document a queue endpoint serves, read returns a
// demand in range (each job from 0 to MaxJobGPUs GPUs, each job's wait and
// the oldest wait from 0 to MaxWait) or an error that quotes no more than a few hundred bytes of
// the document.
func FuzzRead(f *testing.F) {
	doc, err := os.ReadFile("testdata/queue.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(doc, "queue.jobs", "queue.pending_jobs", "queue.pending_gpus", "queue.oldest_wait_s", "")
	f.Add(doc, "queue.jobs", "", "", "", "queue.waits")
	f.Add(doc, "queue.jobs", "queue.cpus", "queue.memory_gib", "", "queue.waits")
	f.Add(doc, "", "", "data[0].value", "", "")
	f.Add(doc, "", "data[1].value", `labels["gpu.count"]`, "nothing", "")
	f.Add(doc, "queue", "status", "data.value", "data[5].value", "queue.jobs")
	f.Add([]byte(`{"wait": 1e300, "jobs": 1e300, "gpus": "NaN", "one": 1}`), "", "jobs", "gpus", "wait", "")
	f.Add([]byte(`{"jobs": [1, 2.5, "3", 4096]}`), "jobs", "", "", "", "jobs")
	for _, h := range hostileDocs {
		f.Add([]byte(h.doc), h.cfg.JobGPUs, h.cfg.PendingJobs, h.cfg.PendingGPUs, h.cfg.OldestWaitSeconds, h.cfg.JobWaitSeconds)
	}
	f.Fuzz(func(t *testing.T, body []byte, jobGPUs, jobs, gpus, wait, jobWaits string) {
		s, err := New(Config{URL: "http://queue.example/q", JobGPUs: jobGPUs, PendingJobs: jobs, PendingGPUs: gpus, OldestWaitSeconds: wait, JobWaitSeconds: jobWaits})
		if err != nil {
			return
		}
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.UseNumber()
		var doc any
		if err := dec.Decode(&doc); err != nil {
			return
		}
		d, err := s.read(doc)
		if err != nil {
			// The paths come from the config; the document may say anything.
			if limit := 2000 + 8*len(jobGPUs+jobs+gpus+wait+jobWaits); len(err.Error()) > limit {
				t.Fatalf("error of %d bytes (want at most %d): %.300s…", len(err.Error()), limit, err)
			}
			return
		}
		if d.PendingJobs < 0 || d.PendingGPUs < 0 {
			t.Fatalf("jobs %d, GPUs %d; want counts ≥ 0", d.PendingJobs, d.PendingGPUs)
		}
		for i, g := range d.JobGPUs {
			if g < 0 || g > signals.MaxJobGPUs {
				t.Fatalf("job %d asks %d GPUs, want 0 to %d", i, g, signals.MaxJobGPUs)
			}
		}
		if d.OldestWaitKnown != (wait != "" || jobWaits != "") || d.OldestWait < 0 || d.OldestWait > signals.MaxWait {
			t.Fatalf("oldest wait %v (known %v); want one from 0 to %v, known when its path or job waits' is set", d.OldestWait, d.OldestWaitKnown, signals.MaxWait)
		}
		if jobWaits != "" && len(d.JobWaits) != len(d.JobGPUs) {
			t.Fatalf("%d job waits for %d jobs", len(d.JobWaits), len(d.JobGPUs))
		}
		for i, w := range d.JobWaits {
			if w < 0 || w > signals.MaxWait {
				t.Fatalf("job %d waited %v, want 0 to %v", i, w, signals.MaxWait)
			}
		}
		// The paths of pending jobs and GPUs as those of each job's CPUs
		// and memory, with shapes: each job kept is one read without them,
		// at least as large, with its wait; jobs and GPUs are the list's.
		if jobGPUs == "" {
			return
		}
		shaped, err := New(Config{URL: "http://queue.example/q", JobGPUs: jobGPUs, JobWaitSeconds: jobWaits, JobCPUs: jobs, JobMemoryGiB: gpus, Shapes: signalstest.Shapes})
		if err != nil {
			return
		}
		plain, err := New(Config{URL: "http://queue.example/q", JobGPUs: jobGPUs, JobWaitSeconds: jobWaits})
		if err != nil {
			t.Fatalf("without job_cpus and job_memory_gib: %v", err)
		}
		sd, err := shaped.read(doc)
		if err != nil {
			return
		}
		pd, err := plain.read(doc)
		if err != nil {
			t.Fatalf("without job_cpus and job_memory_gib: %v; with: none", err)
		}
		sum := 0
		for _, g := range sd.JobGPUs {
			sum += g
		}
		if sd.PendingJobs != len(sd.JobGPUs) || sd.PendingGPUs != sum || (jobWaits != "" && len(sd.JobWaits) != len(sd.JobGPUs)) {
			t.Fatalf("with shapes: %d jobs, %d GPUs, %d waits for jobs %v", sd.PendingJobs, sd.PendingGPUs, len(sd.JobWaits), sd.JobGPUs)
		}
		if !signalstest.Kept(sd.JobGPUs, pd.JobGPUs, 8) {
			t.Fatalf("with shapes: jobs %v, not each one of %v or larger, up to 8 GPUs", sd.JobGPUs, pd.JobGPUs)
		}
	})
}
