package scheduler_test

import (
	"cmp"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/spillway-io/spillway/internal/fixture"
	"github.com/spillway-io/spillway/state"
	"github.com/spillway-io/spillway/state/postgres"
)

// TestReadOnlyStateIsNamedInTheStatus: while the state database takes no
// writes (default_transaction_read_only on), the leader's lease is not
// renewed and its term ends; the pool's status, which /readyz shows, said
// only "reading the floors of pool train: ... context deadline exceeded
// (this server's leader term ended ...)". It now says the state database
// takes no writes and why, and says nothing once the database is writable
// again and the server leads once more.
func TestReadOnlyStateIsNamedInTheStatus(t *testing.T) {
	t.Parallel() // its own PostgreSQL server, emulator and loopback /24
	pg, err := fixture.StartPostgres()
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	t.Cleanup(pg.Stop)
	db, err := pg.CreateDatabase("ro")
	if err != nil {
		t.Fatal(err)
	}
	// A leader's state calls end with the term it held when they began
	// (its end less the margin, ttl/5): with a 2 s term, a call given
	// 1.6 s on a loaded machine ran out with the database well, the
	// term renewed meanwhile, and a tick failed before the database was
	// made read-only or after it was writable again (3 runs in 5 with two
	// CPU burners at load ~20). Waiting for the term to end costs the
	// test about a ttl twice, in parallel with the package's other tests.
	const (
		ttl   = 6 * time.Second
		renew = 200 * time.Millisecond
	)
	var el *postgres.Elector
	h := newHarness(t, testPool(), func(h *harness) {
		h.pgDSN = pg.DSN(db)
		h.wrap = func(st state.Store) state.Store {
			pst := st.(*postgres.Store)
			el = startElector(t, pst, "a", ttl, renew)
			h.opts.Leader = el
			return pst.FencedBy("spillway/"+cluster, el.Acting)
		}
	})
	h.setDemand(2*time.Minute, 8, 8)
	for range 3 {
		h.agents.setBusy(8)
		h.step(time.Minute)
	}
	if len(h.live()) == 0 {
		t.Fatal("no burst before the database became read-only")
	}
	shown := func() string { // as /readyz shows the pool's error
		st, _ := h.sched.LastStatus(testPool().Name)
		return cmp.Or(st.Err, st.ReadErr, st.StateErr)
	}
	// An operator's lock holds the tick's read of the floors until the
	// term ends, as a slow read would; the database takes no writes, so
	// the lease's renewals fail and the term ends in under ttl.
	lock, err := pgx.Connect(t.Context(), pg.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close(context.WithoutCancel(t.Context()))
	tx, err := lock.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), `LOCK TABLE floors IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	setServerReadOnly(t, pg, true)
	waitFor(t, "a renewal refused as read-only", func() bool {
		var ro *postgres.ReadOnlyError
		return errors.As(el.Err(), &ro)
	})
	h.agents.setBusy(8)
	h.step(time.Minute)
	got := shown()
	for _, want := range []string{"the state database takes no writes", "default_transaction_read_only is on"} {
		if !strings.Contains(got, want) {
			t.Errorf("the tick whose term ended as the database became read-only: the pool's error is %q, want it to say %q", got, want)
		}
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	setServerReadOnly(t, pg, false)
	waitFor(t, "the server leading again", func() bool { _, ok := el.Acting(); return ok })
	h.agents.setBusy(8)
	h.step(time.Minute)
	if got := shown(); got != "" {
		t.Errorf("the database writable again and the server leading: the pool's error is %q, want none", got)
	}
}

// setServerReadOnly turns default_transaction_read_only on or off for
// every session of pg's server, those open included (a reload).
func setServerReadOnly(t *testing.T, pg *fixture.Postgres, on bool) {
	t.Helper()
	admin, err := pgx.Connect(t.Context(), pg.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.WithoutCancel(t.Context()))
	stmt := `ALTER SYSTEM SET default_transaction_read_only = on`
	if !on {
		stmt = `ALTER SYSTEM RESET default_transaction_read_only`
	}
	for _, q := range []string{stmt, `SELECT pg_reload_conf()`} {
		if _, err := admin.Exec(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
}

// waitFor polls cond until it holds, for 20s at most.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("no %s after 20s", what)
		case <-tk.C:
		}
	}
}
