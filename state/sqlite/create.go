package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
)

// takenForNew is the size up to which SQLite takes a file for a new
// database (measured with modernc.org/sqlite 1.62: 0 and 1 byte; from 2
// bytes on it finds no header and says "file is not a database").
const takenForNew = 1

// SQLite takes a file of 0 (or 1) bytes for a new database and writes a
// fresh one into it. Such a file is what a truncation by hand (: >
// spillway.db), a copy or write onto a full disk or an interrupted restore
// leaves: a server that took it for new started with no state, and its
// sweeper ended the instances the old state tracked. So Open never lets
// SQLite create the file in place: a new database is made whole at a
// temporary name beside the path and linked to the path (which fails if
// anything took the path meanwhile), and a file already at the path that
// SQLite would take for a new one is refused as damaged.

// prepareFile makes a new database at abs when there is none, and refuses
// a file there that SQLite would take for a new database.
func prepareFile(ctx context.Context, abs string) error {
	for range 2 {
		fi, err := os.Stat(abs)
		if err == nil {
			if fi.Mode().IsRegular() && fi.Size() <= takenForNew {
				return &DamagedError{Database: abs, Size: fi.Size(), Short: true,
					Problems: []string{"SQLite would take it for a new database"}}
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("state/sqlite: open database %q: %w", abs, err)
		}
		if err := createFile(ctx, abs); !errors.Is(err, fs.ErrExist) {
			return err
		}
		// Another process made it first: look at what it made.
	}
	return nil
}

// createFile makes a new, empty WAL database at a temporary name beside
// abs (mode 0600) and links it to abs; fs.ErrExist if abs exists by then.
func createFile(ctx context.Context, abs string) error {
	f, err := os.CreateTemp(filepath.Dir(abs), filepath.Base(abs)+".new-*")
	if err != nil {
		return fmt.Errorf("state/sqlite: create database %q: %w", abs, err)
	}
	tmp := f.Name()
	f.Close()
	defer func() {
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			_ = os.Remove(tmp + suffix)
		}
	}()
	q := url.Values{"mode": {"rw"}, "_journal_mode": {"WAL"}, "_synchronous": {"FULL"}}
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: tmp, RawQuery: q.Encode()}).String())
	if err != nil {
		return fmt.Errorf("state/sqlite: create database %q: %w", abs, err)
	}
	// Switching an empty file to WAL writes its first page, the header
	// included.
	var mode string
	err = db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncFile(tmp)
	}
	if err != nil {
		return fmt.Errorf("state/sqlite: create database %q: %w", abs, err)
	}
	if err := os.Link(tmp, abs); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		// A filesystem without hard links: rename, unless something took
		// the path meanwhile.
		if _, serr := os.Lstat(abs); serr == nil {
			return fs.ErrExist
		}
		if rerr := os.Rename(tmp, abs); rerr != nil {
			return fmt.Errorf("state/sqlite: create database %q: %w", abs, errors.Join(err, rerr))
		}
	}
	// The new name lasts a loss of power (a filesystem that cannot sync a
	// directory says EINVAL).
	if err := syncFile(filepath.Dir(abs)); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("state/sqlite: create database %q: %w", abs, err)
	}
	return nil
}

// syncFile flushes the file or directory at path to the disk.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
