package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/spillway-io/spillway/sim/trace"
)

// Memory a backtest holds: the trace's jobs (trace.JobBytes each), shared
// read-only by every policy run, and per run BytesPerJob for each job and
// BytesPerInstance for each instance it launches. TestBytesPerJob keeps
// the figures honest.
const (
	BytesPerJob      = 128
	BytesPerInstance = 768
)

// DefaultMemoryLimit is the memory a backtest plans for unless told
// otherwise (spillway simulate --max-memory).
const DefaultMemoryLimit = 8 << 30

// MaxSimulated bounds a run's simulated time: jobs of a trace (at most
// trace.MaxSpan long each) on a pool too small for them could otherwise
// queue for centuries and overflow time.Duration (±292 years).
const MaxSimulated = 200 * 365 * 24 * time.Hour

// ErrHorizon ends a run that reaches MaxSimulated.
var ErrHorizon = errors.New("the run reached 200 years of simulated time: the pool cannot keep up with the trace")

// horizonError is ErrHorizon with the jobs a run still held at its end,
// at: "1 job still queued", not "1 jobs".
func horizonError(queued, running int, at time.Time) error {
	return fmt.Errorf("sim: %w: %s still queued and %d running at %s", ErrHorizon, Counted(queued, "job", "jobs"), running, at.Format(time.DateOnly))
}

// ErrTooManyInstances ends a run that launches more instances than
// Options.MaxInstances.
var ErrTooManyInstances = errors.New("more instances launched than the memory limit allows")

// Limits splits a memory limit between jobs and instances for a backtest
// of policies: a quarter of it for the trace and each run's job state, half
// for the runs' instance records, and a quarter for the garbage collector
// (the caller sets the limit as the runtime's soft memory limit).
func Limits(limit int64, policies int) (maxJobs, maxInstances int) {
	p := int64(max(policies, 1))
	maxJobs = int(max(limit/4/(trace.JobBytes+p*BytesPerJob), 1))
	maxInstances = int(max(limit/2/(p*BytesPerInstance), 1))
	return maxJobs, maxInstances
}

// MemoryFor is the memory limit under which Limits allows jobs.
func MemoryFor(jobs, policies int) int64 {
	return 4 * int64(jobs) * (trace.JobBytes + int64(max(policies, 1))*BytesPerJob)
}

// FormatBytes writes b in GiB or MiB, for messages.
func FormatBytes(b int64) string {
	if b >= 1<<30 {
		return fmt.Sprintf("%.1fGiB", float64(b)/(1<<30))
	}
	return fmt.Sprintf("%dMiB", (b+1<<20-1)>>20)
}
