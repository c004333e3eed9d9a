package sim

import (
	"fmt"
	"math"
	"slices"
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
func Threshold() Policy {
	return Policy{Name: PolicyThreshold, Interval: ThresholdInterval, New: func() DecideFunc {
		var last time.Time
		var liveBuf []int
		return func(pool *policy.Pool, snap policy.Snapshot, insts []policy.Instance, _ policy.Spend, now time.Time) policy.Plan {
			plan := policy.Plan{Pool: pool.Name, Time: now}
			// The node group an operator would give it: the largest
			// shape, cheapest per GPU among those, which holds every job
			// any shape holds and spans for larger ones (a small shape
			// would sit idle under multi-GPU jobs).
			off, ok := largestOffering(pool.Offerings)
			if !ok || (!last.IsZero() && now.Sub(last) < ThresholdCooldown) {
				return plan
			}
			demand := snap.OnPremBusyGPUs + snap.PendingGPUs
			live := liveBuf[:0]
			for i := range insts {
				if in := &insts[i]; in.State == policy.StateBooting || in.State == policy.StateRunning {
					live = append(live, i)
					demand += in.BusyGPUs
				}
			}
			liveBuf = live
			wantCloud := max(0, int(math.Ceil(float64(demand)/ThresholdTarget))-snap.OnPremGPUs)
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
					Reason: fmt.Sprintf("utilisation %d/%d GPUs above %.0f%% target", demand, snap.OnPremGPUs+len(live)*off.GPUs, ThresholdTarget*100)})
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
func PerJob() Policy {
	return Policy{Name: PolicyPerJob, New: func() DecideFunc {
		return func(pool *policy.Pool, snap policy.Snapshot, insts []policy.Instance, _ policy.Spend, now time.Time) policy.Plan {
			plan := policy.Plan{Pool: pool.Name, Time: now}
			cloud := 0
			var booting []int
			for _, in := range insts {
				switch in.State {
				case policy.StateBooting:
					booting = append(booting, in.Offering.GPUs)
				case policy.StateRunning:
					if in.BusyGPUs == 0 && !in.IdleSince.IsZero() && now.Sub(in.IdleSince) >= PerJobSuspendTime {
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
			resumes := max(1, int(math.Ceil(PerJobResumeRate*iv.Minutes())))
			for _, g := range snap.PendingJobGPUs {
				if coverByBooting(booting, g) {
					continue
				}
				if resumes <= 0 {
					break
				}
				off, count := largest, (g+largest.GPUs-1)/largest.GPUs
				if fit, ok := cheapestFitting(pool.Offerings, g); ok {
					off, count = fit, 1
				}
				if pool.Limits.MaxGPUs > 0 && cloud+count*off.GPUs > pool.Limits.MaxGPUs {
					break
				}
				cloud += count * off.GPUs
				resumes -= count
				plan.Launches = append(plan.Launches, policy.Launch{Offering: off, Count: count,
					Reason: fmt.Sprintf("resume for a queued %d-GPU job", g)})
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
	var best policy.Offering
	ok := false
	for _, o := range offs {
		if o.GPUs >= g && (!ok || o.PricePerHour < best.PricePerHour) {
			best, ok = o, true
		}
	}
	return best, ok
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
