package sim

// The result of a run: what it cost, how long jobs waited, what was lost.

import (
	"fmt"
	"math"
	"slices"

	"github.com/spillway-io/spillway/policy"
)

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
	// BootGPUHours and IdleGPUHours split what was paid for and not used:
	// GPU-hours of instances still booting, and of whole instances up with
	// no job on them (waiting for work or for scale-in). RoundedGPUHours
	// are billed after instances ended: billing rounded up to a minimum
	// (per-second-min-60s) or to whole hours (hourly). GPUHoursLost, the
	// work of killed runs, was paid and is not used either. The rest of
	// paid − used is GPUs idle beside a job on a partly used instance.
	BootGPUHours    float64 `json:"boot_gpu_hours"`
	IdleGPUHours    float64 `json:"idle_gpu_hours"`
	RoundedGPUHours float64 `json:"rounded_gpu_hours,omitempty"`
	// FloorIdleGPUHours are the idle GPU-hours that schedule floors held
	// (whole idle instances, up to the active floors' GPUs, at each
	// evaluation), for a policy that keeps floors: capacity pre-warmed on
	// purpose, which the baselines do not keep.
	FloorIdleGPUHours float64 `json:"floor_idle_gpu_hours,omitempty"`
	// Efficiency is the work done on cloud instances (GPU-hours of the
	// trace's durations, reference GPUs) × the lowest price per useful
	// GPU-hour on offer (price ÷ (GPUs × performance); spot counts only for
	// pools that checkpoint, see cheapestPerGPUHour; work done on spot taken
	// as a last resort is valued at that spot's price) ÷ CloudCostUSD: 1.0
	// means every dollar bought work at the best price on offer. It is 1
	// when nothing was paid.
	Efficiency float64 `json:"efficiency"`
	// Waits over all jobs, in seconds: the time each was queued, from
	// submit to start less the runs a kill cut short (lost work, counted
	// in GPUHoursLost).
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
	// Stopped, when set, says why the run gave up on queued jobs before
	// they started (they count in JobsUnstarted).
	Stopped string `json:"stopped,omitempty"`
	// StoppedText is Stopped for the text report, which names the zone
	// of the time the jobs were given up at (UTC); the JSON field keeps
	// the format its consumers parse.
	StoppedText string `json:"-"`
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
	// in any capacity the pool may rent (policy.CloudHolds), or are larger
	// than on-prem and outlast every cloud instance (lifeWindow: never
	// queued), or are larger than on-prem and than any offering's
	// provider quota lets a gang of it be (Cloud.Quota, QuotaShort: the
	// policies see them as demand, as a server that learns quotas from
	// refusals does); they are left out of the wait percentiles. NeverServedGPUs is the largest of them
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
	// WithoutLimit is, per limit that bound, the same policy run again on
	// the same trace and cloud seed with that limit lifted (set by
	// Backtest.Run with LimitCosts): what the limit cost in waits and
	// killed work, and what it saved.
	WithoutLimit map[string]LimitCost `json:"without_limit,omitempty"`
	// DominatedBy lists the policies of the same report that cost less
	// and wait no longer at p95, or cost no more and wait less, with no
	// more jobs left unserved (unstarted or never served) nor never served (set
	// by Backtest.Run).
	DominatedBy []string `json:"dominated_by"`
	// Timeline holds samples for a plot when Options.Timeline was set.
	Timeline *Timeline `json:"-"`
}

// LimitCost is a run of the same policy with one limit lifted, beside the
// figures of the run it bound.
type LimitCost struct {
	// BoundHours are the hours of evaluations at which the limit bound.
	BoundHours float64 `json:"bound_hours"`
	// KeptOffCloudGPUs, when above 0, is the smallest job size of the
	// trace that the limit keeps off the cloud altogether (no instance
	// that holds one fits under it).
	KeptOffCloudGPUs int `json:"kept_off_cloud_gpus,omitempty"`
	// UnpaidJobs, for a hard budget, counts the trace's jobs it keeps off
	// the cloud because every cloud run of one costs more than a period's
	// amount (CloudUnaffordable).
	UnpaidJobs int `json:"unpaid_jobs,omitempty"`
	// The run without the limit.
	CloudCostUSD    float64 `json:"cloud_cost_usd"`
	WaitP95S        float64 `json:"wait_p95_s"`
	WaitP99S        float64 `json:"wait_p99_s"`
	JobsKilled      int     `json:"jobs_killed"`
	GPUHoursLost    float64 `json:"gpu_hours_lost"`
	JobsUnstarted   int     `json:"jobs_unstarted"`
	JobsNeverServed int     `json:"jobs_never_served"`
	// Error says why the run without the limit could not be made (e.g.
	// more instances than the memory limit holds); the figures are then 0.
	Error string `json:"error,omitempty"`
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
			if s.runsNowhere(j) {
				s.res.JobsNeverServed++
				if g := s.jobs[j].GPUs; g > s.res.NeverServedGPUs {
					s.res.NeverServedGPUs = g
					s.res.NeverServedWhy = s.neverServedWhy(j)
				}
				continue
			}
			s.res.JobsUnstarted++
			waits = append(waits, (s.now - s.jobs[j].Submit - s.ran[int32(j)]).Seconds())
			continue
		}
		waits = append(waits, (s.js[j].start - s.jobs[j].Submit - s.ran[int32(j)]).Seconds())
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
		s.res.Efficiency = s.worth / s.res.CloudCostUSD
	}
	if s.timeline != nil {
		s.sampleUntil(s.now)
		s.finalSample()
		s.res.Timeline = s.timeline
	}
}

// runsNowhere reports whether job j can run nowhere under the pool's
// rules: it is larger than on-prem, and the policy rents nothing
// (onprem-only), or no capacity the pool may rent holds it
// (policy.CloudHolds), or every cloud run of it ends before it finishes
// (jobState.nowhere), or no offering's provider quota lets a gang of it
// be (quotaShort).
func (s *state) runsNowhere(j int) bool {
	g := s.jobs[j].GPUs
	return g > s.on.total() && (s.rentsNothing || s.js[j].nowhere || s.unservable(s.cloudSize(j)) || s.quotaShort(s.cloudSize(j)))
}

// quotaShort reports whether no offering that takes a job of g GPUs has
// the instances it needs within the cloud model's quotas (quotaHolds),
// remembered per size.
func (s *state) quotaShort(g int) bool {
	if s.cloud == nil || len(s.cloud.c.Quota) == 0 || g <= 0 {
		return false
	}
	short, ok := s.quotaShortOf[g]
	if !ok {
		if s.quotaShortOf == nil {
			s.quotaShortOf = map[int]bool{}
		}
		short = !quotaHolds(s.pool, s.cloud.c.Quota, g)
		s.quotaShortOf[g] = short
	}
	return short
}

// neverServedWhy says why job j, which runs nowhere, cannot run.
func (s *state) neverServedWhy(j int) string {
	if s.rentsNothing {
		return fmt.Sprintf("larger than the %d on-prem GPUs, and %s rents no cloud", s.on.total(), s.o.Policy.Name)
	}
	c, why := cloudShape(s.shapes, &s.jobs[j])
	if why == "" {
		why = policy.CloudHolds(s.pool, c)
	}
	if why == "" && s.quotaShort(c) {
		why = fmt.Sprintf("no provider's quota (simulate.cloud.quota) holds %d GPUs of one offering%s", c, allowedBy(quotaHoldsUnlimited(s.pool, s.cloud.c.Quota, c)))
	}
	if why == "" && !(s.lifeOK && s.life.outlasts(s.jobs[j].Duration)) && s.outpays(j) {
		why = fmt.Sprintf("every cloud run of it costs more than the hard budget's $%.2f a %s, with no checkpoint within that: the budget cuts each run before it finishes",
			s.cap.amount, s.pool.Limits.Budget.Period)
	}
	if why != "" {
		return fmt.Sprintf("larger than the %d on-prem GPUs, and %s", s.on.total(), why)
	}
	return fmt.Sprintf("larger than the %d on-prem GPUs, and longer than scale_in.max_lifetime + drain_timeout (%s) even on the fastest offering, with no checkpoint within that: every cloud instance ends before it can finish",
		s.on.total(), humanSeconds(s.life.window.Seconds()))
}

// percentile is the nearest-rank q-quantile of sorted values.
func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(k, len(sorted)-1))]
}
