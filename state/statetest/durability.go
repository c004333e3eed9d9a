package statetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

func spendSurvivesReopen(t *testing.T, h *harness) {
	month := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	s := h.store(t)
	ok(t, s.RecordSpend(ctx(t), state.SpendEntry{Pool: "train", Provider: "aws", InstanceID: "i-1", PeriodStart: month, Amount: 40, At: at(time.Hour)}), "RecordSpend")
	ok(t, s.RecordSpend(ctx(t), state.SpendEntry{Pool: "train", Provider: "aws", InstanceID: "i-2", PeriodStart: month, Amount: 2.5, At: at(time.Hour)}), "RecordSpend")
	h.closeNow(t, s)

	s = h.reopen(t)
	spent, err := s.Spend(ctx(t), "train", month)
	ok(t, err, "Spend after reopening")
	same(t, "spend after reopening", spent, 42.5)
	// The ledger still never decreases: a restarted server that computes a
	// smaller amount from a fresh start does not lower it.
	ok(t, s.RecordSpend(ctx(t), state.SpendEntry{Pool: "train", Provider: "aws", InstanceID: "i-1", PeriodStart: month, Amount: 1, At: at(2 * time.Hour)}), "RecordSpend")
	h.closeNow(t, s)

	s = h.reopen(t)
	spent, err = s.Spend(ctx(t), "train", month)
	ok(t, err, "Spend after reopening twice")
	same(t, "spend after a smaller amount and reopening", spent, 42.5)
}

func pendingIntentSurvivesReopen(t *testing.T, h *harness) {
	s := h.store(t)
	pending := intent("i-pending", "train", t0)
	finished := intent("i-finished", "train", at(time.Second))
	ok(t, s.CreateIntent(ctx(t), pending), "CreateIntent")
	ok(t, s.CreateIntent(ctx(t), finished), "CreateIntent")
	ok(t, s.FinishIntent(ctx(t), finished.ID, state.IntentDone, []string{"i-0a", "i-0b"}, "", at(time.Minute)), "FinishIntent")
	inst := instance("aws", "i-0a", "train", at(time.Minute))
	ok(t, s.PutInstance(ctx(t), inst), "PutInstance")
	fl := floor("f-1", "train", t0, time.Hour)
	ok(t, s.CreateFloor(ctx(t), fl), "CreateFloor")
	h.closeNow(t, s)

	s = h.reopen(t)
	got, err := s.Intents(ctx(t), state.IntentFilter{Status: state.IntentPending})
	ok(t, err, "Intents(pending)")
	same(t, "pending intents after reopening", got, []state.Intent{pending})
	wantErr(t, s.CreateIntent(ctx(t), pending), state.ErrExists, "CreateIntent of a reopened intent")
	insts, err := s.Instances(ctx(t), state.InstanceFilter{})
	ok(t, err, "Instances")
	same(t, "instances after reopening", insts, []state.Instance{inst})
	gotFloor, err := s.Floor(ctx(t), "f-1")
	ok(t, err, "Floor")
	same(t, "floor after reopening", gotFloor, fl)
}

func idsNeverReusedAfterReopen(t *testing.T, h *harness) {
	s := h.store(t)
	d1, err := s.AddDecision(ctx(t), state.Decision{Pool: "train", Time: t0})
	ok(t, err, "AddDecision")
	a1, err := s.AddAudit(ctx(t), state.AuditEntry{Time: t0})
	ok(t, err, "AddAudit")
	h.closeNow(t, s)
	s = h.reopen(t)
	d2, err := s.AddDecision(ctx(t), state.Decision{Pool: "train", Time: at(time.Second)})
	ok(t, err, "AddDecision")
	a2, err := s.AddAudit(ctx(t), state.AuditEntry{Time: at(time.Second)})
	ok(t, err, "AddAudit")
	if d2 <= d1 || a2 <= a1 {
		t.Fatalf("IDs after reopening: decision %d then %d, audit %d then %d: want increasing", d1, d2, a1, a2)
	}
}

// migrations lists s's applied migrations, which must be numbered 1, 2,
// 3... each once.
func migrations(t *testing.T, s state.Store) []state.Migration {
	t.Helper()
	m, isMigrated := s.(state.Migrated)
	if !isMigrated {
		t.Fatalf("%T does not implement state.Migrated: a durable store must say which migrations it applied", s)
	}
	ms, err := m.Migrations(ctx(t))
	ok(t, err, "Migrations")
	if len(ms) == 0 {
		t.Fatal("Migrations: none applied")
	}
	for i, mg := range ms {
		if mg.Version != i+1 || mg.Name == "" || mg.AppliedAt.IsZero() {
			t.Fatalf("migration %d is %+v: want version %d, a name and a time, each version once", i, mg, i+1)
		}
	}
	return ms
}

func migrationsAppliedOnce(t *testing.T, h *harness) {
	s := h.store(t)
	first := migrations(t, s)
	ok(t, s.CreateIntent(ctx(t), intent("i-1", "train", t0)), "CreateIntent")
	h.closeNow(t, s)
	for i := range 2 {
		s = h.reopen(t)
		same(t, fmt.Sprintf("migrations after reopening %d times", i+1), migrations(t, s), first)
		ins, err := s.Intents(ctx(t), state.IntentFilter{})
		ok(t, err, "Intents")
		same(t, "intents after reopening", intentIDs(ins), []string{"i-1"})
		h.closeNow(t, s)
	}
}

func twoOpenersRace(t *testing.T, h *harness) {
	const openers = 4
	stores := make([]state.Store, openers)
	errs := make([]error, openers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range openers {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = h.durable.Open(ctx(t), h.addr)
		})
	}
	close(start)
	wg.Wait()
	for i, s := range stores {
		if errs[i] == nil {
			h.closeAtEnd(t, s)
		} else {
			t.Errorf("opener %d of %d racing on a fresh database: %v", i+1, openers, errs[i])
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.FailNow()
	}
	want := migrations(t, stores[0])
	for i, s := range stores[1:] {
		same(t, fmt.Sprintf("opener %d's migrations", i+2), migrations(t, s), want)
	}
	// They share one database.
	ok(t, stores[1].CreateIntent(ctx(t), intent("i-1", "train", t0)), "CreateIntent")
	wantErr(t, stores[2].CreateIntent(ctx(t), intent("i-1", "train", t0)), state.ErrExists, "CreateIntent through another opener")
}

func twoStoresWriteConcurrently(t *testing.T, h *harness) {
	writeConcurrently(t, []state.Store{h.store(t), h.reopen(t)}, 6, 10)
}

func closedStoreFails(t *testing.T, h *harness) {
	s := h.store(t)
	ok(t, s.CreateIntent(ctx(t), intent("i-1", "train", t0)), "CreateIntent")
	h.closeNow(t, s)
	if err := s.CreateIntent(ctx(t), intent("i-2", "train", t0)); err == nil {
		t.Error("CreateIntent on a closed store succeeded")
	}
	if _, err := s.Intents(ctx(t), state.IntentFilter{}); err == nil {
		t.Error("Intents on a closed store succeeded")
	}
	s = h.reopen(t)
	ins, err := s.Intents(ctx(t), state.IntentFilter{})
	ok(t, err, "Intents")
	same(t, "intents", intentIDs(ins), []string{"i-1"})
}
