// Package signals produces what the policy sees: the on-prem GPU baseline
// (observed through NVML on each node, or through dcgm-exporter metrics in
// Prometheus) and the queue demand (Prometheus, Slurm, Redis, HTTP, a command).
package signals

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Demand is what one queue source reported.
type Demand struct {
	Source string
	// Time is when the reading was taken.
	Time        time.Time
	PendingJobs int
	// PendingGPUs is valid when PendingGPUsKnown.
	PendingGPUs      int
	PendingGPUsKnown bool
	// JobGPUs lists each pending job's GPU request in queue order, when known.
	JobGPUs []int
	// JobWaits, when known, is how long each job of JobGPUs has waited at
	// Time (same order and length). With it the engine holds a young job
	// for on-prem and launches only for the jobs that would otherwise wait
	// past the pool's wait target; without it, the whole queue's launch
	// waits on OldestWait.
	JobWaits []time.Duration
	// OldestWait is valid when OldestWaitKnown.
	OldestWait      time.Duration
	OldestWaitKnown bool
	// LeftOut counts the jobs the source saw and did not count as demand,
	// by why, in the order first seen (a Slurm job pending for a limit,
	// or asking for a GPU type the pool does not rent).
	LeftOut []LeftOut
	// Larger counts the jobs counted as more GPUs than they ask for: the
	// GPUs of the smallest instance the pool rents that holds their CPUs
	// and memory (policy.FitShape, with the pool's shapes). Smallest is
	// the fewest GPUs a job FitJobs kept asks for itself, which JobGPUs
	// no longer shows when it counted that job larger: on-prem, the job
	// takes its own GPUs (0: FitJobs counted none).
	Larger   int
	Smallest int
}

// LeftOut is a number of queued jobs a demand source did not count, and why.
type LeftOut struct {
	Why  string
	Jobs int
}

// MaxLeftOutKinds bounds Demand.LeftOut: jobs left out for further
// reasons are counted under the last entry, "other reasons".
const MaxLeftOutKinds = 16

// AddLeftOut counts one more job left out for why in d.LeftOut.
func (d *Demand) AddLeftOut(why string) {
	for i := range d.LeftOut {
		if d.LeftOut[i].Why == why {
			d.LeftOut[i].Jobs++
			return
		}
	}
	if len(d.LeftOut) == MaxLeftOutKinds-1 {
		why = "other reasons"
	}
	if len(d.LeftOut) == MaxLeftOutKinds {
		d.LeftOut[len(d.LeftOut)-1].Jobs++
		return
	}
	d.LeftOut = append(d.LeftOut, LeftOut{Why: why, Jobs: 1})
}

// SameSizeJobs reads a count-only demand as jobs of perJob GPUs each, for
// a source whose jobs all ask the same (its gpus_per_job): a count of
// jobs becomes that many jobs of perJob GPUs, and without one, a count of
// GPUs becomes ⌈GPUs / perJob⌉ such jobs. It lists them (JobGPUs), up to
// MaxListedJobs, so that the engine packs whole jobs instead of reading
// one-GPU ones. A demand that lists its jobs, or perJob ≤ 0, is returned
// as it is. Counts are at most 2^31 and perJob at most MaxJobGPUs, so the
// products stay within int.
func SameSizeJobs(d Demand, perJob int) Demand {
	if perJob <= 0 || len(d.JobGPUs) > 0 {
		return d
	}
	if d.PendingJobs <= 0 && d.PendingGPUsKnown && d.PendingGPUs > 0 {
		d.PendingJobs = (d.PendingGPUs + perJob - 1) / perJob
	}
	d.PendingJobs = max(d.PendingJobs, 0)
	d.PendingGPUs, d.PendingGPUsKnown = d.PendingJobs*perJob, true
	if d.PendingJobs > 0 && d.PendingJobs <= MaxListedJobs {
		d.JobGPUs = slices.Repeat([]int{perJob}, d.PendingJobs)
	}
	return d
}

// DemandSource reads a queue's demand.
type DemandSource interface {
	// Name identifies the source in errors and snapshots ("slurm:gpu").
	Name() string
	// Demand reads the queue now. Errors name the source and the cause.
	Demand(ctx context.Context) (Demand, error)
}

// GPU is one on-prem GPU as observed.
type GPU struct {
	Node        string  `json:"node"`
	Index       int     `json:"index"`
	UUID        string  `json:"uuid"`
	Model       string  `json:"model"`
	Utilization float64 `json:"utilization_percent"`
	MemoryUsed  uint64  `json:"memory_used_bytes"`
	MemoryTotal uint64  `json:"memory_total_bytes"`
	Processes   int     `json:"processes"`
	// Busy is true when utilisation or compute processes exceed the agent's thresholds.
	Busy bool `json:"busy"`
	// Allocated is true when the on-prem scheduler has given the GPU to a job
	// (when the source knows it); allocated and not busy is waste.
	Allocated bool `json:"allocated"`
	// Idle is true when the GPU computes below the source's busy-utilisation
	// threshold, whether or not a job holds it. Allocated && Idle is waste.
	Idle bool `json:"idle"`
	// Unknown is true when the agent could not read the GPU in its latest
	// sample (an NVML call failed: the GPU fell off the bus, the call
	// timed out, the driver was reloaded; or NVML answered a value out of
	// range). Such a GPU is reported Busy and never Idle, so that no reader
	// drains its instance or counts it free on what nobody measured; Error
	// says why.
	Unknown bool   `json:"unknown,omitempty"`
	Error   string `json:"error,omitempty"`
	// Unhealthy is true when NVML reports the GPU's memory broken: a row
	// remapping failed (the GPU needs repair), or a row remapping or a
	// page retirement is pending (it needs a reset). Its readings are as
	// read (a job still running on it keeps it busy), but it takes no
	// new job. It is also true when NVML answers that the GPU needs a
	// reset (ERROR_RESET_REQUIRED), or that it is lost
	// (ERROR_GPU_IS_LOST) in every sample for a minute: fell off the bus;
	// such a GPU has no readings and is neither busy nor idle. It is true
	// too of a GPU with MIG enabled and no GPU instance created, on which
	// no job can run (its readings as read). Either way
	// it takes no job: the baseline never counts it free, and the scheduler
	// drains a burst instance all of whose GPUs are unhealthy and none
	// busy. Health says why.
	Unhealthy bool   `json:"unhealthy,omitempty"`
	Health    string `json:"health,omitempty"`
}

// Baseline is the on-prem GPU picture of one pool.
type Baseline struct {
	Source string
	Time   time.Time
	GPUs   []GPU
	// Unknown lists nodes (targets) that did not answer: their GPUs are
	// counted as unknown, never as idle.
	Unknown []string
	// UnknownCauses says, for each entry of Unknown, why it is unknown
	// ("connection refused", "sample 45s old").
	UnknownCauses map[string]string
	// Wedged maps each node whose agent says its driver wedged before it
	// could open any GPU (so it lists none) to the agent's error: the
	// pool counts gpus_per_node unhealthy GPUs for it, busy, never free.
	Wedged map[string]string
}

// BaselineSource reads the on-prem GPU baseline.
type BaselineSource interface {
	Name() string
	Baseline(ctx context.Context) (Baseline, error)
}

// QueryError is a failed or unusable query of a source that asks a server
// (PromQL): it names the source and the query.
type QueryError struct {
	Source string
	Query  string
	Err    error
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("%s: query %q: %s", e.Source, e.Query, Shorten(e.Err.Error(), MaxErrorLen))
}

// MaxErrorLen bounds the cause a QueryError quotes: a server's answer
// (an error text, a series' labels) may be megabytes, and the message is
// logged and shown as the stale signal's cause at every tick.
const MaxErrorLen = 1000

func (e *QueryError) Unwrap() error { return e.Err }
