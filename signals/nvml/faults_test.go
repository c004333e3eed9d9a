package nvml

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/spillway-io/spillway/signals"
)

// idleNode is a DGX H100 mock whose eight GPUs are idle (0%, no process),
// served by an agent on an httptest server. Tests then inject faults into
// single devices and calls. Its samples are a second apart: a sample
// reads the sampler's clock twice (when its readings begin, when it
// ends), and each reading moves it on by half a second.
func idleNode(t *testing.T, opts ...AgentOption) (*server.Server, *Agent, *httptest.Server) {
	t.Helper()
	srv := idleMock()
	clock := &fakeClock{t: t0}
	s, err := NewSampler(srv, "n1", WithClock(func() time.Time { clock.Advance(time.Second / 2); return clock.Now() }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a := NewAgent(s, opts...)
	hs := httptest.NewServer(a.Handler())
	t.Cleanup(hs.Close)
	return srv, a, hs
}

// idleMock is a DGX H100 mock whose eight GPUs are idle (0%, no process).
func idleMock() *server.Server {
	srv := simModels["dgxh100"]()
	for _, d := range srv.Devices {
		d := d.(*server.Device)
		d.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) { return nv.Utilization{}, nv.SUCCESS }
		d.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) { return nil, nv.SUCCESS }
		d.GetMemoryInfoFunc = func() (nv.Memory, nv.Return) { return nv.Memory{Total: 80 << 30, Used: 1 << 20}, nv.SUCCESS }
	}
	return srv
}

func healthz(t *testing.T, url string) (int, string) {
	t.Helper()
	return get(t, url+"/healthz")
}

// TestUnreadableGPUIsUnknown: one GPU's NVML call fails for one sample (the
// GPU fell off the bus, an Xid left it answering UNKNOWN, a call timed out
// in the driver) while the other seven answer. Before, the whole sample
// failed and /v1/gpus kept serving the last good one, with its busy/idle
// values, for as long as the fault lasted: an idle reading of a GPU that
// had since started work had its instance drained, a busy one kept it
// rented. Now that GPU alone is unknown (busy, never idle, with the error),
// the others are served as read, and the next good sample clears it.
func TestUnreadableGPUIsUnknown(t *testing.T) {
	for _, tc := range []struct {
		name, call string
		ret        nv.Return
	}{
		{"fallen off the bus, memory", "GetMemoryInfo", nv.ERROR_GPU_IS_LOST},
		{"fallen off the bus, processes", "GetComputeRunningProcesses", nv.ERROR_GPU_IS_LOST},
		{"Xid, utilisation unknown", "GetUtilizationRates", nv.ERROR_UNKNOWN},
		{"utilisation timed out", "GetUtilizationRates", nv.ERROR_TIMEOUT},
		{"processes timed out", "GetComputeRunningProcesses", nv.ERROR_TIMEOUT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, a, hs := idleNode(t)
			if err := a.SampleOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			d := srv.Devices[5].(*server.Device)
			restore := injectFault(d, tc.call, tc.ret)
			// Another GPU starts work meanwhile: it must be seen.
			srv.Devices[1].(*server.Device).GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) {
				return nv.Utilization{Gpu: 90}, nv.SUCCESS
			}
			if err := a.SampleOnce(context.Background()); err != nil {
				t.Fatalf("a sample with one GPU unreadable failed as a whole: %v", err)
			}
			s := getGPUs(t, hs.URL)
			if len(s.GPUs) != 8 {
				t.Fatalf("/v1/gpus lists %d GPUs, want 8", len(s.GPUs))
			}
			g := s.GPUs[5]
			if !g.Unknown || !g.Busy || g.Idle || !strings.Contains(g.Error, tc.call) || !strings.Contains(g.Error, tc.ret.Error()) || !strings.Contains(g.Error, "GPU 5") {
				t.Errorf("GPU 5 after %s failed: %+v; want unknown, busy, not idle, the error naming GPU 5, %s and %v", tc.call, g, tc.call, tc.ret)
			}
			if g1 := s.GPUs[1]; g1.Unknown || !g1.Busy || g1.Utilization != 90 {
				t.Errorf("GPU 1 (readable, 90%%) is served as %+v", g1)
			}
			if g0 := s.GPUs[0]; g0.Unknown || g0.Busy || !g0.Idle {
				t.Errorf("GPU 0 (readable, idle) is served as %+v", g0)
			}
			mf := getMetrics(t, hs.URL)
			if m := byUUID(t, mf, MetricUnknown)[d.UUID]; m.GetGauge().GetValue() != 1 {
				t.Errorf("%s for GPU 5 = %v, want 1", MetricUnknown, m)
			}
			if _, ok := byUUID(t, mf, MetricUtilization)[d.UUID]; ok {
				t.Errorf("%s has a series for the unread GPU 5", MetricUtilization)
			}
			if code, body := healthz(t, hs.URL); code != http.StatusServiceUnavailable || !strings.Contains(body, "GPU 5 unknown") || !strings.Contains(body, tc.call) {
				t.Errorf("/healthz = %d %q, want 503 naming GPU 5 and %s", code, body, tc.call)
			}
			restore()
			if err := a.SampleOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			if g := getGPUs(t, hs.URL).GPUs[5]; g.Unknown || g.Busy || !g.Idle {
				t.Errorf("GPU 5 readable again is served as %+v, want idle", g)
			}
			if code, body := healthz(t, hs.URL); code != http.StatusOK {
				t.Errorf("/healthz after recovery = %d %q", code, body)
			}
		})
	}
}

// injectFault makes d's call answer ret, and returns what undoes it.
func injectFault(d *server.Device, call string, ret nv.Return) (restore func()) {
	switch call {
	case "GetMemoryInfo":
		old := d.GetMemoryInfoFunc
		d.GetMemoryInfoFunc = func() (nv.Memory, nv.Return) { return nv.Memory{}, ret }
		return func() { d.GetMemoryInfoFunc = old }
	case "GetUtilizationRates":
		old := d.GetUtilizationRatesFunc
		d.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) { return nv.Utilization{}, ret }
		return func() { d.GetUtilizationRatesFunc = old }
	case "GetComputeRunningProcesses":
		old := d.GetComputeRunningProcessesFunc
		d.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) { return nil, ret }
		return func() { d.GetComputeRunningProcessesFunc = old }
	}
	panic("injectFault: no call " + call)
}

// TestOutOfRangeReadingIsUnknown: some drivers answer N/A utilisation as
// 0xFFFFFFFF; before, that read as 4294967295%, busy on every sample, and
// kept a burst instance rented for ever. A reading out of range now makes
// the GPU unknown, saying the value and the range.
func TestOutOfRangeReadingIsUnknown(t *testing.T) {
	for _, tc := range []struct {
		name string
		util uint32
		mem  nv.Memory
		want string
	}{
		{"utilisation N/A", math32, nv.Memory{Total: 80 << 30}, "4294967295%, want 0 to 100"},
		{"utilisation 101", 101, nv.Memory{Total: 80 << 30}, "101%, want 0 to 100"},
		{"memory used above total", 0, nv.Memory{Total: 80 << 30, Used: 81 << 30}, "86973087744 bytes used of 85899345920"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, a, hs := idleNode(t)
			d := srv.Devices[2].(*server.Device)
			d.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) { return nv.Utilization{Gpu: tc.util}, nv.SUCCESS }
			d.GetMemoryInfoFunc = func() (nv.Memory, nv.Return) { return tc.mem, nv.SUCCESS }
			if err := a.SampleOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			g := getGPUs(t, hs.URL).GPUs[2]
			if !g.Unknown || g.Idle || !strings.Contains(g.Error, tc.want) || g.Utilization != 0 || g.MemoryUsed != 0 {
				t.Errorf("GPU 2 served as %+v; want unknown, no readings, an error saying %q", g, tc.want)
			}
		})
	}
}

const math32 = 1<<32 - 1

// TestMIGTurnedOffIsReadAgain: once a GPU answered ERROR_NOT_SUPPORTED for
// utilisation (MIG mode), the sampler never asked again: after MIG was
// turned off at runtime the GPU was never idle, and its instance never
// scaled in. The utilisation is now asked every sample.
func TestMIGTurnedOffIsReadAgain(t *testing.T) {
	srv, a, hs := idleNode(t)
	d := srv.Devices[3].(*server.Device)
	var mig atomic.Bool
	mig.Store(true)
	d.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) {
		if mig.Load() {
			return nv.Utilization{}, nv.ERROR_NOT_SUPPORTED
		}
		return nv.Utilization{}, nv.SUCCESS
	}
	for _, tc := range []struct {
		mig, idle, utilSeries bool
	}{
		{true, false, false}, {false, true, true}, {true, false, false}, {false, true, true},
	} {
		mig.Store(tc.mig)
		if err := a.SampleOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		g := getGPUs(t, hs.URL).GPUs[3]
		_, series := byUUID(t, getMetrics(t, hs.URL), MetricUtilization)[d.UUID]
		if g.Idle != tc.idle || g.Unknown || series != tc.utilSeries {
			t.Errorf("MIG %v: GPU 3 idle=%v unknown=%v, utilisation series %v; want idle=%v, known, series %v", tc.mig, g.Idle, g.Unknown, series, tc.idle, tc.utilSeries)
		}
	}
}

// TestDeviceCountChanges: a GPU hot-removed (or back after a driver
// reload). Before, the sampler read the GPUs it found at start for ever.
// The GPU no longer counted is served after the others, unknown
// (TestGPUsNoLongerCounted), until it is counted again.
func TestDeviceCountChanges(t *testing.T) {
	srv, a, hs := idleNode(t)
	all := srv.Devices
	for _, n := range []int{8, 7, 8} {
		srv.Devices = all[:n]
		if err := a.SampleOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		s := getGPUs(t, hs.URL)
		if len(s.GPUs) != 8 {
			t.Fatalf("NVML counts %d GPUs; /v1/gpus lists %d, want 8", n, len(s.GPUs))
		}
		for i, g := range s.GPUs {
			if g.UUID != all[i].(*server.Device).UUID || g.Unknown != (i >= n) || i >= n && !strings.Contains(g.Error, ErrNotCounted.Error()) {
				t.Errorf("with %d GPUs, /v1/gpus[%d] = %+v", n, i, g)
			}
		}
	}
}

// TestNVMLReinitialised: the driver is reloaded under the agent; NVML then
// answers ERROR_UNINITIALIZED until Init is called again. Before, every
// sample failed from then on and the agent had to be restarted by hand.
func TestNVMLReinitialised(t *testing.T) {
	srv, a, hs := idleNode(t)
	if err := a.SampleOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	count, get := srv.DeviceGetCountFunc, srv.DeviceGetHandleByIndexFunc
	srv.DeviceGetCountFunc = func() (int, nv.Return) {
		if down.Load() {
			return 0, nv.ERROR_UNINITIALIZED
		}
		return count()
	}
	srv.DeviceGetHandleByIndexFunc = func(i int) (nv.Device, nv.Return) {
		if down.Load() {
			return nil, nv.ERROR_UNINITIALIZED
		}
		return get(i)
	}
	inits := 0
	srv.InitFunc = func() nv.Return { inits++; down.Store(false); return nv.SUCCESS }
	for _, d := range srv.Devices {
		d := d.(*server.Device)
		mem := d.GetMemoryInfoFunc
		d.GetMemoryInfoFunc = func() (nv.Memory, nv.Return) {
			if down.Load() {
				return nv.Memory{}, nv.ERROR_UNINITIALIZED
			}
			return mem()
		}
	}
	down.Store(true)
	if err := a.SampleOnce(context.Background()); err != nil {
		t.Fatalf("sample after a driver reload: %v, want NVML initialised again", err)
	}
	s := getGPUs(t, hs.URL)
	if inits != 1 || len(s.GPUs) != 8 || len(s.Unknown()) != 0 {
		t.Errorf("after a driver reload: Init called %d times, %d GPUs, %d unknown; want 1, 8, 0", inits, len(s.GPUs), len(s.Unknown()))
	}
}

// TestStuckNVMLCallIsBounded: NVML hangs in the driver. Counting the GPUs
// stuck: before, the sample never returned, /healthz said ok and /v1/gpus
// served the last good sample, busy or idle, as if it were current, for
// as long as the call hung; now the sample fails after the sample timeout:
// /healthz is 503, /v1/gpus and /metrics still answer at once with every
// GPU unknown, no second sample piles up behind the stuck one, and once
// the call returns sampling resumes.
func TestStuckNVMLCallIsBounded(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	srv, a, hs := idleNode(t, WithAgentClock(clk), WithSampleTimeout(5*time.Second))
	if err := sampleStepping(t, a, clk, 0, nil); err != nil {
		t.Fatal(err)
	}
	count := srv.DeviceGetCountFunc
	entered, release := make(chan struct{}, 4), make(chan struct{})
	var calls atomic.Int32
	srv.DeviceGetCountFunc = func() (int, nv.Return) {
		calls.Add(1)
		entered <- struct{}{}
		<-release
		return count()
	}
	for i := range 2 {
		err := sampleStepping(t, a, clk, 5*time.Second, func() {
			if i == 0 {
				<-entered // the first sample is inside NVML before its time is up
			}
		})
		if !errors.Is(err, ErrSampleTimeout) {
			t.Fatalf("sample %d with a stuck NVML call: %v, want ErrSampleTimeout", i, err)
		}
		if code, body := healthz(t, hs.URL); code != http.StatusServiceUnavailable || !strings.Contains(body, "timed out") {
			t.Errorf("/healthz while NVML is stuck = %d %q, want 503 saying it timed out", code, body)
		}
		s := getGPUs(t, hs.URL)
		if len(s.GPUs) != 8 || len(s.Unknown()) != 8 || !strings.Contains(s.Error, "timed out") {
			t.Errorf("/v1/gpus while NVML is stuck: %d GPUs, %d unknown, error %q; want all 8 unknown", len(s.GPUs), len(s.Unknown()), s.Error)
		}
		d := srv.Devices[4].(*server.Device)
		if m := byUUID(t, getMetrics(t, hs.URL), MetricUnknown)[d.UUID]; m.GetGauge().GetValue() != 1 {
			t.Errorf("%s while NVML is stuck = %v, want 1", MetricUnknown, m)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("NVML was entered %d times while stuck; want 1 (no sample behind the stuck one)", n)
	}
	srv.DeviceGetCountFunc = count
	close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sampleStepping(t, a, clk, 0, nil); err != nil {
		t.Fatalf("sample after the stuck call returned: %v", err)
	}
	if code, body := healthz(t, hs.URL); code != http.StatusOK {
		t.Errorf("/healthz after recovery = %d %q", code, body)
	}
}

// TestStuckGPUAloneIsUnknown: one GPU's NVML call hangs in the driver (a
// GPU wedged by an Xid). Before, the whole sample timed out: every GPU of
// the node was served unknown, busy, for as long as the call hung, so a
// node of seven idle GPUs counted none free and a burst instance of them
// was kept rented, and no sample read anything until the call returned.
// Now the sample timeout bounds each GPU's reading: that GPU alone is
// unknown, its error and /healthz naming the call, the others are read
// every sample, and the stuck GPU is not called again (no pile-up in the
// driver) until its call returns.
func TestStuckGPUAloneIsUnknown(t *testing.T) {
	for _, call := range []string{"GetComputeRunningProcesses", "GetUtilizationRates", "GetMemoryInfo"} {
		t.Run(call, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(t0)
			srv, a, hs := idleNode(t, WithAgentClock(clk), WithSampleTimeout(5*time.Second))
			if err := sampleStepping(t, a, clk, 0, nil); err != nil {
				t.Fatal(err)
			}
			d := srv.Devices[4].(*server.Device)
			entered, release := make(chan struct{}, 4), make(chan struct{})
			var calls atomic.Int32
			hang := func() {
				calls.Add(1)
				entered <- struct{}{}
				<-release
			}
			restore := hangCall(d, call, hang)
			for i := range 3 {
				if i == 1 {
					// Another GPU starts work while GPU 4 hangs: it must be seen.
					srv.Devices[1].(*server.Device).GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) {
						return nv.Utilization{Gpu: 90}, nv.SUCCESS
					}
				}
				step := time.Duration(0) // GPU 4 is stuck from before: not waited for
				if i == 0 {
					step = 5 * time.Second
				}
				err := sampleStepping(t, a, clk, step, func() {
					<-entered
					// The seven other GPUs are read before the time is up.
					for a.sampler.inside.Load() > 1 {
						runtime.Gosched()
					}
				})
				if err != nil {
					t.Fatalf("sample %d with GPU 4's %s stuck: %v, want the others read", i, call, err)
				}
				s := getGPUs(t, hs.URL)
				if len(s.GPUs) != 8 || s.Error != "" {
					t.Fatalf("sample %d: /v1/gpus lists %d GPUs, error %q", i, len(s.GPUs), s.Error)
				}
				for j, g := range s.GPUs {
					switch {
					case j == 4 && (!g.Unknown || !g.Busy || !strings.Contains(g.Error, call) || !strings.Contains(g.Error, "GPU 4")):
						t.Errorf("sample %d: stuck GPU 4 served as %+v; want unknown, busy, its error naming %s", i, g, call)
					case j == 1 && i > 0 && (g.Unknown || !g.Busy || g.Utilization != 90):
						t.Errorf("sample %d: GPU 1 at 90%% served as %+v", i, g)
					case j != 4 && j != 1 && (g.Unknown || !g.Idle):
						t.Errorf("sample %d: idle GPU %d served as %+v; want read, idle", i, j, g)
					}
				}
				want := "GPU 4 unknown (" + call + " TIMEOUT): "
				if code, body := healthz(t, hs.URL); code != http.StatusServiceUnavailable || !strings.Contains(body, want) || strings.Contains(body, "GPU 3") {
					t.Errorf("sample %d: /healthz = %d %q; want 503 naming %q alone", i, code, body, want)
				}
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("GPU 4's %s was entered %d times while stuck; want once", call, n)
			}
			restore()
			close(release)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := a.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			if err := sampleStepping(t, a, clk, 0, nil); err != nil {
				t.Fatal(err)
			}
			if g := getGPUs(t, hs.URL).GPUs[4]; g.Unknown || !g.Idle {
				t.Errorf("GPU 4 once its call returned: %+v, want read, idle", g)
			}
		})
	}
}

// hangCall makes d's call run hang first, and returns what undoes it.
func hangCall(d *server.Device, call string, hang func()) (restore func()) {
	switch call {
	case "GetMemoryInfo":
		old := d.GetMemoryInfoFunc
		d.GetMemoryInfoFunc = func() (nv.Memory, nv.Return) { hang(); return old() }
		return func() { d.GetMemoryInfoFunc = old }
	case "GetUtilizationRates":
		old := d.GetUtilizationRatesFunc
		d.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) { hang(); return old() }
		return func() { d.GetUtilizationRatesFunc = old }
	case "GetComputeRunningProcesses":
		old := d.GetComputeRunningProcessesFunc
		d.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) { hang(); return old() }
		return func() { d.GetComputeRunningProcessesFunc = old }
	}
	panic("hangCall: no call " + call)
}

// sampleStepping runs a.SampleOnce, steps clk by step once it waits on its
// timer and ready (if any) has returned (0: not at all), and returns its
// error; it fails the test when SampleOnce does not return within ten
// seconds of real time.
func sampleStepping(t *testing.T, a *Agent, clk *clocktesting.FakeClock, step time.Duration, ready func()) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- a.SampleOnce(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if step > 0 {
		for !clk.HasWaiters() {
			if ctx.Err() != nil {
				t.Fatal("SampleOnce never waited on its timer")
			}
			runtime.Gosched()
		}
		if ready != nil {
			ready()
		}
		clk.Step(step)
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		t.Fatal("SampleOnce did not return: the sample is not bounded")
		return nil
	}
}

// TestNotReadyUntilTheDriverLoads: at boot the agent may start before the
// driver has loaded. The sampler tries NVML again at every sample; the
// agent meanwhile answers /healthz and /v1/gpus with 503 saying NVML is not
// ready and why (cmd/spillway's TestAgentServesWhileNVMLIsNotReady runs
// the real command on a stand-in library), then serves the GPUs.
func TestNotReadyUntilTheDriverLoads(t *testing.T) {
	srv := simModels["dgxh100"]()
	inits := 0
	srv.InitFunc = func() nv.Return {
		inits++
		if inits < 4 { // at start and at two samples
			return nv.ERROR_DRIVER_NOT_LOADED
		}
		return nv.SUCCESS
	}
	for _, d := range srv.Devices {
		d := d.(*server.Device)
		d.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) { return nv.Utilization{}, nv.SUCCESS }
		d.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) { return nil, nv.SUCCESS }
	}
	s, err := StartSampler(srv, "n1")
	if err != nil {
		t.Fatalf("StartSampler with the driver not loaded: %v, want a sampler that tries again", err)
	}
	t.Cleanup(func() { s.Close() })
	a := NewAgent(s)
	hs := httptest.NewServer(a.Handler())
	t.Cleanup(hs.Close)
	for range 2 {
		if err := a.SampleOnce(context.Background()); !errors.Is(err, ErrNotReady) || !errors.Is(err, nv.ERROR_DRIVER_NOT_LOADED) {
			t.Fatalf("sample with the driver not loaded: %v, want ErrNotReady and NVML's error", err)
		}
		if code, body := healthz(t, hs.URL); code != http.StatusServiceUnavailable || !strings.Contains(body, "NVML not ready") {
			t.Errorf("/healthz while NVML is not ready = %d %q, want 503 saying so", code, body)
		}
		resp, err := http.Get(hs.URL + "/v1/gpus")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "NVML not ready") || !strings.Contains(string(b), `"node":"n1"`) {
			t.Errorf("/v1/gpus while NVML is not ready = %d %s, want 503 naming the node and saying NVML is not ready", resp.StatusCode, b)
		}
	}
	if err := a.SampleOnce(context.Background()); err != nil {
		t.Fatalf("sample once the driver loaded: %v", err)
	}
	if got := getGPUs(t, hs.URL); inits != 4 || len(got.GPUs) != 8 {
		t.Errorf("Init called %d times, %d GPUs served; want 4 and 8", inits, len(got.GPUs))
	}

	// A missing library is not waited for: calling NVML further would kill
	// the process.
	missing := nv.New(nv.WithLibraryPath("/nonexistent/" + LibraryName))
	if _, err := StartSampler(missing, "n1"); !errors.Is(err, ErrLibraryNotFound) {
		t.Errorf("StartSampler without the library: %v, want ErrLibraryNotFound at once", err)
	}
}

// TestCloseWaitsForAStuckSample: the agent stops (SIGTERM) while a GPU's
// reading is stuck inside NVML. Before, the command shut NVML down at once, under
// the call still in the driver. Agent.Close now shuts it down only once the
// call has returned, and, when it does not return in time, leaves NVML as
// it is for the process exit to release.
func TestCloseWaitsForAStuckSample(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	srv, a, _ := idleNode(t, WithAgentClock(clk), WithSampleTimeout(5*time.Second))
	d := srv.Devices[4].(*server.Device)
	procs := d.GetComputeRunningProcessesFunc
	entered, release := make(chan struct{}, 1), make(chan struct{})
	var inside atomic.Bool
	d.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) {
		inside.Store(true)
		defer inside.Store(false)
		entered <- struct{}{}
		<-release
		return procs()
	}
	var shutdowns, shutdownsInside atomic.Int32
	srv.ShutdownFunc = func() nv.Return {
		shutdowns.Add(1)
		if inside.Load() {
			shutdownsInside.Add(1)
		}
		return nv.SUCCESS
	}
	if err := sampleStepping(t, a, clk, 5*time.Second, func() { <-entered }); err != nil {
		t.Fatalf("sample with GPU 4's NVML call stuck: %v, want GPU 4 unknown, the others read", err)
	}
	if g, _ := a.Last(); len(g.GPUs) != 8 || !g.GPUs[4].Unknown || !strings.Contains(g.GPUs[4].Error, "has not returned") {
		t.Fatalf("GPU 4 stuck served as %+v, want unknown, its call not returned", g.GPUs)
	}

	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.Close(ended); !errors.Is(err, ErrSampleTimeout) {
		t.Errorf("Close while the sample is stuck, its time up: %v, want ErrSampleTimeout", err)
	}
	if n := shutdownsInside.Load(); n != 0 {
		t.Fatalf("NVML was shut down %d times while a call was inside it", n)
	}

	closed := make(chan error, 1)
	go func() { closed <- a.Close(context.Background()) }()
	close(release)
	ctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close once the call returned: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Close did not return once the stuck call did")
	}
	if n, in := shutdowns.Load(), shutdownsInside.Load(); n != 1 || in != 0 {
		t.Errorf("NVML shut down %d times, %d of them under a call; want once, after the call", n, in)
	}
	srv.ShutdownFunc = func() nv.Return { return nv.SUCCESS }
}

// TestBrokenMemoryIsUnhealthy: NVML reports a GPU's memory broken (a row
// remapping failed or pending, from Ampere on; pages pending retirement,
// before). Before, the agent did not ask: such a GPU idle was served idle,
// counted free on-prem and, on a burst instance, as capacity kept for
// reuse though it could take no job. It is now unhealthy, with why; its
// readings stay as read (a job still on it keeps it busy). A GPU whose
// NVML cannot tell (not supported, an error) is not called broken.
func TestBrokenMemoryIsUnhealthy(t *testing.T) {
	for _, tc := range []struct {
		name          string
		pending, fail bool
		remapRet      nv.Return
		pages         nv.EnableState
		pagesRet      nv.Return
		procs         int
		want          string // "" for healthy
	}{
		{"row remapping failed", false, true, nv.SUCCESS, nv.FEATURE_DISABLED, nv.ERROR_NOT_SUPPORTED, 0, "a row remapping failed: the GPU needs repair"},
		{"row remapping pending", true, false, nv.SUCCESS, nv.FEATURE_DISABLED, nv.ERROR_NOT_SUPPORTED, 0, "a row remapping is pending: the GPU needs a reset"},
		{"row remapping pending, a job on it", true, false, nv.SUCCESS, nv.FEATURE_DISABLED, nv.ERROR_NOT_SUPPORTED, 1, "a row remapping is pending"},
		{"pages pending retirement (before Ampere)", false, false, nv.ERROR_NOT_SUPPORTED, nv.FEATURE_ENABLED, nv.SUCCESS, 0, "retired pages pending: the GPU needs a reset"},
		{"no pages pending (before Ampere)", false, false, nv.ERROR_NOT_SUPPORTED, nv.FEATURE_DISABLED, nv.SUCCESS, 0, ""},
		{"neither supported", false, false, nv.ERROR_NOT_SUPPORTED, nv.FEATURE_DISABLED, nv.ERROR_NOT_SUPPORTED, 0, ""},
		{"remapping call fails", true, true, nv.ERROR_UNKNOWN, nv.FEATURE_ENABLED, nv.SUCCESS, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, a, hs := idleNode(t)
			d := srv.Devices[3].(*server.Device)
			d.GetRemappedRowsFunc = func() (int, int, bool, bool, nv.Return) { return 0, 1, tc.pending, tc.fail, tc.remapRet }
			d.GetRetiredPagesPendingStatusFunc = func() (nv.EnableState, nv.Return) { return tc.pages, tc.pagesRet }
			d.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) {
				return make([]nv.ProcessInfo, tc.procs), nv.SUCCESS
			}
			if err := a.SampleOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			g := getGPUs(t, hs.URL).GPUs[3]
			m := byUUID(t, getMetrics(t, hs.URL), MetricUnhealthy)[d.UUID].GetGauge().GetValue()
			code, body := healthz(t, hs.URL)
			if tc.want == "" {
				if g.Unhealthy || g.Health != "" || m != 0 || code != http.StatusOK {
					t.Errorf("GPU 3 served as %+v, %s %v, /healthz %d %q; want healthy", g, MetricUnhealthy, m, code, body)
				}
				return
			}
			if !g.Unhealthy || !strings.Contains(g.Health, tc.want) || !strings.Contains(g.Health, "GPU 3") || g.Unknown {
				t.Errorf("GPU 3 served as %+v; want unhealthy, known, saying %q", g, tc.want)
			}
			if busy := tc.procs > 0; g.Busy != busy || g.Processes != tc.procs {
				t.Errorf("GPU 3 with %d processes: busy %v, %d processes; want its readings as read", tc.procs, g.Busy, g.Processes)
			}
			if m != 1 {
				t.Errorf("%s for GPU 3 = %v, want 1", MetricUnhealthy, m)
			}
			if code != http.StatusServiceUnavailable || !strings.Contains(body, "GPU 3 unhealthy") || !strings.Contains(body, tc.want) {
				t.Errorf("/healthz = %d %q, want 503 naming GPU 3 and why", code, body)
			}
		})
	}
}

// TestProcessesOfEveryNamespaceCountBusy pins a decision: NVML lists the
// compute processes holding a context on the GPU from the driver, not from
// /proc. A process in a container is listed with its host PID (not in an
// agent's /proc when the agent runs in a container of its own), with the
// container's PID on some drivers, and with 0 bytes used (observed on
// driver 560 for a containerised process computing at 13%) or N/A
// (0xFFFFFFFFFFFFFFFF, without the rights to read it). Each is a job
// holding the GPU: filtering them by PID or memory would call a GPU idle
// under a running job, and drain its instance. A process that exits has
// its context torn down by the driver and leaves the list (a zombie holds
// none); one that holds a context and computes nothing is idle-allocated
// waste (spillway_gpu_idle_allocated), still busy: ending its job is the
// on-prem scheduler's call, not the agent's.
func TestProcessesOfEveryNamespaceCountBusy(t *testing.T) {
	for _, tc := range []struct {
		name string
		proc nv.ProcessInfo
	}{
		{"host PID outside the agent's namespace", nv.ProcessInfo{Pid: 4_000_000, UsedGpuMemory: 1 << 30}},
		{"PID 0", nv.ProcessInfo{Pid: 0, UsedGpuMemory: 1 << 30}},
		{"no memory reported", nv.ProcessInfo{Pid: 324, UsedGpuMemory: 0}},
		{"memory N/A", nv.ProcessInfo{Pid: 324, UsedGpuMemory: 1<<64 - 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, a, hs := idleNode(t)
			srv.Devices[6].(*server.Device).GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) {
				return []nv.ProcessInfo{tc.proc}, nv.SUCCESS
			}
			if err := a.SampleOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			if g := getGPUs(t, hs.URL).GPUs[6]; !g.Busy || g.Processes != 1 || !g.Allocated || g.Unknown {
				t.Errorf("GPU 6 with a process %+v served as %+v; want busy, allocated, 1 process", tc.proc, g)
			}
		})
	}
}

// TestResetRequiredOrLostGPUIsUnhealthy: a GPU whose NVML answers
// ERROR_RESET_REQUIRED (an Xid left it needing a reset), or
// ERROR_GPU_IS_LOST sample after sample (it fell off the bus), can take no
// job until it is reset or its node rebooted. Before, it was only unknown:
// busy, so the baseline never counted it free but a burst instance of
// such GPUs was kept busy for ever, and nothing said it needed a reset.
// It is now unhealthy, with the call, NVML's error and what it needs:
// a reset required at once; lost once it has answered so for LostAfter
// (until then it is unknown, as a GPU lost for a moment is). It is
// neither busy nor idle, and /metrics serves no reading of it.
func TestResetRequiredOrLostGPUIsUnhealthy(t *testing.T) {
	for _, tc := range []struct {
		name, call string
		ret        nv.Return
		after      time.Duration // how long it is unknown first
		want       string
	}{
		{"reset required, memory", "GetMemoryInfo", nv.ERROR_RESET_REQUIRED, 0, "the GPU needs a reset"},
		{"reset required, processes", "GetComputeRunningProcesses", nv.ERROR_RESET_REQUIRED, 0, "the GPU needs a reset"},
		{"lost, memory", "GetMemoryInfo", nv.ERROR_GPU_IS_LOST, LostAfter, "fell off the bus"},
		{"lost, utilisation", "GetUtilizationRates", nv.ERROR_GPU_IS_LOST, LostAfter, "fell off the bus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, a, hs := idleNode(t)
			d := srv.Devices[5].(*server.Device)
			injectFault(d, tc.call, tc.ret)
			var first time.Time
			var g signals.GPU
			for n := 0; ; n++ {
				if n > 200 {
					t.Fatalf("GPU 5 answering %v to %s still served as %+v after %d samples", tc.ret, tc.call, g, n)
				}
				if err := a.SampleOnce(context.Background()); err != nil {
					t.Fatal(err)
				}
				s := getGPUs(t, hs.URL)
				if first.IsZero() {
					first = s.Time
				}
				g = s.GPUs[5]
				if g.Unhealthy {
					if age := s.Time.Sub(first); age < tc.after {
						t.Fatalf("GPU 5 unhealthy %s after it first answered %v, want %s", age, tc.ret, tc.after)
					}
					break
				}
				if !g.Unknown || !g.Busy {
					t.Fatalf("GPU 5 answering %v, before it counts unhealthy, served as %+v; want unknown, busy", tc.ret, g)
				}
			}
			if g.Unknown || g.Busy || g.Idle || !strings.Contains(g.Health, tc.call) || !strings.Contains(g.Health, tc.ret.Error()) ||
				!strings.Contains(g.Health, "GPU 5") || !strings.Contains(g.Health, tc.want) {
				t.Errorf("GPU 5 served as %+v; want unhealthy, neither busy nor idle, saying GPU 5, %s, %v and %q", g, tc.call, tc.ret, tc.want)
			}
			mf := getMetrics(t, hs.URL)
			for name, want := range map[string]float64{MetricUnhealthy: 1, MetricUnknown: 0, MetricBusy: 0} {
				if m, ok := byUUID(t, mf, name)[d.UUID]; !ok || m.GetGauge().GetValue() != want {
					t.Errorf("%s for GPU 5 = %v, want %v", name, m, want)
				}
			}
			for _, name := range []string{MetricUtilization, MetricMemoryUsed, MetricProcesses} {
				if _, ok := byUUID(t, mf, name)[d.UUID]; ok {
					t.Errorf("%s has a series for GPU 5, which NVML did not read", name)
				}
			}
			if code, body := healthz(t, hs.URL); code != http.StatusServiceUnavailable || !strings.Contains(body, "GPU 5 unhealthy") || !strings.Contains(body, tc.want) {
				t.Errorf("/healthz = %d %q, want 503 naming GPU 5 unhealthy and %q", code, body, tc.want)
			}
		})
	}
}

// TestGPULostForAMomentStaysUnknown: ERROR_GPU_IS_LOST for less than
// LostAfter, then a good reading, then lost again: the GPU is unknown
// throughout (busy, its instance kept) and its count starts again from
// the second loss, so that brief losses never add up to unhealthy.
func TestGPULostForAMomentStaysUnknown(t *testing.T) {
	srv, a, hs := idleNode(t)
	d := srv.Devices[2].(*server.Device)
	lose := func(samples int) {
		t.Helper()
		restore := injectFault(d, "GetMemoryInfo", nv.ERROR_GPU_IS_LOST)
		defer restore()
		for range samples {
			if err := a.SampleOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			if g := getGPUs(t, hs.URL).GPUs[2]; !g.Unknown || g.Unhealthy {
				t.Fatalf("GPU 2 lost for less than %s served as %+v; want unknown, not unhealthy", LostAfter, g)
			}
		}
	}
	// The idle node's clock moves a second a sample.
	n := int(LostAfter/time.Second) - 5
	lose(n)
	if err := a.SampleOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if g := getGPUs(t, hs.URL).GPUs[2]; g.Unknown || g.Unhealthy || !g.Idle {
		t.Fatalf("GPU 2 read again served as %+v, want idle", g)
	}
	lose(n)
}

// TestProbesTellTheAgentFromItsGPUs: /healthz says how the node's GPUs
// are, and answers 503 for one GPU unknown or unhealthy. Used as a
// Kubernetes liveness probe it had the kubelet restart an agent whose GPU
// needed a reset, again and again: the restart mends no GPU, and the
// server lost the node's reading meanwhile. /livez answers 200 while the
// agent serves, whatever the GPUs; /readyz 200 while NVML answers (a live
// reading is served, with its unknown and unhealthy GPUs said as such),
// 503 before the first sample, while NVML is not ready and while samples
// fail. /healthz is as before.
func TestProbesTellTheAgentFromItsGPUs(t *testing.T) {
	gpu5 := func(ret nv.Return) func(*server.Server) {
		return func(srv *server.Server) { injectFault(srv.Devices[5].(*server.Device), "GetMemoryInfo", ret) }
	}
	countFails := func(srv *server.Server) {
		srv.DeviceGetCountFunc = func() (int, nv.Return) { return 0, nv.ERROR_UNKNOWN }
	}
	for _, tc := range []struct {
		name      string
		initFails bool
		// samples are taken in turn, each after its fault (nil: none).
		samples     []func(*server.Server)
		ready       int
		readySays   string
		healthz     int
		healthzSays string
	}{
		{"no sample yet", false, nil, http.StatusServiceUnavailable, "no sample yet", http.StatusServiceUnavailable, "no sample yet"},
		{"NVML not ready", true, []func(*server.Server){nil}, http.StatusServiceUnavailable, "NVML not ready", http.StatusServiceUnavailable, "NVML not ready"},
		{"sample failed", false, []func(*server.Server){nil, countFails}, http.StatusServiceUnavailable, "DeviceGetCount", http.StatusServiceUnavailable, "DeviceGetCount"},
		{"every GPU read", false, []func(*server.Server){nil}, http.StatusOK, "ok", http.StatusOK, "ok"},
		{"a GPU unknown", false, []func(*server.Server){gpu5(nv.ERROR_UNKNOWN)}, http.StatusOK, "ok", http.StatusServiceUnavailable, "GPU 5 unknown"},
		{"a GPU needs a reset", false, []func(*server.Server){gpu5(nv.ERROR_RESET_REQUIRED)}, http.StatusOK, "ok", http.StatusServiceUnavailable, "GPU 5 unhealthy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := simModels["dgxh100"]()
			for _, d := range srv.Devices {
				d := d.(*server.Device)
				d.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) { return nv.Utilization{}, nv.SUCCESS }
				d.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) { return nil, nv.SUCCESS }
			}
			if tc.initFails {
				srv.InitFunc = func() nv.Return { return nv.ERROR_DRIVER_NOT_LOADED }
			}
			s, err := StartSampler(srv, "n1")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			a := NewAgent(s)
			hs := httptest.NewServer(a.Handler())
			t.Cleanup(hs.Close)
			for _, fault := range tc.samples {
				if fault != nil {
					fault(srv)
				}
				a.SampleOnce(context.Background()) // a failure is what some cases serve
			}
			get := func(path string) (int, string) { return get(t, hs.URL+path) }
			for _, p := range []struct {
				path string
				code int
				says string
			}{
				{"/livez", http.StatusOK, "ok"},
				{"/readyz", tc.ready, tc.readySays},
				{"/healthz", tc.healthz, tc.healthzSays},
			} {
				if code, body := get(p.path); code != p.code || !strings.Contains(body, p.says) {
					t.Errorf("%s = %d %q, want %d saying %q", p.path, code, body, p.code, p.says)
				}
			}
		})
	}
}

// TestLostGPUIsFollowedByUUID: the time a GPU has answered
// ERROR_GPU_IS_LOST was kept by its index, but a GPU hot-removed (or
// fallen off the bus so far that NVML no longer counts it) gives the GPUs
// after it lower indexes. A GPU lost for minutes then took the next
// index down and was unknown (busy) for another LostAfter, its unhealthy
// reading forgotten, and a GPU that had just started answering lost under
// a lost GPU's old index took its time and was unhealthy, its instance
// drained, within seconds. The time now follows the GPU's UUID.
func TestLostGPUIsFollowedByUUID(t *testing.T) {
	const (
		unhealthy = "unhealthy"
		unknown   = "unknown"
		idle      = "idle"
	)
	// The idle node's clock moves a second a sample.
	perMinute := int(LostAfter / time.Second)
	for _, tc := range []struct {
		name       string
		lostBefore int            // GPU (of the eight) answering lost, before
		samples    int            // samples before NVML's GPUs change
		devices    []int          // the GPUs NVML then counts, in index order
		lostAfter  int            // GPU answering lost then
		after      int            // samples then
		want       map[int]string // after them
	}{
		{
			name: "a GPU before the lost one hot-removed", lostBefore: 5, samples: perMinute + 1,
			devices: []int{1, 2, 3, 4, 5, 6, 7}, lostAfter: 5, after: 3,
			want: map[int]string{5: unhealthy, 4: idle, 6: idle},
		},
		{
			name: "the lost GPU gone, the next one lost under its index", lostBefore: 5, samples: perMinute - 10,
			devices: []int{0, 1, 2, 3, 4, 6, 7}, lostAfter: 6, after: 20,
			want: map[int]string{6: unknown, 4: idle, 7: idle},
		},
		{
			name: "a GPU lost for less than LostAfter takes a lower index", lostBefore: 2, samples: perMinute - 10,
			devices: []int{1, 2, 3, 4, 5, 6, 7}, lostAfter: 2, after: 12,
			want: map[int]string{2: unhealthy, 3: idle, 7: idle},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, a, hs := idleNode(t)
			all := slices.Clone(srv.Devices)
			uuid := func(i int) string { return all[i].(*server.Device).UUID }
			restore := injectFault(all[tc.lostBefore].(*server.Device), "GetMemoryInfo", nv.ERROR_GPU_IS_LOST)
			for range tc.samples {
				if err := a.SampleOnce(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			restore()
			injectFault(all[tc.lostAfter].(*server.Device), "GetMemoryInfo", nv.ERROR_GPU_IS_LOST)
			srv.Devices = nil
			for _, i := range tc.devices {
				srv.Devices = append(srv.Devices, all[i])
			}
			for range tc.after {
				if err := a.SampleOnce(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			byUUID := map[string]signals.GPU{}
			for _, g := range getGPUs(t, hs.URL).GPUs {
				byUUID[g.UUID] = g
			}
			for i, want := range tc.want {
				g, ok := byUUID[uuid(i)]
				got := idle
				switch {
				case !ok:
					got = "missing"
				case g.Unhealthy:
					got = unhealthy
				case g.Unknown:
					got = unknown
				case !g.Idle:
					got = "busy"
				}
				if got != want {
					t.Errorf("%d samples after NVML counted the GPUs %v (of 0 to 7): GPU %d is %s (%+v); want %s", tc.after, tc.devices, i, got, g, want)
				}
			}
		})
	}
}

// TestStuckGPUWhileTheCountChanges: a GPU wedged (its calls hang in the
// driver) often falls off the bus, and NVML then counts one GPU fewer.
// Before, the count changing opened every GPU again, asking the wedged
// one its UUID: that call hung too, and the whole sample with it, every
// GPU of the node served unknown until the driver let go. The wedged GPU
// is now known by its handle and not called again, under whichever index
// NVML gives it; the others are read.
func TestStuckGPUWhileTheCountChanges(t *testing.T) {
	for _, tc := range []struct {
		name    string
		removed int // the GPU hot-removed meanwhile
		at      int // the wedged GPU 4's index then
	}{
		{"a GPU after it removed", 7, 4},
		{"a GPU before it removed", 0, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(t0)
			srv, a, hs := idleNode(t, WithAgentClock(clk), WithSampleTimeout(5*time.Second))
			if err := sampleStepping(t, a, clk, 0, nil); err != nil {
				t.Fatal(err)
			}
			w := wedgeGPU4(t, a, clk, srv)
			all := srv.Devices
			srv.Devices = slices.Delete(slices.Clone(srv.Devices), tc.removed, tc.removed+1)
			for i := range 2 {
				if err := sampleStepping(t, a, clk, 0, nil); err != nil {
					t.Fatalf("sample %d after GPU %d was removed, GPU 4 wedged: %v", i, tc.removed, err)
				}
				s := getGPUs(t, hs.URL)
				if len(s.GPUs) != 8 || s.Error != "" {
					t.Fatalf("sample %d: /v1/gpus lists %d GPUs, error %q; want 7 counted and the one removed", i, len(s.GPUs), s.Error)
				}
				if g := s.GPUs[7]; g.UUID != all[tc.removed].(*server.Device).UUID || !g.Unknown || !strings.Contains(g.Error, ErrNotCounted.Error()) {
					t.Errorf("sample %d: the GPU removed served as %+v; want unknown, not counted", i, g)
				}
				for j, g := range s.GPUs[:7] {
					want := srv.Devices[j].(*server.Device).UUID
					switch {
					case g.UUID != want:
						t.Errorf("sample %d: /v1/gpus[%d] is %s, NVML has %s there", i, j, g.UUID, want)
					case j == tc.at && (!g.Unknown || !strings.Contains(g.Error, "GetComputeRunningProcesses")):
						t.Errorf("sample %d: wedged GPU at %d served as %+v; want unknown, naming its call", i, j, g)
					case j != tc.at && (g.Unknown || !g.Idle):
						t.Errorf("sample %d: idle GPU at %d served as %+v", i, j, g)
					}
				}
			}
			w.release(t, a, clk, hs, tc.at)
		})
	}
}

// TestStuckGPUWhileTheCountDropsToZero: a GPU wedged (its calls hang in
// the driver) while NVML's count drops to 0 and comes back (every GPU
// off the bus for a moment, a driver answering 0 while it recovers).
// Before, the count of 0 forgot the wedged GPU's handle: counted again, it
// was opened again, its UUID asked, which hung, and the whole sample with
// it, every GPU of the node unknown until the driver let go. It is known
// by its handle again, not called until its call returns; the others
// are read.
func TestStuckGPUWhileTheCountDropsToZero(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	srv, a, hs := idleNode(t, WithAgentClock(clk), WithSampleTimeout(5*time.Second))
	if err := sampleStepping(t, a, clk, 0, nil); err != nil {
		t.Fatal(err)
	}
	w := wedgeGPU4(t, a, clk, srv)
	all := srv.Devices
	for i, devs := range [][]nv.Device{nil, all, all} {
		srv.Devices = devs
		if err := sampleStepping(t, a, clk, 0, nil); err != nil {
			t.Fatalf("sample %d (%d GPUs counted), GPU 4 wedged: %v", i, len(devs), err)
		}
		s := getGPUs(t, hs.URL)
		if len(s.GPUs) != 8 || s.Error != "" {
			t.Fatalf("sample %d: /v1/gpus lists %d GPUs, error %q; want 8", i, len(s.GPUs), s.Error)
		}
		for j, g := range s.GPUs {
			if devs == nil {
				if g.UUID != all[j].(*server.Device).UUID || !g.Unknown || !strings.Contains(g.Error, ErrNotCounted.Error()) {
					t.Errorf("sample %d: GPU %d served as %+v; want unknown, not counted", i, j, g)
				}
				continue
			}
			if j == 4 && (!g.Unknown || !strings.Contains(g.Error, "GetComputeRunningProcesses")) || j != 4 && (g.Unknown || !g.Idle) {
				t.Errorf("sample %d: GPU %d served as %+v; want GPU 4 unknown naming its call, the others idle", i, j, g)
			}
		}
	}
	w.release(t, a, clk, hs, 4)
}

// wedgedGPU is GPU 4 of an idleNode wedged in its driver: its reading
// stuck in GetComputeRunningProcesses since a sample, its UUID and name
// calls hanging too, every call counted, until release.
type wedgedGPU struct {
	d     *server.Device
	calls atomic.Int32
	let   func() // lets every hung call return
	undo  func() // its calls answer again without hanging
}

// wedgeGPU4 wedges GPU 4 of srv during a sample of a stepped 5 s on clk.
func wedgeGPU4(t *testing.T, a *Agent, clk *clocktesting.FakeClock, srv *server.Server) *wedgedGPU {
	t.Helper()
	w := &wedgedGPU{d: srv.Devices[4].(*server.Device)}
	entered, release := make(chan struct{}, 4), make(chan struct{})
	w.let = sync.OnceFunc(func() { close(release) })
	t.Cleanup(w.let) // a test failing lets the call return: Close waits for it
	hang := func() {
		w.calls.Add(1)
		entered <- struct{}{}
		<-release
	}
	restore := hangCall(w.d, "GetComputeRunningProcesses", hang)
	if err := sampleStepping(t, a, clk, 5*time.Second, func() {
		<-entered
		for a.sampler.inside.Load() > 1 {
			runtime.Gosched()
		}
	}); err != nil {
		t.Fatal(err)
	}
	uuid, name := w.d.GetUUIDFunc, w.d.GetNameFunc
	w.d.GetUUIDFunc = func() (string, nv.Return) { hang(); return uuid() }
	w.d.GetNameFunc = func() (string, nv.Return) { hang(); return name() }
	w.undo = func() { restore(); w.d.GetUUIDFunc, w.d.GetNameFunc = uuid, name }
	return w
}

// release checks the wedged GPU was called once, lets its call return,
// waits for it, samples, and checks the GPU, listed at index at, is read
// and idle.
func (w *wedgedGPU) release(t *testing.T, a *Agent, clk *clocktesting.FakeClock, hs *httptest.Server, at int) {
	t.Helper()
	if n := w.calls.Load(); n != 1 {
		t.Errorf("the wedged GPU was called %d times; want once", n)
	}
	w.undo()
	w.let()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sampleStepping(t, a, clk, 0, nil); err != nil {
		t.Fatal(err)
	}
	if g := getGPUs(t, hs.URL).GPUs[at]; g.Unknown || !g.Idle || g.UUID != w.d.UUID {
		t.Errorf("GPU 4 once its call returned: %+v, want read, idle", g)
	}
}

// TestDuplicateUUIDsAreToldApart: a driver or hypervisor answering one
// UUID for two GPUs (2 and 5). GPUs were followed by UUID alone: GPU 5
// lost for 10 s took the time GPU 2 had been lost since and was served
// unhealthy with it (its instance drained), and Run, keeping what it had
// said of a GPU by UUID, logged GPU 5 unknown and GPU 2 read again every
// sample. Two GPUs of one UUID are each followed by UUID and index.
func TestDuplicateUUIDsAreToldApart(t *testing.T) {
	dupe := func(srv *server.Server) {
		two, five := srv.Devices[2].(*server.Device), srv.Devices[5].(*server.Device)
		five.GetUUIDFunc = func() (string, nv.Return) { return two.UUID, nv.SUCCESS }
	}
	t.Run("lost time", func(t *testing.T) {
		srv, a, hs := idleNode(t) // a sample a second
		dupe(srv)
		injectFault(srv.Devices[2].(*server.Device), "GetMemoryInfo", nv.ERROR_GPU_IS_LOST)
		for n := 0; ; n++ {
			if n == 50 {
				injectFault(srv.Devices[5].(*server.Device), "GetMemoryInfo", nv.ERROR_GPU_IS_LOST)
			}
			if err := a.SampleOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			s := getGPUs(t, hs.URL)
			if s.GPUs[5].UUID != s.GPUs[2].UUID {
				t.Fatalf("GPU 5's UUID %s, want GPU 2's %s", s.GPUs[5].UUID, s.GPUs[2].UUID)
			}
			if g := s.GPUs[5]; g.Unhealthy {
				t.Fatalf("GPU 5, lost for %d s, served unhealthy: %+v; want unknown (it shares GPU 2's UUID, lost since the first sample)", n-49, g)
			}
			if s.GPUs[2].Unhealthy {
				break
			}
			if n > 100 {
				t.Fatal("GPU 2, lost, never unhealthy")
			}
		}
	})
	t.Run("log", func(t *testing.T) {
		var logs logBuffer
		n := newStuckNode(t, WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
		dupe(n.srv)
		injectFault(n.srv.Devices[5].(*server.Device), "GetMemoryInfo", nv.ERROR_UNKNOWN)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ran := make(chan error, 1)
		go func() { ran <- n.a.Run(ctx) }()
		n.sampled(t)
		for range 6 {
			n.clk.Step(10 * time.Second)
			n.sampled(t)
		}
		cancel()
		if err := <-ran; err != nil {
			t.Fatal(err)
		}
		if got := logs.gpuLines(t, 2); len(got) != 0 {
			t.Errorf("Run logged, of GPU 2 read every sample: %q; want nothing", got)
		}
		if got, want := logs.gpuLines(t, 5), []string{"WARN GPU unknown, counted busy; said again when that changes"}; !slices.Equal(got, want) {
			t.Errorf("Run logged, of GPU 5 unknown every sample: %q; want %q", got, want)
		}
	})
}

// TestSampleAfterCloseCallsNoNVML: a sample that waited for the sampler
// while it was closed (an agent's sample given up on while a hung Init
// held the sampler, run once Close had returned) opened the GPUs again
// and started a worker for each, which nothing stopped: 8 goroutines
// leaked a closed agent (seen by goleak after TestNodeListedTwiceCountsOnce)
// and NVML called after its Shutdown. It now fails with ErrClosed,
// calling nothing.
func TestSampleAfterCloseCallsNoNVML(t *testing.T) {
	srv := simModels["dgxh100"]()
	s, err := NewSampler(srv, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	count := srv.DeviceGetCountFunc
	srv.DeviceGetCountFunc = func() (int, nv.Return) { calls.Add(1); return count() }
	if _, err := s.Sample(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Sample after Close: %v, want ErrClosed", err)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("Sample after Close counted the GPUs %d times, want 0 (no NVML call)", n)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close again: %v, want nil", err)
	}
}
