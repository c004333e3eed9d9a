package main

import (
	"testing"
	"time"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/state"
)

// TestHeldOf: the operator's list of what is held out of launches says
// why: out of stock, a failed launch the capacity cache names, left
// unused by the queue, a quota error, a provider backing off or refusing
// requests as invalid; lapsed entries are left out.
func TestHeldOf(t *testing.T) {
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	p4d := policy.Offering{Name: "p4d", Provider: "aws", Region: "us-east-1", InstanceType: "p4d.24xlarge"}
	p5 := policy.Offering{Name: "p5", Provider: "aws", Region: "us-east-1", InstanceType: "p5.48xlarge", Market: policy.MarketSpot}
	gn7 := policy.Offering{Name: "gn7", Provider: "ali", Region: "cn-hangzhou", InstanceType: "ecs.gn7"}
	gone := policy.OfferingKey{Provider: "aws", Region: "us-west-2", InstanceType: "g5.xlarge", Market: policy.MarketOnDemand}
	pool := &policy.Pool{Offerings: []policy.Offering{p4d, p5, gn7}}
	later := at.Add(3 * time.Minute)
	offering := func(k policy.OfferingKey, why string, until time.Time) state.Unavailable {
		return state.Unavailable{Kind: state.UnavailableOffering, Provider: k.Provider, Region: k.Region, Zone: k.Zone,
			InstanceType: k.InstanceType, Market: string(k.Market), Why: why, Until: until}
	}
	quota := "ali: quota exceeded in cn-hangzhou (QuotaExceed.ElasticQuota): no more GPUs"
	us := []state.Unavailable{
		offering(p4d.Key(), "", later),
		offering(p5.Key(), policy.WhyReclaimedBooting, later),
		offering(gn7.Key(), policy.WhyNeverJoined, at), // lapsed
		offering(gone, "", later),
		{Kind: state.UnavailableQuota, Provider: "ali", Region: "cn-hangzhou", Why: quota, Until: later},
		{Kind: state.UnavailableQuota, Provider: "aws", Until: later},
		{Kind: state.UnavailableThrottled, Provider: "aws", Why: "throttled, backing off 30s", Until: later},
	}
	unused := map[policy.OfferingKey]time.Time{gn7.Key(): at.Add(time.Hour), p4d.Key(): at}
	want := []api.Held{
		{What: "ali/cn-hangzhou", Why: quota, Until: later},
		{What: "aws", Why: "quota exceeded", Until: later},
		{What: "aws", Why: "throttled, backing off 30s", Until: later},
		{What: pool.OfferingName(gone), Why: "out of stock", Until: later},
		{What: "gn7", Why: heldUnused, Until: at.Add(time.Hour)},
		{What: "p4d", Why: "out of stock", Until: later},
		{What: "p5", Why: "failed launch: " + policy.WhyReclaimedBooting, Until: later},
	}
	got := heldOf(pool, unused, us, at)
	if len(got) != len(want) {
		t.Fatalf("heldOf = %+v\nwant %+v", got, want)
	}
	for i := range want {
		if got[i].What != want[i].What || got[i].Why != want[i].Why || !got[i].Until.Equal(want[i].Until) {
			t.Errorf("held[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}
