package baseline

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/queue/prometheus/promtest"
)

// TestAgentMIGMemoryPerGPUInstance: a real agent on a DGX A100 whose
// GPU 2 is split by MIG into two GPU instances: instance 1 runs a job
// holding 20 GiB, through two compute instances (two MIG devices, each
// reporting its GPU instance's memory), instance 2 is empty; the GPU
// whole reports its instances' 20 GiB. Before, the agent served that GPU
// one spillway_gpu_memory_used_bytes series, without GPU_I_ID, and no
// utilisation (NVML reports none in MIG mode): read through Prometheus
// with memory_used_query, the GPU was in neither query as a MIG GPU and
// was left out of the baseline (7 GPUs for 8). The agent now serves one
// series per GPU instance, each its own memory, counted once however many
// compute instances share it, and none for the GPU whole (which would
// count the bytes twice in a sum by UUID): the baseline reads the GPU,
// busy by its instance's job, and 20 GiB used, through Prometheus and
// through the agents source alike.
func TestAgentMIGMemoryPerGPUInstance(t *testing.T) {
	const job = 20 << 30
	node := dgxa100.New()
	const used = job
	for _, d := range node.Devices {
		d := d.(*server.Device)
		d.GetRemappedRowsFunc = func() (int, int, bool, bool, nv.Return) { return 0, 0, false, false, nv.SUCCESS }
		d.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) { return nv.Utilization{}, nv.SUCCESS }
		d.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) { return nil, nv.SUCCESS }
	}
	split := node.Devices[2].(*server.Device)
	if ret, _ := split.SetMigMode(nv.DEVICE_MIG_ENABLE); ret != nv.SUCCESS {
		t.Fatalf("SetMigMode: %v", ret)
	}
	split.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) { return nv.Utilization{}, nv.ERROR_NOT_SUPPORTED }
	split.GetMemoryInfoFunc = func() (nv.Memory, nv.Return) { return nv.Memory{Total: 40 << 30, Used: used}, nv.SUCCESS }
	split.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) {
		return []nv.ProcessInfo{{Pid: 4242, UsedGpuMemory: used}}, nv.SUCCESS
	}
	migDevice := func(gi int) *mock.Device {
		return &mock.Device{
			GetGpuInstanceIdFunc: func() (int, nv.Return) { return gi, nv.SUCCESS },
			GetMemoryInfoFunc: func() (nv.Memory, nv.Return) {
				if gi == 1 {
					return nv.Memory{Total: 20 << 30, Used: used}, nv.SUCCESS
				}
				return nv.Memory{Total: 20 << 30}, nv.SUCCESS
			},
		}
	}
	migs := []nv.Device{migDevice(1), migDevice(1), migDevice(2)} // instance 1: two compute instances
	split.GetMaxMigDeviceCountFunc = func() (int, nv.Return) { return 7, nv.SUCCESS }
	split.GetMigDeviceHandleByIndexFunc = func(i int) (nv.Device, nv.Return) {
		if i < len(migs) {
			return migs[i], nv.SUCCESS
		}
		return nil, nv.ERROR_NOT_FOUND
	}

	srv := servedAgent(t, node, t0)
	agents, err := NewAgents(AgentsConfig{Name: "rack1", Targets: []string{hostPort(srv)}, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	ab, err := agents.Baseline(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	prom := promtest.Start(t, promtest.Job{Name: "agents", Targets: []string{hostPort(srv)}})
	prom.WaitFor(t, AgentMemoryUsedQuery, promtest.NonEmpty(8))
	src, err := NewPrometheus(PrometheusConfig{Name: "site", URL: prom.URL, UtilQuery: AgentUtilQuery, MemoryUsedQuery: AgentMemoryUsedQuery})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := src.Baseline(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []struct {
		name string
		b    signals.Baseline
	}{{"agents", ab}, {"prometheus", pb}} {
		if len(b.b.GPUs) != 8 {
			t.Errorf("%s source: %d GPUs, want 8 (the MIG GPU among them)", b.name, len(b.b.GPUs))
			continue
		}
		g := b.b.GPUs[2]
		if g.UUID != split.UUID || !g.Busy || g.Idle || g.MemoryUsed != job {
			t.Errorf("%s source: the MIG GPU read as %+v; want %s busy, not idle, %d bytes used (its instance's job, counted once)", b.name, g, split.UUID, uint64(job))
		}
	}
}

// TestMIGGPUWithoutGPUInstances: a real agent on a DGX A100 whose GPU 2
// has MIG enabled and no GPU instance (as a MIG node comes back from a
// reboot or a GPU reset: MIG mode persists, GPU instances do not), the
// other seven idle. No job can run on that GPU: none has it whole while
// MIG is on, and it has no instance to run in. Before, the agent served it
// its whole-GPU memory series (no GPU_I_ID) and no utilisation: through
// Prometheus it was in neither query as a MIG GPU and was left out (7 GPUs
// for 8), and through the agents source it was neither busy nor
// unhealthy, so it counted free (8 free for 7 usable): jobs were held for
// a GPU that takes none. The agent now serves it unhealthy, saying why
// and what to do (its /healthz too), as dcgm-exporter serves such a GPU:
// whole, without GPU_I_ID; both sources count it, never free.
func TestMIGGPUWithoutGPUInstances(t *testing.T) {
	node := dgxa100.New()
	for _, d := range node.Devices {
		d := d.(*server.Device)
		d.GetRemappedRowsFunc = func() (int, int, bool, bool, nv.Return) { return 0, 0, false, false, nv.SUCCESS }
		d.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) { return nv.Utilization{}, nv.SUCCESS }
		d.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) { return nil, nv.SUCCESS }
	}
	split := node.Devices[2].(*server.Device)
	if ret, _ := split.SetMigMode(nv.DEVICE_MIG_ENABLE); ret != nv.SUCCESS {
		t.Fatalf("SetMigMode: %v", ret)
	}
	split.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) { return nv.Utilization{}, nv.ERROR_NOT_SUPPORTED }
	split.GetMaxMigDeviceCountFunc = func() (int, nv.Return) { return 7, nv.SUCCESS }
	split.GetMigDeviceHandleByIndexFunc = func(int) (nv.Device, nv.Return) { return nil, nv.ERROR_NOT_FOUND }

	srv := servedAgent(t, node, t0)
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	health, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(health), "GPU 2 unhealthy") || !strings.Contains(string(health), "no GPU instance") {
		t.Errorf("/healthz = %d %q; want 503 naming GPU 2 and that it has no GPU instance", resp.StatusCode, health)
	}
	agents, err := NewAgents(AgentsConfig{Name: "rack1", Targets: []string{hostPort(srv)}, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	ab, err := agents.Baseline(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	prom := promtest.Start(t, promtest.Job{Name: "agents", Targets: []string{hostPort(srv)}})
	prom.WaitFor(t, AgentMemoryUsedQuery, promtest.NonEmpty(8))
	src, err := NewPrometheus(PrometheusConfig{Name: "site", URL: prom.URL, UtilQuery: AgentUtilQuery, MemoryUsedQuery: AgentMemoryUsedQuery})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := src.Baseline(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pool := policy.Pool{Name: "a100", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}, StaleAfter: policy.Duration(time.Minute)}
	for _, b := range []struct {
		name string
		b    signals.Baseline
	}{{"agents", ab}, {"prometheus", pb}} {
		i := slices.IndexFunc(b.b.GPUs, func(g signals.GPU) bool { return g.UUID == split.UUID })
		if len(b.b.GPUs) != 8 || i < 0 {
			t.Errorf("%s source: %d GPUs, the MIG GPU among them: %v; want 8, the MIG GPU among them", b.name, len(b.b.GPUs), i >= 0)
			continue
		}
		if g := b.b.GPUs[i]; !g.Unhealthy || g.Idle {
			t.Errorf("%s source: the MIG GPU without GPU instances read as %+v; want unhealthy, not idle", b.name, g)
		}
		snap := signals.Assemble(pool, t0, &signals.BaselineReading{Source: b.name, Baseline: b.b}, nil)
		if snap.OnPremGPUs != 8 || snap.OnPremFreeGPUs != 7 || snap.OnPremUnhealthyGPUs != 1 {
			t.Errorf("%s source: on-prem %d GPUs, %d free, %d unhealthy; want 8, 7 free, 1 unhealthy (the MIG GPU takes no job)", b.name, snap.OnPremGPUs, snap.OnPremFreeGPUs, snap.OnPremUnhealthyGPUs)
		}
	}
}
