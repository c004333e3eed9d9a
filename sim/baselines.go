package sim

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

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
	// PerJobSuspendTime is Slurm's SuspendTime for power-saved cloud nodes.
	PerJobSuspendTime = 300 * time.Second
	// PerJobResumeRate is Slurm's ResumeRate: nodes resumed per minute at
	// most (slurm.conf's default, 300).
	PerJobResumeRate = 300
)

// BaselineKnobs are the baselines' settings an operator would tune; the
// zero value of a field means its default (the constants above).
type BaselineKnobs struct {
	// ThresholdTarget (0 < t ≤ 1), ThresholdCooldown and ThresholdInterval
	// set the threshold baseline.
	ThresholdTarget   float64
	ThresholdCooldown time.Duration
	ThresholdInterval time.Duration
	// PerJobSuspend (SuspendTime; set PerJobSuspendSet to use 0) and
	// PerJobResumeRate (nodes a minute) set the per-job baseline.
	PerJobSuspend    time.Duration
	PerJobSuspendSet bool
	PerJobResumeRate int
}

// ParseBaselineKnob sets one knob from "policy.knob=value" (as
// --baseline-opt takes it): threshold.target=0.7, threshold.cooldown=2m,
// threshold.interval=30s, per-job.suspend=0s, per-job.resume_rate=100.
func (k *BaselineKnobs) ParseBaselineKnob(s string) error {
	name, val, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("baseline option %q: want policy.knob=value", s)
	}
	dur := func(min time.Duration) (time.Duration, error) {
		d, err := time.ParseDuration(val)
		if err != nil || d < min || d > 30*24*time.Hour {
			return 0, fmt.Errorf("baseline option %s=%q: want a duration from %s to 720h", name, val, min)
		}
		return d, nil
	}
	var err error
	switch name {
	case "threshold.target":
		f, perr := strconv.ParseFloat(val, 64)
		if perr != nil || !(f > 0 && f <= 1) {
			return fmt.Errorf("baseline option threshold.target=%q: want a number above 0 and at most 1", val)
		}
		k.ThresholdTarget = f
	case "threshold.cooldown":
		k.ThresholdCooldown, err = dur(0)
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
	default:
		return fmt.Errorf("baseline option %q: unknown (want threshold.target, threshold.cooldown, threshold.interval, per-job.suspend or per-job.resume_rate)", name)
	}
	return err
}

func (k BaselineKnobs) withDefaults() BaselineKnobs {
	if k.ThresholdTarget == 0 {
		k.ThresholdTarget = ThresholdTarget
	}
	if k.ThresholdCooldown == 0 {
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
	return k
}

// OnPremOnly never rents anything.
func OnPremOnly() Policy { return Policy{Name: PolicyOnPremOnly} }

// Threshold is a target-tracking autoscaler in the style of Nomad
// Autoscaler's target-value strategy: every 60 s it sizes cloud capacity so
// that GPU utilisation — GPUs in use plus GPUs queued, over on-prem plus
// cloud GPUs — approaches 80%, with a 5-minute cooldown after every scaling
// action, using one offering, the largest (the cheapest per GPU among
// those): small shapes cannot take multi-GPU jobs. Scale-in drains the
// least busy instances. Like every baseline its plans are held to the pool's hard
// rules by policy.Admit (max_gpus, max_cost_per_hour, the budget,
// drain_timeout, max_lifetime).
func Threshold() Policy { return ThresholdWith(BaselineKnobs{}) }

// ThresholdWith is Threshold with its knobs set.
func ThresholdWith(k BaselineKnobs) Policy {
	k = k.withDefaults()
	return Policy{Name: PolicyThreshold, Interval: k.ThresholdInterval, New: func() DecideFunc {
		var last time.Time
		var liveBuf []int
		unheld := map[int]bool{} // by job size: policy.CloudHolds says no
		neverHeld := func(pool *policy.Pool, g int) bool {
			no, seen := unheld[g]
			if !seen {
				no = policy.CloudHolds(pool, g) != ""
				unheld[g] = no
			}
			return no
		}
		return func(pool *policy.Pool, snap policy.Snapshot, insts []policy.Instance, _ policy.Spend, now time.Time) policy.Plan {
			plan := policy.Plan{Pool: pool.Name, Time: now}
			// The node group an operator would give it: the largest
			// shape, cheapest per GPU among those, which holds every job
			// any shape holds and spans for larger ones (a small shape
			// would sit idle under multi-GPU jobs).
			off, ok := largestOffering(pool.Offerings)
			if !ok || (!last.IsZero() && now.Sub(last) < k.ThresholdCooldown) {
				return plan
			}
			// Queued jobs that nothing the pool may hold can ever run
			// (larger than on-prem and than any capacity it may rent) are
			// no demand for capacity: sizing for them would rent instances
			// without end as they pile up.
			demand := snap.OnPremBusyGPUs + snap.PendingGPUs
			for _, ps := range snap.PendingBySize {
				if ps.GPUs > snap.OnPremGPUs && neverHeld(pool, ps.GPUs) {
					demand -= ps.GPUs * len(ps.Submitted)
				}
			}
			live := liveBuf[:0]
			for i := range insts {
				if in := &insts[i]; in.State == policy.StateBooting || in.State == policy.StateRunning {
					live = append(live, i)
					demand += in.BusyGPUs
				}
			}
			liveBuf = live
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
				last = now
			case want < len(live):
				slices.SortStableFunc(live, func(a, b int) int { return insts[a].BusyGPUs - insts[b].BusyGPUs })
				for _, i := range live[:len(live)-want] {
					plan.Drains = append(plan.Drains, policy.Action{InstanceID: insts[i].ID, Reason: "utilisation below target"})
				}
				last = now
			}
			return plan
		}
	}}
}

// PerJob models Slurm's power saving with cloud nodes: every queued job that
// cannot start gets a node resumed for it — the cheapest offering with
// enough GPUs, or whole nodes of the largest offering for bigger jobs — and a
// node idle for 300 s is suspended, at most 300 nodes resumed a minute
// (ResumeRate). Nodes already booting count for the jobs they can take. It honours max_gpus (the number of cloud nodes defined),
// and policy.Admit holds its plans to the pool's other hard rules.
func PerJob() Policy { return PerJobWith(BaselineKnobs{}) }

// PerJobWith is PerJob with its knobs set.
func PerJobWith(k BaselineKnobs) Policy {
	k = k.withDefaults()
	return Policy{Name: PolicyPerJob, JobList: true, IdleWithoutWork: true, New: func() DecideFunc {
		// Per job size, for the run's pool: whether rentable capacity
		// holds it, and the nodes resumed for it.
		holds := map[int]bool{}
		type pick struct {
			off   policy.Offering
			count int
		}
		picks := map[int]*pick{}
		var bootBuf []int
		return func(pool *policy.Pool, snap policy.Snapshot, insts []policy.Instance, _ policy.Spend, now time.Time) policy.Plan {
			plan := policy.Plan{Pool: pool.Name, Time: now}
			cloud := 0
			booting := bootBuf[:0]
			defer func() { bootBuf = booting[:0] }()
			for _, in := range insts {
				switch in.State {
				case policy.StateBooting:
					booting = append(booting, in.Offering.GPUs)
				case policy.StateRunning:
					if in.BusyGPUs == 0 && !in.IdleSince.IsZero() && now.Sub(in.IdleSince) >= k.PerJobSuspend {
						plan.Drains = append(plan.Drains, policy.Action{InstanceID: in.ID, Reason: "idle for SuspendTime"})
						continue
					}
				default:
					continue
				}
				cloud += in.Offering.GPUs
			}
			largest, ok := largestOffering(pool.Offerings)
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
				ok, seen := holds[g]
				if !seen {
					ok = policy.CloudHolds(pool, g) == ""
					holds[g] = ok
				}
				if !ok || coverByBooting(booting, g) {
					continue
				}
				if resumes <= 0 {
					break
				}
				pk := picks[g]
				if pk == nil {
					pk = &pick{largest, (g + largest.GPUs - 1) / largest.GPUs}
					if fit, ok := cheapestFitting(pool.Offerings, g); ok {
						pk.off, pk.count = fit, 1
					}
					picks[g] = pk
				}
				off, count := &pk.off, pk.count
				if pool.Limits.MaxGPUs > 0 && cloud+count*off.GPUs > pool.Limits.MaxGPUs {
					break
				}
				cloud += count * off.GPUs
				resumes -= count
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
					plan.Launches = append(plan.Launches, policy.Launch{Offering: *off, Count: count})
				}
			}
			for i := range plan.Launches {
				plan.Launches[i].Reason = fmt.Sprintf("resume %d node(s) for queued jobs that cannot start", plan.Launches[i].Count)
			}
			return plan
		}
	}}
}

// coverByBooting marks booting nodes (GPU counts, 0 once used) as taken by a
// job of g GPUs and reports whether they could hold it.
func coverByBooting(booting []int, g int) bool {
	for i, b := range booting {
		if b >= g {
			booting[i] = 0
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

func pricePerGPU(o policy.Offering) float64 { return o.PricePerHour / float64(o.GPUs) }

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
