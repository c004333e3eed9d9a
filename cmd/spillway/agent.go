package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/spf13/cobra"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/internal/speedclock"
	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/nvml"
)

// What each of the agent's flags with a range takes, as its refusal of a
// value out of range says it (and flagError for a value past its type).
var (
	maxConnsRange      = fmt.Sprintf("want 1 to %d", maxAgentConns)
	listenRange        = "want host:port with a port from 0 to 65535 (0 picks a free one), e.g. :9401 or 10.0.3.17:9401"
	intervalRange      = "want a duration from " + config.DurationString(minAgentInterval) + " to " + config.DurationString(maxAgentInterval) + ", such as 1s"
	sampleTimeoutRange = "want a duration from " + config.DurationString(minSampleTimeout) + " to " + config.DurationString(maxSampleTimeout) + ", such as 10s"
	busyUtilRange      = "want a percentage from 0 to 100"
	busyProcessesRange = fmt.Sprintf("want 0 (ignore processes) to %d", nvml.MaxProcesses)
	replaySpeedRange   = fmt.Sprintf("want a number from %v to %d (60 = one trace minute per second)", minReplaySpeed, speedclock.MaxSpeed)
	idleAllocatedRange = "want a share from 0 to 1"
)

// Bounds of the agent's durations and speeds. An interval under
// minAgentInterval samples NVML back to back, for nothing a scraper sees;
// one over maxAgentInterval leaves the server reading a sample far older
// than its agents source takes (max_sample_age, 30s by default). A sample
// timeout under minSampleTimeout is shorter than reading a node's GPUs
// through a real driver takes: every GPU would be served unknown, busy
// for ever. A replay speed under minReplaySpeed barely moves.
const (
	minAgentInterval = 10 * time.Millisecond
	maxAgentInterval = time.Hour
	minSampleTimeout = 100 * time.Millisecond
	maxSampleTimeout = time.Hour
	minReplaySpeed   = 0.01
)

func init() { register(newAgentCmd) }

// exitNoDriver is the agent's exit code when the NVIDIA driver library is
// missing (so that service managers can tell it from a crash).
const exitNoDriver = 3

type agentOptions struct {
	listen        string
	node          string
	interval      time.Duration
	sampleTimeout time.Duration
	busyUtil      float64
	busyProcesses int
	library       string
	simulate      string
	replay        string
	replaySpeed   float64
	idleAllocated float64
	logLevel      string
	maxConns      int
}

// closeWait is how long the agent waits at exit for a sample still inside
// NVML before it leaves NVML without shutting it down.
const closeWait = 2 * time.Second

// maxAgentConns bounds --max-connections: each connection holds a file
// descriptor, and a node's agent has a handful of scrapers.
const maxAgentConns = 4096

func newAgentCmd() *cobra.Command {
	o := agentOptions{}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Sample this node's GPUs through NVML and serve /metrics, /v1/gpus, /healthz, /livez and /readyz",
		Long: fmt.Sprintf(`The agent runs on each on-prem GPU node. Every --interval it reads, per GPU,
the UUID, model, utilisation, memory and compute processes through NVML, and
decides whether the GPU is busy (utilisation >= --busy-util or processes >=
--busy-processes). Processes count as NVML lists them, whatever their PID
namespace: a container's process appears with its host PID (or, on some
drivers, its container's) and often 0 bytes of memory; each holds the GPU.
A GPU it cannot read (an NVML call fails: fallen off the bus, an Xid, a
timeout in the driver, a panic in go-nvml; or a value out of range, such as
utilisation 4294967295 for N/A, memory used above total, more than %d
compute processes, or a UUID that is not 1 to 95 bytes of printable UTF-8)
is "unknown": served busy, never idle, with "unknown": true and the error, so that no
instance is drained, nor a GPU counted free, on what nobody measured; the
other GPUs are served as read; a GPU name that is not UTF-8 is served with
U+FFFD for its bad bytes. The GPUs are read each on its own, within
--sample-timeout: a GPU whose NVML call is stuck in the driver then is
unknown, its error naming the call (TIMEOUT), while the others are served
as read, every sample; it is not called again until the stuck call returns,
and once stuck for a minute it is "unhealthy" (wedged in the driver: it
needs a reset), as a GPU lost that long is. The log says once when a GPU
becomes unknown or unhealthy, and once when it is read again, not every
sample.
A sample stuck longer than --sample-timeout counting or opening the GPUs,
or in which NVML cannot count them, fails: the last good sample is then
served with every GPU unknown and the error (naming a call stuck, such as
DeviceGetCount, and since when; the GPUs opened at start when the first
sample is stuck; none when NVML is stuck opening them at start, where the
agent still serves, within twice --sample-timeout, saying which call is
stuck), spillway_agent_sample_stuck_since_timestamp_seconds
{call} saying so too, and no further sample starts until the stuck one
returns; stuck for a minute, the driver is wedged and every GPU
is "unhealthy" (the node needs a reboot), /healthz naming each. The GPUs are counted, and each index's GPU checked by its UUID,
every sample (a GPU hot-removed or back, swapped for another or two
reordered by a driver reload is followed: each reading is served under
the GPU and index NVML gives it now) and NVML is initialised again after a
driver reload. A GPU counted before and counted no longer (fallen off the
bus so far the driver lost it; every GPU, when NVML counts 0) is served
after those counted, unknown, its error naming its UUID and
DeviceGetCount NOT_COUNTED, and unhealthy once it has been lost or not
counted in every sample for a minute; restart the agent after taking a
GPU out on purpose. NVML counting no GPU is no healthy node (/healthz
503). A GPU whose
memory NVML reports broken (a row remapping failed: it needs repair; a row
remapping or page retirement pending: it needs a reset) is "unhealthy":
served as read (a job on it keeps it busy) with "unhealthy": true and why;
so is a GPU whose NVML calls answer that it needs a reset
(ERROR_RESET_REQUIRED), or that it is lost (ERROR_GPU_IS_LOST) in every
sample for a minute (until then it is unknown): it fell off the bus; such
a GPU is served neither busy nor idle, without readings. So is a GPU with
MIG enabled and no GPU instance created (as after a reboot or a GPU reset,
which MIG mode outlives and GPU instances do not): no job can run on it,
and it is served as read, unhealthy, saying to create its GPU instances or
turn MIG off, rather than left out or counted free. The server never
counts an unhealthy GPU free, nor as room for the queue on a burst
instance, and drains a burst instance all of whose GPUs are unhealthy and
none busy. It serves:

  /metrics   Prometheus text format: spillway_gpu_utilization_ratio,
             spillway_gpu_busy, spillway_gpu_allocated, spillway_gpu_idle_allocated,
             spillway_gpu_memory_used_bytes, spillway_gpu_memory_total_bytes,
             spillway_gpu_compute_processes with dcgm-exporter's labels
             (gpu, UUID, modelName, Hostname), and the agent's own
             spillway_agent_sample_duration_seconds,
             spillway_agent_last_sample_timestamp_seconds,
             spillway_agent_sample_errors_total (samples that failed) and
             spillway_agent_busy_utilization_threshold_ratio (--busy-util
             as a ratio); a GPU whose
             utilisation NVML does not report (MIG mode) has no
             spillway_gpu_utilization_ratio series; a GPU split by MIG has
             one spillway_gpu_memory_used_bytes series per GPU instance,
             labelled GPU_I_ID as dcgm-exporter's, and none for the GPU
             whole (a sum by UUID counts its bytes once); an unknown GPU has
             spillway_gpu_unknown 1, spillway_gpu_busy 1 and no other series;
             an unhealthy GPU has spillway_gpu_unhealthy 1;
             spillway_gpu_read_errors_total counts the samples in which a
             GPU could not be read, by the NVML call that failed (call) and
             its return as nvml.h names it (error: ERROR_GPU_IS_LOST, …, or
             OUT_OF_RANGE, PANIC, TIMEOUT, NOT_COUNTED, OTHER), at most
             1024 series and one more per GPU index (call and error
             OTHER, no UUID)
  /v1/gpus   the latest sample as JSON: {"node","machine","sample_time",
             "gpus":[...]}, and "error" when the latest sample failed or
             timed out; machine is a hash of the kernel's boot id, which
             tells two machines of one --node name apart
  /healthz   200 "ok" while the latest sample read every GPU healthy; 503
             and the NVML error while samples fail or time out, or naming
             each unknown or unhealthy GPU, the call that failed and how
             ("GPU 5 unknown (GetMemoryInfo ERROR_GPU_IS_LOST): …"), and
             why, or saying NVML counts no GPU (the two above keep
             answering at once): for people and alerts, not a probe
  /livez     200 "ok" while the agent serves, whatever its GPUs: the
             liveness probe (restarting the agent mends no GPU)
  /readyz    200 "ok" while NVML answers and /v1/gpus serves a live
             reading (unknown and unhealthy GPUs said in it); 503 before
             the first sample, while NVML is not ready and while samples
             fail or time out: the readiness probe

A client may take %v to send a request's headers and keep a connection idle
for %v; the agent serves at most --max-connections connections at once: a
further client takes the place of the oldest connection that has sent
nothing in the second since it was accepted, else of the connection idle
longest, else of a connection stalled in its first request's headers, or
with an answer its client does not read waiting to be written, from
the address holding the most places (a client whose own address holds
such a connection is closed at once instead), and waits, unanswered, only
while every one is in a request or has just been accepted.

Without a GPU, --simulate dgxh100 (or dgxa100, dgxh200, dgxb200) serves a
go-nvml mock node whose load replays --replay: a Helios sequence CSV, a
built-in pattern (diurnal, idle, full), or by default an embedded 8-hour
sample of the Helios "vchbv" virtual cluster.

While NVML fails to initialise for another reason than a missing library
(the driver not loaded yet at boot), the agent serves and tries again every
--interval: /healthz, /readyz and /v1/gpus answer 503 with "NVML not
ready" and NVML's error, so the server tells an agent up without its GPUs
from a node that is not there. A first sample that fails is served the
same way; one stuck for a minute opening the GPUs (the driver wedged at
boot, no GPU to mark unhealthy) adds "wedged_since" to /v1/gpus's 503,
and the server counts the node's gpus_per_node GPUs unhealthy.

Exit status: 0 after Ctrl-C or SIGTERM; 2 when a flag is refused; 3 when the
NVIDIA driver library (libnvidia-ml.so.1) is not found, so the node's GPUs
cannot be read; 1 when it cannot serve (--listen in use).`, nvml.MaxProcesses, nvml.DefaultServerLimits.ReadHeader, nvml.DefaultServerLimits.Idle),
		Example: `  spillway agent
  spillway agent --listen 10.0.3.17:9401 --node gpu-07
  spillway agent --simulate dgxh100 --replay-speed 60 --listen 127.0.0.1:9401`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAgent(cmd.Context(), o) },
	}
	host, _ := os.Hostname()
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", ":9401", "address to serve /metrics, /v1/gpus, /healthz, /livez and /readyz on: host:port, the port from 0 to 65535 (0 picks a free one)")
	f.StringVar(&o.node, "node", host, "node name reported with every GPU (Hostname label), at most "+strconv.Itoa(maxNodeName)+" bytes of printable characters")
	f.DurationVar(&o.interval, "interval", time.Second, "time between two samples, "+config.DurationString(minAgentInterval)+" to "+config.DurationString(maxAgentInterval))
	f.DurationVar(&o.sampleTimeout, "sample-timeout", nvml.DefaultSampleTimeout, fmt.Sprintf("longest a sample may take: a GPU whose NVML call is stuck in the driver past it is served unknown (the others as read), and a sample stuck counting the GPUs fails with every GPU served unknown (unhealthy once stuck for a minute), %s to %s", config.DurationString(minSampleTimeout), config.DurationString(maxSampleTimeout)))
	f.Float64Var(&o.busyUtil, "busy-util", nvml.DefaultThresholds.BusyUtil, "utilisation in percent from which a GPU is busy, 0 to 100")
	f.IntVar(&o.busyProcesses, "busy-processes", nvml.DefaultThresholds.BusyProcesses, fmt.Sprintf("compute processes from which a GPU is busy, 0 (ignore processes) to %d", nvml.MaxProcesses))
	f.StringVar(&o.library, "nvml-library", "", "path of libnvidia-ml.so.1 when it is not on the loader path")
	f.StringVar(&o.simulate, "simulate", "", "serve a mock node instead of the real GPUs: "+strings.Join(nvml.SimulatedModels(), ", "))
	f.StringVar(&o.replay, "replay", "", "with --simulate: a Helios <vc>_sequence.csv or a pattern ("+strings.Join(nvml.PatternNames(), ", ")+"); default the embedded Helios sample")
	f.Float64Var(&o.replaySpeed, "replay-speed", 1, fmt.Sprintf("with --simulate: trace seconds per real second, %v to %d (60 = one trace minute per second)", minReplaySpeed, speedclock.MaxSpeed))
	f.Float64Var(&o.idleAllocated, "idle-allocated", nvml.DefaultIdleAllocated, "with --simulate: share of allocated GPUs that hold a job but compute nothing, 0 to 1")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	f.IntVar(&o.maxConns, "max-connections", nvml.DefaultServerLimits.Conns, fmt.Sprintf("most HTTP connections served at once, 1 to %d; a further client takes the place of a silent, else the idle longest, else a stalled connection (see above), or waits while every one is in a request or just accepted", maxAgentConns))
	for name, rng := range map[string]string{
		"max-connections": maxConnsRange, "interval": intervalRange, "sample-timeout": sampleTimeoutRange,
		"busy-util": busyUtilRange, "busy-processes": busyProcessesRange,
		"replay-speed": replaySpeedRange, "idle-allocated": idleAllocatedRange,
	} {
		flagRange(f, name, rng)
	}
	return cmd
}

// checkAgentFlags refuses each flag of o out of its range, naming the
// flag, the value as typed and the range.
func checkAgentFlags(o agentOptions) error {
	switch {
	case !listenAddress(o.listen):
		return usagef("--listen %q: %s", o.listen, listenRange)
	case o.interval < minAgentInterval || o.interval > maxAgentInterval:
		return usagef("--interval %s: %s", config.DurationString(o.interval), intervalRange)
	case o.sampleTimeout < minSampleTimeout || o.sampleTimeout > maxSampleTimeout:
		return usagef("--sample-timeout %s: %s", config.DurationString(o.sampleTimeout), sampleTimeoutRange)
	case !(o.busyUtil >= 0 && o.busyUtil <= 100): // NaN fails both
		return usagef("--busy-util %v: %s", o.busyUtil, busyUtilRange)
	case o.busyProcesses < 0 || o.busyProcesses > nvml.MaxProcesses:
		return usagef("--busy-processes %d: %s", o.busyProcesses, busyProcessesRange)
	case o.maxConns < 1 || o.maxConns > maxAgentConns:
		return usagef("--max-connections %d: %s", o.maxConns, maxConnsRange)
	case strings.TrimSpace(o.node) == "":
		return usagef("--node is empty: want the node's name as the on-prem scheduler knows it (the server refuses an agent that names no node)")
	case !utf8.ValidString(o.node):
		// Every series' Hostname label: one that is not UTF-8 fails the
		// whole /metrics.
		return usagef("--node %q is not UTF-8: want the node's name as the on-prem scheduler knows it", o.node)
	case len(o.node) > maxNodeName:
		// Every GPU and every series carries it: 256 GPUs of a name of
		// 128 KiB (the most one argument takes) pass the 4 MiB the
		// server reads of /v1/gpus, and the node is unknown for good.
		return usagef("--node %q… is %d bytes: %s", o.node[:nodeNameShown], len(o.node), nodeNameRange)
	case strings.ContainsFunc(o.node, notPrintable):
		return usagef("--node %q holds a control or other unprintable character: %s", o.node, nodeNameRange)
	}
	return nil
}

// maxNodeName bounds --node as Kubernetes bounds a node's name (a DNS
// subdomain) and a hostname is bounded: 253 bytes. A longer one is
// quoted by its first nodeNameShown bytes.
const (
	maxNodeName   = signals.MaxNodeName
	nodeNameShown = 40
)

var nodeNameRange = fmt.Sprintf("want the node's name as the on-prem scheduler knows it, at most %d bytes of printable characters", maxNodeName)

// notPrintable says whether r cannot stand in a node's name: a control
// character (a newline splits /healthz's lines and the server's log) or
// any other rune unicode does not print.
func notPrintable(r rune) bool { return !unicode.IsPrint(r) }

// listenAddress says whether addr is host:port with a port number from 0
// to 65535; the host, when given, is left to net.Listen (a name it cannot
// listen on is an address it cannot serve: exit 1).
func listenAddress(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535
}

func runAgent(ctx context.Context, o agentOptions) error {
	if err := checkAgentFlags(o); err != nil {
		return err
	}
	level, err := parseLogLevel(o.logLevel)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	var lib nv.Interface
	switch {
	case o.simulate != "":
		// Checked here, so that the message names the flag as typed:
		// nvml's own says "simulate dgxh100: replay speed -1".
		if models := nvml.SimulatedModels(); !slices.Contains(models, o.simulate) {
			return usagef("--simulate %q: want one of %s", o.simulate, strings.Join(models, ", "))
		}
		if !(o.replaySpeed >= minReplaySpeed && o.replaySpeed <= speedclock.MaxSpeed) { // NaN fails both
			return usagef("--replay-speed %v: %s", o.replaySpeed, replaySpeedRange)
		}
		if !(o.idleAllocated >= 0 && o.idleAllocated <= 1) {
			return usagef("--idle-allocated %v: %s", o.idleAllocated, idleAllocatedRange)
		}
		// Both read only the flags (--replay's file, --simulate's model,
		// --replay-speed): what they refuse is the command line's.
		series, err := nvml.OpenSeries(o.replay)
		if err != nil {
			return usagef("--replay: %w", err)
		}
		node, err := nvml.NewSimulatedNode(o.simulate, series, nvml.WithReplaySpeed(o.replaySpeed), nvml.WithIdleAllocated(o.idleAllocated))
		if err != nil {
			return &usageError{err}
		}
		log.Info("simulating", "model", o.simulate, "replay", series.Name, "trace", series.Duration(), "speed", o.replaySpeed)
		lib = node.Interface()
	case o.replay != "":
		return usagef("--replay needs --simulate: a real node's load is what it is")
	case o.library != "":
		lib = nv.New(nv.WithLibraryPath(o.library))
	default:
		lib = nv.New()
	}

	// A driver wedged at boot (Init, DeviceGetCount hung) holds the
	// sampler's opening, not the agent: it serves and says which call.
	sampler, err := nvml.StartSampler(lib, o.node, nvml.WithStartTimeout(o.sampleTimeout),
		nvml.WithThresholds(nvml.Thresholds{BusyUtil: o.busyUtil, BusyProcesses: o.busyProcesses}))
	if errors.Is(err, nvml.ErrLibraryNotFound) {
		return &exitCodeError{code: exitNoDriver, msg: fmt.Sprintf(
			"spillway agent: the NVIDIA driver library %s was not found, so this node's GPUs cannot be read.\n"+
				"Install the NVIDIA driver (or pass --nvml-library PATH), or run without a GPU: spillway agent --simulate dgxh100",
			nvml.LibraryName)}
	}
	if err != nil {
		return err
	}
	agent := nvml.NewAgent(sampler, nvml.WithInterval(o.interval), nvml.WithSampleTimeout(o.sampleTimeout), nvml.WithLogger(log))
	defer func() {
		// NVML is shut down only once no sample is inside it.
		ctx, cancel := context.WithTimeout(context.Background(), closeWait)
		defer cancel()
		if err := agent.Close(ctx); err != nil {
			log.Warn("NVML left as it is at exit", "err", err)
		}
	}()
	if err := agent.SampleOnce(ctx); err != nil && ctx.Err() == nil {
		// Served (/healthz 503, /v1/gpus with the error) while the agent
		// tries again every --interval: an agent that exited would look,
		// to the server, like a node that is not there.
		log.Warn("first sample failed; serving the error and trying again every --interval", "node", o.node, "err", err)
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", o.listen, err)
	}
	limits := nvml.DefaultServerLimits
	limits.Conns = o.maxConns
	srv := agent.Server(limits)
	log.Info("agent serving", "addr", ln.Addr().String(), "node", o.node, "gpus", sampler.GPUCount(), "interval", o.interval, "max_connections", o.maxConns)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- agent.Run(ctx) }()
	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.Serve(ln) }()

	select {
	case <-ctx.Done():
	case err = <-serveDone:
	}
	cancel()
	shutdownCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	if serr := srv.Shutdown(shutdownCtx); serr != nil && err == nil {
		err = serr
	}
	<-runDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
