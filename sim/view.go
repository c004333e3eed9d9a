package sim

// What the policy sees and does: the snapshot, the instance view, and applying its plan.

import (
	"fmt"
	"math"
	"time"

	"github.com/spillway-io/spillway/policy"
)

func (s *state) snapshot() policy.Snapshot {
	now := s.at(s.now)
	// Jobs no instance holds are not shown; a job that takes a larger
	// instance's GPUs counts as them (cloudShape), as the server's
	// sources count them.
	snap := policy.Snapshot{
		Time:           now,
		OnPremGPUs:     s.on.total(),
		OnPremBusyGPUs: s.on.busy,
		OnPremFreeGPUs: s.on.free,
		PendingJobs:    s.pendingJobs - s.leftJobs,
		PendingGPUs:    s.pendingGPUs - s.leftGPUs + s.largerGPUs,
		Unavailable:    s.cloud.unavailable(now),
		UnavailableWhy: s.cloud.causes(now),
		Unused:         liveAt(s.unused, now),
		Blocked:        s.cloud.blockedAt(now),
		Boot:           s.boots.Estimates(),
		BootMean:       s.boots.Means(),
		IdleGaps:       s.idle.Gaps(s.at(s.now)),
	}
	if s.o.Policy.BusyBurstable {
		snap.OnPremBusyGPUs -= s.onPremOnlyBusy
	}
	if s.spot != nil {
		snap.SpotReclaims, snap.BurstLife = s.spot.Rates(now, s.instanceView()), s.spot.Life(now)
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
	s.counts.steps += int64(len(s.queues))
	for qi := range s.queues {
		q := &s.queues[qi]
		if q.len() > 0 {
			minG = min(minG, q.gpus)
			if q.cloud > 0 {
				oldest = min(oldest, q.jobs[q.head])
			}
		}
	}
	snap.OnPremFreeGPUs = s.on.freeFor(min(minG, s.on.nodeGPUs))
	if oldest < math.MaxInt32 {
		snap.OldestWait = s.now - s.jobs[oldest].Submit
	}
	// The queue by size, oldest first: what the engine reads, at a cost
	// that does not grow with the queue; a size as the jobs take it on
	// the cloud (two queues may show one size).
	by := s.sizeBuf[:0]
	for qi := range s.queues {
		if q := &s.queues[qi]; q.len() > 0 && q.cloud > 0 {
			by = append(by, policy.PendingSize{GPUs: q.cloud, Submitted: q.subs[q.head:]})
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
	// (Jobs that can never be served are not queued: jobState.nowhere.)
	listable := s.pendingJobs - s.leftJobs
	list := s.pendBuf[:0]
	waits := s.waitBuf[:0]
	heads := s.headBuf[:0]
	for i := range s.queues {
		heads = append(heads, s.queues[i].head)
	}
	defer func() { s.pendBuf, s.waitBuf, s.headBuf = list, waits, heads }()
	// Waits as differences of Unix nanoseconds: exact for the simulated
	// times (centuries inside int64) and far cheaper than Time.Sub, which
	// checks for overflow with an Add and an Equal per call.
	nowNano := now.UnixNano()
	// A heap of the queues by their next job (the oldest first): the
	// queue on top gives its jobs up to the next queue's next job. It costs
	// O(Q + listed·log Q) for Q sizes queued, not O(listed·Q).
	hp := s.listHeap[:0]
	defer func() { s.listHeap = hp[:0] }()
	for qi := range s.queues {
		if heads[qi] < len(s.queues[qi].jobs) && s.queues[qi].cloud > 0 {
			hp = append(hp, int32(qi))
		}
	}
	less := func(a, b int32) bool { return s.queues[a].jobs[heads[a]] < s.queues[b].jobs[heads[b]] }
	for i := len(hp)/2 - 1; i >= 0; i-- {
		siftDown(hp, i, less)
	}
	s.counts.steps += int64(len(s.queues))
	for want := min(listable, maxListed); len(list) < want && len(hp) > 0; {
		best := hp[0]
		// The oldest next job of the other queues: a child of the top.
		next := int32(math.MaxInt32)
		for _, c := range [2]int{1, 2} {
			if c < len(hp) {
				next = min(next, s.queues[hp[c]].jobs[heads[hp[c]]])
			}
		}
		q := &s.queues[best]
		h := heads[best]
		for ; h < len(q.jobs) && q.jobs[h] < next && len(list) < want; h++ {
			list = append(list, q.cloud)
			waits = append(waits, time.Duration(nowNano-q.subs[h].UnixNano())) // subs lie in order, the trace's jobs do not
		}
		heads[best] = h
		if h >= len(q.jobs) {
			last := len(hp) - 1
			hp[0] = hp[last]
			hp = hp[:last]
		}
		siftDown(hp, 0, less)
		s.counts.steps++
	}
	s.counts.steps += int64(len(list))
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
	s.counts.steps += int64(len(s.dirty))
	if !s.viewValid {
		s.counts.steps += int64(len(s.alive))
		// Instances came or went. The view keeps launch order, so an
		// entry still up to date only moves towards the front (over the
		// entries of instances that ended) and new instances come last:
		// one pass moves the entries, a run of neighbours at a time, and
		// makes only those out of date.
		n := len(s.view)
		dst, src, run := 0, 0, 0 // entries src… move to dst…, not yet moved
		move := func() {
			if run > 0 && dst != src {
				copy(s.view[dst:dst+run], s.view[src:src+run])
			}
			run = 0
		}
		for i, ii := range s.alive {
			in := s.inst(ii)
			old, fresh := in.viewPos, in.viewPos >= 0 && !in.dirty
			in.viewPos = i
			in.dirty = false
			switch {
			case fresh && run > 0 && old == src+run:
				run++
			case fresh:
				move()
				dst, src, run = i, old, 1
			case i < n:
				move()
				s.view[i] = s.viewOf(in)
			default:
				move()
				s.view = append(s.view, s.viewOf(in))
			}
		}
		move()
		clear(s.view[len(s.alive):])
		s.view = s.view[:len(s.alive)]
		s.dirty = s.dirty[:0]
		s.viewValid = true
		return s.view
	}
	for _, ii := range s.dirty {
		in := s.inst(ii)
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
	s.countFloorIdle()
	s.planned, s.acted = false, false
	for try := 0; ; try++ {
		failed, err := s.evaluate(decide)
		if err != nil || !failed || try >= len(s.pool.Offerings) {
			return err
		}
	}
}

// countFloorIdle counts, for a policy that keeps schedule floors, the
// idle GPU-hours the active floors hold until the next evaluation: the
// GPUs of whole idle running instances, up to the floors' GPUs.
func (s *state) countFloorIdle() {
	if !s.o.Policy.KeepsFloors || s.o.Floors == nil || len(s.pool.Schedules) == 0 {
		return
	}
	floor := 0
	for _, f := range s.o.Floors(s.pool, s.at(s.now)) {
		floor += f.GPUs
	}
	if floor <= 0 {
		return
	}
	idle := 0
	for _, ii := range s.alive {
		if in := s.inst(ii); in.state == policy.StateRunning && in.jobs == 0 {
			idle += in.gpus
		}
	}
	s.res.FloorIdleGPUHours += float64(min(floor, idle)) * s.interval.Hours()
}

func (s *state) evaluate(decide DecideFunc) (failed bool, err error) {
	s.counts.evals++
	spend := s.spend()
	plan := decide(s.pool, s.snapshot(), s.instanceView(), spend, s.at(s.now))
	acted := len(plan.Launches) > 0 || len(plan.Drains) > 0 || len(plan.Terminates) > 0
	s.planned = s.planned || acted || len(plan.BoundBy) > 0
	s.acted = s.acted || acted
	s.bound = append(s.bound[:0], plan.BoundBy...)
	for _, k := range plan.Unused {
		if s.unused == nil {
			s.unused = map[policy.OfferingKey]time.Time{}
		}
		s.unused[k] = s.at(s.now + policy.UnusedHold)
	}
	for _, l := range plan.BoundBy {
		if s.res.LimitBoundHours == nil {
			s.res.LimitBoundHours, s.boundTo = map[string]float64{}, map[string]time.Duration{}
		}
		if from := max(s.now, s.boundTo[l]); from < s.now+s.interval {
			s.res.LimitBoundHours[l] += (s.now + s.interval - from).Hours()
			s.boundTo[l] = s.now + s.interval
		}
	}
	for _, a := range plan.Terminates {
		ii, ok := s.instByID(a.InstanceID)
		if !ok {
			return false, fmt.Errorf("sim: plan terminates unknown instance %q", a.InstanceID)
		}
		if in := s.inst(ii); in.ended < 0 && in.ready < 0 {
			// Ended before it came up: a launch that failed.
			s.res.FailedLaunches["not_up"]++
		}
		s.terminate(ii)
	}
	for _, a := range plan.Drains {
		ii, ok := s.instByID(a.InstanceID)
		if !ok {
			return false, fmt.Errorf("sim: plan drains unknown instance %q", a.InstanceID)
		}
		s.drain(ii)
	}
	for _, l := range plan.Launches {
		if !s.cloud.inStock(policyOfferingName(l.Offering), s.now) {
			s.res.FailedLaunches["capacity"]++
			s.cloud.markUnavailable(l.Offering.Key(), s.at(s.now), "")
			failed = true
			continue
		}
		for range l.Count {
			if key := s.cloud.overQuota(l.Offering, s.quotaUse); key != "" {
				// The provider refuses it as over the account's quota
				// (EC2 VcpuLimitExceeded, ECS QuotaExceeded.*): the
				// provider or region is blocked for a while.
				s.res.FailedLaunches["quota"]++
				s.cloud.blocked[key] = s.at(s.now + s.cloud.c.QuotaTTL)
				failed = true
				break
			}
			if err := s.launch(l.Offering, l.Floor); err != nil {
				return false, err
			}
		}
	}
	return failed, nil
}
