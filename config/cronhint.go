package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// cronFields are the five fields of a cron expression, with their ranges.
var cronFields = [5]struct {
	name     string
	min, max int
}{
	{"minute", 0, 59}, {"hour", 0, 23}, {"day-of-month", 1, 31}, {"month", 1, 12}, {"day-of-week", 0, 7},
}

// cronYear matches a field that reads as a year (2026, 2026-2027).
var cronYear = regexp.MustCompile(`^(19|20)[0-9]{2}(-(19|20)[0-9]{2})?$`)

// cronZoneName matches a field that reads as an IANA time zone's name
// (Europe/Berlin, America/Argentina/Buenos_Aires, UTC).
var cronZoneName = regexp.MustCompile(`^([A-Z][A-Za-z_+-]*(/[A-Za-z0-9_+-]+)+|UTC|GMT)$`)

// cronNumber matches the numbers in a field (its values, range ends and
// steps are all read as values here: a step outside the range is wrong too).
var cronNumber = regexp.MustCompile(`[0-9]+`)

// cronHint says which field of a cron expression the policy refused is
// wrong, and how to write it, for the mistakes of a person used to another
// cron: a seconds field or a year field (Quartz, Spring, robfig's
// WithSeconds), a value outside its field's range. "" when it has nothing to add to the policy's message.
func cronHint(spec string) string {
	expr, zone := strings.TrimSpace(spec), ""
	if strings.HasPrefix(expr, "CRON_TZ=") || strings.HasPrefix(expr, "TZ=") {
		i := strings.IndexFunc(expr, unicode.IsSpace)
		if i < 0 {
			return ""
		}
		expr, zone = strings.TrimSpace(expr[i:]), expr[:i]+" "
	}
	f := strings.Fields(expr)
	if len(f) == 0 || strings.HasPrefix(f[0], "@") {
		return ""
	}
	switch {
	case len(f) == 7:
		return fmt.Sprintf("; these 7 fields read as Quartz's (seconds first, year last), which cron here has not: drop both, %q", zone+strings.Join(f[1:6], " "))
	case len(f) == 6:
		return cronSixHint(zone, f)
	case len(f) != 5:
		return ""
	}
	for i, field := range f {
		r := cronFields[i]
		for _, num := range cronNumber.FindAllString(field, -1) {
			n, err := strconv.Atoi(num)
			if err != nil || (n >= r.min && n <= r.max) {
				continue
			}
			if i == 1 && n == 24 {
				return "; hour 24 is outside 0-23: midnight is hour 0"
			}
			return fmt.Sprintf("; %s %d is outside %d-%d", r.name, n, r.min, r.max)
		}
	}
	return ""
}

// cronSixHint reads six fields as what the person most likely meant: a
// year last (Quartz; AWS EventBridge's cron(), whose day-of-month or
// day-of-week is ?), a time zone last, or seconds first (Quartz, Spring,
// robfig's WithSeconds, whose ? is in the day-of-month or day-of-week after
// the seconds); six fields that read either way (0 8 * * 1-5 *: seconds,
// or EventBridge's year) are given both ways to write them.
func cronSixHint(zone string, f []string) string {
	yearLast := fmt.Sprintf("%q", zone+strings.Join(f[:5], " "))
	secondsFirst := fmt.Sprintf("%q", zone+strings.Join(f[1:], " "))
	switch {
	case cronYear.MatchString(f[5]):
		return fmt.Sprintf("; the 6th field, %s, reads as a year, which cron here has not: drop it, %s", f[5], yearLast)
	case zone == "" && cronZoneName.MatchString(f[5]):
		return fmt.Sprintf("; the 6th field, %s, reads as a time zone, which goes first here: %q", f[5], "CRON_TZ="+f[5]+" "+strings.Join(f[:5], " "))
	case f[5] == "*" && (f[2] == "?" || f[4] == "?"):
		return fmt.Sprintf("; these 6 fields read as AWS EventBridge's (year last), which cron here has not: drop the year, %s", yearLast)
	case f[5] == "*" && f[3] != "?":
		return fmt.Sprintf("; with 6 fields the first reads as seconds (Quartz, Spring, robfig's WithSeconds) or the last as a year (AWS EventBridge), which cron here has neither of: drop the seconds, %s, or the year, %s", secondsFirst, yearLast)
	}
	return fmt.Sprintf("; with 6 fields the first reads as seconds (Quartz, Spring, robfig's WithSeconds), which cron here has not: drop it, %s", secondsFirst)
}
