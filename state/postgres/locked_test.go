package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestLeaseRowLockedByAnotherSession: someone holds a lock on the lease
// row (an operator's psql left inside BEGIN; SELECT ... FOR UPDATE). The
// leader stops acting when its term runs out and nobody takes the lease;
// each renewal and try that timed out ends in the database too (pgx sends
// a cancel request), rather than waiting there for the lock: else each
// round would leave one more session behind, until the database refused
// connections (max_connections). Once the lock goes, the next try leads.
func TestLeaseRowLockedByAnotherSession(t *testing.T) {
	dsn := newDB(t)
	db := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	s := openStore(t, dsn)
	ctx := t.Context()
	const ttl = 300 * time.Millisecond
	a := NewElector(lease(t, s, "a", ttl), 100*time.Millisecond, nil, nil)
	b := NewElector(lease(t, s, "b", ttl), 100*time.Millisecond, nil, nil)
	a.Step(ctx)
	e1, ok := a.Acting()
	if !ok {
		t.Fatal("a did not take a free lease")
	}
	other, err := pgx.Connect(ctx, pg.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.WithoutCancel(ctx))
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT * FROM leader_lease FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		a.Step(ctx)
		b.Step(ctx)
	}
	if _, acting := a.Acting(); acting {
		t.Fatal("a still acts although it could not renew for longer than its term")
	}
	waiting := func() int {
		var n int
		if err := other.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'spillway' AND wait_event_type = 'Lock'`, db).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if !pollUntil(t, 10*time.Second, func() bool { return waiting() == 0 }) {
		t.Fatalf("%d sessions of the servers still wait for the lease row's lock 10s after their statements timed out", waiting())
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	b.Step(ctx)
	e2, ok := b.Acting()
	if !ok || e2 != e1+1 {
		terms, _ := s.Terms(ctx, "leader")
		t.Fatalf("b once the lock went: epoch %d, acting %v; want the next epoch %d (terms %+v)", e2, ok, e1+1, terms)
	}
}
