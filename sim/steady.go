package sim

import (
	"math"
	"slices"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// steadySkip turns skipSteadyTicks on; TestSteadySkipIsExact compares
// runs without it.
var steadySkip = true

// steadyMin is the fewest evaluations a steady skip looks ahead over:
// below it, probing costs about what it saves.
const steadyMin = 16

// steady reports whether the last evaluation may be followed by a steady
// skip, for a policy whose memory can be copied: it planned no launch,
// drain or termination; no rented instance is booting or up and idle;
// every pending job has waited the wait target; and no spot reclaim rate
// is being learned (steadySpot). Those leave no timer that runs out with
// time alone but the ones steadyEnd stops at (a drain timeout, a
// schedule's firing or end, an instance's max_lifetime, the policy's own
// memory, the capacity cache): what still moves is money, spent by the
// hour or the second, which only ever brings a limit to bind, or an
// instance to be drained, sooner (a hard budget), or a launch within
// reach (a soft one, whose launches commit to the period's end, or to
// the end max_lifetime sets, which nears with time). A checkpoint saves
// a running job's work with time alone, but nothing the policy sees
// depends on it until the job is killed, an event. Timers that fire and
// money that runs out together would open a launch and close it again
// between two probes (a node type back from DOWN while the budget runs
// low, a job due while it does): hence no timer inside a window. An idle
// instance is left out also because the spillway policy ends one near
// the end of the hour it has paid for (hourly billing), a decision that
// comes and goes with the hour (a policy that does not watch idle time,
// Policy.IdleUnwatched, keeps its idle instances as they are, unless it
// keeps schedule floors: their idle GPU-hours are counted evaluation by
// evaluation, countFloorIdle).
func (s *state) steady() bool {
	p := s.pool
	if s.acted || !s.steadySpot() {
		return false
	}
	idleKept := s.o.Policy.IdleUnwatched && !(s.o.Policy.KeepsFloors && len(p.Schedules) > 0)
	for _, ii := range s.alive {
		if in := s.inst(ii); in.state == policy.StateBooting || (in.state == policy.StateRunning && in.jobs == 0 && !idleKept) {
			return false
		}
	}
	if s.pendingJobs > 0 {
		// Each size queue's newest job is its last.
		target := p.WaitTarget.D()
		for qi := range s.queues {
			if q := &s.queues[qi]; q.len() > 0 && s.now-s.jobs[q.jobs[len(q.jobs)-1]].Submit < target {
				return false
			}
		}
	}
	return true
}

// steadySpot reports that no spot reclaim rate moves with time alone: the
// run learns none (s.spot nil), or no spot instance has been rented yet.
// Once one has, the rates the policy reads (spotlife.Tracker.Rates) move
// with every evaluation, up or down (an offering's past decays towards
// the prior while its live instances add exposure), and the tracker's
// own memory is brought to the time it is read: a probe at a later time
// would change what the evaluations before it see.
func (s *state) steadySpot() bool {
	return s.spot == nil || !s.spotRented
}

// steadyEnd is the time before which evaluations see nothing change but
// time: the next event (a job submitted or ending, an instance ready, a
// spot notice), the end of the budget period, the first capacity-cache or
// quota entry to expire, the first released idle spell to resolve, the
// first draining instance's drain_timeout, the first instance to reach
// max_lifetime, the next firing of a schedule or end of an active
// schedule floor, the policy's first timer (Decider.NextTimer), and
// the evaluation after which the run stops (limit, inclusive); under a
// hard budget, the last evaluation whose commitments end within the
// period (see below).
func (s *state) steadyEnd(dec Decider, next, limit, interval time.Duration) time.Duration {
	end := min(next, limit+1)
	if !s.periodEnd.IsZero() {
		periodEnd := s.periodEnd.Sub(s.start)
		end = min(end, periodEnd)
		if b := s.pool.Limits.Budget; b != nil && !b.Soft() {
			// A hard budget counts what an instance bills until the
			// latest it could end: the next evaluation plus
			// drain_timeout (rounded up to evaluations). Once that
			// reaches past the period's end, part of it counts against
			// the next period, a part that grows as the end nears while
			// the current period's part shrinks: a launch can fit and
			// then not, with time alone. Evaluations from then on are
			// not skipped.
			timeout := s.pool.ScaleIn.DrainTimeout.D()
			if timeout <= 0 {
				return 0 // no drain timeout: an instance commits for ever
			}
			horizon := interval + (timeout+interval-1)/interval*interval
			end = min(end, periodEnd-horizon+1)
		}
	}
	if cs := s.cloud; cs != nil {
		for _, until := range cs.unavail {
			end = min(end, until.Sub(s.start))
		}
		for _, until := range cs.blocked {
			end = min(end, until.Sub(s.start))
		}
	}
	for _, until := range s.unused {
		end = min(end, until.Sub(s.start))
	}
	if at, ok := s.idle.NextResolve(); ok {
		end = min(end, at.Sub(s.start)+1)
	}
	if timeout := s.pool.ScaleIn.DrainTimeout.D(); timeout > 0 {
		for _, ii := range s.alive {
			if in := s.inst(ii); in.state == policy.StateDraining && in.drainStart >= 0 {
				end = min(end, in.drainStart+timeout)
			}
		}
	}
	if life := s.pool.ScaleIn.MaxLifetime.D(); life > 0 {
		// observe drains an instance at the first evaluation at or
		// after its launch plus max_lifetime.
		for _, ii := range s.alive {
			if in := s.inst(ii); in.state != policy.StateDraining && in.state != policy.StateTerminating {
				end = min(end, in.launched+life)
			}
		}
	}
	if len(s.pool.Schedules) > 0 {
		// A floor holds from its schedule's firing (inclusive) until
		// its Until (exclusive): policy.ScheduleFloors.
		now := s.at(s.now)
		if fire, ok := policy.NextScheduleFiring(*s.pool, now); ok {
			end = min(end, fire.Sub(s.start))
		}
		if s.o.Floors != nil {
			for _, f := range s.o.Floors(s.pool, now) {
				end = min(end, f.Until.Sub(s.start))
			}
		}
	}
	if at, ok := dec.NextTimer(); ok {
		end = min(end, at.Sub(s.start))
	}
	return end
}

// skipSteadyTicks skips the evaluations at nextTick, nextTick+interval, …
// before end that would plan the same as the last one (bound, the limits
// that bound it, and nothing to do), when there are at least steadyMin of
// them. It asks copies of the policy (dec.Fork) at later times, with the
// run's state as it would be then: the last of them first, and when that
// one plans otherwise, a bisection for the last that does not. Every
// trigger of a plan in a steady state grows with time alone (jobs wait
// longer, money is spent, instances age, caches lapse: once a trigger
// fires, it stays fired until something happens), so a plan equal to the
// last one at a later evaluation is the plan of every evaluation between;
// TestSteadySkipIsExact holds the simulator to that. It returns the
// evaluation to run next and, when it skipped any, the Decider to go on
// with (the copy that made the last skipped evaluation, whose memory is
// what the skipped ones would have left; nil when it skipped none),
// counting the limits' bound time as they would have.
func (s *state) skipSteadyTicks(dec Decider, nextTick, end, interval time.Duration) (time.Duration, Decider) {
	if end <= nextTick {
		return nextTick, nil
	}
	k := int((end - nextTick + interval - 1) / interval) // evaluations at nextTick+i·interval < end, i < k
	if k < steadyMin {
		return nextTick, nil
	}
	probe := func(i int) (Decider, bool) {
		f := dec.Fork()
		save := s.now
		s.now = nextTick + time.Duration(i)*interval
		plan := f.Decide(s.pool, s.snapshot(), s.instanceView(), s.spend(), s.at(s.now))
		s.now = save
		s.counts.probes++
		return f, len(plan.Launches) == 0 && len(plan.Drains) == 0 && len(plan.Terminates) == 0 && slices.Equal(plan.BoundBy, s.bound)
	}
	last, same := probe(k - 1)
	skip := k
	if !same {
		// The evaluation at i = lo plans as the last one did (lo = -1:
		// the last one itself); the one at hi does not.
		lo, hi := -1, k-1
		last = nil
		for hi-lo > 1 {
			mid := lo + (hi-lo)/2
			if f, ok := probe(mid); ok {
				lo, last = mid, f
			} else {
				hi = mid
			}
		}
		if last == nil {
			return nextTick, nil
		}
		skip = lo + 1
	}
	if len(s.bound) > 0 {
		if s.res.LimitBoundHours == nil {
			s.res.LimitBoundHours, s.boundTo = map[string]float64{}, map[string]time.Duration{}
		}
		h := interval.Hours()
		for _, l := range s.bound {
			// One addition per evaluation, as evaluate makes them: the
			// same sum to the last bit.
			v := s.res.LimitBoundHours[l]
			for range skip {
				v += h
			}
			s.res.LimitBoundHours[l] = v
			s.boundTo[l] = nextTick + time.Duration(skip)*interval
		}
	}
	return nextTick + time.Duration(skip)*interval, last
}

// nextEvent is when the next job is submitted (ai is the next job to
// submit) or the next event falls due, whichever comes first.
func (s *state) nextEvent(ai int) time.Duration {
	next := time.Duration(math.MaxInt64)
	if ai < len(s.jobs) {
		next = s.jobs[ai].Submit
	}
	if len(s.events) > 0 {
		next = min(next, s.events[0].at)
	}
	return next
}
