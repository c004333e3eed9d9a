// Package sim backtests burst policies: a deterministic discrete-event
// simulation of one pool — its on-prem GPUs, the cloud instances a policy
// rents, and the jobs of a trace — that asks a decision function (the real
// policy.Decide, or a baseline) what to do on a fixed evaluation interval.
//
// On-prem, jobs are placed in arrival order, best fit, skipping jobs that do
// not fit (greedy backfill); a job larger than a node takes whole nodes. A
// job goes on-prem when it fits there, else onto a ready cloud instance,
// also best fit (roomIndex; a job larger than an instance spans whole
// instances of one offering of at least the pool's span.min_gpus, 8 by
// default, and runs span.slowdown times longer), where it runs duration ÷
// performance. A job killed with its instance resumes from its last
// checkpoint when the pool has a checkpoint_interval, else starts over.
// Instances take work once booted and are billed by their billing rule from
// launch to termination. With Options.Cloud, offerings go out of stock,
// boot times spread and spot instances are reclaimed (cloud.go).
//
// Files: sim.go runs the loop; events.go the event queue; queue.go the job
// queue and placement; onprem.go the on-prem nodes; instances.go the cloud
// instances; cloud.go the cloud model; billing.go budget periods; view.go
// what the policy sees and applying its plan; timeline.go samples for
// plots; result.go the result.
package sim

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/spillway-io/spillway/boottime"
	"github.com/spillway-io/spillway/idlegap"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
	"github.com/spillway-io/spillway/spotlife"
)

// checkState, when set (tests), is called with the run's state between
// steps of its loop, to check the counts kept by hand against the fleet.
var checkState func(s *state)

// DecideFunc has the shape of policy.Decide: the simulator calls it every
// evaluation interval and applies the plan it returns.
type DecideFunc func(pool *policy.Pool, snap policy.Snapshot, instances []policy.Instance, spend policy.Spend, now time.Time) policy.Plan

// Policy is a named way of renting cloud capacity.
type Policy struct {
	// Name is how results and reports call it.
	Name string
	// Interval is how often it is evaluated; 0 means the pool's interval.
	Interval time.Duration
	// New returns a fresh decision function for one run (baselines keep
	// state between ticks). Nil means the policy never rents anything.
	New func() DecideFunc
	// NewDecider, when set, is New as a Decider, whose memory can be
	// copied: the simulator then skips steady evaluations (steadySkip).
	NewDecider func() Decider
	// JobList asks for Snapshot.PendingJobGPUs and PendingJobWaits (the
	// first pending jobs in arrival order) besides PendingBySize.
	JobList bool
	// IdleWithoutWork says the policy's plan is empty when no job is
	// pending, it holds no instance and the pool has no schedule, so the
	// simulator may skip those evaluations.
	IdleWithoutWork bool
	// KeepsFloors says the policy keeps schedule floors (Snapshot.Floors):
	// the run counts the idle GPU-hours they hold (FloorIdleGPUHours).
	KeepsFloors bool
	// QuietWhileBusy says that once the policy has planned nothing while
	// no job is pending and every instance it holds is up and running
	// work (none booting, idle or draining), it plans nothing until a job
	// arrives, ends or moves, in a pool whose rules do not act with time
	// alone (no budget, schedule, max_lifetime or checkpointing): the
	// simulator then skips the evaluations up to the next event (a run
	// whose jobs run for years is otherwise millions of evaluations of a
	// fleet that cannot change). TestQuietSkipIsExact holds each policy
	// that says so to it.
	QuietWhileBusy bool
	// IdleUnwatched says the policy's plans do not depend on how long an
	// instance has been idle (threshold counts busy GPUs only), so an
	// idle instance does not keep its runs from a steady skip (steady).
	IdleUnwatched bool
	// NoIdleGaps says the policy does not read Snapshot.IdleGaps (only the
	// spillway policy's idle: auto does): the run keeps no idle-gap
	// tracker for it, and its snapshots carry none.
	NoIdleGaps bool
	// JoinTimeout, when set, gives for a pool how long after its launch an
	// instance still booting is ended, a failed launch (cause
	// join_timeout): the server's join.timeout, Karpenter's registration
	// TTL; nil or 0: never. JoinTimeoutSkips puts
	// its offering in the capacity cache for Cloud.CapacityTTL, as the
	// server does (scheduler: joinTimedOut); Karpenter only launches
	// again.
	JoinTimeout      func(pool *policy.Pool) time.Duration
	JoinTimeoutSkips bool
	// LearnsSpot says the policy reads Snapshot.SpotReclaims (the spillway
	// policy does): the run learns each spot offering's reclaim rate from
	// its notices (package spotlife), as the server does.
	LearnsSpot bool
	// BusyBurstable says the policy's snapshots count in OnPremBusyGPUs
	// only the on-prem GPUs running jobs the cloud could also run (a size
	// some capacity it is shown may rent holds, policy.CloudHolds on the
	// offerings its operator lists, operatorOfferings, and that some
	// cloud run could finish, lifeWindow): threshold's utilisation is
	// that of the work it may burst, as its metric would be a bursting
	// partition's. GPUs busy with jobs only on-prem can run are no
	// reason to rent headroom that none of them can use.
	BusyBurstable bool
}

// Options configure one simulation run.
type Options struct {
	// Pool gives the on-prem size, offerings, limits and interval.
	Pool *policy.Pool
	// Trace is the job stream (sorted, starting at 0).
	Trace *trace.Trace
	// Policy decides what to rent.
	Policy Policy
	// Floors returns the schedule floors active at now (policy.ScheduleFloors);
	// nil means none.
	Floors func(pool *policy.Pool, now time.Time) []policy.Floor
	// Progress, when set, is called now and then with the fraction of
	// simulated time done (0..1).
	Progress func(done float64)
	// Timeline records samples for a plot when set.
	Timeline bool
	// Cloud models stock-outs, boot-time spread and spot reclaims; nil is
	// the ideal cloud (every launch succeeds, fixed boots, no reclaims).
	Cloud *Cloud
	// MaxInstances, when above 0, bounds the instances one run may launch
	// (the simulator keeps a record of each, BytesPerInstance): a launch
	// beyond it ends the run with ErrTooManyInstances.
	MaxInstances int
	// counts, when set, receives the run's work counts (tests).
	counts *workCounts
}

// workCounts are what a run did: evaluations of the policy, and the items
// (queues, listed jobs, instances) the simulator's loops visited, a
// measure of its work that tests compare across queue depths.
type workCounts struct {
	evals, steps int64
	// probes are the evaluations skipSteadyTicks made on copies.
	probes int64
	// passes are placement passes (state.place) that tried a job.
	passes int64
}

// DefaultInterval is the evaluation interval used when a pool names none.
const DefaultInterval = 30 * time.Second

// MinInterval is the shortest evaluation interval the simulator runs: a
// controller evaluates a pool every few seconds at most, and trace times
// are kept to the millisecond.
const MinInterval = time.Second

// quietLimit ends a run that has stopped making progress: no job arrived,
// started or ended for this long (with a budget, plus its longest period: a spent
// budget holds launches until the next) while nothing runs (e.g. a job
// larger than anything it may ever get), or no job finished for this long
// plus the longest job and, with a budget, its longest period (a job that
// runs, is killed by a drain timeout and runs again, for ever: it is
// reported unstarted).
const quietLimit = 24 * time.Hour

// backlogLimit bounds how long a run goes on queueing work after the
// trace: jobs still queued as long again as the trace's submissions span
// (at least this long) plus its longest job (and, with a budget, its
// longest period) after the last submission are abandoned, reported
// unstarted (Result.Stopped). A budget far below the trace's demand would
// otherwise make the run go on for years of evaluations, one every
// interval, to start the last job.
const backlogLimit = 30 * 24 * time.Hour

// part is one piece of a job's placement: GPUs on a node or an instance.
type part struct {
	cloud bool
	idx   int32
	gpus  int32
}

// jobState holds no pointer (the garbage collector skips the million of
// them): a running job's parts are in state.runs.
type jobState struct {
	start time.Duration // -1 until started
	gen   int32
	run   int32 // 1 + its index in state.runs while running, else 0
	cloud bool
	// nowhere: the job can run neither on-prem (larger than it) nor on
	// the cloud (nothing the pool may rent holds it, policy.CloudHolds, or
	// it outlasts every instance: lifeWindow, or a hard budget pays no
	// whole run of it: budgetCap), so it is never queued, no
	// policy sees it, and the report counts it as never served.
	nowhere bool
	// onPremOnly: the job runs on-prem, and the cloud could not run it
	// on the offerings a baseline is shown (state.unlisted;
	// state.onPremOnlyBusy counts its GPUs).
	onPremOnly bool
	// done is the reference work of earlier, killed runs that their
	// checkpoints saved (Pool.CheckpointInterval); a run does the rest.
	done time.Duration
}

type state struct {
	o    Options
	pool *policy.Pool
	jobs []trace.Job
	js   []jobState
	// ran is how long each killed job's earlier, killed runs ran: time it
	// did not wait, left out of its wait (their lost work is counted
	// apart). A map, as kills are few: a field would grow every job.
	ran    map[int32]time.Duration
	start  time.Time
	now    time.Duration
	events eventHeap
	seq    uint64

	on onprem
	// onPremOnlyBusy is the on-prem GPUs busy with jobs the cloud could
	// not run (jobState.onPremOnly): Policy.BusyBurstable leaves them out.
	onPremOnlyBusy int
	// life bounds a cloud run of a job, when lifeOK (newLifeWindow).
	life   lifeWindow
	lifeOK bool
	// cap bounds what a cloud run of a job may cost, when capOK (a hard
	// budget: newBudgetCap).
	cap   budgetCap
	capOK bool
	// rentsNothing: the policy rents no cloud (onprem-only), so a job
	// larger than on-prem is never served (runsNowhere).
	rentsNothing bool

	queues  []sizeQueue
	queueOf map[int]int // by GPUs<<32 | cloud GPUs (state.queueFor)
	// shapes are the pool's offerings' shapes (policy.Shapes), for jobs
	// whose CPUs or memory the trace gives (cloudShape); nil when no
	// offering's vCPUs or memory is known.
	shapes []policy.Shape
	// leftJobs and leftGPUs are the pending jobs no instance holds, which
	// the policies are not shown; largerGPUs the GPUs pending jobs take on
	// the cloud beyond their own (as the server's sources count them).
	leftJobs, leftGPUs, largerGPUs int
	// unservableOf remembers, per job size larger than on-prem, whether
	// nothing the pool may rent holds it (policy.CloudHolds).
	unservableOf map[int]bool
	// quotaShortOf remembers, per job size, whether no offering's
	// provider quota holds it (quotaShort).
	quotaShortOf map[int]bool
	// listed is the pool as a baseline's operator lists it
	// (operatorOfferings), and unlistedOf remembers, per size, whether
	// none of its offerings holds it (state.unlisted).
	listed      *policy.Pool
	unlistedOf  map[int]bool
	pendingJobs int
	pendingGPUs int
	placeHeap   []int32 // place's heap of queues, reused
	listHeap    []int32 // snapshot's, for the job list

	// The instances not yet ended, in slots reused once one ends; slotOf,
	// by launch, is 1 + an instance's slot, 0 once it has ended (state.inst).
	slots      []*instance
	freeSlots  []int32
	slotOf     []int32
	endedInst  instance
	cloudGPUs  int     // GPUs of instances not yet ended
	cloudPrice float64 // their price per hour
	cloudFree  int     // free GPUs on running (ready, not draining) instances
	// cloudWhole is the GPUs of running instances with every GPU free
	// that a job may span (spanWhole): a bound that spares cloudFit its
	// scan of the fleet when no span can be found.
	cloudWhole int
	room       roomIndex
	// view is the []policy.Instance handed to the policy, kept up to date
	// incrementally: rebuilt when instances come or go (viewValid false),
	// else refreshed for the instances in dirty.
	view []policy.Instance
	// pendBuf, headBuf and sizeBuf are reused by snapshot; the policy must
	// not keep Snapshot.PendingJobGPUs or PendingBySize past its call.
	pendBuf, headBuf []int
	sizeBuf          []policy.PendingSize
	waitBuf          []time.Duration
	viewValid        bool
	dirty            []int32
	alive            []int32 // indices of instances not yet ended, in launch order
	booting          int
	running          int // jobs running
	lastMove         time.Duration
	lastDone         time.Duration // when a job last finished or arrived
	// calm: the last evaluation planned nothing in a quiet state
	// (quietWhileBusy) and nothing happened since, so a QuietWhileBusy
	// policy plans nothing until the next event. planned is whether the
	// evaluations of the current tick planned anything.
	calm, planned bool
	// acted is whether the current tick's evaluations planned a launch,
	// drain or termination; bound is the limits the last one bound by
	// (Plan.BoundBy), for skipSteadyTicks.
	acted bool
	bound []string
	// boundTo is, per limit, the end of the time already counted in
	// LimitBoundHours: an evaluation counts the interval after it, less
	// what an earlier one at the same instant (a re-ask after a failed
	// launch) counted.
	boundTo map[string]time.Duration
	// unused holds the offerings the policy found left unused by the
	// queue (Plan.Unused), until when, as the server's capacity cache
	// does (Snapshot.Unused). The simulated scheduler starts every job
	// that fits at once, so the policy finds none; kept to decide as the
	// server would.
	unused map[policy.OfferingKey]time.Time

	// spend in the current budget period from instances already ended
	periodStart, periodEnd time.Time
	closedInPeriod         float64
	closedTotal            float64

	// boots learns each offering's boot times as the server does, for
	// Snapshot.Boot.
	boots *boottime.Tracker
	// idle learns how long each offering's idle instances wait for their
	// next job, as the server does from its agents' reports.
	idle *idlegap.Tracker

	res      Result
	cloud    *cloudState
	quotaUse map[string]int // GPUs held per provider and per provider/region
	interval time.Duration
	cheapest float64 // the lowest price per useful GPU-hour on offer
	work     float64 // GPU-hours of reference work done on cloud instances
	// worth is that work valued at the reference price (cheapest), or at
	// the price per useful GPU-hour of the offering it ran on where that
	// is lower (spot taken as a last resort): what Efficiency divides.
	worth float64
	// maxOfferGPUs is the largest offering's GPU count; spanMin the
	// pool's span.min_gpus (Pool.SpanMin).
	maxOfferGPUs, spanMin int
	// joinTimeout ends an instance still booting this long after its
	// launch (Policy.JoinTimeout); 0: never.
	joinTimeout time.Duration
	// spot learns spot reclaim rates, for a policy that reads them
	// (Policy.LearnsSpot) in a pool with spot offerings whose jobs
	// checkpoint; nil otherwise.
	spot *spotlife.Tracker
	// spotRented: a spot instance has been launched (steadySpot).
	spotRented bool

	timeline  *Timeline
	nextSampl time.Duration
	sampleDt  time.Duration
	peak      Sample // maxima since the last sample
	counts    workCounts

	// runs holds the parts of running jobs, and runJob the job of each;
	// freeRuns lists free entries (empty, their arrays kept).
	runs     [][]part
	runJob   []int32
	freeRuns []int32
	// spanGroups is cloudFit's span search's instances by offering name,
	// kept between searches (each slice emptied, its array kept).
	spanGroups map[string][]int32
	// victims is terminate's scratch list of the jobs it kills.
	victims []int
}

// Run simulates one policy on one trace.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Pool == nil || o.Trace == nil {
		return Result{}, fmt.Errorf("sim: Options need a Pool and a Trace")
	}
	// A pool without on-prem nodes (a cloud-only pool) need not say how
	// many GPUs a node has, as config validation allows.
	nodeGPUs := o.Pool.OnPrem.GPUsPerNode
	if o.Pool.OnPrem.Nodes == 0 && nodeGPUs == 0 {
		nodeGPUs = 1
	}
	if nodeGPUs <= 0 || nodeGPUs > maxNodeGPUs {
		return Result{}, fmt.Errorf("sim: pool %q: onprem.gpus_per_node is %d (want 1 to %d)", o.Pool.Name, nodeGPUs, maxNodeGPUs)
	}
	if n := o.Pool.OnPrem.Nodes; n < 0 || n > math.MaxInt32*int(maxNodeGPUs)/nodeGPUs {
		return Result{}, fmt.Errorf("sim: pool %q: onprem.nodes is %d (want 0 to %d)", o.Pool.Name, n, math.MaxInt32*int(maxNodeGPUs)/nodeGPUs)
	}
	if err := checkOrder(o.Trace); err != nil {
		return Result{}, err
	}
	s := &state{
		o:        o,
		pool:     o.Pool,
		jobs:     o.Trace.Jobs,
		js:       make([]jobState, len(o.Trace.Jobs)),
		start:    o.Trace.Start,
		queueOf:  map[int]int{},
		cheapest: cheapestPerGPUHour(o.Pool),
	}
	for _, off := range o.Pool.Offerings {
		s.maxOfferGPUs = max(s.maxOfferGPUs, off.GPUs)
	}
	s.spanMin = o.Pool.SpanMin()
	if o.Policy.JoinTimeout != nil {
		s.joinTimeout = o.Policy.JoinTimeout(o.Pool)
	}
	if o.Policy.LearnsSpot && o.Pool.CheckpointInterval > 0 && slices.ContainsFunc(o.Pool.Offerings, func(o policy.Offering) bool { return o.Market == policy.MarketSpot }) {
		// Decide weighs reclaims only for jobs that checkpoint (without,
		// spot is a last resort whatever its rate).
		s.spot = spotlife.New()
	}
	s.shapes = policy.Shapes(o.Pool.Offerings)
	s.res.Policy = o.Policy.Name
	s.res.CostByOffering = map[string]float64{}
	s.res.FailedLaunches = map[string]int{}
	s.cloud = newCloudState(o.Cloud)
	// The policy reads the trackers' maps during its call only (no
	// Decider keeps a snapshot): they are written in place.
	s.boots = boottime.New()
	s.boots.WriteInPlace()
	if !o.Policy.NoIdleGaps {
		s.idle = idlegap.New()
		s.idle.WriteInPlace()
	}
	s.quotaUse = map[string]int{}
	s.res.CostByProvider = map[string]float64{}
	s.res.BudgetPeriods = []BudgetPeriod{}
	s.res.DominatedBy = []string{}
	s.on = newOnprem(o.Pool.OnPrem.Nodes, nodeGPUs)
	s.life, s.lifeOK = newLifeWindow(o.Pool)
	s.cap, s.capOK = newBudgetCap(o.Pool)
	s.rentsNothing = o.Policy.NewDecider == nil && o.Policy.New == nil
	s.endedInst = instance{state: policy.StateTerminating, ended: 0, ready: 0, idleSince: -1, drainStart: -1, viewPos: -1}
	for i := range s.js {
		s.js[i].start = -1
	}
	span := o.Trace.Span()
	if o.Timeline {
		s.timeline = &Timeline{Start: s.start}
		s.sampleDt = max(time.Minute, span/720)
	}

	var decide DecideFunc
	var dec Decider // decide's Decider, when its memory can be copied
	interval := o.Policy.Interval
	if o.Policy.NewDecider != nil {
		dec = o.Policy.NewDecider()
		decide = dec.Decide
	} else if o.Policy.New != nil {
		decide = o.Policy.New()
	}
	if decide != nil {
		if interval <= 0 {
			interval = o.Pool.Interval.D()
		}
		if interval <= 0 {
			interval = DefaultInterval
		}
	}
	if decide != nil && interval < MinInterval {
		// Evaluations follow the interval, and ticks between events are
		// not skipped while anything is queued or rented: at 1ns a trace
		// of two hours is 7.2×10^12 evaluations, a hang.
		return Result{}, fmt.Errorf("sim: pool %q: interval %s is shorter than the simulator's %s: want an interval of %s or more", o.Pool.Name, interval, MinInterval, MinInterval)
	}
	s.interval = interval
	if o.Policy.Interval > 0 && o.Policy.Interval != o.Pool.Interval.D() {
		// The pool as this policy runs it: its decisions and the limits'
		// commitments follow the policy's own interval.
		pool := *o.Pool
		pool.Interval = policy.Duration(o.Policy.Interval)
		s.pool = &pool
	}

	// The first budget period is the run's, whatever the policy does
	// first: every run of a trace lists the same periods, $0 where it
	// spent nothing (onprem-only).
	s.rollPeriod()

	const never = time.Duration(math.MaxInt64)
	longest := time.Duration(0)
	for _, j := range s.jobs {
		longest = max(longest, j.Duration)
	}
	stuckLimit := quietLimit + longest
	quiet := quietLimit
	if b := o.Pool.Limits.Budget; b != nil {
		// A spent budget holds launches back until its next period.
		stuckLimit += longestPeriod(b.Period)
		quiet += longestPeriod(b.Period)
	}
	deadline := backlogDeadline(s.jobs, longest, o.Pool.Limits.Budget)
	nextTick := time.Duration(0)
	ai := 0
	// Every step looks at done: one step may be long (a job of a million
	// GPUs takes and frees 131,072 on-prem nodes), and a run checked every
	// 8192 steps went on for a minute after Ctrl-C. A closed channel's
	// receive that does not block costs nanoseconds.
	done := ctx.Done()
	for iter := 0; ; iter++ {
		if checkState != nil {
			checkState(s)
		}
		select {
		case <-done:
			return Result{}, ctx.Err()
		default:
		}
		if iter&8191 == 0 && o.Progress != nil && span > 0 {
			o.Progress(min(1, float64(s.now)/float64(span)))
		}
		next := never
		if ai < len(s.jobs) {
			next = s.jobs[ai].Submit
		}
		if len(s.events) > 0 {
			next = min(next, s.events[0].at)
		}
		if decide != nil {
			idle := ai == len(s.jobs) && s.running == 0 && len(s.events) == 0
			if idle && ((s.pendingJobs == 0 && len(s.alive) == 0) || nextTick > s.lastMove+quiet) {
				s.stopped(fmt.Sprintf("nothing ran and no job arrived, started or ended for %s", humanSpan(quiet.Seconds())))
				break
			}
			if ai == len(s.jobs) && nextTick > s.lastDone+stuckLimit {
				s.stopped(fmt.Sprintf("no job finished for %s, a day plus the longest job (plus a budget period): jobs run and killed again and again, or held back for good", humanSpan(stuckLimit.Seconds())))
				break
			}
			nextTick = s.skipIdleTicks(nextTick, next, interval)
			if s.calm && quietSkip {
				limit := MaxSimulated
				if ai == len(s.jobs) {
					limit = min(limit, s.lastDone+stuckLimit)
				}
				nextTick = skipCalmTicks(nextTick, next, interval, limit)
			}
			next = min(next, nextTick)
		}
		if next == never {
			break
		}
		if next > MaxSimulated {
			return Result{}, horizonError(s.pendingJobs, s.running, s.at(s.now))
		}
		s.sampleUntil(next)
		s.now = next
		for len(s.events) > 0 && s.events[0].at == s.now {
			s.calm = false
			e := s.events.pop()
			switch e.kind {
			case evJobEnd:
				if s.js[e.id].gen == e.gen {
					s.finish(int(e.id))
				}
			case evReady:
				s.ready(int(e.id))
			case evNotice:
				s.notice(int32(e.id))
			case evReclaim:
				s.terminate(int32(e.id))
			case evNoJoin:
				s.noJoin(int32(e.id))
			}
		}
		for ai < len(s.jobs) && s.jobs[ai].Submit == s.now {
			s.calm = false
			s.arrive(ai)
			ai++
			// An arrival is progress: a job submitted after a quiet
			// spell (a weekend, a gap in the trace) is asked for before
			// the run may stop for quiet.
			s.lastDone = s.now
			s.lastMove = s.now
		}
		if s.now > deadline && s.pendingJobs > 0 {
			s.abandon(deadline, o.Pool.Limits.Budget != nil)
		}
		s.place()
		if decide != nil && nextTick == s.now {
			// A policy that is idle without work skips the call when there
			// is nothing to decide: no job pending, no instance, no schedule.
			if !(o.Policy.IdleWithoutWork && s.pendingJobs == 0 && len(s.alive) == 0 && len(s.pool.Schedules) == 0) {
				// An evaluation may take long (a fleet of thousands): the
				// run stops at the next one after ctx ends, not thousands
				// of them later.
				if err := ctx.Err(); err != nil {
					return Result{}, err
				}
				if err := s.tick(decide); err != nil {
					return Result{}, err
				}
				s.place()
				s.calm = s.o.Policy.QuietWhileBusy && !s.planned && s.quietWhileBusy()
				nextTick += interval
				// The cheap test first: most evaluations have an event
				// within steadyMin intervals, and steady walks the fleet.
				if dec != nil && steadySkip && !s.calm && s.nextEvent(ai)-nextTick >= steadyMin*interval && s.steady() {
					// Not past the evaluation after which the run stops
					// or gives up on queued jobs, as at the top of the
					// loop.
					limit := MaxSimulated
					if s.pendingJobs > 0 {
						limit = min(limit, deadline)
					}
					if ai == len(s.jobs) {
						limit = min(limit, s.lastDone+stuckLimit)
						if s.running == 0 && len(s.events) == 0 {
							limit = min(limit, s.lastMove+quiet)
							if s.pendingJobs == 0 && len(s.alive) == 0 {
								// Nothing left: the run ends before the
								// next evaluation (a policy that is
								// evaluated without work, threshold).
								limit = s.now
							}
						}
					}
					var d Decider
					if nextTick, d = s.skipSteadyTicks(dec, nextTick, s.steadyEnd(dec, s.nextEvent(ai), limit, interval), interval); d != nil {
						dec, decide = d, d.Decide
						// The run is where it would be after the last
						// skipped evaluation: a run that stops next
						// counts its waits until then.
						s.sampleUntil(nextTick - interval)
						s.now = nextTick - interval
					}
				}
				continue
			}
			nextTick += interval
		}
	}
	s.finishRun()
	if o.counts != nil {
		*o.counts = s.counts
	}
	if o.Progress != nil {
		o.Progress(1)
	}
	return s.res, nil
}

// checkOrder refuses a trace whose jobs are not in submit order from 0,
// with positive durations and GPUs, as trace.Load makes them: the event loop
// admits jobs in order, and a trace built in code with times that wrapped
// around (a year × a million overflows a Duration) once ran as garbage.
func checkOrder(tr *trace.Trace) error {
	prev := time.Duration(0)
	for i, j := range tr.Jobs {
		switch {
		case j.Submit < 0:
			return fmt.Errorf("sim: trace %q: job %d is submitted at %s, before the trace's start: want jobs in submit order from 0", tr.Name, i+1, j.Submit)
		case j.Submit < prev:
			return fmt.Errorf("sim: trace %q: job %d is submitted at %s, before the job ahead of it (%s): want jobs in submit order from 0", tr.Name, i+1, j.Submit, prev)
		case j.Duration <= 0 || j.GPUs <= 0:
			return fmt.Errorf("sim: trace %q: job %d runs %s on %d GPUs: want a positive duration and GPU count", tr.Name, i+1, j.Duration, j.GPUs)
		}
		prev = j.Submit
	}
	return nil
}

// backlogDeadline is when jobs still queued are abandoned (backlogLimit):
// the last submission, plus as long again as the submissions span (at
// least backlogLimit), plus the longest job, plus with a budget its
// longest period. jobs are in submit order (checkOrder).
func backlogDeadline(jobs []trace.Job, longest time.Duration, budget *policy.Budget) time.Duration {
	if len(jobs) == 0 {
		return 0
	}
	first, last := jobs[0].Submit, jobs[len(jobs)-1].Submit
	d := last + max(last-first, backlogLimit) + longest
	if budget != nil {
		d += longestPeriod(budget.Period)
	}
	return d
}

// abandon gives up on the jobs still queued after the deadline: they stay
// unstarted, and the run ends once what runs has finished.
func (s *state) abandon(deadline time.Duration, budget bool) {
	period := ""
	if budget {
		period = " and a budget period"
	}
	why := func(at string) string {
		return fmt.Sprintf("still queued at %s, when the run gave up on queued jobs: as long again as the trace's submissions span (at least %s) plus its longest job%s after its last submission",
			at, humanSpan(backlogLimit.Seconds()), period)
	}
	// The JSON report's stopped field keeps its time without a zone, as
	// its consumers parse it; the text report names the zone.
	at := s.at(deadline).UTC().Format(time.DateTime)
	s.stoppedText(why(at), why(at+" UTC"))
	for qi := range s.queues {
		q := &s.queues[qi]
		q.jobs, q.subs, q.head = q.jobs[:0], q.subs[:0], 0
	}
	s.pendingJobs, s.pendingGPUs = 0, 0
	s.leftJobs, s.leftGPUs, s.largerGPUs = 0, 0, 0
}

// stopped records why the run gave up on the jobs still queued, the first
// time it does; nothing when none is but jobs never served (they are
// reported as such).
func (s *state) stopped(why string) { s.stoppedText(why, why) }

// stoppedText is stopped with text, for the text report, saying what why
// says for the JSON report in other words.
func (s *state) stoppedText(why, text string) {
	if s.res.Stopped != "" {
		return
	}
	for qi := range s.queues {
		if q := &s.queues[qi]; q.len() > 0 {
			s.res.Stopped, s.res.StoppedText = why, text
			return
		}
	}
}

// longestPeriod is the longest a budget period of kind p lasts: a day, a
// week, or 31 days (a month, and anything else).
func longestPeriod(p policy.BudgetPeriod) time.Duration {
	switch p {
	case policy.PeriodDay:
		return 24 * time.Hour
	case policy.PeriodWeek:
		return 7 * 24 * time.Hour
	}
	return 31 * 24 * time.Hour
}

// skipIdleTicks jumps the next evaluation over idle time: while nothing is
// queued, running, booting or billed and no schedule floor holds, an
// evaluation can decide nothing, so the next one that matters is the first
// on the interval grid at or after the next event (next) or the next
// schedule firing. The run's cost then follows the number of events, not
// the trace's span.
func (s *state) skipIdleTicks(nextTick, next, interval time.Duration) time.Duration {
	if next == time.Duration(math.MaxInt64) || nextTick >= next || s.pendingJobs > 0 || s.running > 0 ||
		len(s.alive) > 0 || len(s.events) > 0 {
		return nextTick
	}
	if s.o.Floors != nil && len(s.pool.Schedules) > 0 {
		if len(s.o.Floors(s.pool, s.at(nextTick))) > 0 {
			return nextTick
		}
		if fire, ok := policy.NextScheduleFiring(*s.pool, s.at(nextTick)); ok {
			next = min(next, fire.Sub(s.start))
		}
		if nextTick >= next {
			return nextTick
		}
	}
	// Traces span at most trace.MaxSpan, so this cannot overflow.
	return nextTick + (next-nextTick+interval-1)/interval*interval
}

// quietSkip turns skipCalmTicks on; TestQuietSkipIsExact compares runs
// without it.
var quietSkip = true

// quietWhileBusy reports the state in which a QuietWhileBusy policy that
// planned nothing plans nothing until an event: no job pending, every
// instance up and running work, and a pool with no rule that acts with
// time alone.
func (s *state) quietWhileBusy() bool {
	p := s.pool
	if s.pendingJobs > 0 || p.Limits.Budget != nil || len(p.Schedules) > 0 || p.ScaleIn.MaxLifetime > 0 || p.CheckpointInterval > 0 {
		return false
	}
	for _, ii := range s.alive {
		if in := s.inst(ii); in.state != policy.StateRunning || in.jobs == 0 {
			return false
		}
	}
	return true
}

// skipCalmTicks jumps the next evaluation of a calm run to the first on
// the interval grid at or after the next event (next), where something
// may have changed; but not past the last at or before limit, after which
// the run stops (for want of progress, or at the horizon), so that it
// stops after the same evaluation as without the skip.
func skipCalmTicks(nextTick, next, interval, limit time.Duration) time.Duration {
	if next == time.Duration(math.MaxInt64) || nextTick >= next || limit < nextTick {
		return nextTick
	}
	// Traces span at most trace.MaxSpan, so this cannot overflow.
	to := nextTick + (next-nextTick+interval-1)/interval*interval
	return min(to, nextTick+(limit-nextTick)/interval*interval)
}

func (s *state) at(d time.Duration) time.Time { return s.start.Add(d) }
