package policy

// Stage 4 of Decide, overflow: pending jobs that burst capacity can hold,
// packed into free on-prem and burst GPUs; what does not fit is launched for
// (choose.go).

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"
)

// pendingJobs is the queue's demand as job sizes, largest first. When the
// snapshot gives each job's wait, only the jobs that would start past the
// wait target unless capacity is launched now count (due: waited + the
// next evaluation + the slowest available boot > wait target); younger
// jobs are left to capacity that frees up meanwhile, and reconsidered at
// the next evaluation. younger counts the jobs left out.
func pendingJobs(e *decEnv, mk *decMarket) (jobs, young []decJob, younger int) {
	jobs = mk.jobBuf[:0]
	young = mk.youngBuf[:0]
	if len(e.snap.PendingBySize) > 0 {
		// Due jobs were submitted before now - horizon: a binary search
		// per size, whatever the queue's length.
		cutoff := e.now.Add(-(e.pool.WaitTarget.D() - e.interval - mk.slowestBoot(e)))
		for _, ps := range e.snap.PendingBySize {
			n := len(ps.Submitted)
			if ps.GPUs <= 0 || n == 0 || !mk.cloudHolds(e, ps.GPUs) {
				continue
			}
			due := sort.Search(n, func(i int) bool { return !ps.Submitted[i].Before(cutoff) })
			if due > 0 {
				jobs = append(jobs, decJob{size: ps.GPUs, n: due})
			}
			if n-due > 0 {
				younger += n - due
				young = append(young, decJob{size: ps.GPUs, n: n - due})
			}
		}
		slices.SortFunc(jobs, func(a, b decJob) int { return cmp.Compare(b.size, a.size) })
		slices.SortFunc(young, func(a, b decJob) int { return cmp.Compare(b.size, a.size) })
	} else if len(e.snap.PendingJobGPUs) > 0 {
		waits := e.snap.PendingJobWaits
		horizon := time.Duration(-1 << 63)
		if len(waits) == len(e.snap.PendingJobGPUs) {
			horizon = e.pool.WaitTarget.D() - e.interval - mk.slowestBoot(e)
		} else {
			waits = nil
		}
		for k, s := range e.snap.PendingJobGPUs {
			if s <= 0 || !mk.cloudHolds(e, s) {
				continue
			}
			if waits != nil && waits[k] <= horizon {
				younger++
				young = decAddJob(young, s)
				continue
			}
			found := false
			for k := range jobs {
				if jobs[k].size == s {
					jobs[k].n++
					found = true
					break
				}
			}
			if !found {
				jobs = append(jobs, decJob{size: s, n: 1})
			}
		}
		slices.SortFunc(jobs, func(a, b decJob) int { return cmp.Compare(b.size, a.size) })
		slices.SortFunc(young, func(a, b decJob) int { return cmp.Compare(b.size, a.size) })
	} else if e.snap.PendingGPUs > 0 && mk.cloudHolds(e, 1) {
		jobs = append(jobs, decJob{size: 1, n: e.snap.PendingGPUs})
	}
	return jobs, young, younger
}

// decAddJob counts one more pending job of size GPUs.
func decAddJob(jobs []decJob, size int) []decJob {
	for k := range jobs {
		if jobs[k].size == size {
			jobs[k].n++
			return jobs
		}
	}
	return append(jobs, decJob{size: size, n: 1})
}

// slowestBoot is the longest boot (observed, when the snapshot has it)
// among offerings that can be launched now.
func (mk *decMarket) slowestBoot(e *decEnv) time.Duration {
	var b time.Duration
	for _, o := range mk.offers(e) {
		if o.skip == "" {
			b = max(b, o.boot)
		}
	}
	return b
}

// decOverflow is the queue's demand that free capacity cannot take: the
// due jobs left after packing and the younger jobs that would share new
// instances (both largest first), with the numbers that explain it.
type decOverflow struct {
	jobs, young []decJob
	// pending GPUs of count due jobs, the largest of largest GPUs;
	// younger jobs left to on-prem; free on-prem and burst GPUs before
	// packing; over GPUs of due jobs left.
	pending, count, largest, younger, onprem, burst, over int
	// launch: new capacity is to be launched for the jobs (false when
	// free capacity takes them all, or the signals are stale)
	launch bool
}

// text describes the overflow for notes and reasons.
func (ov *decOverflow) text() string {
	onprem := fmt.Sprintf("%d free on-prem", ov.onprem)
	if ov.onprem > 0 {
		onprem += " (not room for jobs that waited beside them)"
	}
	if ov.younger > 0 {
		return fmt.Sprintf("%s pending past the wait horizon (%s, largest %d; %s left to on-prem), %s, %d free in burst: %s overflow",
			counted(ov.pending, "GPU"), counted(ov.count, "job"), ov.largest, counted(ov.younger, "younger job"), onprem, ov.burst, counted(ov.over, "GPU"))
	}
	return fmt.Sprintf("%s pending (%s, largest %d), %s, %d free in burst: %s overflow",
		counted(ov.pending, "GPU"), counted(ov.count, "job"), ov.largest, onprem, ov.burst, counted(ov.over, "GPU"))
}

// counted is n things: "1 job", "2 jobs".
func counted(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return strconv.Itoa(n) + " " + thing + "s"
}

// agree is the word that agrees with n things: one for 1, else many
// ("is" or "are", "waits" or "wait").
func agree(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// overflow packs pending jobs into free burst GPUs (and younger jobs into
// free on-prem GPUs too) and returns what is left for new capacity
// (ov.launch is false when nothing is to be launched for; the notes say
// why) and the fleet with the burst GPUs the jobs fill taken from its free
// slots.
//
// Free on-prem GPUs are no room for due jobs. The on-prem scheduler starts
// a job as soon as it fits, so a job that has waited its time beside free
// GPUs it would fit is held back by what the snapshot does not show: GPUs
// a backfill reservation keeps for a larger job, CPUs or memory taken on
// their node, a partition or QOS limit, GPUs given to a job whose
// processes have not started yet. Counted as room, they would hold such
// jobs past the wait target for as long as that lasts, launching nothing.
// (In a backtest they never meet: the simulator starts every job that
// fits before the policy looks.) At worst a job started on-prem between
// the two reads of a snapshot costs one launch early, which the next due
// job takes.
func overflow(e *decEnv, fl decFleet, p decPlan, mk *decMarket) (decOverflow, decFleet, decPlan) {
	var ov decOverflow
	if !e.queued() {
		return ov, fl, p
	}
	noteUnheld(e, &p, mk)
	jobs, young, younger := pendingJobs(e, mk)
	if len(jobs) == 0 {
		if younger > 0 && !p.quiet {
			jobs := fmt.Sprintf("%d pending jobs, none", younger)
			if younger == 1 {
				jobs = "1 pending job, which has not"
			}
			p.note(fmt.Sprintf("holding: %s waited long enough to need burst capacity (wait target %s)", jobs, decFmtDur(e.pool.WaitTarget.D())))
		}
		return ov, fl, p
	}
	pending, count, largest := 0, 0, 0
	for _, j := range jobs {
		pending += j.size * j.n
		count += j.n
		largest = max(largest, j.size)
	}
	onprem := e.snap.OnPremFreeGPUs
	if onprem < 0 {
		onprem = e.snap.OnPremGPUs - e.snap.OnPremBusyGPUs
	}
	onprem = max(onprem, 0)
	burst := 0
	for _, s := range fl.slots {
		burst += s.free * s.n
	}
	_, slots := fitFree(e, fl.slots, jobs, 0, true)
	over := 0
	for _, j := range jobs {
		over += j.size * j.n
	}
	// Younger jobs take the free on-prem GPUs and what burst capacity is
	// left after the due ones (the queue runs in order); what they cannot
	// fit will share new instances.
	_, fl.slots = fitFree(e, slots, young, onprem, false)
	if over == 0 {
		return ov, fl, p
	}
	ov = decOverflow{jobs: jobs, young: young, pending: pending, count: count, largest: largest,
		younger: younger, onprem: onprem, burst: burst, over: over}
	if e.snap.IdleAllocatedGPUs > 0 && !p.quiet {
		idle := e.snap.IdleAllocatedGPUs
		p.note(fmt.Sprintf("waste: %s %s allocated but idle while %s %s; fix idle allocations rather than rent",
			counted(idle, "on-prem GPU"), agree(idle, "is", "are"), counted(over, "GPU"), agree(over, "overflows", "overflow")))
	}
	if e.stale {
		if !p.quiet {
			p.note("holding queue overflow: " + ov.text() + "; signals are stale, no launch")
		}
		return ov, fl, p
	}
	ov.launch = true
	return ov, fl, p
}

// queued reports whether the snapshot shows pending jobs: what sets
// overflow off (without any, it has nothing to pack, hold or note).
func (e *decEnv) queued() bool {
	return len(e.snap.PendingBySize) > 0 || len(e.snap.PendingJobGPUs) > 0 || e.snap.PendingGPUs > 0
}

// fitFree places jobs (reducing their counts) into left free on-prem GPUs,
// then into free burst slots, and with whole also across whole free
// instances smaller than a job. It returns the on-prem GPUs still free and
// the slots left free.
func fitFree(e *decEnv, slots []decSlot, jobs []decJob, left int, whole bool) (int, []decSlot) {
	for k := range jobs {
		j := &jobs[k]
		if left >= j.size {
			p := min(j.n, left/j.size)
			j.n -= p
			left -= p * j.size
		}
		if j.n > 0 {
			j.n, slots = decPlace(slots, j.size, j.n)
		}
		if whole && j.n > 0 && (!e.pool.WholeJobs || j.size > decMaxOfferGPUs(e.pool)) {
			j.n = decPlaceWhole(slots, j.size, j.n, e.pool.SpanMin())
		}
	}
	return left, slots
}

// decMaxOfferGPUs is the largest offering's GPU count.
func decMaxOfferGPUs(pool *Pool) int {
	m := 0
	for i := range pool.Offerings {
		m = max(m, pool.Offerings[i].GPUs)
	}
	return m
}

// SpanMinGPUs is the smallest instance a job may span by default (a pool's
// span.min_gpus overrides it, see Pool.SpanMin): a job larger than one
// instance runs across whole instances of one offering only when each has
// at least this many GPUs (8-GPU nodes have the interconnect that
// multi-node jobs are built for; 1- to 4-GPU shapes do not).
const SpanMinGPUs = 8

// Serves reports whether an offering of g GPUs takes a job of size
// GPUs: when it holds the job whole, or as whole instances when spanning is
// allowed: g is at least spanMin (the pool's span.min_gpus) and, with
// whole jobs, the job is larger than every available offering (maxG is
// the largest).
//
// The backtest's report judges what may run on the cloud by it too.
func Serves(whole bool, spanMin, g, size, maxG int) bool {
	if size <= g {
		return true
	}
	return g >= spanMin && (!whole || (size > maxG && g == maxG))
}
