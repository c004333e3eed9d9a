package main

import (
	"testing"
	"time"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/policy"
)

// TestHeldOf: the operator's list of what is held out of launches says
// why: out of stock, a failed launch the capacity cache names, left
// unused by the queue, or a blocked provider; expired holds are left out.
func TestHeldOf(t *testing.T) {
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	p4d := policy.Offering{Name: "p4d", Provider: "aws", Region: "us-east-1", InstanceType: "p4d.24xlarge"}
	p5 := policy.Offering{Name: "p5", Provider: "aws", Region: "us-east-1", InstanceType: "p5.48xlarge", Market: policy.MarketSpot}
	gn7 := policy.Offering{Name: "gn7", Provider: "ali", Region: "cn-hangzhou", InstanceType: "ecs.gn7"}
	pool := &policy.Pool{Offerings: []policy.Offering{p4d, p5, gn7}}
	later := at.Add(3 * time.Minute)
	snap := &policy.Snapshot{
		Unavailable:    map[policy.OfferingKey]time.Time{p4d.Key(): later, p5.Key(): later, gn7.Key(): at},
		UnavailableWhy: map[policy.OfferingKey]string{p5.Key(): policy.WhyReclaimedBooting, gn7.Key(): policy.WhyNeverJoined},
		Unused:         map[policy.OfferingKey]time.Time{gn7.Key(): at.Add(time.Hour)},
		Blocked:        map[string]time.Time{"ali/cn-hangzhou": later},
	}
	want := []api.Held{
		{What: "ali/cn-hangzhou", Why: "blocked (quota, throttling or refused requests)", Until: later},
		{What: "gn7", Why: heldUnused, Until: at.Add(time.Hour)},
		{What: "p4d", Why: "out of stock", Until: later},
		{What: "p5", Why: "failed launch: " + policy.WhyReclaimedBooting, Until: later},
	}
	got := heldOf(pool, snap, at)
	if len(got) != len(want) {
		t.Fatalf("heldOf = %+v\nwant %+v", got, want)
	}
	for i := range want {
		if got[i].What != want[i].What || got[i].Why != want[i].Why || !got[i].Until.Equal(want[i].Until) {
			t.Errorf("held[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}
