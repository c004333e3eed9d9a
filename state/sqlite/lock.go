package sqlite

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// The server lock: SQLite has no leader lease, so a server holds an
// exclusive lock on its database file for as long as it has it open, and a
// second server pointed at the same file refuses to start instead of acting
// beside the first. The lock is a flock on the file itself, separate from
// the fcntl locks SQLite takes on it: a lock on a file beside it (as
// PATH.lock alone was) goes with that file's name, so removing PATH.lock (a
// cleanup of stale-looking files) let a second server lock a new one and
// act beside the first. The server also locks PATH.lock, as servers before
// did (a server of an older binary and one of this one exclude each
// other), and writes there who holds it (host, pid, since when), so the
// refusal can name the other server. The kernel drops the locks when their
// holder exits, however it exits: a stale lock file never keeps a server
// from starting.

// LockedError is Open's answer (with WithServerLock) when another process
// holds the database's server lock.
type LockedError struct {
	Database string // the database's path
	Lock     string // the lock file's path
	Holder   string // what the lock file says of its holder ("" if unreadable)
}

func (e *LockedError) Error() string {
	holder := e.Holder
	if holder == "" {
		holder = "another process"
	}
	return fmt.Sprintf("state/sqlite: database %q is in use by another spillway server (%s; lock %s): two servers on one SQLite file would both act; stop the other one, or use a postgres:// state for several servers", e.Database, holder, e.Lock)
}

// serverLock is a held server lock; release unlocks it.
type serverLock struct {
	db   *os.File // the database file, flocked
	file *os.File // PATH.lock, flocked
	// more are files locked since (the state written back to the path
	// after the file was removed, gone.go).
	more []*os.File
}

// add locks the database file at path too, until release (no-op without a
// server lock).
func (l *serverLock) add(path string) error {
	if l == nil {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := tryLock(f); err != nil {
		f.Close()
		return err
	}
	l.more = append(l.more, f)
	return nil
}

// lockServer takes the exclusive server lock of the database at abs (which
// exists), without waiting.
func lockServer(abs string, now time.Time) (*serverLock, error) {
	path := abs + ".lock"
	locked := func() error {
		b, _ := os.ReadFile(path)
		return &LockedError{Database: abs, Lock: path, Holder: strings.TrimSpace(string(b))}
	}
	db, err := os.OpenFile(abs, os.O_RDWR, 0)
	if err != nil {
		if uw := unwritable(abs, err); uw != nil {
			return nil, uw
		}
		return nil, fmt.Errorf("state/sqlite: lock database %q: %w", abs, err)
	}
	if err := tryLock(db); err != nil {
		// Closing this descriptor drops no lock of this Store's
		// connections: none is open yet.
		db.Close()
		if errors.Is(err, errLockHeld) {
			return nil, locked()
		}
		return nil, fmt.Errorf("state/sqlite: lock database %q: %w", abs, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		db.Close()
		if uw := unwritable(abs, err); uw != nil {
			return nil, uw
		}
		return nil, fmt.Errorf("state/sqlite: lock database %q: %w", abs, err)
	}
	if err := tryLock(f); err != nil {
		f.Close()
		db.Close()
		if errors.Is(err, errLockHeld) {
			return nil, locked()
		}
		return nil, fmt.Errorf("state/sqlite: lock database %q: %w", abs, err)
	}
	host, _ := os.Hostname()
	holder := fmt.Sprintf("pid %d on %s since %s", os.Getpid(), host, now.UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(holder+"\n"), 0)
	}
	return &serverLock{db: db, file: f}, nil
}

// release drops the locks. It must come after the Store's connections are
// closed: closing a descriptor of the database file drops every fcntl
// lock this process holds on it, SQLite's included.
func (l *serverLock) release() error {
	if l == nil {
		return nil
	}
	// PATH.lock stays: removing it could let a third process lock a new
	// file while a second waits on the old.
	errs := []error{l.file.Close(), l.db.Close()}
	for _, f := range l.more {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}
