package sim

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

func benchSetup(b *testing.B, file string) (policy.Pool, *trace.Trace) {
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

// benchAll runs every policy concurrently, as spillway simulate does, on
// the realistic cloud, and reports the process's memory from the OS.
func benchAll(b *testing.B, pool policy.Pool, tr *trace.Trace) {
	pols := []Policy{Spillway(), OnPremOnly(), Admitted(Threshold()), Admitted(PerJob()), Admitted(Karpenter())}
	for b.Loop() {
		if _, err := (Backtest{Pool: pool, Trace: tr, Policies: pols, Cloud: DefaultCloud(1)}).Run(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.Sys)/(1<<20), "MiB-sys")
}

// BenchmarkSimulatePhillyDeepQueue is philly on 512 on-prem GPUs with a
// $100,000 monthly budget that binds: a deep queue for months.
func BenchmarkSimulatePhillyDeepQueue(b *testing.B) {
	pool, tr := benchSetup(b, "philly/philly.csv")
	pool = WithOnPremGPUs(pool, 512)
	pool.Limits.Budget = &policy.Budget{Amount: 100000, Period: policy.PeriodMonth}
	benchAll(b, pool, tr)
}

// BenchmarkSimulateGenerated1M is a generated trace of a million jobs over
// a year (sizes and durations drawn like the ITP traces': mostly small and
// short, a long tail), on-prem at its p50 demand.
func BenchmarkSimulateGenerated1M(b *testing.B) {
	pool, _ := benchSetup(b, "itp/cluster05.csv")
	r := rand.New(rand.NewPCG(1, 2))
	tr := &trace.Trace{Name: "generated-1m", Start: trace.DefaultEpoch}
	const n = 1_000_000
	span := 365 * 24 * time.Hour
	for k := range n {
		d := time.Duration(60+r.ExpFloat64()*1800) * time.Second
		if r.IntN(50) == 0 {
			d *= 20
		}
		tr.Jobs = append(tr.Jobs, trace.Job{Submit: span * time.Duration(k) / n, Duration: d, GPUs: []int{1, 1, 1, 1, 2, 4, 8, 16}[r.IntN(8)]})
	}
	pool = WithOnPremGPUs(pool, BaselineGPUs(tr.Jobs, 8))
	benchAll(b, pool, tr)
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
