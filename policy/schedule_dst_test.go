package policy

import (
	"strings"
	"testing"
	"time"
)

// TestScheduleFloorsAcrossClockChanges: a schedule names wall-clock times
// in its zone, and a daylight-saving change neither drops nor repeats a
// day's firing: a time the clock skips fires when the clock jumps past it,
// and a time it reads twice fires the first time (as cron does). Only an
// expression that fires every hour follows real time.
func TestScheduleFloorsAcrossClockChanges(t *testing.T) {
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	sched := func(cron string, d time.Duration) Schedule {
		return Schedule{Name: "s", Cron: cron, GPUs: 8, Duration: Duration(d)}
	}
	// New York: 2026-03-08 02:00 EST becomes 03:00 EDT (07:00 UTC);
	// 2026-11-01 02:00 EDT becomes 01:00 EST (06:00 UTC).
	// Lord Howe: 2026-04-05 02:00 +11 becomes 01:30 +10:30 (15:00 UTC the
	// day before); 2026-10-04 02:00 +10:30 becomes 02:30 +11 (15:30 UTC).
	// Santiago: 2026-09-06 00:00 -04 becomes 01:00 -03 (04:00 UTC): that
	// day has no midnight.
	tests := []struct {
		name  string
		s     Schedule
		now   time.Time
		until time.Time // zero: no floor
	}{
		{"skipped 02:30 fires at the change", sched("CRON_TZ=America/New_York 30 2 * * *", 4*time.Hour),
			utc("2026-03-08 07:00"), utc("2026-03-08 11:00")},
		{"skipped 02:30, an hour into the floor", sched("CRON_TZ=America/New_York 30 2 * * *", 4*time.Hour),
			utc("2026-03-08 08:00"), utc("2026-03-08 11:00")},
		{"skipped 02:30, not before the change", sched("CRON_TZ=America/New_York 30 2 * * *", 4*time.Hour),
			utc("2026-03-08 06:59"), time.Time{}},
		{"day after spring forward", sched("CRON_TZ=America/New_York 30 2 * * *", 4*time.Hour),
			utc("2026-03-09 06:30"), utc("2026-03-09 10:30")},
		{"repeated 01:30 fires the first time", sched("CRON_TZ=America/New_York 30 1 * * *", 30*time.Minute),
			utc("2026-11-01 05:30"), utc("2026-11-01 06:00")},
		{"repeated 01:30 does not fire again", sched("CRON_TZ=America/New_York 30 1 * * *", 30*time.Minute),
			utc("2026-11-01 06:30"), time.Time{}},
		{"repeated 01:30, a long floor ends a duration after the first", sched("CRON_TZ=America/New_York 30 1 * * *", 2*time.Hour),
			utc("2026-11-01 07:00"), utc("2026-11-01 07:30")},
		{"hourly expression fires at both 01:30s", sched("CRON_TZ=America/New_York 30 * * * *", 30*time.Minute),
			utc("2026-11-01 06:30"), utc("2026-11-01 07:00")},
		{"hourly expression has no 02:30 on spring forward", sched("CRON_TZ=America/New_York 30 * * * *", 20*time.Minute),
			utc("2026-03-08 07:00"), time.Time{}},
		// A floor longer than the time since the change: the firing is
		// looked for from before the change.
		{"08:00 on Lord Howe's fall back", sched("CRON_TZ=Australia/Lord_Howe 0 8 * * *", 10*time.Hour),
			utc("2026-04-04 21:30"), utc("2026-04-05 07:30")},
		{"08:00 on Lord Howe's spring forward", sched("CRON_TZ=Australia/Lord_Howe 0 8 * * *", 10*time.Hour),
			utc("2026-10-03 21:00"), utc("2026-10-04 07:00")},
		{"Santiago's missing midnight fires at 01:00", sched("CRON_TZ=America/Santiago 0 0 * * *", time.Hour),
			utc("2026-09-06 04:00"), utc("2026-09-06 05:00")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			floors := ScheduleFloors(Pool{Name: "p", Schedules: []Schedule{tt.s}}, tt.now)
			switch {
			case tt.until.IsZero() && len(floors) != 0:
				t.Fatalf("at %v: floor until %v, want none", tt.now, floors[0].Until.UTC())
			case !tt.until.IsZero() && len(floors) != 1:
				t.Fatalf("at %v: %d floors, want one until %v", tt.now, len(floors), tt.until)
			case !tt.until.IsZero() && !floors[0].Until.Equal(tt.until):
				t.Fatalf("at %v: floor until %v, want %v", tt.now, floors[0].Until.UTC(), tt.until)
			}
		})
	}
}

// TestCronNextFollowsTheClock compares the firings of expressions in zones
// with clock changes, around each change of 2026, with a minute-by-minute
// walk of the zone's clock: an hourly expression fires whenever the clock
// reads a time it matches; any other fires when the clock first reaches or
// passes a time it matches.
func TestCronNextFollowsTheClock(t *testing.T) {
	specs := []string{
		"CRON_TZ=America/New_York 30 2 * * *",
		"CRON_TZ=America/New_York 30 1 * * *",
		"CRON_TZ=America/New_York 0,15,30,45 1-3 * * *",
		"CRON_TZ=America/New_York 30 * * * *",
		"CRON_TZ=America/New_York */20 * * * *",
		"CRON_TZ=Europe/Berlin 0 8 * * 1-5",
		"CRON_TZ=Europe/Berlin 30 2 * * 0",
		"CRON_TZ=Australia/Lord_Howe 0 8 * * *",
		"CRON_TZ=Australia/Lord_Howe 45 1 * * *",
		"CRON_TZ=Australia/Lord_Howe 15 * * * *",
		"CRON_TZ=America/Santiago 0 0 * * *",
		"CRON_TZ=America/Havana 0 0 * * *",
		"CRON_TZ=Antarctica/Troll 30 1 * * *",
		"0 8 * * *",
	}
	for _, spec := range specs {
		c, err := cfgCompileCron(spec)
		if err != nil {
			t.Fatal(err)
		}
		// The weeks around each of the zone's changes in 2026, and one
		// ordinary week.
		starts := []time.Time{time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}
		for at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC); ; {
			_, end := at.In(c.loc).ZoneBounds()
			if end.IsZero() || end.Year() > 2026 {
				break
			}
			starts = append(starts, end.Add(-3*24*time.Hour))
			at = end
		}
		for _, from := range starts {
			to := from.Add(6 * 24 * time.Hour)
			var want []time.Time
			var maxWall time.Time
			for at := from.Add(-2 * 24 * time.Hour); at.Before(to); at = at.Add(time.Minute) {
				w := c.wallTime(at)
				fires := false
				if c.realTime {
					fires = c.wall.Next(w.Add(-time.Second)).Equal(w)
				} else if w.After(maxWall) {
					// A matching time in (maxWall, w] is reached now.
					n := c.wall.Next(maxWall)
					fires = !maxWall.IsZero() && !n.After(w)
				}
				if w.After(maxWall) {
					maxWall = w
				}
				if fires && at.After(from) {
					want = append(want, at)
				}
			}
			var got []time.Time
			for f := c.next(from); f.Before(to); f = c.next(f) {
				got = append(got, f)
			}
			if len(got) != len(want) {
				t.Fatalf("%s from %v: %d firings, want %d:\n got %v\nwant %v", spec, from, len(got), len(want), got, want)
			}
			for i := range got {
				if !got[i].Equal(want[i]) {
					t.Fatalf("%s from %v: firing %d at %v, want %v", spec, from, i, got[i].In(c.loc), want[i].In(c.loc))
				}
			}
		}
	}
}

// TestScheduleFloorMovedByClockChange: a firing the clock's jump moved
// says so in its reason (what the page, the status and the decisions
// show), naming the time the expression asks for and the jump; a firing
// at the time it names, on that day or any other, says nothing of it.
func TestScheduleFloorMovedByClockChange(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	const moved = "fired at"
	tests := []struct {
		name, cron string
		now        time.Time
		want       string // "" for no word of a move
	}{
		// Berlin: 2026-03-29 02:00 CET becomes 03:00 CEST (01:00 UTC).
		{"02:30 Berlin on spring forward", "CRON_TZ=Europe/Berlin 30 2 * * *", at("2026-03-29T01:10:00Z"),
			"; fired at 03:00 CEST, not 02:30: the clock skipped 02:30 on Sun 29 Mar 2026 (it jumped from 02:00 CET to 03:00 CEST)"},
		{"02:30 Berlin the day after", "CRON_TZ=Europe/Berlin 30 2 * * *", at("2026-03-30T00:40:00Z"), ""},
		{"03:00 Berlin on spring forward", "CRON_TZ=Europe/Berlin 0 3 * * *", at("2026-03-29T01:10:00Z"), ""},
		{"02:00 and 03:00 Berlin on spring forward", "CRON_TZ=Europe/Berlin 0 2,3 * * *", at("2026-03-29T01:10:00Z"), ""},
		// New York: 2026-03-08 02:00 EST becomes 03:00 EDT (07:00 UTC).
		{"02:15 New York on spring forward", "CRON_TZ=America/New_York 15 2 * * *", at("2026-03-08T07:30:00Z"),
			"; fired at 03:00 EDT, not 02:15: the clock skipped 02:15 on Sun 8 Mar 2026 (it jumped from 02:00 EST to 03:00 EDT)"},
		// Falling back repeats 01:30: the first reading fires, not moved.
		{"01:30 New York on fall back", "CRON_TZ=America/New_York 30 1 * * *", at("2026-11-01T05:40:00Z"), ""},
		// Lord Howe jumps half an hour: 02:00 +10:30 becomes 02:30 +11.
		{"02:10 Lord Howe on spring forward", "CRON_TZ=Australia/Lord_Howe 10 2 * * *", at("2026-10-03T15:40:00Z"),
			"; fired at 02:30 +11, not 02:10: the clock skipped 02:10 on Sun 4 Oct 2026 (it jumped from 02:00 +1030 to 02:30 +11)"},
		{"UTC", "0 2 * * *", at("2026-03-29T02:10:00Z"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fl := ScheduleFloors(Pool{Schedules: []Schedule{{Name: "s", Cron: tt.cron, GPUs: 8, Duration: Duration(2 * time.Hour)}}}, tt.now)
			if len(fl) != 1 {
				t.Fatalf("%d floors at %s, want 1", len(fl), tt.now)
			}
			r := fl[0].Reason
			if tt.want == "" && strings.Contains(r, moved) {
				t.Errorf("reason %q, want no word of a move", r)
			}
			if tt.want != "" && !strings.HasSuffix(r, tt.want) {
				t.Errorf("reason %q\nwant it to end %q", r, tt.want)
			}
		})
	}
}
