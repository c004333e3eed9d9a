package sim

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

func loadTestTrace(t testing.TB, name string) *trace.Trace {
	t.Helper()
	tr, err := trace.Load(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// offering4 costs $3.60 an hour for 4 GPUs ($0.001 a second, $0.90 per
// GPU-hour), boots in 60 s and bills per second.
var offering4 = policy.Offering{Name: "four", Provider: "p", InstanceType: "x4", GPUs: 4, PricePerHour: 3.6,
	Boot: policy.Duration(time.Minute), Billing: policy.BillingPerSecond}

// burstOnce launches one offering4 when jobs are pending and nothing is
// running or booting, and drains idle instances: a stand-in decision
// function for the simulator's own tests.
var burstOnce = burstN(1)

// burstN is burstOnce launching n instances.
func burstN(n int) DecideFunc {
	return func(pool *policy.Pool, snap policy.Snapshot, insts []policy.Instance, _ policy.Spend, now time.Time) policy.Plan {
		plan := policy.Plan{Pool: pool.Name, Time: now}
		if snap.PendingJobs > 0 && len(insts) == 0 {
			plan.Launches = append(plan.Launches, policy.Launch{Offering: offering4, Count: n, Reason: "pending"})
		}
		for _, in := range insts {
			if in.State == policy.StateRunning && in.BusyGPUs == 0 {
				plan.Drains = append(plan.Drains, policy.Action{InstanceID: in.ID, Reason: "idle"})
			}
		}
		return plan
	}
}

func TestRunHandComputed(t *testing.T) {
	tests := []struct {
		name     string
		trace    string
		nodes    int
		perNode  int
		offers   []policy.Offering
		pol      Policy
		want     Result
		wantCost float64
	}{
		{
			// One 4-GPU node. A (4 GPUs) runs 0-100. At 100 B (2) and C (1)
			// start in arrival order: waits 90 and 80; D (4) waits for B to
			// end at 150: wait 120. Sorted waits 0, 80, 90, 120: p50 is the
			// 2nd (80), p95 and p99 the 4th (120).
			name: "queue", trace: "queue.csv", nodes: 1, perNode: 4, pol: OnPremOnly(),
			want: Result{Policy: PolicyOnPremOnly, Efficiency: 1, WaitP50S: 80, WaitP95S: 120, WaitP99S: 120, WaitMaxS: 120},
		},
		{
			// A (3) runs 0-100; B (4) does not fit and waits until 100 (99 s);
			// C (1), behind B, backfills at once.
			name: "backfill", trace: "backfill.csv", nodes: 1, perNode: 4, pol: OnPremOnly(),
			want: Result{Policy: PolicyOnPremOnly, Efficiency: 1, WaitP50S: 0, WaitP95S: 99, WaitP99S: 99, WaitMaxS: 99},
		},
		{
			// Two 4-GPU nodes. A (6 GPUs) takes both whole nodes 0-100, so B
			// (4) and C (1) wait until 100: 95 and 94 s.
			name: "multinode", trace: "multinode.csv", nodes: 2, perNode: 4, pol: OnPremOnly(),
			want: Result{Policy: PolicyOnPremOnly, Efficiency: 1, WaitP50S: 94, WaitP95S: 95, WaitP99S: 95, WaitMaxS: 95},
		},
		{
			// One 2-GPU node. A (2) runs on-prem 0-600. B (4 GPUs, at 10) is
			// larger than the node. Tick at 30 s sees it pending and launches
			// one 4-GPU instance, ready at 90: B waits 80 s and runs 90-390.
			// The tick at 390 drains the idle instance, which ends at once.
			// Billed 30-390 = 360 s × $0.001 = $0.36 = 0.4 paid GPU-hours;
			// used 4 × 300 s = 1/3 GPU-hour; efficiency (1/3 × $0.90) / $0.36.
			name: "burst", trace: "burst.csv", nodes: 1, perNode: 2, offers: []policy.Offering{offering4},
			pol: Policy{Name: "stand-in", Interval: 30 * time.Second, New: func() DecideFunc { return burstOnce }},
			want: Result{Policy: "stand-in", CloudCostUSD: 0.36, PaidGPUHours: 0.4, UsedGPUHours: 1.0 / 3,
				Efficiency: (1.0 / 3 * 0.9) / 0.36, WaitP50S: 0, WaitP95S: 80, WaitP99S: 80, WaitMaxS: 80, JobsOnCloud: 1, Launches: 1},
		},
		{
			// Slurm-style per-job: one 2-GPU node holds A. B and C (1 GPU
			// each, at 5 and 6 s) queue; the tick at 30 s resumes one node
			// each, the cheapest that fits ($1/h, 1 GPU), ready at 90: waits
			// 85 and 84. Both end at 190; the first tick with 300 s of idle
			// is 510 (480 has only 290), which suspends them. Billed
			// 2 × 480 s × $1/h = $0.26667; used 2 × 100 s = 0.05556 GPU-h;
			// cheapest per GPU-hour is the 4-GPU node ($0.75), so
			// efficiency is 0.05556 × 0.75 / 0.26667.
			name: "per-job", trace: "perjob.csv", nodes: 1, perNode: 2,
			offers: []policy.Offering{
				{Name: "one", GPUs: 1, PricePerHour: 1, Boot: policy.Duration(time.Minute), Billing: policy.BillingPerSecond},
				{Name: "four", GPUs: 4, PricePerHour: 3, Boot: policy.Duration(time.Minute), Billing: policy.BillingPerSecond},
			},
			pol: PerJob(),
			want: Result{Policy: PolicyPerJob, CloudCostUSD: 960.0 / 3600, PaidGPUHours: 960.0 / 3600, UsedGPUHours: 200.0 / 3600,
				Efficiency: (200.0 / 3600 * 0.75) / (960.0 / 3600), WaitP50S: 84, WaitP95S: 85, WaitP99S: 85, WaitMaxS: 85, JobsOnCloud: 2, Launches: 2},
		},
		{
			// Target tracking pays for headroom: one 2-GPU node fully busy is
			// 100% utilisation, so the tick at 0 launches one 4-GPU instance
			// (want ceil(2/0.8) = 3 GPUs in all). It never runs a job; after
			// A ends at 1000 the tick at 1020 drains it. Billed 1020 s at
			// $0.001/s = $1.02 for nothing: efficiency 0.
			name: "threshold", trace: "headroom.csv", nodes: 1, perNode: 2, offers: []policy.Offering{offering4},
			pol:  Threshold(),
			want: Result{Policy: PolicyThreshold, CloudCostUSD: 1.02, PaidGPUHours: 1.02 / 3.6 * 4, Launches: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: tt.nodes, GPUsPerNode: tt.perNode},
				Interval: policy.Duration(30 * time.Second), Offerings: tt.offers}
			got, err := Run(context.Background(), Options{Pool: pool, Trace: loadTestTrace(t, tt.trace), Policy: tt.pol})
			if err != nil {
				t.Fatal(err)
			}
			w := tt.want
			if got.Policy != w.Policy || !near(got.CloudCostUSD, w.CloudCostUSD) || !near(got.PaidGPUHours, w.PaidGPUHours) ||
				!near(got.UsedGPUHours, w.UsedGPUHours) || !near(got.Efficiency, w.Efficiency) ||
				got.WaitP50S != w.WaitP50S || got.WaitP95S != w.WaitP95S || got.WaitP99S != w.WaitP99S || got.WaitMaxS != w.WaitMaxS ||
				got.JobsOnCloud != w.JobsOnCloud || got.Launches != w.Launches || got.JobsUnstarted != 0 || got.JobsKilled != 0 {
				t.Errorf("\n got %+v\nwant %+v", got, w)
			}
		})
	}
}

func job(submit, dur float64, gpus int) trace.Job {
	return trace.Job{Submit: time.Duration(submit * float64(time.Second)), Duration: time.Duration(dur * float64(time.Second)), GPUs: gpus}
}

// TestWholeJobs: a job of twice an instance's GPUs and two idle instances.
// Jobs that may span instances run across both when each has at least
// policy.SpanMinGPUs GPUs (two 8-GPU instances for a 16-GPU job), never
// across small shapes (two 1-GPU instances for a 2-GPU job); with
// whole_jobs, and an offering in the pool that holds the job, it waits for
// that.
func TestWholeJobs(t *testing.T) {
	for _, g := range []int{1, 8} {
		small := policy.Offering{Name: "small", GPUs: g, PricePerHour: float64(g), Billing: policy.BillingPerSecond}
		big := policy.Offering{Name: "big", GPUs: 2 * g, PricePerHour: float64(2 * g), Billing: policy.BillingPerSecond}
		twoSmall := func(pool *policy.Pool, snap policy.Snapshot, insts []policy.Instance, _ policy.Spend, now time.Time) policy.Plan {
			plan := policy.Plan{Pool: pool.Name, Time: now}
			if snap.PendingJobs > 0 && len(insts) == 0 {
				plan.Launches = append(plan.Launches, policy.Launch{Offering: small, Count: 2, Reason: "pending"})
			}
			return plan
		}
		for _, whole := range []bool{false, true} {
			pool := &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 0, GPUsPerNode: 8}, WholeJobs: whole,
				Interval: policy.Duration(30 * time.Second), Offerings: []policy.Offering{small, big}}
			tr := &trace.Trace{Name: "one-job", Jobs: []trace.Job{job(0, 100, 2*g)}}
			got, err := Run(context.Background(), Options{Pool: pool, Trace: tr,
				Policy: Policy{Name: "two-small", New: func() DecideFunc { return twoSmall }}})
			if err != nil {
				t.Fatal(err)
			}
			spans := !whole && g >= policy.SpanMinGPUs
			if spans && got.JobsOnCloud != 1 {
				t.Errorf("%d-GPU instances, whole_jobs %v: the %d-GPU job did not run across two: %+v", g, whole, 2*g, got)
			}
			if !spans && (got.JobsOnCloud != 0 || got.JobsUnstarted != 1) {
				t.Errorf("%d-GPU instances, whole_jobs %v: the %d-GPU job ran across two: %+v", g, whole, 2*g, got)
			}
		}
	}
}

// TestRunRefusesDisorderedTraces: a trace built in code must be in submit
// order from 0 with positive durations and GPUs, as trace.Load makes it; a
// benchmark's generated trace whose times wrapped around once ran as
// garbage instead of failing.
func TestRunRefusesDisorderedTraces(t *testing.T) {
	pool := &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}}
	for _, tt := range []struct {
		name string
		jobs []trace.Job
		want string
	}{
		{"out of order", []trace.Job{job(10, 60, 1), job(5, 60, 1)}, `job 2 is submitted at 5s, before the job ahead of it (10s)`},
		{"before 0", []trace.Job{job(-1, 60, 1)}, `job 1 is submitted at -1s, before the trace's start`},
		{"no duration", []trace.Job{job(0, 0, 1)}, `job 1 runs 0s on 1 GPUs: want a positive duration and GPU count`},
		{"no GPUs", []trace.Job{job(0, 60, 0)}, `job 1 runs 1m0s on 0 GPUs`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), Options{Pool: pool, Trace: &trace.Trace{Name: "built", Jobs: tt.jobs}, Policy: OnPremOnly()})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}

// TestInstByID: a plan names instances by the IDs the run gave out, and
// only those: the ID holds the instance's index.
func TestInstByID(t *testing.T) {
	s := &state{slotOf: make([]int32, 3)}
	for id, want := range map[string]int32{"sim-1": 0, "sim-3": 2, "sim-4": -1, "sim-0": -1, "sim-01": -1, "sim-+1": -1, "sim--1": -1, "sim-": -1, "i-1": -1, "": -1, "sim-99999999999999999999": -1} {
		ii, ok := s.instByID(id)
		if ok != (want >= 0) || (ok && ii != want) {
			t.Errorf("instByID(%q) = %d, %v; want %d", id, ii, ok, want)
		}
	}
	if id := instID(2); id != "sim-3" {
		t.Errorf("instID(2) = %q, want sim-3", id)
	}
}
