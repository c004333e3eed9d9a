package baseline

import (
	"context"
	"testing"
	"time"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

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
