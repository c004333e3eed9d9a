package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/spillway-io/spillway/state"
)

// Lease is one server's handle on a named leader lease kept in the
// database. Expiry is computed by the database's clock, so servers' clocks
// need not agree; epoch grows by one with every new term and is what fenced
// writes check.
type Lease struct {
	s      *Store
	name   string
	holder string
	ttl    time.Duration
	pools  []string // the holder's config's, recorded with each term it takes
}

// SetPools records pools (the holder's config's pool names) with each
// term this holder takes, so that other servers can tell a pool of theirs
// the leader's config lacks (LeaseInfo.Pools). Call it before the lease is
// used.
func (l *Lease) SetPools(pools []string) {
	l.pools = slices.Sorted(slices.Values(pools))
}

// LeaseInfo is what the database says about a lease.
type LeaseInfo struct {
	Name     string
	Holder   string // "" when no term was ever taken
	Epoch    int64
	Acquired time.Time
	Expires  time.Time
	Live     bool // not expired by the database's clock
	// Pools is the pools of the config the holder of the term at Epoch
	// ran, sorted (SetPools); nil when that term did not record them.
	Pools []string
}

// Lease returns the handle of holder on the lease name, whose terms last
// ttl unless renewed. holder must be unique to one process (a restarted
// server is a new holder).
func (s *Store) Lease(name, holder string, ttl time.Duration) (*Lease, error) {
	if len(name) == 0 || len(name) > state.MaxIDLen {
		return nil, &state.InvalidError{Field: "lease name", Value: fmt.Sprintf("%q", name), Want: fmt.Sprintf("1 to %d bytes", state.MaxIDLen)}
	}
	if len(holder) == 0 || len(holder) > state.MaxIDLen {
		return nil, &state.InvalidError{Field: "lease holder", Value: fmt.Sprintf("%q", holder), Want: fmt.Sprintf("1 to %d bytes", state.MaxIDLen)}
	}
	if ttl < 100*time.Millisecond || ttl > time.Hour {
		return nil, &state.InvalidError{Field: "lease ttl", Value: ttl.String(), Want: "100ms to 1h"}
	}
	return &Lease{s: s, name: name, holder: holder, ttl: ttl}, nil
}

// Acquire begins a new term for this holder if the lease is free or
// expired, and returns its epoch; ok is false when another holds it. The
// new epoch is above both the lease row's and every term leader_terms
// recorded, so a row deleted or set back by hand neither blocks every
// later term nor lets epochs go back. A database whose schema a newer
// binary migrated is never led by this one: Acquire fails with a
// *state.SchemaError.
//
// When this holder already holds the lease's live term (the newest
// leader_terms recorded, in its name), Acquire renews that term and
// returns its epoch: a try or a renewal whose answer was lost (sent before
// a partition, its caller's deadline passed, delivered once the partition
// lifted) began or extended a term its holder never learned of, and no
// server could take the lease until that term expired. The term was this
// holder's throughout, so no other server acted meanwhile.
func (l *Lease) Acquire(ctx context.Context) (epoch int64, ok bool, err error) {
	// mine is the newest recorded term when it is this holder's: the only
	// one Acquire renews rather than replaces. A live row of this holder at
	// another epoch (set by hand) is left to expire.
	lt, err := l.lockTimeout(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("state/postgres: acquire lease %q as %q: %w", l.name, l.holder, err)
	}
	b := &pgx.Batch{}
	b.Queue(setLockTimeout, lt)
	b.Queue(`WITH last AS (
		SELECT COALESCE(max(epoch), 0) AS epoch FROM leader_terms WHERE name = $1),
	mine AS (
		SELECT t.epoch FROM leader_terms t, last WHERE t.name = $1 AND t.epoch = last.epoch AND t.holder = $2),
	term AS (
		INSERT INTO leader_lease AS l (name, holder, epoch, acquired, expires_at)
		SELECT $1, $2, last.epoch + 1, clock_timestamp(), clock_timestamp() + $3 * interval '1 microsecond' FROM last
		WHERE (SELECT max(version) FROM schema_migrations) <= $4
		ON CONFLICT (name) DO UPDATE
		SET holder = excluded.holder,
			epoch = CASE WHEN l.holder = excluded.holder AND l.epoch IN (SELECT epoch FROM mine) AND l.expires_at > clock_timestamp()
				THEN l.epoch ELSE GREATEST(l.epoch + 1, excluded.epoch) END,
			acquired = CASE WHEN l.holder = excluded.holder AND l.epoch IN (SELECT epoch FROM mine) AND l.expires_at > clock_timestamp()
				THEN l.acquired ELSE excluded.acquired END,
			expires_at = excluded.expires_at
		WHERE l.expires_at <= clock_timestamp() OR (l.holder = excluded.holder AND l.epoch IN (SELECT epoch FROM mine))
		RETURNING epoch, acquired),
	logged AS (
		INSERT INTO leader_terms (name, epoch, holder, acquired, pools) SELECT $1, epoch, $2, acquired, $5 FROM term
		ON CONFLICT (name, epoch) DO NOTHING)
	SELECT epoch FROM term`,
		l.name, l.holder, l.ttl.Microseconds(), l.s.known, l.pools)
	err = sendLeaseBatch(ctx, l.s, b, &epoch)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, l.schemaKnown(ctx)
	}
	if err != nil {
		return 0, false, fmt.Errorf("state/postgres: acquire lease %q as %q: %w", l.name, l.holder, l.s.readOnly(ctx, err))
	}
	return epoch, true, nil
}

// Renew extends the term at epoch by the TTL from now (the database's
// now). ok is false when the term is over: another holder took the lease,
// or it expired first (renewal never revives an expired term; Acquire
// begins a new one), or a newer binary migrated the schema (then err is a
// *state.SchemaError).
func (l *Lease) Renew(ctx context.Context, epoch int64) (ok bool, err error) {
	lt, err := l.lockTimeout(ctx)
	if err != nil {
		return false, fmt.Errorf("state/postgres: renew lease %q epoch %d as %q: %w", l.name, epoch, l.holder, err)
	}
	b := &pgx.Batch{}
	b.Queue(setLockTimeout, lt)
	b.Queue(`UPDATE leader_lease SET expires_at = clock_timestamp() + $4 * interval '1 microsecond'
		WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > clock_timestamp()
		AND (SELECT max(version) FROM schema_migrations) <= $5
		RETURNING epoch`,
		l.name, l.holder, epoch, l.ttl.Microseconds(), l.s.known)
	var renewed int64
	err = sendLeaseBatch(ctx, l.s, b, &renewed)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("state/postgres: renew lease %q epoch %d as %q: %w", l.name, epoch, l.holder, l.s.readOnly(ctx, err))
	}
	return false, l.schemaKnown(ctx)
}

// setLockTimeout sets lock_timeout for the rest of the transaction: a
// lease call's batch, whose statements run in one implicit transaction,
// or a fenced write's (checkFence).
const setLockTimeout = `SELECT set_config('lock_timeout', $1, true)`

// lockTimeout is how long a lease call may wait on the lease row's lock
// in the database: until the call's deadline (its TTL without one), in
// whole milliseconds rounded up. The database ends the wait itself
// (SQLSTATE 55P03), so a call whose cancel request cannot reach the
// database (a partition at that moment) does not wait on and take or
// extend a term once the lock goes, long after its caller gave up.
func (l *Lease) lockTimeout(ctx context.Context) (string, error) {
	if _, ok := ctx.Deadline(); ok {
		return lockTimeoutOf(ctx)
	}
	return millis(l.ttl), nil
}

// lockTimeoutOf is the time left before ctx's deadline, in whole
// milliseconds rounded up, as lock_timeout takes it ("" when ctx has no
// deadline); context.DeadlineExceeded once it has passed.
func lockTimeoutOf(ctx context.Context) (string, error) {
	dl, ok := ctx.Deadline()
	if !ok {
		return "", nil
	}
	d := time.Until(dl)
	if d <= 0 {
		return "", context.DeadlineExceeded
	}
	return millis(d), nil
}

// millis is d in whole milliseconds rounded up, as lock_timeout takes it.
func millis(d time.Duration) string {
	return fmt.Sprintf("%dms", (d+time.Millisecond-1)/time.Millisecond)
}

// sendLeaseBatch sends b (setLockTimeout, then one lease statement
// returning one row) in one round trip and scans that row into dst; a
// statement that returned no row is pgx.ErrNoRows.
func sendLeaseBatch(ctx context.Context, s *Store, b *pgx.Batch, dst *int64) error {
	br := s.leases.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return err
	}
	if err := br.QueryRow().Scan(dst); err != nil {
		br.Close()
		return err
	}
	return br.Close()
}

// schemaKnown fails with a *state.SchemaError when a newer binary has
// migrated the schema since this one opened it.
func (l *Lease) schemaKnown(ctx context.Context) error {
	var have int
	if err := l.s.leases.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("state/postgres: schema version of %s: %w", l.s.name, err)
	}
	if have > l.s.known {
		return &state.SchemaError{Database: l.s.name, Have: have, Know: l.s.known}
	}
	return nil
}

// Release ends the term at epoch now, so a follower takes over without
// waiting for the TTL (a graceful shutdown).
func (l *Lease) Release(ctx context.Context, epoch int64) error {
	if _, err := l.s.leases.Exec(ctx, `UPDATE leader_lease SET expires_at = clock_timestamp()
		WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > clock_timestamp()`, l.name, l.holder, epoch); err != nil {
		return fmt.Errorf("state/postgres: release lease %q epoch %d as %q: %w", l.name, epoch, l.holder, err)
	}
	return nil
}

// Info reads the lease as the database has it.
func (l *Lease) Info(ctx context.Context) (LeaseInfo, error) { return l.s.LeaseInfo(ctx, l.name) }

// LeaseInfo reads the lease name as the database has it (zero Holder when
// it was never taken).
func (s *Store) LeaseInfo(ctx context.Context, name string) (LeaseInfo, error) {
	li := LeaseInfo{Name: name}
	err := s.pool.QueryRow(ctx, `SELECT holder, epoch, acquired, expires_at, expires_at > clock_timestamp(),
		(SELECT t.pools FROM leader_terms t WHERE t.name = l.name AND t.epoch = l.epoch)
		FROM leader_lease l WHERE name = $1`, name).
		Scan(&li.Holder, &li.Epoch, &li.Acquired, &li.Expires, &li.Live, &li.Pools)
	if errors.Is(err, pgx.ErrNoRows) {
		return li, nil
	}
	if err != nil {
		return li, fmt.Errorf("state/postgres: lease %q: %w", name, err)
	}
	li.Acquired, li.Expires = li.Acquired.UTC(), li.Expires.UTC()
	return li, nil
}

// Term is one term of a lease, as leader_terms records it.
type Term struct {
	Epoch    int64
	Holder   string
	Acquired time.Time
}

// TermAt is the term of the lease at epoch; ok is false when none was
// taken at it.
func (l *Lease) TermAt(ctx context.Context, epoch int64) (t Term, ok bool, err error) {
	err = l.s.pool.QueryRow(ctx, `SELECT epoch, holder, acquired FROM leader_terms WHERE name = $1 AND epoch = $2`, l.name, epoch).
		Scan(&t.Epoch, &t.Holder, &t.Acquired)
	if errors.Is(err, pgx.ErrNoRows) {
		return Term{}, false, nil
	}
	if err != nil {
		return Term{}, false, fmt.Errorf("state/postgres: term %d of lease %q: %w", epoch, l.name, err)
	}
	t.Acquired = t.Acquired.UTC()
	return t, true, nil
}

// Terms lists the terms of lease name, oldest first.
func (s *Store) Terms(ctx context.Context, name string) ([]Term, error) {
	rows, err := s.pool.Query(ctx, `SELECT epoch, holder, acquired FROM leader_terms WHERE name = $1 ORDER BY epoch`, name)
	if err != nil {
		return nil, fmt.Errorf("state/postgres: terms of lease %q: %w", name, err)
	}
	defer rows.Close()
	var out []Term
	for rows.Next() {
		var t Term
		if err := rows.Scan(&t.Epoch, &t.Holder, &t.Acquired); err != nil {
			return nil, fmt.Errorf("state/postgres: terms of lease %q: %w", name, err)
		}
		t.Acquired = t.Acquired.UTC()
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state/postgres: terms of lease %q: %w", name, err)
	}
	return out, nil
}

// LeaseConflictError is a database that already holds the lease of
// another name (another cluster's servers) than the one a server claims.
type LeaseConflictError struct {
	Database string   // the DSN without its password
	Want     string   // the lease claimed
	Have     []string // the other leases the database holds
}

func (e *LeaseConflictError) Error() string {
	return fmt.Sprintf("database %s holds the state of lease %q, not %q: the state's rows are not kept apart by lease, so two clusters' leaders on one database would each end the other's instances and resume its launches in pools of the same name; give each cluster a database of its own (or, if %q was renamed, delete its lease row: DELETE FROM leader_lease WHERE name = '%s')",
		e.Database, e.Have[0], e.Want, e.Have[0], e.Have[0])
}

// ClaimLease makes name the database's lease, recording it free when it
// was never taken, or fails with a *LeaseConflictError when the database
// already holds a lease of another name. Servers claiming at once queue on
// the migrations' advisory lock, so only one name wins.
func (s *Store) ClaimLease(ctx context.Context, name string) error {
	fail := func(err error) error {
		return fmt.Errorf("state/postgres: claim lease %q in %s: %w", name, s.name, s.readOnly(ctx, err))
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fail(err)
	}
	defer rollback(ctx, tx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
		return fail(err)
	}
	rows, err := tx.Query(ctx, `SELECT name FROM leader_lease WHERE name <> $1 ORDER BY name`, name)
	if err != nil {
		return fail(err)
	}
	others, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fail(err)
	}
	if len(others) > 0 {
		return &LeaseConflictError{Database: s.name, Want: name, Have: others}
	}
	// A free row (epoch 0, expired, no holder) that Acquire takes as it
	// would any expired one.
	if _, err := tx.Exec(ctx, `INSERT INTO leader_lease (name, holder, epoch, acquired, expires_at)
		VALUES ($1, '', 0, clock_timestamp(), clock_timestamp()) ON CONFLICT (name) DO NOTHING`, name); err != nil {
		return fail(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fail(err)
	}
	return nil
}
