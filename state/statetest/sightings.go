package statetest

import (
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

// sightingsKeepTheFirst: a stranger's first sighting survives the store
// (a server restarting, the next leader), noted again later or earlier it
// keeps the earliest, and deleting it forgets it alone.
func sightingsKeepTheFirst(t *testing.T, h *harness) {
	s := h.store(t)
	none, err := s.Sightings(ctx(t), "aws")
	ok(t, err, "Sightings of an empty store")
	same(t, "no sighting", len(none), 0)

	a := state.Sighting{Provider: "aws", ID: "i-a", At: at(time.Minute)}
	b := state.Sighting{Provider: "aws", ID: "i-b", At: at(0)}
	ali := state.Sighting{Provider: "ali", ID: "i-a", At: at(0)} // another provider's instance of that id
	for _, g := range []state.Sighting{a, b, ali} {
		ok(t, s.NoteSighting(ctx(t), g), "NoteSighting "+g.Provider+"/"+g.ID)
	}
	ok(t, s.NoteSighting(ctx(t), state.Sighting{Provider: "aws", ID: "i-a", At: at(5 * time.Minute)}), "NoteSighting later")
	got, err := s.Sightings(ctx(t), "aws")
	ok(t, err, "Sightings")
	same(t, "aws's, the first kept, earliest first", got, []state.Sighting{b, a})

	earlier := state.Sighting{Provider: "aws", ID: "i-a", At: at(-time.Minute)}
	ok(t, s.NoteSighting(ctx(t), earlier), "NoteSighting earlier")
	ok(t, s.DeleteSighting(ctx(t), "aws", "i-b"), "DeleteSighting")
	ok(t, s.DeleteSighting(ctx(t), "aws", "i-b"), "DeleteSighting again")
	got, err = s.Sightings(ctx(t), "aws")
	ok(t, err, "Sightings")
	same(t, "an earlier one kept, the deleted one gone", got, []state.Sighting{earlier})
	got, err = s.Sightings(ctx(t), "ali")
	ok(t, err, "Sightings")
	same(t, "the other provider's untouched", got, []state.Sighting{ali})
}

func invalidSightingsAreRefused(t *testing.T, h *harness) {
	s := h.store(t)
	for _, tc := range []struct {
		name  string
		bad   state.Sighting
		field string
	}{
		{"no provider", state.Sighting{ID: "i-a", At: at(0)}, "Sighting.Provider"},
		{"no id", state.Sighting{Provider: "aws", At: at(0)}, "Sighting.ID"},
		{"an overlong id", state.Sighting{Provider: "aws", ID: strings.Repeat("i", state.MaxIDLen+1), At: at(0)}, "Sighting.ID"},
		{"no time", state.Sighting{Provider: "aws", ID: "i-a"}, "Sighting.At"},
		{"a time before 1970", state.Sighting{Provider: "aws", ID: "i-a", At: time.Unix(-1, 0)}, "Sighting.At"},
	} {
		err := s.NoteSighting(ctx(t), tc.bad)
		wantErr(t, err, state.ErrInvalid, tc.name)
		if !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: the message %q does not name %s", tc.name, err, tc.field)
		}
	}
	got, err := s.Sightings(ctx(t), "aws")
	ok(t, err, "Sightings")
	same(t, "nothing stored of the refused", len(got), 0)
}
