package signals_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/spillway-io/spillway/internal/fixture"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/signals"
	httpdemand "github.com/spillway-io/spillway/signals/queue/http"
	redisdemand "github.com/spillway-io/spillway/signals/queue/redis"
)

// TestJobWaitsReachTheEngine: a queue that reports each job's wait lets
// the engine launch for the one job that would otherwise wait past the
// target and leave the young one to on-prem, as the backtest's spillway
// does; the same queue without the waits launches for both once the
// oldest is due.
func TestJobWaitsReachTheEngine(t *testing.T) {
	queue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// An 8-GPU job waiting 9 minutes, another just submitted.
		io.WriteString(w, `{"pending": {"job_gpus": [8, 8], "job_wait_seconds": [540, 5], "oldest_wait_seconds": 540}}`)
	}))
	defer queue.Close()
	pool := policy.Pool{
		Name: "train", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8},
		WaitTarget: policy.Duration(10 * time.Minute), Interval: policy.Duration(30 * time.Second),
		Offerings: []policy.Offering{{Name: "p4d", Provider: "aws", Region: "us-east-1", InstanceType: "p4d.24xlarge", GPUs: 8,
			PricePerHour: 32.77, Boot: policy.Duration(3 * time.Minute), Market: policy.MarketOnDemand, Performance: 1,
			Billing: policy.BillingPerSecondMin60}},
		Limits: policy.Limits{MaxGPUs: 64},
	}
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	launched := func(cfg httpdemand.Config) (int, policy.Snapshot) {
		cfg.URL = queue.URL
		src, err := httpdemand.New(cfg, httpdemand.WithNow(clock))
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		snap := signals.Read(context.Background(), pool, clock, nil, []signals.DemandSource{src})
		if len(snap.Stale) > 0 {
			t.Fatalf("stale signals: %q", snap.Stale)
		}
		n := 0
		for _, l := range policy.Decide(&pool, snap, nil, policy.Spend{}, now).Launches {
			n += l.Count
		}
		return n, snap
	}

	n, snap := launched(httpdemand.Config{JobGPUs: "pending.job_gpus", JobWaitSeconds: "pending.job_wait_seconds"})
	if n != 1 || len(snap.PendingJobWaits) != 2 || snap.OldestWait != 9*time.Minute {
		t.Errorf("with each job's wait: %d instances launched (snapshot waits %v, oldest %v); want 1, for the job waiting 9m, the new one left to on-prem",
			n, snap.PendingJobWaits, snap.OldestWait)
	}
	n, snap = launched(httpdemand.Config{JobGPUs: "pending.job_gpus", OldestWaitSeconds: "pending.oldest_wait_seconds"})
	if n != 2 || snap.PendingJobWaits != nil || snap.OldestWait != 9*time.Minute {
		t.Errorf("with the oldest wait only: %d instances launched (snapshot waits %v, oldest %v); want 2, the whole queue once its oldest is due",
			n, snap.PendingJobWaits, snap.OldestWait)
	}
}

// TestUniformJobSizesReachTheEngine: a Redis list of 8-GPU jobs read with
// gpus_per_job is two 8-GPU jobs to the engine, which rents one 8-GPU
// instance for each; read as 16 GPUs of unknown jobs it would rent sixteen
// cheaper one-GPU instances, none of which could run them.
func TestUniformJobSizesReachTheEngine(t *testing.T) {
	srv, err := fixture.StartRedis()
	if err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	defer srv.Stop()
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr, DisableIdentity: true})
	defer c.Close()
	if err := c.RPush(context.Background(), "jobs", "train-a", "train-b").Err(); err != nil {
		t.Fatal(err)
	}
	src, err := redisdemand.New(redisdemand.Config{Addr: srv.Addr, Key: "jobs", Type: redisdemand.TypeList, GPUsPerJob: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	boot := policy.Duration(3 * time.Minute)
	pool := policy.Pool{
		Name: "train", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8},
		WaitTarget: policy.Duration(0), Interval: policy.Duration(30 * time.Second),
		Offerings: []policy.Offering{
			{Name: "g1", Provider: "aws", Region: "us-east-1", InstanceType: "g1.xlarge", GPUs: 1, PricePerHour: 3,
				Boot: boot, Market: policy.MarketOnDemand, Performance: 1, Billing: policy.BillingPerSecondMin60},
			{Name: "p4d", Provider: "aws", Region: "us-east-1", InstanceType: "p4d.24xlarge", GPUs: 8, PricePerHour: 32.77,
				Boot: boot, Market: policy.MarketOnDemand, Performance: 1, Billing: policy.BillingPerSecondMin60},
		},
		Limits: policy.Limits{MaxGPUs: 64},
	}
	now := time.Now()
	snap := signals.Read(context.Background(), pool, func() time.Time { return now }, nil, []signals.DemandSource{src})
	if len(snap.Stale) > 0 || len(snap.PendingJobGPUs) != 2 {
		t.Fatalf("snapshot job sizes %v (stale %q), want [8 8]", snap.PendingJobGPUs, snap.Stale)
	}
	var got []string
	for _, l := range policy.Decide(&pool, snap, nil, policy.Spend{}, now).Launches {
		got = append(got, fmt.Sprintf("%d×%s", l.Count, l.Offering.Name))
	}
	if fmt.Sprint(got) != "[2×p4d]" {
		t.Errorf("launched %v, want [2×p4d]: one 8-GPU instance per 8-GPU job", got)
	}
}

// TestFragmentsDoNotHoldTheQueue: free on-prem GPUs spread over nodes so
// that no node has room for the pending 4-GPU job do not count as room for
// it: the engine launches for the job rather than wait for on-prem to take
// it, which it never would.
func TestFragmentsDoNotHoldTheQueue(t *testing.T) {
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	var gpus []signals.GPU
	for i := range 16 {
		node := fmt.Sprintf("n%d", i/8+1)
		busy := i%8 >= 3 // n1 and n2: 3 free GPUs each
		gpus = append(gpus, signals.GPU{Node: node, Index: i % 8, Busy: busy, Allocated: busy, Idle: !busy})
	}
	base := &signals.BaselineReading{Source: "agents:r1", Baseline: signals.Baseline{Time: now, GPUs: gpus}}
	demand := signals.DemandReading{Source: "slurm:gpu", Demand: signals.Demand{Time: now, PendingJobs: 1, PendingGPUs: 4, PendingGPUsKnown: true,
		JobGPUs: []int{4}, JobWaits: []time.Duration{time.Hour}, OldestWait: time.Hour, OldestWaitKnown: true}}
	pool := policy.Pool{
		Name: "train", OnPrem: policy.OnPrem{Nodes: 2, GPUsPerNode: 8},
		WaitTarget: policy.Duration(10 * time.Minute), Interval: policy.Duration(30 * time.Second), StaleAfter: policy.Duration(time.Minute),
		Offerings: []policy.Offering{{Name: "p4d", Provider: "aws", Region: "us-east-1", InstanceType: "p4d.24xlarge", GPUs: 8,
			PricePerHour: 32.77, Boot: policy.Duration(3 * time.Minute), Market: policy.MarketOnDemand, Performance: 1,
			Billing: policy.BillingPerSecondMin60}},
		Limits: policy.Limits{MaxGPUs: 64},
	}
	snap := signals.Assemble(pool, now, base, []signals.DemandReading{demand})
	plan := policy.Decide(&pool, snap, nil, policy.Spend{}, now)
	if snap.OnPremFreeGPUs != 0 || len(plan.Launches) != 1 || plan.Launches[0].Count != 1 {
		t.Errorf("free on-prem %d (of %d idle), launches %+v; want 0 free for a 4-GPU job and one instance launched for it (notes %q)",
			snap.OnPremFreeGPUs, snap.OnPremGPUs-snap.OnPremBusyGPUs, plan.Launches, plan.Notes)
	}
}
