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

// A long-running server sees spot instances reclaimed by ECS itself, one
// after another, and never deletes them: the notices it dated must not
// pile up in memory. Each round launches instances, ECS announces their
// reclamation and releases them five minutes later; the listings in
// between see the Recycling lock. The notices remembered stay those of the
// last reclaimMemory, however many rounds run, and a notice keeps its date
// while its instance is still listed.
func TestReclaimNoticesOfReleasedInstancesAreForgotten(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	e, srv := startEmulator(t, emulator.Options{Clock: clk.Now})
	p := newEmulatorProvider(t, srv.URL, WithClock(clk))
	ctx := context.Background()
	filter := providers.ListFilter{Cluster: "c1"}
	const (
		rounds   = 200
		perRound = 5
		every    = 10 * time.Minute
	)
	most := 0
	for i := range rounds {
		insts, err := p.Launch(ctx, emuLaunchReq(fmt.Sprintf("reclaimed-%d", i), perRound, 0))
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		for _, in := range insts {
			if !e.Interrupt(in.ID, 5*time.Minute) {
				t.Fatalf("round %d: interrupting %s failed", i, in.ID)
			}
		}
		first, err := p.List(ctx, filter)
		if err != nil {
			t.Fatal(err)
		}
		clk.Step(time.Minute)
		again, err := p.List(ctx, filter)
		if err != nil {
			t.Fatal(err)
		}
		if len(first) != perRound || len(again) != perRound {
			t.Fatalf("round %d: listed %d then %d instances, want the round's %d", i, len(first), len(again), perRound)
		}
		for j := range again {
			if first[j].InterruptionNotice == nil || again[j].InterruptionNotice == nil || !again[j].InterruptionNotice.Equal(*first[j].InterruptionNotice) {
				t.Fatalf("round %d: notice of %s went from %v to %v, want the first date kept", i, first[j].ID, first[j].InterruptionNotice, again[j].InterruptionNotice)
			}
		}
		clk.Step(every - time.Minute) // ECS releases them meanwhile
		if _, err := p.List(ctx, filter); err != nil {
			t.Fatal(err)
		}
		p.mu.Lock()
		most = max(most, len(p.reclaims))
		p.mu.Unlock()
	}
	// Remembered: the instances seen within the last reclaimMemory.
	limit := perRound * int(reclaimMemory/every+1)
	t.Logf("%d rounds, %d reclaims: at most %d notices remembered (limit %d)", rounds, rounds*perRound, most, limit)
	if most > limit {
		t.Errorf("%d reclaim notices remembered after %d reclaims, want at most %d (those seen within %s)", most, rounds*perRound, limit, reclaimMemory)
	}
}
