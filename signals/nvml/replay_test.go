package nvml

import (
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// heliosFractions reads running/total from a Helios CSV independently of
// ReadHeliosSeries, so the tests compare two readings of the same file.
func heliosFractions(t testing.TB, path string) []float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var run, tot int
	for i, h := range recs[0] {
		switch h {
		case "running_gpu_num":
			run = i
		case "total_gpu_num":
			tot = i
		}
	}
	var out []float64
	for _, r := range recs[1:] {
		a, _ := strconv.Atoi(r[run])
		b, _ := strconv.Atoi(r[tot])
		out = append(out, float64(a)/float64(b))
	}
	return out
}

func TestDefaultSeriesIsTheEmbeddedHeliosSample(t *testing.T) {
	s := DefaultSeries()
	want := heliosFractions(t, "traces/vchbv_sequence.csv")
	if len(s.Busy) != len(want) || len(want) < 300 {
		t.Fatalf("default series has %d steps, file has %d (want a few hundred)", len(s.Busy), len(want))
	}
	for i := range want {
		if s.Busy[i] != want[i] {
			t.Fatalf("step %d: busy %v, file says %v", i, s.Busy[i], want[i])
		}
	}
	if s.Step != time.Minute || s.Duration() != time.Duration(len(want))*time.Minute {
		t.Errorf("step %v duration %v, want one minute a row", s.Step, s.Duration())
	}
	// The sample must vary, or a replay would show nothing.
	lo, hi := 1.0, 0.0
	for _, v := range s.Busy {
		lo, hi = min(lo, v), max(hi, v)
	}
	if hi-lo < 0.5 {
		t.Errorf("embedded sample varies only from %v to %v", lo, hi)
	}
	if _, err := traces.ReadFile("traces/LICENSE"); err != nil {
		t.Errorf("trace licence is not embedded with the data: %v", err)
	}
}

func TestSeriesAtWrapsAround(t *testing.T) {
	s := &Series{Step: time.Minute, Busy: []float64{0.1, 0.2, 0.3}}
	for _, tc := range []struct {
		at   time.Duration
		want float64
	}{
		{0, 0.1}, {59 * time.Second, 0.1}, {time.Minute, 0.2}, {2*time.Minute + 30*time.Second, 0.3},
		{3 * time.Minute, 0.1}, {7 * time.Minute, 0.2}, {-time.Minute, 0.3},
	} {
		if got := s.At(tc.at); got != tc.want {
			t.Errorf("At(%v) = %v, want %v", tc.at, got, tc.want)
		}
	}
}

func TestBadSeriesFiles(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string // every fragment must be in the message
	}{
		{"bad_running.csv", []string{"bad_running.csv", "line 3", "running_gpu_num", `"lots"`, "whole number"}},
		{"bad_time.csv", []string{"bad_time.csv", "line 4", "time", `"27/05/2020 06:02"`, "YYYY-MM-DD HH:MM:SS"}},
		{"bad_overfull.csv", []string{"bad_overfull.csv", "line 2", `"80"`, "more than total_gpu_num (64)"}},
		{"bad_short_row.csv", []string{"bad_short_row.csv", "line 2", "wrong number of fields"}},
		{"bad_header.csv", []string{"bad_header.csv", `no column "running_gpu_num"`, "Helios sequence CSV"}},
		{"bad_order.csv", []string{"bad_order.csv", "line 3", "increasing time order"}},
		{"bad_negative.csv", []string{"bad_negative.csv", "line 2", `"-4"`, "zero or more"}},
		{"empty.csv", []string{"empty.csv", "empty file"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			_, err := LoadSeries(path)
			var se *SeriesError
			if !errors.As(err, &se) {
				t.Fatalf("LoadSeries(%s) = %v, want a *SeriesError", path, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestOpenSeries(t *testing.T) {
	if s, err := OpenSeries(""); err != nil || s.Name != DefaultSeriesName {
		t.Errorf(`OpenSeries("") = %v, %v; want the embedded sample`, s, err)
	}
	d, err := OpenSeries("diurnal")
	if err != nil {
		t.Fatal(err)
	}
	night, peak := d.At(2*time.Hour), d.At(14*time.Hour)
	if night > 0.15 || peak < 0.9 {
		t.Errorf("diurnal: 02:00 busy %v, 14:00 busy %v; want quiet nights and a busy afternoon", night, peak)
	}
	if _, err := OpenSeries("no-such-file.csv"); err == nil || !strings.Contains(err.Error(), "no-such-file.csv") {
		t.Errorf("missing file: %v, want an error naming it", err)
	}
	_, err = Pattern("weekly")
	if err == nil || !strings.Contains(err.Error(), `"weekly"`) || !strings.Contains(err.Error(), "diurnal") {
		t.Errorf("unknown pattern: %v, want the name and the valid ones", err)
	}
}
