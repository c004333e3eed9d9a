package statetest

import (
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

// idleGap is a gap of pool's offering typ (AWS, us-east-1, on-demand).
func idleGap(pool, typ string, d, gap time.Duration) state.IdleGap {
	return state.IdleGap{Pool: pool, Provider: "aws", Region: "us-east-1", InstanceType: typ, Market: "on-demand", At: at(d), Gap: gap}
}

func idleGapsNewestPerOffering(t *testing.T, h *harness) {
	s := h.store(t)
	none, err := s.IdleGaps(ctx(t), "train", 3)
	ok(t, err, "IdleGaps of an empty store")
	same(t, "no gaps", len(none), 0)

	ok(t, s.AddIdleGaps(ctx(t), nil), "AddIdleGaps(nil)")
	var batch []state.IdleGap
	for i := range 5 {
		batch = append(batch, idleGap("train", "p5.48xlarge", time.Duration(i)*time.Minute, time.Duration(i+1)*time.Second))
	}
	batch = append(batch,
		idleGap("train", "p4d.24xlarge", 90*time.Second, state.IdleGapNever),
		idleGap("infer", "p5.48xlarge", 10*time.Minute, time.Hour), // another pool
	)
	spot := idleGap("train", "p5.48xlarge", 2*time.Minute, 7*time.Second)
	spot.Market = "spot" // another offering of the same type
	batch = append(batch, spot)
	ok(t, s.AddIdleGaps(ctx(t), batch), "AddIdleGaps")
	// Two gaps that resolved in the same instant keep the order they were
	// stored in.
	ok(t, s.AddIdleGaps(ctx(t), []state.IdleGap{
		idleGap("train", "p5.48xlarge", 4*time.Minute, 9*time.Second),
		idleGap("train", "p5.48xlarge", 4*time.Minute, 8*time.Second),
	}), "AddIdleGaps at one instant")

	got, err := s.IdleGaps(ctx(t), "train", 3)
	ok(t, err, "IdleGaps")
	same(t, "the 3 newest of each offering of train, oldest first", got, []state.IdleGap{
		idleGap("train", "p4d.24xlarge", 90*time.Second, state.IdleGapNever),
		spot,
		idleGap("train", "p5.48xlarge", 4*time.Minute, 5*time.Second),
		idleGap("train", "p5.48xlarge", 4*time.Minute, 9*time.Second),
		idleGap("train", "p5.48xlarge", 4*time.Minute, 8*time.Second),
	})
	one, err := s.IdleGaps(ctx(t), "infer", 50)
	ok(t, err, "IdleGaps of infer")
	same(t, "infer's", one, []state.IdleGap{idleGap("infer", "p5.48xlarge", 10*time.Minute, time.Hour)})

	for _, n := range []int{0, -1, state.MaxIdleGapsPerOffering + 1} {
		_, err := s.IdleGaps(ctx(t), "train", n)
		wantErr(t, err, state.ErrInvalid, "IdleGaps with perOffering out of range")
	}
}

func addIdleGapsIsAllOrNothing(t *testing.T, h *harness) {
	s := h.store(t)
	for _, tc := range []struct {
		name  string
		bad   func(*state.IdleGap)
		field string
	}{
		{"a zero gap", func(g *state.IdleGap) { g.Gap = 0 }, "IdleGap.Gap"},
		{"a negative gap other than never", func(g *state.IdleGap) { g.Gap = -time.Second }, "IdleGap.Gap"},
		{"no pool", func(g *state.IdleGap) { g.Pool = "" }, "IdleGap.Pool"},
		{"no instance type", func(g *state.IdleGap) { g.InstanceType = "" }, "IdleGap.InstanceType"},
		{"no time", func(g *state.IdleGap) { g.At = time.Time{} }, "IdleGap.At"},
		{"an overlong provider", func(g *state.IdleGap) { g.Provider = strings.Repeat("a", state.MaxIDLen+1) }, "IdleGap.Provider"},
	} {
		bad := idleGap("train", "p5.48xlarge", time.Minute, time.Second)
		tc.bad(&bad)
		err := s.AddIdleGaps(ctx(t), []state.IdleGap{idleGap("train", "p5.48xlarge", 0, time.Second), bad})
		wantErr(t, err, state.ErrInvalid, tc.name)
		if !strings.Contains(err.Error(), "AddIdleGaps[1]") || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: the message %q does not name AddIdleGaps[1] and %s", tc.name, err, tc.field)
		}
	}
	got, err := s.IdleGaps(ctx(t), "train", 10)
	ok(t, err, "IdleGaps")
	same(t, "gaps after refused batches", len(got), 0)
}
