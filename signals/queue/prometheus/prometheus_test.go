package prometheus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"go.uber.org/goleak"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/spillway-io/spillway/signals/promapi"
	"github.com/spillway-io/spillway/signals/queue/prometheus/promtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// exporter serves a queue's metrics the way a Slurm or job-queue exporter
// would; the real Prometheus scrapes it.
const exporterText = `# TYPE queue_pending_jobs gauge
queue_pending_jobs{partition="gpu"} 7
queue_pending_jobs{partition="cpu"} 3
# TYPE queue_pending_gpus gauge
queue_pending_gpus 12
# TYPE queue_oldest_wait_seconds gauge
queue_oldest_wait_seconds 95
# TYPE queue_job_gpus gauge
queue_job_gpus{job="b"} 1
queue_job_gpus{job="a"} 8
queue_job_gpus{job="c"} 0.5
# TYPE queue_job_gpus_recorded gauge
queue_job_gpus_recorded{job="a"} 8
queue_job_gpus_recorded{job="b"} 2
# TYPE queue_job_wait_seconds gauge
queue_job_wait_seconds{job="a"} 600
queue_job_wait_seconds{job="b"} 30
queue_job_wait_seconds{job="c"} 0
queue_job_wait_seconds{job="d"} 9
# TYPE queue_job_wait_started gauge
queue_job_wait_started{job="a"} 900
queue_job_wait_started{job="b"} 10
queue_job_wait_started{job="c"} 2
`

func TestDemandFromRealPrometheus(t *testing.T) {
	exp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		io.WriteString(w, exporterText)
	}))
	defer exp.Close()
	prom := promtest.Start(t, promtest.Job{Name: "queue", Targets: []string{strings.TrimPrefix(exp.URL, "http://")}})
	prom.WaitFor(t, "queue_oldest_wait_seconds", promtest.NonEmpty(1))

	ok := []struct {
		name      string
		cfg       Config
		jobs      int
		gpus      int
		gpusKnown bool
		wait      time.Duration
		listed    int // jobs listed in JobGPUs, each of cfg.GPUsPerJob GPUs
	}{
		{"sum of jobs", Config{Query: "sum(queue_pending_jobs)"}, 10, 0, false, 0, 0},
		{"one partition", Config{Query: `queue_pending_jobs{partition="gpu"}`}, 7, 0, false, 0, 0},
		{"gpus and wait", Config{Query: "queue_pending_gpus", Measure: PendingGPUs, OldestWaitQuery: "queue_oldest_wait_seconds"}, 0, 12, true, 95 * time.Second, 0},
		{"scalar", Config{Query: "scalar(queue_pending_gpus) * 2", Measure: PendingGPUs}, 0, 24, true, 0, 0},
		{"absent read as zero", Config{Query: "sum(no_such_metric) or vector(0)"}, 0, 0, false, 0, 0},
		{"jobs of 8 GPUs each", Config{Query: "sum(queue_pending_jobs)", GPUsPerJob: 8}, 10, 80, true, 0, 10},
		{"GPUs in jobs of 8 each", Config{Query: "queue_pending_gpus", Measure: PendingGPUs, GPUsPerJob: 8}, 2, 16, true, 0, 2},
		// A fraction rounds up, as the http and command sources read one:
		// 0.3 GPUs pending is a job waiting for a GPU, 2.4 jobs are 3.
		{"a fraction of a GPU", Config{Query: "vector(0.3)", Measure: PendingGPUs}, 0, 1, true, 0, 0},
		{"a fraction of a job", Config{Query: "vector(2.4)"}, 3, 0, false, 0, 0},
		// Float arithmetic's error is not a GPU more: 3.0000000000000004.
		{"float error", Config{Query: "(vector(0.1) + vector(0.2)) * 10", Measure: PendingGPUs}, 0, 3, true, 0, 0},
		// And below 0 it is 0, not a negative count that failed the read:
		// 0.3 - 0.1 - 0.2 is -2.7755575615628914e-17.
		{"float error below zero", Config{Query: "vector(0.3) - vector(0.1) - vector(0.2)", Measure: PendingGPUs}, 0, 0, true, 0, 0},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Name, tc.cfg.URL = "q", prom.URL
			s, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			before := time.Now().Add(-time.Second)
			d, err := s.Demand(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if d.Source != "prometheus:q" || d.PendingJobs != tc.jobs || d.PendingGPUs != tc.gpus || d.PendingGPUsKnown != tc.gpusKnown ||
				d.OldestWait != tc.wait || d.OldestWaitKnown != (tc.wait != 0) {
				t.Errorf("demand %+v; want jobs %d gpus %d (known %v) wait %v", d, tc.jobs, tc.gpus, tc.gpusKnown, tc.wait)
			}
			if want := slices.Repeat([]int{tc.cfg.GPUsPerJob}, tc.listed); len(d.JobGPUs) != tc.listed || (tc.listed > 0 && !slices.Equal(d.JobGPUs, want)) {
				t.Errorf("JobGPUs %v, want %v", d.JobGPUs, want)
			}
			if d.Time.Before(before) || d.Time.After(time.Now().Add(time.Second)) {
				t.Errorf("demand time %v is not the query's evaluation time (now)", d.Time)
			}
		})
	}

	closed := closedPort(t)
	bad := []struct {
		name  string
		url   string
		query string
		want  []string
	}{
		{"PromQL syntax error", prom.URL, "sum(queue_pending_jobs", []string{"prometheus:q", `query "sum(queue_pending_jobs"`, "bad_data", "parse error"}},
		{"several series", prom.URL, "queue_pending_jobs", []string{"prometheus:q", "2 series", "sum(...)"}},
		{"no series", prom.URL, "no_such_metric", []string{"prometheus:q", `"no_such_metric"`, "no samples", "or its exporter is down", `or (max(up{job="<exporter's job>"}) == 1) * 0`}},
		{"range vector", prom.URL, "queue_pending_gpus[1m]", []string{"result is a matrix"}},
		{"negative", prom.URL, "-1 * queue_pending_gpus", []string{"negative"}},
		{"not a number", prom.URL, "queue_pending_gpus / 0 * 0", []string{"not a finite number"}},
		{"too large a count", prom.URL, "queue_pending_gpus * 1e300", []string{"out of range: want a count from 0 to 2147483647"}},
		{"unreachable prometheus", "http://" + closed, "sum(queue_pending_jobs)", []string{"prometheus:q", `query "sum(queue_pending_jobs)"`, "connection refused"}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(Config{Name: "q", URL: tc.url, Query: tc.query, Timeout: 3 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Demand(context.Background())
			var qe *QueryError
			if !errors.As(err, &qe) {
				t.Fatalf("Demand: %v, want a *QueryError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	// One sample per pending job: each job's GPUs (a fraction of a GPU
	// runs on a whole one), in the order of their labels.
	for _, tc := range []struct {
		name, query, waitQuery string
		jobs                   []int
		waits                  []time.Duration
		err                    string
	}{
		{"each job's GPUs", "queue_job_gpus", "", []int{8, 1, 1}, nil, ""},
		{"with the oldest wait", "queue_job_gpus", "", []int{8, 1, 1}, nil, ""},
		{"with each job's wait", "queue_job_gpus", "queue_job_wait_seconds", []int{8, 1, 1}, []time.Duration{10 * time.Minute, 30 * time.Second, 0}, ""},
		{"no pending job", `queue_job_gpus{job="none"}`, "", []int{}, nil, ""},
		{"negative", "-1 * queue_job_gpus", "", nil, nil, `is -8: want a job's GPUs, from 0 to 1048576`},
		{"not a vector", "scalar(queue_pending_gpus)", "", nil, nil, "result is a scalar: want a vector of one sample per pending job"},
		// Two metrics, one name apart: each job waited the longer of
		// its two (not whichever Prometheus lists last: b's 10 s).
		{"jobs with two waits each", "queue_job_gpus", `{__name__=~"queue_job_wait_seconds|queue_job_wait_started"}`, []int{8, 1, 1}, []time.Duration{15 * time.Minute, 30 * time.Second, 2 * time.Second}, ""},
		// A job in two metrics, one name apart (a query over a metric
		// and its recording rule's copy): one job, asking the more of
		// its two counts (b: 2, not 1), not one job per metric.
		{"jobs in two metrics", `{__name__=~"queue_job_gpus|queue_job_gpus_recorded"}`, "", []int{8, 2, 1}, nil, ""},
		{"jobs in two metrics, each with its wait", `{__name__=~"queue_job_gpus_recorded|queue_job_gpus"}`, "queue_job_wait_seconds", []int{8, 2, 1}, []time.Duration{10 * time.Minute, 30 * time.Second, 0}, ""},
		{"a job without its wait", "queue_job_gpus", `queue_job_wait_seconds{exported_job!="b"}`, nil, nil, `no sample for job queue_job_gpus{exported_job="b", `},
		{"a negative wait", "queue_job_gpus", "queue_job_wait_seconds - 60", nil, nil, "wait -30 s is out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Name: "q", URL: prom.URL, JobGPUsQuery: tc.query, JobWaitQuery: tc.waitQuery}
			if tc.name == "with the oldest wait" {
				cfg.OldestWaitQuery = "queue_oldest_wait_seconds"
			}
			s, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			d, err := s.Demand(context.Background())
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want %q", err, tc.err)
				}
				return
			}
			sum := 0
			for _, g := range tc.jobs {
				sum += g
			}
			if err != nil || !slices.Equal(d.JobGPUs, tc.jobs) || d.PendingJobs != len(tc.jobs) || d.PendingGPUs != sum || !d.PendingGPUsKnown ||
				d.OldestWaitKnown != (cfg.OldestWaitQuery != "" || cfg.JobWaitQuery != "") || !slices.Equal(d.JobWaits, tc.waits) {
				t.Errorf("demand %+v (%v); want jobs %v, %d GPUs, waits %v", d, err, tc.jobs, sum, tc.waits)
			}
			if tc.waits != nil && d.OldestWait != slices.Max(tc.waits) {
				t.Errorf("oldest wait %v, want the longest job wait, %v", d.OldestWait, slices.Max(tc.waits))
			}
		})
	}

	// A PromQL error keeps Prometheus' own typed error reachable.
	s, _ := New(Config{Name: "q", URL: prom.URL, Query: "sum("})
	_, err := s.Demand(context.Background())
	var apiErr *v1.Error
	if !errors.As(err, &apiErr) || apiErr.Type != v1.ErrBadData {
		t.Errorf("PromQL error %v: want a wrapped *v1.Error of type bad_data", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{URL: "http://x", Query: "up"}, "name is empty"},
		{Config{Name: "q", Query: "up"}, "url is empty"},
		{Config{Name: "q", URL: "http://x"}, "query is empty"},
		{Config{Name: "q", URL: "http://x", Query: "up", Measure: "nodes"}, `measure "nodes"`},
		{Config{Name: "q", URL: "http://x", Query: "up", JobGPUsQuery: "jobs"}, "both query and job_gpus_query are set"},
		{Config{Name: "q", URL: "http://x", JobGPUsQuery: "jobs", Measure: PendingGPUs}, `measure "gpus" is set with job_gpus_query`},
		{Config{Name: "q", URL: "http://x", Query: "up", JobWaitQuery: "waits"}, "job_wait_query is set without job_gpus_query"},
		{Config{Name: "q", URL: "http://x", Query: "up", GPUsPerJob: -1}, "gpus_per_job -1 is out of range: want 1 to 1048576"},
		{Config{Name: "q", URL: "http://x", Query: "up", GPUsPerJob: 1<<20 + 1}, "gpus_per_job 1048577 is out of range"},
		{Config{Name: "q", URL: "http://x", JobGPUsQuery: "jobs", GPUsPerJob: 8}, "gpus_per_job is set with job_gpus_query"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v): %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestQueriesAtItsClock: each query is evaluated at the injected clock's
// instant (the API's time parameter), not at wall time.
func TestQueriesAtItsClock(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var got []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.FormValue("time"))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[%d,"4"]}]}}`, at.Unix())
	}))
	defer api.Close()
	src, err := New(Config{Name: "q", URL: api.URL, Query: "sum(q)", OldestWaitQuery: "max(w)", Clock: clocktesting.NewFakePassiveClock(at)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := src.Demand(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := strconv.FormatInt(at.Unix(), 10)
	if len(got) != 2 || got[0] != want || got[1] != want || !d.Time.Equal(at) {
		t.Errorf("queries at %v, reading at %v; want both at %s (%v)", got, d.Time, want, at)
	}
}

// TestRefusesAnAnswerPastTheLimit: an answer longer than promapi.MaxBody
// (here one that says so in its Content-Length) fails the read, naming
// the limit, instead of being read into memory.
func TestRefusesAnAnswerPastTheLimit(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(promapi.MaxBody+1))
	}))
	defer api.Close()
	src, err := New(Config{Name: "q", URL: api.URL, Query: "sum(q)"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Demand(context.Background())
	var qe *QueryError
	if !errors.As(err, &qe) || !errors.Is(err, promapi.ErrTooLarge) {
		t.Fatalf("err %v: want a QueryError naming the limit", err)
	}
}

// TestAnswersWithoutANumber: a url that answers "success" without a result,
// or a vector holding a null sample, fails the read naming the source and
// the query, for each kind of query (each dereferenced it: a panic that
// ended the server); a native histogram's sample, or one whose value
// is [ts], [] or missing, is not read as 0 jobs or 0 GPUs.
func TestAnswersWithoutANumber(t *testing.T) {
	for _, body := range []string{
		`{"status":"success"}`,
		`{"status":"success","data":{"resultType":"vector","result":[null]}}`,
		`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"a"},"value":[1]}]}}`,
		`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"a"},"value":[]}]}}`,
		`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"a"}}]}}`,
		`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"a"},"histogram":[1,{"count":"3","sum":"9"}]}]}}`,
	} {
		api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, body)
		}))
		for _, cfg := range []Config{
			{Name: "q", URL: api.URL, Query: "sum(q)"},
			{Name: "q", URL: api.URL, JobGPUsQuery: "sum(q)"},
		} {
			src, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = src.Demand(context.Background())
			var qe *QueryError
			if !errors.As(err, &qe) || !errors.Is(err, promapi.ErrNoNumber) || !strings.Contains(err.Error(), `prometheus:q: query "sum(q)": answer holds no number`) {
				t.Errorf("answer %s: error %v; want a QueryError saying it holds no number", body, err)
			}
		}
		api.Close()
	}
}

// TestJobListSumBounded: job_gpus_query's samples summing past
// signals.MaxCount GPUs fail the read naming the sum and the bound, as a
// job list does in the http and command sources (2048 jobs of 2^20 GPUs
// were read as 2^31 pending GPUs).
func TestJobListSumBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"status":"success","data":{"resultType":"vector","result":[`)
	for i := range 2048 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"metric":{"job":"%d"},"value":[1,"1048576"]}`, i)
	}
	b.WriteString(`]}}`)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, b.String())
	}))
	defer api.Close()
	src, err := New(Config{Name: "q", URL: api.URL, JobGPUsQuery: "q"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := src.Demand(context.Background())
	var qe *QueryError
	if !errors.As(err, &qe) || !strings.Contains(err.Error(), `prometheus:q: query "q": the answer's samples sum to 2147483648 GPUs, want at most 2147483647`) {
		t.Fatalf("read %d jobs of %d GPUs, error %v; want the sum refused", d.PendingJobs, d.PendingGPUs, err)
	}
}

// TestHostileAnswersAreQuotedShort: an answer that quotes megabytes (a
// series' label, Prometheus' own error text) fails the read with a message
// of at most a few hundred bytes more than the limit, still naming the
// source, the query and what was wrong: the message is logged, and shown
// as the stale signal's cause, at every tick.
func TestHostileAnswersAreQuotedShort(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	sample := func(labels, value string) string {
		return `{"status":"success","data":{"resultType":"vector","result":[` + `{"metric":{` + labels + `},"value":[1,"` + value + `"]}`
	}
	for _, tt := range []struct {
		name   string
		status int
		body   string
		cfg    Config
		want   string
	}{
		{"several series, one with a huge label", 200, sample(`"a":"`+big+`"`, "1") + `,{"metric":{"b":"1"},"value":[1,"1"]}]}}`, Config{Query: "q"}, `2 series, e.g. {a="xxx`},
		{"a job's negative GPUs", 200, sample(`"a":"`+big+`"`, "-1") + `]}}`, Config{JobGPUsQuery: "q"}, `sample {a="xxx`},
		{"a job's wait missing", 200, sample(`"a":"`+big+`"`, "1") + `]}}`, Config{JobGPUsQuery: "q", JobWaitQuery: "w"}, `no sample for job {a="xxx`},
		{"a huge error text", 400, `{"status":"error","errorType":"bad_data","error":"` + big + `"}`, Config{Query: "q"}, "bad_data: xxx"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if r.FormValue("query") == "w" {
					io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
					return
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			tt.cfg.Name, tt.cfg.URL = "q", srv.URL
			s, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Demand(context.Background())
			if err == nil || !strings.HasPrefix(err.Error(), `prometheus:q: query "`) || !strings.Contains(err.Error(), tt.want) || len(err.Error()) > 1200 {
				t.Errorf("error of %d bytes %.300q; want at most 1200, saying %q", len(fmt.Sprint(err)), err, tt.want)
			}
		})
	}
}

// TestAbsentReadAsZeroOnlyWhileTheExporterIsUp: a queue exporter that
// serves no series while its queue is empty makes the query answer no
// samples, which fails the read. The message advised `or vector(0)`,
// which reads 0 as well once the exporter is down (its series go stale at
// the first failed scrape): a long queue read as empty, so nothing was
// rented while the exporter was down. The query it advises now reads 0
// while the exporter is up, and fails while it is down, holding the pool.
func TestAbsentReadAsZeroOnlyWhileTheExporterIsUp(t *testing.T) {
	var down atomic.Bool
	exp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "exporter crashed", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		io.WriteString(w, "# TYPE queue_pending_jobs gauge\nqueue_pending_jobs 5\n")
	}))
	defer exp.Close()
	prom := promtest.Start(t, promtest.Job{Name: "queue", Targets: []string{strings.TrimPrefix(exp.URL, "http://")}})
	prom.WaitFor(t, "queue_pending_jobs", promtest.NonEmpty(1))
	read := func(q string) (int, error) {
		s, err := New(Config{Name: "q", URL: prom.URL, Query: q})
		if err != nil {
			t.Fatal(err)
		}
		d, err := s.Demand(context.Background())
		return d.PendingJobs, err
	}
	// The query the message advises, for the exporter's job "queue".
	_, err := read("sum(no_such_metric)")
	if err == nil || !strings.Contains(err.Error(), "<exporter's job>") {
		t.Fatalf("error %v, want the query to write", err)
	}
	guard := " or (max(up{job=\"queue\"}) == 1) * 0"
	if n, err := read("sum(no_such_metric)" + guard); n != 0 || err != nil {
		t.Errorf("exporter up, no series: read %d jobs (%v), want 0", n, err)
	}
	if n, err := read("sum(queue_pending_jobs)" + guard); n != 5 || err != nil {
		t.Errorf("exporter up: read %d jobs (%v), want 5", n, err)
	}
	down.Store(true)
	prom.WaitFor(t, `up{job="queue"} == 0`, promtest.NonEmpty(1))
	if n, err := read("sum(queue_pending_jobs) or vector(0)"); n != 0 || err != nil {
		t.Errorf("exporter down, or vector(0): read %d jobs (%v); want 0, the hazard the message warns of", n, err)
	}
	if n, err := read("sum(queue_pending_jobs)" + guard); err == nil || !strings.Contains(err.Error(), "no samples") {
		t.Errorf("exporter down: read %d jobs (%v), want the read to fail", n, err)
	}
}
