package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// cronField describes one of the five fields of a cron expression: its
// name, its range and the names it takes instead of numbers.
type cronField struct {
	name     string
	min, max int
	names    []string // index i names the value min+i (day-of-week: 0 is SUN)
	valid    string   // what the field takes, for a message
}

var cronFieldSpecs = [5]cronField{
	{name: "minute", min: 0, max: 59, valid: "0-59"},
	{name: "hour", min: 0, max: 23, valid: "0-23"},
	{name: "day-of-month", min: 1, max: 31, valid: "1-31"},
	{name: "month", min: 1, max: 12,
		names: []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"},
		valid: "1-12 or JAN, FEB, MAR, APR, MAY, JUN, JUL, AUG, SEP, OCT, NOV, DEC"},
	{name: "day-of-week", min: 0, max: 7,
		names: []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"},
		valid: "0-7 (0 and 7 are Sunday) or SUN, MON, TUE, WED, THU, FRI, SAT"},
}

// cronCheckWords returns an error naming the field and the word when a
// field of a 5-field expression holds a word that is neither a number, *,
// ? nor one of the field's three-letter names (MONN, Sept, Monday, L, 1#2),
// which cron would otherwise report as a failed strconv.Atoi. Numbers out
// of range are left to cron's own message.
func cronCheckWords(fields []string) error {
	for i, f := range fields {
		spec := cronFieldSpecs[i]
		for _, w := range strings.FieldsFunc(f, func(r rune) bool { return r == ',' || r == '-' || r == '/' }) {
			if w == "*" || w == "?" || cronIsNumber(w) || slices.Contains(spec.names, strings.ToUpper(w)) {
				continue
			}
			what := "is not a number"
			switch spec.name {
			case "month":
				what = "is neither a number nor a month name"
			case "day-of-week":
				what = "is neither a number nor a day name"
			}
			hint := ""
			if len(w) > 3 && spec.names != nil {
				if k := slices.Index(spec.names, strings.ToUpper(w[:3])); k >= 0 {
					hint = fmt.Sprintf(" (names are three letters: %s?)", spec.names[k])
				}
			}
			return fmt.Errorf("%s %q %s: use %s%s", spec.name, w, what, spec.valid, hint)
		}
	}
	return nil
}

func cronIsNumber(w string) bool {
	if w == "" || len(w) > 9 {
		return false
	}
	for _, r := range w {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// cronSundaySeven rewrites a day-of-week field in which 7 names Sunday, as
// in Vixie cron and crontab(5), into one robfig/cron reads (0-6): each
// comma part whose range starts or ends at 7 is expanded into its days,
// 7 as 0 (5-7 → 5,6,0; */2 and MON-FRI are left as written). Parts it
// cannot read are left as written for cron to report.
func cronSundaySeven(field string) string {
	parts := strings.Split(field, ",")
	for i, p := range parts {
		rng, stepText, hasStep := strings.Cut(p, "/")
		loText, hiText, hasHi := strings.Cut(rng, "-")
		lo, okLo := cronDayValue(loText)
		hi, okHi := lo, okLo
		switch {
		case hasHi:
			hi, okHi = cronDayValue(hiText)
		case hasStep:
			hi, okHi = 7, true // N/step runs to the end of the field
		}
		step := 1
		if hasStep {
			s, err := strconv.Atoi(stepText)
			if err != nil || s < 1 {
				continue
			}
			step = s
		}
		if !okLo || !okHi || lo > hi || (lo != 7 && (hi != 7 || !hasHi)) {
			continue // no 7 written: cron reads it as it is (N/step runs to 6, the same days)
		}
		var days []string
		seen := map[int]bool{}
		for d := lo; d <= hi; d += step {
			v := d % 7
			if !seen[v] {
				seen[v] = true
				days = append(days, strconv.Itoa(v))
			}
		}
		parts[i] = strings.Join(days, ",")
	}
	return strings.Join(parts, ",")
}

// cronDayValue reads a day-of-week value: a number 0-7 or a day name.
func cronDayValue(w string) (int, bool) {
	if cronIsNumber(w) {
		n, err := strconv.Atoi(w)
		return n, err == nil && n >= 0 && n <= 7
	}
	k := slices.Index(cronFieldSpecs[4].names, strings.ToUpper(w))
	return k, k >= 0
}
