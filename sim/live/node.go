package live

import (
	"fmt"
	"net"
	"net/http"
	"time"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxb200"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh200"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/spillway-io/spillway/signals/nvml"
)

// mockModels are the go-nvml DGX mock servers a node can be.
var mockModels = map[string]func() *server.Server{
	"dgxa100": dgxa100.New, "dgxh100": dgxh100.New, "dgxh200": dgxh200.New, "dgxb200": dgxb200.New,
}

// node is one GPU node of the cluster and its simulated agent. Its fields
// are guarded by the model's mutex; the agent's NVML calls take it too.
type node struct {
	name     string
	instance string // the burst instance's id; "" on-prem
	slots    []*job // per GPU, the job holding it
	draining bool
	ln       net.Listener
	srv      *http.Server
	sampler  *nvml.Sampler
}

// newNode builds a node of the given model whose agent will serve on addr.
func (m *Model) newNode(name, instance, model, addr string) (*node, error) {
	mk, ok := mockModels[model]
	if !ok {
		return nil, fmt.Errorf("node model %q: want one of %v", model, nvml.SimulatedModels())
	}
	mock := mk()
	n := &node{name: name, instance: instance, slots: make([]*job, len(mock.Devices))}
	for i, d := range mock.Devices {
		nvml.HealthyMock(d.(*server.Device))
		m.wire(n, i, d.(*server.Device))
	}
	s, err := nvml.NewSampler(mock, name, nvml.WithClock(m.opts.Clock.Now))
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", name, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("node %s: agent listener: %w", name, err)
	}
	agent := nvml.NewAgent(s)
	h := agent.Handler()
	// Sample on each request, as an agent sampling every second would
	// look from a server that polls every few (simulated) seconds.
	sampled := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = agent.SampleOnce(r.Context())
		h.ServeHTTP(w, r)
	})
	n.ln, n.sampler = ln, s
	n.srv = &http.Server{Handler: sampled, ReadHeaderTimeout: 5 * time.Second}
	return n, nil
}

// wire makes GPU i of the mock report what the model placed on it: a job
// holds one compute process at 60–99% utilisation; a free GPU idles.
func (m *Model) wire(n *node, i int, d *server.Device) {
	total := d.MemoryInfo.Total
	busy := func() (bool, int) {
		m.mu.Lock()
		defer m.mu.Unlock()
		if j := n.slots[i]; j != nil {
			return true, j.id
		}
		return false, 0
	}
	d.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) {
		if ok, id := busy(); ok {
			u := uint32(60 + (id*7+i*13)%40)
			return nv.Utilization{Gpu: u, Memory: u / 2}, nv.SUCCESS
		}
		return nv.Utilization{}, nv.SUCCESS
	}
	d.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) {
		if ok, id := busy(); ok {
			return []nv.ProcessInfo{{Pid: uint32(10000 + id%50000), UsedGpuMemory: total / 2}}, nv.SUCCESS
		}
		return nil, nv.SUCCESS
	}
	d.GetMemoryInfoFunc = func() (nv.Memory, nv.Return) {
		used := uint64(0)
		if ok, _ := busy(); ok {
			used = total / 2
		}
		return nv.Memory{Total: total, Used: used, Free: total - used}, nv.SUCCESS
	}
}

func (n *node) free() int {
	f := 0
	for _, j := range n.slots {
		if j == nil {
			f++
		}
	}
	return f
}

// take gives j its GPUs on n; the caller checked that they are free.
func (n *node) take(j *job) {
	need := j.gpus
	for i := range n.slots {
		if need > 0 && n.slots[i] == nil {
			n.slots[i] = j
			need--
		}
	}
	j.node = n
}

func (n *node) release(j *job) {
	for i, s := range n.slots {
		if s == j {
			n.slots[i] = nil
		}
	}
}

// jobs lists the jobs running on n, once each.
func (n *node) jobs() []*job {
	var out []*job
	seen := map[*job]bool{}
	for _, j := range n.slots {
		if j != nil && !seen[j] {
			seen[j] = true
			out = append(out, j)
		}
	}
	return out
}

// close stops the agent's server and releases the mock NVML.
func (n *node) close() {
	if n.srv != nil {
		_ = n.srv.Close()
	}
	if n.ln != nil {
		_ = n.ln.Close()
	}
	if n.sampler != nil {
		_ = n.sampler.Close()
	}
}
