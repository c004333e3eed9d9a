package sim

import (
	"context"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// quotaShortBacktest is a pool of 8 on-prem GPUs renting 8-GPU instances
// on aws and ali, and a trace of a 4-, a 16- and a 32-GPU job of an hour,
// each policy run against quota (nil: none).
func quotaShortBacktest(t *testing.T, quota map[string]int) Report {
	t.Helper()
	off := func(provider string) policy.Offering {
		return policy.Offering{Name: provider, Provider: provider, Region: "r", InstanceType: "x8", GPUs: 8, PricePerHour: 8,
			Boot: policy.Duration(2 * time.Minute), Billing: policy.BillingPerSecond}
	}
	pool := policy.Pool{Name: "q", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
		WaitTarget: policy.Duration(2 * time.Minute), Offerings: []policy.Offering{off("aws"), off("ali")}}
	tr := &trace.Trace{Name: "quota", Start: trace.DefaultEpoch, Jobs: []trace.Job{
		{Submit: 0, Duration: time.Hour, GPUs: 4},
		{Submit: time.Minute, Duration: time.Hour, GPUs: 16},
		{Submit: 2 * time.Minute, Duration: time.Hour, GPUs: 32},
	}}
	var cloud *Cloud
	if quota != nil {
		cloud = &Cloud{Seed: 1, Quota: quota}
	}
	rep, err := Backtest{Pool: pool, Trace: tr, Policies: []Policy{Spillway(), Threshold(), OnPremOnly()}, Cloud: cloud}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestQuotaShortJobNeverServed: with quotas of 24 GPUs on aws and 16 on
// ali, no gang of 32 GPUs of one offering can be had, and the job is
// larger than on-prem: it runs nowhere. The report says so in a note, and
// each policy counts it as never served, saying why (before, the note was
// missing and it counted as unstarted, its wait to the trace's end in the
// percentiles). Without quotas the 32-GPU job runs (a guard).
func TestQuotaShortJobNeverServed(t *testing.T) {
	rep := quotaShortBacktest(t, map[string]int{"aws": 24, "ali": 16})
	want := "no provider's quota holds 32 GPUs of one offering (simulate.cloud.quota: ali 16, aws 24): 1 job of the trace's 3, up to 32 GPUs, cannot run on the cloud: " +
		"it is larger than on-prem's 8 GPUs too, so it runs nowhere: the backtest counts it as never served; " +
		"a policy that rents for it holds instances idle, waiting for a gang the quota never completes (see its GPU-hours paid and not used)"
	if len(rep.Notes) != 1 || rep.Notes[0] != want {
		t.Errorf("notes %q\nwant %q", rep.Notes, want)
	}
	for _, r := range rep.Results {
		why, never := "larger than the 8 on-prem GPUs, and no provider's quota (simulate.cloud.quota) holds 32 GPUs of one offering", 1
		if r.Policy == "onprem-only" {
			why, never = "larger than the 8 on-prem GPUs, and onprem-only rents no cloud", 2
		}
		if r.JobsNeverServed != never || r.JobsUnstarted != 0 || r.NeverServedGPUs != 32 || r.NeverServedWhy != why {
			t.Errorf("%s: %d never served (largest %d: %q), %d unstarted; want the 32-GPU job never served: %q",
				r.Policy, r.JobsNeverServed, r.NeverServedGPUs, r.NeverServedWhy, r.JobsUnstarted, why)
		}
	}
	rep = quotaShortBacktest(t, nil)
	if len(rep.Notes) != 0 {
		t.Errorf("no quota: notes %q", rep.Notes)
	}
	for _, r := range rep.Results {
		if r.Policy != "onprem-only" && (r.JobsNeverServed != 0 || r.JobsUnstarted != 0) {
			t.Errorf("no quota: %s: %d never served, %d unstarted", r.Policy, r.JobsNeverServed, r.JobsUnstarted)
		}
	}
}

// TestQuotaHolds: the offering rule of policy.CloudHolds under quotas
// per provider and per provider/region; a 16-GPU gang of 8-GPU instances
// needs 16 of the quota, a whole_jobs pool spans only its largest
// offering.
func TestQuotaHolds(t *testing.T) {
	pool := modelPool(8, 1)
	for _, tt := range []struct {
		quota map[string]int
		g     int
		whole bool
		want  bool
	}{
		{map[string]int{"aws": 16}, 16, false, true},
		{map[string]int{"aws": 15}, 16, false, false},
		{map[string]int{"aws/r": 8}, 9, false, false},
		{map[string]int{"aws/x": 8}, 9, false, true},
		{map[string]int{"aws": 8}, 8, true, true},
		{map[string]int{"aws": 16}, 16, true, true},
	} {
		p := *pool
		p.WholeJobs = tt.whole
		if got := quotaHolds(&p, tt.quota, tt.g); got != tt.want {
			t.Errorf("quota %v, %d GPUs, whole %v: %v, want %v", tt.quota, tt.g, tt.whole, got, tt.want)
		}
	}
}
