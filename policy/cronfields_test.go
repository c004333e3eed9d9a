package policy

import (
	"strings"
	"testing"
	"time"
)

// TestCronSundaySeven: day-of-week 7 is Sunday, as in crontab(5), alone,
// as a range end or start and in lists and steps; each spec fires exactly
// when the one written with 0 does, over a year of firings.
func TestCronSundaySeven(t *testing.T) {
	tests := []struct{ spec, same string }{
		{"0 8 * * 7", "0 8 * * 0"},
		{"0 8 * * 5-7", "0 8 * * 0,5,6"},
		{"0 8 * * 0-7", "0 8 * * *"},
		{"0 8 * * 1-7", "0 8 * * *"},
		{"0 8 * * SAT-7", "0 8 * * 0,6"},
		{"0 8 * * 1,7", "0 8 * * 0,1"},
		{"0 8 * * 1-7/2", "0 8 * * 0,1,3,5"},
		{"0 8 * * 7/3", "0 8 * * 0"},
		{"CRON_TZ=Europe/Berlin 30 2 * * 7", "CRON_TZ=Europe/Berlin 30 2 * * SUN"},
		{"0 8 * * */2", "0 8 * * 0,2,4,6"},
		{"0 8 * * 5/1", "0 8 * * 5,6"},
		{"0 8 * * MON-FRI", "0 8 * * 1-5"},
	}
	for _, tt := range tests {
		got, err := cfgCompileCron(tt.spec)
		if err != nil {
			t.Errorf("%q: %v, want it read as %q", tt.spec, err, tt.same)
			continue
		}
		want, err := cfgCompileCron(tt.same)
		if err != nil {
			t.Fatalf("%q: %v", tt.same, err)
		}
		a, b := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := 0; i < 400; i++ {
			a, b = got.next(a), want.next(b)
			if !a.Equal(b) {
				t.Errorf("%q fires at %s, %q at %s", tt.spec, a, tt.same, b)
				break
			}
		}
		if got.expr != strings.TrimSpace(strings.TrimPrefix(tt.spec, "CRON_TZ=Europe/Berlin")) {
			t.Errorf("%q: shown as %q, want it as written", tt.spec, got.expr)
		}
	}
}

// TestCheckCronWords: a word cron cannot read (a misspelt or long day or
// month name, Quartz's L and #) is named with its field and what the
// field takes, not with strconv's text; numbers out of range still are
// refused.
func TestCheckCronWords(t *testing.T) {
	tests := []struct{ spec, want string }{
		{"0 8 * * MONN", `bad cron "0 8 * * MONN": day-of-week "MONN" is neither a number nor a day name: use 0-7 (0 and 7 are Sunday) or SUN, MON, TUE, WED, THU, FRI, SAT (names are three letters: MON?)`},
		{"0 8 * * mon-fry", `day-of-week "fry" is neither a number nor a day name: use 0-7 (0 and 7 are Sunday) or SUN, MON, TUE, WED, THU, FRI, SAT;`},
		{"0 8 * * Monday-Friday", `day-of-week "Monday" is neither a number nor a day name: use 0-7 (0 and 7 are Sunday) or SUN, MON, TUE, WED, THU, FRI, SAT (names are three letters: MON?)`},
		{"0 8 1 Sept *", `month "Sept" is neither a number nor a month name: use 1-12 or JAN, FEB, MAR, APR, MAY, JUN, JUL, AUG, SEP, OCT, NOV, DEC (names are three letters: SEP?)`},
		{"0 8 L * *", `day-of-month "L" is not a number: use 1-31;`},
		{"0 8 * * 1#2", `day-of-week "1#2" is neither a number nor a day name`},
		{"x 8 * * *", `minute "x" is not a number: use 0-59;`},
		{"0 8 * * */x", `day-of-week "x" is neither a number nor a day name`},
		{"0 8 * * 8", `end of range (8) above maximum`},
		{"0 8 * * 6-8", `above maximum`},
		{"0 8 * * 7-1", `beyond end of range`},
	}
	for _, tt := range tests {
		err := CheckCron(tt.spec)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err %v, want one saying %s", tt.spec, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "strconv") {
			t.Errorf("%q: %v: strconv's text reaches the user", tt.spec, err)
		}
	}
	for _, ok := range []string{"0 8 * jan-mar mon-fri", "0 8 ? * Sun", "*/15 8-18 * * 1-5"} {
		if err := CheckCron(ok); err != nil {
			t.Errorf("%q: %v, want it valid", ok, err)
		}
	}
}
