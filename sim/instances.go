package sim

// Cloud instances: launch, boot, drain, terminate (billing on the way out), spot notices, and placing jobs on them.

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spillway-io/spillway/policy"
)

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
	viewPos     int  // index in state.view, -1 before it has one
	dirty       bool // view entry out of date
	reclaimed   bool // given a spot reclaim notice
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

// endIdle ends an instance's idle spell, if it is in one, counting it in
// the idle GPU-hours.
func (s *state) endIdle(in *instance) {
	if in.idleSince >= 0 {
		s.res.IdleGPUHours += float64(in.gpus) * (s.now - in.idleSince).Hours()
		in.idleSince = -1
	}
}

// inst is the instance launched ii-th, or, once it has ended, a shared
// stand-in that has ended. The index by launch (slotOf) holds no pointers,
// so the collector does not scan every instance a run ever launched
// (millions, with spot reclaimed every minute) in each cycle, only the
// slots of those alive.
func (s *state) inst(ii int32) *instance {
	if k := s.slotOf[ii]; k > 0 {
		return s.slots[k-1]
	}
	return &s.endedInst
}

func (s *state) cloudHasRoom() bool { return s.cloudFree > 0 }

// touch marks an instance's view entry out of date.
func (s *state) touch(ii int32) {
	if in := s.inst(ii); !in.dirty {
		in.dirty = true
		s.dirty = append(s.dirty, ii)
	}
}

// cloudFit finds room on ready, non-draining instances: the one with the
// fewest free GPUs that holds g (best fit, roomIndex), else, for a job
// larger than an instance, whole idle instances of one offering of at least
// the pool's span.min_gpus GPUs (Pool.SpanMin) that together hold it (with
// whole_jobs, only for a job larger than every offering). It returns the
// parts in into's array when it has room (a free run entry's, as
// onprem.place does).
func (s *state) cloudFit(g int, into []part) []part {
	if s.cloudFree < g {
		return nil // not even all free GPUs together hold it
	}
	s.room.compact(len(s.alive), s.roomOf)
	if ii := s.room.best(g, s.roomOf); ii >= 0 {
		return append(into[:0], part{cloud: true, idx: int32(ii), gpus: int32(g)})
	}
	if s.pool.WholeJobs && g <= s.maxOfferGPUs {
		return nil // the job cannot span instances and some offering holds it whole
	}
	if s.cloudWhole < g {
		return nil // not even every instance a job may span together holds it
	}
	// The groups of the search before, emptied: a map and its slices for
	// every search were a tenth of a million-job run's allocations.
	groups := s.spanGroups
	for name, grp := range groups {
		groups[name] = grp[:0]
	}
	for _, ii := range s.alive {
		in := s.inst(ii)
		if in.gpus >= g || s.spanWhole(in) == 0 {
			continue
		}
		if groups == nil {
			groups = map[string][]int32{}
			s.spanGroups = groups
		}
		name := in.off.Name
		grp := append(groups[name], ii)
		groups[name] = grp
		if len(grp)*in.gpus >= g {
			parts := slices.Grow(into[:0], len(grp))
			for _, x := range grp {
				parts = append(parts, part{cloud: true, idx: x, gpus: int32(s.inst(x).gpus)})
			}
			return parts
		}
	}
	return nil
}

func (s *state) ready(ii int) {
	in := s.inst(int32(ii))
	if in.ended >= 0 {
		return
	}
	s.booting--
	in.ready = s.now
	s.res.BootGPUHours += float64(in.gpus) * (s.now - in.launched).Hours()
	s.boots.Observe(in.off.Key(), s.now-in.launched)
	in.idleSince = s.now
	s.touch(int32(ii))
	if in.state == policy.StateDraining {
		s.terminate(int32(ii))
		return
	}
	in.state = policy.StateRunning
	s.cloudFree += in.free
	s.cloudWhole += s.spanWhole(in)
	s.room.set(ii, in.free)
}

// spanWhole is the GPUs of in when a job may span it now: running, every
// GPU free, at least the pool's span.min_gpus (what cloudFit's span search
// takes); else 0. Every change of in's free GPUs or state while it runs
// moves s.cloudWhole by spanWhole after less spanWhole before.
func (s *state) spanWhole(in *instance) int {
	if in.state == policy.StateRunning && in.free == in.gpus && in.gpus >= s.spanMin {
		return in.gpus
	}
	return 0
}

// roomOf is instance ii's room: its free GPUs while running, else -1.
func (s *state) roomOf(ii int32) int {
	if in := s.inst(ii); in.state == policy.StateRunning {
		return in.free
	}
	return -1
}

// instID is the ID of instance ii: the simulator numbers its launches.
func instID(ii int32) string { return "sim-" + strconv.Itoa(int(ii)+1) }

// instByID is the index of the instance of an ID, alive or ended; ok is
// false for an ID the run never gave out. The ID holds the index, so a run
// keeps no map of every instance it launched.
func (s *state) instByID(id string) (int32, bool) {
	num, ok := strings.CutPrefix(id, "sim-")
	if !ok || num == "" || num[0] < '1' || num[0] > '9' { // as instID writes it: no sign, no leading 0
		return 0, false
	}
	n, err := strconv.Atoi(num)
	if err != nil || n > len(s.slotOf) {
		return 0, false
	}
	return int32(n - 1), true
}

func (s *state) launch(off policy.Offering, floor string) error {
	if off.GPUs <= 0 {
		return fmt.Errorf("sim: plan launches offering %q with %d GPUs (want ≥ 1)", off.Name, off.GPUs)
	}
	if s.o.MaxInstances > 0 && len(s.slotOf) >= s.o.MaxInstances {
		return fmt.Errorf("sim: %w (%d)", ErrTooManyInstances, s.o.MaxInstances)
	}
	if off.Market == policy.MarketSpot {
		s.spotRented = true
	}
	ii := int32(len(s.slotOf))
	in := &instance{
		id:         instID(ii),
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
		viewPos:    -1,
	}
	if n := len(s.freeSlots); n > 0 {
		k := s.freeSlots[n-1]
		s.freeSlots = s.freeSlots[:n-1]
		s.slots[k] = in
		s.slotOf = append(s.slotOf, k+1)
	} else {
		s.slots = append(s.slots, in)
		s.slotOf = append(s.slotOf, int32(len(s.slots)))
	}
	s.alive = append(s.alive, ii)
	s.booting++
	s.viewValid = false
	s.cloudGPUs += in.gpus
	if s.cloud != nil && len(s.cloud.c.Quota) > 0 {
		s.quotaUse[off.Provider] += in.gpus
		s.quotaUse[off.Provider+"/"+off.Region] += in.gpus
	}
	s.cloudPrice += off.PricePerHour
	s.res.PeakCloudGPUs = max(s.res.PeakCloudGPUs, s.cloudGPUs)
	s.res.PeakCostPerHour = max(s.res.PeakCostPerHour, s.cloudPrice)
	s.res.Launches++
	s.idle.Launched(off.Key(), s.at(s.now))
	if life := s.cloud.spotLife(off); life > 0 {
		s.push(event{at: s.now + life, kind: evNotice, id: ii})
	}
	boot := max(0, s.cloud.boot(off))
	if boot == 0 {
		s.ready(int(ii))
		return nil
	}
	if t := s.joinTimeout; t > 0 && boot > t {
		// It would join after its controller gives up on it.
		s.push(event{at: s.now + t, kind: evNoJoin, id: ii})
		return nil
	}
	s.push(event{at: s.now + boot, kind: evReady, id: ii})
	return nil
}

// noJoin ends an instance still booting at its policy's join timeout: a
// failed launch, whose offering the server skips for the capacity TTL.
func (s *state) noJoin(ii int32) {
	in := s.inst(ii)
	if in.ended >= 0 {
		return
	}
	s.res.FailedLaunches["join_timeout"]++
	if s.o.Policy.JoinTimeoutSkips && !s.siblingCameUp(in) {
		s.cloud.markUnavailable(in.off.Key(), s.at(s.now), policy.WhyNeverJoined)
	}
	s.terminate(ii)
}

// siblingCameUp says whether an instance of in's offering launched with it
// or after it has come up: the offering delivers, and in was one slow or
// broken instance, as the server judges a join timeout.
func (s *state) siblingCameUp(in *instance) bool {
	k := in.off.Key()
	for _, jj := range s.alive {
		o := s.inst(jj)
		if o != in && o.ready >= 0 && o.launched >= in.launched && o.off.Key() == k {
			return true
		}
	}
	return false
}

// notice is a spot reclaim notice: the instance takes no new work and is
// reclaimed after the notice period, killing what still runs on it.
func (s *state) notice(ii int32) {
	in := s.inst(ii)
	if in.ended >= 0 {
		return
	}
	s.res.Interruptions++
	in.reclaimed = true
	s.spot.Reclaimed(in.off.Key(), s.at(s.now))
	if in.ready < 0 {
		// Reclaimed before it came up: a failed launch, whose offering
		// the server skips for the capacity TTL (scheduler: interrupted).
		s.res.FailedLaunches["reclaimed_booting"]++
		s.cloud.markUnavailable(in.off.Key(), s.at(s.now), policy.WhyReclaimedBooting)
	}
	s.drain(ii)
	if in.ended < 0 {
		s.push(event{at: s.now + max(0, s.cloud.spot(in.off).Notice), kind: evReclaim, id: ii})
	}
}

func (s *state) drain(ii int32) {
	in := s.inst(ii)
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
		s.cloudWhole -= s.spanWhole(in)
	}
	in.state = policy.StateDraining
}

// terminate ends an instance now; jobs still on it are killed and requeued.
func (s *state) terminate(ii int32) {
	in := s.inst(ii)
	if in.ended >= 0 {
		return
	}
	// Mark it first so releasing its last job does not end it twice.
	wasBooting := in.ready < 0
	if in.state == policy.StateRunning {
		s.cloudFree -= in.free
		s.cloudWhole -= s.spanWhole(in)
	}
	in.state = policy.StateTerminating
	s.viewValid = false
	if in.jobs > 0 {
		// Its jobs are killed in job order; they are found among the runs
		// (as many as run at once), not among every job of the trace.
		s.victims = s.victims[:0]
		for r, ps := range s.runs {
			if len(ps) > 0 && slices.ContainsFunc(ps, func(p part) bool { return p.cloud && p.idx == ii }) {
				s.victims = append(s.victims, int(s.runJob[r]))
			}
		}
		slices.Sort(s.victims)
		for _, j := range s.victims {
			s.kill(j)
		}
	}
	if wasBooting {
		s.booting--
		s.res.BootGPUHours += float64(in.gpus) * (s.now - in.launched).Hours()
	}
	if in.idleSince >= 0 && (in.drainStart < 0 || in.idleSince <= in.drainStart) {
		// Released while idle: keeping it would have saved the next
		// launch of its offering.
		s.idle.Released(in.off.Key(), s.at(in.idleSince), s.at(s.now))
	}
	s.endIdle(in)
	in.ended = s.now
	s.cloudGPUs -= in.gpus
	if s.cloud != nil && len(s.cloud.c.Quota) > 0 {
		s.quotaUse[in.off.Provider] -= in.gpus
		s.quotaUse[in.off.Provider+"/"+in.off.Region] -= in.gpus
	}
	s.cloudPrice -= in.off.PricePerHour
	s.spot.Ended(&in.off, in.launchedAt, s.at(s.now), in.reclaimed)
	s.rollPeriod()
	cost := billedCost(in.off, s.at(in.launched), s.at(s.now))
	s.res.CloudCostUSD += cost
	s.res.CostByOffering[policyOfferingName(in.off)] += cost
	s.res.CostByProvider[in.off.Provider] += cost
	s.closedTotal += cost
	s.closedInPeriod += s.periodShare(in, s.at(s.now))
	lived := (s.now - in.launched).Hours() * float64(in.gpus)
	if in.off.PricePerHour > 0 {
		paid := cost / in.off.PricePerHour * float64(in.gpus)
		s.res.PaidGPUHours += paid
		// What billing rounded up, not the float error of cost ÷ price.
		if r := paid - lived; r > 1e-9*paid {
			s.res.RoundedGPUHours += r
		}
	} else {
		s.res.PaidGPUHours += lived
	}
	// alive is in launch order, which is index order.
	if i, ok := slices.BinarySearch(s.alive, ii); ok {
		s.alive = slices.Delete(s.alive, i, i+1)
	}
	// Its record is no longer needed (what it cost is billed): a shared
	// stand-in that has ended answers later events (state.inst), and a
	// run's memory follows the instances alive at once, not all it ever
	// launched.
	k := s.slotOf[ii] - 1
	s.slots[k] = nil
	s.freeSlots = append(s.freeSlots, k)
	s.slotOf[ii] = 0
}
