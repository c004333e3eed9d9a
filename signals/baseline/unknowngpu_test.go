package baseline

import (
	"context"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/nvml"
	"github.com/spillway-io/spillway/signals/queue/prometheus/promtest"
)

// TestUnknownGPUCountsBusy: a real agent whose GPU 6 fell off the bus
// while the node's GPUs idle. The baseline reads its seven other GPUs as
// they are and GPU 6 as unknown and busy: never counted free on-prem (where
// the policy would keep a job waiting for a GPU that cannot take it), never
// idle-allocated waste.
func TestUnknownGPUCountsBusy(t *testing.T) {
	mock := dgxh100.New()
	for i, d := range mock.Devices {
		d := d.(*server.Device)
		nvml.HealthyMock(d)
		d.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) { return nv.Utilization{}, nv.SUCCESS }
		d.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) {
			if i == 6 {
				return nil, nv.ERROR_GPU_IS_LOST
			}
			return nil, nv.SUCCESS
		}
	}
	_, b := agentBaseline(t, mock, t0)
	if len(b.Unknown) != 0 || len(b.GPUs) != 8 {
		t.Fatalf("baseline: %d GPUs, unknown nodes %v; want the node's 8 GPUs", len(b.GPUs), b.Unknown)
	}
	free := 0
	for _, g := range b.GPUs {
		if !g.Busy {
			free++
		}
		if g.Index == 6 && (!g.Unknown || !g.Busy || g.Idle) {
			t.Errorf("GPU 6 (lost) read as %+v, want unknown, busy, not idle", g)
		}
	}
	if free != 7 {
		t.Errorf("%d GPUs free, want the 7 readable idle ones", free)
	}
}

// TestUnhealthyGPUIsNotFree: a real agent whose GPU 2 has a row remapping
// pending (its memory broken; it needs a reset) while the node's GPUs
// idle. Before, that GPU counted free on-prem: the policy saw room for a
// job no GPU could take, and held the burst while the job waited. It now
// counts busy, never free.
func TestUnhealthyGPUIsNotFree(t *testing.T) {
	mock := dgxh100.New()
	for i, d := range mock.Devices {
		d := d.(*server.Device)
		nvml.HealthyMock(d)
		if i == 2 {
			d.GetRemappedRowsFunc = func() (int, int, bool, bool, nv.Return) { return 0, 1, true, false, nv.SUCCESS }
		}
		d.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) { return nv.Utilization{}, nv.SUCCESS }
		d.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) { return nil, nv.SUCCESS }
	}
	src, b := agentBaseline(t, mock, t0)
	pool := policy.Pool{Name: "a100", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}, StaleAfter: policy.Duration(time.Minute)}
	snap := signals.Assemble(pool, t0, &signals.BaselineReading{Source: src.Name(), Baseline: b}, nil)
	if snap.OnPremGPUs != 8 || snap.OnPremFreeGPUs != 7 || snap.OnPremBusyGPUs != 1 {
		t.Errorf("on-prem %d GPUs, %d free, %d busy; want 8, 7 free (GPU 2 unhealthy is not), 1 busy", snap.OnPremGPUs, snap.OnPremFreeGPUs, snap.OnPremBusyGPUs)
	}
}

// servedAgent serves a real agent of node gpu-01 on mock, one sample
// taken at t0.
func servedAgent(t *testing.T, mock nv.Interface, t0 time.Time) *httptest.Server {
	t.Helper()
	s, err := nvml.NewSampler(mock, "gpu-01", nvml.WithClock(func() time.Time { return t0 }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a := nvml.NewAgent(s)
	if err := a.SampleOnce(context.Background()); err != nil {
		t.Fatalf("the node's sample: %v", err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// agentBaseline serves a real agent on mock (one sample taken at t0) and
// reads it through the agents source: the source and its baseline.
func agentBaseline(t *testing.T, mock nv.Interface, t0 time.Time) (*Agents, signals.Baseline) {
	t.Helper()
	srv := servedAgent(t, mock, t0)
	src, err := NewAgents(AgentsConfig{Name: "rack1", Targets: []string{hostPort(srv)}, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	b, err := src.Baseline(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return src, b
}

// TestUnhealthyOnPremGPUsAreCounted: a real agent on an on-prem node whose
// GPU 2 has a row remapping pending and GPU 5 needs a reset, read by the
// agents source. Before, the server's metrics counted them only among the
// busy on-prem GPUs (spillway_pool_onprem_busy_gpus), where they looked
// like work: nothing told an operator that two GPUs needed a reset unless
// each node's agent was scraped. The pool's
// spillway_pool_onprem_unhealthy_gpus now counts them.
func TestUnhealthyOnPremGPUsAreCounted(t *testing.T) {
	mock := twoUnhealthyIdle()
	src, b := agentBaseline(t, mock, t0)
	pool := policy.Pool{Name: "a100", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}, StaleAfter: policy.Duration(time.Minute)}
	snap := signals.Assemble(pool, t0, &signals.BaselineReading{Source: src.Name(), Baseline: b}, nil)
	reg := prometheus.NewRegistry()
	signals.NewPoolMetrics(reg).Observe(pool.Name, snap)
	want := map[string]float64{"spillway_pool_onprem_unhealthy_gpus": 2, "spillway_pool_onprem_busy_gpus": 2, "spillway_pool_onprem_free_gpus": 6}
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == pool.Name {
				got[mf.GetName()] = m.GetGauge().GetValue()
			}
		}
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			t.Errorf("%s{pool=%q} = %v (served: %v), want %v", name, pool.Name, g, ok, w)
		}
	}
}

// TestUnhealthyGPUsThroughPrometheus: the node of
// TestUnhealthyOnPremGPUsAreCounted (GPU 2 with a row remapping pending,
// GPU 5 needing a reset, all idle), its agent scraped by a real Prometheus
// and read through the prometheus source. Before, the source read only
// utilisation and memory: both GPUs counted free on-prem, where the policy
// would keep jobs waiting for GPUs that take none. They are now unhealthy,
// as through the agents source: never free, and counted.
func TestUnhealthyGPUsThroughPrometheus(t *testing.T) {
	srv := servedAgent(t, twoUnhealthyIdle(), t0)
	prom := promtest.Start(t, promtest.Job{Name: "agents", Targets: []string{hostPort(srv)}})
	prom.WaitFor(t, "spillway_gpu_unhealthy == 1", promtest.NonEmpty(2))
	prom.WaitFor(t, AgentUtilQuery, promtest.NonEmpty(1))

	pool := policy.Pool{Name: "h100", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}, StaleAfter: policy.Duration(time.Minute)}
	for _, tc := range []struct {
		name string
		cfg  PrometheusConfig
	}{
		{"utilisation", PrometheusConfig{UtilQuery: AgentUtilQuery}},
		{"utilisation and memory", PrometheusConfig{UtilQuery: AgentUtilQuery, MemoryUsedQuery: AgentMemoryUsedQuery}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Name, cfg.URL = "site", prom.URL
			src, err := NewPrometheus(cfg)
			if err != nil {
				t.Fatal(err)
			}
			b, err := src.Baseline(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var bad []int
			for _, g := range b.GPUs {
				if g.Unhealthy {
					bad = append(bad, g.Index)
				}
			}
			if len(b.GPUs) != 8 || !slices.Equal(bad, []int{2, 5}) {
				t.Errorf("%d GPUs, unhealthy %v; want 8, GPUs 2 and 5 unhealthy", len(b.GPUs), bad)
			}
			snap := signals.Assemble(pool, t0, &signals.BaselineReading{Source: src.Name(), Baseline: b}, nil)
			if snap.OnPremGPUs != 8 || snap.OnPremFreeGPUs != 6 || snap.OnPremUnhealthyGPUs != 2 {
				t.Errorf("on-prem %d GPUs, %d free, %d unhealthy; want 8, 6 free, 2 unhealthy (GPUs 2 and 5 take no job)", snap.OnPremGPUs, snap.OnPremFreeGPUs, snap.OnPremUnhealthyGPUs)
			}
		})
	}
}

// twoUnhealthyIdle is a DGX H100 node of idle GPUs, GPU 2 with a row
// remapping pending and GPU 5 needing a reset.
func twoUnhealthyIdle() *server.Server {
	mock := dgxh100.New()
	for i, d := range mock.Devices {
		d := d.(*server.Device)
		nvml.IdleMock(d)
		switch i {
		case 2:
			d.GetRemappedRowsFunc = func() (int, int, bool, bool, nv.Return) { return 0, 1, true, false, nv.SUCCESS }
		case 5:
			d.GetMemoryInfoFunc = func() (nv.Memory, nv.Return) { return nv.Memory{}, nv.ERROR_RESET_REQUIRED }
		}
	}
	return mock
}
