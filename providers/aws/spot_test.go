package aws_test

import (
	"context"
	"testing"
	"time"

	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
)

// TestSpotNoticeCostsOneCallOnlyWithSpot: List reads spot requests only when
// spot instances are listed, with one DescribeSpotInstanceRequests call.
func TestSpotNoticeCostsOneCallOnlyWithSpot(t *testing.T) {
	e := startEmulator(t, emulator.Options{Seed: 4})
	p := e.provider(t)
	ctx := context.Background()
	off := policy.Offering{Provider: providerName, Region: "us-east-1", InstanceType: gpuType, Market: policy.MarketOnDemand}
	tags := map[string]string{providers.TagCluster: "spot", providers.TagPool: "gpu"}
	if _, err := p.Launch(ctx, providers.LaunchRequest{Offering: off, Count: 3, ClientToken: "od-1", Tags: tags}); err != nil {
		t.Fatalf("on-demand Launch: %v", err)
	}
	if _, err := p.List(ctx, providers.ListFilter{Cluster: "spot"}); err != nil {
		t.Fatalf("List: %v", err)
	}
	if n := e.emu.Calls("DescribeSpotInstanceRequests"); n != 0 {
		t.Errorf("List of on-demand instances made %d DescribeSpotInstanceRequests calls, want 0", n)
	}
	off.Market = policy.MarketSpot
	spot, err := p.Launch(ctx, providers.LaunchRequest{Offering: off, Count: 2, ClientToken: "spot-1", Tags: tags})
	if err != nil {
		t.Fatalf("spot Launch: %v", err)
	}
	e.emu.Interrupt(spot[0].ID, 2*time.Minute)
	insts, err := p.List(ctx, providers.ListFilter{Cluster: "spot"})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if n := e.emu.Calls("DescribeSpotInstanceRequests"); n != 1 {
		t.Errorf("List of 5 instances, 2 of them spot, made %d DescribeSpotInstanceRequests calls, want 1", n)
	}
	for _, in := range insts {
		if (in.InterruptionNotice != nil) != (in.ID == spot[0].ID) {
			t.Errorf("instance %s (%s) notice = %v; only %s is under notice", in.ID, in.Market, in.InterruptionNotice, spot[0].ID)
		}
	}
}
