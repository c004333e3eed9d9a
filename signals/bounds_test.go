package signals

import (
	"math"
	"testing"
	"time"
)

func TestWaitSeconds(t *testing.T) {
	for _, tt := range []struct {
		sec  float64
		want time.Duration
		ok   bool
	}{
		{0, 0, true}, {90.5, 90500 * time.Millisecond, true}, {MaxWait.Seconds(), MaxWait, true},
		{-1, 0, false}, {MaxWait.Seconds() + 1, 0, false}, {1e300, 0, false}, {math.NaN(), 0, false}, {math.Inf(1), 0, false},
	} {
		got, err := WaitSeconds(tt.sec)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("WaitSeconds(%v) = %v, %v; want %v, ok %v", tt.sec, got, err, tt.want, tt.ok)
		}
	}
}

func TestJobGPUs(t *testing.T) {
	for _, tt := range []struct {
		per, count, want int
		ok               bool
	}{
		{8, 4, 32, true}, {0, 5, 0, true}, {1 << 10, 1 << 10, 1 << 20, true},
		{1 << 11, 1 << 10, 0, false}, {math.MaxInt64, 2, 0, false}, {2, math.MaxInt64, 0, false}, {-1, 2, 0, false},
		{4611686018427387904, 2, 0, false},
	} {
		got, err := JobGPUs(tt.per, tt.count)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("JobGPUs(%d, %d) = %d, %v; want %d, ok %v", tt.per, tt.count, got, err, tt.want, tt.ok)
		}
	}
}

func TestWaitSince(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		at   time.Time
		want time.Duration
	}{
		{now.Add(-90 * time.Second), 90 * time.Second},
		{now.Add(time.Hour), 0},                  // a start ahead of the clock
		{time.Unix(0, 0), MaxWait},               // a score of 0: 1970
		{now.Add(-MaxWait - time.Hour), MaxWait}, // held for over a year
	} {
		if got := WaitSince(now, tt.at); got != tt.want {
			t.Errorf("WaitSince(%v) = %v, want %v", tt.at, got, tt.want)
		}
	}
}
