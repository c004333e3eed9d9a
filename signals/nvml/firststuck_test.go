package nvml

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
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
	if _, ok := getMetrics(t, n.hs.URL)[MetricStuckSince]; ok {
		t.Errorf("%s served once no sample is stuck", MetricStuckSince)
	}
}
