package policy

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // CRON_TZ= zones must not depend on the host's zoneinfo

	"github.com/robfig/cron/v3"
)

// ScheduleFloors returns the floors of pool's schedules that are active at
// now: a schedule is active when its cron fired at some t with
// now-duration < t <= now, and then holds its GPUs until the latest such
// t plus its duration.
//
// A cron expression without a CRON_TZ= (or TZ=) prefix is read in UTC, so
// the result does not depend on the host or on now's location. Schedules
// that do not compile (configs from Parse never have any) are skipped.
// ScheduleFloors is pure; it memoises parsed expressions and the last
// firing window internally so calling it every simulated tick is cheap.
func ScheduleFloors(pool Pool, now time.Time) []Floor {
	var floors []Floor
	for i, s := range pool.Schedules {
		if s.GPUs <= 0 || s.Duration <= 0 {
			continue
		}
		e, err := cfgScheduleEntry(s.Cron, s.Duration.D())
		if err != nil {
			continue
		}
		last, ok := e.lastFiring(now)
		if !ok {
			continue
		}
		name := s.Name
		if name == "" {
			name = fmt.Sprintf("schedule[%d]", i)
		}
		until := last.Add(e.d)
		floors = append(floors, Floor{
			Kind:  FloorSchedule,
			Owner: name,
			Reason: fmt.Sprintf("schedule %q (%s, %s) holds %d GPUs until %s",
				name, e.c.expr, e.c.zone, s.GPUs, cfgUntil(until.In(e.c.loc), now.In(e.c.loc))),
			GPUs:  s.GPUs,
			Until: until,
		})
	}
	return floors
}

// NextScheduleFiring returns the earliest firing of any of the pool's
// schedules after t, and false when none will fire. A simulator that skips
// idle time uses it not to skip past a floor.
func NextScheduleFiring(pool Pool, t time.Time) (time.Time, bool) {
	var best time.Time
	for _, s := range pool.Schedules {
		if s.GPUs <= 0 || s.Duration <= 0 {
			continue
		}
		c, err := cfgCompileCron(s.Cron)
		if err != nil {
			continue
		}
		if n := c.sched.Next(t); !n.IsZero() && (best.IsZero() || n.Before(best)) {
			best = n
		}
	}
	return best, !best.IsZero()
}

// cfgUntil formats an end time, with its date only when it is not on now's day.
func cfgUntil(until, now time.Time) string {
	if until.Year() == now.Year() && until.YearDay() == now.YearDay() {
		return until.Format("15:04")
	}
	return until.Format("Mon 2 Jan 15:04")
}

// CheckCron reports whether spec is a cron expression ScheduleFloors can
// use: 5 fields, optionally prefixed CRON_TZ=Area/City (or TZ=), firing on
// some date. The zone must be named: Local (the host's zone) is refused,
// so a schedule does not move with the host. The error says what is wrong
// and what would be valid.
func CheckCron(spec string) error {
	_, err := cfgCompileCron(spec)
	return err
}

// cfgCron is a compiled cron expression.
type cfgCron struct {
	sched cron.Schedule
	expr  string // the expression without its time zone prefix
	zone  string // "CRON_TZ=Area/City" as written, or "UTC"
	loc   *time.Location
}

// cfgCronStart is a reference time for checking that an expression fires at all.
var cfgCronStart = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

var cfgCronCache sync.Map // spec string -> *cfgCron

// cfgCompileCron parses a 5-field cron expression with an optional
// CRON_TZ=/TZ= prefix; without one it is read in UTC.
func cfgCompileCron(spec string) (*cfgCron, error) {
	if c, ok := cfgCronCache.Load(spec); ok {
		return c.(*cfgCron), nil
	}
	const how = `use 5 fields (minute hour day-of-month month day-of-week), e.g. "0 8 * * 1-5", optionally prefixed with a time zone, e.g. "CRON_TZ=Europe/Berlin 0 8 * * 1-5"`
	s := strings.TrimSpace(spec)
	c := &cfgCron{expr: s, zone: "UTC", loc: time.UTC}
	full := "CRON_TZ=UTC " + s
	if strings.HasPrefix(s, "CRON_TZ=") || strings.HasPrefix(s, "TZ=") {
		tz, rest, _ := strings.Cut(s, " ")
		_, name, _ := strings.Cut(tz, "=")
		if name == "Local" {
			return nil, fmt.Errorf("bad cron %q: time zone Local is the zone of the host the server runs on, so the schedule would move with the host; name the zone, such as Europe/Berlin, or leave the prefix out for UTC", spec)
		}
		loc, err := time.LoadLocation(name)
		if err != nil || name == "" {
			return nil, fmt.Errorf("bad cron %q: unknown time zone %q: use an IANA zone such as Europe/Berlin, America/New_York or UTC", spec, name)
		}
		c.expr, c.zone, c.loc = strings.TrimSpace(rest), tz, loc
		full = s
	}
	if strings.HasPrefix(c.expr, "@every") {
		return nil, fmt.Errorf("bad cron %q: @every has no fixed start time, so a floor could not say when it holds; %s", spec, how)
	}
	sched, err := cron.ParseStandard(full)
	if err != nil {
		return nil, fmt.Errorf("bad cron %q: %v; %s", spec, err, how)
	}
	if sched.Next(cfgCronStart).IsZero() {
		return nil, fmt.Errorf("bad cron %q: it never fires (no such date); %s", spec, how)
	}
	c.sched = sched
	cfgCronCache.Store(spec, c)
	return c, nil
}

// cfgSchedEntry memoises, for one (expression, duration), the window of
// times whose latest firing is already known.
type cfgSchedEntry struct {
	c   *cfgCron
	d   time.Duration
	win atomic.Pointer[cfgWindow]
}

// cfgWindow: for every t in [from, to), the latest firing at or before t
// is last, or, when last is zero, lies at or before from-d (inactive).
type cfgWindow struct {
	from, to, last time.Time
}

type cfgSchedKey struct {
	spec string
	d    time.Duration
}

var cfgSchedCache sync.Map // cfgSchedKey -> *cfgSchedEntry

func cfgScheduleEntry(spec string, d time.Duration) (*cfgSchedEntry, error) {
	k := cfgSchedKey{spec, d}
	if e, ok := cfgSchedCache.Load(k); ok {
		return e.(*cfgSchedEntry), nil
	}
	c, err := cfgCompileCron(spec)
	if err != nil {
		return nil, err
	}
	e, _ := cfgSchedCache.LoadOrStore(k, &cfgSchedEntry{c: c, d: d})
	return e.(*cfgSchedEntry), nil
}

// lastFiring returns the latest firing t with now-d < t <= now, if any.
func (e *cfgSchedEntry) lastFiring(now time.Time) (time.Time, bool) {
	if w := e.win.Load(); w != nil && !now.Before(w.from) && now.Before(w.to) {
		if w.last.IsZero() || !now.Before(w.last.Add(e.d)) {
			return time.Time{}, false
		}
		return w.last, true
	}
	first := e.c.sched.Next(now.Add(-e.d))
	if first.IsZero() {
		return time.Time{}, false
	}
	if first.After(now) {
		e.win.Store(&cfgWindow{from: now, to: first})
		return time.Time{}, false
	}
	// Firings fall on whole minutes. Find the smallest k such that a firing
	// lies in (now-k·min, now]: that firing is the latest one.
	lo, hi := 1, int(now.Sub(first)/time.Minute)+1
	for lo < hi {
		mid := (lo + hi) / 2
		if !e.c.sched.Next(now.Add(-time.Duration(mid) * time.Minute)).After(now) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	last := e.c.sched.Next(now.Add(-time.Duration(lo) * time.Minute))
	next := e.c.sched.Next(last)
	if next.IsZero() {
		next = last.Add(e.d)
	}
	e.win.Store(&cfgWindow{from: last, to: next, last: last})
	return last, true
}
