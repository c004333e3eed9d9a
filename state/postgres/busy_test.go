package postgres

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

// TestRenewalWhileEverySessionIsBusy: every session of a leader's pool is
// taken by reads that wait on a table lock (an operator's VACUUM FULL or
// ALTER TABLE of floors, a slow query, a burst of API requests). The
// lease's renewal waited for a session of that pool until its term's end,
// failed, and the leader stopped acting, though the database would have
// renewed it at once: a lock on a table the lease does not touch deposed
// the leader, and every server in its turn. The lease's calls have a
// session of their own.
func TestRenewalWhileEverySessionIsBusy(t *testing.T) {
	dsn := newDB(t)
	db := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	const sessions = 4
	s, err := Open(t.Context(), dsn, WithMaxConns(sessions))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const ttl = 3 * time.Second
	a := NewElector(lease(t, s, "a", ttl), time.Second, nil, nil)
	if _, ok := stepUntilActing(t, a); !ok {
		t.Fatal("a did not take a free lease")
	}
	tx := lockIn(t, db, `LOCK TABLE floors IN ACCESS EXCLUSIVE MODE`)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for range sessions {
		wg.Go(func() { _, _ = s.Floors(ctx, state.FloorFilter{}) })
	}
	waiting := lockWaiters(t, openStore(t, dsn), db)
	if !pollUntil(t, 10*time.Second, func() bool { return waiting() == sessions }) {
		t.Fatalf("%d of the %d reads wait on the lock of floors after 10s", waiting(), sessions)
	}
	start := time.Now()
	a.Step(t.Context())
	took := time.Since(start)
	if _, ok := a.Acting(); !ok || a.Err() != nil {
		t.Fatalf("the renewal with all %d sessions of the pool waiting on a lock of floors: acting %v after %s, err %v; want renewed", sessions, ok, took, a.Err())
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Logf("renewed in %s with every session of the pool waiting on a lock", took.Round(time.Millisecond))
}
