package baseline

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/nvml"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// startAgent serves a simulated DGX H100 node through the real agent
// handler, sampled once at the given time.
func startAgent(t testing.TB, node string, sampledAt time.Time) (*nvml.Agent, *httptest.Server) {
	t.Helper()
	now := func() time.Time { return sampledAt }
	sim, err := nvml.NewSimulatedNode("dgxh100", nvml.DefaultSeries(), nvml.WithSimClock(now))
	if err != nil {
		t.Fatal(err)
	}
	s, err := nvml.NewSampler(sim.Interface(), node, nvml.WithClock(now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a := nvml.NewAgent(s)
	if err := a.SampleOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return a, srv
}

func hostPort(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

func closedAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestAgentsBaseline(t *testing.T) {
	var live []*nvml.Agent
	var targets []string
	for _, n := range []string{"gpu-01", "gpu-02", "gpu-03"} {
		a, srv := startAgent(t, n, t0)
		live = append(live, a)
		targets = append(targets, hostPort(srv))
	}
	_, staleSrv := startAgent(t, "gpu-stale", t0.Add(-5*time.Minute))
	_, aheadSrv := startAgent(t, "gpu-ahead", t0.Add(10*time.Minute))
	serve := func(body string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }))
		t.Cleanup(srv.Close)
		return srv
	}
	sample := `{"node":"gpu-x","sample_time":"` + t0.Format(time.RFC3339) + `","gpus":[`
	hot := serve(sample + `{"uuid":"GPU-hot","utilization_percent":1e300}]}`)
	twice := serve(sample + `{"uuid":"GPU-twice","utilization_percent":90,"utilization_percent":0}]}`)
	many := serve(sample + strings.Repeat(`{"uuid":"GPU-many"},`, 1025) + `{"uuid":"GPU-many"}]}`)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>hello</html>"))
	}))
	defer html.Close()
	dead := closedAddr(t)

	var logs bytes.Buffer
	src, err := NewAgents(AgentsConfig{
		Name: "rack1",
		// gpu-01 again, by another name of its host: its GPUs count once.
		Targets: append(targets, dead, hostPort(staleSrv), slow.URL, html.URL, hostPort(aheadSrv), hot.URL, twice.URL, many.URL, "http://"+strings.Replace(targets[0], "127.0.0.1", "localhost", 1)+"/"),
		Timeout: 300 * time.Millisecond,
		Now:     func() time.Time { return t0.Add(2 * time.Second) },
		Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer src.CloseIdleConnections()
	b, err := src.Baseline(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Baseline(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "counted once"); n != 1 {
		t.Errorf("%d warnings of a node listed twice over two reads, want 1:\n%s", n, logs.String())
	}
	if b.Source != "agents:rack1" || !b.Time.Equal(t0) {
		t.Errorf("source %q time %v; want agents:rack1 at the oldest sample %v", b.Source, b.Time, t0)
	}
	want := map[string]bool{}
	for _, a := range live {
		s, _ := a.Last()
		for _, g := range s.GPUs {
			want[g.UUID] = g.Busy
		}
	}
	if len(b.GPUs) != 24 || len(want) != 24 {
		t.Fatalf("%d GPUs from 3 live 8-GPU agents, want 24", len(b.GPUs))
	}
	for _, g := range b.GPUs {
		busy, ok := want[g.UUID]
		if !ok || busy != g.Busy || !strings.HasPrefix(g.Node, "gpu-0") {
			t.Errorf("GPU %s on %s busy=%v: not what the agents serve", g.UUID, g.Node, g.Busy)
		}
	}
	causes := map[string]string{
		dead:               "connection refused",
		hostPort(staleSrv): "5m2s old",
		slow.URL:           "no answer within 300ms",
		html.URL:           "not a spillway agent",
		hostPort(aheadSrv): "9m58s in the future (max 30s): the agent's clock is off",
		hot.URL:            "GPU GPU-hot: utilization_percent 1e+300 is not from 0 to 100",
		many.URL:           "lists 1026 GPUs, and a node has at most 1024",
		twice.URL:          `not a spillway agent answer: the object at gpus[0] has the key "utilization_percent" twice`,
	}
	if len(b.Unknown) != len(causes) {
		t.Errorf("unknown %v, want the %d bad targets", b.Unknown, len(causes))
	}
	for target, cause := range causes {
		if got := b.UnknownCauses[target]; !strings.Contains(got, cause) {
			t.Errorf("unknown %s: cause %q, want %q", target, got, cause)
		}
	}
}

func TestAgentsNoneAnswer(t *testing.T) {
	dead1, dead2 := closedAddr(t), closedAddr(t)
	src, err := NewAgents(AgentsConfig{Name: "rack2", Targets: []string{dead1, dead2}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	b, err := src.Baseline(context.Background())
	if err == nil || !strings.Contains(err.Error(), "agents:rack2") || !strings.Contains(err.Error(), "none of 2 agents answered") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("all agents down: %v; want an error naming the source and the cause", err)
	}
	if len(b.Unknown) != 2 || len(b.GPUs) != 0 {
		t.Errorf("baseline %+v: want both targets unknown, no GPUs", b)
	}
}

func writeTargets(t *testing.T, path, body string, mod time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mod, mod); err != nil {
		t.Fatal(err)
	}
}

func TestTargetsFileReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "targets.json")
	writeTargets(t, path, `[{"targets": ["gpu-01:9401", "gpu-02:9401"], "labels": {"pool": "a100"}},
 {"targets": ["gpu-90:9401"], "labels": {"pool": "h100"}}]`, t0)
	src, err := NewAgents(AgentsConfig{Name: "f", TargetsFile: path, Match: map[string]string{"pool": "a100"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(src.Targets(), ","); got != "gpu-01:9401,gpu-02:9401" {
		t.Fatalf("targets %s, want the a100 group", got)
	}
	writeTargets(t, path, `[{"targets": ["gpu-01:9401", "gpu-03:9401", "http://gpu-04:9401"], "labels": {"pool": "a100"}}]`, t0.Add(time.Second))
	if got := strings.Join(src.Targets(), ","); got != "gpu-01:9401,gpu-03:9401,http://gpu-04:9401" {
		t.Fatalf("after the file changed: targets %s", got)
	}
	// A broken rewrite keeps the last good targets and reports the problem.
	writeTargets(t, path, "[{\"targets\": [\"gpu-01:9401\"],\n \"labels\": {\"pool\": \"a100\"}", t0.Add(2*time.Second))
	if got := strings.Join(src.Targets(), ","); got != "gpu-01:9401,gpu-03:9401,http://gpu-04:9401" {
		t.Errorf("after a broken rewrite: targets %s, want the last good ones", got)
	}
	if err := src.TargetsFileError(); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("TargetsFileError() = %v, want the file named", err)
	}
	writeTargets(t, path, `[{"targets": ["gpu-05:9401"], "labels": {"pool": "a100"}}]`, t0.Add(3*time.Second))
	if got := strings.Join(src.Targets(), ","); got != "gpu-05:9401" || src.TargetsFileError() != nil {
		t.Errorf("after a fix: targets %s, error %v", got, src.TargetsFileError())
	}
}

// badTargetFiles are targets files NewAgents refuses, with what the error
// says; whatever the file holds, the error is at most maxErrLen bytes
// besides the path.
var badTargetFiles = []struct {
	name, body string
	want       []string
}{
	{"syntax", "[\n  {\"targets\": [\"a:1\",]}\n]", []string{"line 2", "invalid character"}},
	{"type", "[\n  {\"targets\": \"a:1\"}\n]", []string{"line 2", `field "targets"`, "string"}},
	{"unknown field", `[{"target": ["a:1"]}]`, []string{`unknown field "target"`}},
	{"bad target", `[{"targets": ["ftp://a:1"]}]`, []string{"group 0", `"ftp://a:1"`, "host:port"}},
	// Found by FuzzParseTargets ("[]0"): what followed the array was ignored.
	{"more after the array", "[]\n[{\"targets\": [\"a:1\"]}]", []string{"line 2: more after the JSON array"}},
	// Found by FuzzAgentURL ("0? #"): the space stayed in the URL's query.
	{"space in a target", `[{"targets": ["gpu-01:9401/?a b"]}]`, []string{"group 0", `target "gpu-01:9401/?a b": want host:port`}},
	// Found by FuzzAgentURL: the error quoted the whole target.
	{"long bad target", `[{"targets": ["ftp://` + strings.Repeat("a", 1e5) + `"]}]`, []string{"group 0", `target "ftp://aaaa`}},
	{"long unknown field", `[{"` + strings.Repeat("x", 1e5) + `": 1}]`, []string{`unknown field "xxxx`}},
}

func TestTargetsFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range badTargetFiles {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".json")
			writeTargets(t, path, tc.body, t0)
			_, err := NewAgents(AgentsConfig{Name: "f", TargetsFile: path})
			if err == nil {
				t.Fatal("NewAgents accepted a bad targets file")
			}
			for _, w := range append(tc.want, path, "agents:f") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %.2000q does not say %q", err, w)
				}
			}
			if limit := maxErrLen + len(path) + len("agents:f: "); len(err.Error()) > limit {
				t.Errorf("error of %d bytes, want at most %d: %.300s…", len(err.Error()), limit, err)
			}
		})
	}
	if _, err := NewAgents(AgentsConfig{Name: "f"}); err == nil || !strings.Contains(err.Error(), "no targets") {
		t.Errorf("no targets: %v", err)
	}
	if _, err := NewAgents(AgentsConfig{Name: "f", TargetsFile: filepath.Join(dir, "missing.json")}); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: %v", err)
	}
}

// BenchmarkAgentsBaseline500 is one server-side scrape of 500 agents on
// loopback (each its own HTTP server serving an 8-GPU /v1/gpus), with the
// default fan-out of 64.
func BenchmarkAgentsBaseline500(b *testing.B) {
	// 500 agents of their own GPUs: one agent served 500 times is one
	// node listed 500 times, its 8 GPUs counted once.
	var targets []string
	for i := range 500 {
		_, srv := startAgent(b, fmt.Sprintf("gpu-%03d", i), t0)
		targets = append(targets, hostPort(srv))
	}
	src, err := NewAgents(AgentsConfig{Name: "bench", Targets: targets, Timeout: 10 * time.Second, Now: func() time.Time { return t0 }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(src.CloseIdleConnections)
	ctx := context.Background()
	b.ReportAllocs()
	// On a shared, loaded machine wall time is mostly waiting for a core;
	// process CPU time per scrape (client and the 500 agents together) is
	// reported beside it.
	cpu0 := cpuTime()
	for b.Loop() {
		bl, err := src.Baseline(ctx)
		if err != nil || len(bl.GPUs) != 4000 || len(bl.Unknown) != 0 {
			b.Fatalf("baseline: %d GPUs, unknown %v, err %v", len(bl.GPUs), bl.Unknown, err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestExampleTargetsFile(t *testing.T) {
	for _, tc := range []struct {
		match map[string]string
		want  string
	}{
		{map[string]string{"pool": "a100"}, "gpu-a01.rack1:9401,gpu-a02.rack1:9401,gpu-a03.rack1:9401,http://gpu-a04.rack2:9401"},
		{map[string]string{"pool": "a100", "rack": "rack2"}, "http://gpu-a04.rack2:9401"},
		{map[string]string{"pool": "h100"}, "gpu-h01.rack3:9401,gpu-h02.rack3:9401"},
		{nil, "gpu-a01.rack1:9401,gpu-a02.rack1:9401,gpu-a03.rack1:9401,http://gpu-a04.rack2:9401,gpu-h01.rack3:9401,gpu-h02.rack3:9401"},
	} {
		src, err := NewAgents(AgentsConfig{Name: "ex", TargetsFile: "../testdata/agents_targets.json", Match: tc.match})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(src.Targets(), ","); got != tc.want {
			t.Errorf("match %v: targets %s, want %s", tc.match, got, tc.want)
		}
	}
}

// TestAgentSampleTimes: an agent whose sample is more than max_sample_age
// old or ahead is unknown, however far: a time centuries ahead saturates a
// time.Duration and once passed for fresh.
func TestAgentSampleTimes(t *testing.T) {
	now := t0
	tests := []struct {
		name   string
		sample string
		want   string // the cause; "" for a live agent
	}{
		{"now", now.Format(time.RFC3339), ""},
		{"max_sample_age ahead", now.Add(30 * time.Second).Format(time.RFC3339), ""},
		{"max_sample_age old", now.Add(-30 * time.Second).Format(time.RFC3339), ""},
		{"an hour ahead", now.Add(time.Hour).Format(time.RFC3339), "latest sample is 1h0m0s in the future (max 30s): the agent's clock is off"},
		{"an hour old", now.Add(-time.Hour).Format(time.RFC3339), "latest sample is 1h0m0s old (max 30s)"},
		{"year 2400", "2400-01-01T00:00:00Z", "latest sample is more than a year (sample_time 2400-01-01T00:00:00Z) in the future (max 30s)"},
		{"year 9999", "9999-12-31T23:59:59Z", "latest sample is more than a year (sample_time 9999-12-31T23:59:59Z) in the future"},
		{"year 1", "0001-01-01T00:00:01Z", "latest sample is more than a year (sample_time 0001-01-01T00:00:01Z) old"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"node":"gpu-x","sample_time":"` + tt.sample + `","gpus":[{"uuid":"GPU-1","busy":true}]}`
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }))
			defer srv.Close()
			src, err := NewAgents(AgentsConfig{Name: "rack", Targets: []string{srv.URL}, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			defer src.CloseIdleConnections()
			b, err := src.Baseline(context.Background())
			if tt.want == "" {
				if err != nil || len(b.GPUs) != 1 {
					t.Fatalf("baseline %+v, error %v; want the agent's GPU", b, err)
				}
				return
			}
			if got := b.UnknownCauses[srv.URL]; !strings.Contains(got, tt.want) || len(b.GPUs) != 0 || err == nil {
				t.Errorf("cause %q, %d GPUs, error %v; want the agent unknown for %q", got, len(b.GPUs), err, tt.want)
			}
		})
	}
}

// TestAgentRedirects: an agent redirected within its host is read; one
// redirected to another host is unknown, the redirect named as the cause,
// and the other host never asked.
func TestAgentRedirects(t *testing.T) {
	var elsewhere atomic.Int64
	_, agent := startAgent(t, "gpu-01", t0)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		agent.Config.Handler.ServeHTTP(w, r)
	}))
	defer other.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/gpus", agent.Config.Handler.ServeHTTP)
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/v1/gpus", http.StatusFound) })
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/v1/gpus", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	src, err := NewAgents(AgentsConfig{Name: "rack", Targets: []string{srv.URL + "/moved", srv.URL + "/away"}, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	defer src.CloseIdleConnections()
	b, err := src.Baseline(context.Background())
	if err != nil || len(b.GPUs) != 8 {
		t.Fatalf("baseline of %d GPUs, error %v; want the 8 GPUs of the agent redirected within its host", len(b.GPUs), err)
	}
	want := "redirected from " + srv.URL + "/away to " + other.URL + "/v1/gpus, another scheme, host or port: refused"
	if got := b.UnknownCauses[srv.URL+"/away"]; len(b.Unknown) != 1 || !strings.Contains(got, want) {
		t.Errorf("unknown %v, cause %q; want the target redirected away unknown for %q", b.Unknown, got, want)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the other host was asked %d times, want never", n)
	}
}

// TestAgentAnswerBounds: an agent's error body is cut short in the cause
// (logged every tick); an answer past MaxAnswer fails naming the limit,
// not as JSON cut off.
func TestAgentAnswerBounds(t *testing.T) {
	sample := `{"node":"gpu-x","sample_time":"` + t0.Format(time.RFC3339) + `","gpus":[`
	huge := sample + strings.Repeat(`{"uuid":"GPU-1","model":"`+strings.Repeat("m", 1000)+`"},`, 5000) + `{"uuid":"GPU-2"}]}`
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"a long error", http.StatusInternalServerError, "nvml broke: " + strings.Repeat("e", 100000), `500 Internal Server Error: "nvml broke: eeee`},
		{"an answer past the limit", http.StatusOK, huge, "body is larger than 4194304 bytes, the most read of an agent's answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, url := baselineOfAnswer(t, tt.status, tt.body)
			if got := b.UnknownCauses[url]; !strings.Contains(got, tt.want) || len(got) > 500 {
				t.Errorf("cause %.600q (%d bytes), want one containing %q of at most 500 bytes", got, len(got), tt.want)
			}
		})
	}
}

// TestAgentSampledDuringTheScrape: an agent samples while it answers, so
// its sample is as much after the scrape's start as the scrape took; it is
// in the future only past the scrapes' end. On the demo's clock (360 times
// the wall's) a scrape of 100 ms is 36 s, and every agent was reported as
// "in the future: the agent's clock is off", holding the pool's launches.
func TestAgentSampledDuringTheScrape(t *testing.T) {
	var clock atomic.Int64 // seconds after t0
	now := func() time.Time { return t0.Add(time.Duration(clock.Load()) * time.Second) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		clock.Add(45) // the scrape takes 45 s of the clock's time
		w.Write([]byte(`{"node":"gpu-x","sample_time":"` + now().Format(time.RFC3339) + `","gpus":[{"uuid":"GPU-1","busy":true}]}`))
	}))
	defer srv.Close()
	src, err := NewAgents(AgentsConfig{Name: "rack", Targets: []string{srv.URL}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer src.CloseIdleConnections()
	b, err := src.Baseline(t.Context())
	if err != nil || len(b.GPUs) != 1 {
		t.Errorf("baseline %+v, error %v: want the agent's GPU", b, err)
	}
}

// baselineOfAnswer is the baseline an agents source of one target reads
// when its agent answers status and body, with that target.
func baselineOfAnswer(t *testing.T, status int, body string) (signals.Baseline, string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	src, err := NewAgents(AgentsConfig{Name: "rack", Targets: []string{srv.URL}, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.CloseIdleConnections)
	b, _ := src.Baseline(context.Background())
	return b, srv.URL
}

// TestUnknownGPUIsNeverFree: an answer listing a GPU unknown (not read)
// without saying it busy, and idle and allocated beside it (an agent
// other than spillway's, or an older one). Before, the source took it as
// read: free for a job (the pool waited for on-prem rather than burst)
// and idle allocated waste. A GPU unknown is busy, never idle, as
// signals.GPU says and the scheduler reads burst agents.
func TestUnknownGPUIsNeverFree(t *testing.T) {
	b, _ := baselineOfAnswer(t, http.StatusOK, `{"node":"gpu-x","sample_time":"`+t0.Format(time.RFC3339)+`","gpus":[`+
		`{"index":0,"uuid":"GPU-0","unknown":true,"busy":false,"idle":true,"allocated":true,"error":"GetUtilizationRates: ERROR_UNKNOWN"},`+
		`{"index":1,"uuid":"GPU-1","busy":true}]}`)
	pool := policy.Pool{Name: "h100", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 2}, StaleAfter: policy.Duration(time.Minute)}
	snap := signals.Assemble(pool, t0, &signals.BaselineReading{Source: "agents:rack", Baseline: b}, nil)
	if snap.OnPremGPUs != 2 || snap.OnPremBusyGPUs != 2 || snap.OnPremFreeGPUs != 0 || snap.IdleAllocatedGPUs != 0 {
		t.Errorf("one GPU unknown, one busy: %d GPUs, %d busy, %d free, %d idle allocated; want 2, 2, 0, 0", snap.OnPremGPUs, snap.OnPremBusyGPUs, snap.OnPremFreeGPUs, snap.IdleAllocatedGPUs)
	}
}

// TestGPUIndexListedOnce: an answer listing GPU index 0 twice, with two
// UUIDs (or the same), or an index below 0 (an agent other than
// spillway's, or a broken one: NVML numbers a node's GPUs from 0, each
// once). Before, the GPUs of another UUID were counted, one more free
// GPU than the node has (a thousand index-0 entries: a thousand free
// GPUs, and the pool never burst); one of the same UUID was counted once
// with a warning that two targets served it, naming the one target
// twice. The answer is no agent's: the node unknown, saying why.
func TestGPUIndexListedOnce(t *testing.T) {
	sample := `{"node":"gpu-x","sample_time":"` + t0.Format(time.RFC3339) + `","gpus":[`
	for _, tc := range []struct{ name, gpus string }{
		{"two UUIDs", `{"index":0,"uuid":"GPU-0"},{"index":0,"uuid":"GPU-1"}`},
		{"one UUID", `{"index":0,"uuid":"GPU-0"},{"index":0,"uuid":"GPU-0"}`},
		{"below 0", `{"index":0,"uuid":"GPU-0"},{"index":-1,"uuid":"GPU-1"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, url := baselineOfAnswer(t, http.StatusOK, sample+tc.gpus+`]}`)
			if len(b.GPUs) != 0 || !strings.Contains(b.UnknownCauses[url], "listed twice or out of range") {
				t.Errorf("%d GPUs counted, cause %q; want none, the node unknown as its answer lists an index twice or out of range", len(b.GPUs), b.UnknownCauses[url])
			}
		})
	}
}
