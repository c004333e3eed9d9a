package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/api/tokens"
)

// TestConcurrentBurstsOverHTTPStayWithinMaxGPUs: 20 operators' bursts of
// 16 GPUs (the pool's manual.max_gpus) posted at once are all opened (201),
// and the server launches for them no more than the pool's max_gpus 32
// (4 p4d) while they last; the pool's decisions say the bursts wait on
// max_gpus. A guard: nothing here failed on the code it was written against.
func TestConcurrentBurstsOverHTTPStayWithinMaxGPUs(t *testing.T) {
	s := startAPIServer(t)
	ctx := context.Background()
	op := s.client(t, s.token(t, "alice", tokens.Operator))
	viewer := s.client(t, s.token(t, "victor", tokens.Viewer))
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = op.CreateBurst(ctx, api.CreateBurstRequest{Pool: "train", GPUs: 16, For: api.Duration(time.Hour), Reason: "INC-9"})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("burst %d: %v, want it opened (201)", i, err)
		}
	}
	live := func() int {
		k := 0
		for _, in := range s.emu.Instances() {
			if in.State == "pending" || in.State == "running" {
				k++
			}
		}
		return k
	}
	// The most seen live is watched until the fourth has launched and the
	// pool's decisions say the bursts wait: a fixed 5 s watch could end
	// before the fourth launch on a loaded machine.
	most := 0
	watch := func() int { most = max(most, live()); return most }
	eventually(t, "4 p4d launched for the bursts", func() bool { return watch() >= 4 })
	eventually(t, "a decision saying the bursts wait on max_gpus", func() bool {
		watch()
		ds, err := viewer.Decisions(ctx, api.DecisionsQuery{Pool: "train"})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if strings.Contains(d.Reason, "limit max_gpus") {
				return true
			}
		}
		return false
	})
	if watch() != 4 {
		t.Fatalf("%d p4d (8 GPUs each) launched at most for 20 bursts of 16 GPUs, want 4: max_gpus 32", most)
	}
}
