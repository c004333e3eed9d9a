package policy

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestScheduleFloors(t *testing.T) {
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse("2006-01-02 15:04:05", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	weekday := Schedule{Name: "weekday-peak", Cron: "0 8 * * 1-5", GPUs: 16, Duration: Duration(10 * time.Hour)}
	berlin := Schedule{Name: "weekday-peak", Cron: "CRON_TZ=Europe/Berlin 0 8 * * 1-5", GPUs: 16, Duration: Duration(10 * time.Hour)}
	hourly := Schedule{Name: "hourly", Cron: "0 * * * *", GPUs: 8, Duration: Duration(90 * time.Minute)}
	night := Schedule{Name: "night", Cron: "0 22 * * *", GPUs: 4, Duration: Duration(10 * time.Hour)}
	daily8Berlin := Schedule{Name: "daily", Cron: "CRON_TZ=Europe/Berlin 0 8 * * *", GPUs: 8, Duration: Duration(time.Hour)}

	tests := []struct {
		name       string
		schedules  []Schedule
		now        time.Time
		wantUntil  []time.Time // one per expected floor, in schedule order
		wantReason string      // of the first floor, when set
	}{
		// 2026-11-23 is a Monday.
		{name: "before the firing", schedules: []Schedule{weekday}, now: utc("2026-11-23 07:59:59")},
		{name: "at the firing", schedules: []Schedule{weekday}, now: utc("2026-11-23 08:00:00"),
			wantUntil: []time.Time{utc("2026-11-23 18:00:00")}},
		{name: "inside the window", schedules: []Schedule{weekday}, now: utc("2026-11-23 09:00:00"),
			wantUntil:  []time.Time{utc("2026-11-23 18:00:00")},
			wantReason: `schedule "weekday-peak" (0 8 * * 1-5, UTC) holds 16 GPUs until 18:00`},
		{name: "last second of the window", schedules: []Schedule{weekday}, now: utc("2026-11-23 17:59:59"),
			wantUntil: []time.Time{utc("2026-11-23 18:00:00")}},
		{name: "window ended", schedules: []Schedule{weekday}, now: utc("2026-11-23 18:00:00")},
		{name: "sunday", schedules: []Schedule{weekday}, now: utc("2026-11-22 09:00:00")},
		// Berlin is UTC+1 in November: 08:00 Berlin is 07:00 UTC.
		{name: "CRON_TZ winter, active", schedules: []Schedule{berlin}, now: utc("2026-11-23 07:30:00"),
			wantUntil:  []time.Time{utc("2026-11-23 17:00:00")},
			wantReason: `schedule "weekday-peak" (0 8 * * 1-5, CRON_TZ=Europe/Berlin) holds 16 GPUs until 18:00 CET (17:00 UTC)`},
		{name: "CRON_TZ winter, before", schedules: []Schedule{berlin}, now: utc("2026-11-23 06:59:00")},
		{name: "CRON_TZ winter, ended", schedules: []Schedule{berlin}, now: utc("2026-11-23 17:00:00")},
		// ...and UTC+2 in July: 08:00 Berlin is 06:00 UTC (2026-07-06 is a Monday).
		{name: "CRON_TZ summer, active", schedules: []Schedule{berlin}, now: utc("2026-07-06 06:00:00"),
			wantUntil: []time.Time{utc("2026-07-06 16:00:00")}},
		{name: "CRON_TZ summer, before", schedules: []Schedule{berlin}, now: utc("2026-07-06 05:59:59")},
		// 2026-03-29: Berlin moves from UTC+1 to UTC+2 at 01:00 UTC; that
		// day's 08:00 is already summer time.
		{name: "DST change day", schedules: []Schedule{daily8Berlin}, now: utc("2026-03-29 06:00:00"),
			wantUntil: []time.Time{utc("2026-03-29 07:00:00")}},
		{name: "DST change day, winter offset would be wrong", schedules: []Schedule{daily8Berlin}, now: utc("2026-03-29 07:30:00")},
		{name: "day before DST change", schedules: []Schedule{daily8Berlin}, now: utc("2026-03-28 07:30:00"),
			wantUntil: []time.Time{utc("2026-03-28 08:00:00")}},
		// Overlapping windows: the latest firing sets the end.
		{name: "overlapping firings", schedules: []Schedule{hourly}, now: utc("2026-11-23 10:30:00"),
			wantUntil: []time.Time{utc("2026-11-23 11:30:00")}},
		{name: "across midnight, evening", schedules: []Schedule{night}, now: utc("2026-11-23 23:00:00"),
			wantUntil:  []time.Time{utc("2026-11-24 08:00:00")},
			wantReason: `schedule "night" (0 22 * * *, UTC) holds 4 GPUs until Tue 24 Nov 08:00`},
		{name: "across midnight, morning", schedules: []Schedule{night}, now: utc("2026-11-24 07:59:00"),
			wantUntil:  []time.Time{utc("2026-11-24 08:00:00")},
			wantReason: `schedule "night" (0 22 * * *, UTC) holds 4 GPUs until 08:00`},
		// A zone's end on another day than UTC's: 00:30 Berlin is 23:30 UTC.
		{name: "CRON_TZ across midnight", schedules: []Schedule{{Name: "late", Cron: "CRON_TZ=Europe/Berlin 30 22 * * *", GPUs: 4, Duration: Duration(2 * time.Hour)}},
			now: utc("2026-11-23 22:00:00"), wantUntil: []time.Time{utc("2026-11-23 23:30:00")},
			wantReason: `schedule "late" (30 22 * * *, CRON_TZ=Europe/Berlin) holds 4 GPUs until Tue 24 Nov 00:30 CET (23:30 UTC)`},
		// An end in another year says which.
		{name: "holding into next year", schedules: []Schedule{{Name: "year", Cron: "0 8 * * 1-5", GPUs: 4, Duration: Duration(8784 * time.Hour)}},
			now: utc("2026-12-02 16:40:00"), wantUntil: []time.Time{utc("2027-12-03 08:00:00")},
			wantReason: `schedule "year" (0 8 * * 1-5, UTC) holds 4 GPUs until Fri 3 Dec 2027 08:00`},
		{name: "several schedules, some active", schedules: []Schedule{weekday, night, hourly}, now: utc("2026-11-23 09:10:00"),
			wantUntil: []time.Time{utc("2026-11-23 18:00:00"), utc("2026-11-23 10:30:00")}},
		{name: "default owner", schedules: []Schedule{{Cron: "0 0 * * *", GPUs: 2, Duration: Duration(time.Hour)}},
			now: utc("2026-11-23 00:10:00"), wantUntil: []time.Time{utc("2026-11-23 01:00:00")},
			wantReason: `schedule "schedule[0]" (0 0 * * *, UTC) holds 2 GPUs until 01:00`},
		{name: "invalid and empty schedules are skipped", schedules: []Schedule{
			{Cron: "not a cron", GPUs: 2, Duration: Duration(time.Hour)},
			{Cron: "* * * * *", GPUs: 0, Duration: Duration(time.Hour)},
			{Cron: "* * * * *", GPUs: 2},
		}, now: utc("2026-11-23 00:10:00")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			floors := ScheduleFloors(Pool{Name: "p", Schedules: tt.schedules}, tt.now)
			if len(floors) != len(tt.wantUntil) {
				t.Fatalf("got %d floors %+v, want %d", len(floors), floors, len(tt.wantUntil))
			}
			for i, f := range floors {
				if !f.Until.Equal(tt.wantUntil[i]) {
					t.Errorf("floor %d until %v, want %v", i, f.Until.UTC(), tt.wantUntil[i])
				}
				if f.Kind != FloorSchedule || f.GPUs <= 0 || f.Owner == "" {
					t.Errorf("floor %d = %+v", i, f)
				}
			}
			if tt.wantReason != "" && floors[0].Reason != tt.wantReason {
				t.Errorf("reason\n got %s\nwant %s", floors[0].Reason, tt.wantReason)
			}
		})
	}
}

// TestScheduleFloorsLocationIndependent: the same instant in another
// location gives the same floors.
func TestScheduleFloorsLocationIndependent(t *testing.T) {
	pool := Pool{Schedules: []Schedule{
		{Name: "a", Cron: "0 8 * * 1-5", GPUs: 8, Duration: Duration(10 * time.Hour)},
		{Name: "b", Cron: "CRON_TZ=Asia/Shanghai 0 9 * * *", GPUs: 8, Duration: Duration(9 * time.Hour)},
	}}
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	a := ScheduleFloors(pool, now)
	b := ScheduleFloors(pool, now.In(mustLoc(t, "America/Los_Angeles")))
	if len(a) != 2 || len(a) != len(b) {
		t.Fatalf("got %d and %d floors, want 2 each", len(a), len(b))
	}
	for i := range a {
		if !a[i].Until.Equal(b[i].Until) || a[i].Reason != b[i].Reason {
			t.Errorf("floor %d differs by location: %+v vs %+v", i, a[i], b[i])
		}
	}
}

// TestScheduleFloorsMatchesBruteForce compares ScheduleFloors, called at
// random times in random order (so its memoised windows are hit and
// missed), with a direct walk over every firing.
func TestScheduleFloorsMatchesBruteForce(t *testing.T) {
	schedules := []Schedule{
		{Name: "weekday", Cron: "CRON_TZ=Europe/Berlin 0 8 * * 1-5", GPUs: 16, Duration: Duration(10 * time.Hour)},
		{Name: "every-15", Cron: "*/15 * * * *", GPUs: 1, Duration: Duration(40 * time.Minute)},
		{Name: "monthly", Cron: "CRON_TZ=America/New_York 30 2 1 * *", GPUs: 8, Duration: Duration(72 * time.Hour)},
		{Name: "long", Cron: "0 */6 * * *", GPUs: 2, Duration: Duration(5 * time.Hour)},
	}
	pool := Pool{Schedules: schedules}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	times := make([]time.Time, 0, 3000)
	for i := 0; i < 1500; i++ { // random instants over a year
		times = append(times, start.Add(time.Duration(rng.Int64N(int64(365*24*time.Hour)))).Truncate(time.Second))
	}
	for i := 0; i < 1500; i++ { // a monotonic walk, as the simulator does
		times = append(times, start.Add(time.Duration(i)*7*time.Minute))
	}
	for _, now := range times {
		got := map[string]time.Time{}
		for _, f := range ScheduleFloors(pool, now) {
			got[f.Owner] = f.Until
		}
		for _, s := range schedules {
			sched, err := cron.ParseStandard(withTZ(s.Cron))
			if err != nil {
				t.Fatal(err)
			}
			var last time.Time
			for f := sched.Next(now.Add(-s.Duration.D())); !f.After(now); f = sched.Next(f) {
				last = f
			}
			until, active := got[s.Name]
			if active != !last.IsZero() || (active && !until.Equal(last.Add(s.Duration.D()))) {
				t.Fatalf("%s at %v: got active=%v until %v, brute force last firing %v", s.Name, now, active, until, last)
			}
		}
	}
}

func withTZ(spec string) string {
	if strings.HasPrefix(spec, "CRON_TZ=") {
		return spec
	}
	return "CRON_TZ=UTC " + spec
}

func BenchmarkScheduleFloors(b *testing.B) {
	pool := Pool{Schedules: []Schedule{
		{Name: "weekday", Cron: "CRON_TZ=Europe/Berlin 0 8 * * 1-5", GPUs: 16, Duration: Duration(10 * time.Hour)},
		{Name: "night", Cron: "0 22 * * *", GPUs: 4, Duration: Duration(8 * time.Hour)},
	}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		ScheduleFloors(pool, now)
		now = now.Add(30 * time.Second) // one simulated tick
	}
}

// TestCheckCronZonePrefix: the zone prefix ends at the first space or tab,
// and a prefix with nothing after it is refused with a message, not a crash.
func TestCheckCronZonePrefix(t *testing.T) {
	tests := []struct {
		spec    string
		wantErr string // "" for a valid spec
	}{
		{spec: "CRON_TZ=Europe/Berlin 0 8 * * *"},
		{spec: "CRON_TZ=Europe/Berlin\t0 8 * * *"},
		{spec: "TZ=Asia/Tokyo \t 0\t8 * * 1-5"},
		{spec: "CRON_TZ=Europe/Berlin", wantErr: "the time zone is not followed by the 5 fields"},
		{spec: "TZ=UTC \t", wantErr: "the time zone is not followed by the 5 fields"},
		{spec: "CRON_TZ=Europe/Atlantis\t0 8 * * *", wantErr: `unknown time zone "Europe/Atlantis"`},
	}
	for _, tt := range tests {
		err := CheckCron(tt.spec)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%q: %v, want it valid", tt.spec, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%q: err %v, want one saying %q", tt.spec, err, tt.wantErr)
		}
	}
}
