package alicloud

import (
	"context"
	"fmt"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/providers"
)

// A long-running server launches again and again: what the provider
// remembers for eventual consistency (the instances launched in the last
// providers.ConsistencyWindow, the client tokens of the last
// providers.ResumeWindow) stays that, however many launches it has made.
func TestConsistencyMemoryIsBoundedOverALongRun(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	_, srv := startEmulator(t, emulator.Options{Clock: clk.Now})
	p := newEmulatorProvider(t, srv.URL, WithClock(clk))
	ctx := context.Background()
	const (
		launches = 1000
		every    = 30 * time.Second // 1000 launches: 8h20m
		count    = 2
	)
	mostRecent, mostTokens := 0, 0
	for i := range launches {
		insts, err := p.Launch(ctx, emuLaunchReq(fmt.Sprintf("long-%d", i), count, 0))
		if err != nil {
			t.Fatalf("launch %d: %v", i, err)
		}
		if err := p.Terminate(ctx, ids(insts)); err != nil {
			t.Fatalf("terminate %d: %v", i, err)
		}
		mostRecent, mostTokens = max(mostRecent, p.recent.Len()), max(mostTokens, p.attempts.Len())
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
