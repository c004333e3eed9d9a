package signals

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spillway-io/spillway/policy"
)

// DefaultStaleAfter is how old a signal may be when a pool sets no stale_after.
const DefaultStaleAfter = 2 * time.Minute

// DefaultReadTimeout bounds each source's read in Read when the pool's
// context has no earlier deadline.
const DefaultReadTimeout = 10 * time.Second

// BaselineReading is what one baseline source gave at one tick.
type BaselineReading struct {
	Source   string
	Baseline Baseline
	Err      error
}

// DemandReading is what one demand source gave at one tick.
type DemandReading struct {
	Source string
	Demand Demand
	Err    error
}

// Read reads the pool's baseline source (nil when the pool has none) and
// its demand sources concurrently, each bounded by DefaultReadTimeout, and
// assembles the snapshot at now().
func Read(ctx context.Context, pool policy.Pool, now func() time.Time, base BaselineSource, demands []DemandSource) policy.Snapshot {
	var wg sync.WaitGroup
	var br *BaselineReading
	if base != nil {
		br = &BaselineReading{Source: base.Name()}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, DefaultReadTimeout)
			defer cancel()
			br.Baseline, br.Err = base.Baseline(ctx)
		}()
	}
	drs := make([]DemandReading, len(demands))
	for i, d := range demands {
		drs[i].Source = d.Name()
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, DefaultReadTimeout)
			defer cancel()
			drs[i].Demand, drs[i].Err = d.Demand(ctx)
		}()
	}
	wg.Wait()
	return Assemble(pool, now(), br, drs)
}

// Assemble builds a pool's policy.Snapshot from its readings at now. It
// reads no clock and does no I/O.
//
//   - A failed reading, a reading older than the pool's StaleAfter
//     (DefaultStaleAfter when unset), and each baseline node that did not
//     answer are listed in Snapshot.Stale as "<source>: <cause>", so the
//     engine holds.
//   - A GPU its agent reports unhealthy (its memory broken) counts as
//     busy: it takes no new job, so it is never free. A GPU its agent
//     could not read (Unknown) is busy too (the agent says so), but not
//     stale: its node answered, and a stale signal would hold the whole
//     pool for one GPU fallen off the bus.
//   - GPUs of unknown nodes are never idle and never free: they count as
//     busy (GPUsPerNode of the pool each). When the baseline failed, or
//     the pool has no baseline source (base nil), every on-prem GPU counts
//     as busy and the queue alone says whether on-prem is full.
//   - IdleAllocatedGPUs (waste) counts observed GPUs that are allocated
//     and idle.
//   - OnPremFreeGPUs counts the free GPUs on nodes with room for the
//     smallest listed pending job (any free GPU when no job is listed),
//     by the GPUs it asks for itself where a source counted it as a
//     larger shape (Demand.Smallest).
//   - The jobs each source left out, and counted as larger shapes, are
//     kept for operators (Snapshot.LeftOut, Snapshot.Larger).
//   - Demand is summed over sources; a source that does not know the
//     pending GPUs contributes its jobs' GPUs when it lists them, else one
//     GPU a job. PendingJobGPUs is kept only when every source lists every
//     job, and PendingJobWaits only when every source also gives each
//     job's wait (else the engine times the queue by OldestWait alone).
func Assemble(pool policy.Pool, now time.Time, base *BaselineReading, demands []DemandReading) policy.Snapshot {
	staleAfter := pool.StaleAfter.D()
	if staleAfter <= 0 {
		staleAfter = DefaultStaleAfter
	}
	s := policy.Snapshot{Time: now}
	oldest := time.Time{}
	seen := func(t time.Time) {
		if !t.IsZero() && (oldest.IsZero() || t.Before(oldest)) {
			oldest = t
		}
	}
	tooOld := func(source string, t time.Time) {
		if age := now.Sub(t); age > staleAfter {
			s.Stale = append(s.Stale, fmt.Sprintf("%s: signal is %s old, more than stale_after %s", source, age.Round(time.Second), staleAfter))
		}
	}

	allBusy := func() {
		s.OnPremGPUs = pool.OnPrem.GPUs()
		s.OnPremBusyGPUs = s.OnPremGPUs
		s.OnPremFreeGPUs = 0
	}
	var freeByNode map[string]int // free GPUs of each observed node
	switch {
	case base == nil:
		allBusy()
	case base.Err != nil:
		allBusy()
		s.Stale = append(s.Stale, cause(base.Source, base.Err))
	default:
		b := base.Baseline
		seen(b.Time)
		tooOld(base.Source, b.Time)
		free := 0
		freeByNode = map[string]int{}
		for _, g := range b.GPUs {
			s.OnPremGPUs++
			// An unhealthy GPU takes no new job: never free.
			if g.Unhealthy {
				s.OnPremUnhealthyGPUs++
			}
			if g.Busy || g.Unhealthy {
				s.OnPremBusyGPUs++
			} else {
				free++
				freeByNode[g.Node]++
			}
			if g.Allocated && g.Idle {
				s.IdleAllocatedGPUs++
			}
		}
		// A node whose driver wedged before any GPU was opened lists none:
		// its GPUs, unknown in number, count as a node's, unhealthy.
		for range b.Wedged {
			s.OnPremGPUs += pool.OnPrem.GPUsPerNode
			s.OnPremBusyGPUs += pool.OnPrem.GPUsPerNode
			s.OnPremUnhealthyGPUs += pool.OnPrem.GPUsPerNode
		}
		for _, n := range b.Unknown {
			s.OnPremGPUs += pool.OnPrem.GPUsPerNode
			s.OnPremBusyGPUs += pool.OnPrem.GPUsPerNode
			why := b.UnknownCauses[n]
			if why == "" {
				why = "did not answer"
			}
			s.Stale = append(s.Stale, fmt.Sprintf("%s: node %s unknown: %s", base.Source, n, why))
		}
		s.OnPremFreeGPUs = free
	}

	if len(demands) == 0 {
		s.Stale = append(s.Stale, fmt.Sprintf("demand: pool %s has no demand source", pool.Name))
	}
	jobGPUsComplete := len(demands) > 0
	jobWaitsComplete := jobGPUsComplete
	own := 0 // the fewest GPUs a job asks for itself, where a source says (Demand.Smallest)
	for _, r := range demands {
		if r.Err != nil {
			s.Stale = append(s.Stale, cause(r.Source, r.Err))
			jobGPUsComplete = false
			continue
		}
		d := r.Demand
		seen(d.Time)
		tooOld(r.Source, d.Time)
		for _, l := range d.LeftOut {
			s.LeftOut = append(s.LeftOut, fmt.Sprintf("%s: %s %s", r.Source, jobs(l.Jobs), l.Why))
		}
		s.Larger += d.Larger
		if d.Smallest > 0 && (own == 0 || d.Smallest < own) {
			own = d.Smallest
		}
		s.PendingJobs += d.PendingJobs
		listed := 0
		for _, n := range d.JobGPUs {
			listed += n
		}
		pending := d.PendingJobs // one GPU a job when nothing better is known
		switch {
		case d.PendingGPUsKnown:
			pending = d.PendingGPUs
		case len(d.JobGPUs) > 0:
			pending = listed
		}
		s.PendingGPUs += pending
		if len(d.JobGPUs) == d.PendingJobs && listed == pending {
			s.PendingJobGPUs = append(s.PendingJobGPUs, d.JobGPUs...)
			if len(d.JobWaits) == len(d.JobGPUs) {
				s.PendingJobWaits = append(s.PendingJobWaits, d.JobWaits...)
			} else {
				jobWaitsComplete = false
			}
		} else {
			jobGPUsComplete = false
		}
		if d.OldestWaitKnown && d.OldestWait > s.OldestWait {
			s.OldestWait = d.OldestWait
		}
	}
	if !jobGPUsComplete {
		s.PendingJobGPUs = nil
	}
	if !jobGPUsComplete || !jobWaitsComplete {
		s.PendingJobWaits = nil
	}
	if freeByNode != nil {
		s.OnPremFreeGPUs = freeFor(freeByNode, smallestJob(s.PendingJobGPUs, own), pool.OnPrem.GPUsPerNode)
	}
	if !oldest.IsZero() {
		s.Time = oldest
	}
	return s
}

// jobs writes a count of jobs: "1 job", "3 jobs".
func jobs(n int) string {
	if n == 1 {
		return "1 job"
	}
	return fmt.Sprintf("%d jobs", n)
}

// smallestJob is the fewest GPUs a listed pending job asks (1 when none is
// listed: any free GPU may take a job of unknown size). A job counted as a
// larger shape for its CPUs or memory asks on-prem for its own GPUs
// (Demand.Smallest: own, 0 when no source says).
func smallestJob(jobs []int, own int) int {
	least := own
	for _, g := range jobs {
		if g > 0 && (least == 0 || g < least) {
			least = g
		}
	}
	return max(least, 1)
}

// freeFor counts the free GPUs that could take a job of need GPUs (at most
// a whole node of nodeGPUs): those on nodes with at least that many free.
// A free GPU beside busy ones that no pending job fits is not capacity:
// counting it would have the engine wait for on-prem to take a job it never
// can. The simulator counts free GPUs the same way.
func freeFor(freeByNode map[string]int, need, nodeGPUs int) int {
	if nodeGPUs > 0 {
		need = min(need, nodeGPUs)
	}
	n := 0
	for _, f := range freeByNode {
		if f >= need {
			n += f
		}
	}
	return n
}

// cause words a failed reading as "<source>: <error>", without repeating
// the source when the error already starts with it.
func cause(source string, err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, source) {
		return msg
	}
	return source + ": " + msg
}

// PoolMetrics exposes each pool's latest snapshot, including the waste
// (allocated-but-idle on-prem GPUs), for the server's /metrics.
type PoolMetrics struct {
	onPrem, busy, free, waste, unhealthy, jobs, gpus, wait, stale *prometheus.GaugeVec
}

// NewPoolMetrics registers the pool gauges on reg.
func NewPoolMetrics(reg prometheus.Registerer) *PoolMetrics {
	g := func(name, help string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{"pool"})
		reg.MustRegister(v)
		return v
	}
	return &PoolMetrics{
		onPrem:    g("spillway_pool_onprem_gpus", "On-prem GPUs of the pool (observed, plus unknown nodes' GPUs)."),
		busy:      g("spillway_pool_onprem_busy_gpus", "On-prem GPUs running work, or unknown, or unhealthy."),
		free:      g("spillway_pool_onprem_free_gpus", "On-prem GPUs that can take a job now."),
		waste:     g("spillway_pool_idle_allocated_gpus", "On-prem GPUs allocated to a job but idle (waste): fix these before renting cloud."),
		unhealthy: g("spillway_pool_onprem_unhealthy_gpus", "On-prem GPUs their agent reports unhealthy (broken memory, a reset required, fallen off the bus): counted busy, they take no job until repaired or reset; the agent's /healthz says why."),
		jobs:      g("spillway_pool_pending_jobs", "Jobs waiting in the pool's queues."),
		gpus:      g("spillway_pool_pending_gpus", "GPUs the waiting jobs request."),
		wait:      g("spillway_pool_oldest_wait_seconds", "How long the oldest waiting job has waited."),
		stale:     g("spillway_pool_stale_signals", "Signals that failed or are too old; while above zero the pool holds."),
	}
}

// Observe records a pool's snapshot.
func (m *PoolMetrics) Observe(pool string, s policy.Snapshot) {
	m.onPrem.WithLabelValues(pool).Set(float64(s.OnPremGPUs))
	m.busy.WithLabelValues(pool).Set(float64(s.OnPremBusyGPUs))
	m.free.WithLabelValues(pool).Set(float64(s.OnPremFreeGPUs))
	m.waste.WithLabelValues(pool).Set(float64(s.IdleAllocatedGPUs))
	m.unhealthy.WithLabelValues(pool).Set(float64(s.OnPremUnhealthyGPUs))
	m.jobs.WithLabelValues(pool).Set(float64(s.PendingJobs))
	m.gpus.WithLabelValues(pool).Set(float64(s.PendingGPUs))
	m.wait.WithLabelValues(pool).Set(s.OldestWait.Seconds())
	m.stale.WithLabelValues(pool).Set(float64(len(s.Stale)))
}
