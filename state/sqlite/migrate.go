package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
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

// loadMigrations reads the embedded migrations, which must be numbered 1, 2,
// 3... without gaps.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, "migrations")
	if err != nil {
		return nil, fmt.Errorf("state/sqlite: embedded migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries { // sorted by name
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("state/sqlite: embedded migration %q: want a name like 0001_init.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		if v != len(ms)+1 {
			return nil, fmt.Errorf("state/sqlite: embedded migration %q: version %d, want %d (versions start at 1 without gaps)", e.Name(), v, len(ms)+1)
		}
		b, err := fs.ReadFile(fsys, path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("state/sqlite: embedded migration %q: %w", e.Name(), err)
		}
		sum := sha256.Sum256(b)
		ms = append(ms, migration{version: v, name: m[2], sql: string(b), checksum: hex.EncodeToString(sum[:])})
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("state/sqlite: no embedded migrations")
	}
	return ms, nil
}

// SchemaVersion is the newest schema version this binary knows.
func SchemaVersion() int {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		panic(err) // the embedded files are checked by the tests
	}
	return ms[len(ms)-1].version
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL,
	checksum   TEXT    NOT NULL,
	applied_at INTEGER NOT NULL
) STRICT`

// migrate applies the embedded migrations the database lacks, all in one
// IMMEDIATE transaction: concurrent openers queue on the write lock, and the
// second finds the work done.
func (s *Store) migrate(ctx context.Context, now func() time.Time) error {
	return s.migrateWith(ctx, now, migrationFiles)
}

func (s *Store) migrateWith(ctx context.Context, now func() time.Time, fsys fs.FS) error {
	ms, err := loadMigrations(fsys)
	if err != nil {
		return err
	}
	if err := s.backupBeforeMigrating(ctx, ms[len(ms)-1].version); err != nil {
		return err
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("state/sqlite: migrate %q: %w", s.path, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, createMigrationsTable); err != nil {
		return fmt.Errorf("state/sqlite: migrate %q: %w", s.path, err)
	}
	applied, err := appliedMigrations(ctx, tx)
	if err != nil {
		return fmt.Errorf("state/sqlite: migrate %q: %w", s.path, err)
	}
	known := ms[len(ms)-1].version
	for _, a := range applied {
		if a.version > known {
			return &state.SchemaError{Database: s.path, Have: applied[len(applied)-1].version, Know: known}
		}
		if a.version < 1 {
			return fmt.Errorf("state/sqlite: database %q: recorded migration version %d, want 1 or more: the schema_migrations table is damaged", s.path, a.version)
		}
		if m := ms[a.version-1]; a.name != m.name || a.checksum != m.checksum {
			return fmt.Errorf("state/sqlite: database %q: recorded migration %d %q (checksum %.12s) differs from this binary's %d %q (checksum %.12s): the database was written by another build of spillway", s.path, a.version, a.name, a.checksum, m.version, m.name, m.checksum)
		}
	}
	done := map[int]bool{}
	for _, a := range applied {
		done[a.version] = true
	}
	for _, m := range ms {
		if done[m.version] {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("state/sqlite: database %q: migration %d %q: %w", s.path, m.version, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)`,
			m.version, m.name, m.checksum, now().UnixNano()); err != nil {
			return fmt.Errorf("state/sqlite: database %q: record migration %d %q: %w", s.path, m.version, m.name, err)
		}
		s.log.Info("applied schema migration", "database", s.path, "version", m.version, "name", m.name)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("state/sqlite: migrate %q: %w", s.path, err)
	}
	return nil
}

type appliedMigration struct {
	version   int
	name      string
	checksum  string
	appliedAt int64
}

func appliedMigrations(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) ([]appliedMigration, error) {
	rows, err := q.QueryContext(ctx, `SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version`)
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

// Migrations lists the migrations applied to the database, lowest version
// first.
func (s *Store) Migrations(ctx context.Context) ([]state.Migration, error) {
	applied, err := appliedMigrations(ctx, s.read)
	if err != nil {
		return nil, fmt.Errorf("state/sqlite: migrations of %q: %w", s.path, err)
	}
	out := make([]state.Migration, len(applied))
	for i, a := range applied {
		out[i] = state.Migration{Version: a.version, Name: a.name, AppliedAt: fromNanos(a.appliedAt)}
	}
	return out, nil
}
