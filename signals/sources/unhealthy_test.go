package sources

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/nvml"
	"github.com/spillway-io/spillway/signals/queue/prometheus/promtest"
)

// TestUnhealthyQueryNarrowedToThePool: a real Prometheus scrapes the
// agents of two pools, told apart by their scrape job: pool a's gpu-a1
// (GPU 2 with a row remapping pending, GPU 5 needing a reset, all idle)
// and gpu-a2, all of whose GPUs fell off the bus (its agent serves only
// spillway_gpu_unhealthy of them), and pool b's gpu-b1, all lost too.
// Before, the baseline had no unhealthy_query: it read every pool's
// spillway_gpu_unhealthy, and to leave out pool b's GPUs it counted only
// those on nodes util_query lists, so gpu-a2 was in no reading: neither
// capacity nor unhealthy, and nothing said so. With unhealthy_query
// narrowed to the pool, gpu-a2's 8 GPUs are the pool's, unhealthy; left
// out, the reading is as before (gpu-b1 another pool's) and the source
// warns that a node of the pool all of whose GPUs are lost is not seen.
func TestUnhealthyQueryNarrowedToThePool(t *testing.T) {
	a1 := servedNode(t, "gpu-a1", twoUnhealthyIdle())
	a2 := servedNode(t, "gpu-a2", allLost())
	b1 := servedNode(t, "gpu-b1", allLost())
	prom := promtest.Start(t, promtest.Job{Name: "a", Targets: []string{a1, a2}}, promtest.Job{Name: "b", Targets: []string{b1}})
	prom.WaitFor(t, "spillway_gpu_unhealthy == 1", promtest.NonEmpty(18))
	prom.WaitFor(t, `spillway_gpu_utilization_ratio{job="a"}`, promtest.NonEmpty(7))

	pool := policy.Pool{Name: "a", OnPrem: policy.OnPrem{Nodes: 2, GPUsPerNode: 8}, StaleAfter: policy.Duration(time.Minute)}
	for _, tc := range []struct {
		name, unhealthyQuery string
		gpus, unhealthy      int
		warned               bool
		err                  string // the read fails so
	}{
		{"unhealthy_query narrowed", `spillway_gpu_unhealthy{job="a"}`, 16, 10, false, ""},
		{"unhealthy_query left out", "", 8, 2, true, ""},
		// Not 0 or 1: a code or a count read as a verdict.
		{"a value other than 0 or 1", `spillway_gpu_unhealthy{job="a"} * 79`, 0, 0, false, "79 is not 0 (healthy) or 1 (unhealthy)"},
		// Aggregated: the series names no GPU.
		{"no GPU labels", `max(spillway_gpu_unhealthy{job="a"})`, 0, 0, false, `lacks the "Hostname" or "UUID" label`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log strings.Builder
			s, err := Build(Spec{Pool: pool, Baseline: &Baseline{Prometheus: &PrometheusBaseline{
				URL: prom.URL, UtilQuery: `spillway_gpu_utilization_ratio{job="a"} * 100`, UnhealthyQuery: tc.unhealthyQuery,
			}}}, WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			b, err := s.Baseline.Baseline(context.Background())
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), strconv.Quote(tc.unhealthyQuery)) {
					t.Errorf("read: %v; want it failed naming the query and saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			snap := signals.Assemble(pool, b.Time, &signals.BaselineReading{Source: s.Baseline.Name(), Baseline: b}, nil)
			if snap.OnPremGPUs != tc.gpus || snap.OnPremUnhealthyGPUs != tc.unhealthy || snap.OnPremFreeGPUs != 6 {
				t.Errorf("on-prem %d GPUs, %d unhealthy, %d free; want %d, %d unhealthy, 6 free", snap.OnPremGPUs, snap.OnPremUnhealthyGPUs, snap.OnPremFreeGPUs, tc.gpus, tc.unhealthy)
			}
			for _, g := range b.GPUs {
				if g.Node == "gpu-b1" {
					t.Errorf("GPU %s of pool b's gpu-b1 read in pool a", g.UUID)
				}
			}
			if warned := strings.Contains(log.String(), "set unhealthy_query"); warned != tc.warned {
				t.Errorf("warned to set unhealthy_query: %v, want %v; log:\n%s", warned, tc.warned, log.String())
			}
		})
	}
}

// servedNode serves a real agent of node on mock and returns its
// host:port. Its samples are taken nvml.LostAfter apart, so that GPUs
// lost in both are unhealthy.
func servedNode(t *testing.T, node string, mock nv.Interface) string {
	t.Helper()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s, err := nvml.NewSampler(mock, node, nvml.WithClock(func() time.Time { return at }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a := nvml.NewAgent(s)
	for range 2 {
		if err := a.SampleOnce(context.Background()); err != nil {
			t.Fatalf("%s's sample: %v", node, err)
		}
		at = at.Add(nvml.LostAfter)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// idleMock is a DGX H100 of idle, healthy GPUs.
func idleMock() *server.Server {
	mock := dgxh100.New()
	for _, d := range mock.Devices {
		d := d.(*server.Device)
		nvml.IdleMock(d)
	}
	return mock
}

// twoUnhealthyIdle is an idle DGX H100 whose GPU 2 has a row remapping
// pending and GPU 5 needs a reset.
func twoUnhealthyIdle() *server.Server {
	mock := idleMock()
	mock.Devices[2].(*server.Device).GetRemappedRowsFunc = func() (int, int, bool, bool, nv.Return) { return 0, 1, true, false, nv.SUCCESS }
	mock.Devices[5].(*server.Device).GetMemoryInfoFunc = func() (nv.Memory, nv.Return) { return nv.Memory{}, nv.ERROR_RESET_REQUIRED }
	return mock
}

// allLost is a DGX H100 all of whose GPUs fell off the bus.
func allLost() *server.Server {
	mock := idleMock()
	for _, d := range mock.Devices {
		d.(*server.Device).GetMemoryInfoFunc = func() (nv.Memory, nv.Return) { return nv.Memory{}, nv.ERROR_GPU_IS_LOST }
	}
	return mock
}
