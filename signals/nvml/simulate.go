package nvml

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxb200"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh200"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
)

// simModels are the go-nvml DGX mock servers a node can simulate.
var simModels = map[string]func() *server.Server{
	"dgxa100": func() *server.Server { return healthy(dgxa100.New()) },
	"dgxh100": func() *server.Server { return healthy(dgxh100.New()) },
	"dgxh200": func() *server.Server { return healthy(dgxh200.New()) },
	"dgxb200": func() *server.Server { return healthy(dgxb200.New()) },
}

// healthy makes srv's GPUs answer NVML's memory health calls, which the
// mocks leave unset: no row remapping pending or failed.
func healthy(srv *server.Server) *server.Server {
	for _, d := range srv.Devices {
		HealthyMock(d.(*server.Device))
	}
	return srv
}

// HealthyMock makes a go-nvml mock device answer the memory health calls
// the sampler makes (GetRemappedRows, GetRetiredPagesPendingStatus), which
// the mocks leave unset (a call would panic): no remapping pending or
// failed, no page pending retirement.
func HealthyMock(d *server.Device) {
	d.GetRemappedRowsFunc = func() (int, int, bool, bool, nv.Return) { return 0, 0, false, false, nv.SUCCESS }
	d.GetRetiredPagesPendingStatusFunc = func() (nv.EnableState, nv.Return) { return nv.FEATURE_DISABLED, nv.ERROR_NOT_SUPPORTED }
}

// IdleMock makes a go-nvml mock device healthy (HealthyMock) and idle:
// no utilisation and no compute process, as tests of a node that runs
// nothing want it.
func IdleMock(d *server.Device) {
	HealthyMock(d)
	d.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) { return nv.Utilization{}, nv.SUCCESS }
	d.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) { return nil, nv.SUCCESS }
}

// SimulatedModels lists the names --simulate accepts.
func SimulatedModels() []string {
	n := make([]string, 0, len(simModels))
	for k := range simModels {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// DefaultIdleAllocated is the default share of a simulated node's allocated
// GPUs that hold a job but compute nothing (the waste real clusters show).
const DefaultIdleAllocated = 0.125

// SimulatedNode is a go-nvml mock DGX node whose load follows a Series: at
// each trace step the node's first round(busy × GPUs) GPUs run one compute
// process each, the others are free. Of the allocated GPUs, a deterministic
// share (IdleAllocated) sits at 0–4% utilisation; the rest run at 60–99%.
type SimulatedNode struct {
	server *server.Server
	series *Series
	start  time.Time
	speed  float64
	now    func() time.Time
	idle   float64
}

// SimOption configures a SimulatedNode.
type SimOption func(*SimulatedNode)

// WithSimClock sets the clock the replay follows (time.Now otherwise).
func WithSimClock(now func() time.Time) SimOption { return func(n *SimulatedNode) { n.now = now } }

// WithReplaySpeed sets how many trace seconds pass per real second (1
// otherwise; 60 plays one trace minute per second).
func WithReplaySpeed(speed float64) SimOption { return func(n *SimulatedNode) { n.speed = speed } }

// WithIdleAllocated sets the share of allocated GPUs that sit idle, in [0, 1].
func WithIdleAllocated(f float64) SimOption { return func(n *SimulatedNode) { n.idle = f } }

// NewSimulatedNode builds a mock node of the given model ("dgxh100", see
// SimulatedModels) replaying series from the clock's current time.
func NewSimulatedNode(model string, series *Series, opts ...SimOption) (*SimulatedNode, error) {
	mk, ok := simModels[model]
	if !ok {
		return nil, fmt.Errorf("simulate %q: unknown node model: want one of %s", model, strings.Join(SimulatedModels(), ", "))
	}
	if series == nil || len(series.Busy) == 0 {
		return nil, fmt.Errorf("simulate %s: empty replay series", model)
	}
	n := &SimulatedNode{server: mk(), series: series, speed: 1, now: time.Now, idle: DefaultIdleAllocated}
	for _, o := range opts {
		o(n)
	}
	if n.speed <= 0 || math.IsInf(n.speed, 0) || math.IsNaN(n.speed) {
		return nil, fmt.Errorf("simulate %s: replay speed %v: want a positive number (60 = one trace minute per second)", model, n.speed)
	}
	if n.idle < 0 || n.idle > 1 || math.IsNaN(n.idle) {
		return nil, fmt.Errorf("simulate %s: idle-allocated share %v: want a number from 0 to 1", model, n.idle)
	}
	n.start = n.now()
	for _, d := range n.server.Devices {
		n.wire(d.(*server.Device))
	}
	return n, nil
}

// Interface is the mock NVML library to hand to NewSampler.
func (n *SimulatedNode) Interface() nv.Interface { return n.server }

// Series is the load the node replays.
func (n *SimulatedNode) Series() *Series { return n.series }

// TraceOffset is how far into the trace the replay is at t.
func (n *SimulatedNode) TraceOffset(t time.Time) time.Duration {
	return time.Duration(float64(t.Sub(n.start)) * n.speed)
}

// GPUState is what a simulated GPU reports at one moment.
type GPUState struct {
	Utilization uint32
	Processes   int
	MemoryUsed  uint64
}

// StateAt is what GPU index reports at t; exported so that demos can show
// the expected picture next to the observed one.
func (n *SimulatedNode) StateAt(index int, t time.Time) GPUState {
	off := n.TraceOffset(t)
	total := len(n.server.Devices)
	k := int(math.Round(n.series.At(off) * float64(total)))
	if index >= k {
		return GPUState{}
	}
	step := uint64(off / n.series.Step)
	h := mix(step<<8 | uint64(index))
	d := n.server.Devices[index].(*server.Device)
	st := GPUState{Processes: 1, MemoryUsed: d.MemoryInfo.Total / 100 * (40 + h%50)}
	if float64(h>>32%1000) < n.idle*1000 {
		st.Utilization = uint32(h >> 16 % 5)
	} else {
		st.Utilization = uint32(60 + h>>16%40)
	}
	return st
}

// mix is splitmix64's finaliser: a cheap deterministic hash.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func (n *SimulatedNode) wire(d *server.Device) {
	idx := d.Index
	total := d.MemoryInfo.Total
	d.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) {
		st := n.StateAt(idx, n.now())
		return nv.Utilization{Gpu: st.Utilization, Memory: st.Utilization / 2}, nv.SUCCESS
	}
	d.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) {
		st := n.StateAt(idx, n.now())
		if st.Processes == 0 {
			return nil, nv.SUCCESS
		}
		return []nv.ProcessInfo{{Pid: uint32(4000 + idx), UsedGpuMemory: st.MemoryUsed}}, nv.SUCCESS
	}
	d.GetMemoryInfoFunc = func() (nv.Memory, nv.Return) {
		st := n.StateAt(idx, n.now())
		return nv.Memory{Total: total, Used: st.MemoryUsed, Free: total - st.MemoryUsed}, nv.SUCCESS
	}
}
