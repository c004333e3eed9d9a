// Package sim backtests burst policies: a deterministic discrete-event
// simulation of one pool — its on-prem GPUs, the cloud instances a policy
// rents, and the jobs of a trace — that asks a decision function (the real
// policy.Decide, or a baseline) what to do on a fixed evaluation interval.
//
// On-prem, jobs are placed in arrival order, first fit, skipping jobs that do
// not fit (greedy backfill); a job larger than a node takes whole nodes. A
// job goes on-prem when it fits there, else onto a ready cloud instance the
// same way (a job larger than an instance takes several whole instances).
// Instances take work once their offering's boot time has passed and are
// billed by their billing rule from launch to termination. Jobs run for their
// trace duration wherever they land; spot interruptions and capacity
// failures are not simulated.
package sim

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

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
	// JobList asks for Snapshot.PendingJobGPUs and PendingJobWaits (the
	// first pending jobs in arrival order) besides PendingBySize.
	JobList bool
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
}

// DefaultInterval is the evaluation interval used when a pool names none.
const DefaultInterval = 30 * time.Second

// quietLimit ends a run that has stopped making progress: no job started or
// ended for this long while nothing runs (e.g. a job larger than anything
// it may ever get), or no job finished for this long plus the longest job
// and, with a budget, a month (a job that runs, is killed by a drain
// timeout and runs again, for ever: it is reported unstarted).
const quietLimit = 24 * time.Hour

// Result is the outcome of one policy on one trace.
type Result struct {
	Policy string `json:"policy"`
	// CloudCostUSD is what the cloud instances were billed.
	CloudCostUSD float64 `json:"cloud_cost_usd"`
	// PaidGPUHours are the GPU-hours billed (instance GPUs × billed time).
	PaidGPUHours float64 `json:"paid_gpu_hours"`
	// UsedGPUHours are the GPU-hours jobs ran on cloud instances (a job runs
	// its duration ÷ the offering's performance there).
	UsedGPUHours float64 `json:"used_gpu_hours"`
	// Efficiency is the work done on cloud instances (GPU-hours of the
	// trace's durations, reference GPUs) × the lowest price per useful
	// GPU-hour on offer (price ÷ (GPUs × performance)) ÷ CloudCostUSD: 1.0
	// means every dollar bought work at the best price on offer. It is 1
	// when nothing was paid.
	Efficiency float64 `json:"efficiency"`
	// Waits from submit to start over all jobs, in seconds.
	WaitP50S float64 `json:"wait_p50_s"`
	WaitP95S float64 `json:"wait_p95_s"`
	WaitP99S float64 `json:"wait_p99_s"`
	WaitMaxS float64 `json:"wait_max_s"`
	// JobsOnCloud ran (at least their final run) on cloud instances.
	JobsOnCloud int `json:"jobs_on_cloud"`
	// Launches counts instances launched.
	Launches int `json:"launches"`
	// FailedLaunches counts launches that failed, by cause ("capacity":
	// the offering was out of stock).
	FailedLaunches map[string]int `json:"failed_launches"`
	// Interruptions counts spot instances reclaimed by the cloud.
	Interruptions int `json:"interruptions"`
	// JobsUnstarted never started; their wait counts until the run ended
	// (a lower bound).
	JobsUnstarted int `json:"jobs_unstarted"`
	// JobsKilled counts job runs ended by a terminate without drain; the job
	// went back to the queue.
	JobsKilled int `json:"jobs_killed"`
	// PeakCloudGPUs and PeakCostPerHour are the most burst GPUs, and the
	// highest hourly price of burst instances, held at once.
	PeakCloudGPUs   int     `json:"peak_cloud_gpus"`
	PeakCostPerHour float64 `json:"peak_cost_per_hour"`
	// GPUHoursLost are the GPU-hours of job runs killed (the work done
	// before the kill, redone later).
	GPUHoursLost float64 `json:"gpu_hours_lost"`
	// JobsNeverServed never started because they fit neither on-prem nor
	// in any capacity the pool may rent (policy.CloudHolds); they are left
	// out of the wait percentiles. NeverServedGPUs is the largest of them
	// and NeverServedWhy says why it cannot run.
	JobsNeverServed int    `json:"jobs_never_served"`
	NeverServedGPUs int    `json:"never_served_largest_gpus,omitempty"`
	NeverServedWhy  string `json:"never_served_why,omitempty"`
	// CostByOffering and CostByProvider split CloudCostUSD.
	CostByOffering map[string]float64 `json:"cost_by_offering"`
	CostByProvider map[string]float64 `json:"cost_by_provider"`
	// BudgetPeriods is the spend of each budget period the run touched,
	// against the budget (empty without a budget).
	BudgetPeriods []BudgetPeriod `json:"budget_periods"`
	// LimitBoundHours is, per hard limit (budget, max_gpus,
	// max_cost_per_hour), the hours of evaluations at which it held back a
	// launch or ended capacity.
	LimitBoundHours map[string]float64 `json:"limit_bound_hours,omitempty"`
	// DominatedBy lists the policies of the same report that cost less
	// and wait no longer at p95 (set by Backtest.Run).
	DominatedBy []string `json:"dominated_by"`
	// Timeline holds samples for a plot when Options.Timeline was set.
	Timeline *Timeline `json:"-"`
}

// BudgetPeriod is one budget period's spend.
type BudgetPeriod struct {
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	BudgetUSD float64   `json:"budget_usd"`
	SpendUSD  float64   `json:"spend_usd"`
}

// Timeline is a sampled history of one run.
type Timeline struct {
	Start   time.Time
	Samples []Sample
}

// Sample is the pool's state at one moment.
type Sample struct {
	At         time.Duration
	OnPremBusy int
	CloudGPUs  int
	QueuedGPUs int
	CostUSD    float64
}

const (
	evJobEnd uint8 = iota
	evReady
	evNotice  // a spot reclaim notice
	evReclaim // the reclaim itself
)

type event struct {
	at   time.Duration
	kind uint8
	id   int32
	gen  int32
	seq  uint64
}

func (a event) less(b event) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	if a.kind != b.kind {
		return a.kind < b.kind
	}
	return a.seq < b.seq
}

type eventHeap []event

func (h *eventHeap) push(e event) {
	*h = append(*h, e)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s[i].less(s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *eventHeap) pop() event {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && s[l].less(s[m]) {
			m = l
		}
		if r < n && s[r].less(s[m]) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// part is one piece of a job's placement: GPUs on a node or an instance.
type part struct {
	cloud bool
	idx   int32
	gpus  int32
}

type jobState struct {
	start time.Duration // -1 until started
	gen   int32
	parts []part
	cloud bool
}

type instance struct {
	id         string
	off        policy.Offering
	gpus, free int
	state      policy.InstanceState
	launched   time.Duration
	launchedAt time.Time     // launched as wall-clock time
	ready      time.Duration // -1 while booting
	idleSince  time.Duration // -1 while busy or booting
	drainStart time.Duration // -1 unless draining
	ended      time.Duration // -1 while alive
	jobs       int
	floor      string
	// prePeriod caches what was billed before the budget period starting
	// at prePeriodOf.
	prePeriod   float64
	prePeriodOf time.Time
	viewPos     int  // index in state.view
	dirty       bool // view entry out of date
}

// maxListed bounds Snapshot.PendingJobGPUs: the first pending jobs in
// arrival order, for baselines that go job by job (Slurm resumes at most
// ResumeRate nodes a minute, 300 by default, so a tick never needs more).
// The engine reads the whole queue from PendingBySize.
const maxListed = 512

// sizeQueue holds the pending jobs of one GPU size in arrival order, with
// their submit times.
type sizeQueue struct {
	gpus int
	jobs []int32
	subs []time.Time
	head int
}

func (q *sizeQueue) len() int { return len(q.jobs) - q.head }

func (q *sizeQueue) pop() {
	q.head++
	if q.head > 1024 && q.head*2 > len(q.jobs) {
		q.jobs = append(q.jobs[:0], q.jobs[q.head:]...)
		q.subs = append(q.subs[:0], q.subs[q.head:]...)
		q.head = 0
	}
}

type state struct {
	o      Options
	pool   *policy.Pool
	jobs   []trace.Job
	js     []jobState
	start  time.Time
	now    time.Duration
	events eventHeap
	seq    uint64

	on onprem

	queues      []sizeQueue
	queueOf     map[int]int
	pendingJobs int
	pendingGPUs int

	insts      []*instance
	cloudGPUs  int     // GPUs of instances not yet ended
	cloudPrice float64 // their price per hour
	cloudFree  int     // free GPUs on running (ready, not draining) instances
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
	byID             map[string]int32
	booting          int
	running          int // jobs running
	lastMove         time.Duration
	lastDone         time.Duration // when a job last finished or arrived

	// spend in the current budget period from instances already ended
	periodStart, periodEnd time.Time
	closedInPeriod         float64
	closedTotal            float64

	res      Result
	cloud    *cloudState
	interval time.Duration
	cheapest float64 // the lowest price per useful GPU-hour on offer
	work     float64 // GPU-hours of reference work done on cloud instances
	// maxOfferGPUs is the largest offering's GPU count.
	maxOfferGPUs int
	timeline     *Timeline
	nextSampl    time.Duration
	sampleDt     time.Duration
	peak         Sample // maxima since the last sample
}

// Run simulates one policy on one trace.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Pool == nil || o.Trace == nil {
		return Result{}, fmt.Errorf("sim: Options need a Pool and a Trace")
	}
	if g := o.Pool.OnPrem.GPUsPerNode; g <= 0 || g > maxNodeGPUs {
		return Result{}, fmt.Errorf("sim: pool %q: onprem.gpus_per_node is %d (want 1 to %d)", o.Pool.Name, g, maxNodeGPUs)
	}
	if n := o.Pool.OnPrem.Nodes; n < 0 || n > math.MaxInt32*int(maxNodeGPUs)/o.Pool.OnPrem.GPUsPerNode {
		return Result{}, fmt.Errorf("sim: pool %q: onprem.nodes is %d (want 0 to %d)", o.Pool.Name, n, math.MaxInt32*int(maxNodeGPUs)/o.Pool.OnPrem.GPUsPerNode)
	}
	s := &state{
		o:        o,
		pool:     o.Pool,
		jobs:     o.Trace.Jobs,
		js:       make([]jobState, len(o.Trace.Jobs)),
		start:    o.Trace.Start,
		queueOf:  map[int]int{},
		byID:     map[string]int32{},
		cheapest: cheapestPerGPUHour(o.Pool.Offerings),
	}
	for _, off := range o.Pool.Offerings {
		s.maxOfferGPUs = max(s.maxOfferGPUs, off.GPUs)
	}
	s.res.Policy = o.Policy.Name
	s.res.CostByOffering = map[string]float64{}
	s.res.FailedLaunches = map[string]int{}
	s.cloud = newCloudState(o.Cloud)
	s.res.CostByProvider = map[string]float64{}
	s.res.BudgetPeriods = []BudgetPeriod{}
	s.res.DominatedBy = []string{}
	s.on = newOnprem(o.Pool.OnPrem.Nodes, o.Pool.OnPrem.GPUsPerNode)
	for i := range s.js {
		s.js[i].start = -1
	}
	span := o.Trace.Span()
	if o.Timeline {
		s.timeline = &Timeline{Start: s.start}
		s.sampleDt = max(time.Minute, span/720)
	}

	var decide DecideFunc
	interval := o.Policy.Interval
	if o.Policy.New != nil {
		decide = o.Policy.New()
		if interval <= 0 {
			interval = o.Pool.Interval.D()
		}
		if interval <= 0 {
			interval = DefaultInterval
		}
	}
	s.interval = interval
	if o.Policy.Interval > 0 && o.Policy.Interval != o.Pool.Interval.D() {
		// The pool as this policy runs it: its decisions and the limits'
		// commitments follow the policy's own interval.
		pool := *o.Pool
		pool.Interval = policy.Duration(o.Policy.Interval)
		s.pool = &pool
	}

	const never = time.Duration(math.MaxInt64)
	stuckLimit := quietLimit
	for _, j := range s.jobs {
		stuckLimit = max(stuckLimit, quietLimit+j.Duration)
	}
	if b := o.Pool.Limits.Budget; b != nil {
		stuckLimit += 31 * 24 * time.Hour
	}
	nextTick := time.Duration(0)
	ai := 0
	for iter := 0; ; iter++ {
		if iter&8191 == 0 {
			if err := ctx.Err(); err != nil {
				return Result{}, err
			}
			if o.Progress != nil && span > 0 {
				o.Progress(min(1, float64(s.now)/float64(span)))
			}
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
			if idle && ((s.pendingJobs == 0 && len(s.alive) == 0) || nextTick > s.lastMove+quietLimit) {
				break
			}
			if ai == len(s.jobs) && nextTick > s.lastDone+stuckLimit {
				break
			}
			next = min(next, nextTick)
		}
		if next == never {
			break
		}
		s.sampleUntil(next)
		s.now = next
		for len(s.events) > 0 && s.events[0].at == s.now {
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
			}
		}
		for ai < len(s.jobs) && s.jobs[ai].Submit == s.now {
			s.enqueue(ai)
			ai++
			s.lastDone = s.now
		}
		s.place()
		if decide != nil && nextTick == s.now {
			if err := s.tick(decide); err != nil {
				return Result{}, err
			}
			s.place()
			nextTick += interval
		}
	}
	s.finishRun()
	if o.Progress != nil {
		o.Progress(1)
	}
	return s.res, nil
}

// policyOfferingName is how reports name an offering: its name, or
// provider/region[/zone]/instance_type/market.
func policyOfferingName(o policy.Offering) string {
	if o.Name != "" {
		return o.Name
	}
	name := o.Provider + "/" + o.Region
	if o.Zone != "" {
		name += "/" + o.Zone
	}
	m := o.Market
	if m == "" {
		m = policy.MarketOnDemand
	}
	return name + "/" + o.InstanceType + "/" + string(m)
}

// offeringPerf is an offering's performance factor, 1 when unset.
func offeringPerf(o policy.Offering) float64 {
	if o.Performance > 0 {
		return o.Performance
	}
	return 1
}

// cheapestPerGPUHour is the lowest price per useful GPU-hour on offer:
// price ÷ (GPUs × performance).
func cheapestPerGPUHour(offs []policy.Offering) float64 {
	best := 0.0
	for _, o := range offs {
		if o.GPUs <= 0 || o.PricePerHour <= 0 {
			continue
		}
		if p := o.PricePerHour / (float64(o.GPUs) * offeringPerf(o)); best == 0 || p < best {
			best = p
		}
	}
	return best
}

func (s *state) at(d time.Duration) time.Time { return s.start.Add(d) }

func (s *state) push(e event) {
	s.seq++
	e.seq = s.seq
	s.events.push(e)
}

func (s *state) enqueue(j int) {
	g := s.jobs[j].GPUs
	qi, ok := s.queueOf[g]
	if !ok {
		qi = len(s.queues)
		s.queues = append(s.queues, sizeQueue{gpus: g})
		s.queueOf[g] = qi
	}
	s.queues[qi].jobs = append(s.queues[qi].jobs, int32(j))
	s.queues[qi].subs = append(s.queues[qi].subs, s.at(s.jobs[j].Submit))
	s.pendingJobs++
	s.pendingGPUs += g
}

// place starts pending jobs in arrival order wherever they fit, skipping
// those that do not (greedy backfill). Jobs of one size fit or fail alike,
// and free capacity only shrinks during a pass, so once a job of some size
// fails every later job of that size is skipped without trying.
func (s *state) place() {
	if s.pendingJobs == 0 {
		return
	}
	var blocked [64]bool
	var blockedMap map[int]bool
	isBlocked := func(qi int) bool {
		if qi < len(blocked) {
			return blocked[qi]
		}
		return blockedMap[qi]
	}
	for {
		if s.on.free == 0 && !s.cloudHasRoom() {
			return
		}
		best, bestJob := -1, int32(math.MaxInt32)
		for qi := range s.queues {
			q := &s.queues[qi]
			if q.len() == 0 || isBlocked(qi) {
				continue
			}
			if j := q.jobs[q.head]; j < bestJob {
				best, bestJob = qi, j
			}
		}
		if best < 0 {
			return
		}
		if s.tryStart(int(bestJob)) {
			s.queues[best].pop()
			s.pendingJobs--
			s.pendingGPUs -= s.jobs[bestJob].GPUs
			continue
		}
		if best < len(blocked) {
			blocked[best] = true
		} else {
			if blockedMap == nil {
				blockedMap = map[int]bool{}
			}
			blockedMap[best] = true
		}
	}
}

func (s *state) cloudHasRoom() bool { return s.cloudFree > 0 }

// touch marks an instance's view entry out of date.
func (s *state) touch(ii int32) {
	if in := s.insts[ii]; !in.dirty {
		in.dirty = true
		s.dirty = append(s.dirty, ii)
	}
}

func (s *state) tryStart(j int) bool {
	g := s.jobs[j].GPUs
	parts := s.on.place(g)
	if parts == nil {
		parts = s.cloudFit(g)
	}
	if parts == nil {
		return false
	}
	js := &s.js[j]
	js.parts = parts
	js.start = s.now
	js.cloud = false
	for _, p := range parts {
		if p.cloud {
			js.cloud = true
			in := s.insts[p.idx]
			if in.free == in.gpus {
				in.idleSince = -1
			}
			in.free -= int(p.gpus)
			s.cloudFree -= int(p.gpus)
			in.jobs++
			s.touch(p.idx)
		}
	}
	s.running++
	s.lastMove = s.now
	run := s.jobs[j].Duration
	if js.cloud {
		// A job runs duration / performance on its offering (the slowest
		// of the instances it spans).
		perf := math.Inf(1)
		for _, p := range parts {
			if p.cloud {
				perf = min(perf, offeringPerf(s.insts[p.idx].off))
			}
		}
		run = time.Duration(math.Ceil(float64(run) / perf))
	}
	s.push(event{at: s.now + run, kind: evJobEnd, id: int32(j), gen: js.gen})
	return true
}

// cloudFit finds room on ready, non-draining instances: the first with g
// free GPUs, else, for a job larger than an instance, whole idle instances
// of one offering of at least policy.SpanMinGPUs GPUs that together hold
// it (with whole_jobs, only for a job larger than every offering).
func (s *state) cloudFit(g int) []part {
	if s.cloudFree < g {
		return nil // not even all free GPUs together hold it
	}
	for _, ii := range s.alive {
		in := s.insts[ii]
		if in.state == policy.StateRunning && in.free >= g {
			return []part{{cloud: true, idx: ii, gpus: int32(g)}}
		}
	}
	if s.pool.WholeJobs && g <= s.maxOfferGPUs {
		return nil // the job cannot span instances and some offering holds it whole
	}
	var groups map[string][]int32
	for _, ii := range s.alive {
		in := s.insts[ii]
		if in.state != policy.StateRunning || in.free != in.gpus || in.gpus >= g || in.gpus < policy.SpanMinGPUs {
			continue
		}
		if groups == nil {
			groups = map[string][]int32{}
		}
		name := in.off.Name
		grp := append(groups[name], ii)
		groups[name] = grp
		if len(grp)*in.gpus >= g {
			parts := make([]part, len(grp))
			for k, x := range grp {
				parts[k] = part{cloud: true, idx: x, gpus: int32(s.insts[x].gpus)}
			}
			return parts
		}
	}
	return nil
}

// release frees a job's GPUs; it reports instances that became idle.
func (s *state) release(j int) {
	js := &s.js[j]
	for _, p := range js.parts {
		if !p.cloud {
			s.on.release(p.idx, int(p.gpus))
			continue
		}
		in := s.insts[p.idx]
		in.free += int(p.gpus)
		if in.state == policy.StateRunning {
			s.cloudFree += int(p.gpus)
		}
		in.jobs--
		s.touch(p.idx)
		if in.jobs == 0 {
			in.idleSince = s.now
			if in.state == policy.StateDraining {
				s.terminate(p.idx)
			}
		}
	}
	js.parts = nil
	s.running--
	s.lastMove = s.now
}

func (s *state) finish(j int) {
	js := &s.js[j]
	if js.cloud {
		s.res.JobsOnCloud++
		s.res.UsedGPUHours += float64(s.jobs[j].GPUs) * (s.now - js.start).Hours()
		s.work += float64(s.jobs[j].GPUs) * s.jobs[j].Duration.Hours()
	}
	s.lastDone = s.now
	s.release(j)
}

func (s *state) ready(ii int) {
	in := s.insts[ii]
	if in.ended >= 0 {
		return
	}
	s.booting--
	in.ready = s.now
	in.idleSince = s.now
	s.touch(int32(ii))
	if in.state == policy.StateDraining {
		s.terminate(int32(ii))
		return
	}
	in.state = policy.StateRunning
	s.cloudFree += in.free
}

func (s *state) launch(off policy.Offering, floor string) error {
	if off.GPUs <= 0 {
		return fmt.Errorf("sim: plan launches offering %q with %d GPUs (want ≥ 1)", off.Name, off.GPUs)
	}
	ii := int32(len(s.insts))
	in := &instance{
		id:         "sim-" + strconv.Itoa(int(ii)+1),
		off:        off,
		gpus:       off.GPUs,
		free:       off.GPUs,
		state:      policy.StateBooting,
		launched:   s.now,
		launchedAt: s.at(s.now),
		ready:      -1,
		idleSince:  -1,
		drainStart: -1,
		ended:      -1,
		floor:      floor,
	}
	s.insts = append(s.insts, in)
	s.alive = append(s.alive, ii)
	s.byID[in.id] = ii
	s.booting++
	s.viewValid = false
	s.cloudGPUs += in.gpus
	s.cloudPrice += off.PricePerHour
	s.res.PeakCloudGPUs = max(s.res.PeakCloudGPUs, s.cloudGPUs)
	s.res.PeakCostPerHour = max(s.res.PeakCostPerHour, s.cloudPrice)
	s.res.Launches++
	if life := s.cloud.spotLife(off); life > 0 {
		s.push(event{at: s.now + life, kind: evNotice, id: ii})
	}
	boot := max(0, s.cloud.boot(off.Boot.D()))
	if boot == 0 {
		s.ready(int(ii))
		return nil
	}
	s.push(event{at: s.now + boot, kind: evReady, id: ii})
	return nil
}

// notice is a spot reclaim notice: the instance takes no new work and is
// reclaimed after the notice period, killing what still runs on it.
func (s *state) notice(ii int32) {
	in := s.insts[ii]
	if in.ended >= 0 {
		return
	}
	s.res.Interruptions++
	s.drain(ii)
	if in.ended < 0 {
		s.push(event{at: s.now + max(0, s.cloud.c.SpotNotice), kind: evReclaim, id: ii})
	}
}

func (s *state) drain(ii int32) {
	in := s.insts[ii]
	if in.ended >= 0 || in.state == policy.StateDraining {
		return
	}
	in.drainStart = s.now
	s.touch(ii)
	if in.jobs == 0 {
		s.terminate(ii)
		return
	}
	if in.state == policy.StateRunning {
		s.cloudFree -= in.free
	}
	in.state = policy.StateDraining
}

// terminate ends an instance now; jobs still on it are killed and requeued.
func (s *state) terminate(ii int32) {
	in := s.insts[ii]
	if in.ended >= 0 {
		return
	}
	// Mark it first so releasing its last job does not end it twice.
	wasBooting := in.ready < 0
	if in.state == policy.StateRunning {
		s.cloudFree -= in.free
	}
	in.state = policy.StateTerminating
	s.viewValid = false
	if in.jobs > 0 {
		for j := range s.js {
			js := &s.js[j]
			if js.parts == nil || !slices.ContainsFunc(js.parts, func(p part) bool { return p.cloud && p.idx == ii }) {
				continue
			}
			s.res.GPUHoursLost += float64(s.jobs[j].GPUs) * (s.now - js.start).Hours()
			s.release(j)
			js.gen++
			js.start = -1
			s.res.JobsKilled++
			s.enqueueFront(j)
		}
	}
	if wasBooting {
		s.booting--
	}
	in.ended = s.now
	s.cloudGPUs -= in.gpus
	s.cloudPrice -= in.off.PricePerHour
	s.rollPeriod()
	cost := billedCost(in.off, s.at(in.launched), s.at(s.now))
	s.res.CloudCostUSD += cost
	s.res.CostByOffering[policyOfferingName(in.off)] += cost
	s.res.CostByProvider[in.off.Provider] += cost
	s.closedTotal += cost
	s.closedInPeriod += s.periodShare(in, s.at(s.now))
	if in.off.PricePerHour > 0 {
		s.res.PaidGPUHours += cost / in.off.PricePerHour * float64(in.gpus)
	} else {
		s.res.PaidGPUHours += (s.now - in.launched).Hours() * float64(in.gpus)
	}
	s.alive = slices.DeleteFunc(s.alive, func(x int32) bool { return x == ii })
}

// enqueueFront puts a killed job back in its size queue at its arrival
// position, so it keeps its place in line.
func (s *state) enqueueFront(j int) {
	g := s.jobs[j].GPUs
	qi, ok := s.queueOf[g]
	if !ok {
		s.enqueue(j)
		return
	}
	q := &s.queues[qi]
	pos := q.head + sort.Search(q.len(), func(i int) bool { return q.jobs[q.head+i] > int32(j) })
	q.jobs = slices.Insert(q.jobs, pos, int32(j))
	q.subs = slices.Insert(q.subs, pos, s.at(s.jobs[j].Submit))
	s.pendingJobs++
	s.pendingGPUs += g
}

// periodShare is what an instance was billed within the current budget
// period, up to end.
func (s *state) periodShare(in *instance, end time.Time) float64 {
	if !end.After(s.periodStart) {
		return 0
	}
	total := billedCost(in.off, in.launchedAt, end)
	if in.launchedAt.Before(s.periodStart) {
		if !in.prePeriodOf.Equal(s.periodStart) {
			in.prePeriod, in.prePeriodOf = billedCost(in.off, in.launchedAt, s.periodStart), s.periodStart
		}
		total -= in.prePeriod
	}
	return max(0, total)
}

// rollPeriod moves the budget period forward to the one containing now,
// recording the spend of each period it leaves.
func (s *state) rollPeriod() {
	now := s.at(s.now)
	if s.periodEnd.IsZero() {
		s.periodStart, s.periodEnd = budgetPeriod(s.pool, now)
		return
	}
	for !now.Before(s.periodEnd) {
		s.closePeriod(s.periodEnd)
		s.periodStart, s.periodEnd = budgetPeriod(s.pool, s.periodEnd)
		s.closedInPeriod = 0
	}
}

// closePeriod records the current budget period's spend, billed up to end.
func (s *state) closePeriod(end time.Time) {
	b := s.pool.Limits.Budget
	if b == nil {
		return
	}
	spend := s.closedInPeriod
	for _, ii := range s.alive {
		spend += s.periodShare(s.insts[ii], end)
	}
	s.res.BudgetPeriods = append(s.res.BudgetPeriods, BudgetPeriod{Start: s.periodStart, End: s.periodEnd, BudgetUSD: b.Amount, SpendUSD: spend})
}

// spend is what the policy is told it spent in the budget period: what
// ended instances were billed in it, plus the prorated cost of the live
// ones (price × time run in the period), as policy.Spend documents.
func (s *state) spend() policy.Spend {
	s.rollPeriod()
	start, end := s.periodStart, s.periodEnd
	acc := s.closedInPeriod
	now := s.at(s.now)
	for _, ii := range s.alive {
		in := s.insts[ii]
		from := in.launchedAt
		if from.Before(start) {
			from = start
		}
		acc += in.off.PricePerHour * now.Sub(from).Hours()
	}
	return policy.Spend{PeriodStart: start, PeriodEnd: end, Accrued: acc}
}

// budgetPeriod is the calendar period (UTC) containing now: the pool's
// budget period, or a month when it has no budget.
func budgetPeriod(pool *policy.Pool, now time.Time) (time.Time, time.Time) {
	period := policy.PeriodMonth
	if pool.Limits.Budget != nil && pool.Limits.Budget.Period != "" {
		period = pool.Limits.Budget.Period
	}
	return policy.PeriodBounds(period, now)
}

func (s *state) snapshot() policy.Snapshot {
	now := s.at(s.now)
	snap := policy.Snapshot{
		Time:           now,
		OnPremGPUs:     s.on.total(),
		OnPremBusyGPUs: s.on.busy,
		OnPremFreeGPUs: s.on.free,
		PendingJobs:    s.pendingJobs,
		PendingGPUs:    s.pendingGPUs,
		Unavailable:    s.cloud.unavailable(now),
	}
	if s.pendingJobs == 0 {
		if s.o.Floors != nil {
			snap.Floors = s.o.Floors(s.pool, now)
		}
		return snap
	}
	// Free GPUs that could take the smallest pending job; after a placement
	// pass this counts only capacity fragmented below what is asked for.
	minG := math.MaxInt
	oldest := int32(math.MaxInt32)
	for qi := range s.queues {
		q := &s.queues[qi]
		if q.len() > 0 {
			minG = min(minG, q.gpus)
			oldest = min(oldest, q.jobs[q.head])
		}
	}
	snap.OnPremFreeGPUs = s.on.freeFor(min(minG, s.on.nodeGPUs))
	snap.OldestWait = s.now - s.jobs[oldest].Submit
	// The queue by size, oldest first: what the engine reads, at a cost
	// that does not grow with the queue.
	by := s.sizeBuf[:0]
	for qi := range s.queues {
		if q := &s.queues[qi]; q.len() > 0 {
			by = append(by, policy.PendingSize{GPUs: q.gpus, Submitted: q.subs[q.head:]})
		}
	}
	s.sizeBuf = by
	snap.PendingBySize = by
	if !s.o.Policy.JobList {
		if s.o.Floors != nil {
			snap.Floors = s.o.Floors(s.pool, now)
		}
		return snap
	}
	// The first maxListed pending jobs in arrival order, with their waits:
	// a merge of the size queues, for the baselines that go job by job.
	list := s.pendBuf[:0]
	waits := s.waitBuf[:0]
	heads := s.headBuf[:0]
	for i := range s.queues {
		heads = append(heads, s.queues[i].head)
	}
	defer func() { s.pendBuf, s.waitBuf, s.headBuf = list, waits, heads }()
	for len(list) < min(s.pendingJobs, maxListed) {
		best, bj := -1, int32(math.MaxInt32)
		for qi := range s.queues {
			q := &s.queues[qi]
			if heads[qi] < len(q.jobs) && q.jobs[heads[qi]] < bj {
				best, bj = qi, q.jobs[heads[qi]]
			}
		}
		list = append(list, s.queues[best].gpus)
		waits = append(waits, s.now-s.jobs[bj].Submit)
		heads[best]++
	}
	snap.PendingJobGPUs = list
	snap.PendingJobWaits = waits
	if s.o.Floors != nil {
		snap.Floors = s.o.Floors(s.pool, now)
	}
	return snap
}

// instanceView is the policy's view of the live instances. The slice is
// reused between ticks; decision functions must not keep or modify it.
func (s *state) instanceView() []policy.Instance {
	if !s.viewValid {
		s.view = s.view[:0]
		for i, ii := range s.alive {
			in := s.insts[ii]
			in.viewPos = i
			in.dirty = false
			s.view = append(s.view, s.viewOf(in))
		}
		s.dirty = s.dirty[:0]
		s.viewValid = true
		return s.view
	}
	for _, ii := range s.dirty {
		in := s.insts[ii]
		if in.dirty && in.ended < 0 {
			s.view[in.viewPos] = s.viewOf(in)
		}
		in.dirty = false
	}
	s.dirty = s.dirty[:0]
	return s.view
}

func (s *state) viewOf(in *instance) policy.Instance {
	v := policy.Instance{
		ID:         in.id,
		Offering:   in.off,
		State:      in.state,
		LaunchedAt: s.at(in.launched),
		BusyGPUs:   in.gpus - in.free,
		Floor:      in.floor,
	}
	if in.ready >= 0 {
		v.ReadyAt = s.at(in.ready)
	}
	if in.idleSince >= 0 {
		v.IdleSince = s.at(in.idleSince)
	}
	if in.drainStart >= 0 {
		v.DrainStartedAt = s.at(in.drainStart)
	}
	return v
}

// tick evaluates the policy and applies its plan. A launch into a
// stock-out fails and enters the capacity cache; the policy is then asked
// again at once, as the server tries the next offering in the same tick.
func (s *state) tick(decide DecideFunc) error {
	for try := 0; ; try++ {
		failed, err := s.evaluate(decide)
		if err != nil || !failed || try >= len(s.pool.Offerings) {
			return err
		}
	}
}

func (s *state) evaluate(decide DecideFunc) (failed bool, err error) {
	spend := s.spend()
	plan := decide(s.pool, s.snapshot(), s.instanceView(), spend, s.at(s.now))
	for _, l := range plan.BoundBy {
		if s.res.LimitBoundHours == nil {
			s.res.LimitBoundHours = map[string]float64{}
		}
		s.res.LimitBoundHours[l] += s.interval.Hours()
	}
	for _, a := range plan.Terminates {
		ii, ok := s.byID[a.InstanceID]
		if !ok {
			return false, fmt.Errorf("sim: plan terminates unknown instance %q", a.InstanceID)
		}
		s.terminate(ii)
	}
	for _, a := range plan.Drains {
		ii, ok := s.byID[a.InstanceID]
		if !ok {
			return false, fmt.Errorf("sim: plan drains unknown instance %q", a.InstanceID)
		}
		s.drain(ii)
	}
	for _, l := range plan.Launches {
		if !s.cloud.inStock(policyOfferingName(l.Offering), s.now) {
			s.res.FailedLaunches["capacity"]++
			s.cloud.unavail[l.Offering.Key()] = s.at(s.now + s.cloud.c.CapacityTTL)
			failed = true
			continue
		}
		for range l.Count {
			if err := s.launch(l.Offering, l.Floor); err != nil {
				return false, err
			}
		}
	}
	return failed, nil
}

// sampleUntil records timeline samples up to next. The state is constant
// from s.now until next; each sample holds the peak GPU counts since the
// previous one (so short queue spikes show) and the cost billed so far.
func (s *state) sampleUntil(next time.Duration) {
	if s.timeline == nil {
		return
	}
	p := &s.peak
	p.OnPremBusy = max(p.OnPremBusy, s.on.busy)
	p.CloudGPUs = max(p.CloudGPUs, s.cloudGPUs)
	p.QueuedGPUs = max(p.QueuedGPUs, s.pendingGPUs)
	for s.nextSampl <= next {
		cost := s.closedTotal
		for _, ii := range s.alive {
			in := s.insts[ii]
			cost += billedCost(in.off, s.at(in.launched), s.at(s.nextSampl))
		}
		p.At, p.CostUSD = s.nextSampl, cost
		s.timeline.Samples = append(s.timeline.Samples, *p)
		*p = Sample{OnPremBusy: s.on.busy, CloudGPUs: s.cloudGPUs, QueuedGPUs: s.pendingGPUs}
		s.nextSampl += s.sampleDt
	}
}

func (s *state) finishRun() {
	for len(s.alive) > 0 {
		s.terminate(s.alive[0])
	}
	s.rollPeriod()
	s.closePeriod(s.at(s.now))
	waits := make([]float64, 0, len(s.jobs))
	for j := range s.js {
		if s.js[j].start < 0 {
			if g := s.jobs[j].GPUs; g > s.on.total() && policy.CloudHolds(s.pool, g) != "" {
				s.res.JobsNeverServed++
				if g > s.res.NeverServedGPUs {
					s.res.NeverServedGPUs = g
					s.res.NeverServedWhy = fmt.Sprintf("larger than the %d on-prem GPUs, and %s", s.on.total(), policy.CloudHolds(s.pool, g))
				}
				continue
			}
			s.res.JobsUnstarted++
			waits = append(waits, (s.now - s.jobs[j].Submit).Seconds())
			continue
		}
		waits = append(waits, (s.js[j].start - s.jobs[j].Submit).Seconds())
	}
	slices.Sort(waits)
	s.res.WaitP50S = percentile(waits, 0.50)
	s.res.WaitP95S = percentile(waits, 0.95)
	s.res.WaitP99S = percentile(waits, 0.99)
	if len(waits) > 0 {
		s.res.WaitMaxS = waits[len(waits)-1]
	}
	s.res.Efficiency = 1
	if s.res.CloudCostUSD > 0 {
		s.res.Efficiency = s.work * s.cheapest / s.res.CloudCostUSD
	}
	if s.timeline != nil {
		s.sampleUntil(s.now)
		s.res.Timeline = s.timeline
	}
}

// percentile is the nearest-rank q-quantile of sorted values.
func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(k, len(sorted)-1))]
}
