package sqlite

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// The server lock: SQLite has no leader lease, so a server holds an
// exclusive lock on PATH.lock beside its database for as long as the
// database is open, and a second server pointed at the same file refuses
// to start instead of acting beside the first. The lock file says who holds
// it (host, pid, since when), so the refusal can name the other server. The
// kernel drops the lock when its holder exits, however it exits: a stale
// lock file never keeps a server from starting.

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

// serverLock is a held lock file; release unlocks and closes it.
type serverLock struct {
	f *os.File
}

// lockServer takes the exclusive server lock of the database at abs,
// without waiting.
func lockServer(abs string, now time.Time) (*serverLock, error) {
	path := abs + ".lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		if uw := unwritable(abs, err); uw != nil {
			return nil, uw
		}
		return nil, fmt.Errorf("state/sqlite: lock database %q: %w", abs, err)
	}
	if err := tryLock(f); err != nil {
		f.Close()
		if errors.Is(err, errLockHeld) {
			b, _ := os.ReadFile(path)
			return nil, &LockedError{Database: abs, Lock: path, Holder: strings.TrimSpace(string(b))}
		}
		return nil, fmt.Errorf("state/sqlite: lock database %q: %w", abs, err)
	}
	host, _ := os.Hostname()
	holder := fmt.Sprintf("pid %d on %s since %s", os.Getpid(), host, now.UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(holder+"\n"), 0)
	}
	return &serverLock{f: f}, nil
}

func (l *serverLock) release() error {
	if l == nil {
		return nil
	}
	// Closing the file drops the lock. The file stays: removing it could
	// let a third process lock a new file while a second waits on the old.
	return l.f.Close()
}
