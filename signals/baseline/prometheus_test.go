package baseline

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/promapi"
	"github.com/spillway-io/spillway/signals/queue/prometheus/promtest"
)

// TestPrometheusBaselineOverAgents runs a real Prometheus scraping two
// simulated agents and a dead target, then reads the baseline through
// PromQL, as a site running dcgm-exporter would (same labels).
func TestPrometheusBaselineOverAgents(t *testing.T) {
	a1, s1 := startAgent(t, "gpu-01", t0)
	a2, s2 := startAgent(t, "gpu-02", t0.Add(17*time.Minute))
	dead := closedAddr(t)
	prom := promtest.Start(t, promtest.Job{Name: "agents", Targets: []string{hostPort(s1), hostPort(s2), dead}})
	prom.WaitFor(t, "spillway_gpu_utilization_ratio", promtest.NonEmpty(16))
	prom.WaitFor(t, `up{job="agents"} == 0`, promtest.NonEmpty(1))

	src, err := NewPrometheus(PrometheusConfig{
		Name: "site", URL: prom.URL,
		UtilQuery:       AgentUtilQuery,
		MemoryUsedQuery: AgentMemoryUsedQuery,
		UnknownQuery:    `up{job="agents"} == 0`,
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := src.Baseline(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(b.GPUs) != 16 {
		t.Fatalf("%d GPUs, want 16 from two agents", len(b.GPUs))
	}
	if len(b.Unknown) != 1 || b.Unknown[0] != dead || !strings.Contains(b.UnknownCauses[dead], "up{") {
		t.Errorf("unknown %v %v, want the dead target %s", b.Unknown, b.UnknownCauses, dead)
	}
	want := map[string]struct {
		node              string
		util              float64
		busy, alloc, idle bool
	}{}
	s1s, _ := a1.Last()
	s2s, _ := a2.Last()
	for _, s := range append(s1s.GPUs, s2s.GPUs...) {
		want[s.UUID] = struct {
			node              string
			util              float64
			busy, alloc, idle bool
		}{s.Node, s.Utilization, s.Busy, s.Allocated, s.Idle}
	}
	for _, g := range b.GPUs {
		w, ok := want[g.UUID]
		if !ok {
			t.Errorf("GPU %s not served by an agent", g.UUID)
			continue
		}
		if g.Node != w.node || math.Abs(g.Utilization-w.util) > 1e-6 || g.Busy != w.busy || g.Allocated != w.alloc || g.Idle != w.idle || !strings.Contains(g.Model, "H100") {
			t.Errorf("GPU %s via Prometheus: %+v; agent says %+v", g.UUID, g, w)
		}
	}
	if d := time.Since(b.Time); d < 0 || d > time.Minute {
		t.Errorf("baseline time %v is not the query time", b.Time)
	}

	// Each GPU in two series (as when two jobs scrape one exporter): counted once.
	twice, err := NewPrometheus(PrometheusConfig{Name: "site", URL: prom.URL,
		UtilQuery: AgentUtilQuery + ` or label_replace(` + AgentUtilQuery + `, "copy", "1", "", "")`})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := twice.Baseline(context.Background()); err != nil || len(b.GPUs) != 16 {
		t.Errorf("every GPU in two series: %d GPUs (%v), want 16", len(b.GPUs), err)
	}

	// Each GPU in two series that disagree, a copy reading idle and empty
	// first (utilisation) or last (memory): one GPU at its busiest reading,
	// whatever the order; each dead target in two series: one unknown node
	// (it was listed twice, and its GPUs counted twice).
	copied := func(q string) string { return `label_replace(` + q + ` * 0, "copy", "1", "", "")` }
	conflicting, err := NewPrometheus(PrometheusConfig{Name: "site", URL: prom.URL,
		UtilQuery:       copied(AgentUtilQuery) + ` or ` + AgentUtilQuery,
		MemoryUsedQuery: AgentMemoryUsedQuery + ` or ` + copied(AgentMemoryUsedQuery),
		UnknownQuery:    `up{job="agents"} == 0 or label_replace(up{job="agents"} == 0, "copy", "1", "", "")`,
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err = conflicting.Baseline(context.Background())
	if err != nil || len(b.GPUs) != 16 || !slices.Equal(b.Unknown, []string{dead}) {
		t.Fatalf("GPUs and targets in two series: %d GPUs, unknown %v (%v); want 16 GPUs and the dead target %s once", len(b.GPUs), b.Unknown, err, dead)
	}
	for _, g := range b.GPUs {
		if w := want[g.UUID]; math.Abs(g.Utilization-w.util) > 1e-6 || g.Busy != w.busy || g.Allocated != w.alloc || g.Idle != w.idle {
			t.Errorf("GPU %s in two series: %+v; the agent says %+v", g.UUID, g, w)
		}
	}

	for _, tc := range []struct {
		name string
		cfg  PrometheusConfig
		want []string
	}{
		{"PromQL error", PrometheusConfig{UtilQuery: "spillway_gpu_utilization_ratio{"}, []string{"prometheus:site", `"spillway_gpu_utilization_ratio{"`, "bad_data"}},
		{"labels aggregated away", PrometheusConfig{UtilQuery: "sum(spillway_gpu_utilization_ratio) * 100"}, []string{"lacks the", "Hostname"}},
		{"no series", PrometheusConfig{UtilQuery: `DCGM_FI_DEV_GPU_UTIL{Hostname="nowhere"}`}, []string{"no GPU series"}},
		{"range vector", PrometheusConfig{UtilQuery: "spillway_gpu_utilization_ratio[1m]"}, []string{"result is a matrix"}},
		{"unreachable", PrometheusConfig{URL: "http://" + dead}, []string{"prometheus:site", "connection refused"}},
		{"utilisation summed over GPUs", PrometheusConfig{UtilQuery: AgentUtilQuery + " + 150"}, []string{"is not a percentage (want 0 to 100 per GPU"}},
		{"utilisation NaN", PrometheusConfig{UtilQuery: AgentUtilQuery + " * NaN"}, []string{"utilisation NaN is not a percentage"}},
		{"utilisation negative", PrometheusConfig{UtilQuery: AgentUtilQuery + " - 101"}, []string{"is not a percentage"}},
		{"memory infinite", PrometheusConfig{UtilQuery: AgentUtilQuery, MemoryUsedQuery: AgentMemoryUsedQuery + " + Inf"}, []string{"memory used +Inf is not a number of bytes", AgentMemoryUsedQuery + " + Inf"}},
		{"memory negative", PrometheusConfig{UtilQuery: AgentUtilQuery, MemoryUsedQuery: "-" + AgentMemoryUsedQuery + " - 1"}, []string{"is not a number of bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Name = "site"
			if cfg.URL == "" {
				cfg.URL = prom.URL
			}
			cfg.Timeout = 3 * time.Second
			src, err := NewPrometheus(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = src.Baseline(context.Background())
			var qe *QueryError
			if !errors.As(err, &qe) {
				t.Fatalf("Baseline: %v, want a *QueryError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestPrometheusRefusesAnAnswerPastTheLimit: an answer longer than
// promapi.MaxBody fails the read, naming the limit.
func TestPrometheusRefusesAnAnswerPastTheLimit(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(promapi.MaxBody+1))
	}))
	defer api.Close()
	src, err := NewPrometheus(PrometheusConfig{Name: "site", URL: api.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Baseline(context.Background())
	var qe *QueryError
	if !errors.As(err, &qe) || !errors.Is(err, promapi.ErrTooLarge) {
		t.Fatalf("err %v: want a QueryError naming the limit", err)
	}
}

// TestPrometheusAnswersWithoutANumber: a url that answers "success"
// without a result, or with a null sample, fails the read naming the
// query (the baseline dereferenced it: a panic that ended the server).
func TestPrometheusAnswersWithoutANumber(t *testing.T) {
	for _, body := range []string{
		`{"status":"success","data":null}`,
		`{"status":"success","data":{"resultType":"vector","result":[null]}}`,
	} {
		api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(body))
		}))
		src, err := NewPrometheus(PrometheusConfig{Name: "site", URL: api.URL})
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.Baseline(context.Background())
		var qe *QueryError
		if !errors.As(err, &qe) || !errors.Is(err, promapi.ErrNoNumber) || !strings.Contains(err.Error(), `prometheus:site: query "DCGM_FI_DEV_GPU_UTIL": answer holds no number`) {
			t.Errorf("answer %s: error %v; want a QueryError saying it holds no number", body, err)
		}
		api.Close()
	}
}

// TestPrometheusBaselineMIG runs a real Prometheus scraping dcgm-exporter's
// series of two nodes whose GPUs are partly split by MIG
// (testdata/dcgm_mig.prom). A MIG GPU is one GPU, as the agents source and
// onprem.gpus_per_node count it, busy while any of its slices runs a job
// and free when none does; DCGM reads no utilisation of it (no series, or
// 0 on each slice), so its memory, slice by slice, tells.
func TestPrometheusBaselineMIG(t *testing.T) {
	text, err := os.ReadFile("testdata/dcgm_mig.prom")
	if err != nil {
		t.Fatal(err)
	}
	exp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Write(text)
	}))
	defer exp.Close()
	prom := promtest.Start(t, promtest.Job{Name: "dcgm", Targets: []string{hostPort(exp)}})
	prom.WaitFor(t, "DCGM_FI_PROF_GR_ENGINE_ACTIVE", promtest.NonEmpty(13))

	type gpu struct {
		uuid              string
		busy, idle, alloc bool
		memMiB            uint64
	}
	const fb = "DCGM_FI_DEV_FB_USED * 1048576"
	for _, tc := range []struct {
		name, util, mem string
		want            []gpu // by node, then index
	}{
		// gpu-a's MIG GPUs have no utilisation series: read from their
		// slices' memory. gpu-b 0 reads 0% on each slice, yet a slice
		// holds a job: busy, and not allocated-but-idle waste.
		{"utilisation and memory", DCGMUtilQuery, fb, []gpu{
			{"GPU-a0", false, true, false, 0},
			{"GPU-a1", true, false, true, 20000},
			{"GPU-a2", false, false, false, 0},
			{"GPU-b0", true, false, true, 30000},
			{"GPU-b1", true, false, true, 40000},
		}},
		// A slice's graphics-engine activity shows a job as well.
		{"engine activity and memory", "DCGM_FI_PROF_GR_ENGINE_ACTIVE * 100", fb, []gpu{
			{"GPU-a0", false, true, false, 0},
			{"GPU-a1", true, false, true, 20000},
			{"GPU-a2", false, false, false, 0},
			{"GPU-b0", true, false, true, 30000},
			{"GPU-b1", true, false, true, 40000},
		}},
		// Without memory, a slice's job may read 0%: every MIG GPU the
		// query shows is busy, never free on a guess (gpu-a's MIG GPUs
		// it does not show).
		{"utilisation alone", DCGMUtilQuery, "", []gpu{
			{"GPU-a0", false, true, false, 0},
			{"GPU-b0", true, false, false, 0},
			{"GPU-b1", true, false, false, 0},
		}},
		{"engine activity alone", "DCGM_FI_PROF_GR_ENGINE_ACTIVE * 100", "", []gpu{
			{"GPU-a0", false, true, false, 0},
			{"GPU-a1", true, false, false, 0},
			{"GPU-a2", true, false, false, 0},
			{"GPU-b0", true, false, false, 0},
			{"GPU-b1", true, false, false, 0},
		}},
		// A whole GPU that only the memory query lists (gpu-a 0) is
		// another pool's, left out as before; a MIG GPU is listed by
		// its slices' memory alone, so the memory query selects the
		// pool's GPUs as the utilisation query does.
		{"memory wider than utilisation", `DCGM_FI_DEV_GPU_UTIL{Hostname="gpu-b"}`, fb, []gpu{
			{"GPU-a1", true, false, true, 20000},
			{"GPU-a2", false, false, false, 0},
			{"GPU-b0", true, false, true, 30000},
			{"GPU-b1", true, false, true, 40000},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logged bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logged, nil))
			src, err := NewPrometheus(PrometheusConfig{Name: "site", URL: prom.URL, UtilQuery: tc.util, MemoryUsedQuery: tc.mem, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			var b signals.Baseline
			for range 2 {
				if b, err = src.Baseline(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			// Without memory_used_query, MIG GPUs read busy: the
			// operator is told once, not at every read, and not when
			// the memory query is set.
			warned := strings.Count(logged.String(), "level=WARN msg=\"GPUs split by MIG read busy, never free, as no memory_used_query")
			if want := map[bool]int{true: 1, false: 0}[tc.mem == ""]; warned != want {
				t.Errorf("warned of MIG GPUs without memory_used_query %d times in two reads, want %d; log:\n%s", warned, want, logged.String())
			}
			var got []gpu
			for _, g := range b.GPUs {
				got = append(got, gpu{g.UUID, g.Busy, g.Idle, g.Allocated, g.MemoryUsed >> 20})
				if g.Model != "NVIDIA A100-SXM4-80GB" || g.Node != "gpu-"+g.UUID[4:5] {
					t.Errorf("GPU %s: node %q, model %q", g.UUID, g.Node, g.Model)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("GPUs (uuid, busy, idle, allocated, MiB used)\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}
