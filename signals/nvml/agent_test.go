package nvml

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// simAgent starts a simulated node, its sampler and agent, and an HTTP
// server for the agent.
func simAgent(t testing.TB, model string, clock *fakeClock, opts ...SimOption) (*SimulatedNode, *Agent, *httptest.Server) {
	t.Helper()
	node, err := NewSimulatedNode(model, DefaultSeries(), append([]SimOption{WithSimClock(clock.Now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSampler(node.Interface(), "node-"+model, WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a := NewAgent(s)
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return node, a, srv
}

func getGPUs(t *testing.T, url string) Sample {
	t.Helper()
	resp, err := http.Get(url + "/v1/gpus")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/v1/gpus: %s", resp.Status)
	}
	var s Sample
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func getMetrics(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text format: %v", err)
	}
	return mf
}

// byUUID indexes a per-GPU metric family by its UUID label.
func byUUID(t *testing.T, mf map[string]*dto.MetricFamily, name string) map[string]*dto.Metric {
	t.Helper()
	f, ok := mf[name]
	if !ok {
		t.Fatalf("/metrics has no %s", name)
	}
	out := map[string]*dto.Metric{}
	for _, m := range f.Metric {
		for _, l := range m.Label {
			if l.GetName() == "UUID" {
				out[l.GetValue()] = m
			}
		}
	}
	return out
}

func TestAgentServesTheMockNode(t *testing.T) {
	for _, tc := range []struct {
		model, name string
	}{
		{"dgxa100", "A100"}, {"dgxh100", "H100"}, {"dgxh200", "H200"}, {"dgxb200", "B200"},
	} {
		t.Run(tc.model, func(t *testing.T) {
			clock := &fakeClock{t: t0}
			node, a, srv := simAgent(t, tc.model, clock)
			if err := a.SampleOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := getGPUs(t, srv.URL)
			devs := node.server.Devices
			if len(devs) != 8 || len(got.GPUs) != 8 {
				t.Fatalf("mock has %d devices, /v1/gpus shows %d; want 8 and 8", len(devs), len(got.GPUs))
			}
			if got.Node != "node-"+tc.model || !got.Time.Equal(t0) {
				t.Errorf("node %q time %v; want node-%s at %v", got.Node, got.Time, tc.model, t0)
			}
			metrics := getMetrics(t, srv.URL)
			memTotal := byUUID(t, metrics, MetricMemoryTotal)
			util := byUUID(t, metrics, MetricUtilization)
			for i, d := range devs {
				md := d.(*server.Device)
				g := got.GPUs[i]
				if g.UUID != md.UUID || g.Index != i || g.Model != md.Config.Name || !strings.Contains(g.Model, tc.name) {
					t.Errorf("GPU %d: %+v; mock device is %s %q", i, g, md.UUID, md.Config.Name)
				}
				if g.MemoryTotal != md.Config.MemoryMB*1024*1024 || g.MemoryTotal == 0 {
					t.Errorf("GPU %d memory total %d, mock has %d MiB", i, g.MemoryTotal, md.Config.MemoryMB)
				}
				if m := memTotal[md.UUID]; m == nil || m.GetGauge().GetValue() != float64(g.MemoryTotal) {
					t.Errorf("GPU %d: %s = %v, JSON says %d", i, MetricMemoryTotal, m, g.MemoryTotal)
				}
				if m := util[md.UUID]; m == nil || math.Abs(m.GetGauge().GetValue()-g.Utilization/100) > 1e-9 {
					t.Errorf("GPU %d: %s = %v, JSON says %v%%", i, MetricUtilization, m, g.Utilization)
				}
			}
			labels := map[string]string{}
			for _, l := range metrics[MetricUtilization].Metric[0].Label {
				labels[l.GetName()] = l.GetValue()
			}
			for _, l := range []string{"gpu", "UUID", "modelName", "Hostname"} {
				if labels[l] == "" {
					t.Errorf("%s lacks dcgm-exporter's label %q: %v", MetricUtilization, l, labels)
				}
			}
		})
	}
}

// TestAgentFollowsTheReplay advances the clock through the embedded trace
// and checks that the node shows round(busy fraction × 8) allocated GPUs,
// each with one process, as the CSV says for that minute.
func TestAgentFollowsTheReplay(t *testing.T) {
	clock := &fakeClock{t: t0}
	_, a, srv := simAgent(t, "dgxh100", clock, WithReplaySpeed(60))
	want := heliosFractions(t, "traces/vchbv_sequence.csv")
	seen := map[int]bool{}
	// 60× speed: one real second is one trace minute.
	for minute := 0; minute < len(want); minute += 7 {
		clock.t = t0.Add(time.Duration(minute) * time.Second)
		if err := a.SampleOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		s := getGPUs(t, srv.URL)
		wantBusy := int(math.Round(want[minute] * 8))
		seen[wantBusy] = true
		allocated, busy, waste := 0, 0, 0
		for _, g := range s.GPUs {
			if g.Allocated != (g.Processes == 1) || (g.Processes == 0 && (g.Utilization != 0 || g.MemoryUsed != 0)) {
				t.Fatalf("minute %d: inconsistent GPU %+v", minute, g)
			}
			if g.Allocated {
				allocated++
			}
			if g.Busy {
				busy++
			}
			if g.Idle != (g.Utilization < 10) {
				t.Fatalf("minute %d GPU %d: idle=%v at %v%%", minute, g.Index, g.Idle, g.Utilization)
			}
			if g.Allocated && g.Idle {
				waste++
			}
		}
		if allocated != wantBusy || busy != wantBusy {
			t.Fatalf("minute %d: %d allocated, %d busy; trace says %.3f of the cluster ran, %d of 8 GPUs", minute, allocated, busy, want[minute], wantBusy)
		}
		metrics := getMetrics(t, srv.URL)
		if got := sumGauge(metrics[MetricBusy]); got != float64(wantBusy) {
			t.Fatalf("minute %d: sum(%s) = %v, want %d", minute, MetricBusy, got, wantBusy)
		}
		if got := sumGauge(metrics[MetricIdleAllocated]); got != float64(waste) {
			t.Fatalf("minute %d: sum(%s) = %v, JSON shows %d", minute, MetricIdleAllocated, got, waste)
		}
	}
	if len(seen) < 4 {
		t.Errorf("replay showed only busy counts %v; want the load to vary", seen)
	}
}

func sumGauge(f *dto.MetricFamily) float64 {
	var s float64
	if f == nil {
		return math.NaN()
	}
	for _, m := range f.Metric {
		s += m.GetGauge().GetValue()
	}
	return s
}

func TestIdleAllocatedShare(t *testing.T) {
	full, _ := Pattern("full")
	for _, tc := range []struct {
		share  float64
		lo, hi int // idle-allocated GPU-minutes out of 8×600
	}{
		{0, 0, 0}, {1, 4800, 4800}, {0.125, 400, 800},
	} {
		clock := &fakeClock{t: t0}
		n, err := NewSimulatedNode("dgxh100", full, WithSimClock(clock.Now), WithIdleAllocated(tc.share))
		if err != nil {
			t.Fatal(err)
		}
		idle := 0
		for m := range 600 {
			at := t0.Add(time.Duration(m) * time.Minute)
			for i := range 8 {
				if st := n.StateAt(i, at); st.Processes == 1 && st.Utilization < 10 {
					idle++
				}
			}
		}
		if idle < tc.lo || idle > tc.hi {
			t.Errorf("share %v: %d idle-allocated GPU-minutes, want %d..%d", tc.share, idle, tc.lo, tc.hi)
		}
	}
}

func TestSimulateRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		model string
		opts  []SimOption
		want  string
	}{
		{"dgx1", nil, `"dgx1"`},
		{"dgxh100", []SimOption{WithReplaySpeed(0)}, "replay speed 0"},
		{"dgxh100", []SimOption{WithIdleAllocated(2)}, "from 0 to 1"},
	} {
		_, err := NewSimulatedNode(tc.model, DefaultSeries(), tc.opts...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewSimulatedNode(%s): %v, want %q", tc.model, err, tc.want)
		}
	}
}

// TestBusyThresholds drives one mock GPU through utilisation and process
// readings and checks busy, idle and allocated.
func TestBusyThresholds(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		th                    Thresholds
		util                  uint32
		utilRet               nv.Return
		procs                 int
		busy, idle, allocated bool
	}{
		{"idle and free", DefaultThresholds, 0, nv.SUCCESS, 0, false, true, false},
		{"computing", DefaultThresholds, 55, nv.SUCCESS, 1, true, false, true},
		{"at the threshold", DefaultThresholds, 10, nv.SUCCESS, 0, true, false, false},
		{"held but idle (waste)", DefaultThresholds, 3, nv.SUCCESS, 1, true, true, true},
		{"held but idle, process test off", Thresholds{BusyUtil: 10}, 3, nv.SUCCESS, 1, false, true, true},
		{"two processes needed", Thresholds{BusyUtil: 50, BusyProcesses: 2}, 20, nv.SUCCESS, 1, false, true, true},
		{"MIG: no utilisation, process", DefaultThresholds, 0, nv.ERROR_NOT_SUPPORTED, 1, true, false, true},
		{"MIG: no utilisation, no process", DefaultThresholds, 0, nv.ERROR_NOT_SUPPORTED, 0, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := server.NewServerWithGPUs("550.54.15", "12.550.54.15", 12040, simModels["dgxh100"]().Devices[0].(*server.Device).Config)
			d := srv.Devices[0].(*server.Device)
			HealthyMock(d)
			d.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) { return nv.Utilization{Gpu: tc.util}, tc.utilRet }
			d.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) {
				return make([]nv.ProcessInfo, tc.procs), nv.SUCCESS
			}
			s, err := NewSampler(srv, "n1", WithThresholds(tc.th))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, err := s.Sample(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			g := got.GPUs[0]
			if g.Busy != tc.busy || g.Idle != tc.idle || g.Allocated != tc.allocated {
				t.Errorf("busy/idle/allocated = %v/%v/%v, want %v/%v/%v", g.Busy, g.Idle, g.Allocated, tc.busy, tc.idle, tc.allocated)
			}
		})
	}
}

func TestSampleErrorNamesGPUAndCall(t *testing.T) {
	clock := &fakeClock{t: t0}
	node, a, srv := simAgent(t, "dgxh100", clock)
	if err := a.SampleOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	d := node.server.Devices[5].(*server.Device)
	d.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) { return nil, nv.ERROR_GPU_IS_LOST }
	clock.Advance(time.Second)
	if err := a.SampleOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := getGPUs(t, srv.URL)
	if e := s.GPUs[5].Error; !strings.Contains(e, "GPU 5") || !strings.Contains(e, d.UUID) ||
		!strings.Contains(e, "GetComputeRunningProcesses") || !strings.Contains(e, nv.ERROR_GPU_IS_LOST.Error()) {
		t.Fatalf("GPU 5's error %q: want GPU 5, its UUID, the call and ERROR_GPU_IS_LOST", e)
	}
	// NVML cannot count the GPUs: the sample fails as a whole, and the last
	// good one is served, with its own (older) time, every GPU unknown.
	node.server.DeviceGetCountFunc = func() (int, nv.Return) { return 0, nv.ERROR_UNKNOWN }
	clock.Advance(time.Second)
	err := a.SampleOnce(context.Background())
	if !errors.Is(err, nv.ERROR_UNKNOWN) || !strings.Contains(err.Error(), "DeviceGetCount") {
		t.Fatalf("sample error %v: want DeviceGetCount and ERROR_UNKNOWN", err)
	}
	if s := getGPUs(t, srv.URL); !s.Time.Equal(t0.Add(time.Second)) || len(s.GPUs) != 8 || len(s.Unknown()) != 8 || !strings.Contains(s.Error, "DeviceGetCount") {
		t.Errorf("after a failed sample /v1/gpus shows %v with %d GPUs, %d unknown, error %q; want the last good one, all unknown", s.Time, len(s.GPUs), len(s.Unknown()), s.Error)
	}
	mf := getMetrics(t, srv.URL)[MetricSampleErrors]
	if mf == nil || mf.Metric[0].GetCounter().GetValue() != 1 {
		t.Errorf("%s = %v, want 1", MetricSampleErrors, mf)
	}
}

func TestNoSampleYet(t *testing.T) {
	clock := &fakeClock{t: t0}
	_, _, srv := simAgent(t, "dgxh100", clock)
	resp, err := http.Get(srv.URL + "/v1/gpus")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/v1/gpus before the first sample: %s, want 503", resp.Status)
	}
}

// TestRunSamplesUntilCancelled: Run samples at once, then on each tick of
// its clock (a fake one here: no wall time passes), until cancelled.
func TestRunSamplesUntilCancelled(t *testing.T) {
	clock := &fakeClock{t: t0}
	_, a, srv := simAgent(t, "dgxh100", clock)
	ticks := clocktesting.NewFakeClock(t0)
	a.clock, a.interval = ticks, 10*time.Second
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	waitSample := func(at time.Time) {
		for s, _ := a.Last(); !s.Time.Equal(at); s, _ = a.Last() {
			runtime.Gosched()
		}
	}
	waitSample(t0) // the first sample, at once
	for i := 1; i <= 2; i++ {
		clock.Advance(time.Second)
		if s, _ := a.Last(); !s.Time.Equal(t0) && i == 1 {
			t.Fatalf("sampled again at %v before the ticker fired", s.Time)
		}
		ticks.Step(10 * time.Second)
		waitSample(t0.Add(time.Duration(i) * time.Second))
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v after cancel, want nil", err)
	}
	if s := getGPUs(t, srv.URL); len(s.GPUs) != 8 {
		t.Errorf("served %d GPUs", len(s.GPUs))
	}
}

func TestMissingLibrary(t *testing.T) {
	lib := nv.New(nv.WithLibraryPath("/nonexistent/" + LibraryName))
	_, err := NewSampler(lib, "n1")
	if !errors.Is(err, ErrLibraryNotFound) || !strings.Contains(err.Error(), LibraryName) {
		t.Fatalf("NewSampler without the library: %v, want ErrLibraryNotFound naming %s", err, LibraryName)
	}
}

var sinkSample Sample

// BenchmarkSample8GPUs is the agent's cost per sample of a DGX H100 mock
// node (8 GPUs): memory, utilisation and processes of each GPU.
func BenchmarkSample8GPUs(b *testing.B) {
	node, err := NewSimulatedNode("dgxh100", DefaultSeries())
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewSampler(node.Interface(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		sinkSample, err = s.Sample(ctx)
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScrapeMetrics is the cost of one /metrics scrape of an 8-GPU agent.
func BenchmarkScrapeMetrics(b *testing.B) {
	clock := &fakeClock{t: t0}
	_, a, _ := simAgent(b, "dgxh100", clock)
	if err := a.SampleOnce(context.Background()); err != nil {
		b.Fatal(err)
	}
	h := a.Handler()
	req := httptest.NewRequest("GET", "/metrics", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// TestServerDropsQuietClients: a client that sent one request and went
// quiet, or sends its headers slowly, loses its
// connection within the limits; the agent kept an idle keep-alive connection for ever, so
// clients that scraped once and stayed connected piled up without bound.
func TestServerDropsQuietClients(t *testing.T) {
	clock := &fakeClock{t: t0}
	_, a, _ := simAgent(t, "dgxh100", clock)
	if err := a.SampleOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	limits := DefaultServerLimits
	limits.ReadHeader, limits.Read, limits.Idle = 50*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond
	ln := serveAgent(t, a, limits)
	for _, tc := range []struct {
		name, send string
		wantStatus string // "" when no answer is due
	}{
		{"idle after a request", "GET /healthz HTTP/1.1\r\nHost: n\r\n\r\n", "HTTP/1.1 200 OK"},
		{"headers never finished", "GET /v1/gpus HTTP/1.1\r\nHost: n\r\n", ""},
		{"nothing sent", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tc.send); err != nil {
				t.Fatal(err)
			}
			// Far longer than the limits: the server must close first.
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			got, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("connection still open after %d bytes: %v (want the server to close it)", len(got), err)
			}
			if !strings.HasPrefix(string(got), tc.wantStatus) {
				t.Errorf("answer %q, want it to begin %q", head80(got), tc.wantStatus)
			}
		})
	}
}

// serveAgent serves a's Server within limits on a loopback listener until
// the test ends.
func serveAgent(t *testing.T, a *Agent, limits ServerLimits) net.Listener {
	t.Helper()
	srv := a.Server(limits)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		<-served
	})
	return ln
}

func head80(b []byte) string { return string(b[:min(len(b), 80)]) }

// TestServerLimitsConnections: with the limit at n, n clients in a
// request (headers half sent) leave the next one unanswered until one of
// them is done: the agent accepted every connection, so a client opening
// thousands could take all its file descriptors. A connection idle
// between requests then gives way to the waiting client (it kept it out
// for the idle timeout: one client keeping n connections alive kept every
// scraper out), and the others in a request keep theirs.
//
// Each client connects from its own loopback address, as n scrapers do:
// connections from the newcomer's own address stalled in their headers
// past connlimit.SilentGrace (one wall-clock second) would have it
// refused by design, and a loaded machine took that second between the
// newcomer and the first held request's end (limit 3 failed at load 30).
// From n other addresses, one connection each, none is ever past its
// grace in a way that changes what the newcomer gets.
func TestServerLimitsConnections(t *testing.T) {
	clock := &fakeClock{t: t0}
	_, a, _ := simAgent(t, "dgxh100", clock)
	if err := a.SampleOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("limit %d", n), func(t *testing.T) {
			limits := DefaultServerLimits
			limits.Conns = n
			// The held connections outlast the test, so only a close or an
			// idle connection frees a slot.
			limits.ReadHeader, limits.Idle = 10*time.Minute, 10*time.Minute
			ln := serveAgent(t, a, limits)
			// dial connects from 127.0.0.from and sends send.
			dial := func(from int, send string) (net.Conn, *bufio.Reader) {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(from))}}
				c, err := d.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				if _, err := io.WriteString(c, send); err != nil {
					t.Fatal(err)
				}
				return c, bufio.NewReader(c)
			}
			answer := func(c net.Conn, r *bufio.Reader, wait time.Duration) error {
				c.SetReadDeadline(time.Now().Add(wait))
				resp, err := http.ReadResponse(r, nil)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					return err
				}
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("answered %s", resp.Status)
				}
				return nil
			}
			const line, rest = "GET /healthz HTTP/1.1\r\n", "Host: n\r\n\r\n"
			type held struct {
				c net.Conn
				r *bufio.Reader
			}
			var busy []held
			for i := range n {
				c, r := dial(2+i, line)
				busy = append(busy, held{c, r})
			}
			c, r := dial(1, line+rest)
			// An answer within this wait is a served connection past the limit;
			// a limit that holds can never fail here, however slow the machine.
			var ne net.Error
			switch err := answer(c, r, 500*time.Millisecond); {
			case err == nil:
				t.Fatalf("connection %d answered with %d in a request, want it to wait while the limit is %d", n+1, n, n)
			case !errors.As(err, &ne) || !ne.Timeout():
				t.Fatalf("connection %d with %d in a request: %v, want it to wait unanswered while the limit is %d", n+1, n, err, n)
			}
			io.WriteString(busy[0].c, rest)
			if err := answer(busy[0].c, busy[0].r, 20*time.Second); err != nil {
				t.Fatalf("the first held connection's request: %v", err)
			}
			if err := answer(c, r, 20*time.Second); err != nil {
				t.Fatalf("connection %d once one of %d was idle: %v, want it served", n+1, n, err)
			}
			busy[0].c.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := busy[0].r.ReadByte(); !errors.Is(err, io.EOF) {
				t.Fatalf("the idle connection that gave way: read %v, want it closed", err)
			}
			for i, h := range busy[1:] {
				io.WriteString(h.c, rest)
				if err := answer(h.c, h.r, 20*time.Second); err != nil {
					t.Fatalf("held connection %d, in a request: %v, want it kept", i+2, err)
				}
			}
		})
	}
}

// TestHealthzFollowsTheLatestSample: /healthz answers 503 naming the NVML
// call and error while sampling fails, and 200 once a sample succeeds
// again. It answered ok while every sample failed, as long as one had
// once succeeded, so a probe never saw a node whose GPUs went unread.
func TestHealthzFollowsTheLatestSample(t *testing.T) {
	failed := []string{"GPU 5 unknown", "GetComputeRunningProcesses", nv.ERROR_GPU_IS_LOST.Error()}
	for _, tc := range []struct {
		name string
		// samples are taken in turn; false: GPU 5 is lost for that one.
		samples []bool
		status  int
		body    []string
	}{
		{"no sample yet", nil, http.StatusServiceUnavailable, []string{"no sample yet"}},
		{"sampled", []bool{true}, http.StatusOK, []string{"ok"}},
		{"first sample failed", []bool{false}, http.StatusServiceUnavailable, failed},
		{"failing after a good sample", []bool{true, false, false}, http.StatusServiceUnavailable, failed},
		{"recovered", []bool{true, false, true}, http.StatusOK, []string{"ok"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{t: t0}
			node, a, srv := simAgent(t, "dgxh100", clock)
			d := node.server.Devices[5].(*server.Device)
			read := d.GetComputeRunningProcessesFunc
			lost := func() ([]nv.ProcessInfo, nv.Return) { return nil, nv.ERROR_GPU_IS_LOST }
			for _, ok := range tc.samples {
				d.GetComputeRunningProcessesFunc = lost
				if ok {
					d.GetComputeRunningProcessesFunc = read
				}
				clock.Advance(time.Second)
				if err := a.SampleOnce(context.Background()); err != nil {
					t.Fatalf("sample with GPU 5 readable=%v: %v", ok, err)
				}
			}
			resp, err := http.Get(srv.URL + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Errorf("/healthz: %s %q, want %d", resp.Status, body, tc.status)
			}
			for _, want := range tc.body {
				if !strings.Contains(string(body), want) {
					t.Errorf("/healthz body %q does not say %q", body, want)
				}
			}
		})
	}
}

// TestMIGGPUHasNoUtilizationSeries: NVML does not report the utilisation
// of a MIG-enabled GPU (ERROR_NOT_SUPPORTED). /metrics leaves that GPU's
// utilisation series out, where it exported a 0% nobody measured, and keeps
// its other series; /v1/gpus shows it as before, at 0% but never idle, busy
// by its processes.
func TestMIGGPUHasNoUtilizationSeries(t *testing.T) {
	for _, tc := range []struct {
		model string
		procs int
	}{
		{"dgxa100", 1}, {"dgxh100", 0}, {"dgxb200", 1},
	} {
		t.Run(fmt.Sprintf("%s, %d processes", tc.model, tc.procs), func(t *testing.T) {
			clock := &fakeClock{t: t0}
			node, a, srv := simAgent(t, tc.model, clock)
			mig := node.server.Devices[2].(*server.Device)
			if ret, _ := mig.SetMigMode(nv.DEVICE_MIG_ENABLE); ret != nv.SUCCESS {
				t.Fatalf("SetMigMode: %v", ret)
			}
			// No GPU instance made yet: NVML lists no MIG device.
			mig.GetMaxMigDeviceCountFunc = func() (int, nv.Return) { return 7, nv.SUCCESS }
			mig.GetMigDeviceHandleByIndexFunc = func(int) (nv.Device, nv.Return) { return nil, nv.ERROR_NOT_FOUND }
			util := mig.GetUtilizationRatesFunc
			mig.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) {
				if mode, _, _ := mig.GetMigMode(); mode == nv.DEVICE_MIG_ENABLE {
					return nv.Utilization{}, nv.ERROR_NOT_SUPPORTED
				}
				return util()
			}
			mig.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) {
				return make([]nv.ProcessInfo, tc.procs), nv.SUCCESS
			}
			// Two samples: the second asks NVML again and is told the same.
			for range 2 {
				clock.Advance(time.Second)
				if err := a.SampleOnce(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			g := getGPUs(t, srv.URL).GPUs[2]
			if g.UUID != mig.UUID || g.Utilization != 0 || g.Idle || g.Busy != (tc.procs > 0) || g.Processes != tc.procs {
				t.Errorf("/v1/gpus shows the MIG GPU as %+v, want 0%%, never idle, busy by its %d processes", g, tc.procs)
			}
			metrics := getMetrics(t, srv.URL)
			utilSeries := byUUID(t, metrics, MetricUtilization)
			if m, ok := utilSeries[mig.UUID]; ok {
				t.Errorf("%s for the MIG GPU %s = %v, want no series", MetricUtilization, mig.UUID, m.GetGauge().GetValue())
			}
			if len(utilSeries) != len(node.server.Devices)-1 {
				t.Errorf("%s has %d series, want one for each of the %d other GPUs", MetricUtilization, len(utilSeries), len(node.server.Devices)-1)
			}
			for name, want := range map[string]float64{
				MetricBusy: b2f(tc.procs > 0), MetricAllocated: b2f(tc.procs > 0), MetricIdleAllocated: 0,
				MetricProcesses: float64(tc.procs), MetricMemoryTotal: float64(g.MemoryTotal),
			} {
				if m := byUUID(t, metrics, name)[mig.UUID]; m == nil || m.GetGauge().GetValue() != want {
					t.Errorf("%s for the MIG GPU = %v, want %v", name, m, want)
				}
			}
		})
	}
}

// TestSamplesTakeTurns starts a second sample while the first waits inside
// NVML, as overlapping scrapes of the demo's nodes do: the sampler keeps
// the devices it opened (and opens them again when their count changes), so the
// second must not read the devices until the first is done.
func TestSamplesTakeTurns(t *testing.T) {
	clock := &fakeClock{t: t0}
	node, a, _ := simAgent(t, "dgxh100", clock)
	dev := node.server.Devices[0].(*server.Device)
	mem := dev.GetMemoryInfoFunc
	entered := make(chan struct{}, 2)
	release := make(chan struct{})
	dev.GetMemoryInfoFunc = func() (nv.Memory, nv.Return) {
		entered <- struct{}{}
		<-release
		return mem()
	}
	errs := make(chan error, 2)
	go func() { errs <- a.SampleOnce(context.Background()) }()
	<-entered
	go func() { errs <- a.SampleOnce(context.Background()) }()
	select {
	case <-entered:
		t.Error("a second sample read the GPUs while the first was still reading them")
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
