package sim

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

func benchSetup(b testing.TB, file string) (policy.Pool, *trace.Trace) {
	b.Helper()
	cfg, err := config.Load(filepath.Join("..", "configs", "examples", "backtest.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	tr, err := trace.Load(filepath.Join("..", "configs", "traces", file))
	if err != nil {
		b.Fatal(err)
	}
	return WithOnPremGPUs(cfg.Pools[0].Policy, BaselineGPUs(tr.Jobs, 8)), tr
}

func benchPolicy(b *testing.B, file string, p Policy) {
	pool, tr := benchSetup(b, file)
	for b.Loop() {
		if _, err := Run(context.Background(), Options{Pool: &pool, Trace: tr, Policy: p}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSimulatePhilly is the whole backtest of philly.csv (82k jobs,
// 109 days): the four policies, run concurrently as spillway simulate does.
func BenchmarkSimulatePhilly(b *testing.B) {
	pool, tr := benchSetup(b, "philly/philly.csv")
	pols := []Policy{Spillway(), OnPremOnly(), Admitted(Threshold()), Admitted(PerJob())}
	for b.Loop() {
		if _, err := (Backtest{Pool: pool, Trace: tr, Policies: pols}).Run(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSimulatePhillySpillway(b *testing.B) { benchPolicy(b, "philly/philly.csv", Spillway()) }
func BenchmarkSimulatePhillyOnPremOnly(b *testing.B) {
	benchPolicy(b, "philly/philly.csv", OnPremOnly())
}
func BenchmarkSimulatePhillyThreshold(b *testing.B) {
	benchPolicy(b, "philly/philly.csv", Admitted(Threshold()))
}
func BenchmarkSimulatePhillyPerJob(b *testing.B) {
	benchPolicy(b, "philly/philly.csv", Admitted(PerJob()))
}

// allPolicies are the policies spillway simulate runs by default.
func allPolicies() []Policy {
	pols := make([]Policy, 0, len(PolicyNames))
	for _, n := range PolicyNames {
		p, err := PolicyByName(n)
		if err != nil {
			panic(err) // PolicyNames lists only known policies
		}
		pols = append(pols, p)
	}
	return pols
}

// benchAll runs every policy concurrently, as spillway simulate does, on
// the realistic cloud, and reports the process's peak resident memory
// during the runs (peakRSS), then each policy alone (sub-benchmarks, for
// profiles). check, when set, verifies the case is what it says it is.
func benchAll(b *testing.B, pool policy.Pool, tr *trace.Trace, check func(b *testing.B, rep Report)) {
	benchAllIn(b, pool, tr, DefaultCloud(1), check)
}

// benchAllIn is benchAll in another cloud.
func benchAllIn(b *testing.B, pool policy.Pool, tr *trace.Trace, cloud *Cloud, check func(b *testing.B, rep Report)) {
	b.Run("all", func(b *testing.B) {
		reset := resetPeakRSS(b)
		var rep Report
		for b.Loop() {
			var err error
			// As spillway simulate runs it: each policy once more without
			// each limit that bound it, to say what the limit cost.
			if rep, err = (Backtest{Pool: pool, Trace: tr, Policies: allPolicies(), Cloud: cloud, LimitCosts: true}).Run(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		reportPeakRSS(b, reset)
		if check != nil {
			check(b, rep)
		}
	})
	for _, p := range allPolicies() {
		b.Run(p.Name, func(b *testing.B) {
			reset := resetPeakRSS(b)
			for b.Loop() {
				if _, err := Run(context.Background(), Options{Pool: &pool, Trace: tr, Policy: p, Cloud: cloud,
					Floors: scheduleFloors}); err != nil {
					b.Fatal(err)
				}
			}
			reportPeakRSS(b, reset)
		})
	}
}

// resetPeakRSS collects garbage, returns freed memory to the OS and resets
// the kernel's record of the process's peak resident set (VmHWM), so that
// the peak read after a benchmark is that benchmark's, not an earlier
// one's. It reports whether the reset worked.
func resetPeakRSS(b *testing.B) bool {
	b.Helper()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("peak memory not reset (%v): MiB-peak-rss counts earlier benchmarks too", err)
		return false
	}
	return true
}

// reportPeakRSS reports VmHWM, the process's peak resident set in MiB
// (the trace, the test binary and every run of the benchmark included).
func reportPeakRSS(b *testing.B, reset bool) {
	b.Helper()
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Logf("peak memory unknown: %v", err)
		return
	}
	for line := range strings.Lines(string(st)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				b.Fatalf("VmHWM line %q: %v", line, err)
			}
			if !reset {
				b.Logf("MiB-peak-rss includes earlier benchmarks")
			}
			b.ReportMetric(float64(kb)/1024, "MiB-peak-rss")
			return
		}
	}
	b.Logf("peak memory unknown: no VmHWM in /proc/self/status")
}

// BenchmarkSimulatePhillyDeepQueue is philly on 512 on-prem GPUs with a
// $100,000 monthly budget that binds: a deep queue for months.
func BenchmarkSimulatePhillyDeepQueue(b *testing.B) {
	pool, tr := benchSetup(b, "philly/philly.csv")
	pool = WithOnPremGPUs(pool, 512)
	pool.Limits.Budget = &policy.Budget{Amount: 100000, Period: policy.PeriodMonth}
	benchAll(b, pool, tr, func(b *testing.B, rep Report) {
		if h := rep.Results[0].LimitBoundHours[policy.LimitBudget]; h < 24*30 {
			b.Fatalf("the budget bound spillway for %.0f hours: not a month-long deep queue", h)
		}
	})
}

// BenchmarkSimulateGenerated1M is a generated trace of a million jobs over
// a year (sizes and durations drawn like the ITP traces': mostly small and
// short, a long tail), on-prem at its p50 demand.
func BenchmarkSimulateGenerated1M(b *testing.B) {
	pool, _ := benchSetup(b, "itp/cluster05.csv")
	tr := generatedTrace(1_000_000)
	pool = WithOnPremGPUs(pool, BaselineGPUs(tr.Jobs, 8))
	benchAll(b, pool, tr, nil)
}

// generatedTrace is n jobs over a year, sizes and durations drawn like the
// ITP traces': mostly small and short, a long tail.
func generatedTrace(n int) *trace.Trace {
	r := rand.New(rand.NewPCG(1, 2))
	tr := &trace.Trace{Name: "generated", Start: trace.DefaultEpoch, Jobs: make([]trace.Job, 0, n)}
	span := 365 * 24 * time.Hour
	for k := range n {
		d := time.Duration(60+r.ExpFloat64()*1800) * time.Second
		if r.IntN(50) == 0 {
			d *= 20
		}
		tr.Jobs = append(tr.Jobs, trace.Job{Submit: span / time.Duration(n) * time.Duration(k), Duration: d, GPUs: []int{1, 1, 1, 1, 2, 4, 8, 16}[r.IntN(8)]})
	}
	return tr
}

// BenchmarkSimulateGenerated1MHeavy is a harder million jobs: busy
// weekday hours, durations log-normal (median 11 minutes, a tail of weeks,
// at most 30 days), sizes up to 256 GPUs, on-prem at its p50 demand, and
// the bundled config's $1M monthly budget binding from the first month:
// a deep queue for half a year, every limit-cost run included.
func BenchmarkSimulateGenerated1MHeavy(b *testing.B) {
	pool, _ := benchSetup(b, "itp/cluster05.csv")
	tr := heavyTrace(1_000_000)
	pool = WithOnPremGPUs(pool, BaselineGPUs(tr.Jobs, 8))
	benchAll(b, pool, tr, func(b *testing.B, rep Report) {
		if h := rep.Results[0].LimitBoundHours[policy.LimitBudget]; h < 24*30 {
			b.Fatalf("the budget bound spillway for %.0f hours: not a deep queue", h)
		}
	})
}

// heavyTrace is n jobs arriving every 8 s on average for the first twelve
// hours of each day and every 40 s for the rest, with log-normal
// durations and sizes from 1 to 256 GPUs (most of them 1).
func heavyTrace(n int) *trace.Trace {
	r := rand.New(rand.NewPCG(3, 4))
	sizes := []int{1, 1, 1, 1, 1, 1, 2, 4, 8, 8, 16, 3, 5, 6, 12, 24, 32, 48, 64, 128, 256}
	tr := &trace.Trace{Name: "heavy", Start: trace.DefaultEpoch, Jobs: make([]trace.Job, 0, n)}
	var at float64
	for range n {
		mean := 40.0
		if int(at/3600)%24 < 12 {
			mean = 8
		}
		at += r.ExpFloat64() * mean
		d := min(math.Exp(6.5+2.2*r.NormFloat64()), 30*86400) + 1
		tr.Jobs = append(tr.Jobs, trace.Job{Submit: time.Duration(at * float64(time.Second)), Duration: time.Duration(d) * time.Second, GPUs: sizes[r.IntN(len(sizes))]})
	}
	return tr
}

// BenchmarkSimulateIdleYears is two jobs nine years apart under the four
// policies: the simulator jumps over the idle gap, so this costs about as
// much as two jobs.
func BenchmarkSimulateIdleYears(b *testing.B) {
	pool, _ := benchSetup(b, "philly/philly.csv")
	pool.Schedules = nil
	tr := &trace.Trace{Name: "gap", Start: trace.DefaultEpoch, Jobs: []trace.Job{
		{Submit: 0, Duration: time.Hour, GPUs: 8}, {Submit: 9 * 365 * 24 * time.Hour, Duration: time.Hour, GPUs: 8}}}
	pols := []Policy{Spillway(), OnPremOnly(), Admitted(Threshold()), Admitted(PerJob())}
	for b.Loop() {
		if _, err := (Backtest{Pool: pool, Trace: tr, Policies: pols}).Run(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSimulateNeverStart is 50,000 jobs on 4 on-prem GPUs with only a
// 4-GPU offering to rent, a fifth of them 8-GPU jobs that can never start:
// the queue of unstartable jobs grows all run long.
func BenchmarkSimulateNeverStart(b *testing.B) {
	pool, tr := neverStartCase(neverStartJobs)
	benchAll(b, pool, tr, func(b *testing.B, rep Report) {
		for _, r := range rep.Results {
			if r.JobsNeverServed != neverStartJobs/5 {
				b.Fatalf("%s: %d jobs never served, want the %d 8-GPU ones", r.Policy, r.JobsNeverServed, neverStartJobs/5)
			}
		}
	})
}

// BenchmarkSimulateLongQueue is 200 jobs of 16 GPUs that each run 347
// days, on 8 on-prem GPUs with the bundled config: the budget binds and
// jobs queue behind it for a year while long jobs run (a run once took a
// million evaluations a policy; steadySkip makes it a few hundred, but
// for threshold's and the last drain_timeout of each budget period).
func BenchmarkSimulateLongQueue(b *testing.B) {
	pool, _ := benchSetup(b, "itp/cluster05.csv")
	pool = WithOnPremGPUs(pool, 8)
	tr := &trace.Trace{Name: "long-queue", Start: trace.DefaultEpoch}
	for i := range 200 {
		tr.Jobs = append(tr.Jobs, trace.Job{Submit: time.Duration(i) * time.Second, Duration: 347 * 24 * time.Hour, GPUs: 16})
	}
	benchAll(b, pool, tr, func(b *testing.B, rep Report) {
		if h := rep.Results[0].LimitBoundHours[policy.LimitBudget]; h < 24*300 {
			b.Fatalf("the budget bound spillway for %.0f hours: not a queue held for a year", h)
		}
	})
}

// BenchmarkSimulateSpotChurn is a pool that can rent only spot, reclaimed
// a minute after launch on average, before it boots (3 to 5 minutes), with
// jobs of hours that do not checkpoint: every policy launches again and
// again for 200 hours, hundreds of thousands of instances, few of which
// ever run a job.
func BenchmarkSimulateSpotChurn(b *testing.B) {
	pool := policy.Pool{Name: "churn", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
		ScaleIn: policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}, DrainTimeout: policy.Duration(time.Hour)},
		Offerings: []policy.Offering{
			{Name: "spot8", Provider: "aws", Region: "r", InstanceType: "a", GPUs: 8, PricePerHour: 10, Boot: policy.Duration(5 * time.Minute), Market: policy.MarketSpot, Billing: policy.BillingHourly},
			{Name: "spot4", Provider: "aws", Region: "r", InstanceType: "b", GPUs: 4, PricePerHour: 3, Boot: policy.Duration(3 * time.Minute), Market: policy.MarketSpot, Billing: policy.BillingPerSecond},
		}}
	tr := &trace.Trace{Name: "churn", Start: trace.DefaultEpoch}
	for i := range 120 {
		tr.Jobs = append(tr.Jobs, trace.Job{Submit: time.Duration(i) * 5 * time.Hour, Duration: 3 * time.Hour, GPUs: 4 << (i % 3)})
	}
	cloud := DefaultCloud(1)
	cloud.SpotMeanLife = time.Minute
	benchAllIn(b, pool, tr, cloud, func(b *testing.B, rep Report) {
		for _, r := range rep.Results {
			if r.Policy != PolicyOnPremOnly && r.Interruptions < 50_000 {
				b.Fatalf("%s: %d spot reclaims in 600 hours: not a churning pool", r.Policy, r.Interruptions)
			}
		}
	})
}

// neverStartCase is n jobs arriving about every 90 s, an hour long on
// average, of 1 to 4 GPUs (each fits the 4-GPU offering whole) or, one in
// five, of 8 GPUs, which neither on-prem (one 4-GPU node) nor the cloud
// (4-GPU instances, too small to span) can ever hold.
func neverStartCase(n int) (policy.Pool, *trace.Trace) {
	tr := syntheticTrace(n)
	for i := range tr.Jobs {
		if i%5 == 2 {
			tr.Jobs[i].GPUs = 8
		}
	}
	pool := policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 4}, Interval: policy.Duration(30 * time.Second),
		WaitTarget: policy.Duration(5 * time.Minute), Offerings: []policy.Offering{offering4}}
	return pool, tr
}

const neverStartJobs = 50_000

// BenchmarkSimulateAdmitPerSecond is 48 two-hour 8-GPU jobs a minute apart
// on 8 on-prem GPUs, evaluated every second, with max_gpus 16 binding and
// the steady skip off: for the day and a half the backlog lasts,
// policy.Admit cuts karpenter's launches to none at every evaluation.
func BenchmarkSimulateAdmitPerSecond(b *testing.B) {
	defer func(on bool) { steadySkip = on }(steadySkip)
	steadySkip = false
	pool, _ := benchSetup(b, "itp/cluster05.csv")
	pool = WithOnPremGPUs(pool, 8)
	pool.Interval = policy.Duration(time.Second)
	pool.Limits.MaxGPUs = 16
	pool.Limits.Budget = nil
	pool.ScaleIn.MaxLifetime = policy.Duration(6 * time.Hour)
	pool.Schedules = nil
	tr := &trace.Trace{Name: "admit-per-second", Start: trace.DefaultEpoch}
	for i := range 48 {
		tr.Jobs = append(tr.Jobs, trace.Job{Submit: time.Duration(i) * time.Minute, Duration: 2 * time.Hour, GPUs: 8})
	}
	for _, p := range []Policy{Admitted(Karpenter()), Admitted(PerJob())} {
		b.Run(p.Name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Run(context.Background(), Options{Pool: &pool, Trace: tr, Policy: p}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSimulateSteadyTimers is 24 six-hour 8-GPU jobs a minute apart
// on 8 on-prem GPUs, evaluated every second, with max_gpus 16 binding
// while the backlog lasts (about two days), in a pool whose rules act with
// time alone: a weekday schedule of 8 GPUs, a max_lifetime of three days
// and checkpointing every hour (on-demand offerings only: spot reclaim
// rates, learned as the run goes, keep the steady skip off).
func BenchmarkSimulateSteadyTimers(b *testing.B) {
	pool, tr := steadyTimersCase(b)
	for _, p := range allPolicies() {
		b.Run(p.Name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Run(context.Background(), Options{Pool: &pool, Trace: tr, Policy: p,
					Floors: scheduleFloors}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func steadyTimersCase(b testing.TB) (policy.Pool, *trace.Trace) {
	pool, _ := benchSetup(b, "itp/cluster05.csv")
	pool = WithOnPremGPUs(pool, 8)
	pool.Interval = policy.Duration(time.Second)
	pool.Limits.MaxGPUs = 16
	pool.Limits.Budget = nil
	pool.ScaleIn.MaxLifetime = policy.Duration(72 * time.Hour)
	pool.CheckpointInterval = policy.Duration(time.Hour)
	pool.Schedules = []policy.Schedule{{Name: "weekdays", Cron: "0 8 * * 1-5", Duration: policy.Duration(10 * time.Hour), GPUs: 8}}
	pool.Offerings = slices.DeleteFunc(slices.Clone(pool.Offerings), func(o policy.Offering) bool { return o.Market == policy.MarketSpot })
	tr := &trace.Trace{Name: "steady-timers", Start: trace.DefaultEpoch}
	for i := range 24 {
		tr.Jobs = append(tr.Jobs, trace.Job{Submit: time.Duration(i) * time.Minute, Duration: 6 * time.Hour, GPUs: 8})
	}
	return pool, tr
}

// BenchmarkSimulateQuotaRefused is the property test's case 292: its
// 8-GPU jobs fit only an offering whose quota is under 8 GPUs, so every
// evaluation plans a launch the quota refuses, for weeks of queue: about
// 828,000 evaluations, each policy one by one as the property test runs
// them (sub-benchmarks per policy).
func BenchmarkSimulateQuotaRefused(b *testing.B) {
	c := drawCase(292)
	floors := scheduleFloors
	for _, p := range policiesWith(c.knobs) {
		b.Run(p.Name, func(b *testing.B) {
			for b.Loop() {
				pool := c.pool
				if _, err := Run(context.Background(), Options{Pool: &pool, Trace: c.tr, Policy: p, Cloud: c.cloud, Floors: floors, MaxInstances: c.maxInstances}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDemandPercentile1M is sizing on-prem at the p50 demand of a
// million jobs (BaselineGPUs, --onprem-gpus p50).
func BenchmarkDemandPercentile1M(b *testing.B) {
	tr := generatedTrace(1_000_000)
	for b.Loop() {
		DemandPercentile(tr.Jobs, 0.5)
	}
}
