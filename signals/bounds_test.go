package signals

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
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

// TestLeftOutBounded: a source's left-out jobs are counted by why, first
// seen first; past MaxLeftOutKinds kinds they go under "other reasons",
// so a hostile queue cannot grow the list, and no job goes uncounted.
func TestLeftOutBounded(t *testing.T) {
	var d Demand
	for i := range 20 {
		d.AddLeftOut(fmt.Sprintf("pending for Reason%d", i))
		d.AddLeftOut("pending for Reason0")
	}
	total := 0
	for _, l := range d.LeftOut {
		total += l.Jobs
	}
	last := d.LeftOut[len(d.LeftOut)-1]
	if len(d.LeftOut) != MaxLeftOutKinds || total != 40 || d.LeftOut[0] != (LeftOut{Why: "pending for Reason0", Jobs: 21}) || last != (LeftOut{Why: "other reasons", Jobs: 5}) {
		t.Errorf("left out %+v (%d jobs), want %d kinds, Reason0 21 times, 5 for other reasons, 40 jobs", d.LeftOut, total, MaxLeftOutKinds)
	}
}

// TestSameSizeJobs: a count-only reading becomes jobs of one size; a
// reading that lists its jobs, or no size given, is left alone.
func TestSameSizeJobs(t *testing.T) {
	big := MaxListedJobs + 1
	for _, c := range []struct {
		name         string
		in           Demand
		perJob       int
		jobs, gpus   int
		known        bool
		listed, each int
	}{
		{"jobs", Demand{PendingJobs: 3}, 8, 3, 24, true, 3, 8},
		{"jobs and their GPUs: the jobs count", Demand{PendingJobs: 3, PendingGPUs: 5, PendingGPUsKnown: true}, 8, 3, 24, true, 3, 8},
		{"GPUs alone, whole jobs", Demand{PendingGPUs: 12, PendingGPUsKnown: true}, 8, 2, 16, true, 2, 8},
		{"nothing pending", Demand{PendingGPUsKnown: true}, 8, 0, 0, true, 0, 0},
		{"no jobs", Demand{}, 8, 0, 0, true, 0, 0},
		{"no size", Demand{PendingJobs: 3}, 0, 3, 0, false, 0, 0},
		{"listed jobs stay", Demand{PendingJobs: 2, PendingGPUs: 9, PendingGPUsKnown: true, JobGPUs: []int{8, 1}}, 4, 2, 9, true, 2, 0},
		{"too many to list", Demand{PendingJobs: big}, 2, big, 2 * big, true, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := SameSizeJobs(c.in, c.perJob)
			if d.PendingJobs != c.jobs || d.PendingGPUs != c.gpus || d.PendingGPUsKnown != c.known || len(d.JobGPUs) != c.listed {
				t.Fatalf("%+v → jobs %d GPUs %d (known %v), %d listed; want %d, %d (%v), %d", c.in, d.PendingJobs, d.PendingGPUs, d.PendingGPUsKnown, len(d.JobGPUs), c.jobs, c.gpus, c.known, c.listed)
			}
			for _, g := range d.JobGPUs {
				if c.each > 0 && g != c.each {
					t.Fatalf("JobGPUs %v, want each %d", d.JobGPUs, c.each)
				}
			}
		})
	}
}

func TestCount(t *testing.T) {
	for _, c := range []struct {
		in   float64
		want int
		ok   bool
	}{
		{0, 0, true}, {3, 3, true}, {2.25, 3, true}, {MaxCount, MaxCount, true},
		{0.3, 1, true}, {2.4, 3, true}, {3.0000000000000004, 3, true}, {2.9999999999999996, 3, true}, {1e-12, 0, true}, {3.000001, 4, true}, {-2.7755575615628914e-17, 0, true}, {-1e-9, 0, true},
		{-1.1e-9, 0, false},
		{MaxCount + 1, 0, false}, {1e300, 0, false}, {-1, 0, false}, {math.NaN(), 0, false}, {math.Inf(1), 0, false},
	} {
		got, err := Count(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("Count(%v) = %d, %v; want %d (ok %v)", c.in, got, err, c.want, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "out of range: want a count from 0 to 2147483647") {
			t.Errorf("Count(%v): %v does not name the range", c.in, err)
		}
	}
}

// TestListAgrees: counts read beside a job list are the list's, or the
// reading contradicts itself; a list is at most MaxListedJobs long.
func TestListAgrees(t *testing.T) {
	n := func(v int) *int { return &v }
	for _, c := range []struct {
		name       string
		list       []int
		jobs, gpus *int
		want       string // "" when they agree
	}{
		{"no counts", []int{1, 2}, nil, nil, ""},
		{"both agree", []int{1, 2}, n(2), n(3), ""},
		{"an empty list and zeros", []int{}, n(0), n(0), ""},
		{"jobs disagree", []int{1, 2}, n(1), nil, "pending_jobs is 1 but job_gpus lists 2 jobs (want"},
		{"GPUs disagree", []int{1, 2}, nil, n(100), "pending_gpus is 100 but job_gpus sums to 3 GPUs (want"},
		{"both disagree", []int{1, 2}, n(1), n(100), "pending_jobs is 1 but job_gpus lists 2 jobs; pending_gpus is 100 but job_gpus sums to 3 GPUs"},
		{"a sum past MaxCount", slices.Repeat([]int{MaxJobGPUs}, 2049), nil, nil, "job_gpus sums to 2148532224 GPUs, want at most 2147483647"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := ListAgrees(c.list, c.jobs, c.gpus)
			if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
	if err := ListLength(MaxListedJobs); err != nil {
		t.Errorf("ListLength(MaxListedJobs): %v", err)
	}
	if err := ListLength(MaxListedJobs + 1); err == nil || err.Error() != "lists 1048577 jobs, want at most 1048576 (a longer queue can be read by its counts alone)" {
		t.Errorf("ListLength(MaxListedJobs+1): %v, want the length and the bound named", err)
	}
}

// TestShorten: a quoted value is cut between characters, never through
// one: a job name in Japanese or an emoji quoted in an error stays valid
// UTF-8.
func TestShorten(t *testing.T) {
	for _, tt := range []struct {
		name, s string
		n       int
		want    string
	}{
		{"short enough", "abc", 3, "abc"},
		{"ascii", "abcdef", 3, "abc…"},
		{"through a 3-byte character", "ジョブ名", 4, "ジ…"},
		{"at a character's end", "ジョブ名", 6, "ジョ…"},
		{"through a 4-byte character", "a🚀b", 3, "a…"},
		{"through a 2-byte character", "éé", 1, "…"},
		{"bytes that are no character's", "\xff\xff\xff\xff\xff\xff", 3, "\xff\xff\xff…"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Shorten(tt.s, tt.n)
			if got != tt.want {
				t.Errorf("Shorten(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
			}
			if utf8.ValidString(tt.s) && !utf8.ValidString(got) {
				t.Errorf("Shorten(%q, %d) = %q, not valid UTF-8", tt.s, tt.n, got)
			}
		})
	}
}

// TestParseDecimal: a count written as a string reads as JSON or
// Prometheus would write it; Go's own syntax is refused, not read as a
// number nobody wrote.
func TestParseDecimal(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want float64
		err  bool
	}{
		{"5", 5, false},
		{"-3", -3, false},
		{"+2", 2, false},
		{".5", 0.5, false}, // bc
		{"5.", 5, false},
		{"1e3", 1000, false},
		{"1.5E-2", 0.015, false},
		{"+Inf", math.Inf(1), false},
		{"-Inf", math.Inf(-1), false},
		{"1_000", 0, true},
		{"0x1p4", 0, true},
		{"0x10", 0, true},
		{"infinity", 0, true},
		{"inf", 0, true},
		{"", 0, true},
		{".", 0, true},
		{"e5", 0, true},
		{"1e999", 0, true},
		{" 5", 0, true},
		{"٣", 0, true},
	} {
		got, err := ParseDecimal(tt.s)
		if (err != nil) != tt.err || (!tt.err && got != tt.want) {
			t.Errorf("ParseDecimal(%q) = %v, %v; want %v (error %v)", tt.s, got, err, tt.want, tt.err)
		}
	}
	if f, err := ParseDecimal("NaN"); err != nil || !math.IsNaN(f) {
		t.Errorf("ParseDecimal(NaN) = %v, %v; want NaN", f, err)
	}
}
