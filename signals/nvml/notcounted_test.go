package nvml

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/spillway-io/spillway/signals"
)

// TestGPUsNoLongerCounted: a GPU that falls off the bus so far that the
// driver loses it leaves NVML's count. Before, it simply disappeared from
// /v1/gpus and /metrics, /healthz said ok, and a driver that lost every
// GPU (a count of 0) served an empty, healthy node: a burst node whose
// GPUs were gone looked idle and could be kept or chosen. A GPU counted
// before and counted no longer is now served unknown (busy), named by its
// UUID, and unhealthy once it has been lost or not counted in every
// sample for LostAfter, including by turns (the driver finding it again,
// lost, then losing it), which before reset its time each turn.
func TestGPUsNoLongerCounted(t *testing.T) {
	const gone = 3
	for _, tc := range []struct {
		name string
		// devices returns the GPUs NVML counts at fault sample i (of
		// all), after faulting any; missing says which are not counted.
		devices func(all []nv.Device, i int) []nv.Device
		missing []int
	}{
		{"one GPU off the bus", func(all []nv.Device, _ int) []nv.Device {
			return slices.Delete(slices.Clone(all), gone, gone+1)
		}, []int{gone}},
		{"every GPU gone, a count of 0", func([]nv.Device, int) []nv.Device { return nil }, []int{0, 1, 2, 3, 4, 5, 6, 7}},
		{"lost and not counted by turns", func(all []nv.Device, i int) []nv.Device {
			injectFault(all[gone].(*server.Device), "GetMemoryInfo", nv.ERROR_GPU_IS_LOST)
			if i%2 == 0 {
				return all
			}
			return slices.Delete(slices.Clone(all), gone, gone+1)
		}, []int{gone}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, a, hs := idleNode(t)
			all := slices.Clone(srv.Devices)
			if err := a.SampleOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			// The idle node's clock moves a second a sample: the GPUs
			// are missing from the first fault sample, LostAfter
			// before the last.
			samples := int(LostAfter/time.Second) + 1
			for i := range samples {
				srv.Devices = tc.devices(all, i)
				if err := a.SampleOnce(context.Background()); err != nil {
					t.Fatal(err)
				}
				wedged := i == samples-1
				if i != 0 && !wedged && i != samples-2 {
					continue
				}
				s := getGPUs(t, hs.URL)
				if len(s.GPUs) != 8 {
					t.Fatalf("fault sample %d: /v1/gpus lists %d GPUs, want 8 (those not counted too): %+v", i, len(s.GPUs), s.GPUs)
				}
				code, body := healthz(t, hs.URL)
				mf := getMetrics(t, hs.URL)
				for _, m := range tc.missing {
					uuid := all[m].(*server.Device).UUID
					k := slices.IndexFunc(s.GPUs, func(g signals.GPU) bool { return g.UUID == uuid })
					if k < 0 {
						t.Fatalf("fault sample %d: GPU %d (%s) not served", i, m, uuid)
					}
					g := s.GPUs[k]
					if wedged && (!g.Unhealthy || g.Busy || g.Idle || !strings.Contains(g.Health, uuid)) || !wedged && (g.Unhealthy || !g.Unknown || !g.Busy || g.Idle) {
						t.Errorf("fault sample %d: GPU %d = %+v; want unhealthy %v (neither busy nor idle), else unknown, busy", i, m, g, wedged)
					}
					if i%2 == 0 && tc.name == "lost and not counted by turns" {
						continue // counted, lost: said by its index
					}
					if !strings.Contains(body, uuid) || !strings.Contains(body, "DeviceGetCount NOT_COUNTED") {
						t.Errorf("fault sample %d: /healthz = %d %q; want it naming %s not counted", i, code, body, uuid)
					}
					name := MetricUnknown
					if wedged {
						name = MetricUnhealthy
					}
					if m := byUUID(t, mf, name)[uuid]; m.GetGauge().GetValue() != 1 {
						t.Errorf("fault sample %d: %s of %s = %v, want 1", i, name, uuid, m)
					}
				}
				if code != http.StatusServiceUnavailable {
					t.Errorf("fault sample %d: /healthz = %d %q, want 503", i, code, body)
				}
			}
			srv.Devices = all
			for _, d := range all {
				d.(*server.Device).GetMemoryInfoFunc = func() (nv.Memory, nv.Return) { return nv.Memory{Total: 80 << 30, Used: 1 << 20}, nv.SUCCESS }
			}
			if err := a.SampleOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			if code, body := healthz(t, hs.URL); code != http.StatusOK || len(getGPUs(t, hs.URL).GPUs) != 8 {
				t.Errorf("every GPU counted again: /healthz = %d %q, want 200 and 8 GPUs", code, body)
			}
		})
	}
}

// TestNoGPUCountedIsNotHealthy: the agent runs on a GPU node, so a driver
// counting none from the start is no healthy node: /healthz said ok.
func TestNoGPUCountedIsNotHealthy(t *testing.T) {
	srv := idleMock()
	srv.Devices = nil
	s, err := NewSampler(srv, "n1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a := NewAgent(s)
	if err := a.SampleOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(a.Handler())
	t.Cleanup(hs.Close)
	if code, body := healthz(t, hs.URL); code != http.StatusServiceUnavailable || !strings.Contains(body, "counts no GPU") {
		t.Errorf("/healthz with no GPU counted = %d %q, want 503 saying NVML counts none", code, body)
	}
}
