package trace

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // a zone named in a trace must not depend on the host's zoneinfo
)

// DateOrder says which comes first in a date written with its year last
// (11/29/2026 in the US, 29/11/2026 or 29.11.2026 in most of the world),
// as spreadsheets write dates in their locale.
type DateOrder string

// The orders of a date with its year last.
const (
	// DateOrderUnknown reads a date whose day is past 12 as such, and
	// takes the order the first such shows for the file's dates, those
	// above it too; where none shows it, a date whose day and month are
	// both 12 or less is refused, naming both readings.
	DateOrderUnknown DateOrder = ""
	MonthFirst       DateOrder = "month-first"
	DayFirst         DateOrder = "day-first"
)

// ParseDateOrder reads month-first or day-first ("" for neither).
func ParseDateOrder(s string) (DateOrder, error) {
	switch o := DateOrder(strings.ToLower(strings.TrimSpace(s))); o {
	case DateOrderUnknown, MonthFirst, DayFirst:
		return o, nil
	}
	return "", fmt.Errorf("%q: want month-first (11/29/2026) or day-first (29/11/2026)", s)
}

// dateOrder is how the dates with their year last in a file are read: the
// order, and the row (or a JSON log's job) and value that set it (line
// and job 0: Options.DateOrder).
type dateOrder struct {
	order DateOrder
	line  int
	value string
	job   int
}

// wantOrder says how to give the order of a date's day and month.
const wantOrder = "the day and the month in one order: --trace-dates day-first (29/11/2026) or month-first (11/29/2026), or dates as YYYY-MM-DD"

// yearLast is s, a date written with its year last (M/D/YYYY or
// D/M/YYYY, with '/', '.' or '-', one or two digits each, and a time
// after it or none), as YYYY-MM-DD followed by its time, in the order
// p.dates gives or the date shows (a day past 12), which sets p.dates
// for the rows below; "" when s is not such a date. A date that reads
// either way before its file's order is known, or that shows the other
// order, is refused.
func (p *parser) yearLast(line int, col, s string) (string, error) {
	v := strings.TrimSpace(s)
	a, i, ok := twoDigits(v, 0)
	if !ok || i >= len(v) || (v[i] != '/' && v[i] != '.' && v[i] != '-') {
		return "", nil
	}
	sep := v[i]
	b, j, ok := twoDigits(v, i+1)
	if !ok || j+5 > len(v) || v[j] != sep || !allDigits(v[j+1:j+5]) || (j+5 < len(v) && v[j+5] != ' ' && v[j+5] != 'T') {
		return "", nil
	}
	year, rest := v[j+1:j+5], v[j+5:]
	if a == 0 || b == 0 || (a > 12 && b > 12) {
		return "", nil
	}
	shown := DateOrderUnknown // the order the date itself shows
	switch {
	case a > 12:
		shown = DayFirst
	case b > 12:
		shown = MonthFirst
	}
	order := p.dates.order
	switch {
	case shown != DateOrderUnknown && order == DateOrderUnknown:
		p.dates = dateOrder{shown, line, v, p.job}
		order = shown
	case shown != DateOrderUnknown && shown != order:
		by := "--trace-dates " + string(order)
		if p.dates.line > 0 {
			by = fmt.Sprintf("line %d (%q)", p.dates.line, clip(p.dates.value))
		} else if p.dates.job > 0 {
			by = fmt.Sprintf("job %d (%q)", p.dates.job, clip(p.dates.value))
		}
		return "", p.bad(line, col, s, wantOrder, fmt.Errorf("a date with the %s first, where %s has the %s first", unit(shown), by, unit(order)))
	case a == b:
		order = MonthFirst // either order reads the same date
	case order == DateOrderUnknown:
		return "", p.bad(line, col, s, wantOrder+"; or a date in the file whose day is past 12, which tells",
			&ambiguousDateError{readDate(year, b, a), readDate(year, a, b)})
	}
	month, day := a, b
	if order == DayFirst {
		month, day = b, a
	}
	return fmt.Sprintf("%s-%02d-%02d%s", year, month, day, rest), nil
}

// ambiguousDateError is a date with its year last that reads either way
// (01/02/2026) before its file's order is known: the rows from it on are
// held until a date shows the order (undatedRows).
type ambiguousDateError struct{ dayFirst, monthFirst string }

func (e *ambiguousDateError) Error() string {
	return fmt.Sprintf("a date that reads as %s (day first) or %s (month first)", e.dayFirst, e.monthFirst)
}

// orderShown is the order a date with its year last in one of rec's
// fields shows (its day past 12), and that field; DateOrderUnknown when
// none shows one.
func orderShown(rec []string) (DateOrder, string) {
	for _, f := range rec {
		v := strings.TrimSpace(f)
		a, i, ok := twoDigits(v, 0)
		if !ok || i >= len(v) || (v[i] != '/' && v[i] != '.' && v[i] != '-') {
			continue
		}
		b, j, ok := twoDigits(v, i+1)
		if !ok || j+5 > len(v) || v[j] != v[i] || !allDigits(v[j+1:j+5]) || (j+5 < len(v) && v[j+5] != ' ' && v[j+5] != 'T') || a == 0 || b == 0 {
			continue
		}
		switch {
		case a > 12 && b <= 12:
			return DayFirst, v
		case b > 12 && a <= 12:
			return MonthFirst, v
		}
	}
	return DateOrderUnknown, ""
}

// undatedRows are the rows held from a date that reads either way
// (ambiguousDateError) on, until a row below shows the order, when they
// are read in it: their lines, their fields, their bytes (bounded by
// MaxHeldBytes), and the first's error, returned when no row shows it.
type undatedRows struct {
	lines []int
	recs  [][]string
	bytes int
	err   *Error
}

// readDated calls fn for row rec, or holds it while a date that reads
// either way waits for a row below to show the file's order (the rows are
// read as they come otherwise): a row that shows it sets it, and the rows
// held are read then, in their order. The rows held take at most
// MaxHeldBytes.
func (p *parser) readDated(fn func(line int, rec []string) error, line int, rec []string) error {
	u := &p.undated
	if u.err == nil {
		err := fn(line, rec)
		if err == nil || p.dates.order != DateOrderUnknown {
			return err
		}
		te := ambiguousError(err)
		if te == nil {
			return err
		}
		u.err = te
	} else if o, v := orderShown(rec); o != DateOrderUnknown {
		p.dates = dateOrder{o, line, v, 0}
		if err := p.readUndated(fn); err != nil {
			return err
		}
		return fn(line, rec)
	}
	// What a row held takes: its text, and each field's and its own
	// slice header.
	u.bytes += 24
	for _, v := range rec {
		u.bytes += len(v) + 16
	}
	if u.bytes > MaxHeldBytes {
		u.err.Want = fmt.Sprintf("%s; or a date whose day is past 12, which tells, in the %d MiB of rows after it", wantOrder, MaxHeldBytes>>20)
		return u.err
	}
	u.lines = append(u.lines, line)
	u.recs = append(u.recs, slices.Clone(rec))
	return nil
}

// ambiguousError is err as the *Error of a date that reads either way
// (ambiguousDateError), or nil.
func ambiguousError(err error) *Error {
	var te *Error
	var ae *ambiguousDateError
	if errors.As(err, &ae) && errors.As(err, &te) {
		return te
	}
	return nil
}

// readUndated reads the rows readDated held, once a row has shown the
// order; at the file's end with none shown, the first one's date is
// refused with both its readings.
func (p *parser) readUndated(fn func(line int, rec []string) error) error {
	u := p.undated
	p.undated = undatedRows{}
	if u.err == nil {
		return nil
	}
	if p.dates.order == DateOrderUnknown {
		u.err.Want = wantOrder + "; no date in the file has its day past 12, which would tell"
		return u.err
	}
	for i, rec := range u.recs {
		if err := fn(u.lines[i], rec); err != nil {
			return err
		}
	}
	return nil
}

// unit names what comes first in a date of order o.
func unit(o DateOrder) string {
	if o == DayFirst {
		return "day"
	}
	return "month"
}

// readDate writes a date as a person reads it ("1 February 2026").
func readDate(year string, month, day int) string {
	return fmt.Sprintf("%d %s %s", day, time.Month(month), year)
}

// twoDigits reads a number of one or two digits at s[i:], returning it
// and the index past it.
func twoDigits(s string, i int) (int, int, bool) {
	n, j := 0, i
	for j < len(s) && j < i+2 && s[j] >= '0' && s[j] <= '9' {
		n = n*10 + int(s[j]-'0')
		j++
	}
	return n, j, j > i
}

// allDigits reports whether s is digits only (and not empty).
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// tidyDateTime is s, a date-time with its year first, with a one-digit
// month, day or hour written with two (2026-1-5 9:05, as spreadsheets and
// Python's str(datetime) of some exports write them) and a 12-hour clock's
// AM or PM made a 24-hour one (9:05:00 PM: 21:05:00), and a zone named
// UTC or GMT written Z; s as it is when it is
// none such, or when its hour before AM or PM is not from 1 to 12.
func tidyDateTime(s string) string {
	if n := len(s); n > 14 && (strings.EqualFold(s[n-4:], " UTC") || strings.EqualFold(s[n-4:], " GMT")) {
		// As BigQuery's CSV exports write a TIMESTAMP.
		s = s[:n-4] + "Z"
	}
	if len(s) < 8 || !allDigits(s[:4]) || (s[4] != '-' && s[4] != '/') {
		return s
	}
	// As most are written: two digits each, a 24-hour clock.
	if last := s[len(s)-1]; len(s) >= 10 && s[7] == s[4] && (len(s) == 10 || (len(s) >= 14 && (s[10] == ' ' || s[10] == 'T') && s[13] == ':')) &&
		last != 'M' && last != 'm' {
		return s
	}
	sep := s[4]
	month, i, ok := twoDigits(s, 5)
	if !ok || i >= len(s) || s[i] != sep {
		return s
	}
	day, i, ok := twoDigits(s, i+1)
	if !ok {
		return s
	}
	date := fmt.Sprintf("%s%c%02d%c%02d", s[:4], sep, month, sep, day)
	if i == len(s) {
		return date
	}
	if s[i] != ' ' && s[i] != 'T' {
		return s
	}
	hour, j, ok := twoDigits(s, i+1)
	if !ok || j >= len(s) || s[j] != ':' {
		return s
	}
	rest := s[j:]
	if up := strings.ToUpper(rest); strings.HasSuffix(up, "AM") || strings.HasSuffix(up, "PM") {
		if hour < 1 || hour > 12 {
			return s
		}
		hour %= 12
		if strings.HasSuffix(up, "PM") {
			hour += 12
		}
		rest = strings.TrimRight(rest[:len(rest)-2], " ")
	}
	return fmt.Sprintf("%s%c%02d%s", date, s[i], hour, rest)
}

// wantZone says how a date-time may give its zone.
const wantZone = "a zone after the time as an offset (+08:00, +0800, +08, UTC+8) or an IANA name (Asia/Shanghai, America/Los_Angeles), or none and --trace-zone"

// errZoneAbbrev is a zone written as an abbreviation (PST, CST, CEST),
// which names no one zone: CST is US Central, China or Cuba time, IST
// India, Israel or Ireland's; none is guessed.
var errZoneAbbrev = errors.New("a zone abbreviation, which names no one zone (CST: US Central, China or Cuba time)")

// zoneOf splits the zone written after a date-time's time, one word after
// a space: a numeric offset (+08:00, +0800, +08, -5), one after UTC or
// GMT (UTC+8, GMT+08:00), or an IANA name (Asia/Shanghai, Etc/GMT-8; not
// Local, the host's). It returns the date-time before it and the zone, or
// s and nil when no zone ends s. An abbreviation (PST) is errZoneAbbrev, and a name that
// looks like an IANA name and is none an error naming it.
func zoneOf(s string) (string, *time.Location, error) {
	v := strings.TrimSpace(s)
	i := strings.LastIndexByte(v, ' ')
	if i < 0 || !strings.Contains(v[:i], ":") {
		return s, nil, nil // no time before a last word
	}
	rest, tok := strings.TrimRight(v[:i], " "), v[i+1:]
	up := strings.ToUpper(tok)
	switch {
	case up == "AM" || up == "PM":
		return s, nil, nil
	case up == "UTC" || up == "GMT" || up == "Z":
		return rest, time.UTC, nil // after a time without its seconds
	case up == "LOCAL":
		return s, nil, fmt.Errorf("%q is the zone of whichever machine reads the trace", tok)
	case tok[0] == '+' || tok[0] == '-':
		if off, ok := zoneOffset(tok); ok {
			return rest, time.FixedZone("UTC"+tok, off), nil
		}
	case (strings.HasPrefix(up, "UTC") || strings.HasPrefix(up, "GMT")) && len(tok) > 3 && (tok[3] == '+' || tok[3] == '-'):
		if off, ok := zoneOffset(tok[3:]); ok {
			return rest, time.FixedZone("UTC"+tok[3:], off), nil
		}
	case strings.Contains(tok, "/"):
		loc, err := time.LoadLocation(tok)
		if err != nil || len(tok) > 64 {
			return s, nil, fmt.Errorf("%q is no IANA zone", clip(tok))
		}
		return rest, loc, nil
	case len(tok) >= 2 && len(tok) <= 5 && strings.IndexFunc(tok, func(r rune) bool { return r < 'A' || r > 'Z' && r < 'a' || r > 'z' }) < 0:
		return s, nil, fmt.Errorf("%q is %w", tok, errZoneAbbrev)
	}
	return s, nil, nil
}

// zoneOffset reads a zone offset, ±H, ±HH, ±HHMM or ±HH:MM, to at most
// 14 hours (Kiribati's), as seconds east of UTC.
func zoneOffset(s string) (int, bool) {
	if len(s) < 2 || (s[0] != '+' && s[0] != '-') {
		return 0, false
	}
	h, m := s[1:], ""
	switch {
	case len(h) == 5 && h[2] == ':':
		h, m = h[:2], h[3:]
	case len(h) == 4:
		h, m = h[:2], h[2:]
	case len(h) > 2:
		return 0, false
	}
	if !allDigits(h) || (m != "" && !allDigits(m)) {
		return 0, false
	}
	hours, _ := strconv.Atoi(h)
	mins := 0
	if m != "" {
		mins, _ = strconv.Atoi(m)
	}
	if hours > 14 || mins > 59 || hours == 14 && mins > 0 {
		return 0, false
	}
	off := hours*3600 + mins*60
	if s[0] == '-' {
		off = -off
	}
	return off, true
}
