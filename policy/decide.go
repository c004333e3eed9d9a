package policy

import "time"

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
// evaluation is assumed at now + pool.Interval (30 s when unset), and a
// hard budget counts on it at the latest pool.TickSlack later, and on the
// ends each evaluation orders reaching the cloud pool.TickSlack after it.
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
//     draining; its GPUs unhealthy and not busy, Instance.UnhealthyGPUs,
//     left out: they hold no job) is kept at no less than the sum of
//     active floors' GPUs;
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
//     used) is chosen among those not out of stock, blocked by quota or
//     left unused by the queue (Snapshot.Unused),
//     smaller shapes first at an equal price; it is launched only when
//     OldestWait + the next evaluation + its Boot passes the pool's
//     WaitTarget, so that the queue's oldest job starts in time. With
//     Pool.WholeJobs an offering only takes the jobs it holds whole (the
//     largest also takes those larger than every offering), and further
//     offerings are launched in the same plan for the jobs left. Launches
//     are cut to fit max_gpus (all non-terminating instances),
//     max_cost_per_hour and the budget; when the chosen offering cannot
//     fit even one instance, or the instances a cut leaves cannot run any
//     job it would take (each spans more instances than the cut allows,
//     with the whole free ones of its size), the next one is tried. Jobs no burst capacity
//     can hold are never launched for: a note says they wait for on-prem,
//     or, when larger than on-prem too, that they will never be served
//     (Plan.Unservable counts them).
//  5. Scale-in: an instance whose GPUs have all idled for IdleThreshold
//     (with scale_in.idle auto and the offering's idle spells known,
//     Snapshot.IdleGaps, the threshold up to it that would have cost least
//     over them, LearnedIdle) is
//     drained when its billing lets it go (an hourly one just before its
//     paid hour ends, a per-second-min-60s one after its first minute),
//     unless a pending job fits on it or the floors need it. Booting
//     instances are never drained for idleness; instances of a floor that
//     is no longer active are ordinary capacity. One kept for pending jobs
//     for more than max(UnusedAfter, two intervals) past its threshold
//     while a job it could start alone waited longer is not used by the
//     scheduler: unless the floors need it, it is drained and its offering
//     named in Plan.Unused, for the caller to hold out of launches.
//
// How it is built: a pipeline of stages, each a function in a file of its
// own that takes plain values and returns what it decided, called in this
// order by Decide (and the first three by Admit):
//
//	observe          observe.go   one walk over the instances: the fleet (what
//	                              the pool holds: totals, commitments, free
//	                              GPUs), the idle instances due for release,
//	                              and the plan begun with finished drains and
//	                              max_lifetime drains
//	limits, budget   limits.go    over a limit or the budget: instances end and
//	                              the fleet launches nothing; allowed cuts
//	                              every later launch to what they allow
//	floors           floors.go    launches that active floors lack
//	overflow         overflow.go  pending jobs packed into the fleet's free
//	                              GPUs; what is left (a decOverflow) needs
//	                              new capacity
//	offering choice  choose.go    rounds of the best offering per useful
//	                              GPU-hour for the overflow, within the wait
//	                              target and limits
//	scale-in         scalein.go   idle instances released when billing allows
//	explanation      explain.go   the Plan, from what the stages wrote
//
// Limits and the budget come before the floors because they decide whether
// anything may be launched at all; scale-in comes last because it keeps the
// idle instances the overflow's jobs were packed onto.
//
// Decide calls a stage only when what sets it off holds, a predicate in the
// stage's file (breaksLimits, breaksBudget, floorsShort, queued; an
// overflow to launch for; idle instances due), so that it reads which
// stage acts when, and a quiet tick passes no values from stage to stage:
// each handover copies the fleet and the plan, some 30 words.
//
// Every stage reads the decision's inputs (decEnv: the pool, snapshot,
// instances, spend, now and the constants derived from them, which nothing
// changes). Three values flow down the pipeline, each taken and returned by
// the stages that change it, the way append takes and returns a slice (the
// caller goes on with what is returned, and no stage keeps one): the fleet
// (decFleet, fleet.go: what the pool holds after the actions planned so
// far, and which instances they touch), the plan (decPlan, explain.go: the
// actions with their reasons, the notes and the limits that bound, each
// stage appending its own after those of the stages before, so that the
// notes keep the stages' order) and the overflow (decOverflow), which the
// offering choice only reads. The offerings as weighed for this decision
// (decMarket, choose.go) are shared by pointer: a memo, weighed once when
// the floors, the overflow or the offering choice first needs them and
// only read after; it also holds the overflow's memo of what burst
// capacity can hold and the storage of its jobs, so that a busy decision
// allocates little. The arithmetic the stages share lives in budget.go
// (billing and commitments), pack.go (packing jobs into GPUs) and fit.go
// (what burst capacity can hold).
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
	return decide(pool, snap, instances, spend, now, false)
}

// DecideWithoutNotes is Decide for a caller that reads neither the plan's
// notes nor its reasons (the simulator, which evaluates the policy at
// every interval, often hundreds of thousands of times a run): the same
// launches, drains, terminations, limits bound, unservable jobs and
// unused offerings, with the notes and reasons that Decide formats at
// every evaluation (the overflow, the launch chosen, floors, limits,
// holds, idle and unused drains) left unwritten: Notes may be shorter and a Reason empty.
func DecideWithoutNotes(pool *Pool, snap Snapshot, instances []Instance, spend Spend, now time.Time) Plan {
	return decide(pool, snap, instances, spend, now, true)
}

// decide is Decide; quiet leaves the notes and reasons that only a reader
// of them needs unwritten (DecideWithoutNotes).
func decide(pool *Pool, snap Snapshot, instances []Instance, spend Spend, now time.Time, quiet bool) Plan {
	if pool == nil {
		return Plan{Time: now, Waste: snap.IdleAllocatedGPUs, Notes: []string{"no pool given: nothing decided"}}
	}
	e := newDecEnv(pool, &snap, instances, spend, now)
	e.quiet = quiet
	var slotBuf [16]decSlot // free GPUs of the burst instances, by size: on the stack for most pools
	var mk decMarket        // the offerings, weighed when first needed
	defer mk.release()

	// observe.go: the fleet as the pool holds it, the idle instances due
	// for release, and the plan begun with finished and max_lifetime drains.
	fl, idle, p := observe(&e, slotBuf[:0], true)
	p.quiet = quiet
	// limits.go: over max_gpus or max_cost_per_hour, or over a hard
	// budget, instances end and the fleet is held from launching.
	if e.breaksLimits(&fl) {
		fl, p = limitPressure(&e, fl, p)
	}
	if e.breaksBudget(&fl) {
		fl, p = budgetPressure(&e, fl, p)
	}
	// floors.go: launches that active floors lack.
	if e.floorsShort(&fl) {
		fl, p = launchFloors(&e, fl, p, &mk)
	}
	// overflow.go: pending jobs packed into free GPUs; ov is what is
	// left, and choose.go launches the best offerings for it.
	if e.queued() {
		var ov decOverflow
		ov, fl, p = overflow(&e, fl, p, &mk)
		if ov.launch {
			fl, p = chooseOfferings(&e, fl, p, &mk, ov)
		}
	}
	// scalein.go: idle instances released.
	if len(idle) > 0 {
		p = scaleIn(&e, fl, p, idle)
	}
	// explain.go: the Plan, in the order the stages decided it.
	return explain(pool, &snap, now, p)
}
