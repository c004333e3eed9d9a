package nvml

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	clocktesting "k8s.io/utils/clock/testing"
)

// stuckNode is an agent of an idle DGX H100 mock whose samples are
// stamped by clk, ticking every 10s on it with a 5s sample timeout, and
// an HTTP server for it; GPU 4's GetComputeRunningProcesses hangs once
// stuck is called, and returns once release is.
type stuckNode struct {
	srv            *server.Server
	a              *Agent
	hs             *httptest.Server
	clk            *clocktesting.FakeClock
	entered        chan struct{}
	stuck, release func()
}

func newStuckNode(t *testing.T, opts ...AgentOption) *stuckNode {
	t.Helper()
	n := &stuckNode{srv: idleMock(), clk: clocktesting.NewFakeClock(t0), entered: make(chan struct{}, 1)}
	s, err := NewSampler(n.srv, "n1", WithClock(n.clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	n.a = NewAgent(s, append([]AgentOption{WithAgentClock(n.clk), WithInterval(10 * time.Second), WithSampleTimeout(5 * time.Second)}, opts...)...)
	n.hs = httptest.NewServer(n.a.Handler())
	t.Cleanup(n.hs.Close)
	release := make(chan struct{})
	var restore func()
	n.stuck = func() {
		restore = hangCall(n.srv.Devices[4].(*server.Device), "GetComputeRunningProcesses", func() {
			n.entered <- struct{}{}
			<-release
		})
	}
	n.release = func() {
		restore()
		close(release)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.a.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// recovered waits for the sample a stuck call held to end, samples again
// and checks that the agent is healthy once more.
func (n *stuckNode) recovered(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.a.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.a.SampleOnce(context.Background()); err != nil {
		t.Fatalf("sample once the stuck call returned: %v", err)
	}
	if code, body := healthz(t, n.hs.URL); code != http.StatusOK {
		t.Errorf("/healthz once the stuck call returned = %d %q, want 200", code, body)
	}
}

// inside waits until GPU 4's reading alone is inside NVML.
func (n *stuckNode) inside(t *testing.T) {
	t.Helper()
	<-n.entered
	for n.a.sampler.inside.Load() > 1 {
		runtime.Gosched()
	}
}

// sampled waits until the sample of the clock's time is served, and
// returns it as /v1/gpus serves it.
func (n *stuckNode) sampled(t *testing.T) Sample {
	t.Helper()
	at := n.clk.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if s, err := n.a.Last(); err == nil && s.Time.Equal(at) {
			return getGPUs(t, n.hs.URL)
		}
		select {
		case <-ctx.Done():
			s, err := n.a.Last()
			t.Fatalf("no sample of %s served: the latest is of %s, error %v", at, s.Time, err)
		case <-tick.C:
		}
	}
}

// logBuffer is a log written by Run's goroutine and read by the test.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// gpuLines returns the log lines about GPU index as "LEVEL msg".
func (l *logBuffer) gpuLines(t *testing.T, index int) []string {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(l.b.Bytes()))
	for sc.Scan() {
		var line struct {
			Level, Msg string
			Agent      struct{ GPU *int }
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if line.Agent.GPU != nil && *line.Agent.GPU == index {
			out = append(out, line.Level+" "+line.Msg)
		}
	}
	return out
}

// TestStuckGPUBecomesUnhealthy: a GPU whose NVML call hangs in the driver
// for good (a GPU wedged by an Xid) was unknown, counted busy, for ever:
// a burst instance of it was kept rented, nothing said it needed a reset
// (a GPU lost that long is unhealthy after LostAfter), and Run's log said
// nothing of it. It is now unhealthy once its call has been stuck for
// LostAfter, /healthz naming it and since when; Run logs it once when it
// becomes unknown, once unhealthy and once read again, not every sample.
func TestStuckGPUBecomesUnhealthy(t *testing.T) {
	var logs logBuffer
	n := newStuckNode(t, WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- n.a.Run(ctx) }()
	n.sampled(t)

	n.stuck()
	n.clk.Step(10 * time.Second)
	since := n.clk.Now() // the sample reads the GPUs: GPU 4's call begins
	n.inside(t)
	n.clk.Step(5 * time.Second) // the sample's time is up: GPU 4 is stuck
	samples, unhealthy := 1, 0
	var first time.Time // GPU 4's first sample unhealthy
	for s := n.sampled(t); unhealthy < 3; s = n.sampled(t) {
		g := s.GPUs[4]
		stuckFor := s.Time.Sub(since)
		switch {
		case stuckFor < LostAfter && (!g.Unknown || !g.Busy || g.Unhealthy || !strings.Contains(g.Error, "GetComputeRunningProcesses")):
			t.Fatalf("GPU 4 stuck for %s served as %+v; want unknown, busy, naming its call", stuckFor, g)
		case stuckFor >= LostAfter && (!g.Unhealthy || g.Unknown || g.Busy || g.Idle ||
			!strings.Contains(g.Health, "GetComputeRunningProcesses has not returned since "+since.Format(time.RFC3339)) ||
			!strings.Contains(g.Health, "needs a reset")):
			t.Fatalf("GPU 4 stuck for %s served as %+v; want unhealthy since %s, neither busy nor idle, needing a reset", stuckFor, g, since.Format(time.RFC3339))
		case stuckFor >= LostAfter:
			if unhealthy++; unhealthy == 1 {
				first = s.Time
			}
			want := "GPU 4 unhealthy (GetComputeRunningProcesses TIMEOUT): "
			if code, body := healthz(t, n.hs.URL); code != http.StatusServiceUnavailable || !strings.Contains(body, want) ||
				!strings.Contains(body, since.Format(time.RFC3339)) || strings.Contains(body, "GPU 3") {
				t.Errorf("/healthz = %d %q; want 503 naming %q alone, since %s", code, body, want, since.Format(time.RFC3339))
			}
			if m, ok := byUUID(t, getMetrics(t, n.hs.URL), MetricUnhealthy)[s.GPUs[4].UUID]; !ok || m.GetGauge().GetValue() != 1 {
				t.Errorf("%s for GPU 4 = %v, want 1", MetricUnhealthy, m)
			}
		}
		for j, g := range s.GPUs {
			if j != 4 && (g.Unknown || g.Unhealthy || !g.Idle) {
				t.Errorf("idle GPU %d served as %+v", j, g)
			}
		}
		samples++
		n.clk.Step(10 * time.Second)
	}
	// Samples are 10s apart, ending 5s after a multiple of 10s.
	if at := first.Sub(since); at != LostAfter+5*time.Second {
		t.Errorf("GPU 4 unhealthy %s after its call began, want %s (the first sample a minute after, one every 10s)", at, LostAfter+5*time.Second)
	}

	n.release()
	n.clk.Step(10 * time.Second)
	if g := n.sampled(t).GPUs[4]; g.Unknown || g.Unhealthy || !g.Idle {
		t.Errorf("GPU 4 once its call returned: %+v, want read, idle", g)
	}
	n.clk.Step(10 * time.Second) // the sample before has been logged
	n.sampled(t)
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	want := []string{
		"WARN GPU unknown, counted busy; said again when that changes",
		"ERROR GPU unhealthy, it takes no job; said again when that changes",
		"INFO GPU read again",
	}
	if got := logs.gpuLines(t, 4); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Run logged, of GPU 4 over %d samples:\n%s\nwant:\n%s", samples+2, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for j := range 8 {
		if got := logs.gpuLines(t, j); j != 4 && len(got) > 0 {
			t.Errorf("Run logged of idle GPU %d: %q", j, got)
		}
	}
}

// TestCancelledSampleTimesItsStuckGPU: a sample cancelled (the agent
// shutting down, a caller's context) while a GPU's call hung left that
// reading without a start: the next sample said the call 'did not return
// within the sample timeout' rather than since when, and timed it from
// then. It is timed from the cancelled sample's end.
func TestCancelledSampleTimesItsStuckGPU(t *testing.T) {
	n := newStuckNode(t)
	if err := n.a.SampleOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	n.stuck()
	defer n.release()
	n.clk.Step(7 * time.Second)
	since := n.clk.Now()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.a.SampleOnce(ctx) }()
	n.inside(t)
	cancel()
	if err := <-done; err == nil {
		t.Fatal("SampleOnce cancelled returned no error")
	}
	// SampleOnce returns at once; the sample it left ends on its own.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	wait, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	for len(n.a.turn) > 0 {
		select {
		case <-wait.Done():
			t.Fatal("the cancelled sample did not end")
		case <-tick.C:
		}
	}
	for _, tc := range []struct {
		after     time.Duration
		unhealthy bool
	}{{10 * time.Second, false}, {LostAfter - time.Second, false}, {LostAfter, true}} {
		n.clk.SetTime(since.Add(tc.after))
		if err := n.a.SampleOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		g := n.sampled(t).GPUs[4]
		text := g.Error + g.Health
		if g.Unhealthy != tc.unhealthy || !strings.Contains(text, "has not returned since "+since.Format(time.RFC3339)) {
			t.Errorf("GPU 4 %s after a cancelled sample left it stuck: %+v; want unhealthy %v, stuck since %s", tc.after, g, tc.unhealthy, since.Format(time.RFC3339))
		}
	}
}

// TestStuckGPUIsTimedFromItsCall: a GPU whose call hangs was timed from
// the end of the sample that gave up on it, a sample timeout after the
// call began: /healthz said it had not returned since a time it was
// already stuck, and it became unhealthy a sample timeout late. It is
// timed from when its reading began.
func TestStuckGPUIsTimedFromItsCall(t *testing.T) {
	n := newStuckNode(t)
	if err := n.a.SampleOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	n.stuck()
	defer n.release()
	n.clk.Step(10 * time.Second)
	began := n.clk.Now()
	if err := sampleStepping(t, n.a, n.clk, 5*time.Second, func() { n.inside(t) }); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		after     time.Duration // since the call began
		unhealthy bool
	}{{5 * time.Second, false}, {LostAfter - time.Second, false}, {LostAfter, true}} {
		if at := began.Add(tc.after); !n.clk.Now().Equal(at) {
			n.clk.SetTime(at)
			if err := n.a.SampleOnce(context.Background()); err != nil { // GPU 4 not waited for
				t.Fatal(err)
			}
		}
		g := n.sampled(t).GPUs[4]
		text := g.Error + g.Health
		if g.Unhealthy != tc.unhealthy || g.Unknown == tc.unhealthy || !strings.Contains(text, "GetComputeRunningProcesses has not returned since "+began.Format(time.RFC3339)+":") {
			t.Errorf("GPU 4 %s after its call began: %+v; want unhealthy %v, not returned since %s", tc.after, g, tc.unhealthy, began.Format(time.RFC3339))
		}
	}
}

// TestStuckSampleBecomesUnhealthy: a sample stuck counting or opening the
// GPUs (DeviceGetCount or DeviceGetHandleByIndex hung in the driver, as
// when the driver wedges) served every GPU unknown, busy, for ever: a
// burst node whose driver wedged was never reported unhealthy and stayed
// rented, where a GPU's own call stuck that long makes it unhealthy. Every
// GPU is now unhealthy once the sample has been stuck for LostAfter,
// /v1/gpus, /metrics and /healthz naming the call and since when; unknown
// before; read again once the call returns.
func TestStuckSampleBecomesUnhealthy(t *testing.T) {
	for _, tc := range []struct {
		call string
		hang func(srv *server.Server, hang func()) (restore func())
	}{
		{"DeviceGetCount", func(srv *server.Server, hang func()) func() {
			old := srv.DeviceGetCountFunc
			srv.DeviceGetCountFunc = func() (int, nv.Return) { hang(); return old() }
			return func() { srv.DeviceGetCountFunc = old }
		}},
		{"DeviceGetHandleByIndex", func(srv *server.Server, hang func()) func() {
			old := srv.DeviceGetHandleByIndexFunc
			srv.DeviceGetHandleByIndexFunc = func(i int) (nv.Device, nv.Return) {
				if i == 3 {
					hang()
				}
				return old(i)
			}
			return func() { srv.DeviceGetHandleByIndexFunc = old }
		}},
	} {
		t.Run(tc.call, func(t *testing.T) {
			n := newStuckNode(t)
			if err := n.a.SampleOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			entered, release := make(chan struct{}, 1), make(chan struct{})
			let := sync.OnceFunc(func() { close(release) })
			t.Cleanup(let) // a test failing lets the call return: Close waits for it
			restore := tc.hang(n.srv, func() { entered <- struct{}{}; <-release })
			n.clk.Step(10 * time.Second)
			since := n.clk.Now()
			first := true
			for n.clk.Now().Sub(since) <= LostAfter+10*time.Second {
				err := sampleStepping(t, n.a, n.clk, 5*time.Second, func() {
					if first {
						<-entered // the first sample is stuck in the call
					}
				})
				first = false
				stuckFor := n.clk.Now().Sub(since)
				wedged := stuckFor >= LostAfter
				var se *StuckCallError
				if !errors.As(err, &se) || !errors.Is(err, ErrSampleTimeout) || se.Call != tc.call || !se.Since.Equal(since) || se.Wedged != wedged {
					t.Fatalf("sample %s into a stuck %s: %v (%+v); want a StuckCallError naming it, since %s, wedged %v", stuckFor, tc.call, err, se, since.Format(time.RFC3339), wedged)
				}
				s := getGPUs(t, n.hs.URL)
				want := tc.call + " has not returned since " + since.Format(time.RFC3339)
				if len(s.GPUs) != 8 || !strings.Contains(s.Error, want) {
					t.Fatalf("/v1/gpus %s into a stuck %s: %d GPUs, error %q; want 8, naming the call and since when", stuckFor, tc.call, len(s.GPUs), s.Error)
				}
				for _, g := range s.GPUs {
					if wedged && (!g.Unhealthy || g.Unknown || g.Busy || g.Idle || !strings.Contains(g.Health, want) || !strings.Contains(g.Health, "reboot")) ||
						!wedged && (g.Unhealthy || !g.Unknown || !g.Busy) {
						t.Fatalf("GPU %d %s into a stuck %s: %+v; want unhealthy %v (neither busy nor idle, saying %q and a reboot), else unknown, busy", g.Index, stuckFor, tc.call, g, wedged, want)
					}
				}
				mf := getMetrics(t, n.hs.URL)
				for name, v := range map[string]float64{MetricUnhealthy: 1, MetricBusy: 0, MetricUnknown: 0} {
					if !wedged {
						break
					}
					if got := byUUID(t, mf, name); len(got) != 8 || got[s.GPUs[3].UUID].GetGauge().GetValue() != v {
						t.Errorf("%s %s into a stuck %s: %d series, GPU 3's %v; want 8, %v", name, stuckFor, tc.call, len(got), got[s.GPUs[3].UUID], v)
					}
				}
				code, body := healthz(t, n.hs.URL)
				if wantLine := "GPU 7 unhealthy (" + tc.call + " TIMEOUT): "; code != http.StatusServiceUnavailable || !strings.Contains(body, want) ||
					strings.Contains(body, wantLine) != wedged {
					t.Errorf("/healthz %s into a stuck %s = %d %q; want 503 saying %q, and %q when %v", stuckFor, tc.call, code, body, want, wantLine, wedged)
				}
			}
			restore()
			let()
			n.recovered(t)
		})
	}
}

// workers counts the goroutines of GPU workers.
func workers() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "(*Sampler).startWorker.func1(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// waitWorkers waits until want GPU workers run.
func waitWorkers(t *testing.T, want int, when string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for got := workers(); got != want; got = workers() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %d GPU workers run, want %d", when, got, want)
		case <-tick.C:
		}
	}
}

// TestWorkersEndWithTheSampler: each GPU is read by a worker kept from
// sample to sample (a goroutine a GPU a sample cost 49 allocations a
// sample of 8 GPUs). A worker ends when its GPU is gone or opened again,
// and when the sampler is closed; one whose call is stuck, once the call
// returns.
func TestWorkersEndWithTheSampler(t *testing.T) {
	waitWorkers(t, 0, "before")
	srv := idleMock()
	s, err := NewSampler(srv, "n1")
	if err != nil {
		t.Fatal(err)
	}
	sample := func(ctx context.Context) {
		t.Helper()
		if _, err := s.Sample(ctx); err != nil && ctx.Err() == nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		sample(context.Background())
	}
	waitWorkers(t, 8, "three samples of 8 GPUs")
	srv.Devices[2], srv.Devices[5] = srv.Devices[5], srv.Devices[2]
	sample(context.Background())
	waitWorkers(t, 8, "two GPUs reordered")
	srv.Devices = srv.Devices[:7]
	sample(context.Background())
	waitWorkers(t, 7, "a GPU hot-removed")

	entered, release := make(chan struct{}, 1), make(chan struct{})
	restore := hangCall(srv.Devices[4].(*server.Device), "GetMemoryInfo", func() { entered <- struct{}{}; <-release })
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-entered; cancel() }()
	sample(ctx) // left GPU 4's call stuck
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	waitWorkers(t, 1, "closed with GPU 4's call stuck")
	restore()
	close(release)
	waitWorkers(t, 0, "closed, GPU 4's call returned")
}
