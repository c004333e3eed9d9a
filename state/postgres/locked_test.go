package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/spillway-io/spillway/internal/fixture"
	"github.com/spillway-io/spillway/state"
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
	e1, ok := stepUntilActing(t, a)
	if !ok {
		t.Fatal("a did not take a free lease")
	}
	tx := lockLeaseRow(t, db)
	for range 6 {
		a.Step(ctx)
		b.Step(ctx)
	}
	if _, acting := a.Acting(); acting {
		t.Fatal("a still acts although it could not renew for longer than its term")
	}
	waiting := lockWaiters(t, s, db)
	if !pollUntil(t, 10*time.Second, func() bool { return waiting() == 0 }) {
		t.Fatalf("%d sessions of the servers still wait for the lease row's lock 10s after their statements timed out", waiting())
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	e2, ok := stepUntilActing(t, b)
	if !ok || e2 != e1+1 {
		terms, _ := s.Terms(ctx, "leader")
		t.Fatalf("b once the lock went: epoch %d, acting %v; want the next epoch %d (terms %+v)", e2, ok, e1+1, terms)
	}
}

// TestTimedOutTryLeavesNoSessionToTakeTheLease: a server's try of the
// lease waits on the lease row's lock (an operator's SELECT ... FOR UPDATE
// left open), its deadline passes, and the server goes (stopped, or
// restarted as a new holder). Were its statement left waiting in the
// database, it would run once the lock went and begin a term for a holder
// that is gone: nobody could lead for that term's TTL. pgx ends such a
// statement in the database (a cancel request sent on a new connection
// before it closes the session; pgconn's asyncClose, v5.13): the session
// is gone within moments of the deadline, and once the lock goes the next
// server leads at once.
func TestTimedOutTryLeavesNoSessionToTakeTheLease(t *testing.T) {
	dsn := newDB(t)
	db := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	s := openStore(t, dsn)
	ctx := t.Context()
	a := lease(t, s, "a", 200*time.Millisecond)
	e1, ok, err := a.Acquire(ctx)
	if err != nil || !ok {
		t.Fatalf("a's first try: %d, %v, %v", e1, ok, err)
	}
	tx := lockLeaseRow(t, db)
	if !pollUntil(t, 5*time.Second, func() bool {
		li, err := s.LeaseInfo(ctx, "leader")
		return err == nil && !li.Live
	}) {
		t.Fatal("a's term did not expire")
	}

	// b's server, with a term long enough to be seen if it began late.
	gone, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	b := lease(t, gone, "b", time.Minute)
	tryCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, ok, err = b.Acquire(tryCtx)
	deadline := time.Now()
	cancel()
	if ok || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("b's try while the lease row is locked: ok %v, %v; want it to end at its deadline", ok, err)
	}
	gone.Close()

	sessions := lockWaiters(t, s, db)
	if !pollUntil(t, 10*time.Second, func() bool { return sessions() == 0 }) {
		t.Errorf("%d sessions of servers still wait for the lease row's lock %v after their statement's deadline", sessions(), time.Since(deadline).Round(time.Millisecond))
	} else {
		t.Logf("the timed-out try's session stopped waiting %v after its deadline", time.Since(deadline).Round(time.Millisecond))
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	c := lease(t, s, "c", time.Second)
	e2, ok, err := c.Acquire(ctx)
	if err != nil || !ok || e2 != e1+1 {
		li, _ := s.LeaseInfo(ctx, "leader")
		terms, _ := s.Terms(ctx, "leader")
		t.Fatalf("c's try once the lock went: epoch %d, ok %v, %v; want the next epoch %d (lease %+v, terms %+v)", e2, ok, err, e1+1, li, terms)
	}
}

// TestTryCutOffWhileLockedDoesNotTakeTheLeaseLate: a server's try of the
// lease waits on the lease row's lock (an operator's SELECT ... FOR UPDATE
// left open), and the server is cut off from the database then, so that
// pgx's cancel request cannot reach it either. The try's statement must
// not wait on in the database and, once the lock goes, begin a term its
// server never learns of (keeping every other server out for that term's
// TTL): the database ends the wait at the try's deadline (lock_timeout),
// and the next server leads at once. The lock timeout is the try's own:
// the session is left without one.
func TestTryCutOffWhileLockedDoesNotTakeTheLeaseLate(t *testing.T) {
	dsn := newDB(t)
	db := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	s := openStore(t, dsn)
	ctx := t.Context()
	one, err := Open(ctx, dsn, WithMaxConns(1))
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	e1, ok, err := lease(t, one, "a", 200*time.Millisecond).Acquire(ctx)
	if err != nil || !ok {
		t.Fatalf("a's first try: %d, %v, %v", e1, ok, err)
	}
	var left string
	if err := one.pool.QueryRow(ctx, `SHOW lock_timeout`).Scan(&left); err != nil || left != "0" {
		t.Errorf("lock_timeout of the session after a lease try: %q, %v; want 0 (the try's own timeout ends with it)", left, err)
	}

	tx := lockLeaseRow(t, db)
	if !pollUntil(t, 5*time.Second, func() bool {
		li, err := s.LeaseInfo(ctx, "leader")
		return err == nil && !li.Live
	}) {
		t.Fatal("a's term did not expire")
	}
	// Read outside the locking transaction, whose statistics views would
	// keep what they showed first.
	waiting := lockWaiters(t, s, db)

	// b's server reaches the database through a proxy, with a term long
	// enough to be seen if it began late. Its session is open before the
	// try; from then on new connections are cut, so the try's cancel
	// request (sent on a new connection once its deadline passes) is lost
	// whenever the deadline comes, as a partition at that moment loses it,
	// and the try's own session is cut once the try has failed. Nothing
	// here races the try's deadline: the statement waits on the lock from
	// the moment it arrives, since the lock was taken before.
	proxy, err := fixture.StartProxy(pg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	gone, err := Open(ctx, strings.Replace(dsn, pg.Addr, proxy.Addr, 1), WithMaxConns(1))
	if err != nil {
		t.Fatal(err)
	}
	defer gone.Close()
	// Once the test is done: closed, the cut-off session's cancel request
	// fails at once, rather than holding gone.Close for pgconn's 15 s.
	defer proxy.Restore()
	var pid int32
	if err := gone.leases.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil { // the lease's own session
		t.Fatal(err)
	}
	proxy.CutNew()
	b := lease(t, gone, "b", time.Minute)
	tryCtx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, ok, err = b.Acquire(tryCtx)
	proxy.Cut()
	// It ends at its deadline: by its context, or, when the database's
	// lock timeout (the same deadline) is first, by the database (55P03).
	var pe *pgconn.PgError
	if ok || !errors.Is(err, context.DeadlineExceeded) && !(errors.As(err, &pe) && pe.Code == "55P03") {
		t.Fatalf("b's try while the lease row is locked: ok %v, %v; want it to end at its deadline", ok, err)
	}
	deadline, _ := tryCtx.Deadline()
	// b's session, read from another: what it ran last, and whether it
	// still waits on a lock.
	backend := func() (query string, locked bool) {
		if err := s.pool.QueryRow(ctx, `SELECT query, coalesce(wait_event_type = 'Lock', false) FROM pg_stat_activity WHERE pid = $1`, pid).Scan(&query, &locked); err != nil {
			t.Fatalf("b's session (pid %d): %v", pid, err)
		}
		return query, locked
	}
	if !pollUntil(t, 5*time.Second, func() bool { _, locked := backend(); return !locked }) {
		t.Errorf("b's try, cut off, still waits for the lease row's lock %v after its deadline", time.Since(deadline).Round(time.Millisecond))
	} else {
		t.Logf("the cut-off try stopped waiting %v after its deadline", time.Since(deadline).Round(time.Millisecond))
	}
	if q, _ := backend(); !strings.Contains(q, "INSERT INTO leader_lease") {
		t.Fatalf("b's session last ran %q: its try never reached the database", q)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// Were b's statement still there, it would take the lock now.
	if !pollUntil(t, 5*time.Second, func() bool { return waiting() == 0 }) {
		t.Fatal("a session still waits on the lease row once the lock went")
	}
	c := lease(t, s, "c", time.Second)
	e2, ok, err := c.Acquire(ctx)
	if err != nil || !ok || e2 != e1+1 {
		li, _ := s.LeaseInfo(ctx, "leader")
		terms, _ := s.Terms(ctx, "leader")
		t.Fatalf("c's try once the lock went: epoch %d, ok %v, %v; want the next epoch %d (lease %+v, terms %+v)", e2, ok, err, e1+1, li, terms)
	}
}

// stepUntilActing steps el until it acts, for up to 10s, and returns its
// epoch. One step is not enough on a loaded machine: an elector acts only
// when its call came back within four fifths of the TTL (a 300ms TTL
// leaves 240ms, which a try on a fresh session, its statements prepared
// first, can take there); a try that took the lease but came back late
// leaves a term in its name that the next step renews at once.
func stepUntilActing(t *testing.T, el *Elector) (epoch int64, ok bool) {
	t.Helper()
	pollUntil(t, 10*time.Second, func() bool {
		el.Step(t.Context())
		epoch, ok = el.Acting()
		return ok
	})
	return epoch, ok
}

// lockRows locks every row of table in database db from a session of its
// own, inside a transaction (an operator's BEGIN; SELECT ... FOR UPDATE
// left open), rolled back and closed when the test ends if the test did
// not roll it back first.
func lockRows(t *testing.T, db, table string) pgx.Tx {
	t.Helper()
	return lockIn(t, db, `SELECT * FROM `+table+` FOR UPDATE`)
}

// lockIn runs stmt (a statement taking locks) in database db from a
// session of its own, inside a transaction left open, rolled back and
// closed when the test ends if the test did not roll it back first.
func lockIn(t *testing.T, db, stmt string) pgx.Tx {
	t.Helper()
	ctx := t.Context()
	other, err := pgx.Connect(ctx, pg.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close(context.Background()) })
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(context.Background()) })
	if _, err := tx.Exec(ctx, stmt); err != nil {
		t.Fatal(err)
	}
	return tx
}

// lockLeaseRow locks the lease row of database db (lockRows).
func lockLeaseRow(t *testing.T, db string) pgx.Tx {
	t.Helper()
	return lockRows(t, db, "leader_lease")
}

// lockWaiters counts, through s (not the locking transaction, whose
// statistics views keep what they showed first), the servers' sessions
// of database db waiting on a lock.
func lockWaiters(t *testing.T, s *Store, db string) func() int {
	return func() int {
		var n int
		if err := s.pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'spillway' AND wait_event_type = 'Lock'`, db).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
}

// TestFencedWriteCutOffWhileLockedDoesNotHoldOffTakeover: a leader's
// fenced write waits on a row lock (an operator's BEGIN; SELECT ... FROM
// instances FOR UPDATE left open), and the leader is cut off from the
// database then, so that pgx's cancel request cannot reach it either. The
// write took a share lock of the lease row with its fence: had its
// statement waited on in the database, no server could take the lease for
// as long as the operator's lock stayed (the waiting session is not idle,
// so idle_in_transaction_session_timeout does not end it). The database
// ends the wait at the write's deadline (its lock_timeout), ends the failed
// transaction once idle (the transaction idle timeout), and the next server
// leads as soon as the leader's term is over, the operator's lock still
// held.
func TestFencedWriteCutOffWhileLockedDoesNotHoldOffTakeover(t *testing.T) {
	dsn := newDB(t)
	db := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	direct := openStore(t, dsn)
	ctx := t.Context()
	row := state.Instance{ID: "i-1", Provider: "aws", Pool: "train", State: state.InstanceRunning, GPUs: 8, LaunchedAt: time.Unix(1, 0)}
	if err := direct.PutInstance(ctx, row); err != nil {
		t.Fatal(err)
	}
	waiting := lockWaiters(t, direct, db)

	proxy, err := fixture.StartProxy(pg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	const idle = 500 * time.Millisecond
	leader, err := Open(ctx, strings.Replace(dsn, pg.Addr, proxy.Addr, 1), WithTxIdleTimeout(idle))
	if err != nil {
		t.Fatal(err)
	}
	defer leader.Close()
	// Once the test is done: closed, the cut-off session's cancel request
	// fails at once, rather than holding leader.Close for pgconn's 15 s.
	defer proxy.Restore()
	const ttl = 2 * time.Second
	e1, ok, err := lease(t, leader, "a", ttl).Acquire(ctx)
	if err != nil || !ok {
		t.Fatalf("a's first try: %d, %v, %v", e1, ok, err)
	}
	fenced := leader.FencedBy("leader", func() (int64, bool) { return e1, true })

	tx := lockInstances(t, db)
	// The write's deadline outlasts the test's seeing it wait (polls of
	// pg_stat_activity, which took over 0.5s at load ~28) and the cut.
	wctx, cancel := context.WithTimeout(ctx, ttl)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		up := row
		up.BusyGPUs = 8
		done <- fenced.PutInstance(wctx, up)
	}()
	if !pollUntil(t, 5*time.Second, func() bool { return waiting() == 1 }) {
		select {
		case err := <-done:
			t.Fatalf("the leader's write never waited on the operator's lock: it ended with %v", err)
		default:
			t.Fatal("the leader's write never waited on the operator's lock")
		}
	}
	proxy.Cut()
	if err := <-done; err == nil {
		t.Fatal("the leader's write succeeded while the row was locked")
	}
	cutAt := time.Now()

	// The operator's lock stays. Once a's term is over, b takes the lease:
	// at most the transaction idle timeout after the write's deadline (the
	// term's end), where it could wait for as long as the lock stays.
	b := lease(t, direct, "b", time.Minute)
	var e2 int64
	var tries []error
	if !pollUntil(t, 10*time.Second, func() bool {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		var err error
		e2, ok, err = b.Acquire(actx)
		if err != nil {
			tries = append(tries, err)
		}
		return ok
	}) {
		t.Fatalf("b could not take the lease for 10s after a's write was cut off, %d sessions waiting on a lock, while the operator's lock on the instances stayed (%d tries failed, the last: %v)", waiting(), len(tries), tries[len(tries)-1])
	}
	t.Logf("b led %v after the cut-off write's deadline (a's term %v, the transaction idle timeout %v)", time.Since(cutAt).Round(time.Millisecond), ttl, idle)
	if e2 != e1+1 {
		t.Fatalf("b took epoch %d, want %d", e2, e1+1)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := direct.Instances(ctx, state.InstanceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].BusyGPUs != 0 {
		t.Fatalf("instances once the lock went: %+v; want the row as it was (the cut-off write never committed)", got)
	}
}

// lockInstances locks every instance row of database db (lockRows).
func lockInstances(t *testing.T, db string) pgx.Tx {
	t.Helper()
	return lockRows(t, db, "instances")
}
