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
	"strconv"
	"time"

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
		ms = append(ms, migration{version: v, name: m[2], sql: string(b), checksum: hex.EncodeToString(sum[:])})
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("state/postgres: no embedded migrations")
	}
	return ms, nil
}

// migrate applies the migrations the database lacks, in one transaction
// holding an advisory lock: servers starting together queue on it.
func (s *Store) migrate(ctx context.Context, now func() time.Time, fsys fs.FS) error {
	ms, err := loadMigrations(fsys)
	if err != nil {
		return err
	}
	fail := func(err error) error { return fmt.Errorf("state/postgres: migrate %s: %w", s.name, err) }
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
		return fail(err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		checksum   TEXT    NOT NULL,
		applied_at BIGINT  NOT NULL)`); err != nil {
		return fail(err)
	}
	applied, err := appliedMigrations(ctx, tx)
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
		if m := ms[a.version-1]; a.name != m.name || a.checksum != m.checksum {
			return fmt.Errorf("state/postgres: database %s: recorded migration %d %q (checksum %.12s) differs from this binary's %d %q (checksum %.12s): the database was written by another build of spillway", s.name, a.version, a.name, a.checksum, m.version, m.name, m.checksum)
		}
		done[a.version] = true
	}
	for _, m := range ms {
		if done[m.version] {
			continue
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("state/postgres: database %s: migration %d %q: %w", s.name, m.version, m.name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)`,
			m.version, m.name, m.checksum, now().UnixNano()); err != nil {
			return fmt.Errorf("state/postgres: database %s: record migration %d %q: %w", s.name, m.version, m.name, err)
		}
		s.log.Info("applied schema migration", "database", s.name, "version", m.version, "name", m.name)
	}
	if err := tx.Commit(ctx); err != nil {
		return fail(err)
	}
	return nil
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
