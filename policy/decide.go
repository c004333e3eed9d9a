package policy

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// decDefaultInterval is the evaluation interval assumed when a pool leaves
// Interval at zero (the loader normally fills it in).
const decDefaultInterval = 30 * time.Second

// Per-instance actions taken in a plan.
const (
	decDrain uint8 = 1 << iota
	decTerminate
)

// Decide turns one pool's observed state into a Plan: which offerings to
// launch, which instances to drain and which to terminate, each with a
// reason that names its numbers, and Notes for what was held back.
//
// It is pure and deterministic: no I/O, no clock reads, no randomness; the
// same inputs give the same plan. now is the evaluation time; the next
// evaluation is assumed at now + pool.Interval (30 s when unset).
//
// What it decides, in order:
//
//  1. Draining instances are terminated once no GPU is busy, or when
//     scale_in.drain_timeout has passed since the drain began (zero means
//     no timeout: a running job is never killed). Instances past
//     scale_in.max_lifetime are drained.
//  2. Budget (hard: the period's spend never exceeds the amount): an
//     instance's commitment is its cost from now until the latest moment
//     the policy could end it. One kept by this plan may be drained at
//     the next evaluation, and a drain ends at the first evaluation at or
//     after scale_in.drain_timeout (never, when it is 0); a draining one
//     ends by its own drain_timeout; one terminated ends now (at its
//     minimum billable: the rest of a 60 s minimum or a started hour, see
//     BilledCost). Committed spend is Spend.Accrued plus every instance's
//     commitment within the period, and, for what runs past the period's
//     end, the commitment within the next period (over at most the
//     longest period of the budget's kind) counted against that period's
//     budget. A launch commits as a kept instance does. When keeping what
//     runs would exceed the budget in either period, instances are ended
//     as soon as they can be until it fits: idle ones drained and
//     terminated in the same plan, costliest first (a plan's Drains are
//     executed before its Terminates), then busy ones drained, fewest busy
//     GPUs first, so that drain_timeout ends them before the money runs
//     out. Nothing is launched then, not even for floors.
//     With budget.mode soft, nothing running is cut for money: every
//     instance commits its cost from now until the period's end, or until
//     the latest moment the policy could end it if sooner (a draining one
//     at its drain_timeout; any other drained at max_lifetime and ended by
//     drain_timeout, when both are set), and a launch is admitted only
//     while Spend.Accrued plus these commitments and its own stays within
//     the amount. What runs past the period's end is not counted; the next
//     period admits nothing until what runs into it fits.
//     Likewise, when the pool holds more than max_gpus or
//     max_cost_per_hour (the limits were lowered), idle instances end,
//     costliest first, and nothing is launched.
//  3. Floors (Snapshot.Floors): burst capacity (running and booting, not
//     draining) is kept at no less than the sum of active floors' GPUs;
//     launches for a floor carry Launch.Floor and respect the hard limits.
//  4. Overflow: pending jobs (Snapshot.PendingBySize, else PendingJobGPUs,
//     else PendingGPUs as single-GPU demand) that burst capacity can hold at all (CloudHolds:
//     the limits and the budget allow enough instances of one offering)
//     are packed largest first into free on-prem GPUs,
//     then into free GPUs of burst instances (partly busy, idle, booting),
//     a job larger than an instance taking whole instances of at least
//     Pool.SpanMin() GPUs (span.min_gpus, SpanMinGPUs by default; smaller
//     shapes never take it). When the
//     snapshot gives each job's wait (PendingBySize's submit times, or
//     PendingJobWaits), only the jobs that
//     would otherwise start past the wait target count (waited + the next
//     evaluation + the slowest boot > WaitTarget); younger ones are left
//     to on-prem capacity that frees up meanwhile. What does not fit is
//     the overflow. The offering with the lowest price per useful GPU-hour
//     for it (price × instances ÷ (GPUs the jobs use × performance), where
//     younger queued jobs that would share the new instances count as
//     used) is chosen among those not out of stock or blocked by quota,
//     smaller shapes first at an equal price; it is launched only when
//     OldestWait + the next evaluation + its Boot passes the pool's
//     WaitTarget, so that the queue's oldest job starts in time. With
//     Pool.WholeJobs an offering only takes the jobs it holds whole (the
//     largest also takes those larger than every offering), and further
//     offerings are launched in the same plan for the jobs left. Launches
//     are cut to fit max_gpus (all non-terminating instances),
//     max_cost_per_hour and the budget; when the chosen offering cannot
//     fit even one instance, the next one is tried. Jobs no burst capacity
//     can hold are never launched for: a note says they wait for on-prem,
//     or, when larger than on-prem too, that they will never be served
//     (Plan.Unservable counts them).
//  5. Scale-in: an instance whose GPUs have all idled for IdleThreshold is
//     drained when its billing lets it go (an hourly one just before its
//     paid hour ends, a per-second-min-60s one after its first minute),
//     unless a pending job fits on it or the floors need it. Booting
//     instances are never drained for idleness; instances of a floor that
//     is no longer active are ordinary capacity.
//
// Boot times: wherever a boot time is planned with (the launch timing and
// the wait horizon above, the auto idle threshold below, and ties between
// offerings), Snapshot.Boot's observed boot replaces Offering.Boot for the
// offerings it holds, and reasons mark it "(observed)".
//
// Stale signals (Snapshot.Stale non-empty) hold: no launch for queue demand
// and no idle scale-in, and no termination on the strength of an instance
// reporting idle. Floors are still honoured, and these protections still
// act because they do not depend on fresh signals: max_lifetime drains,
// drain_timeout terminations, and the budget and hard limits (which trust
// the last reported busy GPUs).
//
// Plan.Waste carries Snapshot.IdleAllocatedGPUs; when there is overflow too,
// a note says to fix the idle allocations rather than rent.
//
// Inputs it relies on: Spend.Accrued is the prorated cost (price × time
// run) in the period up to now; counting whole billed hours instead only
// makes the budget stricter. An instance listed in both Drains and
// Terminates of one plan is to be drained, then terminated at once. A
// draining instance without DrainStartedAt counts its drain from now, an
// idle one without IdleSince is idle since ReadyAt, and Instance.State
// values other than the four known ones count as running.
func Decide(pool *Pool, snap Snapshot, instances []Instance, spend Spend, now time.Time) Plan {
	if pool == nil {
		return Plan{Time: now, Waste: snap.IdleAllocatedGPUs, Notes: []string{"no pool given: nothing decided"}}
	}
	var slotBuf [16]decSlot // a local, not a field: a self-referencing decider would escape to the heap
	d := decider{pool: pool, snap: &snap, inst: instances, spend: spend, now: now}
	d.init(slotBuf[:0])
	if d.stale {
		d.note("holding: signals stale or missing (" + strings.Join(snap.Stale, ", ") + "): no launch for queue demand, no idle scale-in; floors, max_lifetime, drain_timeout and the budget still apply")
	}
	d.scan()
	d.limitPressure()
	d.budgetPressure()
	d.launchFloors()
	d.overflow()
	d.scaleIn()
	return d.plan
}

// init sets up one decision's working state.
func (d *decider) init(slots []decSlot) {
	pool, snap, spend, now := d.pool, d.snap, d.spend, d.now
	d.plan = Plan{Pool: pool.Name, Time: now, Waste: snap.IdleAllocatedGPUs}
	d.interval = pool.Interval.D()
	if d.interval <= 0 {
		d.interval = decDefaultInterval
	}
	d.next = now.Add(d.interval)
	d.nowNs, d.span = now.UnixNano(), int64(d.interval)
	d.stale = len(snap.Stale) > 0
	d.committed = decCommit{cur: spend.Accrued}
	if b := pool.Limits.Budget; b != nil {
		d.periodLen = decPeriodLen(b.Period)
		end := spend.PeriodEnd
		if !end.After(now) {
			_, end = PeriodBounds(b.Period, now)
		}
		d.toPeriodEnd = min(int64(end.Sub(now)), d.periodLen)
		d.soft = b.Soft()
	}
	d.slots = slots
	for i := range snap.Floors {
		if f := &snap.Floors[i]; d.floorActive(f) && f.GPUs > 0 {
			d.floorGPUs += f.GPUs
		}
	}
}

// decider holds one decision's working state. Totals describe what the pool
// holds after the actions planned so far.
type decider struct {
	pool     *Pool
	snap     *Snapshot
	inst     []Instance
	spend    Spend
	now      time.Time
	next     time.Time // the next evaluation
	nowNs    int64     // now in Unix nanoseconds
	span     int64     // the interval in nanoseconds
	interval time.Duration
	stale    bool
	plan     Plan

	flags []uint8 // per instance: decDrain, decTerminate; nil until an action

	floorGPUs int // sum of active floors' GPUs

	totalGPUs   int       // GPUs of non-terminating instances kept, plus launches
	capacity    int       // GPUs of booting and running instances not drained, plus launches
	costPerHour float64   // hourly price of non-terminating instances kept, plus launches
	committed   decCommit // committed spend in the budget period and the next (see Decide)
	toPeriodEnd int64     // nanoseconds from now to the budget period's end
	periodLen   int64     // the longest budget period of the budget's kind
	overBudget  bool      // committed spend exceeded the budget before this plan
	soft        bool      // the budget is soft: commitments run to the period's end, nothing is cut for money
	overLimit   bool      // the pool held more than max_gpus or max_cost_per_hour before this plan

	slots []decSlot // free burst GPUs, by size and class
	cands []int     // idle instances due for release

	offs     []decOffer
	fits     []decFit // per pending job size: whether burst capacity can hold it
	buf      []byte   // scratch for reasons
	rankBuf  [8]int
	jobBuf   [8]decJob
	youngBuf [8]decJob
	servBuf  [8]decJob
	binBuf   [8]decSlot
}

func (d *decider) note(s string) { d.plan.Notes = append(d.plan.Notes, s) }

func (d *decider) flag(i int) uint8 {
	if d.flags == nil {
		return 0
	}
	return d.flags[i]
}

func (d *decider) setFlag(i int, f uint8) {
	if d.flags == nil {
		d.flags = make([]uint8, len(d.inst))
	}
	d.flags[i] |= f
}

func decGPUs(o *Offering) int {
	if o.GPUs > 0 {
		return o.GPUs
	}
	return 0
}

func (d *decider) floorActive(f *Floor) bool {
	return f.Until.IsZero() || f.Until.After(d.now)
}

// floorOwnerActive reports whether owner has an active floor.
func (d *decider) floorOwnerActive(owner string) bool {
	if owner == "" {
		return false
	}
	for i := range d.snap.Floors {
		if f := &d.snap.Floors[i]; f.Owner == owner && d.floorActive(f) && f.GPUs > 0 {
			return true
		}
	}
	return false
}

// decSlotOf is the free-GPU slot an instance adds to the pool's burst capacity.
func decSlotOf(in *Instance) (free int, class uint8) {
	busy := in.BusyGPUs
	if busy < 0 {
		busy = 0
	}
	free = decGPUs(&in.Offering) - busy
	switch {
	case busy > 0:
		class = decPartial
	case in.State == StateBooting:
		class = decBootFull
	default:
		class = decReadyFull
	}
	return free, class
}

// scan walks the instances once: totals, committed spend, free slots,
// terminations of drained instances, max-lifetime drains and the idle
// instances due for release.
func (d *decider) scan() {
	maxLife := int64(d.pool.ScaleIn.MaxLifetime)
	budget := d.pool.Limits.Budget != nil
	for i := range d.inst {
		in := &d.inst[i]
		o := &in.Offering
		age := d.age(in)
		if in.State == StateTerminating {
			if budget {
				d.committed = d.committed.add(d.commitOf(o, age, 0))
			}
			continue
		}
		g := decGPUs(o)
		if in.State == StateDraining {
			if why := d.drainDone(in); why != "" {
				if budget {
					d.committed = d.committed.add(d.commitOf(o, age, 0))
				}
				d.setFlag(i, decTerminate)
				d.plan.Terminates = append(d.plan.Terminates, Action{InstanceID: in.ID, Reason: why})
				continue
			}
			d.totalGPUs += g
			d.costPerHour += o.PricePerHour
			if budget {
				d.committed = d.committed.add(d.commitOf(o, age, d.keepSpan(in)))
			}
			continue
		}
		d.totalGPUs += g
		d.costPerHour += o.PricePerHour
		if budget {
			d.committed = d.committed.add(d.commitOf(o, age, d.keepSpan(in)))
		}
		if maxLife > 0 && age >= maxLife {
			launched := decLaunchedAt(in, d.now)
			d.setFlag(i, decDrain)
			d.plan.Drains = append(d.plan.Drains, Action{InstanceID: in.ID, Reason: d.str(d.text().
				s("max lifetime: launched at ").at(d, launched).s(", ").dur(d.now.Sub(launched)).
				s(" ago >= max_lifetime ").dur(time.Duration(maxLife)).s("; draining so running jobs finish before it ends"))})
			continue
		}
		d.capacity += g
		if free, class := decSlotOf(in); free > 0 {
			d.slots = decAddSlot(d.slots, free, class, 1)
		}
		if in.BusyGPUs <= 0 && in.State != StateBooting && !d.stale && d.idleDue(in, decLaunchedAt(in, d.now)) {
			d.cands = append(d.cands, i)
		}
	}
}

// drainDone says why a draining instance may be terminated now, or "".
func (d *decider) drainDone(in *Instance) string {
	started := in.DrainStartedAt
	if started.IsZero() || started.After(d.now) {
		started = d.now
	}
	if in.BusyGPUs <= 0 && !d.stale {
		return d.str(d.text().s("drained: no GPU busy since draining began at ").at(d, started).
			s(" (").dur(d.now.Sub(started)).s(" ago)"))
	}
	if to := d.pool.ScaleIn.DrainTimeout.D(); to > 0 && d.now.Sub(started) >= to {
		t := d.text().s("drain timeout: draining since ").at(d, started).s(", ").dur(d.now.Sub(started)).
			s(" >= drain_timeout ").dur(to).s(", ")
		if in.BusyGPUs <= 0 {
			t = t.s("busy GPUs unknown (signals stale)")
		} else {
			t = t.n(in.BusyGPUs).s(" of ").n(decGPUs(&in.Offering)).s(" GPUs still busy")
		}
		return d.str(t)
	}
	return ""
}

// drain adds a drain of instance i to the plan and takes it out of the
// capacity and free slots.
func (d *decider) drain(i int, reason string) {
	in := &d.inst[i]
	if d.flag(i)&decDrain == 0 && in.State != StateDraining && in.State != StateTerminating {
		d.capacity -= decGPUs(&in.Offering)
		if free, class := decSlotOf(in); free > 0 {
			decTakeSlot(d.slots, free, class)
		}
	}
	d.setFlag(i, decDrain)
	d.plan.Drains = append(d.plan.Drains, Action{InstanceID: in.ID, Reason: reason})
}

// terminate adds a termination of instance i (drained, or drained in this
// plan) and takes it out of the totals.
func (d *decider) terminate(i int, reason string) {
	in := &d.inst[i]
	o := &in.Offering
	age := d.age(in)
	d.setFlag(i, decTerminate)
	d.totalGPUs -= decGPUs(o)
	d.costPerHour -= o.PricePerHour
	if d.pool.Limits.Budget != nil {
		d.committed = d.committed.sub(d.commitOf(o, age, d.keepSpan(in)).sub(d.commitOf(o, age, 0)))
	}
	d.plan.Terminates = append(d.plan.Terminates, Action{InstanceID: in.ID, Reason: reason})
}

// launch adds count instances of o to the plan and the totals.
func (d *decider) launch(o *decOffer, count int, floor, reason string) {
	g := o.o.GPUs
	d.totalGPUs += count * g
	d.capacity += count * g
	d.costPerHour += float64(count) * o.o.PricePerHour
	d.committed = d.committed.add(o.unit.times(count))
	d.plan.Launches = append(d.plan.Launches, Launch{Offering: d.pool.Offerings[o.idx], Count: count, Floor: floor, Reason: reason})
}

// launchFloors launches what active floors need beyond the burst capacity
// held, floor by floor in the snapshot's order, each on its pinned offering
// or the cheapest per GPU-hour available.
func (d *decider) launchFloors() {
	deficit := d.floorGPUs - d.capacity
	if deficit <= 0 {
		return
	}
	shared := d.ownedCapacity("") // capacity no active floor owns covers floors in order
	for fi := range d.snap.Floors {
		if deficit <= 0 {
			break
		}
		f := &d.snap.Floors[fi]
		if !d.floorActive(f) || f.GPUs <= 0 {
			continue
		}
		own := 0
		if f.Owner != "" {
			own = d.ownedCapacity(f.Owner)
		}
		need := f.GPUs - own
		if need > 0 && shared > 0 {
			c := min(shared, need)
			shared -= c
			need -= c
		}
		need = min(need, deficit)
		if need <= 0 {
			continue
		}
		o := d.floorOffer(f)
		if o == nil {
			d.note(fmt.Sprintf("floor %q (%s) wants %d more burst GPUs: no offering can be launched%s", f.Owner, f.Kind, need, decSkipped(d.offers())))
			continue
		}
		want := (need + o.o.GPUs - 1) / o.o.GPUs
		k, limit := d.allowed(o, want)
		if k < want {
			d.note(fmt.Sprintf("floor %q wants %d more burst GPUs (%d × %s): launching %d; limit %s", f.Owner, need, want, o.name(), k, limit))
		}
		if k == 0 {
			continue
		}
		until := "no end"
		if !f.Until.IsZero() {
			until = "until " + d.fmtTime(f.Until)
		}
		why := ""
		if f.Reason != "" {
			why = ": " + f.Reason
		}
		d.launch(o, k, f.Owner, fmt.Sprintf("floor %q (%s%s) keeps %d burst GPUs %s; floors total %d, %d held, %d owned by this floor; chose %s at $%.2f per GPU-hour%s",
			f.Owner, f.Kind, why, f.GPUs, until, d.floorGPUs, d.capacity, own, o.name(), o.o.PricePerHour/(float64(o.o.GPUs)*o.perf), decSkipped(d.offers())))
		d.slots = decAddSlot(d.slots, o.o.GPUs, decBootFull, k)
		deficit -= k * o.o.GPUs
	}
}

// ownedCapacity is the burst capacity held by instances launched for
// owner, or with owner "", by instances of no active floor.
func (d *decider) ownedCapacity(owner string) int {
	n := 0
	for i := range d.inst {
		in := &d.inst[i]
		if d.flag(i) != 0 || in.State == StateDraining || in.State == StateTerminating {
			continue
		}
		if owner == "" {
			if in.Floor != "" && d.floorOwnerActive(in.Floor) {
				continue
			}
		} else if in.Floor != owner {
			continue
		}
		n += decGPUs(&in.Offering)
	}
	for _, l := range d.plan.Launches {
		if l.Floor == owner {
			n += l.Count * l.Offering.GPUs
		}
	}
	return n
}

// floorOffer picks a floor's offering: its pinned one when available, else
// the cheapest per GPU-hour (performance weighted) available.
func (d *decider) floorOffer(f *Floor) *decOffer {
	offs := d.offers()
	var best *decOffer
	for i := range offs {
		o := &offs[i]
		if o.skip != "" {
			continue
		}
		if f.Offering != "" && f.Offering != o.o.Name && f.Offering != o.name() {
			continue
		}
		o.score = o.o.PricePerHour / (float64(o.o.GPUs) * o.perf)
		o.n = 0
		if best == nil || decLess(o, best) {
			best = o
		}
	}
	return best
}

// pendingJobs is the queue's demand as job sizes, largest first. When the
// snapshot gives each job's wait, only the jobs that would start past the
// wait target unless capacity is launched now count (due: waited + the
// next evaluation + the slowest available boot > wait target); younger
// jobs are left to capacity that frees up meanwhile, and reconsidered at
// the next evaluation. younger counts the jobs left out.
func (d *decider) pendingJobs() (jobs, young []decJob, younger int) {
	jobs = d.jobBuf[:0]
	young = d.youngBuf[:0]
	if len(d.snap.PendingBySize) > 0 {
		// Due jobs were submitted before now - horizon: a binary search
		// per size, whatever the queue's length.
		cutoff := d.now.Add(-(d.pool.WaitTarget.D() - d.interval - d.slowestBoot()))
		for _, ps := range d.snap.PendingBySize {
			n := len(ps.Submitted)
			if ps.GPUs <= 0 || n == 0 || !d.cloudHolds(ps.GPUs) {
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
	} else if len(d.snap.PendingJobGPUs) > 0 {
		waits := d.snap.PendingJobWaits
		horizon := time.Duration(-1 << 63)
		if len(waits) == len(d.snap.PendingJobGPUs) {
			horizon = d.pool.WaitTarget.D() - d.interval - d.slowestBoot()
		} else {
			waits = nil
		}
		for k, s := range d.snap.PendingJobGPUs {
			if s <= 0 || !d.cloudHolds(s) {
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
	} else if d.snap.PendingGPUs > 0 && d.cloudHolds(1) {
		jobs = append(jobs, decJob{size: 1, n: d.snap.PendingGPUs})
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
func (d *decider) slowestBoot() time.Duration {
	var b time.Duration
	for _, o := range d.offers() {
		if o.skip == "" {
			b = max(b, o.boot)
		}
	}
	return b
}

// overflow packs pending jobs into free capacity and launches for the rest.
func (d *decider) overflow() {
	d.noteUnheld()
	jobs, young, younger := d.pendingJobs()
	if len(jobs) == 0 {
		if younger > 0 {
			d.note(fmt.Sprintf("holding: %d pending jobs, none waited long enough to need burst capacity (wait target %s)", younger, decFmtDur(d.pool.WaitTarget.D())))
		}
		return
	}
	pending, count, largest := 0, 0, 0
	for _, j := range jobs {
		pending += j.size * j.n
		count += j.n
		largest = max(largest, j.size)
	}
	onprem := d.snap.OnPremFreeGPUs
	if onprem < 0 {
		onprem = d.snap.OnPremGPUs - d.snap.OnPremBusyGPUs
	}
	onprem = max(onprem, 0)
	burst := 0
	for _, s := range d.slots {
		burst += s.free * s.n
	}
	left := d.fitFree(jobs, onprem, true)
	over := 0
	for _, j := range jobs {
		over += j.size * j.n
	}
	// Younger jobs take what free capacity is left after the due ones (the
	// queue runs in order); what they cannot fit will share new instances.
	d.fitFree(young, left, false)
	if over == 0 {
		return
	}
	demand := fmt.Sprintf("%d GPUs pending (%d jobs, largest %d), %d free on-prem, %d free in burst: %d GPUs overflow",
		pending, count, largest, onprem, burst, over)
	if younger > 0 {
		demand = fmt.Sprintf("%d GPUs pending past the wait horizon (%d jobs, largest %d; %d younger jobs left to on-prem), %d free on-prem, %d free in burst: %d GPUs overflow",
			pending, count, largest, younger, onprem, burst, over)
	}
	if d.snap.IdleAllocatedGPUs > 0 {
		d.note(fmt.Sprintf("waste: %d on-prem GPUs are allocated but idle while %d GPUs overflow; fix idle allocations rather than rent", d.snap.IdleAllocatedGPUs, over))
	}
	if d.stale {
		d.note("holding queue overflow: " + demand + "; signals are stale, no launch")
		return
	}
	// Each round launches the best offering for the jobs it takes, then
	// goes on with the jobs left (with whole_jobs, a job spans instances
	// only when no available offering holds it).
	for round := 0; ; round++ {
		launched, done := d.launchRound(jobs, young, demand, round == 0)
		if done || !launched {
			return
		}
	}
}

// SpanMinGPUs is the smallest instance a job may span by default (a pool's
// span.min_gpus overrides it, see Pool.SpanMin): a job larger than one
// instance runs across whole instances of one offering only when each has
// at least this many GPUs (8-GPU nodes have the interconnect that
// multi-node jobs are built for; 1- to 4-GPU shapes do not).
const SpanMinGPUs = 8

// decServes reports whether an offering of g GPUs takes a job of size
// GPUs: when it holds the job whole, or as whole instances when spanning is
// allowed: g is at least spanMin (the pool's span.min_gpus) and, with
// whole jobs, the job is larger than every available offering (maxG is
// the largest).
func decServes(whole bool, spanMin, g, size, maxG int) bool {
	if size <= g {
		return true
	}
	return g >= spanMin && (!whole || (size > maxG && g == maxG))
}

// launchRound scores the available offerings on the pending jobs each can
// take (younger jobs count as useful GPUs of the launch they would share),
// launches the best one that the wait target and the limits allow, and
// marks the jobs it serves as handled. It reports whether it launched, and
// whether no job is left.
func (d *decider) launchRound(jobs, young []decJob, demand string, first bool) (launched, done bool) {
	left := 0
	for _, j := range jobs {
		left += j.n
	}
	if left == 0 {
		return false, true
	}
	offs := d.offers()
	maxG := 0
	for i := range offs {
		if offs[i].skip == "" {
			maxG = max(maxG, offs[i].o.GPUs)
		}
	}
	bins := d.binBuf[:0]
	for i := range offs {
		o := &offs[i]
		o.score = -1
		if o.skip != "" {
			continue
		}
		served := d.servBuf[:0]
		for _, j := range jobs {
			if j.n > 0 && decServes(d.pool.WholeJobs, d.pool.SpanMin(), o.o.GPUs, j.size, maxG) {
				served = append(served, j)
			}
		}
		o.n, o.used, bins = decPackNew(served, o.o.GPUs, bins)
		if o.n <= 0 || o.used <= 0 {
			continue
		}
		// Younger jobs queued behind will share what the due ones leave
		// free: they count as useful GPUs, not as a reason to launch more.
		o.young = 0
		for _, j := range young {
			if j.n > 0 && j.size <= o.o.GPUs {
				var rest int
				rest, bins = decPlace(bins, j.size, j.n)
				o.young += (j.n - rest) * j.size
			}
		}
		o.used += o.young
		o.score = float64(o.n) * o.o.PricePerHour / (float64(o.used) * o.perf)
	}
	rank := decRank(offs, d.rankBuf[:0])
	if len(rank) == 0 {
		if first {
			d.note("holding queue overflow: " + demand + "; no offering can be launched" + decSkipped(offs))
		}
		return false, false
	}
	wait := d.pool.WaitTarget.D()
	var limits []string
	for r, oi := range rank {
		o := &offs[oi]
		boot := o.boot
		bootText := decFmtDur(boot)
		if o.seen {
			bootText += " (observed)"
		}
		// The next chance to launch is one interval away: hold only when
		// launching then would still start the oldest job in time.
		if d.snap.OldestWait+d.interval+boot <= wait {
			if r == 0 {
				if first {
					d.note(fmt.Sprintf("holding queue overflow: %s; oldest waited %s + next evaluation %s + boot %s of %s <= wait target %s: on-prem may still take it",
						demand, decFmtDur(d.snap.OldestWait), decFmtDur(d.interval), bootText, o.name(), decFmtDur(wait)))
				}
				return false, false
			}
			continue
		}
		k, limit := d.allowed(o, o.n)
		if k == 0 {
			limits = append(limits, fmt.Sprintf("%s: limit %s", o.name(), limit))
			continue
		}
		cut := ""
		if k < o.n {
			cut = fmt.Sprintf("; cut from %d to %d by limit %s", o.n, k, limit)
			d.note(fmt.Sprintf("launch of %s cut from %d to %d instances by limit %s", o.name(), o.n, k, limit))
		}
		passed := ""
		if len(limits) > 0 {
			passed = " (passed over " + strings.Join(limits, "; ") + ")"
		}
		d.launch(o, k, "", fmt.Sprintf("queue overflow: %s; oldest waited %s + next evaluation %s + boot %s > wait target %s; chose %s at $%.2f per useful GPU-hour (%d × %d GPUs, $%.2f/h each, for %d GPUs of jobs)%s%s%s",
			demand, decFmtDur(d.snap.OldestWait), decFmtDur(d.interval), bootText, decFmtDur(wait), o.name(), o.score, o.n, o.o.GPUs, o.o.PricePerHour, o.used, decSkipped(offs), passed, cut))
		for k := range jobs {
			if decServes(d.pool.WholeJobs, d.pool.SpanMin(), o.o.GPUs, jobs[k].size, maxG) {
				jobs[k].n = 0
			}
		}
		return true, false
	}
	if len(limits) > 0 {
		d.note("holding queue overflow: " + demand + "; no launch fits the limits: " + strings.Join(limits, "; "))
	}
	return false, false
}

// fitFree places jobs (reducing their counts) into left free on-prem GPUs,
// then into free burst slots, and with whole also across whole free
// instances smaller than a job. It returns the on-prem GPUs still free.
func (d *decider) fitFree(jobs []decJob, left int, whole bool) int {
	for k := range jobs {
		j := &jobs[k]
		if left >= j.size {
			p := min(j.n, left/j.size)
			j.n -= p
			left -= p * j.size
		}
		if j.n > 0 {
			j.n, d.slots = decPlace(d.slots, j.size, j.n)
		}
		if whole && j.n > 0 && (!d.pool.WholeJobs || j.size > d.maxOfferGPUs()) {
			j.n = decPlaceWhole(d.slots, j.size, j.n, d.pool.SpanMin())
		}
	}
	return left
}

// maxOfferGPUs is the largest offering's GPU count.
func (d *decider) maxOfferGPUs() int {
	m := 0
	for i := range d.pool.Offerings {
		m = max(m, d.pool.Offerings[i].GPUs)
	}
	return m
}

// decFmtDur writes a duration the way people do: 3m, 4m10s, 1h30m, 2h, 250ms.
func decFmtDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// fmtTime writes a moment as UTC clock time, with the date too when it
// falls on another day than the evaluation.
func (d *decider) fmtTime(t time.Time) string {
	t = t.UTC()
	n := d.now.UTC()
	if t.Year() == n.Year() && t.YearDay() == n.YearDay() {
		return t.Format("15:04:05 UTC")
	}
	return t.Format("2006-01-02 15:04:05 UTC")
}

// decSortByPriceDesc orders instance indices costliest first, then by ID.
func decSortByPriceDesc(inst []Instance, idx []int) {
	slices.SortFunc(idx, func(a, b int) int {
		x, y := &inst[a], &inst[b]
		if c := cmp.Compare(y.Offering.PricePerHour, x.Offering.PricePerHour); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
}

// decText builds a per-instance reason without fmt: reasons are written for
// every action, and a scale-in storm can release thousands at once.
type decText []byte

func (t decText) s(x string) decText { return append(t, x...) }
func (t decText) n(x int) decText    { return strconv.AppendInt(t, int64(x), 10) }
func (t decText) q(x string) decText { return strconv.AppendQuote(t, x) }

// usd writes $x.xx.
func (t decText) usd(x float64) decText {
	return strconv.AppendFloat(append(t, '$'), x, 'f', 2, 64)
}

// dur writes a duration like decFmtDur.
func (t decText) dur(d time.Duration) decText {
	// Reasons are read by people: whole seconds from a second up,
	// milliseconds below.
	if d >= time.Second || d <= -time.Second {
		d = d.Round(time.Second)
	} else {
		d = d.Round(time.Millisecond)
	}
	if d%time.Second != 0 || d == 0 {
		return append(t, decFmtDur(d)...)
	}
	if d < 0 {
		t = append(t, '-')
		d = -d
	}
	h, m, sec := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	if h > 0 {
		t = append(t.n(h), 'h')
		if m == 0 && sec == 0 {
			return t
		}
		t = append(t.n(m), 'm')
	} else if m > 0 {
		t = append(t.n(m), 'm')
	}
	if sec > 0 || (h == 0 && m == 0) {
		t = append(t.n(sec), 's')
	}
	return t
}

// at writes a moment like fmtTime.
func (t decText) at(d *decider, x time.Time) decText {
	x = x.UTC()
	n := d.now.UTC()
	if x.Year() == n.Year() && x.YearDay() == n.YearDay() {
		return x.AppendFormat(t, "15:04:05 UTC")
	}
	return x.AppendFormat(t, "2006-01-02 15:04:05 UTC")
}

// text starts a reason in the decider's scratch buffer.
func (d *decider) text() decText { return decText(d.buf[:0]) }

// str ends a reason and keeps the buffer for the next.
func (d *decider) str(t decText) string {
	d.buf = t
	return string(t)
}
