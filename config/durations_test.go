package config

import "testing"

// TestDurationGuess: a duration written as people write it is answered
// with the Go duration they meant, and only then.
func TestDurationGuess(t *testing.T) {
	for _, tc := range []struct{ in, guess, hint string }{
		{"1h30", "1h30m", "; did you mean 1h30m?"},
		{"5m30", "5m30s", "; did you mean 5m30s?"},
		{"10 minutes", "10m", "; did you mean 10m?"},
		{"10 min", "10m", "; did you mean 10m?"},
		{"10M", "10m", "; did you mean 10m?"},
		{"1 hour 30 minutes", "1h30m", "; did you mean 1h30m?"},
		{"1 hour, 30 minutes", "1h30m", "; did you mean 1h30m?"},
		{"1h 30m", "1h30m", "; did you mean 1h30m?"},
		{"2d", "48h", "; did you mean 48h?"},
		{"1.5 days", "36h", "; did you mean 36h?"},
		{"1w", "168h", "; did you mean 168h?"},
		{"90 sec", "1m30s", "; did you mean 1m30s?"},
		// Exponents, as a script prints a float: Go's durations have none.
		{"1e3s", "16m40s", "; did you mean 16m40s?"},
		{"1.5E2m", "2h30m", "; did you mean 2h30m?"},
		{"2e-3s", "2ms", "; did you mean 2ms?"},
		{"1e9h", "", ""}, // past what a duration holds
		{"1e999999s", "", ""},
		{"10", "", "; a number alone has no unit: write 10s, 10m or 10h"},
		{"1.5", "", "; a number alone has no unit: write 1.5s, 1.5m or 1.5h"},
		// The hint is a duration Go reads: it was 1e3s (refused in turn)
		// and 010s for a number written as a script or a template prints it.
		{"1e3", "", "; a number alone has no unit: write 1000s, 1000m or 1000h"},
		{"010", "", "; a number alone has no unit: write 10s, 10m or 10h"},
		{"1e300", "", "; a number alone has no unit, and this one is past what a duration holds in seconds"},
		{"1e400", "", "; a number alone has no unit, and this one is past what a duration holds in seconds"},
		{"inf", "", ""},
		{"30s15", "", ""}, // no unit after seconds to guess
		{"10 parsecs", "", ""},
		{"1:30", "", ""},
		{"abc", "", ""},
		{"-5m 3", "", ""},
		{"", "", ""},
		{"9999999999999 days", "", ""}, // past what a duration holds
		{"1 2 3 4 5 6 7 8 9 h", "", ""},
		// Go durations, refused only for their range (--since 99999h):
		// it was "did you mean 99999h?", and 1h30m for 90m.
		{"99999h", "", ""},
		{"90m", "", ""},
		{"+2h", "", ""},
		{" 90m", "1h30m", "; did you mean 1h30m?"},
	} {
		if got := DurationGuess(tc.in); got != tc.guess {
			t.Errorf("DurationGuess(%q) = %q, want %q", tc.in, got, tc.guess)
		}
		if got := DurationHint(tc.in); got != tc.hint {
			t.Errorf("DurationHint(%q) = %q, want %q", tc.in, got, tc.hint)
		}
	}
}
