package nvml

import (
	"bytes"
	"embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/httpclient"
)

// traces holds a trimmed Helios sample (8 hours of the "vchbv" virtual
// cluster, 64 GPUs, 2020-05-27 06:00-14:00) and its licence. It is the
// default load of a simulated node.
//
//go:embed traces/vchbv_sequence.csv traces/LICENSE
var traces embed.FS

// DefaultSeriesName names the embedded trace sample.
const DefaultSeriesName = "helios-vchbv"

// Series is a cluster's load over time: for each step, the fraction of its
// GPUs that run a job. A simulated node replays it onto its own GPUs.
type Series struct {
	// Name says where the series came from (a file path or a pattern name).
	Name string
	// Step is the time between two values of the trace (one minute for Helios).
	Step time.Duration
	// Busy holds the fraction of GPUs running a job, in [0, 1], per step.
	Busy []float64
}

// At returns the busy fraction at offset d from the start of the trace,
// wrapping around at its end.
func (s *Series) At(d time.Duration) float64 {
	if len(s.Busy) == 0 || s.Step <= 0 {
		return 0
	}
	i := int64(d / s.Step)
	n := int64(len(s.Busy))
	i %= n
	if i < 0 {
		i += n
	}
	return s.Busy[i]
}

// Duration is the length of the trace.
func (s *Series) Duration() time.Duration { return time.Duration(len(s.Busy)) * s.Step }

// SeriesError reports a bad row in a series file.
type SeriesError struct {
	File   string
	Line   int
	Column string
	Value  string
	Reason string
}

func (e *SeriesError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("replay series %s: %s", e.File, e.Reason)
	}
	if e.Column == "" {
		return fmt.Sprintf("replay series %s line %d: %s", e.File, e.Line, e.Reason)
	}
	return fmt.Sprintf("replay series %s line %d: column %s: bad value %q: %s", e.File, e.Line, e.Column, e.Value, e.Reason)
}

// heliosColumns are the columns a Helios "<vc>_sequence.csv" must have.
var heliosColumns = []string{"time", "running_gpu_num", "total_gpu_num"}

// ReadHeliosSeries reads a Helios sequence CSV (one row a minute: time, …,
// total_gpu_num, running_gpu_num, …) into a Series whose busy fraction is
// running_gpu_num / total_gpu_num. name is used in errors.
func ReadHeliosSeries(name string, r io.Reader) (*Series, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &SeriesError{File: name, Reason: "empty file: want a Helios sequence CSV with a header row"}
		}
		return nil, &SeriesError{File: name, Reason: err.Error()}
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	for _, c := range heliosColumns {
		if _, ok := col[c]; !ok {
			return nil, &SeriesError{File: name, Reason: fmt.Sprintf("header has no column %q: want a Helios sequence CSV with columns %s", c, strings.Join(heliosColumns, ", "))}
		}
	}
	s := &Series{Name: name, Step: time.Minute}
	var prev time.Time
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, &SeriesError{File: name, Line: pe.Line, Reason: pe.Err.Error()}
			}
			return nil, &SeriesError{File: name, Reason: err.Error()}
		}
		line, _ := cr.FieldPos(0)
		ts := rec[col["time"]]
		t, err := time.Parse(time.DateTime, ts)
		if err != nil {
			return nil, &SeriesError{File: name, Line: line, Column: "time", Value: ts, Reason: "want YYYY-MM-DD HH:MM:SS"}
		}
		if !prev.IsZero() && !t.After(prev) {
			return nil, &SeriesError{File: name, Line: line, Column: "time", Value: ts, Reason: "rows must be in increasing time order"}
		}
		prev = t
		running, err := count(rec[col["running_gpu_num"]])
		if err != nil {
			return nil, &SeriesError{File: name, Line: line, Column: "running_gpu_num", Value: rec[col["running_gpu_num"]], Reason: err.Error()}
		}
		total, err := count(rec[col["total_gpu_num"]])
		if err != nil {
			return nil, &SeriesError{File: name, Line: line, Column: "total_gpu_num", Value: rec[col["total_gpu_num"]], Reason: err.Error()}
		}
		if running > total {
			return nil, &SeriesError{File: name, Line: line, Column: "running_gpu_num", Value: rec[col["running_gpu_num"]], Reason: fmt.Sprintf("more than total_gpu_num (%d)", total)}
		}
		frac := 0.0
		if total > 0 {
			frac = float64(running) / float64(total)
		}
		s.Busy = append(s.Busy, frac)
	}
	if len(s.Busy) == 0 {
		return nil, &SeriesError{File: name, Reason: "no data rows after the header"}
	}
	return s, nil
}

func count(v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, errors.New("want a whole number of GPUs")
	}
	if n < 0 {
		return 0, errors.New("want zero or more GPUs")
	}
	if n > signals.MaxJobGPUs {
		return 0, fmt.Errorf("want at most %d GPUs", signals.MaxJobGPUs)
	}
	return n, nil
}

// MaxSeriesBytes bounds a replay file (a Helios VC's whole six months is
// about 16 MiB).
const MaxSeriesBytes = 64 << 20

// LoadSeries reads a Helios sequence CSV file of at most MaxSeriesBytes.
func LoadSeries(path string) (*Series, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("replay series: %w", err)
	}
	defer f.Close()
	b, err := httpclient.ReadBody(f, fileSize(f), MaxSeriesBytes)
	if tl := (*httpclient.TooLargeError)(nil); errors.As(err, &tl) {
		return nil, &SeriesError{File: path, Reason: fmt.Sprintf("the file is larger than %d bytes (%d MiB), the most a replay may be", MaxSeriesBytes, MaxSeriesBytes>>20)}
	}
	if err != nil {
		return nil, fmt.Errorf("replay series: %w", err)
	}
	return ReadHeliosSeries(path, bytes.NewReader(b))
}

// fileSize is f's size when it is a regular file (what reading it is
// sized by, and refused unread past the bound for), else -1 (a FIFO, a
// device: read to its end or the bound).
func fileSize(f *os.File) int64 {
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		return fi.Size()
	}
	return -1
}

// DefaultSeries returns the embedded Helios sample.
func DefaultSeries() *Series {
	b, err := traces.ReadFile("traces/vchbv_sequence.csv")
	if err != nil {
		panic(err) // embedded at build time
	}
	s, err := ReadHeliosSeries(DefaultSeriesName, bytes.NewReader(b))
	if err != nil {
		panic(err) // tested
	}
	return s
}

// patterns are the built-in loads, one value a minute over a day.
var patterns = map[string]func() []float64{
	// diurnal: quiet at night (10%), a working-day peak (95%) at 14:00.
	"diurnal": func() []float64 {
		v := make([]float64, 24*60)
		for m := range v {
			h := float64(m) / 60
			v[m] = 0.525 - 0.425*math.Cos(2*math.Pi*(h-2)/24)
		}
		return v
	},
	// idle: nothing runs.
	"idle": func() []float64 { return make([]float64, 24*60) },
	// full: every GPU runs a job.
	"full": func() []float64 {
		v := make([]float64, 24*60)
		for i := range v {
			v[i] = 1
		}
		return v
	},
}

// PatternNames lists the built-in patterns.
func PatternNames() []string {
	n := make([]string, 0, len(patterns))
	for k := range patterns {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Pattern returns a built-in load pattern by name.
func Pattern(name string) (*Series, error) {
	f, ok := patterns[name]
	if !ok {
		return nil, fmt.Errorf("replay pattern %q is unknown: want one of %s, or a Helios sequence CSV file", name, strings.Join(PatternNames(), ", "))
	}
	return &Series{Name: name, Step: time.Minute, Busy: f()}, nil
}

// OpenSeries resolves a --replay value: "" gives the embedded Helios
// sample, a built-in pattern name gives that pattern, anything else is read
// as a Helios sequence CSV file.
func OpenSeries(spec string) (*Series, error) {
	if spec == "" {
		return DefaultSeries(), nil
	}
	if _, ok := patterns[spec]; ok {
		return Pattern(spec)
	}
	return LoadSeries(spec)
}
