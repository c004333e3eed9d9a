package state

import (
	"testing"

	"github.com/spillway-io/spillway/policy"
)

// TestKeys: a stored hold or idle gap names the offering it was stored
// for, market included.
func TestKeys(t *testing.T) {
	for _, o := range []policy.Offering{
		{Provider: "aws", Region: "us-east-1", Zone: "us-east-1a", InstanceType: "p5.48xlarge", Market: policy.MarketSpot},
		{Provider: "ali", Region: "cn-hangzhou", InstanceType: "ecs.gn7", Market: policy.MarketOnDemand},
		{Provider: "tf", InstanceType: "h100x8"},
	} {
		k := o.Key()
		h := Hold{Provider: k.Provider, Region: k.Region, Zone: k.Zone, InstanceType: k.InstanceType, Market: string(k.Market)}
		g := IdleGap{Provider: k.Provider, Region: k.Region, Zone: k.Zone, InstanceType: k.InstanceType, Market: string(k.Market)}
		if h.Key() != k || g.Key() != k {
			t.Errorf("offering %+v: hold key %+v, gap key %+v, want %+v", o, h.Key(), g.Key(), k)
		}
	}
}
