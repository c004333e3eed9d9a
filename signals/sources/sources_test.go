package sources

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/signals/baseline"
	"github.com/spillway-io/spillway/signals/queue"
	"github.com/spillway-io/spillway/signals/queue/command"
	httpsource "github.com/spillway-io/spillway/signals/queue/http"
	redissource "github.com/spillway-io/spillway/signals/queue/redis"
	"github.com/spillway-io/spillway/signals/queue/slurm"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestBuildErrors: every source that cannot be built is reported, each
// naming where it is in the pool's settings and why.
func TestBuildErrors(t *testing.T) {
	spec := Spec{
		Pool:     policy.Pool{Name: "training"},
		Baseline: &Baseline{Agents: &Agents{}},
		Demand: []Demand{
			{Config: queue.Config{Type: queue.TypeHTTP, HTTP: &httpsource.Config{PendingJobs: "queue.length"}}},
			{Config: queue.Config{Type: queue.TypeRedis, Redis: &redissource.Config{Addr: "127.0.0.1:6379", Key: "jobs", Type: "hash"}}},
			{Config: queue.Config{Type: queue.TypeCommand, Command: &command.Config{Command: []string{"echo", "1"}, Name: "depth"}}},
			{Config: queue.Config{Type: queue.TypeCommand, Command: &command.Config{Command: []string{"echo", "2"}, Name: "depth"}}},
			{Config: queue.Config{Type: TypePrometheus}, Prometheus: &PrometheusDemand{URL: "http://127.0.0.1:9090", Query: "up", Measure: "nodes"}},
			{Config: queue.Config{Type: "kafka"}},
			{Config: queue.Config{Type: TypePrometheus}},
		},
	}
	s, err := Build(spec)
	if s != nil {
		s.Close()
	}
	var be *BuildError
	if !errors.As(err, &be) {
		t.Fatalf("got %v, want a *BuildError", err)
	}
	want := []struct {
		where, msg string
	}{
		{"baseline", "agents:training: no targets and no targets file"},
		{"demand[0]", "url"},
		{"demand[1]", `type "hash" is not one of auto, list, stream, zset`},
		{"demand[3]", `source name "depth" is already used by demand[2]`},
		{"demand[4]", `prometheus:training: measure "nodes": want "jobs" or "gpus"`},
		{"demand[5]", `type "kafka": want one of slurm, redis, http, command, prometheus`},
		{"demand[6]", "type prometheus has no prometheus: settings"},
	}
	if len(be.Errors) != len(want) {
		t.Fatalf("%d problems, want %d:\n%v", len(be.Errors), len(want), err)
	}
	for i, w := range want {
		if got := be.Errors[i]; got.Where() != w.where || !strings.Contains(got.Err.Error(), w.msg) {
			t.Errorf("problem %d = %s: %v, want %s: …%s…", i, got.Where(), got.Err, w.where, w.msg)
		}
	}
	if !strings.Contains(err.Error(), "pool training: signals.demand[5]: type \"kafka\"") {
		t.Errorf("error does not name the pool and the source:\n%v", err)
	}
}

// TestBuildAndRead builds a pool's sources and reads its command source (a
// real shell), checking names, the pool carried into the set and the
// settings' retry settings carried into the wrapper.
func TestBuildAndRead(t *testing.T) {
	pool := policy.Pool{Name: "training", StaleAfter: policy.Duration(2 * time.Minute), OnPrem: policy.OnPrem{Nodes: 2, GPUsPerNode: 8}}
	s, err := Build(Spec{
		Pool:     pool,
		Baseline: &Baseline{Agents: &Agents{URLs: []string{"http://127.0.0.1:9401", "127.0.0.1:9402"}, Timeout: policy.Duration(time.Second)}},
		Demand: []Demand{
			{Config: queue.Config{Type: queue.TypeSlurm, Slurm: &slurm.Config{Partition: "gpu"}}},
			{Config: queue.Config{Type: TypePrometheus, Timeout: 3 * time.Second, Attempts: 2},
				Prometheus: &PrometheusDemand{Name: "jobs", URL: "http://127.0.0.1:9090", Query: "sum(queue_pending_jobs)", Measure: "jobs"}},
			{Config: queue.Config{Type: queue.TypeCommand, Command: &command.Config{Command: []string{"sh", "-c", "echo 5"}}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Pool.Name != "training" || s.Pool.StaleAfter.D() != 2*time.Minute || s.Pool.OnPrem.GPUs() != 16 {
		t.Errorf("pool %+v: want training, stale_after 2m, 2×8 on-prem GPUs", s.Pool)
	}
	var names []string
	for _, d := range s.Demands {
		names = append(names, d.Name())
	}
	if got := strings.Join(names, " "); got != "slurm:gpu prometheus:jobs command:sh" {
		t.Errorf("demand sources %q", got)
	}
	if a, ok := s.Baseline.(*baseline.Agents); !ok || a.Name() != "agents:training" || len(a.Targets()) != 2 {
		t.Errorf("baseline %T %v: want agents:training with 2 targets", s.Baseline, s.Baseline)
	}
	d, err := s.Demands[2].Demand(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !d.PendingGPUsKnown || d.PendingGPUs != 5 || d.Source != "command:sh" {
		t.Errorf("command demand %+v: want 5 pending GPUs from command:sh", d)
	}
}

// TestTargetsFile: the agents baseline takes its targets from a file_sd
// file, keeping only the groups that match.
func TestTargetsFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "agents.json")
	if err := os.WriteFile(file, []byte(`[{"targets": ["127.0.0.1:9401", "127.0.0.1:9402"], "labels": {"pool": "a"}}, {"targets": ["127.0.0.1:9403"], "labels": {"pool": "b"}}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Build(Spec{
		Pool:     policy.Pool{Name: "a"},
		Baseline: &Baseline{Agents: &Agents{TargetsFile: file, Match: map[string]string{"pool": "a"}}},
		Demand:   []Demand{{Config: queue.Config{Type: queue.TypeCommand, Command: &command.Config{Command: []string{"echo", "1"}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Baseline.(*baseline.Agents).Targets(); len(got) != 2 {
		t.Errorf("targets %v: want the two of pool a from %s", got, file)
	}
}

// TestPrometheusDemandWrapped: a prometheus demand source is read through
// the Prometheus HTTP API and retried as its attempts say (the first query
// fails with 503, the second answers).
func TestPrometheusDemandWrapped(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		if calls.Add(1) == 1 {
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[%d,"12"]}]}}`, time.Now().Unix())
	}))
	defer srv.Close()
	s, err := Build(Spec{Pool: policy.Pool{Name: "a"}, Demand: []Demand{{
		Config:     queue.Config{Type: TypePrometheus, Attempts: 2, Backoff: time.Millisecond},
		Prometheus: &PrometheusDemand{URL: srv.URL, Query: "sum(pending_gpus)", Measure: "gpus"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := s.Demands[0].Demand(context.Background())
	if err != nil {
		t.Fatalf("read after one retry: %v", err)
	}
	if s.Demands[0].Name() != "prometheus:a" || !d.PendingGPUsKnown || d.PendingGPUs != 12 || calls.Load() != 2 {
		t.Errorf("%s: %+v after %d queries, want 12 pending GPUs after 2", s.Demands[0].Name(), d, calls.Load())
	}
}

// TestPrometheusJobGPUsQueryBuilt: job_gpus_query reaches the source, which
// lists each pending job's GPUs.
func TestPrometheusJobGPUsQueryBuilt(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" || r.FormValue("query") != "pending_pod_gpus" {
			http.Error(w, "unexpected "+r.URL.Path+" "+r.FormValue("query"), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		now := time.Now().Unix()
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[%d,"8"]},{"metric":{"pod":"b"},"value":[%d,"2"]}]}}`, now, now)
	}))
	defer srv.Close()
	s, err := Build(Spec{Pool: policy.Pool{Name: "a"}, Demand: []Demand{{
		Config:     queue.Config{Type: TypePrometheus},
		Prometheus: &PrometheusDemand{URL: srv.URL, JobGPUsQuery: "pending_pod_gpus"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := s.Demands[0].Demand(context.Background())
	if err != nil || fmt.Sprint(d.JobGPUs) != "[8 2]" || d.PendingJobs != 2 || d.PendingGPUs != 10 {
		t.Errorf("read %+v (%v), want jobs of [8 2] GPUs", d, err)
	}
}

// TestWithClock: the clock given to Build reaches the sources: a
// Prometheus demand source queries at its instant and dates its reading so.
func TestWithClock(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.FormValue("time"))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[%d,"3"]}]}}`, at.Unix())
	}))
	defer srv.Close()
	s, err := Build(Spec{Pool: policy.Pool{Name: "a"}, Demand: []Demand{{
		Config:     queue.Config{Type: TypePrometheus},
		Prometheus: &PrometheusDemand{URL: srv.URL, Query: "sum(pending_jobs)"},
	}}}, WithClock(clocktesting.NewFakeClock(at)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := s.Demands[0].Demand(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprint(at.Unix()); got.Load() != want || !d.Time.Equal(at) || d.PendingJobs != 3 {
		t.Errorf("queried at %v, read %+v; want 3 jobs read at %s (%v)", got.Load(), d, want, at)
	}
}

// TestSlurmShapesFromOfferings: a Slurm source matches jobs' CPUs and
// memory to the pool's offerings, its squeue here a script that prints one
// 1-GPU job asking for 32 CPUs: the 1-GPU shape has 4, so it counts as the
// 4 GPUs of the smallest shape that holds it. Offerings of unknown vCPUs
// and memory give no shapes.
func TestSlurmShapesFromOfferings(t *testing.T) {
	squeue := filepath.Join(t.TempDir(), "squeue")
	line := "7|N/A|gres/gpu:1|N/A|1|1|Priority|2026-11-22T10:00:00|2026-11-22T10:00:00|0|cpu=32,mem=1000M,node=1|"
	if err := os.WriteFile(squeue, []byte("#!/bin/sh\necho '"+line+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	offs := []policy.Offering{
		{Name: "small", GPUs: 1, VCPUs: 4, MemoryGiB: 16},
		{Name: "mid", GPUs: 4, VCPUs: 48, MemoryGiB: 192},
		{Name: "mid-spot", GPUs: 4, VCPUs: 48, MemoryGiB: 192},
	}
	for _, tt := range []struct {
		offs []policy.Offering
		want int
	}{
		{offs, 4},
		{[]policy.Offering{{Name: "small", GPUs: 1}, {Name: "mid", GPUs: 4}}, 1},
	} {
		s, err := Build(Spec{Pool: policy.Pool{Name: "training", Offerings: tt.offs},
			Demand: []Demand{{Config: queue.Config{Type: queue.TypeSlurm, Slurm: &slurm.Config{Squeue: squeue}}}}})
		if err != nil {
			t.Fatal(err)
		}
		d, err := s.Demands[0].Demand(context.Background())
		s.Close()
		if err != nil || len(d.JobGPUs) != 1 || d.JobGPUs[0] != tt.want {
			t.Errorf("offerings %+v: jobs %v (%v), want one of %d GPUs", tt.offs, d.JobGPUs, err, tt.want)
		}
	}
	if got, want := policy.Shapes(offs), []policy.Shape{{GPUs: 1, VCPUs: 4, MemMiB: 16 << 10}, {GPUs: 4, VCPUs: 48, MemMiB: 192 << 10}}; !slices.Equal(got, want) {
		t.Errorf("Shapes = %+v, want %+v (one of each)", got, want)
	}
}

// TestPrometheusBaselineHonoursRetryAfter: a Prometheus baseline that
// answers 429 or 503 with Retry-After is not asked again before the time
// it named, as a demand source is not; a read before then fails at once
// saying when, and one after asks again. It was asked every tick.
func TestPrometheusBaselineHonoursRetryAfter(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			clk := clocktesting.NewFakeClock(at)
			var asked atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				asked.Add(1)
				w.Header().Set("Retry-After", "120")
				http.Error(w, "too many queries", status)
			}))
			defer srv.Close()
			s, err := Build(Spec{Pool: policy.Pool{Name: "a"}, Baseline: &Baseline{Prometheus: &PrometheusBaseline{URL: srv.URL}}}, WithClock(clk))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			read := func() error {
				_, err := s.Baseline.Baseline(context.Background())
				return err
			}
			if err := read(); err == nil || asked.Load() != 1 {
				t.Fatalf("first read: %v after %d queries, want it refused after 1", err, asked.Load())
			}
			n := asked.Load()
			clk.Step(119 * time.Second)
			err = read()
			var held *queue.Error
			if !errors.As(err, &held) || held.Attempts != 0 || !held.RetryAt.Equal(at.Add(2*time.Minute)) || !strings.Contains(err.Error(), "not read again before 2026-03-01T12:02:00Z, as it asked") {
				t.Errorf("read 119s later: %v, want it held until 12:02:00 as asked", err)
			}
			if asked.Load() != n {
				t.Errorf("read 119s later asked Prometheus %d more times, want none before its Retry-After", asked.Load()-n)
			}
			clk.Step(time.Second)
			if err := read(); err == nil || asked.Load() == n {
				t.Errorf("read at 12:02:00: %v after %d queries, want Prometheus asked again", err, asked.Load()-n)
			}
		})
	}
}
