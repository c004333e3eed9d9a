package sim

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/spillway-io/spillway/sim/trace"
)

// TestDemandPercentileAllocatesLittle: sizing on-prem at a quantile of a
// trace's demand (--onprem-gpus p50, BaselineGPUs) ran on a million jobs
// (BenchmarkSimulateGenerated1M's setup) through a list of every stretch
// between two steps, grown by appending and then sorted: dozens of
// growing copies of up to 2M entries. It sums the time at each level
// instead: a few allocations whatever the trace's length, and the
// same quantile as the list sorted by level (demandBySort, the former
// computation) on every trace and quantile here.
func TestDemandPercentileAllocatesLittle(t *testing.T) {
	for _, tc := range []struct {
		name string
		tr   *trace.Trace
	}{
		{"generated 100k", generatedTrace(100_000)},
		{"heavy 20k", heavyTrace(20_000)},
		{"one job", &trace.Trace{Jobs: []trace.Job{{Submit: time.Second, Duration: time.Hour, GPUs: 3}}}},
		// Levels far above the steps' count are summed in a map.
		{"huge jobs", &trace.Trace{Jobs: []trace.Job{{Submit: 0, Duration: time.Hour, GPUs: 1 << 40}, {Submit: time.Minute, Duration: time.Minute, GPUs: 5},
			{Submit: 2 * time.Minute, Duration: 3 * time.Hour, GPUs: 1 << 41}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, q := range []float64{0, 0.1, 0.5, 0.9, 0.99, 1} {
				if got, want := DemandPercentile(tc.tr.Jobs, q), demandBySort(tc.tr.Jobs, q); got != want {
					t.Errorf("q=%v: %d GPUs, want %d as the sorted list of stretches says", q, got, want)
				}
			}
			if len(tc.tr.Jobs) < 1000 {
				return // few steps and levels: a map or a list, few allocations either way
			}
			if n := testing.AllocsPerRun(2, func() { DemandPercentile(tc.tr.Jobs, 0.5) }); n > 3 {
				t.Errorf("%.0f allocations for %d jobs, want at most 3: the stretches between steps are still listed one by one", n, len(tc.tr.Jobs))
			}
		})
	}
}

// demandBySort is DemandPercentile as it was: every stretch between two
// steps listed, sorted by level.
func demandBySort(jobs []trace.Job, q float64) int {
	type step struct {
		at    time.Duration
		delta int
	}
	var steps []step
	for _, j := range jobs {
		steps = append(steps, step{j.Submit, j.GPUs}, step{j.Submit + j.Duration, -j.GPUs})
	}
	slices.SortFunc(steps, func(a, b step) int { return int(a.at - b.at) })
	type level struct {
		gpus int
		dur  time.Duration
	}
	var levels []level
	var total time.Duration
	cur := 0
	for i, s := range steps {
		cur += s.delta
		if i+1 < len(steps) {
			if d := steps[i+1].at - s.at; d > 0 {
				levels = append(levels, level{cur, d})
				total += d
			}
		}
	}
	if total == 0 {
		return 0
	}
	slices.SortFunc(levels, func(a, b level) int { return a.gpus - b.gpus })
	target := time.Duration(math.Ceil(q * float64(total)))
	var acc time.Duration
	for _, l := range levels {
		acc += l.dur
		if acc >= target {
			return l.gpus
		}
	}
	return levels[len(levels)-1].gpus
}
