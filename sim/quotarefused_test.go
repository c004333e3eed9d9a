package sim

import (
	"context"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// TestQuotaRefusedEvaluationsFormatNothing: an 8-GPU job that only an
// offering held under 8 GPUs by its provider's quota can take, with the
// quota's block shorter than an evaluation, has the spillway policy plan
// a launch the quota refuses at every evaluation for a day (the property
// test's case 292 did so about 828,000 times and took minutes). The
// simulator reads no plan's notes or reasons, nor the floors' reasons, so
// it must not pay for their formatting: the run gives the result it gives
// with policy.Decide and policy.ScheduleFloors, in under half their
// allocations per evaluation.
func TestQuotaRefusedEvaluationsFormatNothing(t *testing.T) {
	eight := policy.Offering{Name: "eight", Provider: "aws", Region: "r0", InstanceType: "x8", GPUs: 8, PricePerHour: 20,
		Boot: policy.Duration(2 * time.Minute), Billing: policy.BillingPerSecond}
	one := policy.Offering{Name: "one", Provider: "gcp", Region: "r1", InstanceType: "x1", GPUs: 1, PricePerHour: 3,
		Boot: policy.Duration(2 * time.Minute), Billing: policy.BillingPerSecond}
	pool := policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 4}, Interval: policy.Duration(30 * time.Second),
		WaitTarget: policy.Duration(5 * time.Minute), Offerings: []policy.Offering{eight, one},
		Schedules: []policy.Schedule{{Name: "day", Cron: "0 8 * * *", Duration: policy.Duration(10 * time.Hour), GPUs: 2}}}
	cloud := &Cloud{Seed: 1, Quota: map[string]int{"aws": 6}, QuotaTTL: 5 * time.Second}
	tr := &trace.Trace{Name: "quota", Start: trace.DefaultEpoch, Jobs: []trace.Job{
		{Submit: 0, Duration: 20 * time.Hour, GPUs: 4},
		{Submit: time.Minute, Duration: time.Hour, GPUs: 8},
	}}
	run := func(decide DecideFunc, floors func(*policy.Pool, time.Time) []policy.Floor) (Result, float64) {
		t.Helper()
		defer func(was DecideFunc) { engineDecide = was }(engineDecide)
		engineDecide = decide
		p := pool
		var c workCounts
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		res, err := Run(context.Background(), Options{Pool: &p, Trace: tr, Policy: Spillway(), Cloud: cloud, Floors: floors, counts: &c})
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		if c.evals < 2000 {
			t.Fatalf("%d evaluations: the quota did not hold the job for a day", c.evals)
		}
		return res, float64(after.Mallocs-before.Mallocs) / float64(c.evals)
	}
	got, quiet := run(engineDecide, scheduleFloors)
	want, noisy := run(policy.Decide, func(pool *policy.Pool, now time.Time) []policy.Floor { return policy.ScheduleFloors(*pool, now) })
	if got.FailedLaunches["quota"] < 2000 {
		t.Fatalf("%d launches refused for quota, want one at every evaluation for a day", got.FailedLaunches["quota"])
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the run differs from the one with policy.Decide's notes and reasons:\n%+v\n%+v", got, want)
	}
	t.Logf("%.1f allocations per evaluation, %.1f with notes and reasons", quiet, noisy)
	if quiet > noisy/2 {
		t.Errorf("%.1f allocations per evaluation, %.1f with the notes and reasons no one reads: they are still formatted", quiet, noisy)
	}
}
