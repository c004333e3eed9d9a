package sim

import (
	"maps"
	"math"
	"slices"
	"time"

	"github.com/spillway-io/spillway/sim/trace"
)

// DemandPercentile is the time-weighted q-quantile (0 ≤ q ≤ 1) of a trace's
// GPU demand: the GPUs in use if every job started on arrival, over the
// trace's span (first submit to last end). It is the yardstick for sizing an
// on-prem baseline (../shared/traces/README.md tabulates p50, p90 and max).
func DemandPercentile(jobs []trace.Job, q float64) int {
	if len(jobs) == 0 {
		return 0
	}
	type step struct {
		at    time.Duration
		delta int
	}
	steps := make([]step, 0, 2*len(jobs))
	for _, j := range jobs {
		steps = append(steps, step{j.Submit, j.GPUs}, step{j.Submit + j.Duration, -j.GPUs})
	}
	slices.SortFunc(steps, func(a, b step) int {
		if a.at != b.at {
			if a.at < b.at {
				return -1
			}
			return 1
		}
		return 0
	})
	// Time spent at each demand level, by level: in a list indexed by
	// level when the highest is within the steps' count (a million jobs
	// rise to a few thousand GPUs, in two million steps), else in a map.
	top, cur := 0, 0
	for _, s := range steps {
		cur += s.delta
		top = max(top, cur)
	}
	var byLevel []time.Duration
	var byMap map[int]time.Duration
	if top <= len(steps) {
		byLevel = make([]time.Duration, top+1)
	} else {
		byMap = map[int]time.Duration{}
	}
	var total time.Duration
	cur = 0
	for i, s := range steps {
		cur += s.delta
		if i+1 < len(steps) {
			if d := steps[i+1].at - s.at; d > 0 {
				if byLevel != nil {
					byLevel[cur] += d
				} else {
					byMap[cur] += d
				}
				total += d
			}
		}
	}
	if total == 0 {
		return 0
	}
	target := time.Duration(math.Ceil(q * float64(total)))
	var acc time.Duration
	if byLevel != nil {
		last := 0
		for g, d := range byLevel {
			if d == 0 {
				continue
			}
			last = g
			if acc += d; acc >= target {
				return g
			}
		}
		return last
	}
	levels := slices.Sorted(maps.Keys(byMap))
	for _, g := range levels {
		if acc += byMap[g]; acc >= target {
			return g
		}
	}
	return levels[len(levels)-1]
}

// BaselineGPUs is the on-prem size the acceptance backtests use: a trace's
// p50 demand rounded up to whole nodes of nodeGPUs, at least one node.
func BaselineGPUs(jobs []trace.Job, nodeGPUs int) int { return OnPremAt(jobs, 0.5, nodeGPUs) }

// OnPremAt is an on-prem size for a trace: its q-quantile demand
// (DemandPercentile) rounded up to whole nodes of nodeGPUs (8 when not
// positive), at least one node.
func OnPremAt(jobs []trace.Job, q float64, nodeGPUs int) int {
	return WholeNodes(DemandPercentile(jobs, q), nodeGPUs)
}

// WholeNodes is gpus rounded up to whole nodes of nodeGPUs (8 when not
// positive), at least one node.
func WholeNodes(gpus, nodeGPUs int) int {
	if nodeGPUs <= 0 {
		nodeGPUs = 8
	}
	nodes := max(1, (gpus+nodeGPUs-1)/nodeGPUs)
	return nodes * nodeGPUs
}
