package aws

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
)

// A long-running server launches again and again: what the provider
// remembers for eventual consistency (the instances launched in the last
// providers.ConsistencyWindow, the client tokens of the last
// providers.ResumeWindow) stays that, however many launches it has made.
func TestConsistencyMemoryIsBoundedOverALongRun(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	srv := httptest.NewServer(emulator.New(emulator.Options{Clock: clk.Now, Seed: 5}).EC2Handler())
	t.Cleanup(srv.Close)
	cfg := config.ProviderConfig{Type: config.ProviderAWS, Region: "us-east-1", Endpoint: srv.URL, Image: "ami-0abcdef1234567890",
		Subnets: []config.Subnet{{Zone: "us-east-1a", ID: "subnet-us-east-1a"}, {Zone: "us-east-1b", ID: "subnet-us-east-1b"}}}
	p, err := New(context.Background(), cfg, "aws-test", WithClock(clk),
		WithCredentials(credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "not-a-secret", "")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	ctx := context.Background()
	const (
		launches = 1000
		every    = 30 * time.Second // 1000 launches: 8h20m
		count    = 2
	)
	mostRecent, mostTokens := 0, 0
	for i := range launches {
		insts, err := p.Launch(ctx, providers.LaunchRequest{
			Offering: policy.Offering{Provider: "aws-test", InstanceType: "p4d.24xlarge", Market: policy.MarketOnDemand},
			Count:    count, ClientToken: fmt.Sprintf("long-%d", i),
			Tags: map[string]string{providers.TagCluster: "c", providers.TagPool: "p"},
		})
		if err != nil {
			t.Fatalf("launch %d: %v", i, err)
		}
		if err := p.Terminate(ctx, []string{insts[0].ID, insts[1].ID}); err != nil {
			t.Fatalf("terminate %d: %v", i, err)
		}
		mostRecent, mostTokens = max(mostRecent, p.launched.Len()), max(mostTokens, p.attempts.Len())
		clk.Step(every)
	}
	wantRecent := count * int(providers.ConsistencyWindow/every+1)
	wantTokens := int(providers.ResumeWindow/every + 1)
	t.Logf("%d launches over %s: at most %d recent instances (limit %d), %d client tokens (limit %d)", launches, launches*every, mostRecent, wantRecent, mostTokens, wantTokens)
	if mostRecent > wantRecent {
		t.Errorf("%d recently launched instances remembered, want at most %d (those of the last %s)", mostRecent, wantRecent, providers.ConsistencyWindow)
	}
	if mostTokens > wantTokens {
		t.Errorf("%d client tokens remembered, want at most %d (those of the last %s)", mostTokens, wantTokens, providers.ResumeWindow)
	}
}
