package sim

import (
	"fmt"

	"github.com/spillway-io/spillway/sim/trace"
)

// BytesPerJob bounds what one policy run allocates per job of its trace
// (job state, placement, queues, the final waits); the trace's own jobs
// (trace.JobBytes each) are shared read-only by every run. TestBytesPerJob
// keeps the figure honest.
const BytesPerJob = 256

// DefaultMemoryLimit is the memory a backtest may plan for unless told
// otherwise (spillway simulate --max-memory).
const DefaultMemoryLimit = 4 << 30

// MaxJobs is the most jobs a backtest of policies runs within limit bytes:
// the trace's jobs plus BytesPerJob for each policy make up at most three
// quarters of the limit, leaving the rest to the garbage collector (the
// caller sets the limit as the runtime's soft memory limit).
func MaxJobs(limit int64, policies int) int {
	return int(max(limit/4*3/perJob(policies), 1))
}

// MemoryFor is the memory limit MaxJobs needs for jobs and policies.
func MemoryFor(jobs, policies int) int64 {
	return int64(jobs) * perJob(policies) / 3 * 4
}

func perJob(policies int) int64 { return int64(trace.JobBytes + max(policies, 1)*BytesPerJob) }

// FormatBytes writes b in GiB or MiB, for messages.
func FormatBytes(b int64) string {
	if b >= 1<<30 {
		return fmt.Sprintf("%.1fGiB", float64(b)/(1<<30))
	}
	return fmt.Sprintf("%dMiB", (b+1<<20-1)>>20)
}
