package scheduler_test

import (
	"testing"
	"time"

	"github.com/spillway-io/spillway/scheduler"
	"github.com/spillway-io/spillway/state"
)

// TestJoinedSibling: what counts as proof that an offering delivers when
// one of its instances never joined: a live instance of the same pool and
// offering, in the same zone when both name one, launched no earlier, that
// joined.
func TestJoinedSibling(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	slow := &state.Instance{ID: "i-slow", Pool: "train", Offering: "p5", Zone: "us-east-1a", LaunchedAt: t0}
	sib := func(id string, edit func(*state.Instance)) *state.Instance {
		r := &state.Instance{ID: id, Pool: "train", Offering: "p5", Zone: "us-east-1a", LaunchedAt: t0, JoinedAt: t0.Add(5 * time.Minute)}
		edit(r)
		return r
	}
	same := func(*state.Instance) {}
	for _, tt := range []struct {
		name   string
		others []*state.Instance
		want   string // "" for none
	}{
		{"launched with it, joined", []*state.Instance{sib("i-b", same)}, "i-b"},
		{"launched after it, joined", []*state.Instance{sib("i-b", func(r *state.Instance) { r.LaunchedAt = t0.Add(time.Minute) })}, "i-b"},
		{"the first by ID of two", []*state.Instance{sib("i-c", same), sib("i-b", same)}, "i-b"},
		{"zone not known on one side", []*state.Instance{sib("i-b", func(r *state.Instance) { r.Zone = "" })}, "i-b"},
		{"launched before it", []*state.Instance{sib("i-b", func(r *state.Instance) { r.LaunchedAt = t0.Add(-time.Second) })}, ""},
		{"not joined", []*state.Instance{sib("i-b", func(r *state.Instance) { r.JoinedAt = time.Time{} })}, ""},
		{"another zone", []*state.Instance{sib("i-b", func(r *state.Instance) { r.Zone = "us-east-1b" })}, ""},
		{"another offering", []*state.Instance{sib("i-b", func(r *state.Instance) { r.Offering = "p5en" })}, ""},
		{"another pool", []*state.Instance{sib("i-b", func(r *state.Instance) { r.Pool = "infer" })}, ""},
		{"alone", nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rows := map[string]*state.Instance{slow.ID: slow}
			for _, r := range tt.others {
				rows[r.ID] = r
			}
			got := ""
			if r := scheduler.JoinedSibling(rows, slow); r != nil {
				got = r.ID
			}
			if got != tt.want {
				t.Errorf("joinedSibling = %q, want %q", got, tt.want)
			}
		})
	}
}
