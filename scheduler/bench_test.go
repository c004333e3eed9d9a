package scheduler_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/providers/aws"
	"github.com/spillway-io/spillway/scheduler"
	"github.com/spillway-io/spillway/state"
	"github.com/spillway-io/spillway/state/sqlite"
)

// benchWorld is one emulator, one provider, one state and one agent that
// answers for every instance (4 of 8 GPUs busy).
type benchWorld struct {
	clk   *clocktesting.FakeClock
	emu   *emulator.Emulator
	prov  providers.Provider
	agent string
	runAt atomic.Int64 // when the last RunInstances arrived (unix ns)
}

func newBenchWorld(b *testing.B) *benchWorld {
	w := &benchWorld{clk: clocktesting.NewFakeClock(t0)}
	w.emu = emulator.New(emulator.Options{Clock: w.clk.Now, Seed: 1})
	ec2 := w.emu.EC2Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte("Action=RunInstances")) {
			w.runAt.Store(time.Now().UnixNano())
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		ec2.ServeHTTP(rw, r)
	}))
	b.Cleanup(srv.Close)
	agent := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(rw, `{"gpus":[{"busy":true},{"busy":true},{"busy":true},{"busy":true},{"busy":false},{"busy":false},{"busy":false},{"busy":false}]}`)
	}))
	b.Cleanup(agent.Close)
	w.agent = agent.URL
	cfg := config.ProviderConfig{
		Type: config.ProviderAWS, Region: "us-east-1", Endpoint: srv.URL, Image: "ami-0abcdef1234567890",
		Subnets: []config.Subnet{{Zone: "us-east-1a", ID: "subnet-us-east-1a"}},
	}
	// No client-side pacing: the benchmark measures the scheduler, not
	// EC2's published request rates.
	p, err := aws.New(context.Background(), cfg, provName, aws.WithCredentials(staticCreds), aws.WithBuckets(nil))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Close)
	w.prov = p
	return w
}

func (w *benchWorld) scheduler(b *testing.B, pools []scheduler.Pool) *scheduler.Scheduler {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	for i := range pools {
		pools[i].AgentURL = func(config.InstanceFields) (string, error) { return w.agent, nil }
	}
	s, err := scheduler.New(scheduler.Options{
		Cluster: cluster, Pools: pools, Providers: map[string]providers.Provider{provName: w.prov}, Store: st,
		Clock: w.clk, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkTick100Pools5000Instances is one round of ticks over 100 pools
// holding 50 instances each, run concurrently as Run does: list, join with
// state, probe 5,000 agents, decide, record.
func BenchmarkTick100Pools5000Instances(b *testing.B) {
	w := newBenchWorld(b)
	var pools []scheduler.Pool
	var mu sync.Mutex
	demand := 400 // GPUs per pool: 50 instances of 8
	for i := range 100 {
		p := testPool()
		p.Name = fmt.Sprintf("pool-%03d", i)
		p.Limits.MaxGPUs = 400
		p.Offerings = p.Offerings[:1]
		p.Offerings[0].Boot = 0
		pools = append(pools, scheduler.Pool{Policy: p, Snapshot: func(context.Context) policy.Snapshot {
			mu.Lock()
			defer mu.Unlock()
			jobs := make([]int, demand/8)
			waits := make([]time.Duration, len(jobs))
			for j := range jobs {
				jobs[j], waits[j] = 8, 10*time.Minute
			}
			return policy.Snapshot{Time: w.clk.Now(), OnPremGPUs: 8, OnPremBusyGPUs: 8, PendingJobs: len(jobs), PendingGPUs: demand,
				PendingJobGPUs: jobs, PendingJobWaits: waits, OldestWait: 10 * time.Minute}
		}})
	}
	s := w.scheduler(b, pools)
	round := func() {
		var wg sync.WaitGroup
		for _, name := range s.Pools() {
			wg.Go(func() {
				if err := s.Tick(context.Background(), name); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
	// Launch 5,000 instances; the provider paces RunInstances as EC2's
	// published rate limits ask, so this takes a few rounds.
	for range 20 {
		if len(w.emu.Instances()) >= 5000 {
			break
		}
		round()
		w.clk.Step(10 * time.Second)
	}
	w.clk.Step(time.Minute)
	round() // they join
	mu.Lock()
	demand = 0 // the queue is served; instances are busy and kept
	mu.Unlock()
	if n := len(w.emu.Instances()); n != 5000 {
		b.Fatalf("setup launched %d instances, want 5000", n)
	}
	b.ResetTimer()
	for b.Loop() {
		w.clk.Step(10 * time.Second)
		round()
	}
}

// BenchmarkDemandToRunInstances measures, at default settings, the time
// from a tick reading a demand that calls for a launch to the RunInstances
// request arriving at the emulator. Each op is a fresh pool, state and
// emulator taken from 0 to launchesPerOp instances, one launch a tick, so
// the figure does not depend on how many ops the benchmark runs.
func BenchmarkDemandToRunInstances(b *testing.B) {
	const launchesPerOp = 16
	var total time.Duration
	launches := 0
	for b.Loop() {
		b.StopTimer()
		w := newBenchWorld(b)
		p := testPool()
		p.Limits.MaxGPUs = 0
		p.Offerings[0].Boot = 0
		var gpus atomic.Int64
		var readAt atomic.Int64
		pool := scheduler.Pool{Policy: p, Snapshot: func(context.Context) policy.Snapshot {
			g := int(gpus.Load())
			jobs := make([]int, g/8)
			waits := make([]time.Duration, len(jobs))
			for j := range jobs {
				jobs[j], waits[j] = 8, 10*time.Minute
			}
			readAt.Store(time.Now().UnixNano())
			return policy.Snapshot{Time: w.clk.Now(), OnPremGPUs: 8, OnPremBusyGPUs: 8, PendingJobs: len(jobs), PendingGPUs: g,
				PendingJobGPUs: jobs, PendingJobWaits: waits, OldestWait: 10 * time.Minute}
		}}
		s := w.scheduler(b, []scheduler.Pool{pool})
		b.StartTimer()
		for range launchesPerOp {
			gpus.Add(8) // one more 8-GPU job than the pool holds
			w.clk.Step(10 * time.Second)
			before := w.runAt.Load()
			if err := s.Tick(context.Background(), p.Name); err != nil {
				b.Fatal(err)
			}
			at := w.runAt.Load()
			if at == before {
				b.Fatal("the tick made no RunInstances call")
			}
			total += time.Duration(at - readAt.Load())
			launches++
		}
	}
	b.ReportMetric(float64(total.Microseconds())/float64(launches)/1000, "ms/launch")
}

// BenchmarkSweepLongLived is one sweep of a server that has run for months:
// 50 pools with 1,000 live instances on the emulator, and 100,000 rows of
// instances that ended before the sweep grace (the retention keeps them).
func BenchmarkSweepLongLived(b *testing.B) {
	w := newBenchWorld(b)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "state.db"), sqlite.WithSync(sqlite.SyncNormal))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	var pools []scheduler.Pool
	var mu sync.Mutex
	demand := 160 // GPUs per pool: 20 instances of 8
	for i := range 50 {
		p := testPool()
		p.Name = fmt.Sprintf("pool-%02d", i)
		p.Limits.MaxGPUs = 160
		p.Offerings = p.Offerings[:1]
		p.Offerings[0].Boot = 0
		pools = append(pools, scheduler.Pool{Policy: p, AgentURL: func(config.InstanceFields) (string, error) { return w.agent, nil },
			Snapshot: func(context.Context) policy.Snapshot {
				mu.Lock()
				defer mu.Unlock()
				jobs := make([]int, demand/8)
				waits := make([]time.Duration, len(jobs))
				for j := range jobs {
					jobs[j], waits[j] = 8, 10*time.Minute
				}
				return policy.Snapshot{Time: w.clk.Now(), OnPremGPUs: 8, OnPremBusyGPUs: 8, PendingJobs: len(jobs), PendingGPUs: demand,
					PendingJobGPUs: jobs, PendingJobWaits: waits, OldestWait: 10 * time.Minute}
			}})
	}
	s, err := scheduler.New(scheduler.Options{
		Cluster: cluster, Pools: pools, Providers: map[string]providers.Provider{provName: w.prov}, Store: st,
		Clock: w.clk, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	for range 20 {
		if len(w.emu.Instances()) >= 1000 {
			break
		}
		for _, name := range s.Pools() {
			if err := s.Tick(ctx, name); err != nil {
				b.Fatal(err)
			}
		}
		w.clk.Step(10 * time.Second)
	}
	if n := len(w.emu.Instances()); n != 1000 {
		b.Fatalf("setup launched %d instances, want 1000", n)
	}
	ended := w.clk.Now().Add(-24 * time.Hour)
	for i := range 10 {
		rows := make([]state.Instance, 10000)
		for j := range rows {
			rows[j] = state.Instance{ID: fmt.Sprintf("i-%08d%04d", i, j), Provider: provName, Pool: fmt.Sprintf("pool-%02d", j%50), Offering: "p4d",
				InstanceType: gpuType, State: state.InstanceEnded, GPUs: 8, PricePerHour: 32.77, LaunchedAt: ended.Add(-time.Hour),
				EndedAt: ended, UpdatedAt: ended, EndReason: "idle past its break-even"}
		}
		if err := st.PutInstances(ctx, rows); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Sweep(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if n := w.emu.Calls("TerminateInstances"); n != 0 {
		b.Fatalf("the sweep terminated instances (%d calls), want none", n)
	}
}
