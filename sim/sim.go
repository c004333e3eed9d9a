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
	// MaxInstances, when above 0, bounds the instances one run may launch
	// (the simulator keeps a record of each, BytesPerInstance): a launch
	// beyond it ends the run with ErrTooManyInstances.
	MaxInstances int
}

// DefaultInterval is the evaluation interval used when a pool names none.
const DefaultInterval = 30 * time.Second

// quietLimit ends a run that has stopped making progress: no job started or
// ended for this long (e.g. a job larger than anything it may ever get).
const quietLimit = 24 * time.Hour

// Result is the outcome of one policy on one trace.
type Result struct {
	Policy string `json:"policy"`
	// CloudCostUSD is what the cloud instances were billed.
	CloudCostUSD float64 `json:"cloud_cost_usd"`
	// PaidGPUHours are the GPU-hours billed (instance GPUs × billed time).
	PaidGPUHours float64 `json:"paid_gpu_hours"`
	// UsedGPUHours are the GPU-hours jobs ran on cloud instances.
	UsedGPUHours float64 `json:"used_gpu_hours"`
	// Efficiency is UsedGPUHours × the cheapest offering's price per GPU-hour
	// ÷ CloudCostUSD: 1.0 means every dollar bought a GPU-hour of work at the
	// best price on offer. It is 1 when nothing was paid.
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
	// JobsUnstarted never started; their wait counts until the run ended
	// (a lower bound).
	JobsUnstarted int `json:"jobs_unstarted"`
	// JobsKilled counts job runs ended by a terminate without drain; the job
	// went back to the queue.
	JobsKilled int `json:"jobs_killed"`
	// Timeline holds samples for a plot when Options.Timeline was set.
	Timeline *Timeline `json:"-"`
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

// sizeQueue holds the pending jobs of one GPU size in arrival order.
type sizeQueue struct {
	gpus int
	jobs []int32
	head int
}

func (q *sizeQueue) len() int { return len(q.jobs) - q.head }

func (q *sizeQueue) pop() {
	q.head++
	if q.head > 1024 && q.head*2 > len(q.jobs) {
		q.jobs = append(q.jobs[:0], q.jobs[q.head:]...)
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

	nodeGPUs  int
	nodeFree  []int
	onFree    int
	onBusy    int
	fullNodes int

	queues      []sizeQueue
	queueOf     map[int]int
	pendingJobs int
	pendingGPUs int

	insts     []*instance
	cloudGPUs int // GPUs of instances not yet ended
	cloudFree int // free GPUs on running (ready, not draining) instances
	// view is the []policy.Instance handed to the policy, kept up to date
	// incrementally: rebuilt when instances come or go (viewValid false),
	// else refreshed for the instances in dirty.
	view []policy.Instance
	// pendBuf and headBuf are reused by snapshot; the policy must not keep
	// Snapshot.PendingJobGPUs past its call.
	pendBuf, headBuf []int
	waitBuf          []time.Duration
	viewValid        bool
	dirty            []int32
	alive            []int32 // indices of instances not yet ended, in launch order
	byID             map[string]int32
	booting          int
	running          int // jobs running
	lastMove         time.Duration

	// spend in the current budget period from instances already ended
	periodStart, periodEnd time.Time
	closedInPeriod         float64
	closedTotal            float64

	res      Result
	cheapest float64
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
	if o.Pool.OnPrem.GPUsPerNode <= 0 {
		return Result{}, fmt.Errorf("sim: pool %q: onprem.gpus_per_node is %d (want ≥ 1)", o.Pool.Name, o.Pool.OnPrem.GPUsPerNode)
	}
	s := &state{
		o:        o,
		pool:     o.Pool,
		jobs:     o.Trace.Jobs,
		js:       make([]jobState, len(o.Trace.Jobs)),
		start:    o.Trace.Start,
		nodeGPUs: o.Pool.OnPrem.GPUsPerNode,
		queueOf:  map[int]int{},
		byID:     map[string]int32{},
		cheapest: cheapestPerGPUHour(o.Pool.Offerings),
	}
	for _, off := range o.Pool.Offerings {
		s.maxOfferGPUs = max(s.maxOfferGPUs, off.GPUs)
	}
	s.res.Policy = o.Policy.Name
	s.nodeFree = make([]int, max(0, o.Pool.OnPrem.Nodes))
	for i := range s.nodeFree {
		s.nodeFree[i] = s.nodeGPUs
	}
	s.onFree = len(s.nodeFree) * s.nodeGPUs
	s.fullNodes = len(s.nodeFree)
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

	const never = time.Duration(math.MaxInt64)
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
			nextTick = s.skipIdleTicks(nextTick, next, interval)
			next = min(next, nextTick)
		}
		if next == never {
			break
		}
		if next > MaxSimulated {
			return Result{}, fmt.Errorf("sim: %w: %d jobs still queued and %d running at %s", ErrHorizon, s.pendingJobs, s.running, s.at(s.now).Format(time.DateOnly))
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
			}
		}
		for ai < len(s.jobs) && s.jobs[ai].Submit == s.now {
			s.enqueue(ai)
			ai++
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

func cheapestPerGPUHour(offs []policy.Offering) float64 {
	best := 0.0
	for _, o := range offs {
		if o.GPUs <= 0 || o.PricePerHour <= 0 {
			continue
		}
		if p := o.PricePerHour / float64(o.GPUs); best == 0 || p < best {
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
		if s.onFree == 0 && !s.cloudHasRoom() {
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
	var parts []part
	if g <= s.nodeGPUs {
		for n, f := range s.nodeFree {
			if f >= g {
				parts = []part{{idx: int32(n), gpus: int32(g)}}
				break
			}
		}
	} else if need := (g + s.nodeGPUs - 1) / s.nodeGPUs; s.fullNodes >= need {
		for n, f := range s.nodeFree {
			if f == s.nodeGPUs {
				parts = append(parts, part{idx: int32(n), gpus: int32(s.nodeGPUs)})
				if len(parts) == need {
					break
				}
			}
		}
	}
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
			continue
		}
		if s.nodeFree[p.idx] == s.nodeGPUs {
			s.fullNodes--
		}
		s.nodeFree[p.idx] -= int(p.gpus)
		s.onFree -= int(p.gpus)
		s.onBusy += int(p.gpus)
	}
	s.running++
	s.lastMove = s.now
	s.push(event{at: s.now + s.jobs[j].Duration, kind: evJobEnd, id: int32(j), gen: js.gen})
	return true
}

// cloudFit finds room on ready, non-draining instances: the first with g
// free GPUs, else whole idle instances that together hold g GPUs (with
// whole_jobs, only for a job larger than every offering).
func (s *state) cloudFit(g int) []part {
	for _, ii := range s.alive {
		in := s.insts[ii]
		if in.state == policy.StateRunning && in.free >= g {
			return []part{{cloud: true, idx: ii, gpus: int32(g)}}
		}
	}
	if s.pool.WholeJobs && g <= s.maxOfferGPUs {
		return nil // the job cannot span instances and some offering holds it whole
	}
	var parts []part
	got := 0
	for _, ii := range s.alive {
		in := s.insts[ii]
		if in.state == policy.StateRunning && in.free == in.gpus && in.gpus < g {
			parts = append(parts, part{cloud: true, idx: ii, gpus: int32(in.gpus)})
			got += in.gpus
			if got >= g {
				return parts
			}
		}
	}
	return nil
}

// release frees a job's GPUs; it reports instances that became idle.
func (s *state) release(j int) {
	js := &s.js[j]
	for _, p := range js.parts {
		if !p.cloud {
			s.nodeFree[p.idx] += int(p.gpus)
			s.onFree += int(p.gpus)
			s.onBusy -= int(p.gpus)
			if s.nodeFree[p.idx] == s.nodeGPUs {
				s.fullNodes++
			}
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
		s.res.UsedGPUHours += float64(s.jobs[j].GPUs) * s.jobs[j].Duration.Hours()
	}
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
	if s.o.MaxInstances > 0 && len(s.insts) >= s.o.MaxInstances {
		return fmt.Errorf("sim: %w (%d)", ErrTooManyInstances, s.o.MaxInstances)
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
	s.res.Launches++
	boot := max(0, off.Boot.D())
	if boot == 0 {
		s.ready(int(ii))
		return nil
	}
	s.push(event{at: s.now + boot, kind: evReady, id: ii})
	return nil
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
	s.rollPeriod()
	cost := billedCost(in.off, s.at(in.launched), s.at(s.now))
	s.res.CloudCostUSD += cost
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
	s.enqueue(j)
	q := &s.queues[s.queueOf[s.jobs[j].GPUs]]
	pend := q.jobs[q.head:]
	slices.Sort(pend)
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

// rollPeriod moves the budget period forward to the one containing now.
func (s *state) rollPeriod() {
	start, end := budgetPeriod(s.pool, s.at(s.now))
	if !start.Equal(s.periodStart) {
		s.periodStart, s.periodEnd = start, end
		s.closedInPeriod = 0
	}
}

func (s *state) spend() policy.Spend {
	s.rollPeriod()
	start, end := s.periodStart, s.periodEnd
	acc := s.closedInPeriod
	now := s.at(s.now)
	for _, ii := range s.alive {
		acc += s.periodShare(s.insts[ii], now)
	}
	return policy.Spend{PeriodStart: start, PeriodEnd: end, Accrued: acc}
}

// budgetPeriod is the calendar period (UTC) containing now: the pool's
// budget period, or a month when it has no budget.
func budgetPeriod(pool *policy.Pool, now time.Time) (time.Time, time.Time) {
	now = now.UTC()
	period := policy.PeriodMonth
	if pool.Limits.Budget != nil && pool.Limits.Budget.Period != "" {
		period = pool.Limits.Budget.Period
	}
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	switch period {
	case policy.PeriodDay:
		return day, day.AddDate(0, 0, 1)
	case policy.PeriodWeek:
		start := day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7)) // Monday
		return start, start.AddDate(0, 0, 7)
	default:
		start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	}
}

func (s *state) snapshot() policy.Snapshot {
	now := s.at(s.now)
	snap := policy.Snapshot{
		Time:           now,
		OnPremGPUs:     len(s.nodeFree) * s.nodeGPUs,
		OnPremBusyGPUs: s.onBusy,
		OnPremFreeGPUs: s.onFree,
		PendingJobs:    s.pendingJobs,
		PendingGPUs:    s.pendingGPUs,
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
	need := min(minG, s.nodeGPUs)
	free := 0
	for _, f := range s.nodeFree {
		if f >= need {
			free += f
		}
	}
	snap.OnPremFreeGPUs = free
	snap.OldestWait = s.now - s.jobs[oldest].Submit
	// Pending job sizes in arrival order: a merge of the size queues.
	list := s.pendBuf[:0]
	waits := s.waitBuf[:0]
	heads := s.headBuf[:0]
	for i := range s.queues {
		heads = append(heads, s.queues[i].head)
	}
	defer func() { s.pendBuf, s.waitBuf, s.headBuf = list, waits, heads }()
	for len(list) < s.pendingJobs {
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

func (s *state) tick(decide DecideFunc) error {
	spend := s.spend()
	plan := decide(s.pool, s.snapshot(), s.instanceView(), spend, s.at(s.now))
	for _, a := range plan.Terminates {
		ii, ok := s.byID[a.InstanceID]
		if !ok {
			return fmt.Errorf("sim: plan terminates unknown instance %q", a.InstanceID)
		}
		s.terminate(ii)
	}
	for _, a := range plan.Drains {
		ii, ok := s.byID[a.InstanceID]
		if !ok {
			return fmt.Errorf("sim: plan drains unknown instance %q", a.InstanceID)
		}
		s.drain(ii)
	}
	for _, l := range plan.Launches {
		for range l.Count {
			if err := s.launch(l.Offering, l.Floor); err != nil {
				return err
			}
		}
	}
	return nil
}

// sampleUntil records timeline samples up to next. The state is constant
// from s.now until next; each sample holds the peak GPU counts since the
// previous one (so short queue spikes show) and the cost billed so far.
func (s *state) sampleUntil(next time.Duration) {
	if s.timeline == nil {
		return
	}
	p := &s.peak
	p.OnPremBusy = max(p.OnPremBusy, s.onBusy)
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
		*p = Sample{OnPremBusy: s.onBusy, CloudGPUs: s.cloudGPUs, QueuedGPUs: s.pendingGPUs}
		s.nextSampl += s.sampleDt
	}
}

func (s *state) finishRun() {
	for len(s.alive) > 0 {
		s.terminate(s.alive[0])
	}
	waits := make([]float64, 0, len(s.jobs))
	for j := range s.js {
		if s.js[j].start < 0 {
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
		s.res.Efficiency = s.res.UsedGPUHours * s.cheapest / s.res.CloudCostUSD
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
