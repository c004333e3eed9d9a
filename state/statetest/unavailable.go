package statetest

import (
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

// outOfStock holds AWS us-east-1's on-demand offering typ from t0+from to
// t0+until.
func outOfStock(typ string, from, until time.Duration) state.Unavailable {
	return state.Unavailable{Kind: state.UnavailableOffering, Provider: "aws", Region: "us-east-1", InstanceType: typ, Market: "on-demand",
		At: at(from), Until: at(until)}
}

func unavailableLiveAndExtended(t *testing.T, h *harness) {
	s := h.store(t)
	none, err := s.Unavailable(ctx(t), at(0))
	ok(t, err, "Unavailable of an empty store")
	same(t, "nothing unavailable", len(none), 0)

	p5 := outOfStock("p5.48xlarge", 0, 3*time.Minute)
	g5 := outOfStock("g5.xlarge", time.Minute, 11*time.Minute)
	g5.Why = "never joined"
	g5spot := outOfStock("g5.xlarge", time.Minute, 4*time.Minute)
	g5spot.Market, g5spot.Zone = "spot", "us-east-1a" // another offering of the same type
	quota := state.Unavailable{Kind: state.UnavailableQuota, Provider: "aws", Region: "us-east-1", Why: "VcpuLimitExceeded", At: at(0), Until: at(15 * time.Minute)}
	ali := state.Unavailable{Kind: state.UnavailableQuota, Provider: "ali", At: at(0), Until: at(15 * time.Minute)} // a provider-wide block
	throttled := state.Unavailable{Kind: state.UnavailableThrottled, Provider: "aws", Why: "throttled, backing off 30s", At: at(0), Until: at(30 * time.Second)}
	invalid := state.Unavailable{Kind: state.UnavailableInvalid, Provider: "ali", Why: "refused as invalid", At: at(0), Until: at(5 * time.Minute)}
	for _, u := range []state.Unavailable{p5, g5, g5spot, quota, ali, throttled, invalid} {
		ok(t, s.PutUnavailable(ctx(t), u), "PutUnavailable "+u.Kind)
	}
	got, err := s.Unavailable(ctx(t), at(10*time.Second))
	ok(t, err, "Unavailable")
	same(t, "in force, earliest Until first", got, []state.Unavailable{throttled, p5, g5spot, invalid, g5, ali, quota})

	// A later entry extends, with its own Why; an earlier one changes nothing.
	again := outOfStock("p5.48xlarge", 2*time.Minute, 5*time.Minute)
	ok(t, s.PutUnavailable(ctx(t), again), "PutUnavailable extending")
	ok(t, s.PutUnavailable(ctx(t), outOfStock("g5.xlarge", 2*time.Minute, 5*time.Minute)), "PutUnavailable shortening")
	got, err = s.Unavailable(ctx(t), at(3*time.Minute))
	ok(t, err, "Unavailable")
	same(t, "extended, never shortened; lapsed at Until; ties by kind", got, []state.Unavailable{g5spot, invalid, again, g5, ali, quota})
	_, err = s.Unavailable(ctx(t), time.Unix(-1, 0))
	wantErr(t, err, state.ErrInvalid, "Unavailable before 1970")

	// An offering that launched again is deleted: that one alone, and
	// deleting what is not stored is no error.
	ok(t, s.DeleteUnavailable(ctx(t), again), "DeleteUnavailable")
	ok(t, s.DeleteUnavailable(ctx(t), again), "DeleteUnavailable again")
	got, err = s.Unavailable(ctx(t), at(3*time.Minute))
	ok(t, err, "Unavailable")
	same(t, "after deleting p5's", got, []state.Unavailable{g5spot, invalid, g5, ali, quota})
}

func invalidUnavailableIsRefused(t *testing.T, h *harness) {
	s := h.store(t)
	for _, tc := range []struct {
		name  string
		bad   func(*state.Unavailable)
		field string
	}{
		{"an unknown kind", func(u *state.Unavailable) { u.Kind = "broken" }, "Unavailable.Kind"},
		{"no provider", func(u *state.Unavailable) { u.Provider = "" }, "Unavailable.Provider"},
		{"an offering without its instance type", func(u *state.Unavailable) { u.InstanceType = "" }, "Unavailable.InstanceType"},
		{"a quota block naming an instance type", func(u *state.Unavailable) { u.Kind = state.UnavailableQuota }, "Unavailable.InstanceType"},
		{"a back-off naming a region", func(u *state.Unavailable) {
			u.Kind, u.InstanceType, u.Market = state.UnavailableThrottled, "", ""
		}, "Unavailable.Region"},
		{"no time", func(u *state.Unavailable) { u.At = time.Time{} }, "Unavailable.At"},
		{"until at its start", func(u *state.Unavailable) { u.Until = u.At }, "Unavailable.Until"},
		{"an overlong zone", func(u *state.Unavailable) { u.Zone = strings.Repeat("a", state.MaxIDLen+1) }, "Unavailable.Zone"},
	} {
		bad := outOfStock("p5.48xlarge", 0, time.Hour)
		tc.bad(&bad)
		err := s.PutUnavailable(ctx(t), bad)
		wantErr(t, err, state.ErrInvalid, tc.name)
		if !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: the message %q does not name %s", tc.name, err, tc.field)
		}
	}
	long := outOfStock("p5.48xlarge", 0, time.Hour)
	long.Why = strings.Repeat("r", 3*state.MaxTextLen)
	ok(t, s.PutUnavailable(ctx(t), long), "PutUnavailable with an overlong why")
	got, err := s.Unavailable(ctx(t), at(0))
	ok(t, err, "Unavailable")
	if len(got) != 1 || len(got[0].Why) > state.MaxTextLen {
		t.Fatalf("entries after refused ones and an overlong why: %d; want 1, its why truncated to %d bytes", len(got), state.MaxTextLen)
	}
}
