package policy

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // CRON_TZ= zones must not depend on the host's zoneinfo
	"unicode"

	"github.com/robfig/cron/v3"
)

// ScheduleFloors returns the floors of pool's schedules that are active at
// now: a schedule is active when its cron fired at some t with
// now-duration < t <= now, and then holds its GPUs until the latest such
// t plus its duration.
//
// A cron expression without a CRON_TZ= (or TZ=) prefix is read in UTC, so
// the result does not depend on the host or on now's location. In a zone
// with daylight saving, a time the clock skips fires when the clock jumps
// past it and a time it reads twice fires the first time, as cron does,
// unless the expression's hour field is *: it then fires whenever the
// clock reads a time it matches (cfgCron.next). Schedules
// that do not compile (configs from Parse never have any) are skipped.
// ScheduleFloors is pure; it memoises parsed expressions and the last
// firing window internally so calling it every simulated tick is cheap.
func ScheduleFloors(pool Pool, now time.Time) []Floor {
	return scheduleFloors(pool, now, false)
}

// ScheduleFloorsWithoutReasons is ScheduleFloors for a caller that reads
// no floor's Reason (the simulator, which asks at every evaluation): the
// same floors, with Reason empty.
func ScheduleFloorsWithoutReasons(pool Pool, now time.Time) []Floor {
	return scheduleFloors(pool, now, true)
}

// scheduleFloors is ScheduleFloors; quiet leaves each Reason empty.
func scheduleFloors(pool Pool, now time.Time, quiet bool) []Floor {
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
		reason := ""
		if !quiet {
			reason = fmt.Sprintf("schedule %q (%s, %s) holds %s until %s%s",
				name, e.c.expr, e.c.zone, counted(s.GPUs, "GPU"), e.c.until(until, now), e.c.moved(last))
		}
		floors = append(floors, Floor{Kind: FloorSchedule, Owner: name, Reason: reason, GPUs: s.GPUs, Until: until})
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
		if n := c.next(t); !n.IsZero() && (best.IsZero() || n.Before(best)) {
			best = n
		}
	}
	return best, !best.IsZero()
}

// until formats a firing's end for its floor's reason: by the schedule's
// clock, and, for a schedule read in a zone other than UTC, with the zone
// and the time in UTC, which the status, the decisions and the API give
// every other time in ("18:00 CET (17:00 UTC)").
func (c *cfgCron) until(until, now time.Time) string {
	at := until.In(c.loc)
	if zone, off := at.Zone(); zone != "UTC" || off != 0 {
		return fmt.Sprintf("%s %s (%s UTC)", cfgUntil(at, now.In(c.loc)), zone, cfgUntil(until.UTC(), now.UTC()))
	}
	return cfgUntil(at, now.In(c.loc))
}

// cfgUntil formats an end time, with its date only when it is not on
// now's day, and its year only when it is not now's year.
func cfgUntil(until, now time.Time) string {
	switch {
	case until.Year() != now.Year():
		return until.Format("Mon 2 Jan 2006 15:04")
	case until.YearDay() != now.YearDay():
		return until.Format("Mon 2 Jan 15:04")
	}
	return until.Format("15:04")
}

// CheckCron reports whether spec is a cron expression ScheduleFloors can
// use: 5 fields, optionally prefixed CRON_TZ=Area/City (or TZ=), firing on
// some date; day-of-week 0 and 7 are both Sunday. The zone must be named: Local (the host's zone) is refused,
// so a schedule does not move with the host. The error says what is wrong
// and what would be valid.
func CheckCron(spec string) error {
	_, err := cfgCompileCron(spec)
	return err
}

// cfgCron is a compiled cron expression.
type cfgCron struct {
	// wall matches the expression's wall-clock times: it runs in UTC on
	// times whose clock reads as loc's clock does, so that loc's
	// daylight-saving changes cannot make it skip or repeat a time.
	wall *cron.SpecSchedule
	// realTime: the expression fires every hour (its hour field is *), so
	// it follows real time across a clock change, as cron does: no firing
	// for minutes the clock skips, two for minutes it repeats. Otherwise a
	// firing in a skipped hour is at the change, and one in a repeated
	// hour is the first time the clock reads it.
	realTime bool
	expr     string // the expression without its time zone prefix
	zone     string // "CRON_TZ=Area/City" as written, or "UTC"
	loc      *time.Location
}

// cfgCronStart is a reference time for checking that an expression fires at all.
var cfgCronStart = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

var cfgCronCache sync.Map // spec string -> *cfgCron

// cfgCompileCron parses a 5-field cron expression with an optional
// CRON_TZ=/TZ= prefix; without one it is read in UTC. Day-of-week 7 is
// Sunday, as 0 is (crontab(5)).
func cfgCompileCron(spec string) (*cfgCron, error) {
	if c, ok := cfgCronCache.Load(spec); ok {
		return c.(*cfgCron), nil
	}
	const how = `use 5 fields (minute hour day-of-month month day-of-week), e.g. "0 8 * * 1-5", optionally prefixed with a time zone, e.g. "CRON_TZ=Europe/Berlin 0 8 * * 1-5"`
	s := strings.TrimSpace(spec)
	c := &cfgCron{expr: s, zone: "UTC", loc: time.UTC}
	if strings.HasPrefix(s, "CRON_TZ=") || strings.HasPrefix(s, "TZ=") {
		tz, rest := s, ""
		if i := strings.IndexFunc(s, unicode.IsSpace); i >= 0 {
			tz, rest = s[:i], s[i:]
		}
		_, name, _ := strings.Cut(tz, "=")
		if strings.TrimSpace(rest) == "" {
			return nil, fmt.Errorf("bad cron %q: the time zone is not followed by the 5 fields, separated by a space; %s", spec, how)
		}
		if name == "Local" {
			return nil, fmt.Errorf("bad cron %q: time zone Local is the zone of the host the server runs on, so the schedule would move with the host; name the zone, such as Europe/Berlin, or leave the prefix out for UTC", spec)
		}
		loc, err := time.LoadLocation(name)
		if err != nil || name == "" {
			return nil, fmt.Errorf("bad cron %q: unknown time zone %q: use an IANA zone such as Europe/Berlin, America/New_York or UTC", spec, name)
		}
		c.expr, c.zone, c.loc = strings.TrimSpace(rest), tz, loc
	}
	if strings.HasPrefix(c.expr, "@every") {
		return nil, fmt.Errorf("bad cron %q: @every has no fixed start time, so a floor could not say when it holds; %s", spec, how)
	}
	expr := c.expr
	if f := strings.Fields(expr); len(f) == 5 {
		if err := cronCheckWords(f); err != nil {
			return nil, fmt.Errorf("bad cron %q: %w; %s", spec, err, how)
		}
		f[4] = cronSundaySeven(f[4])
		expr = strings.Join(f, " ")
	}
	sched, err := cron.ParseStandard("CRON_TZ=UTC " + expr)
	if err != nil {
		return nil, fmt.Errorf("bad cron %q: %v; %s", spec, err, how)
	}
	wall, ok := sched.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("bad cron %q: %s", spec, how)
	}
	if wall.Next(cfgCronStart).IsZero() {
		return nil, fmt.Errorf("bad cron %q: it never fires (no such date); %s", spec, how)
	}
	const allHours = 1<<24 - 1
	c.wall, c.realTime = wall, wall.Hour&allHours == allHours
	cfgCronCache.Store(spec, c)
	return c, nil
}

// next returns the earliest firing after t, or the zero time when there
// is none within about five years.
//
// It walks the matching wall-clock times in order from one at which no
// firing can lie after t. The first instant the clock reads a wall time
// or later never decreases from one wall time to the next, so the walk
// ends at the first wall time whose first instant is after t; before it, a
// real-time expression's second reading of a repeated wall time may be
// the answer.
func (c *cfgCron) next(t time.Time) time.Time {
	w := c.wallTime(t).Add(-c.offsetSpread(t)).Truncate(time.Minute).Add(-time.Second)
	var best time.Time
	for {
		w = c.wall.Next(w)
		if w.IsZero() {
			return best
		}
		var first, second time.Time
		if c.realTime {
			if first, second = c.instants(w); first.IsZero() {
				continue // the clock skips w: no firing
			}
		} else {
			first = c.firstReading(w)
		}
		for _, f := range []time.Time{first, second} {
			if !f.IsZero() && f.After(t) && (best.IsZero() || f.Before(best)) {
				best = f
			}
		}
		if first.After(t) {
			return best
		}
	}
}

// moved says, for a firing at fired, that it fired late because the
// clock skipped the time the expression names (02:30 on a spring-forward
// day fires when the clock jumps from 02:00 to 03:00), or "" for a firing
// at a time the expression names. An expression whose hour is * skips such
// a time instead (next), so none of its firings is moved.
func (c *cfgCron) moved(fired time.Time) string {
	at := fired.In(c.loc)
	if c.realTime || c.loc == time.UTC {
		return ""
	}
	if start, _ := at.ZoneBounds(); !start.Equal(fired) {
		return "" // not at a change of the zone's offset
	}
	gapEnd := c.wallTime(fired)
	gapStart := c.wallTime(fired.Add(-time.Nanosecond)).Truncate(time.Minute).Add(time.Minute)
	if !gapStart.Before(gapEnd) || c.wall.Next(gapEnd.Add(-time.Second)).Equal(gapEnd) {
		return "" // the clock went back, or the expression names this time too
	}
	w := c.wall.Next(gapStart.Add(-time.Second))
	if w.IsZero() || !w.Before(gapEnd) {
		return ""
	}
	before := fired.Add(-time.Nanosecond).In(c.loc)
	return fmt.Sprintf("; fired at %s, not %s: the clock skipped %s (it jumped from %s %s to %s)",
		at.Format("15:04 MST"), w.Format("15:04"), w.Format("15:04 on Mon 2 Jan 2006"),
		gapStart.Format("15:04"), before.Format("MST"), at.Format("15:04 MST"))
}

// wallTime is the time in UTC whose clock reads as loc's clock at t.
func (c *cfgCron) wallTime(t time.Time) time.Time {
	l := t.In(c.loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

// offsetSpread bounds how far loc's offset from UTC moves within two days
// of t: a wall time that far before t's cannot fire after t.
func (c *cfgCron) offsetSpread(t time.Time) time.Duration {
	lo, hi := 0, 0
	first := true
	for at := t.Add(-48 * time.Hour); ; {
		_, off := at.In(c.loc).Zone()
		if first || off < lo {
			lo = off
		}
		if first || off > hi {
			hi = off
		}
		first = false
		_, end := at.In(c.loc).ZoneBounds()
		if end.IsZero() || !end.After(at) || end.After(t.Add(48*time.Hour)) {
			break
		}
		at = end
	}
	return time.Duration(hi-lo) * time.Second
}

// instants returns the instants at which loc's clock reads wall time w
// (in UTC): none in a skipped hour, two in a repeated one.
func (c *cfgCron) instants(w time.Time) (first, second time.Time) {
	guess := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), 0, 0, c.loc)
	start, end := guess.ZoneBounds()
	// The offsets in force at guess and on either side of its period.
	probes := []time.Time{guess}
	if !start.IsZero() {
		probes = append(probes, start.Add(-time.Nanosecond))
	}
	if !end.IsZero() {
		probes = append(probes, end)
	}
	for _, p := range probes {
		_, off := p.In(c.loc).Zone()
		at := w.Add(-time.Duration(off) * time.Second)
		if _, got := at.In(c.loc).Zone(); got != off {
			continue
		}
		switch {
		case first.IsZero():
			first = at
		case at.Before(first):
			first, second = at, first
		case at.After(first) && (second.IsZero() || at.Before(second)):
			second = at
		}
	}
	return first, second
}

// firstReading is the first instant at which loc's clock reads w or
// later: the first instant it reads w, or when the clock skips w, the
// instant it jumps past it.
func (c *cfgCron) firstReading(w time.Time) time.Time {
	if first, _ := c.instants(w); !first.IsZero() {
		return first
	}
	guess := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), 0, 0, c.loc)
	start, end := guess.ZoneBounds()
	if c.wallTime(guess).After(w) {
		return start
	}
	return end
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
	first := e.c.next(now.Add(-e.d))
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
		if !e.c.next(now.Add(-time.Duration(mid) * time.Minute)).After(now) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	last := e.c.next(now.Add(-time.Duration(lo) * time.Minute))
	next := e.c.next(last)
	if next.IsZero() {
		next = last.Add(e.d)
	}
	e.win.Store(&cfgWindow{from: last, to: next, last: last})
	return last, true
}
