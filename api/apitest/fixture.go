package apitest

import (
	"context"
	"fmt"
	"time"

	"github.com/spillway-io/spillway/api"
)

// FixtureTime is the fixture's "now".
var FixtureTime = time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)

// Fixture returns a backend holding a small, fixed scene at FixtureTime: pool
// training (bursting, with a schedule floor, a manual burst b-0001 by alice,
// three instances and decisions with reasons) and pool inference (quiet,
// refusing manual bursts).
func Fixture(now func() time.Time) *Memory {
	m := NewMemory("acme-research", now)
	t0 := FixtureTime
	m.AddPool(api.PoolDetail{
		Name: "training",
		Snapshot: api.Snapshot{Time: t0.Add(-20 * time.Second), OnPremTotal: 32, OnPremBusy: 30, IdleAllocated: 2, OnPremUnhealthy: 8,
			PendingJobs: 6, PendingGPUs: 24, OldestWait: api.Duration(12 * time.Minute),
			Held:    []api.Held{{What: "aws-p5-ondemand", Why: "out of stock", Until: t0.Add(7 * time.Minute)}},
			LeftOut: []string{"slurm:gpu: 2 jobs pending for QOSMaxGRESPerUser"}, CountedLarger: 1},
		Spend: api.Spend{PeriodStart: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), PeriodEnd: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
			Accrued: 1234.56, Budget: 20000, PerHour: 86.08},
		Manual: api.ManualLimits{MaxGPUs: 32, MaxTTL: api.Duration(12 * time.Hour)},
		Floors: []api.Floor{{Kind: "schedule", Owner: "weekday-peak", Reason: "cron CRON_TZ=Europe/Berlin 0 8 * * 1-5", GPUs: 16, Until: time.Date(2026, 11, 29, 17, 0, 0, 0, time.UTC),
			Waiting: `floor "weekday-peak" wants 8 more burst GPUs (1 × aws-p5-ondemand): launching 0; limit max_cost_per_hour $100.00 (burst costs $86.08/h, aws-p5-ondemand is $98.32/h)`, HeldBy: "max_cost_per_hour"}},
		Instances: []api.Instance{
			{ID: "i-0a1b2c3d4e5f60001", Pool: "training", Provider: "aws-use1", Offering: "aws-p5-spot", InstanceType: "p5.48xlarge", Zone: "us-east-1a", Spot: true, GPUs: 8, BusyGPUs: 8, State: "running", LaunchedAt: t0.Add(-95 * time.Minute), PricePerHour: 31.04, Floor: "weekday-peak"},
			{ID: "i-0a1b2c3d4e5f60002", Pool: "training", Provider: "aws-use1", Offering: "aws-p5-spot", InstanceType: "p5.48xlarge", Zone: "us-east-1b", Spot: true, GPUs: 8, BusyGPUs: 0, State: "booting", LaunchedAt: t0.Add(-3 * time.Minute), PricePerHour: 31.04, Floor: "alice", Burst: "b-0001"},
			{ID: "i-bp1abcdefghijk0003", Pool: "training", Provider: "ali-hz", Offering: "ali-a100-ondemand", InstanceType: "ecs.gn7e-c16g1.16xlarge", Zone: "cn-hangzhou-i", GPUs: 4, BusyGPUs: 3, State: "running", LaunchedAt: t0.Add(-40 * time.Minute), PricePerHour: 24.00},
		},
		LastPlan: &api.Plan{Time: t0.Add(-20 * time.Second), Actions: []api.Action{
			{Kind: "launch", Offering: "aws-p5-spot", Count: 1, Reason: "manual burst b-0001 (alice) holds 8 GPUs until 11:00"},
		}, Notes: []string{"16 GPUs still pending: the next offering aws-p5-ondemand is over max_dollars_per_hour 400"}},
	}, timeline(t0, 32))
	m.AddPool(api.PoolDetail{
		Name: "inference",
		Snapshot: api.Snapshot{Time: t0.Add(-20 * time.Second), OnPremTotal: 16, OnPremBusy: 9, OldestWait: api.Duration(90*time.Second + 400*time.Millisecond),
			Stale: []string{`queue: http source "queue": GET http://127.0.0.1:8799/queue: connection refused`}},
		Spend: api.Spend{PeriodStart: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), PeriodEnd: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
	}, timeline(t0, 16))

	for _, d := range []api.Decision{
		{Pool: "training", Time: t0.Add(-95 * time.Minute), Kind: "launch", Offering: "aws-p5-spot", Count: 1, Instances: []string{"i-0a1b2c3d4e5f60001"}, Reason: "schedule weekday-peak holds 16 GPUs until 17:00; cheapest per useful GPU-hour: aws-p5-spot at $3.88"},
		{Pool: "training", Time: t0.Add(-41 * time.Minute), Kind: "launch", Offering: "aws-p5-ondemand", Count: 1, Reason: "capacity: aws-p5-ondemand in us-east-1a is out of stock (InsufficientInstanceCapacity); skipped for 10m"},
		{Pool: "training", Time: t0.Add(-40 * time.Minute), Kind: "launch", Offering: "ali-a100-ondemand", Count: 1, Instances: []string{"i-bp1abcdefghijk0003"}, Reason: "24 GPUs pending beyond 0 free on-prem GPUs for 12m (wait target 5m): next cheapest ali-a100-ondemand at $6.00 per useful GPU-hour"},
		{Pool: "inference", Time: t0.Add(-30 * time.Minute), Kind: "terminate", Instances: []string{"i-0ffeeffeeffee0009"}, Reason: "drained: idle 25m, and keeping it ($31.04/h) costs more than booting a replacement later ($2.60)"},
		{Pool: "training", Time: t0.Add(-3 * time.Minute), Kind: "launch", Offering: "aws-p5-spot", Count: 1, Instances: []string{"i-0a1b2c3d4e5f60002"}, Reason: "manual burst b-0001 (alice) holds 8 GPUs until 11:00"},
	} {
		m.AddDecision(d)
	}
	// alice's burst, created three minutes before FixtureTime.
	saved := m.now
	m.now = func() time.Time { return t0.Add(-3 * time.Minute) }
	if _, err := m.CreateBurst(context.Background(), api.CreateBurstRequest{Pool: "training", GPUs: 8, For: api.Duration(2*time.Hour + 3*time.Minute), Reason: "INC-4211: eval backlog before the release"}, "alice"); err != nil {
		panic(err)
	}
	m.now = saved
	return m
}

// timeline is six hours of samples every 5 minutes, the same every run.
func timeline(t0 time.Time, onprem int) []api.TimelinePoint {
	var out []api.TimelinePoint
	spend := 900.0
	for i := 72; i >= 0; i-- {
		t := t0.Add(-time.Duration(i) * 5 * time.Minute)
		k := 72 - i
		busy := onprem - (k*7)%5
		cloud := 0
		if k > 40 {
			cloud = 8 + 4*((k/6)%2)
		}
		queued := (k * 5) % 29
		spend += float64(cloud) * 0.55
		out = append(out, api.TimelinePoint{Time: t, OnPremBusy: busy, CloudGPUs: cloud, QueuedGPUs: queued, Spend: spend})
	}
	return out
}

// Large returns a backend with one pool "big" holding the given numbers of
// instances and decisions, for benchmarks.
func Large(now func() time.Time, instances, decisions int) *Memory {
	m := NewMemory("bench", now)
	t0 := FixtureTime
	d := api.PoolDetail{
		Name:     "big",
		Snapshot: api.Snapshot{Time: t0, OnPremTotal: 4096, OnPremBusy: 4000, PendingJobs: 300, PendingGPUs: 900},
		Spend:    api.Spend{Accrued: 123456, Budget: 500000, PerHour: 9999},
		Manual:   api.ManualLimits{MaxGPUs: 64},
		LastPlan: &api.Plan{Time: t0, Actions: []api.Action{{Kind: "launch", Offering: "aws-p5-spot", Count: 10, Reason: "overflow"}}},
	}
	states := []string{"booting", "running", "running", "running", "draining"}
	for i := range instances {
		d.Instances = append(d.Instances, api.Instance{ID: fmt.Sprintf("i-%017d", i), Pool: "big", Provider: "aws-use1",
			Offering: fmt.Sprintf("aws-off-%d", i%7), InstanceType: "p5.48xlarge", Zone: "us-east-1a", Spot: i%2 == 0,
			GPUs: 8, BusyGPUs: i % 9, State: states[i%len(states)], LaunchedAt: t0.Add(-time.Duration(i) * time.Second), PricePerHour: 31.04})
	}
	m.AddPool(d, timeline(t0, 4096))
	for i := range decisions {
		m.AddDecision(api.Decision{Pool: "big", Time: t0.Add(-time.Duration(decisions-i) * time.Second), Kind: "launch",
			Offering: "aws-p5-spot", Count: 1, Reason: "overflow: pending GPUs beyond free on-prem GPUs for longer than the wait target"})
	}
	return m
}
