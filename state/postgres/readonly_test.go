package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// setReadOnly makes new sessions of database db read-only (as a managed
// database's endpoint pointing at a reader during a failover) and ends
// db's Spillway sessions, as a failover does; or makes new sessions
// writable again (the endpoint points at the new writer), leaving the
// sessions opened read-only as they are (still connected to the reader).
func setReadOnly(t *testing.T, db string, on bool) {
	t.Helper()
	setReadOnlyThen(t, db, on, func() {})
}

// setReadOnlyThen is setReadOnly calling between once new sessions are
// read-only and before db's Spillway sessions end (their sessions, opened
// before, still take writes): a leader renews its term there, so the time
// setReadOnly takes on a loaded machine (a new session of its own, the
// catalog write) is not taken from that term.
func setReadOnlyThen(t *testing.T, db string, on bool, between func()) {
	t.Helper()
	ctx := t.Context()
	admin, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	stmt := fmt.Sprintf(`ALTER DATABASE %q SET default_transaction_read_only = %v`, db, on)
	if _, err := admin.Exec(ctx, stmt); err != nil {
		t.Fatal(err)
	}
	if !on {
		return
	}
	between()
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'spillway'`, db); err != nil {
		t.Fatal(err)
	}
}

// TestElectorOnAReadOnlyDatabase: while the database takes no writes, the
// leader stops acting once its term runs out and its fenced writes fail;
// once writable again it leads again at a new epoch, without waiting for
// the pool to drop connections it made to the read-only server; reads are
// served all along.
func TestElectorOnAReadOnlyDatabase(t *testing.T) {
	dsn := newDB(t)
	db := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	s := openStore(t, dsn)
	ctx := t.Context()
	el := NewElector(lease(t, s, "a", 500*time.Millisecond), 100*time.Millisecond, nil, nil)
	e1, ok := stepUntilActing(t, el)
	if !ok {
		t.Fatal("the elector did not take a free lease within 10s")
	}
	setReadOnly(t, db, true)
	if !pollUntil(t, 20*time.Second, func() bool {
		if _, acting := el.Acting(); !acting {
			return true
		}
		el.Step(ctx)
		return false
	}) {
		t.Fatal("the leader still acts 20s after its database became read-only")
	}
	// A few rounds on the read-only database: the pool is asked for
	// connections to it, as it would be through a failover.
	for range 5 {
		el.Step(ctx)
		if _, acting := el.Acting(); acting {
			t.Fatal("the elector took the lease on a read-only database")
		}
	}
	_, _, err := lease(t, s, "b", time.Second).Acquire(ctx)
	if !Transient(err) || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("Acquire on a read-only database: %v, want a transient error that says the transaction is read-only", err)
	}
	if _, err := s.LeaseInfo(ctx, "leader"); err != nil {
		t.Errorf("a read on a read-only database: %v, want it served", err)
	}
	setReadOnly(t, db, false)
	if !pollUntil(t, 10*time.Second, func() bool {
		el.Step(ctx)
		_, acting := el.Acting()
		return acting
	}) {
		_, _, err := lease(t, s, "c", time.Second).Acquire(ctx)
		t.Fatalf("the elector does not lead 10s after its database became writable again (a try now: %v)", err)
	}
	if e2, _ := el.Acting(); e2 <= e1 {
		t.Fatalf("the elector leads again at epoch %d, not above %d", e2, e1)
	}
}
