package scheduler_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spillway-io/spillway/state"
)

// TestRepeatedTerminateFailureIsRecordedOnce: a drained instance whose
// terminate the cloud refuses (a 5xx, every retry alike) is asked again
// at every tick, and each tick's decision, whose only action was that
// failed terminate, was stored and logged: over an hour of 30-second
// ticks, 120 decisions in the state, the API's list and the log, all
// alike. The decision is now stored once per change and every 10 minutes
// (the heartbeat of an unchanged decision), saying how many ticks failed
// alike since; each attempt still counts in
// spillway_terminate_failures_total, and the terminate that goes
// through at last is recorded at once.
func TestRepeatedTerminateFailureIsRecordedOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	logs := &lockedBuffer{}
	var rowWrites atomic.Int64
	rig := newLagRigWith(t, lagClouds[0], 0, func(h *harness) {
		h.opts.Registerer = reg
		h.logs = logs
		h.wrap = func(st state.Store) state.Store { return countingWrites{Store: st, n: &rowWrites} }
	})
	h := rig.harness
	id := h.joinOne(10*time.Second, 30)
	h.agents.setBusy(0)
	h.setDemand(0)
	rig.refuseEnds.Store(true)
	h.until("its terminate is refused", 30*time.Second, 30, func() bool { return rig.ends.Load() > 0 })
	decisions := len(h.decisions())
	logged := strings.Count(logs.String(), "msg=decision")
	failures := sumOf(t, reg, "spillway_terminate_failures_total")
	writes := rowWrites.Load()
	const ticks = 120 // an hour
	for range ticks {
		h.step(30 * time.Second)
	}
	stored := len(h.decisions()) - decisions
	lines := strings.Count(logs.String(), "msg=decision") - logged
	attempts := sumOf(t, reg, "spillway_terminate_failures_total") - failures
	t.Logf("an hour of %d ticks with the terminate refused: %d decisions stored, %d decision log lines, %.0f failures counted, %d instance row writes",
		ticks, stored, lines, attempts, rowWrites.Load()-writes)
	if attempts != ticks {
		t.Errorf("spillway_terminate_failures_total rose by %v over %d ticks that each failed, want %d", attempts, ticks, ticks)
	}
	if stored > 7 || lines > 7 {
		t.Errorf("%d decisions stored and %d logged over an hour of the same failed terminate, want at most 7 (each 10 minutes)", stored, lines)
	}
	last := h.decisions()[0]
	if len(last.Terminates) != 1 || last.Terminates[0].Instance != id || !slicesHasPrefix(last.Notes, "the terminate failure last recorded was decided and failed alike at ") {
		t.Errorf("last stored decision %+v: want the failed terminate of %s, saying how many ticks failed alike", last, id)
	}
	rig.refuseEnds.Store(false)
	h.step(30 * time.Second)
	if d := h.decisions()[0]; len(d.Terminates) != 1 || d.Terminates[0].Outcome != "terminating" {
		t.Errorf("decision of the tick whose terminate went through: %+v, want it recorded, terminating", d)
	}
}

// countingWrites counts the instance rows written to a state.
type countingWrites struct {
	state.Store
	n *atomic.Int64
}

func (c countingWrites) PutInstance(ctx context.Context, r state.Instance) error {
	c.n.Add(1)
	return c.Store.PutInstance(ctx, r)
}

func (c countingWrites) PutInstances(ctx context.Context, rs []state.Instance) error {
	c.n.Add(int64(len(rs)))
	return c.Store.PutInstances(ctx, rs)
}

// sumOf is the sum of every series of the counter name in reg.
func sumOf(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// slicesHasPrefix reports whether some string of ss begins with prefix.
func slicesHasPrefix(ss []string, prefix string) bool {
	for _, s := range ss {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
