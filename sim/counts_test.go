package sim

import (
	"fmt"
	"sync"
	"testing"

	"github.com/spillway-io/spillway/policy"
)

// TestFleetCountsKept: the free GPUs and the GPUs a job may span that the
// simulator counts as instances change (state.cloudFree, cloudWhole),
// rather than by walking the fleet, equal the fleet's own after every step
// of random runs (drawCase: spans, stock-outs, spot reclaims, drains,
// budgets) of every policy. cloudFit trusts cloudWhole to skip its search
// for a span: a count too low would leave a job queued that could run.
func TestFleetCountsKept(t *testing.T) {
	var (
		mu     sync.Mutex
		bad    []string
		checks int
		wholes int // checks with some whole instance to span
	)
	checkState = func(s *state) {
		free, whole := 0, 0
		for _, ii := range s.alive {
			in := s.inst(ii)
			if in.state != policy.StateRunning {
				continue
			}
			free += in.free
			if in.free == in.gpus && in.gpus >= s.pool.SpanMin() {
				whole += in.gpus
			}
		}
		mu.Lock()
		defer mu.Unlock()
		checks++
		if whole > 0 {
			wholes++
		}
		if (free != s.cloudFree || whole != s.cloudWhole) && len(bad) < 10 {
			bad = append(bad, fmt.Sprintf("%s at %s: counted %d free and %d to span, the fleet has %d and %d",
				s.res.Policy, s.now, s.cloudFree, s.cloudWhole, free, whole))
		}
	}
	defer func() { checkState = nil }()
	var tally fuzzTally
	for seed := range uint64(12) {
		runCase(t, drawCase(seed), &tally)
	}
	for _, b := range bad {
		t.Error(b)
	}
	if wholes == 0 || tally.launched == 0 || tally.interrupted == 0 {
		t.Errorf("%d checks, %d with whole instances to span, %d runs launched, %d reclaimed: the cases do not exercise the counts", checks, wholes, tally.launched, tally.interrupted)
	}
}
