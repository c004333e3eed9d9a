package postgres

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/spillway-io/spillway/state"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one embedded schema change.
type migration struct {
	version  int
	name     string
	sql      string
	checksum string // hex SHA-256 of sql
	// noTx: the file starts with noTxDirective; its statements run one
	// by one outside a transaction (CREATE INDEX CONCURRENTLY cannot run
	// in one).
	noTx bool
}

// noTxDirective, as a migration's first line, runs its statements one by
// one outside a transaction, each ending with ';' at the end of a line. A
// crash can leave such a migration half done, so each statement must be
// safe to run again over what it left (DROP INDEX CONCURRENTLY IF EXISTS
// before CREATE INDEX CONCURRENTLY: a crashed build leaves its index
// INVALID, unused by queries but still updated by every write).
const noTxDirective = "-- spillway: no transaction\n"

// formerChecksums are checksums a migration's file had in earlier builds,
// for the same schema change made another way: a database that recorded one
// is not refused as written by another build.
var formerChecksums = map[int][]string{
	// 0009 built its indexes inside the migration's transaction,
	// blocking decision writes for the whole build.
	9: {"be19b2cfdfc97bc1afdb8bb43da8a951c66fd4d63c8926ef904472a5fbd53561"},
}

// sameChecksum reports whether a recorded checksum is m's, now or before.
func (m migration) sameChecksum(recorded string) bool {
	return recorded == m.checksum || slices.Contains(formerChecksums[m.version], recorded)
}

// statements splits a no-transaction migration into its statements.
func (m migration) statements() []string {
	var out []string
	var cur strings.Builder
	for line := range strings.Lines(m.sql) {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") || trimmed == "" {
			continue
		}
		cur.WriteString(line)
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, strings.TrimSpace(cur.String()))
	}
	return out
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// migrateLock is the advisory lock key the migrating transaction holds
// ("spillway" in ASCII, as a number).
const migrateLock int64 = 0x7370696c6c776179

// loadMigrations reads the embedded migrations, numbered 1, 2, 3... without
// gaps.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, "migrations")
	if err != nil {
		return nil, fmt.Errorf("state/postgres: embedded migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("state/postgres: embedded migration %q: want a name like 0001_init.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		if v != len(ms)+1 {
			return nil, fmt.Errorf("state/postgres: embedded migration %q: version %d, want %d (versions start at 1 without gaps)", e.Name(), v, len(ms)+1)
		}
		b, err := fs.ReadFile(fsys, path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("state/postgres: embedded migration %q: %w", e.Name(), err)
		}
		sum := sha256.Sum256(b)
		ms = append(ms, migration{version: v, name: m[2], sql: string(b), checksum: hex.EncodeToString(sum[:]),
			noTx: strings.HasPrefix(string(b), noTxDirective)})
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("state/postgres: no embedded migrations")
	}
	return ms, nil
}

// migrate applies the migrations the database lacks, in order, each in a
// transaction of its own (or, one marked noTxDirective, statement by
// statement), on one session that holds an advisory lock throughout:
// servers starting together queue on it, and the later ones find the work
// done. The lock is the session's, so it ends with the session if this
// server dies.
func (s *Store) migrate(ctx context.Context, now func() time.Time, fsys fs.FS) error {
	ms, err := loadMigrations(fsys)
	if err != nil {
		return err
	}
	fail := func(err error) error { return fmt.Errorf("state/postgres: migrate %s: %w", s.name, err) }
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return fail(err)
	}
	// Out of the pool, and closed at the end: the advisory lock can never
	// outlive the migration on a pooled session.
	conn := pc.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if err := lockMigrations(ctx, conn); err != nil {
		return fail(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		checksum   TEXT    NOT NULL,
		applied_at BIGINT  NOT NULL)`); err != nil {
		return fail(err)
	}
	applied, err := appliedMigrations(ctx, conn)
	if err != nil {
		return fail(err)
	}
	known := ms[len(ms)-1].version
	s.known = known
	done := map[int]bool{}
	for _, a := range applied {
		if a.version > known {
			return &state.SchemaError{Database: s.name, Have: applied[len(applied)-1].version, Know: known}
		}
		if a.version < 1 {
			return fmt.Errorf("state/postgres: database %s: recorded migration version %d, want 1 or more: the schema_migrations table is damaged", s.name, a.version)
		}
		if m := ms[a.version-1]; a.name != m.name || !m.sameChecksum(a.checksum) {
			return fmt.Errorf("state/postgres: database %s: recorded migration %d %q (checksum %.12s) differs from this binary's %d %q (checksum %.12s): the database was written by another build of spillway", s.name, a.version, a.name, a.checksum, m.version, m.name, m.checksum)
		}
		done[a.version] = true
	}
	for _, m := range ms {
		if done[m.version] {
			continue
		}
		if err := applyMigration(ctx, conn, m, now); err != nil {
			return fmt.Errorf("state/postgres: database %s: migration %d %q: %w", s.name, m.version, m.name, err)
		}
		s.log.Info("applied schema migration", "database", s.name, "version", m.version, "name", m.name)
	}
	return nil
}

// migrateLockRetry is how often a server waiting to migrate tries the lock.
const migrateLockRetry = 50 * time.Millisecond

// lockMigrations takes the migration lock for conn's session, trying it
// every migrateLockRetry rather than waiting inside pg_advisory_lock: a
// statement waiting there holds a snapshot, and CREATE INDEX CONCURRENTLY
// in the holder's migration waits for every older snapshot to end, so the
// two would deadlock (servers starting together on a fresh database).
func lockMigrations(ctx context.Context, conn *pgx.Conn) error {
	tick := time.NewTicker(migrateLockRetry)
	defer tick.Stop()
	for {
		var locked bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, migrateLock).Scan(&locked); err != nil {
			return err
		}
		if locked {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// applyMigration runs m and records it, in one transaction unless m is
// noTx (then a crash between its statements and its record runs it again).
func applyMigration(ctx context.Context, conn *pgx.Conn, m migration, now func() time.Time) error {
	record := func(q querier) error {
		if _, err := q.Exec(ctx, `INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)`,
			m.version, m.name, m.checksum, now().UnixNano()); err != nil {
			return fmt.Errorf("record it: %w", err)
		}
		return nil
	}
	if m.noTx {
		for _, stmt := range m.statements() {
			if _, err := conn.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("%.60q: %w", stmt, err)
			}
		}
		return record(conn)
	}
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return err
		}
		return record(tx)
	})
}

type appliedMigration struct {
	version   int
	name      string
	checksum  string
	appliedAt int64
}

func appliedMigrations(ctx context.Context, q querier) ([]appliedMigration, error) {
	rows, err := q.Query(ctx, `SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []appliedMigration
	for rows.Next() {
		var a appliedMigration
		if err := rows.Scan(&a.version, &a.name, &a.checksum, &a.appliedAt); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// SchemaVersion is the newest schema version this binary knows.
func SchemaVersion() int {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		panic(err) // the embedded files are checked by the tests
	}
	return ms[len(ms)-1].version
}

// Migrations implements state.Migrated.
func (s *Store) Migrations(ctx context.Context) ([]state.Migration, error) {
	applied, err := appliedMigrations(ctx, s.pool)
	if err != nil {
		return nil, fmt.Errorf("state/postgres: migrations of %s: %w", s.name, err)
	}
	out := make([]state.Migration, len(applied))
	for i, a := range applied {
		out[i] = state.Migration{Version: a.version, Name: a.name, AppliedAt: fromNanos(a.appliedAt)}
	}
	return out, nil
}
