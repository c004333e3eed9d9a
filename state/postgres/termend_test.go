package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/internal/fixture"
	"github.com/spillway-io/spillway/state"
)

// TestRenewalCutByItsTermKeepsTheCause: while the database takes no
// writes, every renewal is refused as read-only until one cannot be
// answered before the end of the term it renews (a new session for each
// call, a loaded machine, here a proxy that holds it); that renewal said
// only "context deadline exceeded", and Err, which the scheduler reads at
// that very moment to say why its calls ended with the term, named no
// cause. Err keeps the refusal (errors.Is state.ErrNoWrites), and the
// term's end (LastTerm) says the renewals failed and why.
func TestRenewalCutByItsTermKeepsTheCause(t *testing.T) {
	dsn := newDB(t)
	db := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	proxy, err := fixture.StartProxy(pg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	via, err := Open(t.Context(), strings.Replace(dsn, pg.Addr, proxy.Addr, 1), withPingIdle(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { via.Close() })
	el := NewElector(lease(t, via, "a", 2*time.Second), 200*time.Millisecond, nil, nil)
	epoch, ok := stepUntilActing(t, el)
	if !ok {
		t.Fatal("the elector did not take a free lease within 10s")
	}
	if end, ok := el.LastTerm(); ok {
		t.Errorf("LastTerm while leading = %+v, want none", end)
	}
	// The term, renewed last when stepUntilActing took it, is renewed
	// again once setReadOnly's slow part is done: at load 30 that part
	// took more than the term's 1.6 s, and the term ran out before the
	// first refusal (once in 80 runs).
	setReadOnlyThen(t, db, true, func() {
		if el.Step(t.Context()); el.Err() != nil {
			t.Fatalf("the renewal on a session opened before the database took no writes failed: %v", el.Err())
		}
	})
	if !pollUntil(t, 10*time.Second, func() bool {
		el.Step(t.Context())
		return errors.Is(el.Err(), state.ErrNoWrites)
	}) {
		t.Fatalf("no renewal refused as read-only within 10s: Err = %v", el.Err())
	}
	if _, acting := el.Acting(); !acting {
		t.Fatal("the term ended before a renewal could be held: the first read-only refusal came too late")
	}
	proxy.Hold()
	el.Step(t.Context()) // the renewal, held, runs out with the term
	proxy.LiftAll()
	err = el.Err()
	if !errors.Is(err, state.ErrNoWrites) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Err after a renewal cut by its term's end = %v, want the cut (context deadline exceeded) and the refusal before it (state.ErrNoWrites)", err)
	}
	if nw := state.NoWrites(err); nw == nil || !strings.Contains(nw.Error(), "default_transaction_read_only is on") {
		t.Errorf("state.NoWrites(Err) = %v, want the *ReadOnlyError saying default_transaction_read_only is on", nw)
	}
	end, ok := el.LastTerm()
	if !ok || end.Epoch != epoch || !errors.Is(end.Err, state.ErrNoWrites) || !strings.Contains(end.Why, "its renewals failed until the term ran out") || !strings.Contains(end.Why, "takes no writes") {
		t.Errorf("LastTerm after the term ran out = %+v, %v; want epoch %d, its renewals failed, the database takes no writes", end, ok, epoch)
	}
}

// TestTermLostToAnotherHolderSaysWho: a leader whose renewal finds the
// lease taken says so in LastTerm, naming the holder that took it.
func TestTermLostToAnotherHolderSaysWho(t *testing.T) {
	s := openStore(t, newDB(t))
	a := NewElector(lease(t, s, "a", 5*time.Second), time.Second, nil, nil)
	epoch, ok := stepUntilActing(t, a)
	if !ok {
		t.Fatal("a did not take a free lease within 10s")
	}
	expire(t, s)
	e2, ok, err := lease(t, s, "b", 5*time.Second).Acquire(t.Context())
	if err != nil || !ok {
		t.Fatalf("b's try on an expired lease: %v, %v; want it taken", ok, err)
	}
	a.Step(t.Context())
	if _, acting := a.Acting(); acting {
		t.Fatal("a still acts after b took the lease")
	}
	end, ok := a.LastTerm()
	if !ok || end.Epoch != epoch || end.By != "b" || end.Err != nil || !strings.Contains(end.Why, "lost to b") {
		t.Errorf("a's LastTerm = %+v, %v; want epoch %d lost to b (epoch %d)", end, ok, epoch, e2)
	}
}
