// Package postgres is the state.Store of several Spillway servers sharing
// one PostgreSQL database (pgx/v5), and the leader lease that lets exactly
// one of them act at a time.
//
// The schema is versioned like state/sqlite's: the migrations in
// migrations/*.sql are embedded, applied in order, each once, in one
// transaction that first takes a transaction-scoped advisory lock, so
// servers starting together queue and the second finds the work done. Open
// refuses a database whose schema is newer than the binary
// (state.ErrSchemaTooNew) or whose recorded migrations differ.
//
// Writes of intents, instances, spend and decisions through a Store
// returned by FencedBy are fenced: each runs in a transaction that first
// checks, under a share lock of the lease row, that the lease is still held
// at the caller's epoch and has not expired by the database's clock. A server deposed while it was paused or cut off cannot
// record an intent, and so cannot launch, once another took the lease.
//
// The DSN's password may come from the DSN, from PGPASSWORD or a pgpass
// file (as libpq reads them), or from a file named with WithPasswordFile.
// It is never logged or put in an error: Redact removes it.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/spillway-io/spillway/state"
)

var (
	_ state.Store    = (*Store)(nil)
	_ state.Migrated = (*Store)(nil)
)

// Store is a state.Store kept in one PostgreSQL database. Safe for
// concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	leases *pgxpool.Pool // the lease's own session (leasePool)
	name   string        // the DSN without its password, for errors and logs
	dbName string        // the database's name
	log    *slog.Logger
	fence  func() (int64, bool) // nil: unfenced
	lease  string               // the lease name fenced writes check
	owner  bool                 // Close closes the pool
	known  int                  // the newest schema version this binary knows
}

// Option changes how Open connects.
type Option func(*options)

type options struct {
	logger        *slog.Logger
	now           func() time.Time
	passwordFile  string
	maxConns      int32
	connTimeout   time.Duration
	txIdleTimeout time.Duration
	pingIdle      time.Duration // a pooled session idle this long is pinged before use
}

func defaultOptions() options {
	return options{
		logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		now:           time.Now,
		maxConns:      8,
		connTimeout:   5 * time.Second,
		txIdleTimeout: 5 * time.Second,
		pingIdle:      time.Second, // pgx's default
	}
}

// WithLogger logs migrations to l (silent by default).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l.WithGroup("state")
		}
	}
}

// WithClock is the clock that stamps applied migrations (time.Now by
// default).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithPasswordFile reads the password from a file (its first line), which
// overrides one in the DSN or PGPASSWORD.
func WithPasswordFile(path string) Option { return func(o *options) { o.passwordFile = path } }

// WithMaxConns bounds the connection pool (default 8).
func WithMaxConns(n int32) Option { return func(o *options) { o.maxConns = n } }

// WithConnectTimeout bounds one connection attempt (default 5s).
func WithConnectTimeout(d time.Duration) Option { return func(o *options) { o.connTimeout = d } }

// WithTxIdleTimeout is how long the database lets a session sit idle inside
// a transaction before it ends it (default 5s; 100ms to 1h). Keep it below
// the lease TTL: a fenced write of a leader paused or cut off in the middle
// of its transaction holds a share lock of the lease row until then.
func WithTxIdleTimeout(d time.Duration) Option { return func(o *options) { o.txIdleTimeout = d } }

// Redact returns dsn without its password, for logs and errors.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		// A keyword/value DSN: drop password=... .
		var kept []string
		for _, f := range strings.Fields(dsn) {
			if strings.HasPrefix(strings.ToLower(f), "password=") {
				f = "password=xxxxx"
			}
			kept = append(kept, f)
		}
		return strings.Join(kept, " ")
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Open connects to the database at dsn (postgres://user@host:port/db?...)
// and brings its schema up to date.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	name := Redact(dsn)
	if dsn == "" {
		return nil, &state.InvalidError{Field: "postgres DSN", Value: `""`, Want: "postgres://user@host:port/database"}
	}
	if o.maxConns < 1 || o.maxConns > 256 {
		return nil, &state.InvalidError{Field: "postgres max connections", Value: fmt.Sprint(o.maxConns), Want: "1 to 256"}
	}
	if o.txIdleTimeout < 100*time.Millisecond || o.txIdleTimeout > time.Hour {
		return nil, &state.InvalidError{Field: "postgres transaction idle timeout", Value: o.txIdleTimeout.String(), Want: "100ms to 1h"}
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors may quote the DSN: say only what is redacted.
		return nil, &state.InvalidError{Field: "postgres DSN", Value: name, Want: "postgres://user@host:port/database[?sslmode=...] (" + redactErr(err, dsn) + ")"}
	}
	if o.passwordFile != "" {
		b, err := os.ReadFile(o.passwordFile)
		if err != nil {
			return nil, fmt.Errorf("state/postgres: password file: %w", err)
		}
		cfg.ConnConfig.Password = strings.TrimRight(strings.SplitN(string(b), "\n", 2)[0], "\r")
	}
	cfg.MaxConns = o.maxConns
	// Short keepalive and TCP_USER_TIMEOUT (dial.go): a host that
	// vanished fails its sessions in seconds, not the kernel's 15 minutes.
	cfg.ConnConfig.DialFunc = dialer().DialContext
	if cfg.ConnConfig.ConnectTimeout == 0 { // the DSN's connect_timeout wins
		cfg.ConnConfig.ConnectTimeout = o.connTimeout
	}
	// A session that holds a transaction open without a word (its server
	// paused or cut off mid-transaction) is ended by the database, so the
	// share lock of a fenced write never holds off a takeover for long.
	cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = fmt.Sprint(o.txIdleTimeout.Milliseconds())
	cfg.ConnConfig.RuntimeParams["application_name"] = "spillway"
	// A statement whose context ends (a lease call waiting on the row's
	// lock) is ended in the database too: pgx's default context handler
	// fails the read at once, and closing the session sends a cancel
	// request first (pgconn's asyncClose), so the statement does not run
	// later for a caller long gone (TestTimedOutTryLeavesNoSessionToTakeTheLease).
	// A session on a read-only server (a reader a managed database's
	// endpoint reached during a failover, default_transaction_read_only
	// on) serves its query and is then closed: kept in the pool, it would
	// fail every write until the pool dropped it (30 minutes idle), long
	// after the endpoint reached the writable primary again.
	cfg.AfterRelease = func(c *pgx.Conn) bool { return !readOnly(c.PgConn()) }
	// A session the database ended while it sat in the pool is pinged,
	// found dead and replaced before a statement is sent on it (session.go).
	cfg.ShouldPing = shouldPing(o.pingIdle)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("state/postgres: open %s: %w", name, err)
	}
	leases, err := leasePool(ctx, cfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("state/postgres: open %s: %w", name, err)
	}
	s := &Store{pool: pool, leases: leases, name: name, dbName: cfg.ConnConfig.Database, log: o.logger, owner: true}
	if err := s.migrate(ctx, o.now, migrationFiles); err != nil {
		// The first session: a refused password, database or TLS, or a
		// database that takes no writes, is said so, with what to do.
		err = s.readOnly(ctx, refused(cfg, dsn, err))
		s.closePools()
		return nil, err
	}
	return s, nil
}

// leasePool is one session, set up as cfg's, for the lease's tries,
// renewals and releases only. Sharing the store's pool, a renewal waited
// for a session while every one was taken (reads waiting on a lock of a
// table the lease does not touch, a burst of API requests), until its
// term ended: the leader stopped acting, though the database would have
// renewed it at once. The elector makes one call at a time.
func leasePool(ctx context.Context, cfg *pgxpool.Config) (*pgxpool.Pool, error) {
	lc := cfg.Copy()
	lc.MaxConns, lc.MinConns = 1, 0
	return pgxpool.NewWithConfig(ctx, lc)
}

// readOnly reports whether c's session takes no writes, as the server
// reports it (PostgreSQL 14 and later).
func readOnly(c *pgconn.PgConn) bool {
	return c.ParameterStatus("default_transaction_read_only") == "on" || c.ParameterStatus("in_hot_standby") == "on"
}

// redactErr is err's text without dsn's password.
func redactErr(err error, dsn string) string {
	msg := err.Error()
	if u, perr := url.Parse(dsn); perr == nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

// Close closes the connections. A fenced view's Close does nothing: the
// store it came from owns them.
func (s *Store) Close() error {
	if s.owner {
		s.closePools()
	}
	return nil
}

func (s *Store) closePools() {
	s.pool.Close()
	s.leases.Close()
}

// Ping checks that the database answers (for readiness probes).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("state/postgres: ping %s: %w", s.name, err)
	}
	return nil
}

// querier is what a transaction and the pool both offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// execBatch runs one statement per row of args in one round trip; the
// error names the failing row by what name says of it.
func execBatch(ctx context.Context, q querier, sql string, args [][]any, name func(i int) string) error {
	b := &pgx.Batch{}
	for _, a := range args {
		b.Queue(sql, a...)
	}
	br := q.SendBatch(ctx, b)
	for i := range args {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return fmt.Errorf("%s: %w", name(i), err)
		}
	}
	return br.Close()
}

// write runs f: in one transaction when atomic or fenced (a fenced store
// first checks its epoch in that transaction), else on the pool. A write
// refused by a read-only database fails with a *ReadOnlyError.
func (s *Store) write(ctx context.Context, atomic bool, f func(q querier) error) error {
	return s.readOnly(ctx, s.writeOnce(ctx, atomic, f))
}

// writeOnce is write, its error as the database gave it.
func (s *Store) writeOnce(ctx context.Context, atomic bool, f func(q querier) error) error {
	if s.fence == nil && !atomic {
		return f(s.pool)
	}
	var epoch int64
	if s.fence != nil {
		e, ok := s.fence()
		if !ok {
			return &state.FencedError{Lease: s.lease, Epoch: 0, Why: "this server does not hold the lease"}
		}
		epoch = e
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer rollback(ctx, tx)
	if s.fence != nil {
		if err := checkFence(ctx, tx, s.lease, epoch); err != nil {
			return err
		}
	}
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// rollbackTimeout bounds the rollback of a transaction that did not
// commit. The rollback is sent even when ctx has ended (shutdown, a call
// timeout), so it cannot run on ctx; but unbounded, it waited for ever
// for the answer of a database that vanished without closing the session
// (a host gone, a cut network: no FIN, no RST), holding the caller, and a
// tick with it, until the kernel gave the connection up (15 minutes by
// default). A rollback that times out closes the session; the database
// then ends the transaction itself (idle_in_transaction_session_timeout).
const rollbackTimeout = 2 * time.Second

// rollback rolls tx back, bounded by rollbackTimeout whether or not ctx
// has ended; after a commit it does nothing.
func rollback(ctx context.Context, tx pgx.Tx) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	_ = tx.Rollback(rctx)
}

// unfenced runs f on the pool, fenced view or not: floors (what operators
// and schedules ask for, written idempotently) and audit entries may be
// written by any server, so followers accept operator writes.
func (s *Store) unfenced(ctx context.Context, f func(q querier) error) error { return f(s.pool) }

// checkFence fails with a *state.FencedError unless the lease is held at
// epoch and unexpired; the share lock it takes holds off a takeover until
// the transaction ends.
//
// So a fenced write must not wait on in the database after its caller gave
// up: one waiting on another lock (a row an operator's open transaction
// locked, another session's insert of the same key) holds the share lock
// as long as it waits, and no server can take the lease meanwhile. When
// its context ends, pgx's cancel request ends the wait, but a server cut
// off from the database (a partition, its host gone) cannot send it, and a
// waiting session is not idle, so idle_in_transaction_session_timeout does
// not end it either: nobody led until the other lock went. In the same
// round trip as the fence, the transaction's lock_timeout is set to the
// time left before ctx's deadline (a leader's write ends with its term),
// so the database ends the wait itself; the transaction, failed and idle,
// is then ended by idle_in_transaction_session_timeout.
func checkFence(ctx context.Context, tx pgx.Tx, lease string, epoch int64) error {
	lt, err := lockTimeoutOf(ctx)
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	if lt != "" {
		b.Queue(setLockTimeout, lt)
	}
	b.Queue(`SELECT epoch, expires_at > clock_timestamp() FROM leader_lease WHERE name = $1 FOR SHARE`, lease)
	br := tx.SendBatch(ctx, b)
	if lt != "" {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
	}
	var cur int64
	var live bool
	err = br.QueryRow().Scan(&cur, &live)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return &state.FencedError{Lease: lease, Epoch: epoch, Why: "no lease row"}
	case err != nil:
		return err
	case cur != epoch:
		return &state.FencedError{Lease: lease, Epoch: epoch, Why: fmt.Sprintf("the lease is at epoch %d", cur)}
	case !live:
		return &state.FencedError{Lease: lease, Epoch: epoch, Why: "the lease expired"}
	}
	return nil
}

// FencedBy returns a view of s whose writes of intents, instances, spend
// and decisions (what the acting server records about the cloud) succeed
// only while acting reports this server holding lease at the epoch it
// returns, and the database agrees. Floors and audit entries are written
// unfenced (operator writes any server accepts; schedule floors have
// deterministic IDs), and reads are not fenced. Close of the view does
// nothing.
func (s *Store) FencedBy(lease string, acting func() (epoch int64, ok bool)) *Store {
	v := *s
	v.fence, v.lease, v.owner = acting, lease, false
	return &v
}

// nanos is how times are stored: UTC Unix nanoseconds, 0 for the zero time.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos reverses nanos.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// where joins conditions written with ? placeholders into a WHERE clause
// with $n placeholders, numbered from 1.
func where(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// numbered replaces each ? in q with $1, $2, ... in order.
func numbered(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
