package nvml

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	clocktesting "k8s.io/utils/clock/testing"
)

// TestFirstSampleStuckBecomesUnhealthy: the agent's very first sample
// stuck counting the GPUs (DeviceGetCount hung in the driver at start).
// Before, /healthz answered 503 and /v1/gpus 503 with the error, but no
// GPU was ever served, so none became unhealthy, and /metrics said
// nothing at all: a node whose driver wedged at boot was never reported
// unhealthy. The GPUs opened at start are now served unknown, then
// unhealthy once the sample has been stuck for LostAfter, and /metrics
// names the call and since when (spillway_agent_sample_stuck_since_…).
func TestFirstSampleStuckBecomesUnhealthy(t *testing.T) {
	n := newStuckNode(t)
	entered, release := make(chan struct{}, 1), make(chan struct{})
	let := sync.OnceFunc(func() { close(release) })
	t.Cleanup(let) // a test failing lets the call return: Close waits for it
	count := n.srv.DeviceGetCountFunc
	n.srv.DeviceGetCountFunc = func() (int, nv.Return) { entered <- struct{}{}; <-release; return count() }
	since := n.clk.Now()
	first := true
	for n.clk.Now().Sub(since) <= LostAfter+10*time.Second {
		err := sampleStepping(t, n.a, n.clk, 5*time.Second, func() {
			if first {
				<-entered
			}
		})
		first = false
		stuckFor := n.clk.Now().Sub(since)
		wedged := stuckFor >= LostAfter
		var se *StuckCallError
		if !errors.As(err, &se) || se.Call != "DeviceGetCount" || !se.Since.Equal(since) || se.Wedged != wedged {
			t.Fatalf("first sample %s into a stuck DeviceGetCount: %v; want a StuckCallError naming it, since %s, wedged %v", stuckFor, err, since, wedged)
		}
		want := "DeviceGetCount has not returned since " + since.Format(time.RFC3339)
		s := getGPUs(t, n.hs.URL)
		if len(s.GPUs) != 8 || !strings.Contains(s.Error, want) {
			t.Fatalf("/v1/gpus %s into a stuck first sample: %d GPUs, error %q; want the 8 opened at start, naming the call and since when", stuckFor, len(s.GPUs), s.Error)
		}
		for _, g := range s.GPUs {
			if wedged && (!g.Unhealthy || g.Busy || g.Idle || !strings.Contains(g.Health, "reboot")) || !wedged && (!g.Unknown || !g.Busy) {
				t.Fatalf("GPU %d %s into a stuck first sample: %+v; want unhealthy %v, else unknown, busy", g.Index, stuckFor, g, wedged)
			}
		}
		mf := getMetrics(t, n.hs.URL)
		name := MetricUnknown
		if wedged {
			name = MetricUnhealthy
		}
		if got := byUUID(t, mf, name); len(got) != 8 || got[s.GPUs[3].UUID].GetGauge().GetValue() != 1 {
			t.Errorf("%s %s into a stuck first sample: %d series, GPU 3's %v; want 8, 1", name, stuckFor, len(got), got[s.GPUs[3].UUID])
		}
		if f := mf[MetricStuckSince]; len(f.GetMetric()) != 1 || f.GetMetric()[0].GetGauge().GetValue() != float64(since.Unix()) || labelOf(f.GetMetric()[0], labelCall) != "DeviceGetCount" {
			t.Errorf("%s %s into a stuck first sample = %v; want one series, call DeviceGetCount, %d", MetricStuckSince, stuckFor, f, since.Unix())
		}
		code, body := healthz(t, n.hs.URL)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, want) || strings.Contains(body, "GPU 7 unhealthy (DeviceGetCount TIMEOUT)") != wedged {
			t.Errorf("/healthz %s into a stuck first sample = %d %q; want 503 naming the call, since when, and each GPU unhealthy when %v", stuckFor, code, body, wedged)
		}
		n.clk.Step(5 * time.Second)
	}
	n.srv.DeviceGetCountFunc = count
	let()
	n.recovered(t)
	if _, ok := getMetrics(t, n.hs.URL)[MetricStuckSince]; ok {
		t.Errorf("%s served once no sample is stuck", MetricStuckSince)
	}
}

// TestStuckAtStartStillServes: NVML's Init, DeviceGetCount or
// DeviceGetHandleByIndex hung in the driver inside StartSampler, before
// the agent listens. Before, StartSampler never returned, so the agent
// never served (not /livez, not /healthz): a node whose driver wedged at
// boot looked like one that is down. StartSampler now returns after its
// start timeout while the opening goes on; the first sample waits for it
// and fails saying which call is stuck and since when (the start), in
// /healthz, /v1/gpus and /metrics, wedged once stuck for LostAfter; once
// the call returns, the GPUs are served.
func TestStuckAtStartStillServes(t *testing.T) {
	for _, call := range []string{"Init", "DeviceGetCount", "DeviceGetHandleByIndex"} {
		t.Run(call, func(t *testing.T) {
			srv, clk := idleMock(), clocktesting.NewFakeClock(t0)
			entered, release := make(chan struct{}, 1), make(chan struct{})
			let := sync.OnceFunc(func() { close(release) })
			defer let() // a test failing lets the call return, before Close waits for it
			hang := func() { entered <- struct{}{}; <-release }
			hangAtStart(srv, call, sync.OnceFunc(hang))
			started := make(chan *Sampler, 1)
			go func() {
				s, err := StartSampler(srv, "n1", WithClock(clk.Now), WithStartTimeout(time.Millisecond))
				if err != nil {
					t.Errorf("StartSampler with %s stuck: %v", call, err)
				}
				started <- s
			}()
			<-entered
			var s *Sampler
			select {
			case s = <-started:
			case <-time.After(10 * time.Second):
				t.Fatalf("StartSampler did not return with %s stuck: the agent never serves", call)
			}
			if s == nil {
				return
			}
			t.Cleanup(func() { s.Close() })
			a := NewAgent(s, WithAgentClock(clk), WithSampleTimeout(5*time.Second))
			hs := httptest.NewServer(a.Handler())
			t.Cleanup(hs.Close)
			clk.Step(time.Second) // the first sample begins after the opening: stuck since the start all the same
			for _, step := range []time.Duration{5 * time.Second, LostAfter} {
				err := sampleStepping(t, a, clk, step, nil)
				wedged := clk.Since(t0) >= LostAfter
				var se *StuckCallError
				if !errors.As(err, &se) || se.Call != call || !se.Since.Equal(t0) || se.Wedged != wedged {
					t.Fatalf("sample %s into a stuck %s at start: %v; want a StuckCallError naming it, since %s, wedged %v", clk.Since(t0), call, err, t0, wedged)
				}
				want := call + " has not returned since " + t0.Format(time.RFC3339)
				if code, body := get(t, hs.URL+"/livez"); code != http.StatusOK {
					t.Errorf("/livez with %s stuck at start = %d %q, want 200", call, code, body)
				}
				for _, path := range []string{"/healthz", "/readyz", "/v1/gpus"} {
					if code, body := get(t, hs.URL+path); code != http.StatusServiceUnavailable || !strings.Contains(body, want) || strings.Contains(body, "reboot") != wedged {
						t.Errorf("%s %s into a stuck %s at start = %d %q; want 503 saying %q, a reboot when wedged (%v)", path, clk.Since(t0), call, code, body, want, wedged)
					}
				}
				// With no GPU opened to mark unhealthy, /v1/gpus says the
				// driver is wedged, and since when, for the server to count.
				if _, body := get(t, hs.URL+"/v1/gpus"); strings.Contains(body, `"wedged_since":"`+t0.Format(time.RFC3339)+`"`) != wedged {
					t.Errorf("/v1/gpus %s into a stuck %s at start = %q; want wedged_since %s when wedged (%v)", clk.Since(t0), call, body, t0.Format(time.RFC3339), wedged)
				}
				if f := getMetrics(t, hs.URL)[MetricStuckSince]; len(f.GetMetric()) != 1 || labelOf(f.GetMetric()[0], labelCall) != call {
					t.Errorf("%s with %s stuck at start = %v; want one series naming it", MetricStuckSince, call, f)
				}
			}
			let()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := a.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			if err := a.SampleOnce(context.Background()); err != nil {
				t.Fatalf("sample once the stuck %s returned: %v", call, err)
			}
			if code, body := healthz(t, hs.URL); code != http.StatusOK || s.GPUCount() != 8 {
				t.Errorf("once the stuck %s returned: /healthz %d %q, %d GPUs counted; want 200, 8", call, code, body, s.GPUCount())
			}
		})
	}
}

// hangAtStart makes srv's call (Init, DeviceGetCount or
// DeviceGetHandleByIndex) run hang first.
func hangAtStart(srv *server.Server, call string, hang func()) {
	switch call {
	case "Init":
		old := srv.InitFunc
		srv.InitFunc = func() nv.Return { hang(); return old() }
	case "DeviceGetCount":
		old := srv.DeviceGetCountFunc
		srv.DeviceGetCountFunc = func() (int, nv.Return) { hang(); return old() }
	case "DeviceGetHandleByIndex":
		old := srv.DeviceGetHandleByIndexFunc
		srv.DeviceGetHandleByIndexFunc = func(i int) (nv.Device, nv.Return) { hang(); return old(i) }
	default:
		panic("hangAtStart: no call " + call)
	}
}

// get answers a GET of url: its status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
