package baseline

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	"github.com/prometheus/common/model"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/nvml"
	"github.com/spillway-io/spillway/signals/queue/prometheus/promtest"
)

// TestHostileNVMLAnswers: a real agent on a DGX H100 mock of idle GPUs,
// whose NVML turns hostile after a first good sample: a call answering an
// error (ERROR_GPU_IS_LOST, ERROR_UNKNOWN), a value out of range
// (utilisation above 100%, memory used above total, a million compute
// processes), a UUID or name that is not UTF-8, a go-nvml panic (its
// slicing of a count the driver answered past its buffer), a GPU count
// past any node's. Each agent is scraped by one real Prometheus and read
// by the agents source. The agent must not panic, must serve every GPU in
// one scrape (a label that is not UTF-8 failed the whole /metrics: every
// GPU of the node was gone from Prometheus; a panic ended the agent; a
// million processes were served as a reading), must say what it could not
// read (the GPU unknown, its error naming the call), and the baseline
// must count no garbage: the GPU busy, never free, the others as read.
func TestHostileNVMLAnswers(t *testing.T) {
	type hostile func(n *server.Server, d *server.Device)
	tests := []struct {
		name    string
		atStart bool // hostile from the first sample (what NVML gives when a GPU is opened)
		hostile hostile
		unknown int    // GPUs unknown: the hostile one, or all (8) when the sample failed
		want    string // in the hostile GPU's error (its model, when it stays known)
	}{
		{"GPU lost, utilisation", false, func(_ *server.Server, d *server.Device) {
			d.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) { return nv.Utilization{}, nv.ERROR_GPU_IS_LOST }
		}, 1, "GetUtilizationRates: " + nv.ERROR_GPU_IS_LOST.Error()},
		{"unknown error, memory", false, func(_ *server.Server, d *server.Device) {
			d.GetMemoryInfoFunc = func() (nv.Memory, nv.Return) { return nv.Memory{}, nv.ERROR_UNKNOWN }
		}, 1, "GetMemoryInfo: " + nv.ERROR_UNKNOWN.Error()},
		{"GPU lost, processes", false, func(_ *server.Server, d *server.Device) {
			d.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) { return nil, nv.ERROR_GPU_IS_LOST }
		}, 1, "GetComputeRunningProcesses: " + nv.ERROR_GPU_IS_LOST.Error()},
		{"utilisation 250%", false, func(_ *server.Server, d *server.Device) {
			d.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) { return nv.Utilization{Gpu: 250}, nv.SUCCESS }
		}, 1, "250%, want 0 to 100"},
		{"memory used above total", false, func(_ *server.Server, d *server.Device) {
			d.GetMemoryInfoFunc = func() (nv.Memory, nv.Return) { return nv.Memory{Total: 80 << 30, Used: 90 << 30}, nv.SUCCESS }
		}, 1, "bytes used of"},
		{"a million processes", false, func(_ *server.Server, d *server.Device) {
			d.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) { return make([]nv.ProcessInfo, 1<<20), nv.SUCCESS }
		}, 1, "GetComputeRunningProcesses: 1048576 processes, want 0 to 4096"},
		{"processes panic in go-nvml", false, func(_ *server.Server, d *server.Device) {
			d.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) {
				var infos []nv.ProcessInfo
				n := 9 // the count the driver answered, past the buffer
				return infos[:n:n], nv.SUCCESS
			}
		}, 1, "panicked"},
		{"UUID not UTF-8", true, func(_ *server.Server, d *server.Device) {
			d.UUID = "GPU-\xfe\xff"
		}, 1, `GetUUID: "GPU-\xfe\xff" is not a GPU UUID`},
		{"name not UTF-8", true, func(_ *server.Server, d *server.Device) {
			d.GetNameFunc = func() (string, nv.Return) { return "NVIDIA \xff H100", nv.SUCCESS }
		}, 0, "NVIDIA \uFFFD H100"},
		{"GPU count past any node's", false, func(n *server.Server, _ *server.Device) {
			n.DeviceGetCountFunc = func() (int, nv.Return) { return 1 << 20, nv.SUCCESS }
		}, 8, "1048576 GPUs, want 0 to 256"},
	}
	cases := tests
	servers := make([]*httptest.Server, len(cases))
	targets := make([]string, len(cases))
	for i, tc := range cases {
		node := dgxh100.New()
		for _, d := range node.Devices {
			d := d.(*server.Device)
			nvml.IdleMock(d)
		}
		d := node.Devices[3].(*server.Device)
		if tc.atStart {
			tc.hostile(node, d)
		}
		s, err := nvml.NewSampler(node, fmt.Sprintf("gpu-%02d", i), nvml.WithClock(func() time.Time { return t0 }))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		t.Cleanup(func() { s.Close() })
		a := nvml.NewAgent(s)
		if err := a.SampleOnce(context.Background()); err != nil && tc.unknown < 8 {
			t.Fatalf("%s: the first sample: %v", tc.name, err)
		}
		if !tc.atStart {
			tc.hostile(node, d)
			if err := a.SampleOnce(context.Background()); err != nil && tc.unknown < 8 {
				t.Fatalf("%s: a sample with one GPU hostile failed as a whole: %v", tc.name, err)
			}
		}
		servers[i] = httptest.NewServer(a.Handler())
		t.Cleanup(servers[i].Close)
		targets[i] = hostPort(servers[i])
	}
	prom := promtest.Start(t, promtest.Job{Name: "agents", Targets: targets})
	prom.WaitFor(t, "up", promtest.NonEmpty(len(targets)))
	scraped := map[string]float64{} // each agent's spillway_gpu_busy series, by instance, when its scrape succeeded
	for _, s := range prom.WaitFor(t, "count by (instance) (spillway_gpu_busy) and on (instance) up == 1", func(model.Value) bool { return true }).(model.Vector) {
		scraped[string(s.Metric["instance"])] = float64(s.Value)
	}
	pool := policy.Pool{Name: "h100", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}, StaleAfter: policy.Duration(time.Minute)}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if n := scraped[targets[i]]; n != 8 {
				t.Errorf("Prometheus scraped %v GPUs of the agent (0: its /metrics failed); want all 8 in one scrape", n)
			}
			src, err := NewAgents(AgentsConfig{Name: "rack1", Targets: []string{targets[i]}, Now: func() time.Time { return t0 }})
			if err != nil {
				t.Fatal(err)
			}
			b, err := src.Baseline(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			unknown := 0
			for _, g := range b.GPUs {
				if !g.Unknown {
					continue
				}
				unknown++
				if !g.Busy || g.Idle || !strings.Contains(g.Error, tc.want) {
					t.Errorf("GPU %d read as %+v; want unknown, busy, not idle, its error saying %q", g.Index, g, tc.want)
				}
			}
			if len(b.GPUs) != 8 || unknown != tc.unknown {
				t.Fatalf("%d GPUs, %d unknown; want 8, %d unknown", len(b.GPUs), unknown, tc.unknown)
			}
			if g := b.GPUs[3]; tc.unknown == 0 && (g.Unknown || !g.Idle || !strings.Contains(g.Model, tc.want)) {
				t.Errorf("GPU 3 read as %+v; want it read, idle, its model %q", g, tc.want)
			}
			snap := signals.Assemble(pool, t0, &signals.BaselineReading{Source: src.Name(), Baseline: b}, nil)
			if snap.OnPremGPUs != 8 || snap.OnPremFreeGPUs != 8-tc.unknown {
				t.Errorf("on-prem %d GPUs, %d free; want 8, %d free (an unknown GPU is never free)", snap.OnPremGPUs, snap.OnPremFreeGPUs, 8-tc.unknown)
			}
		})
	}
}
