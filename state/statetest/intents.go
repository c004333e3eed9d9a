package statetest

import (
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

func intentRoundTrip(t *testing.T, h *harness) {
	s := h.store(t)
	tokyo := time.FixedZone("JST", 9*3600)
	full := intent("i-full", "train", t0.In(tokyo)) // stored in UTC, read back in UTC
	full.Floor = "floor-nightly"
	full.Status = state.IntentDone
	full.Error = "partial: 1 of 2"
	full.InstanceIDs = []string{"i-0a", "i-0b"}
	full.UpdatedAt = at(time.Second)
	bare := state.Intent{ID: "i-bare", Pool: "train", Provider: "aws", CreatedAt: at(time.Minute)}
	ok(t, s.CreateIntent(ctx(t), full), "CreateIntent(full)")
	ok(t, s.CreateIntent(ctx(t), bare), "CreateIntent(bare)")

	got, err := s.Intents(ctx(t), state.IntentFilter{})
	ok(t, err, "Intents")
	wantFull := full
	wantFull.CreatedAt = t0
	wantBare := bare
	wantBare.Status = state.IntentPending // an empty status is stored as pending
	same(t, "Intents", got, []state.Intent{wantFull, wantBare})
	if got[0].CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt location = %v, want UTC", got[0].CreatedAt.Location())
	}
	if !got[1].UpdatedAt.IsZero() {
		t.Errorf("zero UpdatedAt read back as %v, want the zero time", got[1].UpdatedAt)
	}
}

func duplicateIntentIsErrExists(t *testing.T, h *harness) {
	s := h.store(t)
	first := intent("i-1", "train", t0)
	ok(t, s.CreateIntent(ctx(t), first), "CreateIntent")
	again := intent("i-1", "other", at(time.Hour))
	again.Count = 9
	wantErr(t, s.CreateIntent(ctx(t), again), state.ErrExists, "CreateIntent of an existing ID")
	got, err := s.Intents(ctx(t), state.IntentFilter{})
	ok(t, err, "Intents")
	same(t, "Intents after the refused duplicate", got, []state.Intent{first})
}

func finishIntentRecordsOutcome(t *testing.T, h *harness) {
	s := h.store(t)
	done, failed := intent("i-done", "train", t0), intent("i-failed", "train", at(time.Second))
	ok(t, s.CreateIntent(ctx(t), done), "CreateIntent")
	ok(t, s.CreateIntent(ctx(t), failed), "CreateIntent")
	ok(t, s.FinishIntent(ctx(t), "i-done", state.IntentDone, []string{"i-0a", "i-0b"}, "", at(time.Minute)), "FinishIntent(done)")
	ok(t, s.FinishIntent(ctx(t), "i-failed", state.IntentFailed, nil, "InsufficientInstanceCapacity", at(2*time.Minute)), "FinishIntent(failed)")

	done.Status, done.InstanceIDs, done.UpdatedAt = state.IntentDone, []string{"i-0a", "i-0b"}, at(time.Minute)
	failed.Status, failed.Error, failed.UpdatedAt = state.IntentFailed, "InsufficientInstanceCapacity", at(2*time.Minute)
	got, err := s.Intents(ctx(t), state.IntentFilter{})
	ok(t, err, "Intents")
	same(t, "Intents", got, []state.Intent{done, failed})

	pending, err := s.Intents(ctx(t), state.IntentFilter{Status: state.IntentPending})
	ok(t, err, "Intents(pending)")
	same(t, "pending intents after both finished", intentIDs(pending), []string{})
}

func finishUnknownIntentIsNotFound(t *testing.T, h *harness) {
	s := h.store(t)
	ok(t, s.CreateIntent(ctx(t), intent("i-1", "train", t0)), "CreateIntent")
	err := s.FinishIntent(ctx(t), "i-2", state.IntentDone, []string{"i-0a"}, "", at(time.Minute))
	wantErr(t, err, state.ErrNotFound, "FinishIntent of an unknown ID")
	got, err := s.Intents(ctx(t), state.IntentFilter{Status: state.IntentDone})
	ok(t, err, "Intents")
	same(t, "done intents", intentIDs(got), []string{})
}

func intentsFilterOldestFirst(t *testing.T, h *harness) {
	s := h.store(t)
	// Created out of order; two share a CreatedAt (ordered by ID).
	for _, in := range []state.Intent{
		intent("c", "train", at(3*time.Second)),
		intent("b2", "infer", at(time.Second)),
		intent("a", "train", at(2*time.Second)),
		intent("b1", "train", at(time.Second)),
		intent("d", "infer", at(4*time.Second)),
	} {
		ok(t, s.CreateIntent(ctx(t), in), "CreateIntent "+in.ID)
	}
	ok(t, s.FinishIntent(ctx(t), "a", state.IntentDone, []string{"i-1"}, "", at(time.Minute)), "FinishIntent")
	ok(t, s.FinishIntent(ctx(t), "d", state.IntentFailed, nil, "quota", at(time.Minute)), "FinishIntent")
	for _, tc := range []struct {
		name string
		f    state.IntentFilter
		want []string
	}{
		{"all", state.IntentFilter{}, []string{"b1", "b2", "a", "c", "d"}},
		{"pool", state.IntentFilter{Pool: "train"}, []string{"b1", "a", "c"}},
		{"pending", state.IntentFilter{Status: state.IntentPending}, []string{"b1", "b2", "c"}},
		{"pool and status", state.IntentFilter{Pool: "infer", Status: state.IntentFailed}, []string{"d"}},
		{"limit", state.IntentFilter{Limit: 2}, []string{"b1", "b2"}},
		{"unknown pool", state.IntentFilter{Pool: "nope"}, []string{}},
	} {
		got, err := s.Intents(ctx(t), tc.f)
		ok(t, err, tc.name)
		same(t, tc.name, intentIDs(got), tc.want)
	}
}
