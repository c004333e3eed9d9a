package nvml

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/internal/connlimit"
	"github.com/spillway-io/spillway/signals"
)

// Metric names the agent serves. Per-GPU series carry dcgm-exporter's label
// names (gpu, UUID, modelName, Hostname), so that a query can join or
// replace DCGM_FI_DEV_GPU_UTIL with spillway_gpu_utilization_ratio × 100.
const (
	MetricUtilization     = "spillway_gpu_utilization_ratio"
	MetricBusy            = "spillway_gpu_busy"
	MetricAllocated       = "spillway_gpu_allocated"
	MetricIdleAllocated   = "spillway_gpu_idle_allocated"
	MetricMemoryUsed      = "spillway_gpu_memory_used_bytes"
	MetricMemoryTotal     = "spillway_gpu_memory_total_bytes"
	MetricProcesses       = "spillway_gpu_compute_processes"
	MetricUnknown         = "spillway_gpu_unknown"
	MetricUnhealthy       = "spillway_gpu_unhealthy"
	MetricSampleDuration  = "spillway_agent_sample_duration_seconds"
	MetricLastSample      = "spillway_agent_last_sample_timestamp_seconds"
	MetricSampleErrors    = "spillway_agent_sample_errors_total"
	MetricBusyThreshold   = "spillway_agent_busy_utilization_threshold_ratio"
	MetricReadErrors      = "spillway_gpu_read_errors_total"
	MetricStuckSince      = "spillway_agent_sample_stuck_since_timestamp_seconds"
	labelGPU, labelUUID   = "gpu", "UUID"
	labelModel, labelHost = "modelName", "Hostname"
	// labelMIG is dcgm-exporter's label of a MIG GPU instance's series
	// (its GPU instance ID); empty, and so absent in Prometheus, for a
	// GPU not split.
	labelMIG = "GPU_I_ID"
	// labelCall and labelError are MetricReadErrors' NVML call and how
	// it failed (ReadError.Code).
	labelCall, labelError = "call", "error"
)

var gpuLabels = []string{labelGPU, labelUUID, labelModel, labelHost}

var (
	descUtil      = prometheus.NewDesc(MetricUtilization, "GPU utilisation as a ratio (0-1), as NVML GetUtilizationRates reports it; absent for a GPU whose utilisation NVML does not report (MIG mode).", gpuLabels, nil)
	descBusy      = prometheus.NewDesc(MetricBusy, "1 when the GPU is busy: utilisation or compute processes at or above the agent's thresholds.", gpuLabels, nil)
	descAllocated = prometheus.NewDesc(MetricAllocated, "1 when a compute process holds the GPU.", gpuLabels, nil)
	descIdleAlloc = prometheus.NewDesc(MetricIdleAllocated, "1 when a compute process holds the GPU but it computes below the busy threshold (waste).", gpuLabels, nil)
	descMemUsed   = prometheus.NewDesc(MetricMemoryUsed, "GPU framebuffer memory in use, in bytes; for a GPU split by MIG, one series per GPU instance (GPU_I_ID), its own memory, and none for the GPU whole, which holds the same bytes: a sum by UUID counts them once.", append(slices.Clone(gpuLabels), labelMIG), nil)
	descMemTotal  = prometheus.NewDesc(MetricMemoryTotal, "GPU framebuffer memory in total, in bytes.", gpuLabels, nil)
	descProcs     = prometheus.NewDesc(MetricProcesses, "Compute processes running on the GPU.", gpuLabels, nil)
	descUnknown   = prometheus.NewDesc(MetricUnknown, "1 when the agent could not read the GPU in its latest sample (an NVML call failed or timed out, or answered a value out of range): it is then reported busy, never idle, and has no utilisation or memory series; /healthz says why.", gpuLabels, nil)
	descUnhealthy = prometheus.NewDesc(MetricUnhealthy, "1 when NVML reports the GPU broken: its memory (a row remapping failed, or a row remapping or page retirement is pending), a reset required (ERROR_RESET_REQUIRED), or fallen off the bus (ERROR_GPU_IS_LOST, or no longer counted by NVML, in every sample for a minute), or wedged (an NVML call of it, or of the sample counting or opening the node's GPUs, stuck in the driver for a minute), then no other series of it; or MIG enabled with no GPU instance created, where no job can run: it takes no new job; /healthz says why.", gpuLabels, nil)
	descReadErrs  = prometheus.NewDesc(MetricReadErrors, "Samples in which the agent could not read the GPU, by the NVML call that failed (call: GetMemoryInfo, GetUtilizationRates, GetComputeRunningProcesses, …) and how (error: NVML's return as nvml.h names it, such as ERROR_GPU_IS_LOST, or OUT_OF_RANGE, PANIC, TIMEOUT, OTHER; NOT_COUNTED of DeviceGetCount for a GPU counted before and no longer); the GPU is unknown or unhealthy in those samples. At most 1024 series and one more per GPU index: past them, a failure not counted yet counts under call and error OTHER, UUID and modelName empty, in its GPU index's series.", append(slices.Clone(gpuLabels), labelCall, labelError), nil)
	descStuck     = prometheus.NewDesc(MetricStuckSince, "Unix time since which the agent's sample has been stuck in the NVML call named (call: DeviceGetCount, DeviceGetHandleByIndex, …) counting or opening the node's GPUs; absent while none is. Stuck for a minute, the driver is wedged and every GPU is unhealthy.", []string{labelHost, labelCall}, nil)
	descLast      = prometheus.NewDesc(MetricLastSample, "Unix time of the last successful sample.", []string{labelHost}, nil)
	descThreshold = prometheus.NewDesc(MetricBusyThreshold, "Utilisation ratio from which a GPU counts as busy.", []string{labelHost}, nil)
)

// Agent samples a node's GPUs on an interval and serves the latest sample.
type Agent struct {
	sampler  *Sampler
	interval time.Duration
	log      *slog.Logger
	clock    clock.WithTicker

	// turn lets one sample run at a time (a token in a channel, so that
	// waiting for it can be bounded): the sampler keeps the devices it
	// opened, and a slower sample finishing second would otherwise replace
	// a newer one.
	turn chan struct{}
	// timeout bounds how long a sample may take, waiting for its turn
	// included: NVML calls cannot be cancelled, and one stuck in the
	// driver would otherwise leave the last good sample served, and
	// /healthz ok, for ever.
	timeout time.Duration

	mu      sync.RWMutex
	last    Sample
	err     error
	attempt uint64 // counts samples started, so that a late one's result is told from a newer's
	// sampling is when the sample holding the turn began (zero when
	// none does): a sample stuck counting or opening the GPUs has been
	// stuck since.
	sampling time.Time
	// opened holds the GPUs the sampler had opened when the agent was
	// made: while no sample has been taken (the first stuck counting or
	// opening the GPUs), these are what is served, unknown, then
	// unhealthy once the sample has been stuck for LostAfter.
	opened []signals.GPU
	// readErrs counts, by GPU, call and error, the samples in which
	// reading a GPU failed (MetricReadErrors); at most maxReadErrorSeries.
	readErrs map[readErrKey]uint64

	registry *prometheus.Registry
	duration prometheus.Histogram
	errors   prometheus.Counter

	// machine names the machine the agent runs on, in /v1/gpus
	// (WithMachine; MachineID by default).
	machine string
}

// AgentOption configures an Agent.
type AgentOption func(*Agent)

// WithInterval sets the sampling interval (one second otherwise).
func WithInterval(d time.Duration) AgentOption { return func(a *Agent) { a.interval = d } }

// DefaultSampleTimeout is the longest a sample may take by default.
const DefaultSampleTimeout = 10 * time.Second

// WithSampleTimeout sets the longest a sample may take (DefaultSampleTimeout
// otherwise); past it, the sample counts as failed while it goes on.
func WithSampleTimeout(d time.Duration) AgentOption { return func(a *Agent) { a.timeout = d } }

// WithMachine sets the machine the agent says it runs on, in /v1/gpus'
// machine (MachineID() otherwise; "" says nothing).
func WithMachine(id string) AgentOption { return func(a *Agent) { a.machine = id } }

// bootIDFile holds the Linux kernel's random id of the current boot.
const bootIDFile = "/proc/sys/kernel/random/boot_id"

// MachineID names the machine the agent runs on: a hash of the kernel's
// boot id, random at each boot ("" where there is none). Two paths to one
// agent, or two agents of one machine, give the same; two machines give
// two, even of one --node name and cloned GPU UUIDs (VMs of one image),
// where /etc/machine-id is often cloned too. The server tells nodes apart
// by it. Hashed, the boot id itself is not served.
func MachineID() string {
	b, err := os.ReadFile(bootIDFile)
	id := strings.TrimSpace(string(b))
	if err != nil || id == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("spillway machine\x00" + id))
	return hex.EncodeToString(sum[:16])
}

// WithLogger sets the logger (silent otherwise).
func WithLogger(l *slog.Logger) AgentOption { return func(a *Agent) { a.log = l } }

// WithAgentClock sets the clock Run ticks on and sample durations are
// measured with (clock.RealClock{} otherwise); tests pass a fake one. The
// sampler's own clock (WithClock) stamps the samples.
func WithAgentClock(c clock.WithTicker) AgentOption { return func(a *Agent) { a.clock = c } }

// NewAgent wraps a sampler. Call Run to sample, Handler to serve.
func NewAgent(s *Sampler, opts ...AgentOption) *Agent {
	a := &Agent{
		sampler:  s,
		interval: time.Second,
		timeout:  DefaultSampleTimeout,
		turn:     make(chan struct{}, 1),
		log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		clock:    clock.RealClock{},
		machine:  MachineID(),
		registry: prometheus.NewRegistry(),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    MetricSampleDuration,
			Help:    "Time to read every GPU of the node once through NVML.",
			Buckets: []float64{1e-5, 1e-4, 1e-3, .005, .01, .05, .1, .5, 1},
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: MetricSampleErrors,
			Help: "Samples that failed (the last good sample is kept and served).",
		}),
	}
	for _, o := range opts {
		o(a)
	}
	if _, opening := s.stillOpening(); !opening { // else none opened yet, and s.devices is the opening's
		for _, d := range s.devices {
			a.opened = append(a.opened, signals.GPU{Node: s.node, Index: d.index, UUID: d.uuid, Model: d.model})
		}
	}
	a.log = a.log.WithGroup("agent")
	a.registry.MustRegister(a.duration, a.errors, (*gpuCollector)(a))
	return a
}

// ErrSampleTimeout is wrapped by the error of a sample that did not finish
// within the agent's sample timeout: an NVML call is stuck in the driver.
var ErrSampleTimeout = errors.New("sample timed out")

// A StuckCallError is the error of a sample stuck counting or opening
// the node's GPUs (DeviceGetCount, DeviceGetHandleByIndex, …, hung in the
// driver): no GPU can be read meanwhile. It wraps ErrSampleTimeout.
// Stuck for LostAfter or more, the driver is wedged (Wedged): every GPU
// of the node is then served unhealthy, not unknown, as a GPU whose own
// call is stuck that long is.
type StuckCallError struct {
	// Call is the NVML call the sample is in, as NVML's API names it.
	Call string
	// Since is when the sample began (StartSampler's opening, for a
	// sample waiting on it); Wedged is set once that is LostAfter or
	// more ago.
	Since  time.Time
	Wedged bool
}

func (e *StuckCallError) Error() string {
	msg := fmt.Sprintf("nvml: %s has not returned since %s", e.Call, e.Since.UTC().Format(time.RFC3339))
	if e.Wedged {
		msg += fmt.Sprintf(" (%s or more): the driver is wedged and no GPU of the node can be read; the node needs a reboot", LostAfter)
	}
	return msg + ": " + ErrSampleTimeout.Error()
}

func (e *StuckCallError) Unwrap() error { return ErrSampleTimeout }

// stuckSample is the error of the sample holding the turn, stuck counting
// or opening the GPUs; what says, when no sample holds it (Close has
// taken it), what is stuck.
func (a *Agent) stuckSample(what string) error {
	a.mu.RLock()
	since := a.sampling
	a.mu.RUnlock()
	if since.IsZero() {
		return fmt.Errorf("nvml: %s after %s: %w", what, a.timeout, ErrSampleTimeout)
	}
	return &StuckCallError{Call: a.sampler.phase.get().String(), Since: since, Wedged: a.clock.Since(since) >= LostAfter}
}

// SampleOnce takes one sample and makes it the one served. It returns
// within the sample timeout. Once the GPUs are counted and opened, each is
// read on its own: a GPU whose reading has not returned then (an NVML call
// of it stuck in the driver) is served unknown, its error naming the call
// and wrapping ErrSampleTimeout, the others as read, and that GPU is not
// read again until the call returns. A sample stuck before (counting the
// GPUs, opening them) is left to finish on its own (its result is served
// if no newer attempt was made), and SampleOnce returns a StuckCallError
// naming the call and since when, which is what /healthz and /v1/gpus say
// until a sample succeeds: every GPU unknown, and unhealthy once the
// call has been stuck for LostAfter.
func (a *Agent) SampleOnce(ctx context.Context) error {
	timer := a.clock.NewTimer(a.timeout)
	defer timer.Stop()
	begin := a.clock.Now()
	select {
	case a.turn <- struct{}{}:
	case <-timer.C():
		return a.fail(a.stuckSample("the previous sample is still inside NVML"))
	case <-ctx.Done():
		return ctx.Err()
	}
	a.mu.Lock()
	a.attempt++
	attempt := a.attempt
	a.sampling = a.clock.Now()
	if since, ok := a.sampler.stillOpening(); ok && since.Before(a.sampling) {
		a.sampling = since // the sample waits for StartSampler's opening, stuck since
	}
	a.mu.Unlock()
	done := make(chan error, 1)
	giveUp, reading := make(chan struct{}), make(chan struct{})
	go func() {
		defer func() { <-a.turn }()
		s, err := a.sampler.sample(ctx, giveUp, func() { close(reading) })
		a.duration.Observe(a.clock.Since(begin).Seconds())
		a.mu.Lock()
		defer a.mu.Unlock()
		a.sampling = time.Time{}
		switch {
		case err != nil && ctx.Err() != nil:
			// Cancelled, not failed: what is served stays.
		case err != nil && attempt == a.attempt:
			a.errors.Inc()
			a.err = err
		case err == nil && attempt == a.attempt:
			a.last, a.err = s, nil
		}
		if err == nil {
			a.countReadErrors(s)
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-timer.C():
		close(giveUp)
		select {
		case <-reading:
			// The GPUs are being read: the sampler returns at once,
			// each GPU whose reading is stuck unknown, the others
			// as read.
			return <-done
		default:
		}
		return a.fail(a.stuckSample("no answer"))
	case <-ctx.Done():
		return ctx.Err()
	}
}

// readErrKey is one series of MetricReadErrors.
type readErrKey struct {
	index       int
	uuid, model string
	readFailure
}

// maxReadErrorSeries bounds MetricReadErrors' series: past it, a GPU's
// failures of a call and error not counted yet count under call and
// error OTHER in one series of its index, its UUID and model left empty
// (a GPU whose UUID NVML answers anew each sample would otherwise add a
// series each sample), one more series a GPU index at most.
const maxReadErrorSeries = 1024

// otherFailure labels the failures past maxReadErrorSeries.
var otherFailure = readFailure{call: "OTHER", code: "OTHER"}

// countReadErrors counts s's failed GPUs; a.mu is held.
func (a *Agent) countReadErrors(s Sample) {
	for _, g := range s.GPUs {
		f, ok := s.failed[g.Index]
		if !ok {
			continue
		}
		k := readErrKey{index: g.Index, uuid: g.UUID, model: g.Model, readFailure: f}
		if _, ok := a.readErrs[k]; !ok && len(a.readErrs) >= maxReadErrorSeries {
			k = readErrKey{index: g.Index, readFailure: otherFailure}
		}
		if a.readErrs == nil {
			a.readErrs = map[readErrKey]uint64{}
		}
		a.readErrs[k]++
	}
}

// fail records err as the latest attempt's.
func (a *Agent) fail(err error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.errors.Inc()
	a.attempt++ // a sample still inside NVML no longer replaces what is served
	a.err = err
	return err
}

// Wait waits for a sample still inside NVML to finish, and every GPU's
// reading stuck in it to return, or ctx to end.
func (a *Agent) Wait(ctx context.Context) error {
	select {
	case a.turn <- struct{}{}:
		<-a.turn
	case <-ctx.Done():
		return ctx.Err()
	}
	return a.sampler.WaitReads(ctx)
}

// Close shuts NVML down once no sample is inside it: NVML's Shutdown while
// a call of a stuck sample is still in the driver would free what that
// call is using. It waits for such a sample until ctx ends, and then
// leaves NVML as it is (the process exiting releases it) and returns an
// error wrapping ErrSampleTimeout. No sample starts after Close: call it
// once Run has returned.
func (a *Agent) Close(ctx context.Context) error {
	select {
	case a.turn <- struct{}{}: // kept: no sample after this one
	case <-ctx.Done():
		return fmt.Errorf("nvml: not shut down: a sample is still inside NVML (%w): %w", ErrSampleTimeout, ctx.Err())
	}
	if err := a.sampler.WaitReads(ctx); err != nil {
		<-a.turn
		return fmt.Errorf("nvml: not shut down: a GPU's reading is still inside NVML (%w): %w", ErrSampleTimeout, err)
	}
	return a.sampler.Close()
}

// Run samples at once and then every interval until ctx ends. A failed
// sample is logged (once for as long as the error stays the same: NVML not
// ready at boot fails every sample) and the last good one stays served;
// the sample time tells readers how old it is. A GPU is logged when it
// becomes unknown or unhealthy (its call stuck, lost, …), when how it is
// so changes (unknown to unhealthy, another call failing) and when it is
// read again, not once a sample.
func (a *Agent) Run(ctx context.Context) error {
	t := a.clock.NewTicker(a.interval)
	defer t.Stop()
	said := ""
	gpus := map[lostKey]gpuState{}
	for {
		err := a.SampleOnce(ctx)
		switch {
		case ctx.Err() != nil:
		case err != nil && err.Error() != said:
			said = err.Error()
			a.log.Warn("sample failed; said again only when the error changes", "node", a.sampler.Node(), "err", err)
		case err == nil && said != "":
			said = ""
			a.log.Info("sampling again", "node", a.sampler.Node())
		}
		if err == nil && ctx.Err() == nil {
			s, _ := a.Last()
			a.sayGPUs(gpus, s)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
}

// gpuState is how Run last said a GPU was: zero while read and healthy;
// else unknown or unhealthy, and the call that failed and how (none for a
// GPU unhealthy as read: its memory broken, MIG without GPU instances).
type gpuState struct {
	unhealthy, unknown bool
	readFailure
}

// sayGPUs logs each GPU of s whose state differs from what said holds
// (by GPU), and keeps its state there: a GPU is said unknown or unhealthy
// once, and said again when that changes or it is read again. It
// forgets the GPUs no longer in s.
func (a *Agent) sayGPUs(said map[lostKey]gpuState, s Sample) {
	seen := make(map[lostKey]bool, len(s.GPUs))
	for _, g := range s.GPUs {
		k := lostKeyOf(g, s.GPUs)
		seen[k] = true
		now := gpuState{unhealthy: g.Unhealthy, unknown: g.Unknown}
		if now.unhealthy || now.unknown {
			now.readFailure = s.failed[g.Index]
		}
		was := said[k]
		if now == was {
			continue
		}
		attrs := []any{"node", s.Node, "gpu", g.Index, "uuid", g.UUID}
		if now.call != "" {
			attrs = append(attrs, "call", now.call, "error", now.code)
		}
		switch {
		case now.unknown:
			a.log.Warn("GPU unknown, counted busy; said again when that changes", append(attrs, "err", g.Error)...)
		case now.unhealthy:
			a.log.Error("GPU unhealthy, it takes no job; said again when that changes", append(attrs, "why", g.Health)...)
		default:
			a.log.Info("GPU read again", attrs...)
		}
		if now == (gpuState{}) {
			delete(said, k)
		} else {
			said[k] = now
		}
	}
	for k := range said {
		if !seen[k] {
			delete(said, k)
		}
	}
}

// Last returns the latest good sample (zero before the first) and the
// error of the latest attempt, if it failed.
func (a *Agent) Last() (Sample, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.last, a.err
}

// Served is what /v1/gpus and /metrics show: the latest good sample, and,
// when the latest attempt failed or timed out, that sample with every GPU
// marked unknown (busy, never idle) and the attempt's error; every GPU
// unhealthy (neither busy nor idle) when the attempt is stuck counting or
// opening the GPUs for LostAfter or more (StuckCallError.Wedged). While
// no sample has been taken and the first is so stuck, the GPUs opened when
// the agent was made are served so, stamped with the time the sample
// began.
func (a *Agent) Served() Sample {
	s, err := a.Last()
	var stuck *StuckCallError
	if s.Time.IsZero() && errors.As(err, &stuck) && len(a.opened) > 0 {
		s = Sample{Node: a.sampler.Node(), Time: stuck.Since, GPUs: a.opened}
	}
	if err == nil || s.Time.IsZero() {
		return s
	}
	out := s
	out.Error = err.Error()
	out.noUtil, out.unread, out.mig, out.failed = nil, nil, nil, nil
	out.GPUs = make([]signals.GPU, len(s.GPUs))
	wedged := errors.As(err, &stuck) && stuck.Wedged
	for i, g := range s.GPUs {
		out.GPUs[i] = unknownGPU(g, err)
		if wedged {
			out.GPUs[i] = unreadableGPU(g, err.Error())
			mark(&out.unread, g.Index)
			if out.failed == nil {
				out.failed = map[int]readFailure{}
			}
			out.failed[g.Index] = readFailure{call: stuck.Call, code: "TIMEOUT"}
		}
	}
	return out
}

// Handler serves /metrics (Prometheus text format), /v1/gpus (the latest
// Sample as JSON), /healthz (the node's GPUs: every one read and healthy),
// /livez (the agent serves) and /readyz (NVML answers).
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /v1/gpus", a.serveGPUs)
	mux.HandleFunc("GET /healthz", a.serveHealth)
	mux.HandleFunc("GET /livez", serveLive)
	mux.HandleFunc("GET /readyz", a.serveReady)
	return mux
}

// serveLive answers 200 "ok" whatever the GPUs and NVML: a liveness probe
// restarts the agent when it fails, and a restart mends no GPU (a GPU
// unhealthy or unknown, or NVML not ready, stays so) while it blinds
// the server to the node for the restart's time.
func serveLive(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") }

// serveReady answers 200 "ok" while the latest sample succeeded: NVML
// answers and /v1/gpus serves a live reading, whatever it says of each GPU
// (unknown and unhealthy GPUs are in it, said as such: /healthz names
// them). It answers 503 with the reason before the first sample, while
// NVML is not ready (the driver not loaded), and while samples fail or
// time out.
func (a *Agent) serveReady(w http.ResponseWriter, _ *http.Request) {
	if _, ok := a.sampled(w); ok {
		io.WriteString(w, "ok\n")
	}
}

// sampled returns the latest sample when it succeeded; otherwise it
// answers 503 with the reason (the sample failed, or there is none yet)
// and returns false.
func (a *Agent) sampled(w http.ResponseWriter) (Sample, bool) {
	s, err := a.Last()
	switch {
	case err != nil:
		http.Error(w, "sample failed: "+err.Error(), http.StatusServiceUnavailable)
		return s, false
	case s.Time.IsZero():
		http.Error(w, "no sample yet", http.StatusServiceUnavailable)
		return s, false
	}
	return s, true
}

// serveHealth answers 200 "ok" while the latest sample succeeded and read
// every GPU, and 503 with the reason otherwise: the sample failed or timed
// out (the driver went away, an NVML call is stuck; /v1/gpus and /metrics
// then serve the last good sample with every GPU unknown), or some GPU
// could not be read (fallen off the bus, a value out of range; that GPU is
// unknown, the others are served as read) or is unhealthy (NVML reports
// it broken). Before the first sample it answers 503 too. It says how the
// node's GPUs are, for people and alerts; it is no probe of the agent
// (/livez, /readyz).
func (a *Agent) serveHealth(w http.ResponseWriter, _ *http.Request) {
	if s := a.Served(); len(s.failed) > 0 && s.Error != "" {
		// Stuck counting or opening the GPUs for LostAfter: each GPU
		// is unhealthy, said as a GPU's own stuck call is.
		var b strings.Builder
		fmt.Fprintf(&b, "sample failed: %s\n", s.Error)
		for _, g := range s.GPUs {
			fmt.Fprintf(&b, "GPU %d unhealthy%s: %s\n", g.Index, s.failed[g.Index], g.Health)
		}
		http.Error(w, strings.TrimSuffix(b.String(), "\n"), http.StatusServiceUnavailable)
		return
	}
	s, ok := a.sampled(w)
	switch {
	case !ok:
	case len(s.GPUs) == 0:
		// The agent runs on a GPU node: none counted is a driver that
		// lost them all, not a node idle.
		http.Error(w, "NVML counts no GPU on this node (DeviceGetCount answers 0): the driver sees none of its GPUs; check nvidia-smi and the kernel log", http.StatusServiceUnavailable)
	case len(s.Unknown()) > 0 || slices.ContainsFunc(s.GPUs, func(g signals.GPU) bool { return g.Unhealthy }):
		var b strings.Builder
		for _, g := range s.GPUs {
			switch {
			case g.Unknown:
				fmt.Fprintf(&b, "GPU %d unknown%s: %s\n", g.Index, s.failed[g.Index], g.Error)
			case g.Unhealthy:
				fmt.Fprintf(&b, "GPU %d unhealthy%s: %s\n", g.Index, s.failed[g.Index], g.Health)
			}
		}
		http.Error(w, strings.TrimSuffix(b.String(), "\n"), http.StatusServiceUnavailable)
	default:
		io.WriteString(w, "ok\n")
	}
}

// ServerLimits bound what clients may hold of the agent's HTTP server.
type ServerLimits struct {
	// ReadHeader is the longest a client may take to send a request's
	// headers, Read the whole request, Write the response.
	ReadHeader, Read, Write time.Duration
	// Idle is the longest a keep-alive connection is kept between two
	// requests.
	Idle time.Duration
	// Conns is the most connections the server holds open at once;
	// when every place is taken, a further client takes the place of
	// the oldest connection silent since it was accepted a second ago
	// or more, else of the connection idle longest between two
	// requests, else of the oldest connection stalled in its first
	// request's headers from the address holding the most places; a
	// client whose address holds such a stalled connection is closed
	// at once; otherwise it waits in the kernel's listen queue while
	// every connection is in a request or has just been accepted
	// (internal/connlimit). Below 1, DefaultServerLimits.Conns.
	Conns int
}

// DefaultServerLimits are the agent's: a scraper asks every few seconds,
// sends no body, and reads a few KiB; a node has a handful of scrapers
// (Prometheus, the Spillway server, a probe), not 64.
var DefaultServerLimits = ServerLimits{ReadHeader: 5 * time.Second, Read: 10 * time.Second, Write: 10 * time.Second, Idle: 30 * time.Second, Conns: 64}

// Server is the agent's HTTP server: Handler within ServerLimits, so that
// clients that connect and go quiet, send slowly or never read hold a
// connection only for so long, and clients that open many connections
// hold only so many file descriptors.
type Server struct {
	http  *http.Server
	conns int
}

// Server returns an HTTP server for Handler within l. Serve it on a
// listener with Serve, which applies l.Conns.
func (a *Agent) Server(l ServerLimits) *Server {
	if l.Conns < 1 {
		l.Conns = DefaultServerLimits.Conns
	}
	return &Server{
		http: &http.Server{
			Handler:           a.Handler(),
			ReadHeaderTimeout: l.ReadHeader,
			ReadTimeout:       l.Read,
			WriteTimeout:      l.Write,
			IdleTimeout:       l.Idle,
		},
		conns: l.Conns,
	}
}

// Serve accepts connections on ln, at most the limits' Conns at once
// (who gives way when every one is taken: ServerLimits.Conns), until
// Shutdown or Close; it then returns http.ErrServerClosed.
func (s *Server) Serve(ln net.Listener) error {
	cl := connlimit.New(ln, s.conns)
	s.http.ConnState = cl.ConnState
	return s.http.Serve(cl)
}

// Shutdown stops accepting, waits for the requests in flight to finish
// (or ctx to end) and closes every connection; see http.Server.Shutdown.
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }

// Close closes the listener and every connection at once.
func (s *Server) Close() error { return s.http.Close() }

func (a *Agent) serveGPUs(w http.ResponseWriter, r *http.Request) {
	_, err := a.Last()
	s := a.Served()
	w.Header().Set("Content-Type", "application/json")
	if s.Time.IsZero() {
		w.WriteHeader(http.StatusServiceUnavailable)
		ns := noSample(a.sampler.Node(), err)
		ns.Machine = a.machine
		json.NewEncoder(w).Encode(ns)
		return
	}
	s.Machine = a.machine
	json.NewEncoder(w).Encode(s)
}

// NoSample is /v1/gpus's body, with 503, while the agent has no sample to
// serve: no sample taken yet, or every one failed before any GPU was
// opened.
type NoSample struct {
	Error string `json:"error"`
	Node  string `json:"node"`
	// Machine is the agent's machine (MachineID), as in a Sample.
	Machine string `json:"machine,omitempty"`
	// WedgedSince is set when the agent judges its driver wedged before
	// it could open any GPU (a StuckCallError, Wedged: Init,
	// DeviceGetCount or DeviceGetHandleByIndex stuck for LostAfter or
	// more at start): no GPU is listed to mark unhealthy, so the node is
	// said to be so here, since the stuck call began.
	WedgedSince time.Time `json:"wedged_since,omitzero"`
}

// noSample is the NoSample of node whose latest attempt failed with err
// (nil: none made yet).
func noSample(node string, err error) NoSample {
	out := NoSample{Error: "no sample taken yet", Node: node}
	if err == nil {
		return out
	}
	out.Error = err.Error()
	if stuck, ok := errors.AsType[*StuckCallError](err); ok && stuck.Wedged {
		out.WedgedSince = stuck.Since
	}
	return out
}

// gpuCollector exposes the latest sample as const metrics, so that one
// scrape always shows one consistent sample.
type gpuCollector Agent

func (c *gpuCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descStuck, descUtil, descBusy, descAllocated, descIdleAlloc, descMemUsed, descMemTotal, descProcs, descUnknown, descUnhealthy, descReadErrs, descLast, descThreshold} {
		ch <- d
	}
}

func (c *gpuCollector) Collect(ch chan<- prometheus.Metric) {
	a := (*Agent)(c)
	s := a.Served()
	host := a.sampler.Node()
	ch <- prometheus.MustNewConstMetric(descThreshold, prometheus.GaugeValue, a.sampler.thresholds.BusyUtil/100, host)
	a.mu.RLock()
	var stuck *StuckCallError
	if errors.As(a.err, &stuck) {
		ch <- prometheus.MustNewConstMetric(descStuck, prometheus.GaugeValue, float64(stuck.Since.UnixNano())/1e9, host, stuck.Call)
	}
	for k, n := range a.readErrs {
		ch <- prometheus.MustNewConstMetric(descReadErrs, prometheus.CounterValue, float64(n), strconv.Itoa(k.index), k.uuid, k.model, host, k.call, k.code)
	}
	a.mu.RUnlock()
	if s.Time.IsZero() {
		return
	}
	ch <- prometheus.MustNewConstMetric(descLast, prometheus.GaugeValue, float64(s.Time.UnixNano())/1e9, host)
	for _, g := range s.GPUs {
		lv := []string{strconv.Itoa(g.Index), g.UUID, g.Model, host}
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
		}
		gauge(descUnknown, b2f(g.Unknown))
		gauge(descBusy, b2f(g.Busy))
		if g.Unknown {
			continue // nothing else of it was measured
		}
		gauge(descUnhealthy, b2f(g.Unhealthy))
		if s.unread[g.Index] {
			continue // unhealthy by NVML's error: nothing else was measured
		}
		if !s.noUtil[g.Index] {
			gauge(descUtil, g.Utilization/100)
		}
		gauge(descAllocated, b2f(g.Allocated))
		gauge(descIdleAlloc, b2f(g.Allocated && g.Idle))
		if mig := s.mig[g.Index]; len(mig) > 0 {
			for _, m := range mig {
				ch <- prometheus.MustNewConstMetric(descMemUsed, prometheus.GaugeValue, float64(m.memoryUsed), append(lv, strconv.Itoa(m.id))...)
			}
		} else {
			ch <- prometheus.MustNewConstMetric(descMemUsed, prometheus.GaugeValue, float64(g.MemoryUsed), append(lv, "")...)
		}
		gauge(descMemTotal, float64(g.MemoryTotal))
		gauge(descProcs, float64(g.Processes))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
