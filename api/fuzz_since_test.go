package api_test

import (
	"testing"
	"time"

	"github.com/spillway-io/spillway/api"
)

// FuzzParseSince: the since= of /v1/decisions and --since come from
// outside; none panics, and a time read is never in the future of now nor
// more than 366 days back when given as a duration.
func FuzzParseSince(f *testing.F) {
	for _, s := range []string{"1h", "100000000h", "-5m", "2026-11-30", "2026-11-30T10:00:00", "2026-11-30T10:00:00Z",
		"2026-11-30 10:00", "0s", "8784h", "8784h1ns", ".5h", "1e3h", "2026-02-30", "0001-01-01T00:00:00Z", ""} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		got, err := api.ParseSince(v, now)
		if err != nil {
			return
		}
		if d, derr := time.ParseDuration(v); derr == nil && (got.After(now) || now.Sub(got) != d) {
			t.Fatalf("ParseSince(%q) = %v: want %v before %v", v, got, d, now)
		}
	})
}
