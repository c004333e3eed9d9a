package baseline

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/nvml"
)

// TestTwoNodesOfOneName: two machines' agents both report node gpu-01
// (a cloned image's hostname, the --node default), each with GPUs 0-3
// running jobs and 4-7 free, and one 8-GPU job pending. Before, the
// agents source counted both machines' GPUs under one node, whose 8 free
// GPUs took the job: the engine waited for on-prem, which has no machine
// with 8 free, and never burst for it. Each machine is now a node of its
// own (the later "gpu-01 (target)"), so no on-prem node fits the job, and
// the source warns once, naming the name and both targets.
func TestTwoNodesOfOneName(t *testing.T) {
	halfBusy := func(uuidPrefix string) *server.Server {
		node := dgxh100.New()
		for i, d := range node.Devices {
			d := d.(*server.Device)
			nvml.HealthyMock(d)
			d.UUID = fmt.Sprintf("GPU-%s-%d", uuidPrefix, i)
			util := uint32(0)
			if i < 4 {
				util = 90
			}
			d.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) { return nv.Utilization{Gpu: util}, nv.SUCCESS }
			d.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) { return nil, nv.SUCCESS }
		}
		return node
	}
	a, b := servedAgent(t, halfBusy("a"), t0), servedAgent(t, halfBusy("b"), t0)
	var logs strings.Builder
	src, err := NewAgents(AgentsConfig{Name: "rack1", Targets: []string{hostPort(a), hostPort(b)}, Now: func() time.Time { return t0 },
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	pool := policy.Pool{Name: "h100", OnPrem: policy.OnPrem{Nodes: 2, GPUsPerNode: 8}, StaleAfter: policy.Duration(time.Minute)}
	job := signals.DemandReading{Source: "slurm", Demand: signals.Demand{Time: t0, PendingJobs: 1, PendingGPUs: 8, PendingGPUsKnown: true, JobGPUs: []int{8}}}
	for range 2 {
		base, err := src.Baseline(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		snap := signals.Assemble(pool, t0, &signals.BaselineReading{Source: src.Name(), Baseline: base}, []signals.DemandReading{job})
		if snap.OnPremGPUs != 16 || snap.OnPremBusyGPUs != 8 || snap.OnPremFreeGPUs != 0 {
			t.Errorf("two machines named gpu-01, 4 of 8 GPUs free each, an 8-GPU job pending: %d GPUs, %d busy, %d free; want 16, 8, 0 free for the job (it fits on neither)",
				snap.OnPremGPUs, snap.OnPremBusyGPUs, snap.OnPremFreeGPUs)
		}
	}
	if n := strings.Count(logs.String(), "two agents report the same node name"); n != 1 || !strings.Contains(logs.String(), hostPort(b)) {
		t.Errorf("log %q: want one warning naming the second target", logs.String())
	}
}
