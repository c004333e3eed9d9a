package state

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"short", "abc", 5, "abc"},
		{"exact", "abcde", 5, "abcde"},
		{"cut", "abcdefgh", 5, "ab…"},
		{"cut before a two-byte rune", "aéééé", 6, "aé…"},       // "aé" is 3 bytes, + 3 for …
		{"never inside a rune", "aaéééé", 6, "aa…"},             // "aaé" is 4 bytes: too long
		{"four-byte runes", "𝄞𝄞𝄞", 9, "𝄞…"},                     // 4 + 3
		{"bound below the mark", "abcdef", 2, ""},               // no room for …
		{"invalid UTF-8 is replaced", "a\xffb", 10, "a\uFFFDb"}, // 5 bytes after replacement
		{"empty", "", 0, ""},
	} {
		got := Truncate(tc.in, tc.max)
		if got != tc.want {
			t.Errorf("%s: Truncate(%q, %d) = %q, want %q", tc.name, tc.in, tc.max, got, tc.want)
		}
		if len(got) > tc.max || !utf8.ValidString(got) {
			t.Errorf("%s: Truncate(%q, %d) = %q: %d bytes, valid UTF-8 %v", tc.name, tc.in, tc.max, got, len(got), utf8.ValidString(got))
		}
	}
}

func TestInvalidMessagesNameFieldValueAndWant(t *testing.T) {
	t0 := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	long := strings.Repeat("x", MaxIDLen+1)
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"empty ID", second(Intent{Pool: "p", Provider: "aws", CreatedAt: t0}.Bounded()),
			`state: Intent.ID "" is invalid: want a non-empty string of at most 256 bytes`},
		{"long ID", second(Intent{ID: long, Pool: "p", Provider: "aws", CreatedAt: t0}.Bounded()),
			`state: Intent.ID "` + strings.Repeat("x", 61) + `…" (257 bytes) is invalid: want at most 256 bytes, not 257`},
		{"status", second(Intent{ID: "i", Pool: "p", Provider: "aws", Status: "lost", CreatedAt: t0}.Bounded()),
			`state: Intent.Status "lost" is invalid: want one of pending, done, failed`},
		{"epoch", second(Intent{ID: "i", Pool: "p", Provider: "aws", CreatedAt: time.Unix(0, 0)}.Bounded()),
			`state: Intent.CreatedAt 1970-01-01T00:00:00Z is invalid: want zero (unset) or a time after 1970-01-01T00:00:00Z and before 2262-04-11T23:47:16Z`},
		{"count", second(Intent{ID: "i", Pool: "p", Provider: "aws", Count: -2, CreatedAt: t0}.Bounded()),
			`state: Intent.Count -2 is invalid: want 0 to 10000`},
		{"until before start", second(Floor{ID: "f", Pool: "p", Kind: FloorManual, Start: t0, Until: t0.Add(-time.Hour)}.Bounded()),
			`state: Floor.Until 2026-03-14T08:00:00Z is invalid: want zero (no end) or after Start 2026-03-14T09:00:00Z`},
		{"money", second(SpendEntry{Pool: "p", Provider: "aws", InstanceID: "i", PeriodStart: t0, Amount: -0.5}.Bounded()),
			`state: SpendEntry.Amount -0.5 is invalid: want a finite amount >= 0`},
		{"page limit", second(PageLimit("DecisionFilter.Limit", -1)),
			`state: DecisionFilter.Limit -1 is invalid: want 0 (default 100) to 1000`},
		{"batch", second(BatchBounded("PutInstances", MaxBatch+1)),
			`state: PutInstances (10001 rows) is invalid: want at most 10000 rows a call`},
		{"schema", &SchemaError{Database: "/var/lib/spillway/state.db", Have: 7, Know: 3},
			`state: /var/lib/spillway/state.db has schema version 7, newer than the 3 this binary knows: upgrade spillway, or restore a backup made before the upgrade`},
	} {
		if tc.err == nil || tc.err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.name, tc.err, tc.want)
		}
	}
}

func TestEveryProblemIsReported(t *testing.T) {
	_, err := Instance{State: "zombie", GPUs: -1}.Bounded()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err %v, want ErrInvalid", err)
	}
	for _, field := range []string{"Instance.ID", "Instance.Provider", "Instance.Pool", "Instance.State", "Instance.GPUs"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("%q does not name %s", err, field)
		}
	}
}

func TestPageLimit(t *testing.T) {
	for _, tc := range []struct{ in, want int }{{0, DefaultPageLimit}, {1, 1}, {MaxPageLimit, MaxPageLimit}, {MaxPageLimit + 1, MaxPageLimit}} {
		if got, err := PageLimit("f", tc.in); err != nil || got != tc.want {
			t.Errorf("PageLimit(%d) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }
