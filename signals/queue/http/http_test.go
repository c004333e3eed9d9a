package http

import (
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/httpclient"
	"github.com/spillway-io/spillway/signals/signalstest"

	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var ctx = context.Background()

// queueServer serves testdata/queue.json, and answers other paths as asked.
func queueServer(t testing.TB) *httptest.Server {
	doc, err := os.ReadFile("testdata/queue.json")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/queue", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer t0ken" {
			http.Error(w, `{"error":"missing or bad bearer token"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	})
	mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream scheduler down", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/hostile", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"wait": 1e300, "jobs": 1e300, "gpus": "NaN", "one": 1, "hex": "0x1p4", "underscored": "1_000", "past": 1e400}`))
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"n": 1, "pad": "` + strings.Repeat("p", MaxBody) + `"}`))
	})
	mux.HandleFunc("/trailing", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"n": 1} x`))
	})
	mux.HandleFunc("/two", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("{\"n\": 1}\n{\"n\": 2}\n"))
	})
	mux.HandleFunc("/spaced", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(" \n{\"n\": 4}\r\n\t\n"))
	})
	mux.HandleFunc("/twice", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"queue": {"jobs": 5, "jobs": 500}}`))
	})
	mux.HandleFunc("/twice-elsewhere", func(w http.ResponseWriter, r *http.Request) {
		// Keys repeated where no configured field is: in another object,
		// in an array's element, and at the top of the document.
		w.Write([]byte(`{"meta": {"v": 1, "v": 2}, "items": [{"id": 1, "id": 1}], "note": "a", "note": "b", ` +
			`"queue": {"jobs": 5, "labels": {"x": 1, "x": 2}}, "data": [{"value": 3}], "q.x": {"n": 1, "m": 1, "m": 2}}`))
	})
	mux.HandleFunc("/twice-above", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"queue": {"jobs": 5}, "queue": {"jobs": 500}, "q.x": {"n": 1, "n": 2}}`))
	})
	mux.HandleFunc("/bom", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("\ufeff{\"n\": 4}"))
	})
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>login</html>"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

var env = func(k string) (string, bool) {
	v, ok := map[string]string{"QUEUE_TOKEN": "t0ken", "SECRET_FROM_FILE": "t0ken\n"}[k]
	return v, ok
}

func newSource(t testing.TB, cfg Config, opts ...Option) *Source {
	t.Helper()
	s, err := New(cfg, append([]Option{WithLookupEnv(env)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestDemandFromHTTP(t *testing.T) {
	srv := queueServer(t)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	auth := map[string]string{"Authorization": "Bearer ${QUEUE_TOKEN}"}
	tests := []struct {
		name    string
		cfg     Config
		jobs    int
		gpus    int
		known   bool
		jobGPUs []int
		wait    time.Duration
	}{
		{"all fields", Config{PendingJobs: "queue.pending_jobs", PendingGPUs: "queue.pending_gpus", OldestWaitSeconds: "queue.oldest_wait_s"},
			7, 21, true, nil, 312500 * time.Millisecond},
		{"array element string value", Config{PendingGPUs: "data[0].value"}, 0, 13, true, nil, 0},
		{"array element number", Config{PendingJobs: "data[1].value"}, 2, 0, false, nil, 0},
		{"quoted key with a dot", Config{PendingGPUs: `labels["gpu.count"]`}, 0, 3, true, nil, 0},
		{"white space around the document", Config{URL: "/spaced", PendingJobs: "n"}, 4, 0, false, nil, 0},
		// As Windows tools write UTF-8: refused, "invalid character 'ï'".
		{"a byte order mark before the document", Config{URL: "/bom", PendingJobs: "n"}, 4, 0, false, nil, 0},
		{"keys repeated where no field is read", Config{URL: "/twice-elsewhere", PendingJobs: "queue.jobs", PendingGPUs: "data[0].value", OldestWaitSeconds: `["q.x"].n`}, 5, 3, true, nil, time.Second},
		{"per-job GPUs", Config{JobGPUs: "queue.jobs"}, 7, 20, true, []int{8, 4, 4, 2, 1, 1, 0}, 0},
		{"per-job GPUs and counts that agree", Config{JobGPUs: "queue.jobs", PendingJobs: "queue.pending_jobs"}, 7, 20, true, []int{8, 4, 4, 2, 1, 1, 0}, 0},
		{"per-job GPUs and waits", Config{JobGPUs: "queue.jobs", JobWaitSeconds: "queue.waits"}, 7, 20, true, []int{8, 4, 4, 2, 1, 1, 0}, 312500 * time.Millisecond},
		{"jobs of 8 GPUs each", Config{PendingJobs: "queue.pending_jobs", GPUsPerJob: 8}, 7, 56, true, slices.Repeat([]int{8}, 7), 0},
		{"GPUs in jobs of 4 each", Config{PendingGPUs: "queue.pending_gpus", GPUsPerJob: 4}, 6, 24, true, slices.Repeat([]int{4}, 6), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.URL, cfg.Headers = srv.URL+cmp.Or(cfg.URL, "/queue"), auth
			d, err := newSource(t, cfg, WithNow(func() time.Time { return now })).Demand(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if d.PendingJobs != tt.jobs || d.PendingGPUs != tt.gpus || d.PendingGPUsKnown != tt.known || !slices.Equal(d.JobGPUs, tt.jobGPUs) || d.OldestWait != tt.wait || d.OldestWaitKnown != (tt.wait != 0) {
				t.Errorf("read %+v; want jobs %d GPUs %d (known %v) per job %v oldest %v", d, tt.jobs, tt.gpus, tt.known, tt.jobGPUs, tt.wait)
			}
			wantWaits := []time.Duration(nil)
			if tt.cfg.JobWaitSeconds != "" {
				wantWaits = []time.Duration{312500 * time.Millisecond, 200 * time.Second, 100 * time.Second, time.Minute, 30 * time.Second, 5 * time.Second, 0}
			}
			if !slices.Equal(d.JobWaits, wantWaits) {
				t.Errorf("job waits %v, want %v", d.JobWaits, wantWaits)
			}
			if !strings.HasPrefix(d.Source, "http:127.0.0.1:") || !d.Time.Equal(now) {
				t.Errorf("source %q time %v", d.Source, d.Time)
			}
		})
	}
}

// TestShapesFromHTTP: with the pool's shapes, each job's CPUs and memory
// from the document count it as the smallest shape that holds it: the
// 1-GPU job asking for 32 CPUs as 4 GPUs; the job asking for 900 GiB, more
// than any shape has, is left out, with its wait.
func TestShapesFromHTTP(t *testing.T) {
	srv := queueServer(t)
	shapes := []policy.Shape{{GPUs: 1, VCPUs: 4, MemMiB: 16 << 10}, {GPUs: 4, VCPUs: 48, MemMiB: 192 << 10}, {GPUs: 8, VCPUs: 192, MemMiB: 768 << 10}}
	cfg := Config{URL: srv.URL + "/queue", Headers: map[string]string{"Authorization": "Bearer ${QUEUE_TOKEN}"},
		JobGPUs: "queue.jobs", JobWaitSeconds: "queue.waits", JobCPUs: "queue.cpus", JobMemoryGiB: "queue.memory_gib", Shapes: shapes}
	d, err := newSource(t, cfg).Demand(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The 2-GPU job counts as 2: the smallest shape for its GPUs, the
	// 4-GPU one, holds its CPUs and memory, and may take another such job.
	if want := []int{8, 4, 4, 2, 4, 1}; !slices.Equal(d.JobGPUs, want) || d.PendingJobs != 6 || d.PendingGPUs != 23 || d.Larger != 1 {
		t.Errorf("jobs %v (%d jobs, %d GPUs, %d counted larger), want %v (6, 23, 1)", d.JobGPUs, d.PendingJobs, d.PendingGPUs, d.Larger, want)
	}
	if want := []time.Duration{312500 * time.Millisecond, 200 * time.Second, 100 * time.Second, time.Minute, 30 * time.Second, 5 * time.Second}; !slices.Equal(d.JobWaits, want) {
		t.Errorf("waits %v, want %v (the left-out job's dropped)", d.JobWaits, want)
	}
	if want := []signals.LeftOut{{Why: "asking for 900 GiB of memory on one node, more than any instance the pool rents with its GPUs has", Jobs: 1}}; !slices.Equal(d.LeftOut, want) {
		t.Errorf("left out %+v, want %+v", d.LeftOut, want)
	}
	cfg.Shapes = nil
	if d, err := newSource(t, cfg).Demand(ctx); err != nil || !slices.Equal(d.JobGPUs, []int{8, 4, 4, 2, 1, 1, 0}) {
		t.Errorf("without shapes: jobs %v (%v), want each by its GPUs", d.JobGPUs, err)
	}
}

func TestDemandErrors(t *testing.T) {
	srv := queueServer(t)
	auth := map[string]string{"Authorization": "Bearer ${QUEUE_TOKEN}"}
	tests := []struct {
		name      string
		cfg       Config
		permanent bool
		status    int
		want      []string
	}{
		{"missing key", Config{URL: srv.URL + "/queue", Headers: auth, PendingGPUs: "queue.pending_gpu"}, true, 200,
			[]string{`pending_gpus (field path queue.pending_gpu): queue has no key "pending_gpu" (it has keys "cpus", "jobs", "memory_gib", "oldest_wait_s", "pending_gpus", "pending_jobs", "waits")`}},
		{"index out of range", Config{URL: srv.URL + "/queue", Headers: auth, PendingGPUs: "data[5].value"}, true, 200,
			[]string{"data has 2 elements, no index 5"}},
		{"key on an array", Config{URL: srv.URL + "/queue", Headers: auth, PendingGPUs: "data.value"}, true, 200,
			[]string{`data is an array of 2, not an object: cannot take key "value"`}},
		{"not a number", Config{URL: srv.URL + "/queue", Headers: auth, PendingJobs: "status"}, true, 200,
			[]string{`pending_jobs (field path status) is the string "ok", want a number`}},
		{"null", Config{URL: srv.URL + "/queue", Headers: auth, OldestWaitSeconds: "nothing", PendingJobs: "queue.pending_jobs"}, true, 200,
			[]string{"oldest_wait_seconds (field path nothing) is null, want a number"}},
		{"wait beyond a year", Config{URL: srv.URL + "/hostile", PendingJobs: "one", OldestWaitSeconds: "wait"}, true, 200,
			[]string{"oldest_wait_seconds (field path wait): wait 1e+300 s is out of range: want seconds from 0 to 31536000"}},
		{"count beyond int32", Config{URL: srv.URL + "/hostile", PendingJobs: "jobs"}, true, 200,
			[]string{"pending_jobs (field path jobs) is 1e+300, out of range: want a count from 0 to 2147483647"}},
		// It read "is the number 1e400, want a number".
		{"count past what a float holds", Config{URL: srv.URL + "/hostile", PendingJobs: "past"}, true, 200,
			[]string{"pending_jobs (field path past) is the number 1e400, too large to be read as a number: want a number ≥ 0"}},
		{"NaN count", Config{URL: srv.URL + "/hostile", PendingGPUs: "gpus"}, true, 200,
			[]string{"pending_gpus (field path gpus) is NaN, want a number ≥ 0"}},
		{"Go's hexadecimal float in a string", Config{URL: srv.URL + "/hostile", PendingJobs: "hex"}, true, 200,
			[]string{`pending_jobs (field path hex) is the string "0x1p4", want a number`}},
		{"digits with underscores in a string", Config{URL: srv.URL + "/hostile", PendingJobs: "underscored"}, true, 200,
			[]string{`pending_jobs (field path underscored) is the string "1_000", want a number`}},
		{"job_gpus not an array", Config{URL: srv.URL + "/queue", Headers: auth, JobGPUs: "queue"}, true, 200,
			[]string{"job_gpus (field path queue) is an object, want an array of numbers"}},
		{"401 without the token", Config{URL: srv.URL + "/queue", PendingJobs: "queue.pending_jobs"}, true, 401,
			[]string{"answered 401 Unauthorized (want 2xx)", "missing or bad bearer token"}},
		{"503", Config{URL: srv.URL + "/broken", PendingJobs: "x"}, false, 503,
			[]string{"answered 503 Service Unavailable (want 2xx)", "upstream scheduler down"}},
		{"not JSON", Config{URL: srv.URL + "/html", PendingJobs: "x"}, false, 200,
			[]string{"body is not JSON", "<html>login</html>"}},
		{"junk after the document", Config{URL: srv.URL + "/trailing", PendingJobs: "n"}, false, 200,
			[]string{`body has more after the JSON document at byte 8 (want one JSON value): "x"`}},
		{"two documents", Config{URL: srv.URL + "/two", PendingJobs: "n"}, false, 200,
			[]string{`body has more after the JSON document at byte 8 (want one JSON value): "{\"n\": 2}"`}},
		{"a count twice", Config{URL: srv.URL + "/twice", PendingJobs: "queue.jobs"}, true, 200,
			[]string{`body: the object at queue has the key "jobs" twice (which one counts? want each key once)`}},
		{"an object on the path twice", Config{URL: srv.URL + "/twice-above", PendingJobs: "queue.jobs"}, true, 200,
			[]string{`body: the document has the key "queue" twice (which one counts? want each key once)`}},
		{"a count under a dotted key twice", Config{URL: srv.URL + "/twice-above", PendingJobs: `["q.x"].n`}, true, 200,
			[]string{`body: the object at ["q.x"] has the key "n" twice`}},
		{"body past the limit", Config{URL: srv.URL + "/huge", PendingJobs: "n"}, true, 200,
			[]string{"body is larger than 134217728 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Name = "http:jobs"
			_, err := newSource(t, tt.cfg).Demand(ctx)
			var herr *Error
			if !errors.As(err, &herr) {
				t.Fatalf("error %v, want a *http.Error", err)
			}
			if herr.Permanent() != tt.permanent || herr.Status != tt.status {
				t.Errorf("permanent %v status %d, want %v %d", herr.Permanent(), herr.Status, tt.permanent, tt.status)
			}
			for _, w := range append(tt.want, `http source "http:jobs": GET `+tt.cfg.URL) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// hostileDocs are documents a queue endpoint should not be able to serve
// past the bounds: their errors say what is wrong in a few hundred bytes.
var hostileDocs = []struct {
	name string
	doc  string
	cfg  Config
	want string
}{
	{"job beyond MaxJobGPUs", `{"jobs": [1, 2000000]}`, Config{JobGPUs: "jobs"},
		"job_gpus (field path jobs) element 1 is 2000000 GPUs, want at most 1048576 for a job"},
	{"fewer waits than jobs", `{"jobs": [1, 2], "waits": [5]}`, Config{JobGPUs: "jobs", JobWaitSeconds: "waits"},
		"job_wait_seconds (field path waits) has 1 waits for 2 jobs in job_gpus (field path jobs); want one wait per job, in the same order"},
	{"negative wait", `{"jobs": [1, 2], "waits": [5, -3]}`, Config{JobGPUs: "jobs", JobWaitSeconds: "waits"},
		"job_wait_seconds (field path waits) element 1 is -3, want a number ≥ 0"},
	{"wait beyond a year", `{"jobs": [1], "waits": [1e300]}`, Config{JobGPUs: "jobs", JobWaitSeconds: "waits"},
		"job_wait_seconds (field path waits) element 0: wait 1e+300 s is out of range: want seconds from 0 to 31536000"},
	{"waits not an array", `{"jobs": [1], "waits": {"a": 1}}`, Config{JobGPUs: "jobs", JobWaitSeconds: "waits"},
		"job_wait_seconds (field path waits) is an object, want an array of numbers"},
	{"counts that contradict the list", `{"jobs": [1, 2], "n": 1, "g": 100}`, Config{JobGPUs: "jobs", PendingJobs: "n", PendingGPUs: "g"},
		"job_gpus (field path jobs): pending_jobs is 1 but job_gpus lists 2 jobs; pending_gpus is 100 but job_gpus sums to 3 GPUs (want pending_jobs the jobs listed"},
	{"a job count that contradicts the list", `{"jobs": [1, 2], "n": 3}`, Config{JobGPUs: "jobs", PendingJobs: "n"},
		"job_gpus (field path jobs): pending_jobs is 3 but job_gpus lists 2 jobs (want"},
	{"a list past 2^20 jobs", `{"jobs": [` + strings.Repeat("0,", 1<<20) + `0]}`, Config{JobGPUs: "jobs"},
		"job_gpus (field path jobs) lists 1048577 jobs, want at most 1048576 (a longer queue can be read by its counts alone)"},
	{"a list summing past MaxCount", `{"jobs": [` + strings.Repeat("1048576,", 2048) + `1048576]}`, Config{JobGPUs: "jobs"},
		"job_gpus sums to 2148532224 GPUs, want at most 2147483647"},
	{"long keys", `{"` + strings.Repeat("k", 1e5) + `": 1, "b": 2}`, Config{PendingJobs: "a"},
		`the document has no key "a" (it has keys "b", "` + strings.Repeat("k", 40) + `…")`},
	{"long number", `{"n": 1` + strings.Repeat("0", 1e5) + `}`, Config{PendingJobs: "n"},
		"pending_jobs (field path n) is the number 1" + strings.Repeat("0", 39) + "…, too large to be read as a number"},
	{"path through a long number", `{"n": 1` + strings.Repeat("0", 1e5) + `}`, Config{PendingJobs: "n.x"},
		"n is the number 1" + strings.Repeat("0", 39) + "…, cannot take x"},
}

func TestReadHostileDocument(t *testing.T) {
	for _, tt := range hostileDocs {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.URL = "http://queue.example/q"
			var doc any
			dec := json.NewDecoder(strings.NewReader(tt.doc))
			dec.UseNumber()
			if err := dec.Decode(&doc); err != nil {
				t.Fatal(err)
			}
			_, err := newSource(t, cfg).read(doc)
			if err == nil || !strings.Contains(err.Error(), tt.want) || len(err.Error()) > 500 {
				t.Errorf("error %.1000v, want it to contain %q and be at most 500 bytes", err, tt.want)
			}
		})
	}
}

func TestDemandUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/queue"
	srv.Close()
	_, err := newSource(t, Config{URL: url, PendingJobs: "n"}).Demand(ctx)
	var herr *Error
	if !errors.As(err, &herr) || herr.Permanent() {
		t.Fatalf("error %v, want a retryable *http.Error", err)
	}
	for _, w := range []string{`http source "http:` + strings.TrimPrefix(srv.URL, "http://") + `"`, "connection refused"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{URL: "ftp://x/q", PendingJobs: "a"}, `url "ftp://x/q" is not an http:// or https:// URL`},
		{Config{URL: "http://x/q"}, "none of pending_jobs, pending_gpus, job_gpus is set"},
		{Config{URL: "http://x/q", PendingJobs: "a..b"}, `pending_jobs: field path "a..b": misplaced dot`},
		{Config{URL: "http://x/q", PendingJobs: "data[x]"}, `index "x" is not a whole number`},
		{Config{URL: "http://x/q", PendingJobs: "data[0"}, "unclosed ["},
		{Config{URL: "http://x/q", PendingJobs: "a", JobWaitSeconds: "w"}, "job_wait_seconds is set without job_gpus (each wait belongs to a job of job_gpus: set both)"},
		{Config{URL: "http://x/q", PendingJobs: "a", JobCPUs: "c"}, "job_cpus is set without job_gpus (each CPU count belongs to a job of job_gpus: set both)"},
		{Config{URL: "http://x/q", PendingJobs: "a", JobMemoryGiB: "m"}, "job_memory_gib is set without job_gpus"},
		{Config{URL: "http://x/q", PendingJobs: "a", Headers: map[string]string{"Authorization": "Bearer ${NOPE}"}}, "header Authorization uses NOPE, not set in the environment"},
		// Sent, every read failed: "net/http: invalid header field value".
		{Config{URL: "http://x/q", PendingJobs: "a", Headers: map[string]string{"Authorization": "Bearer ${SECRET_FROM_FILE}"}},
			`header Authorization's value holds the control character '\n' at byte 12, which no request may carry (from ${SECRET_FROM_FILE}: a secret made from a file keeps its last line break`},
		{Config{URL: "http://x/q", PendingJobs: "a", Headers: map[string]string{"X-Token": "a\x00b"}}, `header X-Token's value holds the control character '\x00' at byte 1`},
		{Config{URL: "http://x/q", PendingJobs: "a", Headers: map[string]string{"X Token": "a"}}, `header name "X Token" is not valid: want letters, digits and`},
		{Config{URL: "http://x/q", PendingJobs: "a", GPUsPerJob: -8}, "gpus_per_job -8 is out of range (want 1 to 1048576"},
		{Config{URL: "http://x/q", JobGPUs: "a", GPUsPerJob: 8}, "gpus_per_job is set with job_gpus"},
		{Config{URL: "http://x/q", PendingJobs: "a", PendingGPUs: "b", GPUsPerJob: 8}, "gpus_per_job is set with both pending_jobs and pending_gpus"},
	}
	for _, tt := range tests {
		_, err := New(tt.cfg, WithLookupEnv(env))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) error %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

func TestParsePath(t *testing.T) {
	tests := map[string]string{
		// Found by FuzzParsePath: a quoted key ended at its first ].
		`a["b]"][0]`:              "a.b][0]",
		`a["\"]\""]`:              `a."]"`,
		"a":                       "a",
		"queue.pending_gpus":      "queue.pending_gpus",
		"data[0].value":           "data[0].value",
		"data.result[0].value[1]": "data.result[0].value[1]",
		"[2]":                     "[2]",
		`labels["gpu.count"]`:     "labels.gpu.count",
	}
	for in, want := range tests {
		p, err := ParsePath(in)
		if err != nil {
			t.Errorf("ParsePath(%q): %v", in, err)
			continue
		}
		if got := p.prefix(len(p.steps)); got != want {
			t.Errorf("ParsePath(%q) steps read back as %q, want %q", in, got, want)
		}
	}
}

func BenchmarkDemand(b *testing.B) {
	srv := queueServer(b)
	s := newSource(b, Config{URL: srv.URL + "/queue", Headers: map[string]string{"Authorization": "Bearer ${QUEUE_TOKEN}"},
		PendingJobs: "queue.pending_jobs", OldestWaitSeconds: "queue.oldest_wait_s", JobGPUs: "queue.jobs"})
	for b.Loop() {
		if _, err := s.Demand(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRedirects: a redirect within the URL's host is followed, headers
// and all; one to another host is refused, naming both URLs, and the
// configured headers (a credential) never reach it.
func TestRedirects(t *testing.T) {
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		w.Write([]byte(`{"n": 3}`))
	}))
	defer other.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/q", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != "t0ken" {
			http.Error(w, "no key", http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"n": 5}`))
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/q", http.StatusFound) })
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/q", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	headers := map[string]string{"X-Api-Key": "${QUEUE_TOKEN}"}

	d, err := newSource(t, Config{URL: srv.URL + "/moved", Headers: headers, PendingJobs: "n"}).Demand(ctx)
	if err != nil || d.PendingJobs != 5 {
		t.Errorf("within the host: read %+v, error %v; want 5 jobs", d, err)
	}
	_, err = newSource(t, Config{URL: srv.URL + "/away", Headers: headers, PendingJobs: "n"}).Demand(ctx)
	want := "redirected from " + srv.URL + "/away to " + other.URL + "/q, another scheme, host or port: refused"
	if !httpclient.IsRedirect(err) || !strings.Contains(err.Error(), want) {
		t.Errorf("to another host: error %v, want a refused redirect containing %q", err, want)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the other host was asked %d times, want never", n)
	}
}

// TestRetryAfter: a 429 or 503 answer's Retry-After, in seconds or as a
// date, is what the error says the endpoint asked for, from the answer's
// time; a value that is neither, or one on another status, says nothing.
func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name   string
		status int
		header string
		want   time.Duration
		asked  bool
	}{
		{"429 in seconds", 429, "120", 2 * time.Minute, true},
		{"503 in seconds", 503, " 7 ", 7 * time.Second, true},
		{"as a date", 503, "Sun, 01 Mar 2026 12:00:30 GMT", 30 * time.Second, true},
		{"a date gone by", 429, "Sun, 01 Mar 2026 11:00:00 GMT", 0, true},
		{"zero", 429, "0", 0, true},
		{"seconds past any deadline, read as the cap", 429, "99999999999999999999999", 10 * time.Minute, true},
		{"a day, read as the cap", 503, "86400", 10 * time.Minute, true},
		{"negative", 429, "-5", 0, false},
		{"a fraction", 429, "1.5", 0, false},
		{"junk", 429, "soon", 0, false},
		{"none", 429, "", 0, false},
		{"on a 500", 500, "120", 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.header != "" {
					w.Header().Set("Retry-After", tt.header)
				}
				http.Error(w, "busy", tt.status)
			}))
			defer srv.Close()
			_, err := newSource(t, Config{Name: "q", URL: srv.URL, PendingJobs: "n"}, WithNow(func() time.Time { return now })).Demand(ctx)
			var herr *Error
			if !errors.As(err, &herr) {
				t.Fatalf("error %v, want a *http.Error", err)
			}
			wait, asked := herr.RetryAfter()
			if wait != tt.want || asked != tt.asked {
				t.Errorf("RetryAfter() = %v, %v; want %v, %v", wait, asked, tt.want, tt.asked)
			}
			if said := strings.Contains(err.Error(), "asking to be retried after "+tt.want.String()); said != tt.asked {
				t.Errorf("error %q: says when to retry %v, want %v", err, said, tt.asked)
			}
		})
	}
}

// TestBodyHoldsEveryListedJob: a body listing signals.MaxListedJobs jobs,
// each with its GPUs, wait, CPUs and memory written at their longest and
// indented (75 MiB; 8 MiB refused a list of 2^20 jobs with their
// waits), is read whole; one job more fails the read, naming the bound on
// jobs, and a body that would decode into more than MaxValues values fails
// before it is decoded, naming that bound.
func TestBodyHoldsEveryListedJob(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("{\n  \"queue\": {\n")
	signalstest.LongestJobList(&b, "    ", "job_wait_seconds", signals.MaxListedJobs)
	b.WriteString("  }\n}")
	full := b.Bytes()
	if !json.Valid(full) || len(full) <= 8<<20 {
		t.Fatalf("a body of %d bytes (valid JSON: %v): want one past 8 MiB", len(full), json.Valid(full))
	}
	over := append([]byte(`{"queue": {"job_gpus": [1`), bytes.Repeat([]byte(",1"), signals.MaxListedJobs)...)
	over = append(over, "]}}"...)
	values := append([]byte(`{"n": 1, "pad": [0`), bytes.Repeat([]byte(",0"), MaxValues)...)
	values = append(values, "]}"...)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(map[string][]byte{"/full": full, "/over": over, "/values": values}[r.URL.Path])
	}))
	defer srv.Close()
	cfg := Config{Name: "q", JobGPUs: "queue.job_gpus", JobWaitSeconds: "queue.job_wait_seconds", JobCPUs: "queue.job_cpus", JobMemoryGiB: "queue.job_memory_gib"}

	cfg.URL = srv.URL + "/full"
	d, err := newSource(t, cfg).Demand(ctx)
	if err != nil {
		t.Fatalf("%d bytes listing %d jobs: %v", len(full), signals.MaxListedJobs, err)
	}
	if d.PendingJobs != signals.MaxListedJobs || len(d.JobGPUs) != signals.MaxListedJobs || len(d.JobWaits) != signals.MaxListedJobs || d.PendingGPUs != 2047*signals.MaxListedJobs {
		t.Errorf("read %d jobs, %d sizes, %d waits, %d GPUs; want %d jobs of 2047 GPUs, each with its wait",
			d.PendingJobs, len(d.JobGPUs), len(d.JobWaits), d.PendingGPUs, signals.MaxListedJobs)
	}
	for _, tt := range []struct{ path, want string }{
		{"/over", "lists 1048577 jobs, want at most 1048576"},
		{"/values", "body holds more than 5242880 JSON values and keys, the most this source decodes"},
	} {
		cfg := Config{Name: "q", URL: srv.URL + tt.path, JobGPUs: "queue.job_gpus"}
		_, err := newSource(t, cfg).Demand(ctx)
		var herr *Error
		if !errors.As(err, &herr) || !herr.Permanent() || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want a permanent *http.Error containing %q", tt.path, err, tt.want)
		}
	}
}

// demandStalled is the error of a read, under a deadline of 3s, of a
// server that calls stall and then sends nothing more.
func demandStalled(t *testing.T, stall func(w http.ResponseWriter)) error {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stall(w)
		<-r.Context().Done() // the rest never comes
	}))
	t.Cleanup(srv.Close)
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err := newSource(t, Config{URL: srv.URL, PendingJobs: "n"}).Demand(rctx)
	return err
}

// TestSlowBodySaysWhatArrived: an answer that stops after its first bytes
// failed as "reading the body: context deadline exceeded", saying neither
// how much arrived nor when the deadline was.
func TestSlowBodySaysWhatArrived(t *testing.T) {
	err := demandStalled(t, func(w http.ResponseWriter) {
		w.Header().Set("Content-Length", "5000")
		w.Write([]byte(strings.Repeat(" ", 1000)))
		w.(http.Flusher).Flush()
	})
	var stopped *httpclient.StoppedError
	if !errors.As(err, &stopped) || stopped.Read != 1000 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v; want a *httpclient.StoppedError of 1000 bytes at the deadline", err)
	}
	want := regexp.MustCompile(`reading the body: 1000 bytes of the body of the 5000 its Content-Length announced had arrived when the read stopped, [0-9.]+m?s after the request: the rest did not come before the read's deadline, (2\.9[0-9]*|3)s after the request \(context deadline exceeded\)`)
	if !want.MatchString(err.Error()) {
		t.Errorf("error %q; want it to match %s", err, want)
	}
}

// TestNoStatusLineSaysSo: a server that takes the request and answers
// nothing failed as 'Get "…": context deadline exceeded'.
func TestNoStatusLineSaysSo(t *testing.T) {
	err := demandStalled(t, func(http.ResponseWriter) {})
	want := regexp.MustCompile(`: no answer \(not even its status line\) before the read's deadline, (2\.9[0-9]*|3)s after the request: Get "[^"]+": context deadline exceeded$`)
	if !errors.Is(err, context.DeadlineExceeded) || !want.MatchString(err.Error()) {
		t.Errorf("error %v; want it to match %s", err, want)
	}
}
