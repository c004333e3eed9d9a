package statetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

func floorRoundTrip(t *testing.T, h *harness) {
	s := h.store(t)
	manual := floor("f-manual", "train", t0, 4*time.Hour)
	sched := state.Floor{
		ID: "nightly@2026-03-14T22:00:00Z", Pool: "train", Kind: state.FloorSchedule, Owner: "nightly",
		GPUs: 32, Start: at(12 * time.Hour), Until: at(20 * time.Hour),
	}
	endless := state.Floor{ID: "f-endless", Pool: "infer", Kind: state.FloorManual, GPUs: 8, Start: at(time.Hour)}
	for _, fl := range []state.Floor{manual, sched, endless} {
		ok(t, s.CreateFloor(ctx(t), fl), "CreateFloor "+fl.ID)
	}
	for _, want := range []state.Floor{manual, sched, endless} {
		got, err := s.Floor(ctx(t), want.ID)
		ok(t, err, "Floor "+want.ID)
		same(t, "Floor "+want.ID, got, want)
	}
	all, err := s.Floors(ctx(t), state.FloorFilter{})
	ok(t, err, "Floors")
	same(t, "Floors", all, []state.Floor{manual, endless, sched})
}

func duplicateFloorIsErrExists(t *testing.T, h *harness) {
	s := h.store(t)
	first := floor("nightly@2026-03-14", "train", t0, time.Hour)
	ok(t, s.CreateFloor(ctx(t), first), "CreateFloor")
	again := first
	again.GPUs, again.Reason = 99, "re-created after a restart"
	wantErr(t, s.CreateFloor(ctx(t), again), state.ErrExists, "CreateFloor of an existing ID")
	got, err := s.Floor(ctx(t), first.ID)
	ok(t, err, "Floor")
	same(t, "the floor after the refused duplicate", got, first)
}

// setFloorGPUsOfOpenFloorOnly: a firing whose gpus changed in the config
// is stored with its new GPUs and reason; an ended floor keeps what it had
// (ErrEnded), an unknown one is ErrNotFound.
func setFloorGPUsOfOpenFloorOnly(t *testing.T, h *harness) {
	s := h.store(t)
	open := floor("schedule/train/morning/1", "train", t0, time.Hour)
	ended := floor("schedule/train/morning/2", "train", t0, time.Hour)
	for _, fl := range []state.Floor{open, ended} {
		ok(t, s.CreateFloor(ctx(t), fl), "CreateFloor "+fl.ID)
	}
	ok(t, s.EndFloor(ctx(t), ended.ID, at(time.Minute), "ended on time"), "EndFloor")
	ok(t, s.SetFloorGPUs(ctx(t), open.ID, 16, "holds 16 GPUs"), "SetFloorGPUs")
	got, err := s.Floor(ctx(t), open.ID)
	ok(t, err, "Floor")
	want := open
	want.GPUs, want.Reason = 16, "holds 16 GPUs"
	same(t, "the floor after SetFloorGPUs", got, want)

	wantErr(t, s.SetFloorGPUs(ctx(t), ended.ID, 16, "holds 16 GPUs"), state.ErrEnded, "SetFloorGPUs of an ended floor")
	got, err = s.Floor(ctx(t), ended.ID)
	ok(t, err, "Floor")
	if got.GPUs != ended.GPUs || got.Reason != ended.Reason {
		t.Errorf("an ended floor was changed: %+v", got)
	}
	wantErr(t, s.SetFloorGPUs(ctx(t), "schedule/train/none/1", 16, ""), state.ErrNotFound, "SetFloorGPUs of an unknown ID")
}

func unknownFloorIsNotFound(t *testing.T, h *harness) {
	s := h.store(t)
	ok(t, s.CreateFloor(ctx(t), floor("f-1", "train", t0, time.Hour)), "CreateFloor")
	_, err := s.Floor(ctx(t), "f-2")
	wantErr(t, err, state.ErrNotFound, "Floor of an unknown ID")
	wantErr(t, s.EndFloor(ctx(t), "f-2", at(time.Minute), "done"), state.ErrNotFound, "EndFloor of an unknown ID")
}

func floorsActiveAt(t *testing.T, h *harness) {
	s := h.store(t)
	for _, fl := range []state.Floor{
		floor("morning", "train", at(0), 2*time.Hour),                                              // [0h, 2h)
		floor("noon", "train", at(2*time.Hour), 2*time.Hour),                                       // [2h, 4h): starts as morning ends
		floor("cut", "train", at(time.Hour), 10*time.Hour),                                         // [1h, 11h), ended at 3h
		floor("other", "infer", at(0), 24*time.Hour),                                               // another pool
		{ID: "forever", Pool: "train", Kind: state.FloorManual, GPUs: 8, Start: at(5 * time.Hour)}, // no Until
	} {
		ok(t, s.CreateFloor(ctx(t), fl), "CreateFloor "+fl.ID)
	}
	ok(t, s.EndFloor(ctx(t), "cut", at(3*time.Hour), "cancelled by alice"), "EndFloor")
	for _, tc := range []struct {
		at   time.Duration
		want []string
	}{
		{-time.Nanosecond, []string{}},
		{0, []string{"morning"}},
		{time.Hour, []string{"morning", "cut"}},
		{2*time.Hour - time.Nanosecond, []string{"morning", "cut"}},
		{2 * time.Hour, []string{"cut", "noon"}}, // Until is exclusive, Start inclusive
		{3*time.Hour - time.Nanosecond, []string{"cut", "noon"}},
		{3 * time.Hour, []string{"noon"}}, // not active once ended
		{4 * time.Hour, []string{}},
		{5 * time.Hour, []string{"forever"}},
		{1000 * time.Hour, []string{"forever"}},
	} {
		got, err := s.Floors(ctx(t), state.FloorFilter{Pool: "train", ActiveAt: at(tc.at)})
		ok(t, err, "Floors")
		same(t, "train floors active at t0+"+tc.at.String(), floorIDs(got), tc.want)
	}
}

func floorsFilter(t *testing.T, h *harness) {
	s := h.store(t)
	sched := floor("s1", "train", at(time.Hour), time.Hour)
	sched.Kind = state.FloorSchedule
	for _, fl := range []state.Floor{
		floor("m1", "train", at(0), time.Hour),
		sched,
		floor("m2", "infer", at(2*time.Hour), time.Hour),
		floor("m3", "train", at(3*time.Hour), time.Hour),
	} {
		ok(t, s.CreateFloor(ctx(t), fl), "CreateFloor "+fl.ID)
	}
	ok(t, s.EndFloor(ctx(t), "m1", at(30*time.Minute), "done"), "EndFloor")
	for _, tc := range []struct {
		name string
		f    state.FloorFilter
		want []string
	}{
		{"all", state.FloorFilter{}, []string{"m1", "s1", "m2", "m3"}},
		{"open", state.FloorFilter{Open: true}, []string{"s1", "m2", "m3"}},
		{"kind", state.FloorFilter{Kind: state.FloorManual}, []string{"m1", "m2", "m3"}},
		{"pool, open, manual", state.FloorFilter{Pool: "train", Open: true, Kind: state.FloorManual}, []string{"m3"}},
		{"limit", state.FloorFilter{Limit: 3}, []string{"m1", "s1", "m2"}},
		{"unknown pool", state.FloorFilter{Pool: "nope"}, []string{}},
		{"by id", state.FloorFilter{ByID: true}, []string{"m1", "m2", "m3", "s1"}},
		{"by id, after", state.FloorFilter{ByID: true, AfterID: "m1", Limit: 2}, []string{"m2", "m3"}},
		{"by id, after, manual", state.FloorFilter{ByID: true, AfterID: "m2", Kind: state.FloorManual}, []string{"m3"}},
		{"by id, after the last", state.FloorFilter{ByID: true, AfterID: "s1"}, []string{}},
	} {
		got, err := s.Floors(ctx(t), tc.f)
		ok(t, err, tc.name)
		same(t, tc.name, floorIDs(got), tc.want)
	}
}

func endFloorKeepsFirstEnd(t *testing.T, h *harness) {
	s := h.store(t)
	fl := floor("f-1", "train", t0, 4*time.Hour)
	ok(t, s.CreateFloor(ctx(t), fl), "CreateFloor")
	ok(t, s.EndFloor(ctx(t), "f-1", at(time.Hour), "cancelled by alice"), "EndFloor")
	wantErr(t, s.EndFloor(ctx(t), "f-1", at(4*time.Hour), "until reached"), state.ErrEnded, "EndFloor again")
	wantErr(t, s.EndFloor(ctx(t), "f-1", at(30*time.Minute), "earlier"), state.ErrEnded, "EndFloor a third time")
	got, err := s.Floor(ctx(t), "f-1")
	ok(t, err, "Floor")
	fl.EndedAt, fl.EndReason = at(time.Hour), "cancelled by alice"
	same(t, "the floor keeps its first end", got, fl)
	open, err := s.Floors(ctx(t), state.FloorFilter{Open: true})
	ok(t, err, "Floors(open)")
	same(t, "open floors", floorIDs(open), []string{})
}

// concurrentEndFloorEndsOnce: several operators cancel one burst at once;
// exactly one EndFloor succeeds, the others get ErrEnded, and the floor
// keeps the winner's end.
func concurrentEndFloorEndsOnce(t *testing.T, h *harness) {
	s := h.store(t)
	ok(t, s.CreateFloor(ctx(t), floor("b-1", "train", t0, 4*time.Hour)), "CreateFloor")
	const callers = 16
	errs := make([]error, callers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range callers {
		wg.Go(func() {
			<-start
			errs[i] = s.EndFloor(ctx(t), "b-1", at(time.Duration(i+1)*time.Minute), fmt.Sprintf("cancelled by op%d", i))
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("EndFloor by op%d and op%d both succeeded: want exactly one", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, state.ErrEnded):
			t.Errorf("EndFloor by op%d: %v, want ErrEnded", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no EndFloor succeeded")
	}
	got, err := s.Floor(ctx(t), "b-1")
	ok(t, err, "Floor")
	if want := fmt.Sprintf("cancelled by op%d", winner); got.EndReason != want || !got.EndedAt.Equal(at(time.Duration(winner+1)*time.Minute)) {
		t.Errorf("floor ended %v by %q, want the winner's end (%q)", got.EndedAt, got.EndReason, want)
	}
}

// floorKeyNamesOneFloor: a manual burst's idempotency key names one floor
// of its owner. A second floor with the key is ErrExists and leaves the
// first as it was; FloorByKey finds the first; another owner may use the
// same key; floors without a key never collide on it; the key survives
// the floor's end (a retry after a cancel finds the cancelled burst).
func floorKeyNamesOneFloor(t *testing.T, h *harness) {
	s := h.store(t)
	first := floor("b-1", "train", t0, time.Hour)
	first.IdempotencyKey, first.RequestDigest = "k-7f3a", "digest-1"
	ok(t, s.CreateFloor(ctx(t), first), "CreateFloor with a key")
	retry := floor("b-2", "train", at(time.Minute), time.Hour)
	retry.IdempotencyKey, retry.RequestDigest = first.IdempotencyKey, "digest-2"
	wantErr(t, s.CreateFloor(ctx(t), retry), state.ErrExists, "CreateFloor with the owner's key taken")
	_, err := s.Floor(ctx(t), "b-2")
	wantErr(t, err, state.ErrNotFound, "Floor of the refused floor")
	got, err := s.FloorByKey(ctx(t), first.Owner, first.IdempotencyKey)
	ok(t, err, "FloorByKey")
	same(t, "the floor of the key", got, first)

	other := retry
	other.Owner = "bob@example.org"
	ok(t, s.CreateFloor(ctx(t), other), "CreateFloor with another owner's key")
	_, err = s.FloorByKey(ctx(t), first.Owner, "k-unused")
	wantErr(t, err, state.ErrNotFound, "FloorByKey of an unused key")
	_, err = s.FloorByKey(ctx(t), first.Owner, "")
	wantErr(t, err, state.ErrNotFound, "FloorByKey of no key")
	for _, id := range []string{"b-3", "b-4"} {
		ok(t, s.CreateFloor(ctx(t), floor(id, "train", at(2*time.Minute), time.Hour)), "CreateFloor without a key "+id)
	}
	ok(t, s.EndFloor(ctx(t), "b-1", at(10*time.Minute), "cancelled by alice"), "EndFloor")
	got, err = s.FloorByKey(ctx(t), first.Owner, first.IdempotencyKey)
	ok(t, err, "FloorByKey after the end")
	if got.ID != "b-1" || got.EndedAt.IsZero() {
		t.Fatalf("FloorByKey after the end: %s ended %v, want b-1, ended", got.ID, got.EndedAt)
	}
}

// concurrentCreateWithOneKeyCreatesOnce: a client and its retry (or two
// servers sharing one database) create a floor with the same key at once;
// exactly one is stored.
func concurrentCreateWithOneKeyCreatesOnce(t *testing.T, h *harness) {
	s := h.store(t)
	const callers = 16
	errs := make([]error, callers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range callers {
		wg.Go(func() {
			<-start
			fl := floor(fmt.Sprintf("b-%d", i), "train", t0, time.Hour)
			fl.IdempotencyKey = "retry-me"
			errs[i] = s.CreateFloor(ctx(t), fl)
		})
	}
	close(start)
	wg.Wait()
	created := 0
	for i, err := range errs {
		switch {
		case err == nil:
			created++
		case !errors.Is(err, state.ErrExists):
			t.Errorf("CreateFloor b-%d: %v, want ErrExists", i, err)
		}
	}
	all, err := s.Floors(ctx(t), state.FloorFilter{})
	ok(t, err, "Floors")
	if created != 1 || len(all) != 1 {
		t.Fatalf("%d CreateFloor calls succeeded and %d floors are stored, want exactly one of each", created, len(all))
	}
}
