package sim

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/policy"
)

// Policy names, as reports and --policies spell them.
const (
	PolicySpillway   = "spillway"
	PolicyOnPremOnly = "onprem-only"
	PolicyThreshold  = "threshold"
	PolicyPerJob     = "per-job"
)

// Baseline parameters, modelled on what people run today.
const (
	// ThresholdInterval, ThresholdTarget and ThresholdCooldown are the
	// Nomad-Autoscaler-style target tracking settings.
	ThresholdInterval = 60 * time.Second
	ThresholdTarget   = 0.80
	ThresholdCooldown = 5 * time.Minute
	// MinThresholdTarget is the lowest threshold.target: the baseline
	// sizes the fleet at the GPUs in use divided by the target, so a
	// target below a tenth rents more than ten GPUs for each one in use,
	// and one near 0 rents without limit (1e-9: a billion times the
	// demand). config.MinThresholdTarget is the same bound.
	MinThresholdTarget = 0.1
	// PerJobSuspendTime is Slurm's SuspendTime for power-saved cloud nodes.
	PerJobSuspendTime = 300 * time.Second
	// PerJobResumeRate is Slurm's ResumeRate: nodes resumed per minute at
	// most (slurm.conf's default, 300).
	PerJobResumeRate = 300
	// PerJobResumeTimeout is Slurm's ResumeTimeout as cloud clusters set
	// it: a node not up this long after its resume is marked DOWN and its
	// jobs requeued (slurm.conf's default, 60 s, is for on-prem nodes that
	// boot from power-save; 1800 s is what cloud Slurm integrations write,
	// e.g. Azure CycleCloud's slurm.conf).
	PerJobResumeTimeout = 30 * time.Minute
	// PerJobICETimeout is AWS ParallelCluster's insufficient_capacity_timeout
	// (default 600 s): after a capacity error the node type (its "compute
	// resource") is DOWN for this long and the job is requeued at once to
	// another node type (its fast insufficient capacity fail-over, on by
	// default since 3.2.0).
	PerJobICETimeout = 600 * time.Second
)

// BaselineKnobs are the baselines' settings an operator would tune, and
// the server's join timeout the spillway policy runs with; the zero value
// of a field means its default (the constants above).
type BaselineKnobs struct {
	// JoinTimeout is the pool's join.timeout (spillway's; 0: the pool's
	// default, policy.Pool.DefaultJoinTimeout).
	JoinTimeout time.Duration
	// ThresholdTarget (MinThresholdTarget to 1), ThresholdCooldown and ThresholdInterval
	// set the threshold baseline.
	ThresholdTarget   float64
	ThresholdCooldown time.Duration
	// ThresholdCooldownSet says ThresholdCooldown was given (0 included).
	ThresholdCooldownSet bool
	ThresholdInterval    time.Duration
	// PerJobSuspend (SuspendTime; set PerJobSuspendSet to use 0) and
	// PerJobResumeRate (nodes a minute) set the per-job baseline.
	PerJobSuspend    time.Duration
	PerJobSuspendSet bool
	PerJobResumeRate int
	// PerJobResumeTimeout is ResumeTimeout; PerJobICETimeout is
	// insufficient_capacity_timeout (set PerJobICETimeoutSet to use 0,
	// which turns the fast fail-over off: a failed resume then holds its
	// jobs for ResumeTimeout, as plain Slurm does).
	PerJobResumeTimeout time.Duration
	PerJobICETimeout    time.Duration
	PerJobICETimeoutSet bool
	// KarpenterConsolidateAfter is consolidateAfter;
	// KarpenterConsolidation is consolidationPolicy (WhenEmpty or
	// WhenEmptyOrUnderutilized); KarpenterEvict lets consolidation move
	// running jobs that do not checkpoint (their work is lost);
	// KarpenterSpotToSpot is the SpotToSpotConsolidation feature gate (off
	// by default, as in Karpenter): with it, a spot node may be replaced by
	// a cheaper spot node when at least KarpenterSpotToSpotMinTypes
	// cheaper spot instance types hold its jobs.
	KarpenterConsolidateAfter    time.Duration
	KarpenterConsolidateAfterSet bool
	KarpenterConsolidation       string
	KarpenterEvict               bool
	KarpenterSpotToSpot          bool
	// KarpenterRegistrationTTL is the registration timeout (0:
	// KarpenterRegistrationTTL).
	KarpenterRegistrationTTL time.Duration
}

// ParseBaselineKnob sets one knob from "policy.knob=value" (as
// --baseline-opt takes it): threshold.target=0.7, threshold.cooldown=2m,
// threshold.interval=30s, per-job.suspend=0s, per-job.resume_rate=100,
// per-job.resume_timeout=10m, per-job.insufficient_capacity_timeout=0s,
// karpenter.consolidate_after=5m,
// karpenter.consolidation_policy=WhenEmpty, karpenter.evict=true,
// karpenter.registration_ttl=20m.
// knobNames lists the baselines' knobs, for the messages that name them.
const knobNames = "threshold.target, threshold.cooldown, threshold.interval, per-job.suspend, per-job.resume_rate, per-job.resume_timeout, per-job.insufficient_capacity_timeout, karpenter.consolidate_after, karpenter.consolidation_policy, karpenter.evict, karpenter.spot_to_spot or karpenter.registration_ttl"

// errUnknownKnob is a baseline option no baseline has.
var errUnknownKnob = errors.New("unknown")

func (k *BaselineKnobs) ParseBaselineKnob(s string) error {
	name, val, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("baseline option %q: want policy.knob=value", s)
	}
	durTo := func(min, max time.Duration) (time.Duration, error) {
		d, err := time.ParseDuration(val)
		if err != nil || d < min || d > max {
			return 0, fmt.Errorf("baseline option %s=%q: want a duration from %s to %s%s", name, val, min, strings.TrimSuffix(strings.TrimSuffix(max.String(), "0s"), "0m"), config.DurationHint(val))
		}
		return d, nil
	}
	dur := func(min time.Duration) (time.Duration, error) { return durTo(min, MaxBaselineDuration) }
	var err error
	switch name {
	case "threshold.target":
		f, perr := strconv.ParseFloat(val, 64)
		if perr != nil || !(f >= MinThresholdTarget && f <= 1) {
			return fmt.Errorf("baseline option threshold.target=%q: want the GPU utilisation the threshold baseline sizes for, from %g to 1 (e.g. 0.8; below %g it rents more than %g GPUs for each one in use)", val, MinThresholdTarget, MinThresholdTarget, 1/MinThresholdTarget)
		}
		k.ThresholdTarget = f
	case "threshold.cooldown":
		k.ThresholdCooldown, err = dur(0)
		k.ThresholdCooldownSet = err == nil
	case "threshold.interval":
		k.ThresholdInterval, err = dur(time.Second)
	case "per-job.suspend":
		k.PerJobSuspend, err = dur(0)
		k.PerJobSuspendSet = err == nil
	case "per-job.resume_rate":
		n, perr := strconv.Atoi(val)
		if perr != nil || n < 1 || n > 100000 {
			return fmt.Errorf("baseline option per-job.resume_rate=%q: want nodes a minute, 1 to 100000", val)
		}
		k.PerJobResumeRate = n
	case "per-job.resume_timeout":
		// As long as a boot may be (a year), which it must outlast (CheckBoots).
		k.PerJobResumeTimeout, err = durTo(time.Second, MaxRegistrationTTL)
	case "per-job.insufficient_capacity_timeout":
		k.PerJobICETimeout, err = dur(0)
		k.PerJobICETimeoutSet = err == nil
	case "karpenter.consolidate_after":
		k.KarpenterConsolidateAfter, err = dur(0)
		k.KarpenterConsolidateAfterSet = err == nil
	case "karpenter.consolidation_policy":
		if val != KarpenterWhenEmpty && val != KarpenterWhenEmptyOrUnderutilized {
			return fmt.Errorf("baseline option karpenter.consolidation_policy=%q: want %s or %s", val, KarpenterWhenEmpty, KarpenterWhenEmptyOrUnderutilized)
		}
		k.KarpenterConsolidation = val
	case "karpenter.evict":
		b, perr := strconv.ParseBool(val)
		if perr != nil {
			return fmt.Errorf("baseline option karpenter.evict=%q: want true or false", val)
		}
		k.KarpenterEvict = b
	case "karpenter.spot_to_spot":
		b, perr := strconv.ParseBool(val)
		if perr != nil {
			return fmt.Errorf("baseline option karpenter.spot_to_spot=%q: want true or false", val)
		}
		k.KarpenterSpotToSpot = b
	case "karpenter.registration_ttl":
		// As long as a boot may be (a year), which it must outlast (CheckBoots).
		k.KarpenterRegistrationTTL, err = durTo(time.Second, MaxRegistrationTTL)
	default:
		return fmt.Errorf("baseline option %q: %w (want %s)", name, errUnknownKnob, knobNames)
	}
	return err
}

// MaxRegistrationTTL is the longest karpenter.registration_ttl and
// per-job.resume_timeout: a year, as long as an offering's boot may be,
// which they must outlast. MaxBaselineDuration is the longest of the
// baselines' other durations (config.MaxBaselineDuration).
const (
	MaxRegistrationTTL  = 8784 * time.Hour
	MaxBaselineDuration = 30 * 24 * time.Hour
)

// CheckBoots refuses a timeout of the baselines that the boot of one of
// pool's offerings reaches: karpenter.registration_ttl (Karpenter ends a
// node that has not registered within it) and per-job.resume_timeout
// (Slurm marks a node that has not resumed within it DOWN and resumes
// another). Every launch of that offering would time out and be launched
// again (a run made 3.2 million launches, none of which joined). A value
// set is refused whatever policies run; a default (15m, 30m) only when its
// policy is among policies, naming the knob to set. The server's
// join.timeout is held to the same rule, and its default is derived from
// the boots (policy.Pool.DefaultJoinTimeout); the baselines' defaults are
// their tools' own, which do not move with the boot.
func (k BaselineKnobs) CheckBoots(pool *policy.Pool, policies []string) error {
	j, slowest := -1, time.Duration(0)
	for i, o := range pool.Offerings {
		if b := o.Boot.D(); j < 0 || b > slowest {
			j, slowest = i, b
		}
	}
	if j < 0 {
		return nil
	}
	for _, t := range []struct {
		policy, knob  string
		set, def, max time.Duration
		why           string
	}{
		{PolicyKarpenter, "karpenter.registration_ttl", k.KarpenterRegistrationTTL, KarpenterRegistrationTTL, MaxRegistrationTTL, "Karpenter ends a node that has not registered within it"},
		{PolicyPerJob, "per-job.resume_timeout", k.PerJobResumeTimeout, PerJobResumeTimeout, MaxRegistrationTTL, "Slurm marks a node that has not resumed within it DOWN and resumes another"},
	} {
		ttl, which := t.set, ""
		if ttl <= 0 {
			if !slices.Contains(policies, t.policy) {
				continue
			}
			ttl, which = t.def, " (the default)"
		}
		if slowest < ttl {
			continue
		}
		o := pool.Offerings[j]
		var fix string
		switch suggest := suggestTimeout(slowest, t.max); {
		case suggest <= slowest:
			fix = fmt.Sprintf("it can be at most %s: leave %s out of the policies", t.max, t.policy)
		case which != "":
			fix = fmt.Sprintf("set %s well above the slowest boot (e.g. %s, three boots), or leave %s out of the policies", t.knob, suggest, t.policy)
		case t.def > slowest:
			fix = fmt.Sprintf("set it well above the slowest boot, or leave it out for the default, %s", t.def)
		default:
			fix = fmt.Sprintf("set it well above the slowest boot (e.g. %s, three boots)", suggest)
		}
		return fmt.Errorf("%s %s%s is not longer than the boot of offerings[%d] (%s, %s): %s, so every launch of it would time out; %s", t.knob, ttl, which, j, o.InstanceType, slowest, t.why, fix)
	}
	return nil
}

// suggestTimeout is a timeout of three boots (policy.JoinTimeoutBoots),
// rounded up to the minute, at most hi.
func suggestTimeout(boot, hi time.Duration) time.Duration {
	if boot > hi/policy.JoinTimeoutBoots {
		return hi
	}
	return min(hi, (policy.JoinTimeoutBoots*boot+time.Minute-1)/time.Minute*time.Minute)
}

func (k BaselineKnobs) withDefaults() BaselineKnobs {
	if k.ThresholdTarget == 0 {
		k.ThresholdTarget = ThresholdTarget
	}
	if !k.ThresholdCooldownSet && k.ThresholdCooldown == 0 {
		k.ThresholdCooldown = ThresholdCooldown
	}
	if k.ThresholdInterval == 0 {
		k.ThresholdInterval = ThresholdInterval
	}
	if !k.PerJobSuspendSet {
		k.PerJobSuspend = PerJobSuspendTime
	}
	if k.PerJobResumeRate == 0 {
		k.PerJobResumeRate = PerJobResumeRate
	}
	if k.PerJobResumeTimeout == 0 {
		k.PerJobResumeTimeout = PerJobResumeTimeout
	}
	if !k.PerJobICETimeoutSet {
		k.PerJobICETimeout = PerJobICETimeout
	}
	if !k.KarpenterConsolidateAfterSet {
		k.KarpenterConsolidateAfter = KarpenterConsolidateAfter
	}
	if k.KarpenterConsolidation == "" {
		k.KarpenterConsolidation = KarpenterWhenEmptyOrUnderutilized
	}
	if k.KarpenterRegistrationTTL == 0 {
		k.KarpenterRegistrationTTL = KarpenterRegistrationTTL
	}
	return k
}

// cloudHolds caches, by job size, whether some capacity the pool may rent
// can run a job (policy.CloudHolds): a baseline's pool does not change
// during a run, and a job nothing can hold is no demand for capacity.
type cloudHolds map[int]bool

func (c cloudHolds) ok(pool *policy.Pool, gpus int) bool {
	ok, seen := c[gpus]
	if !seen {
		ok = policy.CloudHolds(pool, gpus) == ""
		c[gpus] = ok
	}
	return ok
}

// OnPremOnly never rents anything.
func OnPremOnly() Policy { return Policy{Name: PolicyOnPremOnly} }

// Threshold is a target-tracking autoscaler in the style of Nomad
// Autoscaler's target-value strategy: every 60 s it sizes cloud capacity so
// that GPU utilisation — GPUs in use plus GPUs queued, over on-prem plus
// cloud GPUs, counting only jobs the cloud could run (Policy.BusyBurstable)
// — approaches 80%, with a 5-minute cooldown after every scaling
// action, using one offering, the largest (the cheapest per GPU among
// those): small shapes cannot take multi-GPU jobs. Scale-in drains the
// least busy instances. Like every baseline its plans are held to the pool's hard
// rules by policy.Admit (max_gpus, max_cost_per_hour, the budget,
// drain_timeout, max_lifetime). As in Nomad Autoscaler, whose worker
// skips an action whose count, capped to the policy's max, does not
// change ("nothing to do") and enforces the cooldown only after a
// scaling event, the cooldown starts only when the rules let some of the
// action through: a scale-up the budget refuses is tried again at the
// next evaluation.
func Threshold() Policy { return ThresholdWith(BaselineKnobs{}) }

// ThresholdWith is Threshold with its knobs set.
func ThresholdWith(k BaselineKnobs) Policy {
	k = k.withDefaults()
	p := withDecider(Policy{Name: PolicyThreshold}, func() Decider {
		return &threshold{k: k, holds: cloudHolds{}}
	})
	p.Interval, p.IdleUnwatched, p.NoIdleGaps, p.BusyBurstable = k.ThresholdInterval, true, true, true
	return p
}

// threshold is the threshold baseline's memory: when it last scaled (its
// cooldown), what it asked for at its last evaluation, what capacity
// holds which job sizes, and a buffer.
type threshold struct {
	k BaselineKnobs
	// last is when its last action was let through (the cooldown's
	// start); at is its last evaluation.
	last, at time.Time
	// up and down are what it asked for at its last evaluation: a
	// scale-up, or the instances to drain.
	up    bool
	down  []string
	holds cloudHolds
	// liveBuf is scratch.
	liveBuf []int
}

// admitted starts the cooldown when the pool's rules let some of what it
// asked for through (plan is its last plan, admitted).
func (th *threshold) admitted(plan policy.Plan) {
	scaled := th.up && len(plan.Launches) > 0
	for _, a := range plan.Drains {
		scaled = scaled || slices.Contains(th.down, a.InstanceID)
	}
	if scaled {
		th.last = th.at
	}
}

func (th *threshold) Decide(pool *policy.Pool, snap policy.Snapshot, insts []policy.Instance, _ policy.Spend, now time.Time) policy.Plan {
	k, holds := th.k, th.holds
	th.at, th.up, th.down = now, false, th.down[:0]
	plan := policy.Plan{Pool: pool.Name, Time: now}
	// The node group an operator would give it: the largest
	// shape, cheapest per GPU among those, which holds every job
	// any shape holds and spans for larger ones (a small shape
	// would sit idle under multi-GPU jobs).
	off, ok := largestOffering(pool.Offerings)
	if !ok || (!th.last.IsZero() && now.Sub(th.last) < k.ThresholdCooldown) {
		return plan
	}
	// Queued jobs that no capacity the pool may rent can hold are no
	// demand for it, whatever their size against on-prem: sizing for
	// them would rent instances none of them can use (without end, as
	// they pile up, when on-prem cannot run them either). The busy
	// GPUs are those of jobs the cloud could run (Policy.BusyBurstable).
	demand := snap.OnPremBusyGPUs + snap.PendingGPUs
	for _, ps := range snap.PendingBySize {
		if !holds.ok(pool, ps.GPUs) {
			demand -= ps.GPUs * len(ps.Submitted)
		}
	}
	live := th.liveBuf[:0]
	for i := range insts {
		if in := &insts[i]; in.State == policy.StateBooting || in.State == policy.StateRunning {
			live = append(live, i)
			demand += in.BusyGPUs
		}
	}
	th.liveBuf = live
	wantCloud := max(0, int(math.Ceil(float64(demand)/k.ThresholdTarget))-snap.OnPremGPUs)
	if pool.Limits.MaxGPUs > 0 {
		wantCloud = min(wantCloud, pool.Limits.MaxGPUs)
	}
	want := wantCloud / off.GPUs
	if want*off.GPUs < wantCloud && (pool.Limits.MaxGPUs == 0 || (want+1)*off.GPUs <= pool.Limits.MaxGPUs) {
		want++
	}
	switch {
	case want > len(live):
		plan.Launches = append(plan.Launches, policy.Launch{Offering: off, Count: want - len(live),
			Reason: fmt.Sprintf("utilisation %d/%d GPUs above %.0f%% target", demand, snap.OnPremGPUs+len(live)*off.GPUs, k.ThresholdTarget*100)})
		th.up = true
	case want < len(live):
		slices.SortStableFunc(live, func(a, b int) int { return insts[a].BusyGPUs - insts[b].BusyGPUs })
		for _, i := range live[:len(live)-want] {
			plan.Drains = append(plan.Drains, policy.Action{InstanceID: insts[i].ID, Reason: "utilisation below target"})
			th.down = append(th.down, insts[i].ID)
		}
	}
	return plan
}

// PerJob models Slurm's power saving with cloud nodes: every queued job that
// cannot start gets a node resumed for it — the cheapest offering with
// enough GPUs, or whole nodes of the largest offering for bigger jobs — and a
// node idle for 300 s is suspended, at most 300 nodes resumed a minute
// (ResumeRate). Nodes already booting take the jobs they have room for, as
// select/cons_tres packs jobs onto a node. It honours max_gpus (the number
// of cloud nodes defined), and policy.Admit holds its plans to the pool's
// other hard rules.
//
// Failed resumes follow slurm.conf's ResumeTimeout ("Nodes which fail to
// respond in this time frame will be marked DOWN and the jobs scheduled on
// the node requeued", slurm.schedmd.com/slurm.conf.html and
// power_save.html): a node still booting ResumeTimeout after its resume is
// ended (the ResumeFailProgram's job) and its jobs resume another node. A
// resume refused for capacity (the cloud's insufficient-capacity error)
// follows AWS ParallelCluster's fast insufficient capacity fail-over
// (docs.aws.amazon.com/parallelcluster/latest/ug/slurm-short-capacity-fail-mode-v3.html),
// on by default since 3.2.0: the node type is set DOWN for
// insufficient_capacity_timeout (600 s) and the job is requeued at once to
// the next node type that holds it. With that timeout at 0 the fail-over
// is off, as in plain Slurm: the jobs wait for the failed node until
// ResumeTimeout, when it is marked DOWN and they are requeued — onto the
// same, cheapest node type again (Slurm resumes by node weight; a DOWN
// node stays down until returned, ReturnToService, but the type's other
// power-saved nodes are still there).
func PerJob() Policy { return PerJobWith(BaselineKnobs{}) }

// PerJobWith is PerJob with its knobs set.
func PerJobWith(k BaselineKnobs) Policy {
	k = k.withDefaults()
	return withDecider(Policy{Name: PolicyPerJob, JobList: true, IdleWithoutWork: true, QuietWhileBusy: true, NoIdleGaps: true}, func() Decider {
		return &perJob{k: k, seen: map[policy.OfferingKey]time.Time{}, down: map[policy.OfferingKey]time.Time{}, last: map[policy.OfferingKey]int{}, holds: cloudHolds{}}
	})
}

// perJob is the per-job baseline's memory between evaluations: what it
// resumed last, the capacity errors it has seen, the node types DOWN and
// the failed resumes its jobs still wait on.
type perJob struct {
	k BaselineKnobs
	// lastAt and last are the time and the nodes resumed (by offering) of
	// the last plan: a capacity error seen at the same time failed them.
	lastAt time.Time
	last   map[policy.OfferingKey]int
	// seen is the capacity-cache entries already accounted for.
	seen map[policy.OfferingKey]time.Time
	// down is when each DOWN node type returns (fast fail-over).
	down map[policy.OfferingKey]time.Time
	// failed are nodes whose resume failed, holding their jobs until
	// ResumeTimeout (plain Slurm).
	failed []failedResume
	holds  cloudHolds
	// Buffers reused between calls.
	up      []policy.Offering
	booting []int
}

type failedResume struct {
	gpus  int
	until time.Time
}

func (pj *perJob) Decide(pool *policy.Pool, snap policy.Snapshot, insts []policy.Instance, _ policy.Spend, now time.Time) policy.Plan {
	k := pj.k
	plan := policy.Plan{Pool: pool.Name, Time: now}
	// Capacity errors since the last call: the resumes of that offering
	// planned at this very moment failed.
	for key, until := range snap.Unavailable {
		key = keyOf(key)
		if prev, ok := pj.seen[key]; ok && prev.Equal(until) {
			continue
		}
		pj.seen[key] = until
		n := 0
		if pj.lastAt.Equal(now) {
			n = pj.last[key]
		}
		if n == 0 {
			continue
		}
		if k.PerJobICETimeout > 0 {
			pj.down[key] = now.Add(k.PerJobICETimeout)
			continue
		}
		var gpus int
		for _, o := range pool.Offerings {
			if keyOf(o.Key()) == key {
				gpus = o.GPUs
			}
		}
		for range n {
			pj.failed = append(pj.failed, failedResume{gpus: gpus, until: now.Add(k.PerJobResumeTimeout)})
		}
	}
	for key, until := range pj.down {
		if !until.After(now) {
			delete(pj.down, key)
		}
	}
	pj.failed = slices.DeleteFunc(pj.failed, func(f failedResume) bool { return !f.until.After(now) })

	cloud := 0
	booting := pj.booting[:0]
	defer func() { pj.booting = booting[:0] }()
	for _, f := range pj.failed {
		booting = append(booting, f.gpus)
	}
	for i := range insts {
		in := &insts[i] // Instance is large: not copied per node
		switch in.State {
		case policy.StateBooting:
			if now.Sub(in.LaunchedAt) >= k.PerJobResumeTimeout {
				// Not up within ResumeTimeout: marked DOWN and ended;
				// its jobs (none run yet) resume another node.
				plan.Terminates = append(plan.Terminates, policy.Action{InstanceID: in.ID, Reason: "not up within ResumeTimeout: marked DOWN"})
				continue
			}
			booting = append(booting, in.Offering.GPUs)
		case policy.StateRunning:
			if in.BusyGPUs == 0 && heldForJob(now, in, k.PerJobResumeTimeout) && nominated(pool, pj.holds, snap.PendingBySize, in.Offering.GPUs) {
				// Up and idle while a job waits that it is part of (one
				// spanning nodes that are still booting): Slurm allocated
				// it to that job at resume, so it is neither suspended nor
				// resumed again, until ResumeTimeout: a job whose nodes are
				// not all up by then loses them.
				booting = append(booting, in.Offering.GPUs)
				break
			}
			if in.BusyGPUs == 0 && !in.IdleSince.IsZero() && now.Sub(in.IdleSince) >= k.PerJobSuspend {
				plan.Drains = append(plan.Drains, policy.Action{InstanceID: in.ID, Reason: "idle for SuspendTime"})
				continue
			}
		default:
			continue
		}
		cloud += in.Offering.GPUs
	}
	up := pool.Offerings // node types not DOWN
	if len(pj.down) > 0 {
		up = pj.up[:0]
		for _, o := range pool.Offerings {
			if _, isDown := pj.down[keyOf(o.Key())]; !isDown {
				up = append(up, o)
			}
		}
		pj.up = up
	}
	pj.lastAt = now
	clear(pj.last)
	largest, ok := largestOffering(up)
	if !ok {
		return plan
	}
	iv := pool.Interval.D()
	if iv <= 0 {
		iv = DefaultInterval
	}
	resumes := max(1, int(math.Ceil(float64(k.PerJobResumeRate)*iv.Minutes())))
	// Slurm resumes nodes only for jobs some node definition can run:
	// a job no rentable capacity holds (policy.CloudHolds) stays queued.
	for _, g := range snap.PendingJobGPUs {
		if !pj.holds.ok(pool, g) || coverByBooting(booting, g) {
			continue
		}
		if resumes <= 0 {
			break
		}
		off, count := largest, (g+largest.GPUs-1)/largest.GPUs
		if fit, ok := cheapestFitting(up, g); ok {
			off, count = fit, 1
		} else if _, ok := cheapestFitting(pool.Offerings, g); ok {
			continue // the node types that hold it are DOWN: it stays pending
		}
		if pool.Limits.MaxGPUs > 0 && cloud+count*off.GPUs > pool.Limits.MaxGPUs {
			break
		}
		cloud += count * off.GPUs
		resumes -= count
		// The resumed node takes what it has room for of the jobs behind.
		if count == 1 && off.GPUs > g {
			booting = append(booting, off.GPUs-g)
		}
		// One launch per offering, counting the nodes resumed.
		merged := false
		for i := range plan.Launches {
			if l := &plan.Launches[i]; l.Offering.Name == off.Name && l.Offering.InstanceType == off.InstanceType {
				l.Count += count
				merged = true
				break
			}
		}
		if !merged {
			plan.Launches = append(plan.Launches, policy.Launch{Offering: off, Count: count})
		}
	}
	for i := range plan.Launches {
		l := &plan.Launches[i]
		l.Reason = perJobLaunchReason
		pj.last[keyOf(l.Offering.Key())] += l.Count
	}
	return plan
}

// perJobLaunchReason is the reason of every launch per-job plans, the
// nodes' number being the launch's Count: as karpenterLaunchReason, not
// formatted at every evaluation.
const perJobLaunchReason = "resume nodes for queued jobs that cannot start"

// keyOf is an offering key with its market defaulted (on-demand), so that
// keys compare whether or not the market was spelled out.
func keyOf(k policy.OfferingKey) policy.OfferingKey {
	if k.Market == "" {
		k.Market = policy.MarketOnDemand
	}
	return k
}

// coverByBooting takes room for a job of g GPUs on booting nodes (free GPUs
// of each, reduced as jobs are packed on them, select/cons_tres style) and
// reports whether they could hold it: on one node, or spanning whole nodes.
func coverByBooting(booting []int, g int) bool {
	for i, b := range booting {
		if b >= g {
			booting[i] -= g
			return true
		}
	}
	sum := 0
	for _, b := range booting {
		sum += b
	}
	if sum < g {
		return false
	}
	for i, b := range booting {
		if g <= 0 {
			break
		}
		if b > 0 {
			g -= b
			booting[i] = 0
		}
	}
	return true
}

func cheapestFitting(offs []policy.Offering, g int) (policy.Offering, bool) {
	best := -1 // an index: offerings are large to copy, and this runs per queued job
	for i := range offs {
		if o := &offs[i]; o.GPUs >= g && (best < 0 || o.PricePerHour < offs[best].PricePerHour) {
			best = i
		}
	}
	if best < 0 {
		return policy.Offering{}, false
	}
	return offs[best], true
}

func largestOffering(offs []policy.Offering) (policy.Offering, bool) {
	var best policy.Offering
	ok := false
	for _, o := range offs {
		if o.GPUs > 0 && (!ok || o.GPUs > best.GPUs || (o.GPUs == best.GPUs && o.PricePerHour < best.PricePerHour)) {
			best, ok = o, true
		}
	}
	return best, ok
}
