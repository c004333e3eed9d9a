package sim

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// The property test of the simulator: random pools, traces and clouds,
// every policy, and the invariants a report must keep whatever the input.
//
//	go test ./sim -run TestSimInvariants                      # the lean run (make test)
//	SPILLWAY_SIM_FUZZ_N=3000 go test ./sim -run TestSimInvariants -timeout 2h -v
//	SPILLWAY_SIM_FUZZ_SEED=1234 go test ./sim -run TestSimInvariants -v   # one case again
//
// A failure names the case's seed; SPILLWAY_SIM_FUZZ_SEED replays it alone.

// fuzzCase is one random input: a pool as config validation would accept
// it (config/bounds.go and config/validate.go give the ranges), a trace,
// and a cloud (nil: the ideal one).
type fuzzCase struct {
	seed       uint64
	pool       policy.Pool
	tr         *trace.Trace
	cloud      *Cloud
	limitCosts bool
	// knobs set the baselines (and spillway's join timeout); the zero
	// value runs them with their defaults (drawExtreme sets them).
	knobs BaselineKnobs
	// maxInstances bounds each run's launches, as --max-memory does
	// (0: no bound); a run that reaches it is left out, as one that
	// reaches the horizon is.
	maxInstances int
}

func (c fuzzCase) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "case %d (SPILLWAY_SIM_FUZZ_SEED=%d): onprem %d×%d, wait_target %s, interval %s, whole_jobs %v, span %+v, checkpoint %s\n",
		c.seed, c.seed, c.pool.OnPrem.Nodes, c.pool.OnPrem.GPUsPerNode, c.pool.WaitTarget.D(), c.pool.Interval.D(), c.pool.WholeJobs, c.pool.Span, c.pool.CheckpointInterval.D())
	for _, o := range c.pool.Offerings {
		fmt.Fprintf(&b, "  offering %s: %d GPUs $%g/h boot %s %s perf %g %s\n", o.Name, o.GPUs, o.PricePerHour, o.Boot.D(), o.Market, o.Performance, o.Billing)
	}
	fmt.Fprintf(&b, "  limits max_gpus %d max_cost_per_hour %g", c.pool.Limits.MaxGPUs, c.pool.Limits.MaxCostPerHour)
	if bu := c.pool.Limits.Budget; bu != nil {
		fmt.Fprintf(&b, " budget %+v", *bu)
	}
	fmt.Fprintf(&b, "\n  scale_in %+v schedules %+v\n", c.pool.ScaleIn, c.pool.Schedules)
	if c.knobs != (BaselineKnobs{}) {
		fmt.Fprintf(&b, "  knobs %+v\n", c.knobs)
	}
	if c.cloud != nil {
		fmt.Fprintf(&b, "  cloud %+v\n", *c.cloud)
	} else {
		b.WriteString("  cloud ideal\n")
	}
	fmt.Fprintf(&b, "  trace start %s, %d jobs, span %s:", c.tr.Start.Format(time.DateTime), len(c.tr.Jobs), c.tr.Span())
	for i, j := range c.tr.Jobs {
		if i == 12 {
			fmt.Fprintf(&b, " …")
			break
		}
		fmt.Fprintf(&b, " %s+%s×%d", j.Submit, j.Duration, j.GPUs)
	}
	return b.String()
}

// fuzzRand draws the values of one case.
type fuzzRand struct{ *rand.Rand }

func (r fuzzRand) pick(n int) int { return r.IntN(n) }

// chance is true with probability p.
func (r fuzzRand) chance(p float64) bool { return r.Float64() < p }

// logUniform is a value from lo to hi, uniform in its logarithm.
func (r fuzzRand) logUniform(lo, hi float64) float64 {
	return math.Exp(math.Log(lo) + r.Float64()*(math.Log(hi)-math.Log(lo)))
}

func (r fuzzRand) duration(lo, hi time.Duration) time.Duration {
	return time.Duration(r.logUniform(float64(lo), float64(hi)))
}

// drawCase draws case seed. The ranges are those config validation
// allows, drawn mostly where real pools are, with edge values at the
// bounds now and then.
func drawCase(seed uint64) fuzzCase {
	r := fuzzRand{rand.New(rand.NewPCG(seed, 0xf022))}
	pool := policy.Pool{Name: "fuzz"}

	// On-prem: none, one node of one GPU, up to hundreds of nodes.
	switch r.pick(6) {
	case 0:
		pool.OnPrem = policy.OnPrem{Nodes: 0, GPUsPerNode: []int{1, 8}[r.pick(2)]}
	case 1:
		pool.OnPrem = policy.OnPrem{Nodes: 1, GPUsPerNode: 1}
	case 2:
		pool.OnPrem = policy.OnPrem{Nodes: 1 + r.pick(400), GPUsPerNode: 1 + r.pick(16)}
	default:
		pool.OnPrem = policy.OnPrem{Nodes: 1 + r.pick(8), GPUsPerNode: []int{1, 2, 4, 8, 8, 16}[r.pick(6)]}
	}
	pool.WaitTarget = policy.Duration([]time.Duration{0, 30 * time.Second, 5 * time.Minute, 10 * time.Minute, time.Hour, r.duration(time.Second, time.Hour)}[r.pick(6)])
	pool.Interval = policy.Duration([]time.Duration{10 * time.Second, 30 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, r.duration(time.Second, 10*time.Minute)}[r.pick(6)])
	pool.StaleAfter = policy.Duration(max(2*time.Minute, pool.Interval.D()))
	pool.WholeJobs = r.chance(0.3)
	if r.chance(0.3) {
		pool.Span.MinGPUs = []int{1, 2, 4, 8, 16, 1024}[r.pick(6)]
	}
	if r.chance(0.3) {
		pool.Span.Slowdown = []float64{1, 1.2, 2, 10}[r.pick(4)]
	}
	if r.chance(0.3) {
		pool.CheckpointInterval = policy.Duration([]time.Duration{time.Minute, 10 * time.Minute, time.Hour, 7 * 24 * time.Hour}[r.pick(4)])
	}

	// Offerings: 1 to 6, 1 to 16 GPUs, prices per GPU-hour around real
	// ones with the bounds now and then.
	billings := []policy.Billing{policy.BillingPerSecond, policy.BillingPerSecondMin60, policy.BillingHourly}
	providers := []string{"aws", "ali", "tf"}
	for k := range 1 + r.pick(6) {
		g := []int{1, 1, 2, 4, 8, 8, 16, 3, 1 + r.pick(16)}[r.pick(9)]
		o := policy.Offering{
			Name: fmt.Sprintf("o%d", k), Provider: providers[r.pick(3)], Region: "r" + strconv.Itoa(r.pick(2)),
			InstanceType: fmt.Sprintf("t%d", k), GPUs: g,
			PricePerHour: float64(g) * r.logUniform(0.3, 12),
			Boot:         policy.Duration([]time.Duration{0, time.Minute, 3 * time.Minute, 5 * time.Minute, 20 * time.Minute, r.duration(time.Second, 2*time.Hour)}[r.pick(6)]),
			Billing:      billings[r.pick(3)],
			Market:       policy.MarketOnDemand,
		}
		switch r.pick(100) {
		case 0:
			o.PricePerHour = 0.0001 // config's MinPrice
		case 1:
			o.PricePerHour = 100_000 // config's MaxPrice
		}
		if r.chance(0.25) {
			o.Market = policy.MarketSpot
			o.PricePerHour *= 0.3 + 0.5*r.Float64()
		}
		o.PricePerHour = min(max(o.PricePerHour, 0.0001), 100_000) // config's MinPrice and MaxPrice
		if r.chance(0.3) {
			o.Performance = []float64{0.5, 1, 1.5, 3, 0.1 + 3*r.Float64(), 1000}[r.pick(6)]
		}
		pool.Offerings = append(pool.Offerings, o)
	}
	minG, minPrice := math.MaxInt, math.Inf(1)
	for _, o := range pool.Offerings {
		minG, minPrice = min(minG, o.GPUs), min(minPrice, o.PricePerHour)
	}

	// Limits, each at or above the smallest offering (config refuses less),
	// some of them a whole number of instances of the offering cheapest
	// per GPU, so that a fleet can reach the cap exactly (and a check of
	// it can fail).
	cheap := slices.MinFunc(pool.Offerings, func(a, b policy.Offering) int {
		return cmp.Compare(a.PricePerHour/float64(a.GPUs), b.PricePerHour/float64(b.GPUs))
	})
	switch {
	case r.chance(0.2):
		pool.Limits.MaxGPUs = max(minG, (1+r.pick(8))*cheap.GPUs)
	case r.chance(0.4):
		pool.Limits.MaxGPUs = min(max(minG, []int{minG, 8, 16, 64, 2048, 1<<20 - 32}[r.pick(6)]+r.pick(33)), 1<<20) // config's MaxPoolGPUs
	}
	switch {
	case r.chance(0.2):
		pool.Limits.MaxCostPerHour = max(minPrice, minPrice*r.logUniform(1, 200))
	case r.chance(0.4):
		pool.Limits.MaxCostPerHour = float64(1+r.pick(8)) * cheap.PricePerHour
	}
	if r.chance(0.6) {
		b := &policy.Budget{Amount: r.logUniform(1, 100_000), Period: []policy.BudgetPeriod{policy.PeriodDay, policy.PeriodWeek, policy.PeriodMonth}[r.pick(3)]}
		if r.chance(0.3) {
			b.Mode = policy.BudgetSoft
		} else if r.chance(0.5) {
			b.Mode = policy.BudgetHard
		}
		pool.Limits.Budget = b
	}
	pool.ScaleIn.Idle = policy.IdleSetting{Auto: true}
	if r.chance(0.4) {
		pool.ScaleIn.Idle = policy.IdleSetting{Duration: []time.Duration{0, time.Minute, 10 * time.Minute, 2 * time.Hour}[r.pick(4)]}
	}
	if r.chance(0.3) {
		// Not below twice the longest boot: an instance that max_lifetime
		// ends before it boots is of no use, yet every policy rents them,
		// hundreds an evaluation until the run stops for want of progress
		// (minutes of wall time; left out, see the campaign's report).
		longest := time.Duration(0)
		for _, o := range pool.Offerings {
			longest = max(longest, o.Boot.D())
		}
		pool.ScaleIn.MaxLifetime = policy.Duration(max(r.duration(time.Minute, 7*24*time.Hour), 2*longest+time.Minute))
	}
	pool.ScaleIn.DrainTimeout = policy.Duration([]time.Duration{0, 10 * time.Minute, time.Minute, 2 * time.Hour, 168 * time.Hour}[r.pick(5)])
	if r.chance(0.2) {
		crons := []string{"0 8 * * 1-5", "*/30 * * * *", "0 0 1 * *", "15 3 * * *"}
		for k := range 1 + r.pick(2) {
			s := policy.Schedule{Name: fmt.Sprintf("s%d", k), Cron: crons[r.pick(len(crons))],
				GPUs: 1 + r.pick(32), Duration: policy.Duration(r.duration(time.Minute, 12*time.Hour))}
			if m := pool.Limits.MaxGPUs; m > 0 {
				s.GPUs = min(s.GPUs, m)
			}
			pool.Schedules = append(pool.Schedules, s)
		}
	}

	// The cloud: ideal, or realistic with its knobs drawn in their ranges.
	var cloud *Cloud
	if r.chance(0.6) {
		cloud = DefaultCloud(r.Uint64())
		if r.chance(0.5) {
			cloud.MeanInStock = r.duration(time.Minute, 30*24*time.Hour)
			cloud.MeanOutOfStock = []time.Duration{0, time.Minute, r.duration(time.Minute, 48*time.Hour)}[r.pick(3)]
			cloud.CapacityTTL = r.duration(time.Second, 24*time.Hour)
			cloud.BootP95 = 1 + 9*r.Float64()
			cloud.SpotMeanLife = []time.Duration{0, time.Minute, r.duration(time.Minute, 30*24*time.Hour)}[r.pick(3)]
			cloud.SpotNotice = r.duration(time.Millisecond, time.Hour) * time.Duration(r.pick(2))
		}
		if r.chance(0.3) {
			cloud.Quota = map[string]int{}
			for _, o := range pool.Offerings {
				if r.chance(0.5) {
					cloud.Quota[o.Provider] = 1 + r.pick(64)
				} else {
					cloud.Quota[o.Provider+"/"+o.Region] = 1 + r.pick(64)
				}
			}
			cloud.QuotaTTL = r.duration(time.Second, 24*time.Hour)
		}
		// Per offering and per provider parts, from a stream of their own
		// so that the rest of each case is drawn as before.
		r2 := fuzzRand{rand.New(rand.NewPCG(seed, 0xc10d))}
		if r2.chance(0.3) {
			cloud.SpotProtection = r2.duration(time.Minute, 6*time.Hour)
		}
		for _, o := range pool.Offerings {
			if r2.chance(0.2) {
				if cloud.OfferingBootP95 == nil {
					cloud.OfferingBootP95 = map[string]float64{}
				}
				cloud.OfferingBootP95[policyOfferingName(o)] = 1 + 9*r2.Float64()
			}
			if r2.chance(0.2) {
				if cloud.SpotByProvider == nil {
					cloud.SpotByProvider = map[string]SpotModel{}
				}
				cloud.SpotByProvider[o.Provider] = SpotModel{MeanLife: r2.duration(time.Minute, 30*24*time.Hour),
					Notice: r2.duration(time.Second, time.Hour) * time.Duration(r2.pick(2)), Protection: r2.duration(time.Minute, 6*time.Hour) * time.Duration(r2.pick(2))}
			}
		}
		// Spot instances that live hours, not the default week, so that
		// reclaims (and the work they lose) happen within the traces' jobs:
		// at the default, 1 run in 200 saw one. Drawn last, so that the
		// rest of each case is as before.
		if r2.chance(0.4) {
			cloud.SpotMeanLife = r2.duration(10*time.Minute, 12*time.Hour)
		}
	}

	// The trace: bursts of simultaneous submits, long idle gaps, jobs of
	// 1 GPU to more than anything, from a second to weeks.
	maxOffer := 0
	for _, o := range pool.Offerings {
		maxOffer = max(maxOffer, o.GPUs)
	}
	tr := &trace.Trace{Name: fmt.Sprintf("fuzz-%d", seed), Start: trace.DefaultEpoch}
	if r.chance(0.5) {
		tr.Start = time.Date(2020+r.pick(8), time.Month(1+r.pick(12)), 1+r.pick(28), r.pick(24), r.pick(60), r.pick(60), 0, time.UTC)
	}
	// The largest size is trace.MaxGPUs only where max_gpus keeps it off
	// the cloud (and no run lifts the limit, see limitCosts): a fleet of a
	// million GPUs is a legitimate run, but one of many minutes per policy.
	huge := 3001
	if m := pool.Limits.MaxGPUs; m > 0 && m < 4096 {
		huge = trace.MaxGPUs
	}
	sizes := []int{1, 1, 1, 2, 4, 8, 8, 16, 32, 3, pool.OnPrem.GPUs() + 1, 2 * maxOffer, 3000, huge}
	var at time.Duration
	for n := 1 + r.pick(120); len(tr.Jobs) < n; {
		switch r.pick(10) {
		case 0: // a long idle gap
			at += r.duration(time.Hour, 20*24*time.Hour)
		case 1, 2: // a burst at one instant
			at += r.duration(time.Second, time.Hour)
			g := sizes[r.pick(len(sizes)-3)]
			d := r.duration(time.Second, 12*time.Hour)
			for range 2 + r.pick(20) {
				tr.Jobs = append(tr.Jobs, trace.Job{Submit: at, Duration: d, GPUs: g})
			}
		default:
			at += r.duration(time.Second, 2*time.Hour) * time.Duration(r.pick(2))
		}
		g := sizes[r.pick(len(sizes))]
		if r.chance(0.9) {
			g = sizes[r.pick(len(sizes)-3)] // mostly jobs that fit somewhere
		}
		d := r.duration(time.Second, 24*time.Hour)
		if r.chance(0.03) {
			d = r.duration(24*time.Hour, 21*24*time.Hour)
		}
		tr.Jobs = append(tr.Jobs, trace.Job{Submit: at, Duration: d, GPUs: g})
	}
	sortJobs(tr.Jobs)
	addShapes(seed, &pool, tr)
	// Lifting max_gpus would make a job of trace.MaxGPUs servable.
	limitCosts := r.chance(0.25) && !slices.ContainsFunc(tr.Jobs, func(j trace.Job) bool { return j.GPUs > 4096 })
	return fuzzCase{seed: seed, pool: pool, tr: tr, cloud: cloud, limitCosts: limitCosts}
}

// addShapes gives a third of the cases' offerings vCPUs and memory, and
// then a third of their jobs CPUs and memory, some more than the smallest
// shape with their GPUs has and some more than any (cloudShape), from a
// stream of their own so that the cases drawn before shapes came stay as
// they were.
func addShapes(seed uint64, pool *policy.Pool, tr *trace.Trace) {
	r := fuzzRand{rand.New(rand.NewPCG(seed, 0x5a9e))}
	if !r.chance(0.3) {
		return
	}
	for i := range pool.Offerings {
		o := &pool.Offerings[i]
		if r.chance(0.8) {
			o.VCPUs = o.GPUs * []int{4, 8, 12, 24}[r.pick(4)]
			o.MemoryGiB = float64(o.GPUs) * []float64{16, 61, 96.5}[r.pick(3)]
		}
	}
	for i := range tr.Jobs {
		j := &tr.Jobs[i]
		if r.chance(0.3) {
			j.CPUs = []int32{0, 4, 9, 24, 200, 1 << 20}[r.pick(6)] * int32(min(j.GPUs, 8))
			j.MemMiB = []int32{0, 16 << 10, 100 << 10}[r.pick(3)]
		}
	}
}

// fuzzTally counts what the cases exercised, so that the invariants
// cannot pass on runs where nothing happens.
type fuzzTally struct {
	runs, launched, budgetBound, maxGPUsBound, costBound, failed, interrupted, killed, neverServed, unstarted, horizon int
	// shaped counts runs with launches of a trace whose jobs' CPUs or
	// memory change their shape on the cloud (CloudShapes).
	shaped int
	// atMaxGPUs and atMaxCost count runs whose peak reached the limit
	// exactly: only there can a check of the limit fail.
	atMaxGPUs, atMaxCost int
	// softPeriods counts soft budget periods in which a launch was
	// admitted (checkSoftLaunches).
	softPeriods int
	// hardBound counts runs a hard budget bound (only there can its check
	// fail), stockOuts runs with a launch refused for capacity (the
	// realistic cloud's stock-outs), spotLaunched runs that launched in a
	// pool with a spot offering, and wholeLaunched runs that launched in a
	// whole_jobs pool.
	hardBound, stockOuts, spotLaunched, wholeLaunched int
}

// checkResult returns the invariants r breaks, as sentences.
func checkResult(c fuzzCase, r Result) []string {
	var bad []string
	badf := func(format string, args ...any) { bad = append(bad, r.Policy+": "+fmt.Sprintf(format, args...)) }
	const eps = 1e-6
	near := func(a, b float64) bool { return math.Abs(a-b) <= eps+1e-9*math.Max(math.Abs(a), math.Abs(b)) }
	for name, v := range map[string]float64{
		"cloud_cost_usd": r.CloudCostUSD, "paid_gpu_hours": r.PaidGPUHours, "used_gpu_hours": r.UsedGPUHours,
		"boot_gpu_hours": r.BootGPUHours, "idle_gpu_hours": r.IdleGPUHours, "rounded_gpu_hours": r.RoundedGPUHours, "efficiency": r.Efficiency,
		"gpu_hours_lost": r.GPUHoursLost, "peak_cost_per_hour": r.PeakCostPerHour,
		"wait_p50_s": r.WaitP50S, "wait_p95_s": r.WaitP95S, "wait_p99_s": r.WaitP99S, "wait_max_s": r.WaitMaxS,
	} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < -eps {
			badf("%s is %v: want a finite number ≥ 0", name, v)
		}
	}
	if r.PaidGPUHours < r.UsedGPUHours-eps-1e-9*r.UsedGPUHours {
		badf("paid %.6f GPU-h < used %.6f GPU-h", r.PaidGPUHours, r.UsedGPUHours)
	}
	if unused := r.PaidGPUHours - r.UsedGPUHours; r.BootGPUHours+r.IdleGPUHours+r.RoundedGPUHours > unused+eps+1e-9*r.PaidGPUHours {
		badf("boot %.6f + idle %.6f + rounded %.6f GPU-h > paid − used %.6f GPU-h", r.BootGPUHours, r.IdleGPUHours, r.RoundedGPUHours, unused)
	}
	// Work lost to kills ran on paid instances and is not in used: it is
	// part of paid − used, beside boot, whole idle instances and rounding.
	if unused := r.PaidGPUHours - r.UsedGPUHours; r.GPUHoursLost+r.BootGPUHours+r.IdleGPUHours+r.RoundedGPUHours > unused+eps+1e-9*r.PaidGPUHours {
		badf("lost %.6f + boot %.6f + idle %.6f + rounded %.6f GPU-h > paid − used %.6f GPU-h", r.GPUHoursLost, r.BootGPUHours, r.IdleGPUHours, r.RoundedGPUHours, unused)
	}
	// Launches count instances: the failures of an instance launched
	// (never up, reclaimed booting, ended booting) are among them, each
	// once; a refusal (capacity, quota) launched none.
	if inst := r.FailedLaunches["join_timeout"] + r.FailedLaunches["reclaimed_booting"] + r.FailedLaunches["not_up"]; inst > r.Launches {
		badf("%d launched instances failed (%v) of %d launches", inst, r.FailedLaunches, r.Launches)
	}
	if r.Efficiency < 0 || r.Efficiency > 1+1e-9 {
		badf("efficiency %.9f outside [0, 1]", r.Efficiency)
	}
	if !(r.WaitP50S <= r.WaitP95S && r.WaitP95S <= r.WaitP99S && r.WaitP99S <= r.WaitMaxS) {
		badf("waits p50 %g, p95 %g, p99 %g, max %g not in order", r.WaitP50S, r.WaitP95S, r.WaitP99S, r.WaitMaxS)
	}
	// Jobs: those that can never be served are known from the trace and
	// the pool as the policy runs it (its own interval: a budget's
	// commitments follow it) alone, and never start.
	never, neverG, tooBig, tooBigG := 0, 0, 0, 0
	pool := c.pool
	if p, err := PolicyWith(r.Policy, c.knobs); err == nil && p.Interval > 0 {
		pool.Interval = policy.Duration(p.Interval)
	}
	// Nor can one that outlasts every cloud instance: longer than
	// max_lifetime + drain_timeout on the fastest offering, with no
	// checkpoint within that.
	life, drain, ckpt := pool.ScaleIn.MaxLifetime.D(), pool.ScaleIn.DrainTimeout.D(), pool.CheckpointInterval.D()
	bounded := life > 0 && drain > 0 && !(ckpt > 0 && ckpt < life+drain)
	fastest := 0.0
	for _, o := range pool.Offerings {
		fastest = max(fastest, cmp.Or(o.Performance, 1))
	}
	// Nor one whose CPUs or memory no instance holds with its GPUs; one
	// that a larger instance holds takes that instance's GPUs.
	shapes := policy.Shapes(pool.Offerings)
	// rentable counts the jobs the cloud could serve, whatever their
	// size against on-prem.
	rentable := 0
	for _, j := range c.tr.Jobs {
		g, why := j.GPUs, ""
		if shapes != nil && (j.CPUs > 0 || j.MemMiB > 0) {
			g, why = policy.FitShape(shapes, j.GPUs, int(j.CPUs), int64(j.MemMiB))
		}
		cannot := why != "" || policy.CloudHolds(&pool, g) != "" || (bounded && j.Duration.Seconds()/fastest > (life+drain).Seconds()) ||
			unpaidRun(&pool, g, j.Duration)
		rentable += b2i(!cannot)
		if j.GPUs > pool.OnPrem.GPUs() {
			tooBig++
			tooBigG = max(tooBigG, j.GPUs)
			// Nor one that no offering's provider quota lets a gang of
			// be, though the policies are shown it and may rent for it.
			if cannot || (why == "" && c.cloud != nil && len(c.cloud.Quota) > 0 && !quotaHolds(&pool, c.cloud.Quota, g)) {
				never++
				neverG = max(neverG, j.GPUs)
			}
		}
	}
	// A trace none of whose jobs the cloud can serve is no reason to
	// rent anything (but a schedule's floor is).
	if rentable == 0 && len(c.pool.Schedules) == 0 && r.Launches > 0 {
		badf("%d launches for a trace of which the cloud can serve no job", r.Launches)
	}
	// A job of a size nothing may be launched for can still start on room
	// rented for others (a schedule's floor, idle instances it spans): the
	// never served are those of them that did not.
	// onprem-only rents nothing: it never serves any job larger than
	// on-prem.
	if r.Policy == PolicyOnPremOnly {
		never, neverG = tooBig, tooBigG
	}
	if r.JobsNeverServed > never || r.NeverServedGPUs > neverG || (r.JobsNeverServed > 0) != (r.NeverServedWhy != "") ||
		(r.JobsNeverServed > 0) != (r.NeverServedGPUs > 0) || (r.Policy == PolicyOnPremOnly && (r.JobsNeverServed != never || r.NeverServedGPUs != neverG)) {
		badf("never served %d (largest %d, why %q): want at most %d (largest %d), all of them for onprem-only", r.JobsNeverServed, r.NeverServedGPUs, r.NeverServedWhy, never, neverG)
	}
	// The never served are left out of the waits: with none served, there
	// are none.
	if r.JobsNeverServed == len(c.tr.Jobs) && (r.WaitP50S != 0 || r.WaitMaxS != 0) {
		badf("all %d jobs never served, yet waits p50 %gs, max %gs", r.JobsNeverServed, r.WaitP50S, r.WaitMaxS)
	}
	if n := len(c.tr.Jobs); r.JobsUnstarted < 0 || r.JobsOnCloud < 0 || r.JobsNeverServed+r.JobsUnstarted+r.JobsOnCloud > n {
		badf("%d never served + %d unstarted + %d on cloud > %d jobs", r.JobsNeverServed, r.JobsUnstarted, r.JobsOnCloud, n)
	}
	if r.JobsOnCloud > 0 && r.Launches == 0 {
		badf("%d jobs on cloud without a launch", r.JobsOnCloud)
	}
	if r.Launches == 0 && (r.CloudCostUSD != 0 || r.PaidGPUHours != 0 || r.UsedGPUHours != 0 || r.PeakCloudGPUs != 0) {
		badf("no launch, yet $%g, %g paid GPU-h, %g used, peak %d GPUs", r.CloudCostUSD, r.PaidGPUHours, r.UsedGPUHours, r.PeakCloudGPUs)
	}
	if r.JobsKilled == 0 && r.GPUHoursLost > eps {
		badf("%g GPU-h lost without a kill", r.GPUHoursLost)
	}
	if r.Policy == PolicyOnPremOnly {
		if r.Launches != 0 || r.CloudCostUSD != 0 || r.JobsOnCloud != 0 || len(r.FailedLaunches) != 0 {
			badf("onprem-only rented: %d launches, $%g, %d jobs on cloud, failed %v", r.Launches, r.CloudCostUSD, r.JobsOnCloud, r.FailedLaunches)
		}
		// Every job that fits on-prem runs there; the rest are never
		// served.
		if r.JobsUnstarted != 0 {
			badf("onprem-only left %d jobs unstarted: want every job it cannot serve counted never served", r.JobsUnstarted)
		}
	}
	// Money adds up.
	sumOff, sumProv := 0.0, 0.0
	for _, v := range r.CostByOffering {
		sumOff += v
	}
	for _, v := range r.CostByProvider {
		sumProv += v
	}
	if !near(sumOff, r.CloudCostUSD) || !near(sumProv, r.CloudCostUSD) {
		badf("cost by offering $%.6f, by provider $%.6f, total $%.6f", sumOff, sumProv, r.CloudCostUSD)
	}
	// Limits hold for every policy.
	if m := c.pool.Limits.MaxGPUs; m > 0 && r.PeakCloudGPUs > m {
		badf("%d cloud GPUs held, max_gpus %d", r.PeakCloudGPUs, m)
	}
	if m := c.pool.Limits.MaxCostPerHour; m > 0 && r.PeakCostPerHour > m*(1+1e-9)+eps {
		badf("$%.6f/h held, max_cost_per_hour $%g", r.PeakCostPerHour, m)
	}
	if b := c.pool.Limits.Budget; b == nil {
		if len(r.BudgetPeriods) != 0 {
			badf("%d budget periods without a budget", len(r.BudgetPeriods))
		}
	} else {
		sum := 0.0
		for i, bp := range r.BudgetPeriods {
			sum += bp.SpendUSD
			if bp.BudgetUSD != b.Amount || !bp.End.After(bp.Start) || (i > 0 && !bp.Start.Equal(r.BudgetPeriods[i-1].End)) {
				badf("budget period %d %+v: want consecutive periods of the $%g budget", i, bp, b.Amount)
			}
			if bp.SpendUSD < -eps {
				badf("period %s spent $%g", bp.Start, bp.SpendUSD)
			}
			if !b.Soft() && bp.SpendUSD > bp.BudgetUSD {
				badf("period %s–%s spent $%.6f of a hard $%g budget", bp.Start.Format(time.DateTime), bp.End.Format(time.DateTime), bp.SpendUSD, bp.BudgetUSD)
			}
		}
		if !near(sum, r.CloudCostUSD) {
			badf("budget periods add up to $%.6f, the run billed $%.6f", sum, r.CloudCostUSD)
		}
		// They cover the run from the trace's first submit.
		if len(c.tr.Jobs) > 0 {
			first := c.tr.Start.Add(c.tr.Jobs[0].Submit)
			if len(r.BudgetPeriods) == 0 || r.BudgetPeriods[0].Start.After(first) || !r.BudgetPeriods[0].End.After(first) {
				badf("budget periods %+v do not begin with the trace's first submit %s", r.BudgetPeriods[:min(len(r.BudgetPeriods), 1)], first)
			}
		}
	}
	// What the cloud model did.
	spot := false
	for _, o := range c.pool.Offerings {
		spot = spot || o.Market == policy.MarketSpot
	}
	if c.cloud == nil && (r.FailedLaunches["capacity"] != 0 || r.FailedLaunches["quota"] != 0 || r.FailedLaunches["reclaimed_booting"] != 0 || r.Interruptions != 0) {
		badf("the ideal cloud failed launches %v and reclaimed %d", r.FailedLaunches, r.Interruptions)
	}
	if c.cloud == nil && r.Policy == PolicySpillway && r.FailedLaunches["join_timeout"] != 0 {
		// Fixed boots, and the pool's default join timeout outlasts them.
		badf("spillway's instances never joined on the ideal cloud: %v", r.FailedLaunches)
	}
	if r.Interruptions > 0 && !spot {
		badf("%d spot interruptions without a spot offering", r.Interruptions)
	}
	if r.Interruptions > r.Launches {
		badf("%d interruptions of %d launches", r.Interruptions, r.Launches)
	}
	for k, v := range r.FailedLaunches {
		if v <= 0 || (k != "capacity" && k != "quota" && k != "not_up" && k != "reclaimed_booting" && k != "join_timeout") {
			badf("failed launches %v", r.FailedLaunches)
		}
	}
	for k, v := range r.LimitBoundHours {
		if !(v > 0) || math.IsInf(v, 0) || !slices.Contains([]string{policy.LimitBudget, policy.LimitMaxGPUs, policy.LimitMaxCostPerHour}, k) {
			badf("limit_bound_hours %v", r.LimitBoundHours)
		}
	}
	if _, err := json.Marshal(r); err != nil {
		badf("JSON: %v", err)
	}
	return bad
}

// fuzzDeadline bounds one case: a run that takes longer hangs
// (SPILLWAY_SIM_FUZZ_DEADLINE sets another, for slow machines).
var fuzzDeadline = 2 * time.Minute

// setFuzzDeadline takes fuzzDeadline from SPILLWAY_SIM_FUZZ_DEADLINE when
// it is set (make soak gives its long cases more).
func setFuzzDeadline(t *testing.T) {
	t.Helper()
	v := os.Getenv("SPILLWAY_SIM_FUZZ_DEADLINE")
	if v == "" {
		return
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("SPILLWAY_SIM_FUZZ_DEADLINE=%q: want a duration such as 10m", v)
	}
	fuzzDeadline = d
}

// runCase runs every policy on c, one by one and then as a backtest, and
// returns what the invariants say, and whether a run reached the
// simulator's horizon.
func runCase(t *testing.T, c fuzzCase, tally *fuzzTally) (bad []string) {
	ctx, cancel := context.WithTimeout(context.Background(), fuzzDeadline)
	defer cancel()
	pols := policiesWith(c.knobs)
	floors := scheduleFloors
	results := make([]Result, 0, len(pols))
	horizon := false
	shaped := CloudShapes(&c.pool, c.tr) != ""
	for _, p := range pols {
		pool := c.pool
		res, err := func() (res Result, err error) {
			defer func() {
				if v := recover(); v != nil {
					err = fmt.Errorf("panic: %v\n%s", v, debug.Stack())
				}
			}()
			return Run(ctx, Options{Pool: &pool, Trace: c.tr, Policy: p, Cloud: c.cloud, Floors: floors, MaxInstances: c.maxInstances})
		}()
		switch {
		case errors.Is(err, ErrHorizon) || errors.Is(err, ErrTooManyInstances):
			horizon = true
			tally.horizon++
			continue
		case err != nil:
			return append(bad, fmt.Sprintf("%s: %v", p.Name, err))
		}
		results = append(results, res)
		if c.pool.Limits.Budget.Soft() && p.New != nil {
			b, n := checkSoftLaunches(ctx, c, p, res)
			bad = append(bad, b...)
			tally.softPeriods += n
		}
		tally.runs++
		if res.Launches > 0 {
			tally.launched++
			tally.shaped += b2i(shaped)
		}
		tally.budgetBound += b2i(res.LimitBoundHours[policy.LimitBudget] > 0)
		tally.hardBound += b2i(res.LimitBoundHours[policy.LimitBudget] > 0 && !c.pool.Limits.Budget.Soft())
		tally.stockOuts += b2i(res.FailedLaunches["capacity"] > 0)
		tally.spotLaunched += b2i(res.Launches > 0 && slices.ContainsFunc(c.pool.Offerings, func(o policy.Offering) bool { return o.Market == policy.MarketSpot }))
		tally.wholeLaunched += b2i(res.Launches > 0 && c.pool.WholeJobs)
		tally.maxGPUsBound += b2i(res.LimitBoundHours[policy.LimitMaxGPUs] > 0)
		tally.costBound += b2i(res.LimitBoundHours[policy.LimitMaxCostPerHour] > 0)
		tally.failed += b2i(len(res.FailedLaunches) > 0)
		tally.interrupted += b2i(res.Interruptions > 0)
		tally.killed += b2i(res.JobsKilled > 0)
		tally.neverServed += b2i(res.JobsNeverServed > 0)
		tally.unstarted += b2i(res.JobsUnstarted > 0)
		bad = append(bad, checkResult(c, res)...)
		if m := c.pool.Limits.MaxGPUs; m > 0 && res.PeakCloudGPUs == m {
			tally.atMaxGPUs++
		}
		if m := c.pool.Limits.MaxCostPerHour; m > 0 && res.PeakCostPerHour > m*(1-1e-9) {
			tally.atMaxCost++
		}
	}
	if horizon || len(bad) > 0 {
		return bad
	}
	// The same case as a backtest, all policies at once: the same seed
	// gives byte-identical results, whatever the goroutines' order.
	markDominated(results)
	bt := Backtest{Pool: c.pool, Trace: c.tr, Policies: pols, Cloud: c.cloud, LimitCosts: c.limitCosts, MaxInstances: c.maxInstances}
	rep, err := bt.Run(ctx)
	if err != nil {
		return append(bad, fmt.Sprintf("backtest: %v", err))
	}
	for i := range rep.Results {
		for l, wl := range rep.Results[i].WithoutLimit {
			for name, v := range map[string]float64{"cloud_cost_usd": wl.CloudCostUSD, "wait_p95_s": wl.WaitP95S, "wait_p99_s": wl.WaitP99S, "gpu_hours_lost": wl.GPUHoursLost} {
				if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
					bad = append(bad, fmt.Sprintf("%s without %s: %s is %v", rep.Results[i].Policy, l, name, v))
				}
			}
		}
		rep.Results[i].WithoutLimit = nil
	}
	want, err := json.Marshal(results)
	if err != nil {
		return append(bad, fmt.Sprintf("JSON of the results: %v", err))
	}
	got, err := json.Marshal(rep)
	if err != nil {
		return append(bad, fmt.Sprintf("JSON of the report: %v", err))
	}
	// A policy dominates another only on its figures, and never when it
	// leaves more jobs unstarted (their waits are lower bounds).
	byName := map[string]Result{}
	for _, r := range rep.Results {
		byName[r.Policy] = r
	}
	for _, r := range rep.Results {
		for _, d := range r.DominatedBy {
			q := byName[d]
			if q.JobsUnstarted > r.JobsUnstarted || q.CloudCostUSD > r.CloudCostUSD || q.WaitP95S > r.WaitP95S ||
				(q.CloudCostUSD == r.CloudCostUSD && q.WaitP95S == r.WaitP95S) {
				bad = append(bad, fmt.Sprintf("%s dominated by %s: $%g, p95 %gs, %d unstarted against $%g, p95 %gs, %d unstarted",
					r.Policy, d, r.CloudCostUSD, r.WaitP95S, r.JobsUnstarted, q.CloudCostUSD, q.WaitP95S, q.JobsUnstarted))
			}
		}
	}
	// Every policy another beats is named, not only those named are right;
	// one that never serves more jobs (left out of its waits) beats none.
	for _, r := range rep.Results {
		var want []string
		for _, q := range rep.Results {
			if q.Policy != r.Policy && q.JobsUnstarted+q.JobsNeverServed <= r.JobsUnstarted+r.JobsNeverServed && q.JobsNeverServed <= r.JobsNeverServed &&
				q.CloudCostUSD <= r.CloudCostUSD && q.WaitP95S <= r.WaitP95S && (q.CloudCostUSD < r.CloudCostUSD || q.WaitP95S < r.WaitP95S) {
				want = append(want, q.Policy)
			}
		}
		if !slices.Equal(r.DominatedBy, want) {
			bad = append(bad, fmt.Sprintf("%s dominated by %q, want %q", r.Policy, r.DominatedBy, want))
		}
	}
	bad = append(bad, checkTable(rep)...)
	if c.seed%4 == 0 {
		bad = append(bad, checkSweep(ctx, c, rep)...)
	}
	gotRes, _ := json.Marshal(rep.Results)
	if string(gotRes) != string(want) {
		bad = append(bad, fmt.Sprintf("the backtest's results differ from the same runs one by one:\n%s\n%s", gotRes, want))
	}
	if strings.Contains(string(got), "NaN") || strings.Contains(string(got), "Inf") {
		bad = append(bad, "the report's JSON holds NaN or Inf")
	}
	return bad
}

// checkSoftLaunches runs p on c once more, recording the evaluations
// whose plan (as admitted) launches anything, and returns what breaks a
// soft budget's promise: a period in which a launch was admitted never
// spends more than its amount (only work running before the period began
// may carry one over, and nothing running is cut). The run goes without
// the steady skip (a recorder cannot tell the skip's probes from the run's
// evaluations), so it must also give res to the last bit, as the skip is
// exact (TestSteadySkipIsExact).
// It also returns how many periods with launches it checked.
func checkSoftLaunches(ctx context.Context, c fuzzCase, p Policy, res Result) ([]string, int) {
	var launched []time.Time
	newFn := p.New
	rec := p
	rec.NewDecider = nil
	rec.New = func() DecideFunc {
		d := newFn()
		return func(pool *policy.Pool, snap policy.Snapshot, insts []policy.Instance, spend policy.Spend, now time.Time) policy.Plan {
			plan := d(pool, snap, insts, spend, now)
			if len(plan.Launches) > 0 {
				launched = append(launched, now)
			}
			return plan
		}
	}
	pool := c.pool
	floors := scheduleFloors
	again, err := Run(ctx, Options{Pool: &pool, Trace: c.tr, Policy: rec, Cloud: c.cloud, Floors: floors, MaxInstances: c.maxInstances})
	if err != nil {
		return []string{fmt.Sprintf("%s without the steady skip: %v", p.Name, err)}, 0
	}
	var bad []string
	checked := 0
	a, _ := json.Marshal(res)
	b, _ := json.Marshal(again)
	if string(a) != string(b) {
		bad = append(bad, fmt.Sprintf("%s: the run differs without the steady skip:\n%s\n%s", p.Name, a, b))
	}
	for _, bp := range res.BudgetPeriods {
		if !slices.ContainsFunc(launched, func(at time.Time) bool { return !at.Before(bp.Start) && at.Before(bp.End) }) {
			continue
		}
		checked++
		if bp.SpendUSD > bp.BudgetUSD*(1+1e-9)+1e-6 {
			bad = append(bad, fmt.Sprintf("%s: period %s–%s, with launches, spent $%.6f of a soft $%g budget",
				p.Name, bp.Start.Format(time.DateTime), bp.End.Format(time.DateTime), bp.SpendUSD, bp.BudgetUSD))
		}
	}
	return bad, checked
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestSimInvariants runs every policy on random pools, traces and clouds
// (drawCase) and checks every result (checkResult), that the same seed
// gives the same report, and that the cases exercise what the invariants
// are about. SPILLWAY_SIM_FUZZ_N sets the number of cases (a few thousand
// by hand); SPILLWAY_SIM_FUZZ_SEED runs one case.
func TestSimInvariants(t *testing.T) {
	n, first := uint64(40), uint64(0)
	if testing.Short() || raceBuild {
		n = 16
	}
	if v := os.Getenv("SPILLWAY_SIM_FUZZ_N"); v != "" {
		x, err := strconv.ParseUint(v, 10, 32)
		if err != nil || x == 0 {
			t.Fatalf("SPILLWAY_SIM_FUZZ_N=%q: want a number of cases ≥ 1", v)
		}
		n = x
	}
	if v := os.Getenv("SPILLWAY_SIM_FUZZ_FIRST"); v != "" {
		x, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("SPILLWAY_SIM_FUZZ_FIRST=%q: want the first case's seed", v)
		}
		first = x
	}
	one := os.Getenv("SPILLWAY_SIM_FUZZ_SEED")
	if one != "" {
		x, err := strconv.ParseUint(one, 10, 64)
		if err != nil {
			t.Fatalf("SPILLWAY_SIM_FUZZ_SEED=%q: want a case's seed", one)
		}
		first, n = x, 1
	}
	setFuzzDeadline(t)
	var tally fuzzTally
	failed := 0
	for seed := first; seed < first+n; seed++ {
		c := drawCase(seed)
		began := time.Now()
		// A run that ignores its context hangs: end the test with the
		// case and every goroutine's stack rather than at the test's
		// timeout without either.
		watchdog := time.AfterFunc(fuzzDeadline+time.Minute, func() {
			debug.SetTraceback("all")
			panic(fmt.Sprintf("case %d hangs past its %s deadline\n%s", seed, fuzzDeadline, c))
		})
		bad := runCase(t, c, &tally)
		watchdog.Stop()
		if one != "" || testing.Verbose() && time.Since(began) > 5*time.Second {
			t.Logf("case %d took %s", seed, time.Since(began).Round(time.Millisecond))
		}
		if len(bad) > 0 {
			failed++
			t.Errorf("%s\n%s", strings.Join(bad[:min(len(bad), 6)], "\n"), c)
			if failed >= 50 {
				t.Fatalf("stopping after %d failing cases", failed)
			}
		}
	}
	t.Logf("%d cases, %d runs: %d launched, limits bound (budget %d, max_gpus %d, max_cost_per_hour %d), peak at max_gpus in %d, at max_cost_per_hour in %d, failed launches in %d, spot reclaims in %d, kills in %d, never served in %d, unstarted in %d, horizon %d, shaped jobs in %d, soft budget periods with launches %d, hard budget bound in %d, stock-outs in %d, launches with spot offered in %d, launches under whole_jobs in %d",
		n, tally.runs, tally.launched, tally.budgetBound, tally.maxGPUsBound, tally.costBound, tally.atMaxGPUs, tally.atMaxCost, tally.failed, tally.interrupted, tally.killed, tally.neverServed, tally.unstarted, tally.horizon, tally.shaped, tally.softPeriods,
		tally.hardBound, tally.stockOuts, tally.spotLaunched, tally.wholeLaunched)
	if one == "" && n >= 16 {
		// The draws must reach what the invariants are about.
		for what, k := range map[string]int{"launches": tally.launched, "budget bound": tally.budgetBound, "max_gpus bound": tally.maxGPUsBound,
			"max_cost_per_hour bound": tally.costBound, "failed launches": tally.failed, "spot reclaims": tally.interrupted,
			"kills": tally.killed, "never served": tally.neverServed, "a peak at max_gpus": tally.atMaxGPUs, "a peak at max_cost_per_hour": tally.atMaxCost,
			"jobs shaped by their CPUs or memory": tally.shaped, "a soft budget period with launches": tally.softPeriods,
			"a hard budget bound": tally.hardBound, "a launch refused for a stock-out": tally.stockOuts,
			"launches with a spot offering": tally.spotLaunched, "launches under whole_jobs": tally.wholeLaunched} {
			if k == 0 {
				t.Errorf("no run of %d cases had %s: the draws do not exercise the invariants", n, what)
			}
		}
	}
}

// checkTable returns where the text report (WriteTable) says other than
// the results it prints, as --json gives them: each policy's row, the
// jobs never served, the failed launches, what was paid and not used, and
// who is dominated.
func checkTable(rep Report) []string {
	var bad []string
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		return []string{fmt.Sprintf("table: %v", err)}
	}
	out := b.String()
	lines := strings.Split(out, "\n")
	rowOf := func(pol string) []string {
		for _, l := range lines {
			if f := strings.Fields(l); len(f) == 12 && f[0] == pol {
				return f
			}
		}
		return nil
	}
	for _, r := range rep.Results {
		badf := func(format string, args ...any) {
			bad = append(bad, "table, "+r.Policy+": "+fmt.Sprintf(format, args...)+"\n"+out)
		}
		row := rowOf(r.Policy)
		if row == nil {
			badf("no row")
			continue
		}
		if want := []string{money(r.CloudCostUSD), hours(r.PaidGPUHours), hours(r.UsedGPUHours), hours(r.GPUHoursLost), efficiencyText(r)}; !slices.Equal(row[1:6], want) {
			badf("row %q, want cost, paid, used, lost, efficiency %q", row, want)
		}
		if row[11] != thousands(strconv.Itoa(r.Launches)) || row[10] != thousands(strconv.Itoa(r.JobsOnCloud)) {
			badf("row %q: want %d jobs on cloud, %d launches", row, r.JobsOnCloud, r.Launches)
		}
		if p95 := strings.TrimSuffix(row[7], "!"); p95 != "-" && p95 != humanSeconds(r.WaitP95S) {
			badf("row %q: p95 %s, want %s", row, row[7], humanSeconds(r.WaitP95S))
		}
		if never := r.Policy + ": never served: " + Counted(r.JobsNeverServed, "job", "jobs") + ", largest " + strconv.Itoa(r.NeverServedGPUs) + " GPUs"; strings.Contains(out, never) != (r.JobsNeverServed > 0) {
			badf("never served %d: the table says it %v", r.JobsNeverServed, strings.Contains(out, r.Policy+": never served"))
		}
		dom := r.Policy + " is dominated by "
		if strings.Contains(out, dom) != (len(r.DominatedBy) > 0) {
			badf("dominated by %q: the table says it %v", r.DominatedBy, strings.Contains(out, dom))
		}
		if len(r.DominatedBy) > 0 {
			line := lineWith(out, dom)
			for _, d := range r.DominatedBy {
				if !strings.Contains(line, " "+d+" (") {
					badf("dominated by %s: the table's line %q does not name it", d, line)
				}
			}
		}
		// The launches line: the failures among the launches, apart from
		// the refusals that launched nothing.
		if len(r.FailedLaunches) > 0 {
			line := lineWith(out, r.Policy+": "+Counted(r.Launches, "launch", "launches"))
			inst := r.FailedLaunches["join_timeout"] + r.FailedLaunches["reclaimed_booting"] + r.FailedLaunches["not_up"]
			refused := r.FailedLaunches["capacity"] + r.FailedLaunches["quota"]
			if line == "" || strings.Contains(line, fmt.Sprintf(", %d of them failed:", inst)) != (inst > 0) ||
				strings.Contains(line, Counted(refused, "launch refused", "launches refused")+", not among them:") != (refused > 0) {
				badf("%d launches, failed %v: the table's line %q", r.Launches, r.FailedLaunches, line)
			}
		}
		if unused := r.PaidGPUHours - r.UsedGPUHours; unused >= 0.5 {
			line := lineWith(out, r.Policy+": "+strconv.FormatFloat(unused, 'f', 0, 64)+" GPU-h paid and not used")
			if line == "" {
				badf("%.0f GPU-h paid and not used: the table does not say it", unused)
			} else if r.GPUHoursLost >= 0.5 && !strings.Contains(line, strconv.FormatFloat(r.GPUHoursLost, 'f', 0, 64)+" of killed runs' work") {
				badf("%.0f GPU-h of killed runs' work: the line of what was paid and not used does not count it: %q", r.GPUHoursLost, line)
			}
		}
	}
	return bad
}

// checkSweep returns where a sweep of c's policies at the pool's own
// settings, on one seed without jitter and on c's cloud, says other than
// the backtest rep at that point: the same runs, so the same cost, waits,
// efficiency and jobs unserved, and the same policies dominated.
func checkSweep(ctx context.Context, c fuzzCase, rep Report) []string {
	sw := Sweep{Pool: c.pool, Trace: c.tr, Knobs: c.knobs, Seeds: 1, FirstSeed: 1, MaxInstances: c.maxInstances,
		Cloud: func(uint64) *Cloud { return c.cloud }}
	for _, r := range rep.Results {
		sw.Policies = append(sw.Policies, r.Policy)
	}
	pts, err := sw.Run(ctx)
	if err != nil {
		return []string{fmt.Sprintf("sweep: %v", err)}
	}
	var bad []string
	for i, r := range rep.Results {
		pt := pts[i]
		if pt.Policy != r.Policy || pt.CostUSD != r.CloudCostUSD || pt.WaitP95S != r.WaitP95S || pt.WaitP99S != r.WaitP99S ||
			pt.Efficiency != r.Efficiency || pt.JobsUnstarted != float64(r.JobsUnstarted+r.JobsNeverServed) {
			bad = append(bad, fmt.Sprintf("sweep point %+v, the backtest's run %s: $%g, p95 %gs, p99 %gs, efficiency %g, %d unstarted + %d never served",
				pt, r.Policy, r.CloudCostUSD, r.WaitP95S, r.WaitP99S, r.Efficiency, r.JobsUnstarted, r.JobsNeverServed))
		}
		if !slices.Equal(pt.DominatedBy, r.DominatedBy) {
			bad = append(bad, fmt.Sprintf("sweep: %s dominated by %q, the backtest says by %q ($%g, p95 %gs)", pt.Label(), pt.DominatedBy, r.DominatedBy, r.CloudCostUSD, r.WaitP95S))
		}
	}
	return bad
}

// unpaidRun reports whether a hard budget pays no whole cloud run of a job
// of g GPUs lasting d: on each offering the limits allow, the gang's run
// costs more than the amount and no checkpoint is saved before its run
// has cost it.
func unpaidRun(pool *policy.Pool, g int, d time.Duration) bool {
	b := pool.Limits.Budget
	if b == nil || b.Soft() {
		return false
	}
	ck := pool.CheckpointInterval.D()
	return !policy.CloudHoldsWithin(pool, g, func(o *policy.Offering, n int) bool {
		perHour := float64(n) * o.PricePerHour
		if perHour <= 0 {
			return true
		}
		paid := b.Amount / perHour // the hours of the longest run a period pays (beyond a Duration at $0.0001/h)
		return d.Hours()/cmp.Or(o.Performance, 1) <= paid || (ck > 0 && ck.Hours() < paid)
	}) && policy.CloudHolds(pool, g) == ""
}
