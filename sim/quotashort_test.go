package sim

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
	pool := policy.Pool{Name: "q", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
		WaitTarget: policy.Duration(2 * time.Minute), Offerings: []policy.Offering{quotaOffering("aws", 8), quotaOffering("ali", 8)}}
	tr := &trace.Trace{Name: "quota", Start: trace.DefaultEpoch, Jobs: []trace.Job{
		{Submit: 0, Duration: time.Hour, GPUs: 4},
		{Submit: time.Minute, Duration: time.Hour, GPUs: 16},
		{Submit: 2 * time.Minute, Duration: time.Hour, GPUs: 32},
	}}
	return quotaBacktest(t, pool, tr, quota)
}

// quotaOffering is an offering of provider in region r, of gpus GPUs at
// $1 per GPU-hour, billed by the second.
func quotaOffering(provider string, gpus int) policy.Offering {
	return policy.Offering{Name: provider, Provider: provider, Region: "r", InstanceType: "x" + strconv.Itoa(gpus), GPUs: gpus,
		PricePerHour: float64(gpus), Boot: policy.Duration(2 * time.Minute), Billing: policy.BillingPerSecond}
}

// quotaBacktest runs spillway, threshold and onprem-only on tr under
// pool, against quota (nil: no cloud model).
func quotaBacktest(t *testing.T, pool policy.Pool, tr *trace.Trace, quota map[string]int) Report {
	t.Helper()
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

// wantNeverServed checks that each renting policy of rep counts the one
// job of g GPUs never served for why, and none unstarted; onprem-only
// counts never served the jobs larger than on-prem, onprem of them.
func wantNeverServed(t *testing.T, rep Report, g int, why string, onprem int) {
	t.Helper()
	for _, r := range rep.Results {
		w, never := why, 1
		if r.Policy == "onprem-only" {
			w, never = fmt.Sprintf("larger than the %d on-prem GPUs, and onprem-only rents no cloud", rep.OnPremGPUs), onprem
		}
		if r.JobsNeverServed != never || r.JobsUnstarted != 0 || r.NeverServedGPUs != g || r.NeverServedWhy != w {
			t.Errorf("%s: %d never served (largest %d: %q), %d unstarted; want the %d-GPU job never served: %q",
				r.Policy, r.JobsNeverServed, r.NeverServedGPUs, r.NeverServedWhy, r.JobsUnstarted, g, w)
		}
	}
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
	wantNeverServed(t, rep, 32, "larger than the 8 on-prem GPUs, and no provider's quota (simulate.cloud.quota) holds 32 GPUs of one offering", 2)
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

// TestQuotaShortSizesJobsAsTheCloudDoes: a 4-GPU job asking for 90 CPUs
// takes an 8-GPU instance of ali (the 4-GPU one of aws has 48), and ali's
// quota of 4 holds no such instance; it is larger than on-prem's 2 GPUs.
// It runs nowhere, and the note says so with its cloud size (before, the
// note sized it by its 4 GPUs, which aws's quota holds: no note, though
// every policy counted it never served).
func TestQuotaShortSizesJobsAsTheCloudDoes(t *testing.T) {
	small, big := quotaOffering("aws", 4), quotaOffering("ali", 8)
	small.VCPUs, big.VCPUs = 48, 96
	pool := policy.Pool{Name: "q", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 2}, Interval: policy.Duration(30 * time.Second),
		WaitTarget: policy.Duration(2 * time.Minute), Offerings: []policy.Offering{small, big}}
	rep := quotaBacktest(t, pool, &trace.Trace{Name: "quota", Start: trace.DefaultEpoch, Jobs: []trace.Job{{Duration: time.Hour, GPUs: 4, CPUs: 90}}},
		map[string]int{"aws": 100, "ali": 4})
	want := "no provider's quota holds 8 GPUs of one offering (simulate.cloud.quota: ali 4, aws 100): 1 job of the trace's 1, up to 8 GPUs, cannot run on the cloud: " +
		"it is larger than on-prem's 2 GPUs too, so it runs nowhere: the backtest counts it as never served; " +
		"a policy that rents for it holds instances idle, waiting for a gang the quota never completes (see its GPU-hours paid and not used)"
	if !slices.Contains(rep.Notes, want) {
		t.Errorf("notes %q\nwant among them %q", rep.Notes, want)
	}
	wantNeverServed(t, rep, 4, "larger than the 2 on-prem GPUs, and no provider's quota (simulate.cloud.quota) holds 8 GPUs of one offering", 1)
}

// TestQuotaShortWithinTheLimits: a 32-GPU job, on-prem 8: ali's 8-GPU
// offering fits max_gpus 32 but not ali's quota of 24, aws's 12-GPU one
// fits aws's quota but needs 36 GPUs, over max_gpus. No offering takes it
// within both, so it runs nowhere: the note says so and every policy
// counts it never served (before: no note, and it counted unstarted, its
// wait to the run's end in the percentiles).
func TestQuotaShortWithinTheLimits(t *testing.T) {
	pool := policy.Pool{Name: "q", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
		WaitTarget: policy.Duration(2 * time.Minute), Offerings: []policy.Offering{quotaOffering("aws", 12), quotaOffering("ali", 8)},
		Limits: policy.Limits{MaxGPUs: 32}}
	rep := quotaBacktest(t, pool, oneJob(32, time.Hour), map[string]int{"aws": 100, "ali": 24})
	want := "no provider's quota holds 32 GPUs of one offering that the pool's limits allow (simulate.cloud.quota: ali 24, aws 100): 1 job of the trace's 1, up to 32 GPUs, cannot run on the cloud: " +
		"it is larger than on-prem's 8 GPUs too, so it runs nowhere: the backtest counts it as never served; " +
		"a policy that rents for it holds instances idle, waiting for a gang the quota never completes (see its GPU-hours paid and not used)"
	if !slices.Contains(rep.Notes, want) {
		t.Errorf("notes %q\nwant among them %q", rep.Notes, want)
	}
	wantNeverServed(t, rep, 32, "larger than the 8 on-prem GPUs, and no provider's quota (simulate.cloud.quota) holds 32 GPUs of one offering that the pool's limits allow", 1)
}

// TestQuotaShortLeavesOutJobsNoPolicyIsShown: a 32-GPU job of 10 hours
// that no quota holds and that outlasts every instance (max_lifetime 1h,
// drain_timeout 10m) is shown to no policy: CloudUnfinishable's note
// names it, and the quota note, which says a policy renting for it holds
// instances idle, did too (two notes for one job, one untrue).
func TestQuotaShortLeavesOutJobsNoPolicyIsShown(t *testing.T) {
	pool := policy.Pool{Name: "q", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
		WaitTarget: policy.Duration(2 * time.Minute), Offerings: []policy.Offering{quotaOffering("aws", 8)},
		ScaleIn: policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}, MaxLifetime: policy.Duration(time.Hour), DrainTimeout: policy.Duration(10 * time.Minute)}}
	rep := quotaBacktest(t, pool, oneJob(32, 10*time.Hour), map[string]int{"aws": 16})
	if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "longer than scale_in.max_lifetime + drain_timeout") {
		t.Errorf("notes %q: want CloudUnfinishable's alone", rep.Notes)
	}
}
