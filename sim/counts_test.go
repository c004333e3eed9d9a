package sim

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
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

// TestRunStopsAtTheNextStep: a run whose context ends stops at its next
// step. It looked every 8192 steps, and a step may be long (a job of a
// million GPUs takes and frees 131,072 on-prem nodes): such a run went on
// for a minute after Ctrl-C. Here the context ends at the third step of a
// run of 100 jobs, which used to run to its end.
func TestRunStopsAtTheNextStep(t *testing.T) {
	tr := &trace.Trace{Name: "steps", Start: trace.DefaultEpoch}
	for k := range 100 {
		tr.Jobs = append(tr.Jobs, trace.Job{Submit: time.Duration(k) * time.Hour, Duration: time.Hour, GPUs: 1 << 20})
	}
	pool := &policy.Pool{Name: "big", OnPrem: policy.OnPrem{Nodes: 1 << 17, GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	steps := 0
	checkState = func(*state) {
		if steps++; steps == 3 {
			cancel()
		}
	}
	defer func() { checkState = nil }()
	_, err := Run(ctx, Options{Pool: pool, Trace: tr, Policy: OnPremOnly()})
	if !errors.Is(err, context.Canceled) || steps != 3 {
		t.Errorf("ended at step 3: error %v after %d steps, want context.Canceled there", err, steps)
	}
}
