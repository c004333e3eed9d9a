package config

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// durationTerm is one "number unit" of a duration as people write it:
// 10 minutes, 1.5 hrs, 2d, 90 sec, 1e3s (as a script prints a float).
var durationTerm = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]{1,3})?)\s*([a-zµμ]*)\s*(?:,|and)?\s*`)

// durationUnits maps the units people write to Go's, with days and weeks
// as multiples of hours (Go durations have no day unit).
var durationUnits = map[string]struct {
	unit  string
	times float64
}{
	"ns": {"ns", 1}, "us": {"us", 1}, "µs": {"µs", 1}, "μs": {"μs", 1}, "ms": {"ms", 1},
	"s": {"s", 1}, "sec": {"s", 1}, "secs": {"s", 1}, "second": {"s", 1}, "seconds": {"s", 1},
	"m": {"m", 1}, "min": {"m", 1}, "mins": {"m", 1}, "minute": {"m", 1}, "minutes": {"m", 1},
	"h": {"h", 1}, "hr": {"h", 1}, "hrs": {"h", 1}, "hour": {"h", 1}, "hours": {"h", 1},
	"d": {"h", 24}, "day": {"h", 24}, "days": {"h", 24},
	"w": {"h", 168}, "wk": {"h", 168}, "week": {"h", 168}, "weeks": {"h", 168},
}

// nextUnit is the unit a trailing bare number means after the one before
// it: 1h30 is 1h30m, 5m30 is 5m30s.
var nextUnit = map[string]string{"h": "m", "m": "s"}

// DurationGuess is the Go duration a person most likely meant by s, which
// time.ParseDuration refuses, and "" when there is none to offer: "1h30m"
// for 1h30, "10m" for "10 minutes" or 10M, "48h" for 2d, "90m" for
// "1 hour 30 minutes". A bare number (10) has no guess: seconds and
// minutes are both likely; DurationHint says so.
func DurationGuess(s string) string {
	if _, err := time.ParseDuration(s); err == nil {
		// Well-formed, refused for its range: a guess would repeat it
		// (--since 99999h: "did you mean 99999h?").
		return ""
	}
	rest := strings.ToLower(strings.TrimSpace(s))
	if rest == "" || strings.HasPrefix(rest, "-") {
		return ""
	}
	var b strings.Builder
	prev, terms := "", 0
	for rest != "" && terms < 8 {
		m := durationTerm.FindStringSubmatch(rest)
		if m == nil || m[0] == "" {
			return ""
		}
		rest, terms = rest[len(m[0]):], terms+1
		num, unit := m[1], m[2]
		if unit == "" {
			if rest != "" || nextUnit[prev] == "" {
				return "" // a bare number: no unit to guess
			}
			unit = nextUnit[prev]
		}
		u, ok := durationUnits[unit]
		if !ok {
			return ""
		}
		if u.times != 1 || strings.Contains(num, "e") {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return ""
			}
			num = strconv.FormatFloat(f*u.times, 'f', -1, 64)
		}
		b.WriteString(num + u.unit)
		prev = u.unit
	}
	if rest != "" {
		return ""
	}
	d, err := time.ParseDuration(b.String())
	if err != nil || d <= 0 {
		return ""
	}
	return DurationString(d)
}

// DurationHint is what to add to a message refusing s as a duration: the
// guess (", did you mean 1h30m?"), or for a bare number that it needs a
// unit; "" when there is nothing to add.
func DurationHint(s string) string {
	if g := DurationGuess(s); g != "" {
		return fmt.Sprintf("; did you mean %s?", g)
	}
	// The number as a Go duration reads it: 1e3 and 010 are 1000 and 10
	// (a duration's digits are decimal: 010s is 10s, read as written).
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) || err == nil && math.IsInf(f, 0) || math.IsNaN(f) {
		return ""
	}
	t := strconv.FormatFloat(f, 'f', -1, 64)
	if _, err := time.ParseDuration(t + "s"); err != nil {
		return "; a number alone has no unit, and this one is past what a duration holds in seconds"
	}
	return fmt.Sprintf("; a number alone has no unit: write %ss, %sm or %sh", t, t, t)
}

// DurationString writes d as people read it: 1h30m, not 1h30m0s; 5m, not
// 5m0s.
func DurationString(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
