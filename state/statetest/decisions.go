package statetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

func decisionRoundTrip(t *testing.T, h *harness) {
	s := h.store(t)
	plan := []byte(`{"launch":[{"offering":"p5-use1-spot","count":2}],"reasons":["demand 16 > baseline 0"]}`)
	real := state.Decision{Pool: "train", Time: t0, Summary: "launch 2 × p5-use1-spot", Plan: plan}
	dry := state.Decision{Pool: "infer", Time: at(time.Second), DryRun: true, Summary: "hold"}
	id1, err := s.AddDecision(ctx(t), real)
	ok(t, err, "AddDecision")
	id2, err := s.AddDecision(ctx(t), dry)
	ok(t, err, "AddDecision")
	got, err := s.Decisions(ctx(t), state.DecisionFilter{})
	ok(t, err, "Decisions")
	real.ID, dry.ID = id1, id2
	same(t, "Decisions", got, []state.Decision{dry, real})
}

func decisionIDsIncrease(t *testing.T, h *harness) {
	s := h.store(t)
	var last int64
	for i := range 20 {
		id, err := s.AddDecision(ctx(t), state.Decision{Pool: "train", Time: at(time.Duration(i) * time.Second), Summary: "hold", ID: 7})
		ok(t, err, "AddDecision")
		if id <= last {
			t.Fatalf("decision %d got ID %d after %d: IDs must increase", i, id, last)
		}
		last = id
	}
}

// addDecisions adds n decisions, alternating pools "a" and "b", one second
// apart, and returns their IDs in order.
func addDecisions(t *testing.T, s state.Store, n int) []int64 {
	t.Helper()
	ids := make([]int64, n)
	for i := range n {
		pool := []string{"a", "b"}[i%2]
		id, err := s.AddDecision(ctx(t), state.Decision{Pool: pool, Time: at(time.Duration(i) * time.Second), Summary: fmt.Sprint("decision ", i)})
		ok(t, err, "AddDecision")
		ids[i] = id
	}
	return ids
}

func decisionsPageNewestFirst(t *testing.T, h *harness) {
	s := h.store(t)
	ids := addDecisions(t, s, 25)
	// Page through pool "a" (12 decisions... 13: even indexes) 5 at a time.
	var want []int64
	for i := len(ids) - 1; i >= 0; i-- {
		if i%2 == 0 {
			want = append(want, ids[i])
		}
	}
	var got []int64
	var before int64
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatal("paging does not end")
		}
		ds, err := s.Decisions(ctx(t), state.DecisionFilter{Pool: "a", BeforeID: before, Limit: 5})
		ok(t, err, "Decisions")
		if len(ds) > 5 {
			t.Fatalf("page %d has %d decisions, limit 5", page, len(ds))
		}
		if len(ds) == 0 {
			break
		}
		got = append(got, decisionIDs(ds)...)
		before = ds[len(ds)-1].ID
	}
	same(t, "pool a paged newest first", got, want)
}

func decisionsFilter(t *testing.T, h *harness) {
	s := h.store(t)
	ids := addDecisions(t, s, 6) // a0 b1 a2 b3 a4 b5, one second apart
	for _, tc := range []struct {
		name string
		f    state.DecisionFilter
		want []int64
	}{
		{"all", state.DecisionFilter{}, []int64{ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]}},
		{"pool", state.DecisionFilter{Pool: "b"}, []int64{ids[5], ids[3], ids[1]}},
		{"since (inclusive)", state.DecisionFilter{Since: at(3 * time.Second)}, []int64{ids[5], ids[4], ids[3]}},
		{"before", state.DecisionFilter{BeforeID: ids[2]}, []int64{ids[1], ids[0]}},
		{"pool, since, before, limit", state.DecisionFilter{Pool: "a", Since: at(time.Second), BeforeID: ids[5], Limit: 1}, []int64{ids[4]}},
		{"unknown pool", state.DecisionFilter{Pool: "nope"}, []int64{}},
	} {
		got, err := s.Decisions(ctx(t), tc.f)
		ok(t, err, tc.name)
		same(t, tc.name, decisionIDs(got), tc.want)
	}
}

// decisionsSinceOutOfOrder: a since selects by each decision's time, not
// by its place in the ID order (a leader whose clock lags the one before
// it records older times after newer ones).
func decisionsSinceOutOfOrder(t *testing.T, h *harness) {
	s := h.store(t)
	var ids []int64
	for _, sec := range []int{50, 10, 60, 20, 70, 30} {
		id, err := s.AddDecision(ctx(t), state.Decision{Pool: "a", Time: at(time.Duration(sec) * time.Second), Summary: fmt.Sprint("at ", sec)})
		ok(t, err, "AddDecision")
		ids = append(ids, id)
	}
	for _, tc := range []struct {
		name string
		f    state.DecisionFilter
		want []int64
	}{
		{"since 25s", state.DecisionFilter{Pool: "a", Since: at(25 * time.Second)}, []int64{ids[5], ids[4], ids[2], ids[0]}},
		{"since 25s, limit 3", state.DecisionFilter{Pool: "a", Since: at(25 * time.Second), Limit: 3}, []int64{ids[5], ids[4], ids[2]}},
		{"since 40s", state.DecisionFilter{Pool: "a", Since: at(40 * time.Second)}, []int64{ids[4], ids[2], ids[0]}},
		{"since 40s, limit 2", state.DecisionFilter{Pool: "a", Since: at(40 * time.Second), Limit: 2}, []int64{ids[4], ids[2]}},
		{"since 40s, before the second", state.DecisionFilter{Pool: "a", Since: at(40 * time.Second), BeforeID: ids[2], Limit: 1}, []int64{ids[0]}},
		{"since 40s, every pool, limit 1", state.DecisionFilter{Since: at(40 * time.Second), Limit: 1}, []int64{ids[4]}},
		{"since 65s", state.DecisionFilter{Pool: "a", Since: at(65 * time.Second)}, []int64{ids[4]}},
		{"since 75s", state.DecisionFilter{Pool: "a", Since: at(75 * time.Second)}, []int64{}},
	} {
		got, err := s.Decisions(ctx(t), tc.f)
		ok(t, err, tc.name)
		same(t, tc.name, decisionIDs(got), tc.want)
	}
}

func decisionPageLimits(t *testing.T, h *harness) {
	s := h.store(t)
	addDecisions(t, s, state.MaxPageLimit+1)
	for _, tc := range []struct {
		limit, want int
	}{
		{0, state.DefaultPageLimit},
		{1, 1},
		{state.MaxPageLimit, state.MaxPageLimit},
		{state.MaxPageLimit + 1, state.MaxPageLimit},
		{1 << 40, state.MaxPageLimit},
	} {
		ds, err := s.Decisions(ctx(t), state.DecisionFilter{Limit: tc.limit})
		ok(t, err, "Decisions")
		if len(ds) != tc.want {
			t.Errorf("Decisions(Limit %d) returned %d decisions, want %d", tc.limit, len(ds), tc.want)
		}
		es, err := s.Audit(ctx(t), state.AuditFilter{Limit: tc.limit})
		ok(t, err, "Audit")
		if len(es) != 0 {
			t.Errorf("Audit returned %d entries, want 0", len(es))
		}
	}
}
