package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestInUTC: inUTC puts every time a JSON answer holds in UTC, through
// pointers, slices, maps and interfaces, and leaves the value it was given
// (shared with the backend) as it was.
func TestInUTC(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, cet)
	plan := &Plan{Time: at}
	d := PoolDetail{Name: "p", LastPlan: plan, Snapshot: Snapshot{Time: at, Held: []Held{{What: "x", Until: at}}},
		Floors: []Floor{{Until: at}}}
	for _, tc := range []struct {
		name string
		v    any
		want int // times in the JSON
	}{
		{"pool", d, 4},
		{"pointer", &d, 4},
		{"page", Page[Burst]{Items: []Burst{{CreatedAt: at, Until: at}}}, 2},
		{"map", map[string]any{"a": at, "b": []any{at}}, 2},
		{"no times", errorBody{&Error{Message: "m"}}, 0},
		{"nil", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(inUTC(tc.v))
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(b), "2026-12-01T11:00:00Z"); n != tc.want || strings.Contains(string(b), "+01:00") {
				t.Errorf("inUTC gives %s: %d times in UTC, want %d and none at +01:00", b, n, tc.want)
			}
		})
	}
	if d.Snapshot.Time.Location() != cet || d.Snapshot.Held[0].Until.Location() != cet || plan.Time.Location() != cet {
		t.Errorf("inUTC changed the value it was given: %+v, plan %+v", d, plan)
	}
}
