package sim

import (
	"context"
	"path/filepath"
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
	pols := []Policy{Spillway(), OnPremOnly(), Threshold(), PerJob()}
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
func BenchmarkSimulatePhillyThreshold(b *testing.B) { benchPolicy(b, "philly/philly.csv", Threshold()) }
func BenchmarkSimulatePhillyPerJob(b *testing.B)    { benchPolicy(b, "philly/philly.csv", PerJob()) }

// BenchmarkSimulateIdleYears is two jobs nine years apart under the four
// policies: the simulator jumps over the idle gap, so this costs about as
// much as two jobs.
func BenchmarkSimulateIdleYears(b *testing.B) {
	pool, _ := benchSetup(b, "philly/philly.csv")
	pool.Schedules = nil
	tr := &trace.Trace{Name: "gap", Start: trace.DefaultEpoch, Jobs: []trace.Job{
		{Submit: 0, Duration: time.Hour, GPUs: 8}, {Submit: 9 * 365 * 24 * time.Hour, Duration: time.Hour, GPUs: 8}}}
	pols := []Policy{Spillway(), OnPremOnly(), Threshold(), PerJob()}
	for b.Loop() {
		if _, err := (Backtest{Pool: pool, Trace: tr, Policies: pols}).Run(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
