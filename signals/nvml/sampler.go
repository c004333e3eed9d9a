// Package nvml observes a node's GPUs through NVML (github.com/NVIDIA/go-nvml)
// and serves what it saw: the sampler, the `spillway agent` HTTP server
// (/metrics and /v1/gpus), and a simulated node built on go-nvml's DGX mocks
// whose load replays a real cluster trace.
package nvml

import (
	"context"
	"errors"
	"fmt"
	"time"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/spillway-io/spillway/signals"
)

// LibraryName is the NVIDIA driver library go-nvml loads.
const LibraryName = "libnvidia-ml.so.1"

// ErrLibraryNotFound is returned by NewSampler when the NVIDIA driver library
// cannot be loaded (no driver installed, or not on the library path).
var ErrLibraryNotFound = errors.New("the NVIDIA driver library " + LibraryName + " was not found")

// Thresholds decide when a GPU counts as busy.
type Thresholds struct {
	// BusyUtil is the utilisation, in percent, from which a GPU is busy.
	BusyUtil float64
	// BusyProcesses is the number of compute processes from which a GPU is
	// busy (0 disables the process test).
	BusyProcesses int
}

// DefaultThresholds are the agent's defaults: 10% utilisation or one process.
var DefaultThresholds = Thresholds{BusyUtil: 10, BusyProcesses: 1}

// Sample is one reading of all the node's GPUs; it is also the JSON body of
// the agent's /v1/gpus.
type Sample struct {
	Node string        `json:"node"`
	Time time.Time     `json:"sample_time"`
	GPUs []signals.GPU `json:"gpus"`
	// noUtil holds the indexes of the GPUs whose utilisation NVML does not
	// report (ERROR_NOT_SUPPORTED, as on a MIG-enabled GPU); nil when NVML
	// reports every GPU's. The JSON body shows such a GPU at 0% but never
	// idle, busy by its processes; /metrics leaves out its utilisation
	// series rather than export a 0 nobody measured.
	noUtil map[int]bool
}

// Sampler reads GPUs through an NVML interface: the real library
// (nv.New()) or a go-nvml mock.
type Sampler struct {
	lib        nv.Interface
	node       string
	thresholds Thresholds
	now        func() time.Time
	devices    []device
}

// device caches what does not change between samples.
type device struct {
	handle nv.Device
	index  int
	uuid   string
	model  string
	// utilUnsupported is set once GetUtilizationRates answers
	// ERROR_NOT_SUPPORTED (e.g. MIG mode): busy then follows processes.
	utilUnsupported bool
}

// SamplerOption configures a Sampler.
type SamplerOption func(*Sampler)

// WithThresholds sets the busy thresholds (DefaultThresholds otherwise).
func WithThresholds(t Thresholds) SamplerOption { return func(s *Sampler) { s.thresholds = t } }

// WithClock sets the clock that stamps samples (time.Now otherwise).
func WithClock(now func() time.Time) SamplerOption { return func(s *Sampler) { s.now = now } }

// NewSampler initialises NVML and enumerates the node's GPUs. nvml.Init is
// checked before any other call: when it fails with
// ERROR_LIBRARY_NOT_FOUND, the error wraps ErrLibraryNotFound (calling NVML
// any further would kill the process). Close releases NVML.
func NewSampler(lib nv.Interface, node string, opts ...SamplerOption) (*Sampler, error) {
	s := &Sampler{lib: lib, node: node, thresholds: DefaultThresholds, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	switch ret := lib.Init(); ret {
	case nv.SUCCESS:
	case nv.ERROR_LIBRARY_NOT_FOUND:
		return nil, fmt.Errorf("nvml: %w (is the NVIDIA driver installed and its library on the loader path?)", ErrLibraryNotFound)
	default:
		return nil, fmt.Errorf("nvml: Init: %w", ret)
	}
	n, ret := lib.DeviceGetCount()
	if ret != nv.SUCCESS {
		lib.Shutdown()
		return nil, fmt.Errorf("nvml: DeviceGetCount: %w", ret)
	}
	for i := range n {
		d, err := openDevice(lib, i)
		if err != nil {
			lib.Shutdown()
			return nil, err
		}
		s.devices = append(s.devices, d)
	}
	return s, nil
}

func openDevice(lib nv.Interface, i int) (device, error) {
	h, ret := lib.DeviceGetHandleByIndex(i)
	if ret != nv.SUCCESS {
		return device{}, fmt.Errorf("nvml: GPU %d: DeviceGetHandleByIndex: %w", i, ret)
	}
	uuid, ret := h.GetUUID()
	if ret != nv.SUCCESS {
		return device{}, fmt.Errorf("nvml: GPU %d: GetUUID: %w", i, ret)
	}
	name, ret := h.GetName()
	if ret != nv.SUCCESS {
		return device{}, fmt.Errorf("nvml: GPU %d: GetName: %w", i, ret)
	}
	return device{handle: h, index: i, uuid: uuid, model: name}, nil
}

// Node is the node name the sampler stamps on its GPUs.
func (s *Sampler) Node() string { return s.node }

// GPUCount is the number of GPUs found at start.
func (s *Sampler) GPUCount() int { return len(s.devices) }

// Close shuts NVML down.
func (s *Sampler) Close() error {
	if ret := s.lib.Shutdown(); ret != nv.SUCCESS {
		return fmt.Errorf("nvml: Shutdown: %w", ret)
	}
	return nil
}

// Sample reads every GPU once. An error names the GPU and the NVML call.
func (s *Sampler) Sample(ctx context.Context) (Sample, error) {
	out := Sample{Node: s.node, GPUs: make([]signals.GPU, 0, len(s.devices))}
	for i := range s.devices {
		if err := ctx.Err(); err != nil {
			return Sample{}, err
		}
		d := &s.devices[i]
		g, err := s.read(d)
		if err != nil {
			return Sample{}, err
		}
		out.GPUs = append(out.GPUs, g)
		if d.utilUnsupported {
			if out.noUtil == nil {
				out.noUtil = map[int]bool{}
			}
			out.noUtil[g.Index] = true
		}
	}
	out.Time = s.now()
	return out, nil
}

func (s *Sampler) read(d *device) (signals.GPU, error) {
	g := signals.GPU{Node: s.node, Index: d.index, UUID: d.uuid, Model: d.model}
	mem, ret := d.handle.GetMemoryInfo()
	if ret != nv.SUCCESS {
		return g, fmt.Errorf("nvml: GPU %d (%s): GetMemoryInfo: %w", d.index, d.uuid, ret)
	}
	g.MemoryUsed, g.MemoryTotal = mem.Used, mem.Total
	if !d.utilUnsupported {
		u, ret := d.handle.GetUtilizationRates()
		switch ret {
		case nv.SUCCESS:
			g.Utilization = float64(u.Gpu)
		case nv.ERROR_NOT_SUPPORTED:
			d.utilUnsupported = true
		default:
			return g, fmt.Errorf("nvml: GPU %d (%s): GetUtilizationRates: %w", d.index, d.uuid, ret)
		}
	}
	procs, ret := d.handle.GetComputeRunningProcesses()
	if ret != nv.SUCCESS {
		return g, fmt.Errorf("nvml: GPU %d (%s): GetComputeRunningProcesses: %w", d.index, d.uuid, ret)
	}
	g.Processes = len(procs)
	g.Allocated = g.Processes > 0
	// Without a utilisation reading the GPU is never called idle (that
	// would report waste nobody saw); busy then follows its processes.
	computing := !d.utilUnsupported && g.Utilization >= s.thresholds.BusyUtil
	g.Idle = !d.utilUnsupported && !computing
	g.Busy = computing || (s.thresholds.BusyProcesses > 0 && g.Processes >= s.thresholds.BusyProcesses)
	return g, nil
}
