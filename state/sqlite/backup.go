package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Backup writes a consistent copy of the database to dest, a file that must
// not exist yet; it is created with mode 0600. Writers wait while the copy
// is made (VACUUM INTO runs on the write connection).
func (s *Store) Backup(ctx context.Context, dest string) error {
	abs, err := filepath.Abs(dest)
	if err != nil {
		return fmt.Errorf("state/sqlite: backup to %q: %w", dest, err)
	}
	// VACUUM INTO accepts an empty file: creating it first makes it private
	// and refuses to overwrite an existing backup.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("state/sqlite: backup to %q: %w", dest, err)
	}
	f.Close()
	if _, err := s.write.ExecContext(ctx, `VACUUM INTO ?`, abs); err != nil {
		os.Remove(abs)
		return fmt.Errorf("state/sqlite: backup of %q to %q: %w", s.path, dest, err)
	}
	return nil
}

// backupBeforeMigrating copies a database whose schema is about to change
// to PATH.schema-vN.bak (N its current version), once: the way back if the
// new binary has to be rolled back. (Several processes upgrading one file at
// the same moment may leave a backup taken after the first of them
// migrated; one server a file is the SQLite store's model.)
func (s *Store) backupBeforeMigrating(ctx context.Context, known int) error {
	if s.path == ":memory:" {
		return nil
	}
	var tables int
	if err := s.write.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = 'schema_migrations'`).Scan(&tables); err != nil {
		return fmt.Errorf("state/sqlite: migrate %q: %w", s.path, err)
	}
	if tables == 0 {
		return nil // a new database
	}
	var have int
	if err := s.write.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("state/sqlite: migrate %q: %w", s.path, err)
	}
	if have == 0 || have >= known {
		return nil
	}
	dest := fmt.Sprintf("%s.schema-v%d.bak", s.path, have)
	if _, err := os.Stat(dest); err == nil {
		return nil // made by an earlier or a concurrent opener
	}
	if err := s.Backup(ctx, dest); err != nil {
		if _, serr := os.Stat(dest); serr == nil && errors.Is(err, fs.ErrExist) {
			return nil // a concurrent opener made it
		}
		return fmt.Errorf("state/sqlite: back up before migrating from schema version %d to %d: %w", have, known, err)
	}
	s.log.Info("backed up the database before migrating", "database", s.path, "backup", dest, "from_version", have, "to_version", known)
	return nil
}
