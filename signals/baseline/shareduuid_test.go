package baseline

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/nvml"
	"github.com/spillway-io/spillway/signals/queue/prometheus/promtest"
)

// TestTwoGPUsReportingOneUUID: a real agent on a DGX A100 whose GPUs 2 and
// 3 report the same UUID (a driver, a hypervisor or a cloned VM that
// gives two GPUs one), one busy, the other idle. Both sources counted a
// GPU by its UUID, so the second was taken for the first read twice: 7
// GPUs for 8, a GPU of the node lost to the count (and rented for in the
// cloud), and through Prometheus the two GPUs' memory merged, so an idle
// one read allocated by the other's job. A GPU is now its UUID and its
// index: both are counted, each with its own reading, and each source
// warns once, naming the node and the UUID, as schedulers that allocate
// by UUID cannot tell the two apart.
func TestTwoGPUsReportingOneUUID(t *testing.T) {
	for _, tc := range []struct {
		name string
		busy int // the GPU, of 2 and 3, running a job
		held bool
	}{
		{"the first computes", 2, false},
		{"the second holds memory", 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node := dgxa100.New()
			for _, d := range node.Devices {
				d := d.(*server.Device)
				d.GetRemappedRowsFunc = func() (int, int, bool, bool, nv.Return) { return 0, 0, false, false, nv.SUCCESS }
				d.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) { return nv.Utilization{}, nv.SUCCESS }
				d.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) { return nil, nv.SUCCESS }
				d.GetMemoryInfoFunc = func() (nv.Memory, nv.Return) { return nv.Memory{Total: 40 << 30, Used: 1 << 20}, nv.SUCCESS }
			}
			uuid := node.Devices[2].(*server.Device).UUID
			node.Devices[3].(*server.Device).UUID = uuid
			busy := node.Devices[tc.busy].(*server.Device)
			if tc.held {
				busy.GetMemoryInfoFunc = func() (nv.Memory, nv.Return) { return nv.Memory{Total: 40 << 30, Used: 20 << 30}, nv.SUCCESS }
				busy.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) {
					return []nv.ProcessInfo{{Pid: 4242, UsedGpuMemory: 20 << 30}}, nv.SUCCESS
				}
			} else {
				busy.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) { return nv.Utilization{Gpu: 90}, nv.SUCCESS }
			}

			srv := servedAgent(t, node, t0)
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			agents, err := NewAgents(AgentsConfig{Name: "rack1", Targets: []string{hostPort(srv)}, Now: func() time.Time { return t0 }, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			prom := promtest.Start(t, promtest.Job{Name: "agents", Targets: []string{hostPort(srv)}})
			prom.WaitFor(t, AgentMemoryUsedQuery, promtest.NonEmpty(8))
			src, err := NewPrometheus(PrometheusConfig{Name: "site", URL: prom.URL, UtilQuery: AgentUtilQuery, MemoryUsedQuery: AgentMemoryUsedQuery, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			pool := policy.Pool{Name: "a100", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}, StaleAfter: policy.Duration(time.Minute)}
			for _, s := range []signals.BaselineSource{agents, src} {
				var b signals.Baseline
				for range 2 { // warned once
					if b, err = s.Baseline(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
				snap := signals.Assemble(pool, t0, &signals.BaselineReading{Source: s.Name(), Baseline: b}, nil)
				if len(b.GPUs) != 8 || snap.OnPremGPUs != 8 || snap.OnPremFreeGPUs != 7 {
					t.Errorf("%s: %d GPUs read, on-prem %d, %d free; want 8, 8, 7 free (GPU %d busy, the other of its UUID free)", s.Name(), len(b.GPUs), snap.OnPremGPUs, snap.OnPremFreeGPUs, tc.busy)
				}
				for _, g := range b.GPUs {
					if g.Index == 2 || g.Index == 3 {
						if want := g.Index == tc.busy; g.Busy != want || g.Allocated != (want && tc.held) {
							t.Errorf("%s: GPU %d read as %+v; want busy %v, allocated %v", s.Name(), g.Index, g, want, want && tc.held)
						}
					}
				}
				warned := 0
				for _, line := range strings.Split(logs.String(), "\n") {
					if strings.Contains(line, "two GPUs report the same UUID") && strings.Contains(line, "source="+s.Name()) {
						warned++
						if !strings.Contains(line, "uuid="+uuid) || !strings.Contains(line, "node=gpu-01") {
							t.Errorf("%s warned %q; want the UUID %s and node gpu-01 named", s.Name(), line, uuid)
						}
					}
				}
				if warned != 1 {
					t.Errorf("%s warned %d times over two reads that two GPUs report %s; want once:\n%s", s.Name(), warned, uuid, logs.String())
				}
			}
		})
	}
}

// TestClonedUUIDsOnTwoNodes: two machines (cloned VMs whose hypervisor
// gave both the same GPU UUIDs), each with GPUs 0-3 busy and 4-7 idle,
// and an 8-GPU job pending. Before, the source took each GPU of the
// second for the first's, served by two targets: 8 GPUs counted for 16,
// half the on-prem capacity lost to the count. The same UUID and index on
// two nodes is two GPUs: 16 counted, none free for the job. So it is of
// two machines of one node name (one hostname cloned too), told apart by
// the machine their agents serve (nvml.WithMachine, the kernel's boot id
// hashed): before, 8 of 16. One agent listed by two targets still counts
// once.
func TestClonedUUIDsOnTwoNodes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		nodes    []string // each an agent's node name
		machines []string // each agent's machine
		twice    bool     // each agent listed by two targets
		gpus     int
	}{
		{"two names", []string{"gpu-01", "gpu-02"}, []string{"", ""}, false, 16},
		{"one name, two machines", []string{"gpu-01", "gpu-01"}, []string{"m-a", "m-b"}, false, 16},
		{"one machine listed twice", []string{"gpu-01"}, []string{"m-a"}, true, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var targets []string
			for i, name := range tc.nodes {
				h := clonedAgent(t, name, tc.machines[i])
				for range 1 + btoi(tc.twice) {
					srv := httptest.NewServer(h)
					t.Cleanup(srv.Close)
					targets = append(targets, hostPort(srv))
				}
			}
			src, err := NewAgents(AgentsConfig{Name: "rack1", Targets: targets, Now: func() time.Time { return t0 }})
			if err != nil {
				t.Fatal(err)
			}
			defer src.CloseIdleConnections()
			base, err := src.Baseline(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			pool := policy.Pool{Name: "a100", OnPrem: policy.OnPrem{Nodes: len(tc.nodes), GPUsPerNode: 8}, StaleAfter: policy.Duration(time.Minute)}
			job := signals.DemandReading{Source: "slurm", Demand: signals.Demand{Time: t0, PendingJobs: 1, PendingGPUs: 8, PendingGPUsKnown: true, JobGPUs: []int{8}}}
			snap := signals.Assemble(pool, t0, &signals.BaselineReading{Source: src.Name(), Baseline: base}, []signals.DemandReading{job})
			if snap.OnPremGPUs != tc.gpus || snap.OnPremBusyGPUs != tc.gpus/2 || snap.OnPremFreeGPUs != 0 {
				t.Errorf("%d GPUs, 4 of 8 busy each: %d GPUs, %d busy, %d free for an 8-GPU job; want %d, %d, 0", tc.gpus, snap.OnPremGPUs, snap.OnPremBusyGPUs, snap.OnPremFreeGPUs, tc.gpus, tc.gpus/2)
			}
		})
	}
}

// clonedAgent is the handler of a real agent of node name on machine, on
// a DGX A100 mock whose GPUs report the UUIDs every clonedAgent's do,
// 0-3 busy, sampled at t0.
func clonedAgent(t *testing.T, name, machine string) http.Handler {
	t.Helper()
	node := dgxa100.New()
	for i, d := range node.Devices {
		d := d.(*server.Device)
		nvml.IdleMock(d)
		d.UUID = fmt.Sprintf("GPU-00000000-0000-0000-0000-00000000000%d", i)
		if i < 4 {
			d.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) { return nv.Utilization{Gpu: 90}, nv.SUCCESS }
		}
	}
	s, err := nvml.NewSampler(node, name, nvml.WithClock(func() time.Time { return t0 }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a := nvml.NewAgent(s, nvml.WithMachine(machine))
	if err := a.SampleOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	return a.Handler()
}

// btoi is 1 for true.
func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
