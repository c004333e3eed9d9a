package statetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

func putInstancesIsAllOrNothing(t *testing.T, h *harness) {
	s := h.store(t)
	ok(t, s.PutInstances(ctx(t), nil), "PutInstances(nil)")
	a, b, c := instance("aws", "i-a", "train", t0), instance("aws", "i-b", "train", at(time.Second)), instance("alicloud", "i-c", "train", at(2*time.Second))
	ok(t, s.PutInstances(ctx(t), []state.Instance{a, b, c}), "PutInstances")
	got, err := s.Instances(ctx(t), state.InstanceFilter{})
	ok(t, err, "Instances")
	same(t, "instances after one batch", got, []state.Instance{a, b, c})

	// A batch that changes a, adds d, and holds an invalid row: nothing changes.
	a2 := a
	a2.State, a2.EndedAt = state.InstanceEnded, at(time.Hour)
	d := instance("aws", "i-d", "train", at(3*time.Second))
	bad := instance("aws", "i-e", "train", at(4*time.Second))
	bad.State = "lost"
	err = s.PutInstances(ctx(t), []state.Instance{a2, d, bad})
	wantErr(t, err, state.ErrInvalid, "PutInstances with an invalid row")
	for _, want := range []string{"PutInstances[2]", "Instance.State"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the message %q does not say %q", err, want)
		}
	}
	got, err = s.Instances(ctx(t), state.InstanceFilter{})
	ok(t, err, "Instances")
	same(t, "instances after the refused batch", got, []state.Instance{a, b, c})

	// The same row twice in a batch: the later one wins, as with two calls.
	b2 := b
	b2.BusyGPUs = 1
	ok(t, s.PutInstances(ctx(t), []state.Instance{a2, b, d, b2}), "PutInstances")
	got, err = s.Instances(ctx(t), state.InstanceFilter{})
	ok(t, err, "Instances")
	same(t, "instances after the second batch", got, []state.Instance{a2, b2, c, d})

	tooMany := make([]state.Instance, state.MaxBatch+1)
	for i := range tooMany {
		tooMany[i] = instance("aws", fmt.Sprint("i-", i), "train", t0)
	}
	wantErr(t, s.PutInstances(ctx(t), tooMany), state.ErrInvalid, "PutInstances of MaxBatch+1 rows")
}

func recordSpendsIsAllOrNothing(t *testing.T, h *harness) {
	s := h.store(t)
	month := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	e := func(id string, amount float64) state.SpendEntry {
		return state.SpendEntry{Pool: "train", Provider: "aws", InstanceID: id, PeriodStart: month, Amount: amount, At: t0}
	}
	ok(t, s.RecordSpends(ctx(t), nil), "RecordSpends(nil)")
	for _, tc := range []struct {
		name    string
		batch   []state.SpendEntry
		invalid bool
		want    float64
	}{
		{"first batch", []state.SpendEntry{e("i-1", 10), e("i-2", 5)}, false, 15},
		{"the larger amount wins within a batch", []state.SpendEntry{e("i-1", 12), e("i-1", 11), e("i-2", 4)}, false, 17},
		{"an invalid entry stores nothing", []state.SpendEntry{e("i-1", 100), e("i-3", -1)}, true, 17},
		{"never down", []state.SpendEntry{e("i-1", 0), e("i-2", 0)}, false, 17},
	} {
		err := s.RecordSpends(ctx(t), tc.batch)
		if tc.invalid {
			wantErr(t, err, state.ErrInvalid, tc.name)
			if !strings.Contains(err.Error(), "RecordSpends[1]") || !strings.Contains(err.Error(), "SpendEntry.Amount") {
				t.Errorf("%s: the message %q does not name RecordSpends[1] and SpendEntry.Amount", tc.name, err)
			}
		} else {
			ok(t, err, tc.name)
		}
		got, err := s.Spend(ctx(t), "train", month)
		ok(t, err, "Spend")
		if got != tc.want {
			t.Fatalf("%s: Spend = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func readersSeeWholeBatches(t *testing.T, h *harness) {
	s := h.store(t)
	const batches, size = 15, 40
	done := make(chan struct{})
	seen := make(chan []int, 1)
	go func() {
		var counts []int
		defer func() { seen <- counts }()
		for {
			select {
			case <-done:
				return
			default:
			}
			insts, err := s.Instances(ctx(t), state.InstanceFilter{})
			if err != nil {
				counts = append(counts, -1)
				return
			}
			counts = append(counts, len(insts))
		}
	}()
	for b := range batches {
		batch := make([]state.Instance, size)
		for i := range batch {
			batch[i] = instance("aws", fmt.Sprintf("i-%02d-%02d", b, i), "train", at(time.Duration(b)*time.Minute))
		}
		if err := s.PutInstances(ctx(t), batch); err != nil {
			close(done)
			<-seen
			t.Fatalf("PutInstances: %v", err)
		}
	}
	close(done)
	counts := <-seen
	for _, n := range counts {
		if n < 0 || n%size != 0 {
			t.Fatalf("a reader saw %d instances while batches of %d were written (all counts: %v): want whole batches only", n, size, counts)
		}
	}
}
