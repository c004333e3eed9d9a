package policy

import "time"

// Snapshot is what the signals saw for one pool at one moment.
type Snapshot struct {
	// Time is when the signals were taken (the oldest of them).
	Time time.Time

	// OnPremGPUs is the number of on-prem GPUs observed; OnPremBusyGPUs those
	// running work (NVML utilisation or compute processes).
	OnPremGPUs     int
	OnPremBusyGPUs int
	// OnPremFreeGPUs is how many on-prem GPUs can take a new job now. It may
	// be less than OnPremGPUs-OnPremBusyGPUs when free GPUs are fragmented
	// across nodes; when negative it is unknown and computed from the two above.
	OnPremFreeGPUs int
	// IdleAllocatedGPUs are allocated on-prem but idle: reported as waste.
	IdleAllocatedGPUs int
	// OnPremUnhealthyGPUs are on-prem GPUs their agent reports unhealthy
	// (broken memory, a reset required, fallen off the bus), counted in
	// OnPremBusyGPUs: they take no job. For operators only: Decide does
	// not read it.
	OnPremUnhealthyGPUs int

	// PendingJobs and PendingGPUs are the queue's demand. PendingJobGPUs,
	// when known, lists each pending job's GPU request in queue order so the
	// engine can pack multi-GPU jobs into whole instances.
	PendingJobs    int
	PendingGPUs    int
	PendingJobGPUs []int
	// PendingJobWaits, when known, is how long each job of PendingJobGPUs
	// has waited (same order and length). With it the engine launches only
	// for the jobs that would otherwise wait past the target, leaving
	// younger ones to on-prem capacity that frees up in time.
	PendingJobWaits []time.Duration
	// PendingBySize, when set, is the queue's demand grouped by job size:
	// for each size, the submit times of its pending jobs, oldest first.
	// It stands in for PendingJobGPUs and PendingJobWaits (which are then
	// ignored) and keeps a decision's cost independent of the queue's
	// length. The engine neither keeps nor modifies the slices.
	PendingBySize []PendingSize
	// OldestWait is how long the oldest pending job has waited (0 if none or unknown).
	OldestWait time.Duration

	// Stale lists signals that are missing, failed or older than the pool's
	// StaleAfter. When non-empty the engine never scales in and never
	// launches on demand; floors are still honoured.
	Stale []string

	// LeftOut says which queued jobs the demand sources did not count as
	// demand, and why, as "<source>: N jobs <why>"; Larger counts the jobs
	// counted as a larger shape than their GPUs, for their CPUs or memory.
	// For operators only: Decide does not read them.
	LeftOut []string
	Larger  int

	// Unavailable holds offerings that recently failed for capacity (out of
	// stock, or a launch that delivered nothing: an instance that never
	// joined, a spot instance reclaimed before it joined), until
	// the time given (the capacity cache's TTL). Blocked holds wider blocks
	// from quota errors: a provider name, or "provider/region".
	Unavailable map[OfferingKey]time.Time
	Blocked     map[string]time.Time
	// UnavailableWhy says, for an offering in Unavailable whose latest
	// failure was not a stock-out, why (WhyNeverJoined,
	// WhyReclaimedBooting, WhyOtherMarket, WhyResized): the decision's explanation names it. Absent:
	// out of stock.
	UnavailableWhy map[OfferingKey]string
	// Unused holds offerings the queue recently left unused, until the
	// time given: an instance of theirs idled past its threshold while
	// pending jobs that seemed to fit it waited, so the scheduler does not
	// start them there (Plan.Unused). They are not launched, as if out of
	// stock, until then.
	Unused map[OfferingKey]time.Time

	// SpotReclaims, when it holds a spot offering, is how often its
	// instances are reclaimed, per instance-hour past the offering's
	// protection (learnt from notices,
	// package spotlife). For a pool whose jobs checkpoint, the policy
	// counts what each reclaim throws away (SpotLoss) against the
	// offering's useful GPU-hours.
	SpotReclaims map[OfferingKey]float64
	// BurstLife is the mean life of the pool's recent burst instances
	// (package spotlife): how long a launch is used. The reclaims of a
	// spot offering with a protection (Offering.SpotProtection) are
	// priced only on the share of that life past the protection
	// (SpotExposed); 0 (unknown) prices every hour.
	BurstLife time.Duration

	// Boot, when it holds an offering, is the boot time to plan with
	// instead of Offering.Boot: what recent launches of that offering
	// took (e.g. their p90, from launch to joined), so that a slow cloud
	// is planned for rather than discovered.
	Boot map[OfferingKey]time.Duration
	// BootMean, when it holds an offering, is the mean of its recent
	// boots: what booting a replacement costs on average, the ski-rental
	// break-even of scale_in.idle auto (Boot, a high quantile, is for
	// launching in time; it would keep idle instances too long).
	BootMean map[OfferingKey]time.Duration
	// IdleGaps, when it holds an offering, is how long its recent idle
	// instances waited for their next job (package idlegap): until a job
	// landed, or, for one released, until the offering was next launched;
	// IdleGapNever when nothing came. With MinIdleSpells of them,
	// scale_in.idle auto keeps an idle instance as long as would have cost
	// least over them, never longer than the ski-rental break-even.
	IdleGaps map[OfferingKey][]time.Duration

	// Floors are active schedule and manual floors.
	Floors []Floor
}

// PendingSize is the pending jobs of one size (see Snapshot.PendingBySize).
type PendingSize struct {
	GPUs      int
	Submitted []time.Time // oldest first
}

// InstanceState is where a burst instance is in its life.
type InstanceState string

const (
	StateBooting     InstanceState = "booting"
	StateRunning     InstanceState = "running"
	StateDraining    InstanceState = "draining"
	StateTerminating InstanceState = "terminating"
)

// Instance is the policy's view of one burst instance.
type Instance struct {
	ID       string
	Offering Offering
	State    InstanceState
	// LaunchedAt is when billing started; ReadyAt when it could take work
	// (zero while booting).
	LaunchedAt time.Time
	ReadyAt    time.Time
	// BusyGPUs is how many of its GPUs run work; IdleSince is when it last
	// became fully idle (zero when busy).
	BusyGPUs  int
	IdleSince time.Time
	// UnhealthyGPUs is how many of its GPUs not busy can take no job (its
	// agent reports them unhealthy: broken memory, a reset required,
	// fallen off the bus). They are no room for pending jobs; the
	// instance is billed, and counted against max_gpus, whole.
	UnhealthyGPUs int
	// DrainStartedAt is set once the instance is draining.
	DrainStartedAt time.Time
	// Floor is the owner of the floor it was launched for, if any.
	Floor string
	// Held marks a commitment the caller cannot end (booting): a launch
	// still pending, or an instance held after it vanished unlisted (the
	// cloud may list it late). It counts as capacity, against the limits
	// and the budget like any booting instance, but a plan never drains
	// or terminates it, so neither the budget nor the limits count on
	// ending it, and their notes count only what the plan ends.
	Held bool
}

// Spend is what the pool has spent in its current budget period.
type Spend struct {
	PeriodStart time.Time
	PeriodEnd   time.Time
	// Accrued is billed cost so far in the period, including instances
	// still running up to now.
	Accrued float64
}

// FloorKind says where a floor came from.
type FloorKind string

const (
	FloorSchedule FloorKind = "schedule"
	FloorManual   FloorKind = "manual"
)

// Floor keeps at least GPUs burst GPUs in a pool until Until.
type Floor struct {
	Kind   FloorKind
	Owner  string // schedule name or principal
	Reason string
	GPUs   int
	Until  time.Time
	// Offering, when set, pins the floor to one offering name.
	Offering string
}

// Plan is the engine's decision for one pool at one moment.
type Plan struct {
	Pool       string
	Time       time.Time
	Launches   []Launch
	Drains     []Action
	Terminates []Action
	// Notes explain what was considered and not done (holds, limits hit,
	// offerings skipped), in words a person can read.
	Notes []string
	// Waste is the idle-allocated on-prem GPU count carried from the snapshot.
	Waste int
	// BoundBy names the hard limits (LimitBudget, LimitMaxGPUs,
	// LimitMaxCostPerHour) that held back a launch or ended capacity in
	// this plan, so that reports can say for how long each one bound.
	BoundBy []string
	// Unservable counts the pending jobs that no capacity the pool may ever
	// hold can run (larger than on-prem and than what the limits let it
	// rent); UnservableGPUs is the largest of them. They are never launched for.
	Unservable     int
	UnservableGPUs int
	// Unused names the offerings of instances this plan drains because
	// the queue does not use them: idle past their threshold, beside
	// pending jobs that seem to fit them, for longer than a scheduler takes
	// to start a job (UnusedAfter). The caller holds each out of launches
	// for UnusedHold (Snapshot.Unused), as it holds an offering that
	// stocked out, so the next launch tries another shape.
	Unused []OfferingKey
	// Waits names, for each active floor this plan leaves short of its
	// GPUs, what holds the rest back: a limit (with its numbers) or no
	// offering to launch (with why each was skipped), in the words of the
	// floor's note. Nil from DecideWithoutNotes, which writes no notes.
	Waits []FloorWait
}

// FloorWait is why an active floor waits for burst GPUs (Plan.Waits).
type FloorWait struct {
	Owner string // the floor's owner: a schedule's name or a burst's ID
	GPUs  int    // the burst GPUs it wants and this plan does not launch
	// Limit is the hard limit that held the launch back (LimitBudget,
	// LimitMaxGPUs, LimitMaxCostPerHour), or "" when no offering could be
	// launched (out of stock, held after a failed launch, quota).
	Limit string
	Why   string // the floor's note
}

// UnusedAfter is how long past its idle threshold, at least, an instance
// idles beside pending jobs that fit it before its offering is taken as
// unused by the queue (two evaluations, when those are further apart): a
// scheduler starts a job on a node that fits it within seconds, Slurm's
// backfill within its 30-second cycle.
const UnusedAfter = 2 * time.Minute

// UnusedHold is how long an offering the queue left unused is not
// launched: what jobs ask of a node (CPUs, memory, a partition, a
// feature, a size the queue does not report) seldom changes within the
// hour, and an hour bounds what one wrong shape can cost to one idle spell
// of each of its instances per hour.
const UnusedHold = time.Hour

// Why an offering is in Snapshot.Unavailable when not out of stock
// (Snapshot.UnavailableWhy), as a decision explains its skip.
const (
	WhyNeverJoined      = "an instance of it never joined"
	WhyReclaimedBooting = "a spot instance of it was reclaimed before it joined"
	WhyOtherMarket      = "the cloud ran an instance of it in the other market"
	WhyResized          = "the cloud ran an instance of it as another type"
)

// UnavailableCauses is Snapshot.UnavailableWhy from a capacity cache's
// causes and expiries: the causes of the entries in force at now, nil when
// none. It deletes from causes those no longer in force.
func UnavailableCauses(causes map[OfferingKey]string, until map[OfferingKey]time.Time, now time.Time) map[OfferingKey]string {
	var out map[OfferingKey]string
	for k, why := range causes {
		if u, ok := until[k]; !ok || !u.After(now) {
			delete(causes, k)
			continue
		}
		if out == nil {
			out = map[OfferingKey]string{}
		}
		out[k] = why
	}
	return out
}

// Hard limits, as Plan.BoundBy names them.
const (
	LimitBudget         = "budget"
	LimitMaxGPUs        = "max_gpus"
	LimitMaxCostPerHour = "max_cost_per_hour"
)

// Launch asks for Count instances of Offering.
type Launch struct {
	Offering Offering
	Count    int
	// Floor names the floor owner when the launch serves a floor.
	Floor  string
	Reason string
}

// Action is a drain or terminate of one instance.
type Action struct {
	InstanceID string
	Reason     string
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool {
	return len(p.Launches) == 0 && len(p.Drains) == 0 && len(p.Terminates) == 0
}
