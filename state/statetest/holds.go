package statetest

import (
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

// hold holds pool's offering typ (AWS, us-east-1, on-demand) from t0+from
// to t0+until.
func hold(pool, typ string, from, until time.Duration) state.Hold {
	return state.Hold{Pool: pool, Provider: "aws", Region: "us-east-1", InstanceType: typ, Market: "on-demand",
		At: at(from), Until: at(until), Reason: "left unused by the queue"}
}

func holdsLiveAndExtended(t *testing.T, h *harness) {
	s := h.store(t)
	none, err := s.Holds(ctx(t), "train", at(0))
	ok(t, err, "Holds of an empty store")
	same(t, "no holds", len(none), 0)

	small := hold("train", "g5.xlarge", 0, time.Hour)
	big := hold("train", "p5.48xlarge", time.Minute, 30*time.Minute)
	spot := hold("train", "g5.xlarge", 2*time.Minute, 2*time.Hour)
	spot.Market, spot.Zone = "spot", "us-east-1a" // another offering of the same type
	other := hold("infer", "g5.xlarge", 0, time.Hour)
	for _, x := range []state.Hold{small, big, spot, other} {
		ok(t, s.PutHold(ctx(t), x), "PutHold")
	}
	got, err := s.Holds(ctx(t), "train", at(5*time.Minute))
	ok(t, err, "Holds")
	same(t, "train's holds, earliest Until first", got, []state.Hold{big, small, spot})

	// A later hold extends; an earlier one changes nothing.
	longer := hold("train", "g5.xlarge", 10*time.Minute, 3*time.Hour)
	longer.Reason = "left unused again"
	ok(t, s.PutHold(ctx(t), longer), "PutHold extending")
	ok(t, s.PutHold(ctx(t), hold("train", "g5.xlarge", 11*time.Minute, 20*time.Minute)), "PutHold shortening")
	got, err = s.Holds(ctx(t), "train", at(5*time.Minute))
	ok(t, err, "Holds")
	same(t, "extended, never shortened", got, []state.Hold{big, spot, longer})

	// A hold lapses at its Until.
	got, err = s.Holds(ctx(t), "train", at(30*time.Minute))
	ok(t, err, "Holds at big's Until")
	same(t, "lapsed at Until", got, []state.Hold{spot, longer})
	one, err := s.Holds(ctx(t), "infer", at(0))
	ok(t, err, "Holds of infer")
	same(t, "infer's", one, []state.Hold{other})
	_, err = s.Holds(ctx(t), "train", time.Unix(-1, 0))
	wantErr(t, err, state.ErrInvalid, "Holds before 1970")
}

func invalidHoldsAreRefused(t *testing.T, h *harness) {
	s := h.store(t)
	for _, tc := range []struct {
		name  string
		bad   func(*state.Hold)
		field string
	}{
		{"no pool", func(x *state.Hold) { x.Pool = "" }, "Hold.Pool"},
		{"no provider", func(x *state.Hold) { x.Provider = "" }, "Hold.Provider"},
		{"no instance type", func(x *state.Hold) { x.InstanceType = "" }, "Hold.InstanceType"},
		{"no time", func(x *state.Hold) { x.At = time.Time{} }, "Hold.At"},
		{"no until", func(x *state.Hold) { x.Until = time.Time{} }, "Hold.Until"},
		{"until at its start", func(x *state.Hold) { x.Until = x.At }, "Hold.Until"},
		{"an overlong zone", func(x *state.Hold) { x.Zone = strings.Repeat("a", state.MaxIDLen+1) }, "Hold.Zone"},
	} {
		bad := hold("train", "p5.48xlarge", 0, time.Hour)
		tc.bad(&bad)
		err := s.PutHold(ctx(t), bad)
		wantErr(t, err, state.ErrInvalid, tc.name)
		if !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: the message %q does not name %s", tc.name, err, tc.field)
		}
	}
	long := hold("train", "p5.48xlarge", 0, time.Hour)
	long.Reason = strings.Repeat("r", 3*state.MaxTextLen)
	ok(t, s.PutHold(ctx(t), long), "PutHold with an overlong reason")
	got, err := s.Holds(ctx(t), "train", at(0))
	ok(t, err, "Holds")
	if len(got) != 1 || len(got[0].Reason) > state.MaxTextLen {
		t.Fatalf("holds after refused ones and an overlong reason: %d, reason of %d bytes; want 1, truncated to %d", len(got), len(got[0].Reason), state.MaxTextLen)
	}
}
