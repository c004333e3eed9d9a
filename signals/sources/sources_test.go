package sources

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spillway-io/spillway/signals/baseline"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestBadFiles checks every testdata/*.bad.yaml against the problems it
// must report, each with its file and line.
func TestBadFiles(t *testing.T) {
	for _, tc := range []struct {
		file  string
		build bool // the problems are found by Build, not Parse
		want  []string
	}{
		{"unknown_field.bad.yaml", false, []string{
			`unknown_field.bad.yaml:5: unknown field "partiton": valid fields here are accounts, count_all, name, partition,`,
		}},
		{"toplevel.bad.yaml", false, []string{
			`toplevel.bad.yaml:5: unknown field "demands": valid fields here are baseline, demand, onprem, pool, stale_after`,
		}},
		{"bad_duration.bad.yaml", false, []string{
			`bad_duration.bad.yaml:2: "2 minutes" is not a duration: want e.g. 30s, 2m or 1h30m`,
			`bad_duration.bad.yaml:5: "soon" is not a duration`,
		}},
		{"contradictions.bad.yaml", false, []string{
			`contradictions.bad.yaml:2: baseline: want exactly one of agents or prometheus`,
			`contradictions.bad.yaml:8: demand[0]: type is empty: want one of slurm, redis, http, command, prometheus`,
			`contradictions.bad.yaml:9: demand[1]: type prometheus has no prometheus: settings`,
			`contradictions.bad.yaml:10: demand[2]: has prometheus: settings but type is "http"`,
		}},
		{"build.bad.yaml", true, []string{
			`build.bad.yaml:2: baseline: agents:training: no targets and no targets file`,
			`build.bad.yaml:5: demand[0] (http): `,
			`build.bad.yaml:8: demand[1] (redis): `,
			`type "hash" is not one of auto, list, stream, zset`,
			`build.bad.yaml:12: demand[3] (command): source name "depth" is already used by demand[2] (command)`,
			`build.bad.yaml:14: demand[4] (prometheus): prometheus:training: measure "nodes": want "jobs" or "gpus"`,
			`build.bad.yaml:16: demand[5] (kafka): type "kafka": want one of slurm, redis, http, command, prometheus`,
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f, err := Load(filepath.Join("testdata", tc.file))
			if tc.build {
				if err != nil {
					t.Fatalf("parse: %v", err)
				}
				var s *Set
				s, err = f.Build()
				if s != nil {
					s.Close()
				}
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a *FileError", err)
			}
			if len(fe.Problems) < len(tc.want)-1 {
				t.Errorf("%d problems, want every one of %d:\n%v", len(fe.Problems), len(tc.want), err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestEmptyAndMissing(t *testing.T) {
	if _, err := Parse("empty.yaml", nil); err == nil || !strings.Contains(err.Error(), "empty.yaml: the file is empty") {
		t.Errorf("empty file: %v", err)
	}
	if _, err := Parse("nopool.yaml", []byte("demand: []\n")); err == nil ||
		!strings.Contains(err.Error(), "nopool.yaml:1: pool is empty") || !strings.Contains(err.Error(), "demand is empty") {
		t.Errorf("no pool, no demand: %v", err)
	}
	_, err := Load("testdata/nonexistent.yaml")
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "testdata/nonexistent.yaml: cannot read the signals file") {
		t.Errorf("missing file: %v", err)
	}
}

// TestBuildAndRead builds testdata/good.yaml and reads its command source
// (a real shell), checking names, the pool settings and the file's retry
// settings carried into the wrapper.
func TestBuildAndRead(t *testing.T) {
	f, err := Load("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.Build()
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

// TestTargetsFileRelative: a relative targets_file is read beside the
// signals file, not in the working directory.
func TestTargetsFileRelative(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "agents.json"), []byte(`[{"targets": ["127.0.0.1:9401", "127.0.0.1:9402"], "labels": {"pool": "a"}}, {"targets": ["127.0.0.1:9403"], "labels": {"pool": "b"}}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "signals.yaml")
	f, err := Parse(path, []byte("pool: a\nbaseline:\n  agents:\n    targets_file: agents.json\n    match: {pool: a}\ndemand:\n  - type: command\n    command: {command: [echo, '1']}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.Build()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Baseline.(*baseline.Agents).Targets(); len(got) != 2 {
		t.Errorf("targets %v: want the two of pool a from %s", got, filepath.Join(dir, "agents.json"))
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
	f, err := Parse("p.yaml", fmt.Appendf(nil, `pool: a
demand:
  - type: prometheus
    attempts: 2
    backoff: 1ms
    prometheus: {url: %s, query: sum(pending_gpus), measure: gpus}
`, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.Build()
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
