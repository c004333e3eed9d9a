package policy

import (
	"strings"
	"testing"
	"time"
)

// FuzzCron: any cron expression a config may hold is accepted or refused
// without a panic, and one that names Sunday 7 in its day-of-week fires
// when the same expression with 0 for that 7 fires (crontab(5)).
func FuzzCron(f *testing.F) {
	for _, s := range []string{
		"0 8 * * 7", "0 8 * * 5-7", "0 8 * * 7/2", "0 8 * * 1,7", "30 9 * * MON-FRI",
		"0 8 * * MONN", "0 8 * Sept *", "CRON_TZ=Europe/Berlin 30 2 * * 7", "0 0 1 1 *",
		"*/15 * * * *", "0 8 * * 7-7", "0 8 * * 0-7/3", "0 8 * * 7-5", "0 8 * * ,7,", "0 8 * * 7/0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		if len(spec) > 200 {
			return
		}
		if err := CheckCron(spec); err != nil {
			return
		}
		fields := strings.Fields(spec)
		if len(fields) != 5 || fields[4] != "7" {
			return
		}
		zero := strings.Join(append(fields[:4:4], "0"), " ")
		a, errA := cfgCompileCron(spec)
		b, errB := cfgCompileCron(zero)
		if errA != nil || errB != nil {
			t.Fatalf("%q: %v; %q: %v", spec, errA, zero, errB)
		}
		from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		if na, nb := a.next(from), b.next(from); !na.Equal(nb) {
			t.Fatalf("%q next fires %v, %q %v", spec, na, zero, nb)
		}
	})
}
