package aws_test

import (
	"context"
	"testing"
	"time"

	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/providers/aws"
)

// TestLargePagesSurviveTheRequestBodyRace reads 300 pages of 100 instances
// with the SDK's retries off, so that no retry can hide a failed attempt.
// Without the provider's buffered request bodies (aws-sdk-go-v2 #2737) about
// a third of these pages failed with "deserialization failed … use of
// closed network connection" although the emulator answered 200.
func TestLargePagesSurviveTheRequestBodyRace(t *testing.T) {
	e := startEmulator(t, emulator.Options{Seed: 3})
	ctx := context.Background()
	if _, err := e.launchRaw(ctx, 1000, map[string]string{providers.TagCluster: "race", providers.TagPool: "p"}); err != nil {
		t.Fatalf("LaunchRaw 1000: %v", err)
	}
	p := e.provider(t, aws.WithRetry(1, time.Millisecond), aws.WithBuckets(nil), aws.WithPageSize(100))
	failed := 0
	const lists = 30 // 10 pages each
	for i := range lists {
		insts, err := p.List(ctx, providers.ListFilter{Cluster: "race"})
		switch {
		case err != nil:
			failed++
			if failed <= 3 {
				t.Errorf("list %d: %v", i, err)
			}
		case len(insts) != 1000:
			t.Fatalf("list %d returned %d instances, want 1000", i, len(insts))
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d 10-page lists failed with retries off", failed, lists)
	}
	if got := e.emu.Calls("DescribeInstances"); got != lists*10 {
		t.Errorf("the emulator received %d DescribeInstances calls, want %d (one per page)", got, lists*10)
	}
}
