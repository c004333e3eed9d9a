// Package nvml observes a node's GPUs through NVML (github.com/NVIDIA/go-nvml)
// and serves what it saw: the sampler, the `spillway agent` HTTP server
// (/metrics and /v1/gpus), and a simulated node built on go-nvml's DGX mocks
// whose load replays a real cluster trace.
package nvml

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

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
	// Error is set, in /v1/gpus, when the agent's latest attempt to sample
	// failed or is stuck inside NVML: the GPUs are then the last good
	// sample's, each marked unknown, and Time says how old it is.
	Error string `json:"error,omitempty"`
	// Machine, in /v1/gpus, names the machine the agent runs on
	// (MachineID): the server tells two machines of one node name and
	// cloned GPU UUIDs apart by it.
	Machine string `json:"machine,omitempty"`
	// noUtil holds the indexes of the GPUs whose utilisation NVML does not
	// report (ERROR_NOT_SUPPORTED, as on a MIG-enabled GPU); nil when NVML
	// reports every GPU's. The JSON body shows such a GPU at 0% but never
	// idle, busy by its processes; /metrics leaves out its utilisation
	// series rather than export a 0 nobody measured.
	noUtil map[int]bool
	// unread holds the indexes of the GPUs NVML could not read: unknown,
	// or unhealthy by NVML's error (ERROR_RESET_REQUIRED, a lasting
	// ERROR_GPU_IS_LOST) or a call stuck for LostAfter. /metrics serves
	// no reading of them.
	unread map[int]bool
	// mig holds, by GPU index, the GPU instances of each MIG-enabled GPU
	// that has any: /metrics serves each one's memory in a series of its
	// own (GPU_I_ID), as dcgm-exporter does, and none for the GPU whole,
	// which holds the same bytes.
	mig map[int][]migInstance
	// failed holds, by GPU index, the call that failed reading each GPU
	// NVML could not read (unread), and how: /metrics counts them
	// (MetricReadErrors), /healthz names them.
	failed map[int]readFailure
}

// readFailure is a GPU's ReadError as labels.
type readFailure struct{ call, code string }

// failureOf is err's call and code: a ReadError's, or NVML and OTHER.
func failureOf(err error) readFailure {
	var re *ReadError
	if errors.As(err, &re) {
		return readFailure{call: re.Call, code: re.Code()}
	}
	return readFailure{call: callNone.String(), code: (&ReadError{Err: err}).Code()}
}

// migInstance is one GPU instance of a MIG-enabled GPU, as read.
type migInstance struct {
	id         int    // its GPU instance ID (GPU_I_ID)
	memoryUsed uint64 // bytes
}

// Unknown returns the GPUs of s that could not be read.
func (s Sample) Unknown() []signals.GPU {
	var out []signals.GPU
	for _, g := range s.GPUs {
		if g.Unknown {
			out = append(out, g)
		}
	}
	return out
}

// Sampler reads GPUs through an NVML interface: the real library
// (nv.New()) or a go-nvml mock.
type Sampler struct {
	lib        nv.Interface
	node       string
	thresholds Thresholds
	now        func() time.Time
	devices    []device
	// notReady is set while NVML has not initialised (StartSampler):
	// the latest attempt's error.
	notReady error
	// opening is closed once the opening StartSampler began (in a
	// goroutine of its own, holding mu) has returned; openSince is when
	// it began; nil and zero for NewSampler's. startTimeout bounds how
	// long StartSampler waits for it.
	opening      chan struct{}
	openSince    time.Time
	startTimeout time.Duration
	// count is the number of GPUs NVML counted when they were last
	// opened (GPUCount), read without mu.
	count atomic.Int32
	// lost holds, for each GPU (by lostKey) whose latest samples all
	// answered ERROR_GPU_IS_LOST, the time of the first of them.
	lost map[lostKey]time.Time
	// counted holds the GPUs of the latest sample that counted as many
	// GPUs as any before it: while NVML counts fewer, those of them not
	// counted are served as not counted (notCounted).
	counted []signals.GPU
	// mu is held by a sample and by Close: a Close from another
	// goroutine (a simulated node's server closing under a request)
	// waits for the sample in progress.
	mu sync.Mutex
	// done receives each worker whose reading has returned (readWorker),
	// room for every GPU counted and as many parked;
	// seq numbers the samples, so that a reading returning late, after
	// the sample that fed it, is told from the current sample's.
	done chan *readWorker
	seq  uint64
	// res and got are readAll's, kept from sample to sample.
	res []readResult
	got []bool
	// parked holds the GPUs whose reading is stuck and that NVML no
	// longer counts (a GPU wedged often falls off the bus; the count may
	// drop to 0 and come back): counted again, each is known by its
	// handle, not opened again (its calls would hang, and the sample
	// with them).
	parked []device
	// phase is the call a sample is in while it counts and opens the
	// GPUs (callNone once it reads them): a sample stuck there names it.
	phase inCall
	// reads counts the readings inside NVML, for Close; inside too,
	// once a reading's result is handed over. workers counts the
	// workers' goroutines.
	reads   sync.WaitGroup
	inside  atomic.Int32
	workers sync.WaitGroup
	// closed is set by Close: a sample waiting for mu meanwhile (an
	// agent's, given up on while the opening held mu) makes no NVML
	// call and starts no worker after it.
	closed bool
}

// device caches what does not change between samples.
type device struct {
	handle nv.Device
	index  int
	uuid   string
	model  string
	// err is set when the device could not be opened (its handle, UUID
	// or name): it is reported unknown until the devices are enumerated
	// again.
	err error
	// w reads the GPU (nil until its first reading); a reading of it
	// that has not returned (an NVML call stuck in the driver) is w's
	// pending one, and the GPU is not called again until it returns.
	w *readWorker
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
	s := newSampler(lib, node, opts)
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

// ErrNotReady is wrapped by Sample's error while NVML fails to initialise
// or to count the GPUs (StartSampler): at boot the driver may not be
// loaded yet.
var ErrNotReady = errors.New("NVML not ready")

// ErrClosed is Sample's error once the sampler is closed.
var ErrClosed = errors.New("nvml: sampler closed")

// StartSampler is NewSampler for an agent that must answer while NVML is
// not ready: when NVML fails to initialise, or to count the GPUs, for
// another reason than a missing library (ERROR_DRIVER_NOT_LOADED at boot,
// before the driver has loaded), it returns a sampler that tries again at
// each Sample, which fails meanwhile with an error wrapping ErrNotReady and
// NVML's. A burst instance's agent that gave up instead would never join:
// its instance would be ended at its join timeout and its offering
// skipped, with nothing but the agent's log to say why. It fails only when
// the library is missing (ErrLibraryNotFound: calling NVML further would
// kill the process).
//
// It waits at most the start timeout (WithStartTimeout) for NVML to
// initialise, count and open the GPUs: past it (a call hung in a wedged
// driver) it returns the sampler while the opening goes on, and the
// first Sample waits for it, so that the agent serves and says which
// call is stuck (Agent.SampleOnce's StuckCallError) rather than never
// serving at all.
func StartSampler(lib nv.Interface, node string, opts ...SamplerOption) (*Sampler, error) {
	s := newSampler(lib, node, opts)
	s.mu.Lock() // until the opening returns: a Sample waits for it
	s.opening, s.openSince = make(chan struct{}), s.now()
	opened := make(chan error, 1)
	s.reads.Add(1) // inside NVML: WaitReads, and so Agent.Close, wait for it
	go func() {
		defer s.reads.Done()
		defer close(s.opening)
		defer s.mu.Unlock()
		err := s.open()
		if err != nil {
			s.notReady = err
		}
		opened <- err
	}()
	timer := time.NewTimer(s.startTimeout)
	defer timer.Stop()
	select {
	case err := <-opened:
		if errors.Is(err, ErrLibraryNotFound) {
			return nil, err
		}
	case <-timer.C:
	}
	return s, nil
}

// DefaultStartTimeout is the longest StartSampler waits for NVML by
// default.
const DefaultStartTimeout = 10 * time.Second

// WithStartTimeout sets the longest StartSampler waits for NVML to
// initialise, count and open the GPUs (DefaultStartTimeout otherwise).
func WithStartTimeout(d time.Duration) SamplerOption {
	return func(s *Sampler) { s.startTimeout = d }
}

// stillOpening returns, while the opening StartSampler began has not
// returned, when it began.
func (s *Sampler) stillOpening() (since time.Time, ok bool) {
	if s.opening == nil {
		return time.Time{}, false
	}
	select {
	case <-s.opening:
		return time.Time{}, false
	default:
		return s.openSince, true
	}
}

func newSampler(lib nv.Interface, node string, opts []SamplerOption) *Sampler {
	s := &Sampler{lib: lib, node: node, thresholds: DefaultThresholds, now: time.Now, startTimeout: DefaultStartTimeout, done: make(chan *readWorker, 2*MaxGPUs)}
	for _, o := range opts {
		o(s)
	}
	return s
}

// open initialises NVML and enumerates the GPUs; it leaves NVML shut down
// when it fails.
func (s *Sampler) open() error {
	s.phase.set(callInit)
	defer s.phase.set(callNone)
	switch ret := s.lib.Init(); ret {
	case nv.SUCCESS:
	case nv.ERROR_LIBRARY_NOT_FOUND:
		return fmt.Errorf("nvml: %w (is the NVIDIA driver installed and its library on the loader path?)", ErrLibraryNotFound)
	default:
		return fmt.Errorf("nvml: Init: %w", ret)
	}
	if err := s.enumerate(); err != nil {
		s.lib.Shutdown()
		return err
	}
	return nil
}

// enumerate (re)opens every GPU NVML counts. A GPU that cannot be opened is
// kept, unknown, under its index: the others are still read.
func (s *Sampler) enumerate() error {
	s.phase.set(callCount)
	n, ret := s.lib.DeviceGetCount()
	if ret != nv.SUCCESS {
		return fmt.Errorf("nvml: DeviceGetCount: %w", ret)
	}
	if n < 0 || n > MaxGPUs {
		return fmt.Errorf("nvml: DeviceGetCount: %d GPUs, want 0 to %d", n, MaxGPUs)
	}
	devices := make([]device, 0, n)
	for i := range n {
		if d, ok := s.stuckAt(i); ok {
			devices = append(devices, d)
			continue
		}
		d, err := openDevice(s.lib, i, &s.phase)
		if err != nil {
			d = device{index: i, err: err}
		}
		devices = append(devices, d)
	}
	var parked []device
	for _, d := range slices.Concat(s.devices, s.parked) {
		switch {
		case d.w == nil || slices.ContainsFunc(devices, func(n device) bool { return n.w == d.w }):
		case d.stuck():
			parked = append(parked, d) // not counted now: known if it is again
		default:
			d.w.stop() // its GPU is gone, or opened again
		}
	}
	s.devices, s.parked = devices, parked
	s.count.Store(int32(len(devices)))
	return nil
}

// unpark stops the workers of the GPUs parked whose stuck reading has
// returned: a GPU counted again is opened again.
func (s *Sampler) unpark() {
	s.parked = slices.DeleteFunc(s.parked, func(d device) bool {
		if d.stuck() {
			return false
		}
		d.w.stop()
		return true
	})
}

// stuckAt returns, as the device at index i, the GPU there whose reading
// is stuck, known by its handle: opening it again would ask its UUID and
// name of a GPU whose calls hang (a GPU wedged often falls off the bus,
// and NVML's count then changes), and the whole sample would wait.
func (s *Sampler) stuckAt(i int) (device, bool) {
	if !slices.ContainsFunc(s.devices, func(d device) bool { return d.stuck() }) && len(s.parked) == 0 {
		return device{}, false
	}
	s.phase.set(callHandle)
	h, ret := s.lib.DeviceGetHandleByIndex(i)
	if ret != nv.SUCCESS || h == nil || !reflect.TypeOf(h).Comparable() {
		return device{}, false
	}
	for _, d := range slices.Concat(s.devices, s.parked) {
		if d.err == nil && d.stuck() && reflect.TypeOf(d.handle) == reflect.TypeOf(h) && d.handle == h {
			d.index = i
			return d, true
		}
	}
	return device{}, false
}

// MaxGPUs bounds the GPU count NVML reports for a node.
const MaxGPUs = 256

// MaxProcesses bounds the compute processes NVML lists on a GPU: each
// holds a CUDA context of a few hundred MiB of the GPU's memory, and MPS
// serves at most 60 clients a GPU, so a longer list is no reading.
const MaxProcesses = 4096

// openDevice opens GPU i, at saying which call it is in.
func openDevice(lib nv.Interface, i int, at *inCall) (device, error) {
	at.set(callHandle)
	h, ret := lib.DeviceGetHandleByIndex(i)
	if ret != nv.SUCCESS {
		return device{}, readError(callHandle, fmt.Errorf("nvml: GPU %d: DeviceGetHandleByIndex: %w", i, ret))
	}
	at.set(callUUID)
	uuid, ret := h.GetUUID()
	if ret != nv.SUCCESS {
		return device{}, readError(callUUID, fmt.Errorf("nvml: GPU %d: GetUUID: %w", i, ret))
	}
	if !validUUID(uuid) {
		// Served as a label, it would fail the whole /metrics (a label
		// value must be UTF-8); read by the server, it names no GPU.
		return device{}, readError(callUUID, fmt.Errorf("nvml: GPU %d: GetUUID: %q is not a GPU UUID (want 1 to %d printable UTF-8 bytes, such as GPU-5cc4ba2c-…): %w", i, signals.Shorten(uuid, 100), maxUUID, ErrOutOfRange))
	}
	at.set(callName)
	name, ret := h.GetName()
	if ret != nv.SUCCESS {
		return device{}, readError(callName, fmt.Errorf("nvml: GPU %d: GetName: %w", i, ret))
	}
	// The model names no GPU: bytes that are not UTF-8 are shown as
	// U+FFFD rather than fail /metrics, and a name past NVML's buffer is
	// cut.
	name = signals.Shorten(strings.ToValidUTF8(name, "\uFFFD"), maxUUID)
	return device{handle: h, index: i, uuid: uuid, model: name}, nil
}

// maxUUID is the most bytes NVML gives a GPU's UUID or name (its
// NVML_DEVICE_UUID_V2_BUFFER_SIZE, 96, less the terminating NUL).
const maxUUID = 95

// validUUID says whether NVML's uuid can name a GPU: 1 to maxUUID bytes
// of printable UTF-8.
func validUUID(uuid string) bool {
	if uuid == "" || len(uuid) > maxUUID || !utf8.ValidString(uuid) {
		return false
	}
	return !strings.ContainsFunc(uuid, func(r rune) bool { return !unicode.IsPrint(r) })
}

// Node is the node name the sampler stamps on its GPUs.
func (s *Sampler) Node() string { return s.node }

// GPUCount is the number of GPUs NVML counted when they were last
// opened: 0 while they have not been (NVML not ready, or StartSampler's
// opening still stuck).
func (s *Sampler) GPUCount() int { return int(s.count.Load()) }

// Close stops the GPUs' workers and shuts NVML down, once the sample in
// progress, if any, has returned. Nothing may be inside NVML meanwhile:
// Agent.Close waits for the readings stuck too. A worker whose reading
// is still inside NVML (a Sample cancelled while a call hung) ends once
// its call returns.
func (s *Sampler) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	for _, d := range slices.Concat(s.devices, s.parked) {
		if d.w != nil {
			d.w.stop()
		}
	}
	if s.inside.Load() == 0 {
		s.workers.Wait() // each ends at once
	}
	if s.notReady != nil {
		return nil // never initialised
	}
	if ret := s.lib.Shutdown(); ret != nv.SUCCESS {
		return fmt.Errorf("nvml: Shutdown: %w", ret)
	}
	return nil
}

// Sample reads every GPU once. A GPU whose reading fails is reported
// unknown (signals.GPU.Unknown, with the GPU, the call and NVML's error) and
// the others as read. Before reading, the sampler asks NVML how many GPUs
// there are: when the count changed (a GPU hot-removed or back after a
// driver reload) it opens them all again, an index whose GPU's UUID
// changed (a GPU swapped, the count unchanged) it opens again, and when
// NVML says it is not
// initialised (the driver was reloaded under it) it initialises it again.
// Sample fails as a whole only when NVML cannot count the GPUs.
//
// While NVML has not initialised (StartSampler), Sample initialises it
// first, and fails with an error wrapping ErrNotReady as long as it cannot.
func (s *Sampler) Sample(ctx context.Context) (Sample, error) { return s.sample(ctx, nil, nil) }

// sample is Sample, reading the GPUs at once, each by a worker of its own
// (readWorker): when giveUp closes, a GPU whose reading has not returned
// (an NVML call of it stuck in the driver) is unknown, wrapping
// ErrSampleTimeout and naming the call, while the others are served as
// read; it is then not read again, and unknown, until that call returns.
// reading (if not nil) is called once the GPUs are counted and opened,
// before they are read: from then on, sample returns at once when giveUp
// closes, making no further NVML call.
func (s *Sampler) sample(ctx context.Context, giveUp <-chan struct{}, reading func()) (Sample, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Sample{}, ErrClosed
	}
	s.returned()
	s.unpark()
	if s.notReady != nil {
		if err := s.open(); err != nil {
			s.notReady = err
			return Sample{}, fmt.Errorf("%w: %w", ErrNotReady, err)
		}
		s.notReady = nil
	}
	if err := s.refresh(); err != nil {
		return Sample{}, err
	}
	if reading != nil {
		reading()
	}
	// When the readings begin: a reading left stuck has not returned
	// since (its call began then or a moment after).
	began := s.now()
	reads, err := s.readAll(ctx, giveUp, began)
	if err != nil {
		return Sample{}, err // cancelled (the agent shutting down)
	}
	out := Sample{Node: s.node, GPUs: make([]signals.GPU, 0, len(s.devices))}
	var lost []int  // positions in out.GPUs of GPUs that answered ERROR_GPU_IS_LOST
	var stuck []int // positions in out.GPUs of GPUs whose reading is stuck
	for _, r := range reads {
		g, noUtil, mig, err := r.g, r.noUtil, r.mig, r.err
		switch {
		case errors.Is(err, ErrSampleTimeout):
			stuck = append(stuck, len(out.GPUs))
			g = unknownGPU(g, err)
		case errors.Is(err, nv.ERROR_RESET_REQUIRED):
			g = unreadableGPU(g, err.Error()+": the GPU needs a reset")
		case errors.Is(err, nv.ERROR_GPU_IS_LOST):
			lost = append(lost, len(out.GPUs))
			g = unknownGPU(g, err)
		case err != nil:
			g = unknownGPU(g, err)
		}
		if err != nil {
			mark(&out.unread, g.Index)
			if out.failed == nil {
				out.failed = map[int]readFailure{}
			}
			out.failed[g.Index] = failureOf(err)
		}
		out.GPUs = append(out.GPUs, g)
		if noUtil && err == nil {
			mark(&out.noUtil, g.Index)
		}
		if len(mig) > 0 && err == nil {
			if out.mig == nil {
				out.mig = map[int][]migInstance{}
			}
			out.mig[g.Index] = mig
		}
	}
	out.Time = s.now()
	lost = append(lost, s.notCounted(&out)...)
	s.judgeLost(&out, lost)
	s.judgeStuck(&out, reads, stuck)
	return out, nil
}

// ErrNotCounted is wrapped by the error of a GPU that NVML counted
// before and counts no longer (fallen off the bus so far the driver lost
// it, or every GPU of the node gone from a driver that lost them).
var ErrNotCounted = errors.New("no longer counted by NVML")

// notCounted appends to out, each unknown, the GPUs counted before that
// NVML counts no longer, and returns their positions in out.GPUs: while
// NVML counts fewer GPUs than it did (a GPU off the bus, a driver that
// lost every GPU answering a count of 0), the missing ones are the GPUs
// of the latest sample that counted the most whose UUID is not counted
// now, at most as many as are missing. Each is served under an index
// past those NVML counts (its own is another GPU's now, or none), and is
// judged as a lost GPU is (judgeLost): unhealthy once lost or not
// counted in every sample for LostAfter. A GPU taken out on purpose is
// so served until the agent is restarted; a GPU swapped, the count
// unchanged, is not.
func (s *Sampler) notCounted(out *Sample) []int {
	if len(out.GPUs) >= len(s.counted) {
		s.counted = append(s.counted[:0], out.GPUs...) // its own copy, kept from sample to sample
		return nil
	}
	missing := len(s.counted) - len(out.GPUs)
	var pos []int
	for _, was := range s.counted {
		if len(pos) == missing {
			break
		}
		if was.UUID == "" || slices.ContainsFunc(out.GPUs, func(g signals.GPU) bool { return g.UUID == was.UUID }) {
			continue
		}
		err := readError(callCount, fmt.Errorf("nvml: GPU %s (GPU %d when last counted): DeviceGetCount: %d GPUs counted, %d before: %w",
			was.UUID, was.Index, len(out.GPUs)-len(pos), len(s.counted), ErrNotCounted))
		g := unknownGPU(signals.GPU{Node: s.node, Index: len(out.GPUs), UUID: was.UUID, Model: was.Model}, err)
		mark(&out.unread, g.Index)
		if out.failed == nil {
			out.failed = map[int]readFailure{}
		}
		out.failed[g.Index] = failureOf(err)
		pos = append(pos, len(out.GPUs))
		out.GPUs = append(out.GPUs, g)
	}
	return pos
}

// judgeStuck makes unhealthy each GPU of out (at the positions stuck)
// whose reading has not returned for LostAfter or more, as a GPU lost
// that long is: a call of a GPU that hangs in the driver for a minute
// is a GPU wedged (an Xid), which takes no job until it is reset. The
// others stay unknown, as a GPU whose call is slow for a moment is.
func (s *Sampler) judgeStuck(out *Sample, reads []readResult, stuck []int) {
	for _, i := range stuck {
		g := out.GPUs[i]
		if d := out.Time.Sub(reads[i].since); d >= LostAfter {
			out.GPUs[i] = unreadableGPU(g, fmt.Sprintf("%s (%s): the GPU is wedged in the driver; it needs a reset, or its node a reboot",
				g.Error, d.Round(time.Second)))
		}
	}
}

// readResult is one GPU's reading (Sampler.read).
type readResult struct {
	i      int    // its place in Sampler.devices
	seq    uint64 // the sample that asked for it
	g      signals.GPU
	noUtil bool
	mig    []migInstance
	err    error
	since  time.Time // for a reading stuck, when it began
}

// A readWorker reads one GPU, opened once, for as long as the sampler
// keeps it (Sampler.devices): it takes a reading when fed one and hands
// it back on the sampler's done. It ends when stopped (its GPU gone or
// opened again, the sampler closed), once any call of it in the driver
// returns. A GPU's reading thus costs no goroutine a sample, and one
// stuck in the driver holds up no other GPU's.
type readWorker struct {
	in   chan readJob
	quit chan struct{}
	at   inCall     // the call it is in (or made last)
	res  readResult // its latest reading, the sampler's once handed back
	// Of the sampler's goroutine: pending is set from feeding to the
	// reading's return, since is when it was fed; stopped once quit is
	// closed.
	pending, stopped bool
	since            time.Time
}

// readJob is a reading asked of a worker: of d, the device at place i of
// the sample seq.
type readJob struct {
	d   device
	i   int
	seq uint64
}

// startWorker starts a worker for the sampler's GPUs.
func (s *Sampler) startWorker() *readWorker {
	w := &readWorker{in: make(chan readJob, 1), quit: make(chan struct{})}
	s.workers.Add(1)
	go func() {
		defer s.workers.Done()
		for {
			select {
			case j := <-w.in:
				g, noUtil, mig, err := s.read(&j.d, &w.at)
				w.res = readResult{i: j.i, seq: j.seq, g: g, noUtil: noUtil, mig: mig, err: err}
				select {
				case s.done <- w:
				case <-w.quit:
				}
				s.inside.Add(-1)
				s.reads.Done()
			case <-w.quit:
				return
			}
		}
	}()
	return w
}

// stop ends w once it has no reading inside NVML.
func (w *readWorker) stop() {
	if !w.stopped {
		w.stopped = true
		close(w.quit)
	}
}

// feed asks w to read d, at place i of the sample seq, begun at began.
func (s *Sampler) feed(w *readWorker, d device, i int, seq uint64, began time.Time) {
	w.pending, w.since = true, began
	s.reads.Add(1)
	s.inside.Add(1)
	w.in <- readJob{d: d, i: i, seq: seq}
}

// stuck says whether a reading of d has not returned.
func (d device) stuck() bool { return d.w != nil && d.w.pending }

// returned takes the readings handed back since the last sample (late
// ones, of GPUs stuck until now): their workers may be fed again.
func (s *Sampler) returned() {
	for {
		select {
		case w := <-s.done:
			w.pending = false
		default:
			return
		}
	}
}

// readAll reads every GPU, each by its worker, and gathers the readings
// until all have returned, giveUp closes (those not returned then are
// stuck: unknown, and not read again until they return) or ctx ends (an
// error). A GPU still stuck from an earlier sample is not read. began is
// when the readings begin.
func (s *Sampler) readAll(ctx context.Context, giveUp <-chan struct{}, began time.Time) ([]readResult, error) {
	s.seq++
	n := len(s.devices)
	if cap(s.res) < n {
		s.res, s.got = make([]readResult, n), make([]bool, n)
	}
	res, got := s.res[:n], s.got[:n]
	clear(got)
	waiting := 0
	for i := range s.devices {
		d := &s.devices[i]
		switch {
		case d.err != nil:
			// Not opened: its error, with no call to make.
			var at inCall
			g, _, _, err := s.read(d, &at)
			res[i], got[i] = readResult{i: i, g: g, err: err}, true
		case d.stuck():
			res[i], got[i] = stuckResult(s.node, *d), true
		default:
			if d.w == nil {
				d.w = s.startWorker()
			}
			s.feed(d.w, *d, i, s.seq, began)
			waiting++
		}
	}
	take := func(w *readWorker) {
		w.pending = false
		if w.res.seq == s.seq { // else a reading of an earlier sample, returned late
			res[w.res.i], got[w.res.i] = w.res, true
			waiting--
		}
	}
	var cancelled error
gather:
	for waiting > 0 {
		select {
		case w := <-s.done:
			take(w)
		case <-giveUp:
			for waiting > 0 { // what has returned is read
				select {
				case w := <-s.done:
					take(w)
				default:
					break gather
				}
			}
			break gather
		case <-ctx.Done():
			cancelled = ctx.Err()
			break gather
		}
	}
	for i, d := range s.devices {
		if !got[i] {
			res[i] = stuckResult(s.node, d)
		}
	}
	return res, cancelled
}

// stuckResult is the reading of d, whose worker's reading has not
// returned.
func stuckResult(node string, d device) readResult {
	c := d.w.at.get()
	err := fmt.Errorf("nvml: GPU %d (%s): %s has not returned since %s: %w", d.index, d.uuid, c, d.w.since.UTC().Format(time.RFC3339), ErrSampleTimeout)
	return readResult{g: signals.GPU{Node: node, Index: d.index, UUID: d.uuid, Model: d.model}, err: readError(c, err), since: d.w.since}
}

// WaitReads waits until no reading of a GPU is inside NVML, or ctx ends
// (its error).
func (s *Sampler) WaitReads(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.reads.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// LostAfter is how long a GPU must answer ERROR_GPU_IS_LOST, or be no
// longer counted by NVML (notCounted), in every sample, before it counts as unhealthy rather than unknown; so must a
// GPU's NVML call stay stuck in the driver (judgeStuck). A GPU that
// fell off the bus stays lost until it is reset or its node rebooted;
// a GPU unknown for a moment (an Xid the driver recovers from) must not
// have its instance drained, as an unhealthy one is.
const LostAfter = time.Minute

// judgeLost makes unhealthy each GPU of out (at the positions lost) that
// has answered ERROR_GPU_IS_LOST, or not been counted, in every sample
// for LostAfter or more (one then the other: a GPU off the bus goes in
// and out of NVML's count); the others stay unknown. It forgets the GPUs
// neither lost nor missing in this sample.
func (s *Sampler) judgeLost(out *Sample, lost []int) {
	was := s.lost
	s.lost = nil
	for _, i := range lost {
		g := out.GPUs[i]
		k := lostKeyOf(g, out.GPUs)
		since, ok := was[k]
		if !ok {
			since = out.Time
		}
		if s.lost == nil {
			s.lost = map[lostKey]time.Time{}
		}
		s.lost[k] = since
		if d := out.Time.Sub(since); d >= LostAfter {
			out.GPUs[i] = unreadableGPU(g, fmt.Sprintf("%s in every sample since %s (%s): the GPU fell off the bus; it needs a reset, or its node a reboot",
				g.Error, since.UTC().Format(time.RFC3339), d.Round(time.Second)))
		}
	}
}

// lostKey names a GPU for judgeLost: its UUID, or, for a GPU NVML could
// not give the UUID of (its handle lost), its index (index is -1 when
// the UUID alone names it). Not the index alone: when a GPU is hot-removed or falls
// off the bus, NVML counts one GPU fewer and the GPUs after it take lower
// indexes, and a lost GPU's time would follow another GPU.
type lostKey struct {
	uuid  string
	index int
}

// lostKeyOf is g's lostKey among the GPUs of its sample (gpus). A UUID
// that NVML gives two GPUs of the sample names neither
// (a driver or hypervisor answering garbage): each is then known by its
// UUID and index, lest one's lost time or log state pass to the other.
func lostKeyOf(g signals.GPU, gpus []signals.GPU) lostKey {
	if g.UUID == "" {
		return lostKey{index: g.Index}
	}
	for _, o := range gpus {
		if o.UUID == g.UUID && o.Index != g.Index {
			return lostKey{uuid: g.UUID, index: g.Index}
		}
	}
	return lostKey{uuid: g.UUID, index: -1}
}

// mark sets m[i], making m first if needed.
func mark(m *map[int]bool, i int) {
	if *m == nil {
		*m = map[int]bool{}
	}
	(*m)[i] = true
}

// refresh re-enumerates the GPUs when NVML's count differs from the
// sampler's, or a device could not be opened, reopens each GPU index that
// holds another GPU than the one opened (reidentify), and initialises
// NVML again when it says it is not.
func (s *Sampler) refresh() error {
	defer s.phase.set(callNone)
	s.phase.set(callCount)
	n, ret := s.lib.DeviceGetCount()
	switch ret {
	case nv.SUCCESS:
	case nv.ERROR_UNINITIALIZED, nv.ERROR_DRIVER_NOT_LOADED:
		s.phase.set(callInit)
		if ret := s.lib.Init(); ret != nv.SUCCESS {
			return fmt.Errorf("nvml: DeviceGetCount: %w; Init again: %w", nv.ERROR_UNINITIALIZED, ret)
		}
		return s.enumerate()
	default:
		return fmt.Errorf("nvml: DeviceGetCount: %w", ret)
	}
	stale := n != len(s.devices)
	for _, d := range s.devices {
		stale = stale || d.err != nil
	}
	if stale {
		return s.enumerate()
	}
	s.reidentify()
	return nil
}

// reidentify asks NVML, for each GPU index, the handle and the UUID of the
// GPU there now, and reopens an index whose GPU is another than the one
// opened: a GPU replaced between samples (hot-swapped, or two reordered by
// a driver reload) leaves NVML's count as it was, and the handle kept
// would go on reading the GPU that was there (or answering lost) under
// its UUID, each reading served as another GPU's. Two calls a GPU, where
// opening one again takes three and a sample at least five. An index NVML
// cannot answer for now keeps what was opened: reading it says what fails.
func (s *Sampler) reidentify() {
	for i := range s.devices {
		d := &s.devices[i]
		if d.stuck() {
			continue // a call of it is stuck: its next could be too
		}
		s.phase.set(callHandle)
		h, ret := s.lib.DeviceGetHandleByIndex(d.index)
		if ret != nv.SUCCESS {
			continue
		}
		s.phase.set(callUUID)
		uuid, ret := h.GetUUID()
		switch {
		case ret != nv.SUCCESS:
		case uuid == d.uuid:
			d.handle = h
		default:
			nd, err := openDevice(s.lib, d.index, &s.phase)
			if err != nil {
				nd = device{index: d.index, err: err}
			}
			if d.w != nil {
				d.w.stop() // it read the GPU that was there
			}
			*d = nd
		}
	}
}

// unreadableGPU marks g as unread and unhealthy, with why: its NVML
// answers that it can take no job (it needs a reset, or fell off the
// bus), so it is neither busy nor idle, and no job is started on it.
func unreadableGPU(g signals.GPU, why string) signals.GPU {
	return signals.GPU{
		Node: g.Node, Index: g.Index, UUID: g.UUID, Model: g.Model,
		Unhealthy: true, Health: why,
	}
}

// unknownGPU marks g as unread: busy, never idle, with err.
func unknownGPU(g signals.GPU, err error) signals.GPU {
	return signals.GPU{
		Node: g.Node, Index: g.Index, UUID: g.UUID, Model: g.Model,
		Busy: true, Unknown: true, Error: err.Error(),
	}
}

// A ReadError is why a GPU could not be read: the NVML call that failed
// and its error, which wraps NVML's return (an nv.Return), ErrOutOfRange,
// ErrNVMLPanic or ErrSampleTimeout. /metrics counts them by Call and Code
// (MetricReadErrors), /healthz names them.
type ReadError struct {
	// Call is the NVML call, as NVML's API names it (GetMemoryInfo).
	Call string
	Err  error
}

func (e *ReadError) Error() string { return e.Err.Error() }
func (e *ReadError) Unwrap() error { return e.Err }

// Code says how the call failed, as a label of few values: NVML's return
// by its name in nvml.h (ERROR_GPU_IS_LOST), OUT_OF_RANGE, PANIC, TIMEOUT,
// NOT_COUNTED (a GPU NVML counts no longer, call DeviceGetCount), or OTHER (a return this agent does not know).
func (e *ReadError) Code() string {
	var ret nv.Return
	switch {
	case errors.Is(e.Err, ErrOutOfRange):
		return "OUT_OF_RANGE"
	case errors.Is(e.Err, ErrNVMLPanic):
		return "PANIC"
	case errors.Is(e.Err, ErrSampleTimeout):
		return "TIMEOUT"
	case errors.Is(e.Err, ErrNotCounted):
		return "NOT_COUNTED"
	case errors.As(e.Err, &ret) && returnNames[ret] != "":
		return returnNames[ret]
	}
	return "OTHER"
}

// returnNames are NVML's returns by their names in nvml.h: with the real
// library, nv.Return's Error is its description, of no bounded set.
var returnNames = map[nv.Return]string{
	nv.ERROR_UNINITIALIZED:             "ERROR_UNINITIALIZED",
	nv.ERROR_INVALID_ARGUMENT:          "ERROR_INVALID_ARGUMENT",
	nv.ERROR_NOT_SUPPORTED:             "ERROR_NOT_SUPPORTED",
	nv.ERROR_NO_PERMISSION:             "ERROR_NO_PERMISSION",
	nv.ERROR_ALREADY_INITIALIZED:       "ERROR_ALREADY_INITIALIZED",
	nv.ERROR_NOT_FOUND:                 "ERROR_NOT_FOUND",
	nv.ERROR_INSUFFICIENT_SIZE:         "ERROR_INSUFFICIENT_SIZE",
	nv.ERROR_INSUFFICIENT_POWER:        "ERROR_INSUFFICIENT_POWER",
	nv.ERROR_DRIVER_NOT_LOADED:         "ERROR_DRIVER_NOT_LOADED",
	nv.ERROR_TIMEOUT:                   "ERROR_TIMEOUT",
	nv.ERROR_IRQ_ISSUE:                 "ERROR_IRQ_ISSUE",
	nv.ERROR_LIBRARY_NOT_FOUND:         "ERROR_LIBRARY_NOT_FOUND",
	nv.ERROR_FUNCTION_NOT_FOUND:        "ERROR_FUNCTION_NOT_FOUND",
	nv.ERROR_CORRUPTED_INFOROM:         "ERROR_CORRUPTED_INFOROM",
	nv.ERROR_GPU_IS_LOST:               "ERROR_GPU_IS_LOST",
	nv.ERROR_RESET_REQUIRED:            "ERROR_RESET_REQUIRED",
	nv.ERROR_OPERATING_SYSTEM:          "ERROR_OPERATING_SYSTEM",
	nv.ERROR_LIB_RM_VERSION_MISMATCH:   "ERROR_LIB_RM_VERSION_MISMATCH",
	nv.ERROR_IN_USE:                    "ERROR_IN_USE",
	nv.ERROR_MEMORY:                    "ERROR_MEMORY",
	nv.ERROR_NO_DATA:                   "ERROR_NO_DATA",
	nv.ERROR_VGPU_ECC_NOT_SUPPORTED:    "ERROR_VGPU_ECC_NOT_SUPPORTED",
	nv.ERROR_INSUFFICIENT_RESOURCES:    "ERROR_INSUFFICIENT_RESOURCES",
	nv.ERROR_FREQ_NOT_SUPPORTED:        "ERROR_FREQ_NOT_SUPPORTED",
	nv.ERROR_ARGUMENT_VERSION_MISMATCH: "ERROR_ARGUMENT_VERSION_MISMATCH",
	nv.ERROR_DEPRECATED:                "ERROR_DEPRECATED",
	nv.ERROR_NOT_READY:                 "ERROR_NOT_READY",
	nv.ERROR_GPU_NOT_FOUND:             "ERROR_GPU_NOT_FOUND",
	nv.ERROR_INVALID_STATE:             "ERROR_INVALID_STATE",
	nv.ERROR_RESET_TYPE_NOT_SUPPORTED:  "ERROR_RESET_TYPE_NOT_SUPPORTED",
	nv.ERROR_UNKNOWN:                   "ERROR_UNKNOWN",
}

// readError is err of call.
func readError(c nvmlCall, err error) error { return &ReadError{Call: c.String(), Err: err} }

// An nvmlCall is one of the calls the sampler makes of a GPU.
type nvmlCall uint32

const (
	callNone nvmlCall = iota
	callInit
	callCount
	callHandle
	callUUID
	callName
	callMemory
	callMigMode
	callUtilization
	callProcesses
	callMaxMigDevices
	callMigDevice
	callGpuInstanceID
	callRemappedRows
	callRetiredPages
)

var callNames = [...]string{
	callNone:          "NVML",
	callInit:          "Init",
	callCount:         "DeviceGetCount",
	callHandle:        "DeviceGetHandleByIndex",
	callUUID:          "GetUUID",
	callName:          "GetName",
	callMemory:        "GetMemoryInfo",
	callMigMode:       "GetMigMode",
	callUtilization:   "GetUtilizationRates",
	callProcesses:     "GetComputeRunningProcesses",
	callMaxMigDevices: "GetMaxMigDeviceCount",
	callMigDevice:     "GetMigDeviceHandleByIndex",
	callGpuInstanceID: "GetGpuInstanceId",
	callRemappedRows:  "GetRemappedRows",
	callRetiredPages:  "GetRetiredPagesPendingStatus",
}

func (c nvmlCall) String() string {
	if int(c) < len(callNames) {
		return callNames[c]
	}
	return callNames[callNone]
}

// inCall holds the call a GPU's reading is in (or made last), for the
// error of a reading that panics or does not return.
type inCall struct{ c atomic.Uint32 }

func (i *inCall) set(c nvmlCall) { i.c.Store(uint32(c)) }
func (i *inCall) get() nvmlCall  { return nvmlCall(i.c.Load()) }

// ErrNVMLPanic is wrapped by the error of a GPU whose reading panicked
// in go-nvml (a count the driver answered past go-nvml's buffer).
var ErrNVMLPanic = errors.New("NVML call panicked")

// ErrOutOfRange is wrapped by the error of a GPU whose NVML reading is out
// of its range (utilisation above 100%, as drivers report N/A with
// 0xFFFFFFFF; memory used above memory total).
var ErrOutOfRange = errors.New("out of range")

// read reads d; noUtil says NVML does not report its utilisation (MIG),
// mig lists its GPU instances when MIG is enabled on it.
func (s *Sampler) read(d *device, at *inCall) (g signals.GPU, noUtil bool, mig []migInstance, err error) {
	g = signals.GPU{Node: s.node, Index: d.index, UUID: d.uuid, Model: d.model}
	defer func() {
		// go-nvml slices its buffers by the counts the driver answers
		// (GetComputeRunningProcesses takes infos[:count]): a count past
		// the buffer panics in the sample's goroutine, which would end
		// the agent and blind the server to every GPU of the node. That
		// GPU is unknown instead.
		if p := recover(); p != nil {
			g, noUtil, mig = signals.GPU{Node: s.node, Index: d.index, UUID: d.uuid, Model: d.model}, false, nil
			c := at.get()
			err = readError(c, fmt.Errorf("nvml: GPU %d (%s): %s panicked: %v: %w", d.index, d.uuid, c, p, ErrNVMLPanic))
		}
	}()
	if d.err != nil {
		return g, false, nil, d.err
	}
	at.set(callMemory)
	mem, ret := d.handle.GetMemoryInfo()
	if ret != nv.SUCCESS {
		return g, false, nil, readError(callMemory, fmt.Errorf("nvml: GPU %d (%s): GetMemoryInfo: %w", d.index, d.uuid, ret))
	}
	if mem.Used > mem.Total {
		return g, false, nil, readError(callMemory, fmt.Errorf("nvml: GPU %d (%s): GetMemoryInfo: %d bytes used of %d: %w", d.index, d.uuid, mem.Used, mem.Total, ErrOutOfRange))
	}
	g.MemoryUsed, g.MemoryTotal = mem.Used, mem.Total
	// Asked every sample, as MIG mode can change at runtime. The GPU's
	// memory used is then its instances', each counted once.
	migOn, mig, err := migInstances(d, at)
	if err != nil {
		return g, false, nil, err
	}
	if len(mig) > 0 {
		g.MemoryUsed = 0
		for _, m := range mig {
			g.MemoryUsed += m.memoryUsed
		}
		if g.MemoryUsed > g.MemoryTotal {
			return g, false, nil, readError(callMemory, fmt.Errorf("nvml: GPU %d (%s): its MIG instances use %d bytes of %d: %w", d.index, d.uuid, g.MemoryUsed, g.MemoryTotal, ErrOutOfRange))
		}
	}
	// Asked every sample: MIG mode can be turned off (or on) at runtime.
	at.set(callUtilization)
	u, ret := d.handle.GetUtilizationRates()
	switch ret {
	case nv.SUCCESS:
		if u.Gpu > 100 {
			return g, false, nil, readError(callUtilization, fmt.Errorf("nvml: GPU %d (%s): GetUtilizationRates: %d%%, want 0 to 100: %w", d.index, d.uuid, u.Gpu, ErrOutOfRange))
		}
		g.Utilization = float64(u.Gpu)
	case nv.ERROR_NOT_SUPPORTED:
		noUtil = true
	default:
		return g, false, nil, readError(callUtilization, fmt.Errorf("nvml: GPU %d (%s): GetUtilizationRates: %w", d.index, d.uuid, ret))
	}
	at.set(callProcesses)
	procs, ret := d.handle.GetComputeRunningProcesses()
	if ret != nv.SUCCESS {
		return g, false, nil, readError(callProcesses, fmt.Errorf("nvml: GPU %d (%s): GetComputeRunningProcesses: %w", d.index, d.uuid, ret))
	}
	if len(procs) > MaxProcesses {
		return g, false, nil, readError(callProcesses, fmt.Errorf("nvml: GPU %d (%s): GetComputeRunningProcesses: %d processes, want 0 to %d: %w", d.index, d.uuid, len(procs), MaxProcesses, ErrOutOfRange))
	}
	g.Processes = len(procs)
	g.Allocated = g.Processes > 0
	g.Health = health(d, at)
	if g.Health == "" && migOn && len(mig) == 0 {
		g.Health = noGPUInstance(d)
	}
	g.Unhealthy = g.Health != ""
	// Without a utilisation reading the GPU is never called idle (that
	// would report waste nobody saw); busy then follows its processes.
	computing := !noUtil && g.Utilization >= s.thresholds.BusyUtil
	g.Idle = !noUtil && !computing
	g.Busy = computing || (s.thresholds.BusyProcesses > 0 && g.Processes >= s.thresholds.BusyProcesses)
	return g, noUtil, mig, nil
}

// MaxMIGDevices bounds the MIG devices NVML reports for a GPU (7 GPU
// instances on an A100 or H100, each of up to 7 compute instances).
const MaxMIGDevices = 64

// migInstances says whether MIG is enabled on d (false too when NVML
// cannot tell: a GPU without MIG answers ERROR_NOT_SUPPORTED) and reads its
// GPU instances when it is. NVML lists MIG devices, one per compute
// instance; the compute instances of one GPU instance share its memory and
// report it each, so each GPU instance is read once.
func migInstances(d *device, at *inCall) (enabled bool, out []migInstance, err error) {
	at.set(callMigMode)
	mode, _, ret := d.handle.GetMigMode()
	if ret != nv.SUCCESS || mode != nv.DEVICE_MIG_ENABLE {
		return false, nil, nil
	}
	at.set(callMaxMigDevices)
	n, ret := d.handle.GetMaxMigDeviceCount()
	if ret != nv.SUCCESS {
		return true, nil, readError(callMaxMigDevices, fmt.Errorf("nvml: GPU %d (%s): GetMaxMigDeviceCount: %w", d.index, d.uuid, ret))
	}
	if n < 0 || n > MaxMIGDevices {
		return true, nil, readError(callMaxMigDevices, fmt.Errorf("nvml: GPU %d (%s): GetMaxMigDeviceCount: %d, want 0 to %d: %w", d.index, d.uuid, n, MaxMIGDevices, ErrOutOfRange))
	}
	for i := range n {
		at.set(callMigDevice)
		h, ret := d.handle.GetMigDeviceHandleByIndex(i)
		if ret == nv.ERROR_NOT_FOUND {
			continue // no MIG device in this place
		}
		if ret != nv.SUCCESS {
			return true, nil, readError(callMigDevice, fmt.Errorf("nvml: GPU %d (%s): GetMigDeviceHandleByIndex(%d): %w", d.index, d.uuid, i, ret))
		}
		at.set(callGpuInstanceID)
		id, ret := h.GetGpuInstanceId()
		if ret != nv.SUCCESS {
			return true, nil, readError(callGpuInstanceID, fmt.Errorf("nvml: GPU %d (%s): MIG device %d: GetGpuInstanceId: %w", d.index, d.uuid, i, ret))
		}
		if slices.ContainsFunc(out, func(m migInstance) bool { return m.id == id }) {
			continue // another compute instance of a GPU instance read
		}
		at.set(callMemory)
		mem, ret := h.GetMemoryInfo()
		if ret != nv.SUCCESS {
			return true, nil, readError(callMemory, fmt.Errorf("nvml: GPU %d (%s): MIG device %d: GetMemoryInfo: %w", d.index, d.uuid, i, ret))
		}
		if mem.Used > mem.Total {
			return true, nil, readError(callMemory, fmt.Errorf("nvml: GPU %d (%s): MIG device %d: GetMemoryInfo: %d bytes used of %d: %w", d.index, d.uuid, i, mem.Used, mem.Total, ErrOutOfRange))
		}
		out = append(out, migInstance{id: id, memoryUsed: mem.Used})
	}
	slices.SortFunc(out, func(a, b migInstance) int { return a.id - b.id })
	return true, out, nil
}

// noGPUInstance says why a GPU with MIG enabled and no GPU instance takes
// no job: a job runs in a GPU instance, and none is there, nor can a job
// have the GPU whole while MIG is on. GPU instances do not outlive a
// reboot or a GPU reset, while MIG mode does: this is how a MIG node
// comes back until its instances are made again.
func noGPUInstance(d *device) string {
	return fmt.Sprintf("nvml: GPU %d (%s): MIG is enabled and no GPU instance is created, so no job can run on it: create its GPU instances (nvidia-smi mig -i %d -cgi PROFILES -C) or turn MIG off (nvidia-smi -i %d -mig 0)", d.index, d.uuid, d.index, d.index)
}

// health says why NVML reports d's memory broken, or "": healthy, or NVML
// cannot tell (the call fails or is not supported), since a GPU taken for
// broken has its instance ended, which needs NVML's word. From Ampere on,
// a GPU remaps rows of bad memory: a remapping pending needs a reset of
// the GPU, a failed one its repair; before, it retires pages, and pages
// pending retirement need a reset.
func health(d *device, at *inCall) string {
	at.set(callRemappedRows)
	_, _, pending, failed, ret := d.handle.GetRemappedRows()
	switch {
	case ret == nv.SUCCESS && failed:
		return fmt.Sprintf("nvml: GPU %d (%s): GetRemappedRows: a row remapping failed: the GPU needs repair", d.index, d.uuid)
	case ret == nv.SUCCESS && pending:
		return fmt.Sprintf("nvml: GPU %d (%s): GetRemappedRows: a row remapping is pending: the GPU needs a reset", d.index, d.uuid)
	case ret != nv.ERROR_NOT_SUPPORTED:
		return ""
	}
	at.set(callRetiredPages)
	if st, ret := d.handle.GetRetiredPagesPendingStatus(); ret == nv.SUCCESS && st == nv.FEATURE_ENABLED {
		return fmt.Sprintf("nvml: GPU %d (%s): GetRetiredPagesPendingStatus: retired pages pending: the GPU needs a reset", d.index, d.uuid)
	}
	return ""
}

// String is f as /healthz says it after the GPU's index: " (CALL
// ERROR)", or "" for no failure.
func (f readFailure) String() string {
	if f == (readFailure{}) {
		return ""
	}
	return " (" + f.call + " " + f.code + ")"
}
