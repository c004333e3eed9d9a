package api_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/spillway-io/spillway/api"
)

// TestDurationsWithLeadingZerosAreReadAsWritten (a guard): a burst's for
// and a decisions query's since read "010m" as ten minutes, as config
// reads a duration (its digits are decimal, unlike YAML's octal 010, which
// config refuses for whole numbers): no reader takes it for anything else,
// so it is no sloppy input to refuse, as a sign is ("+1h", which is read
// as 1h while "-1h" is refused).
func TestDurationsWithLeadingZerosAreReadAsWritten(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
	}{{"010m", 10 * time.Minute}, {"007h", 7 * time.Hour}, {"1h05m", time.Hour + 5*time.Minute}, {"00090s", 90 * time.Second}} {
		var d api.Duration
		if err := json.Unmarshal([]byte(`"`+tc.v+`"`), &d); err != nil || time.Duration(d) != tc.want {
			t.Errorf("for %q: read %v, %v; want %v", tc.v, time.Duration(d), err, tc.want)
		}
		if got, err := api.ParseSince(tc.v, now); err != nil || now.Sub(got) != tc.want {
			t.Errorf("since=%s: read %v, %v; want %v back from now", tc.v, got, err, tc.want)
		}
	}
}
