package statetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

// writeMix writes n rows of every kind from writer w into s, all distinct
// from other writers', and returns the decision and audit IDs it got.
func writeMix(cx context.Context, s state.Store, w, n int, month time.Time) (decisions, audits []int64, err error) {
	c := func(what string, err error) error {
		if err != nil {
			return fmt.Errorf("writer %d: %s: %w", w, what, err)
		}
		return nil
	}
	for i := range n {
		id := fmt.Sprintf("w%d-%d", w, i)
		when := at(time.Duration(i) * time.Millisecond)
		if err := c("CreateIntent", s.CreateIntent(cx, intent(id, "train", when))); err != nil {
			return nil, nil, err
		}
		if err := c("FinishIntent", s.FinishIntent(cx, id, state.IntentDone, []string{"i-" + id}, "", when.Add(time.Second))); err != nil {
			return nil, nil, err
		}
		if err := c("PutInstance", s.PutInstance(cx, instance("aws", "i-"+id, "train", when))); err != nil {
			return nil, nil, err
		}
		d, err := s.AddDecision(cx, state.Decision{Pool: "train", Time: when, Summary: id})
		if err := c("AddDecision", err); err != nil {
			return nil, nil, err
		}
		a, err := s.AddAudit(cx, state.AuditEntry{Time: when, Principal: id, Outcome: "ok", Status: 200})
		if err := c("AddAudit", err); err != nil {
			return nil, nil, err
		}
		decisions, audits = append(decisions, d), append(audits, a)
		// Every writer raises one shared instance's spend: the maximum wins.
		e := state.SpendEntry{Pool: "train", Provider: "aws", InstanceID: "shared", PeriodStart: month, Amount: float64(w*1000 + i)}
		if err := c("RecordSpend", s.RecordSpend(cx, e)); err != nil {
			return nil, nil, err
		}
		if err := c("RecordSpend", s.RecordSpend(cx, state.SpendEntry{Pool: "train", Provider: "aws", InstanceID: "i-" + id, PeriodStart: month, Amount: 1})); err != nil {
			return nil, nil, err
		}
	}
	return decisions, audits, nil
}

// writeConcurrently runs writers goroutines of writeMix, writer w on
// stores[w%len(stores)], and checks what the stores hold afterwards.
func writeConcurrently(t *testing.T, stores []state.Store, writers, n int) {
	t.Helper()
	month := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	var decisions, audits []int64
	for w := range writers {
		wg.Go(func() {
			d, a, err := writeMix(ctx(t), stores[w%len(stores)], w, n, month)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			decisions, audits = append(decisions, d...), append(audits, a...)
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	total := writers * n
	for _, ids := range []struct {
		name string
		ids  []int64
	}{{"decision", decisions}, {"audit", audits}} {
		slices.Sort(ids.ids)
		if len(slices.Compact(ids.ids)) != total {
			t.Errorf("%d concurrent writes got %d distinct %s IDs", total, len(slices.Compact(ids.ids)), ids.name)
		}
	}
	for _, s := range stores { // every store sees every write
		done, err := s.Intents(ctx(t), state.IntentFilter{Status: state.IntentDone})
		ok(t, err, "Intents")
		insts, err := s.Instances(ctx(t), state.InstanceFilter{Live: true})
		ok(t, err, "Instances")
		ds, err := s.Decisions(ctx(t), state.DecisionFilter{Limit: state.MaxPageLimit})
		ok(t, err, "Decisions")
		es, err := s.Audit(ctx(t), state.AuditFilter{Limit: state.MaxPageLimit})
		ok(t, err, "Audit")
		spent, err := s.Spend(ctx(t), "train", month)
		ok(t, err, "Spend")
		for _, c := range []struct {
			what      string
			got, want int
		}{
			{"done intents", len(done), total},
			{"live instances", len(insts), total},
			{"decisions", len(ds), total},
			{"audit entries", len(es), total},
		} {
			if c.got != c.want {
				t.Errorf("%s: %d, want %d", c.what, c.got, c.want)
			}
		}
		// The shared entry keeps the largest amount: writer w-1's last.
		if want := float64((writers-1)*1000+n-1) + float64(total); spent != want {
			t.Errorf("Spend = %v, want %v", spent, want)
		}
	}
}

func concurrentWriters(t *testing.T, h *harness) {
	writeConcurrently(t, []state.Store{h.store(t)}, 8, 15)
}
