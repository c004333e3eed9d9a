package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/spillway-io/spillway/state"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// UnwritableError is Open's answer when this process may not write the
// database file, or the directory it lies in (a read-only directory or
// filesystem, a file owned by another user, modes that keep it out): a
// server writes the file, and creates beside it SQLite's PATH-wal and
// PATH-shm and its server lock PATH.lock.
//
// It is also a write's answer once the file stopped taking writes while
// the Store had it open (Midway): its filesystem remounted read-only (as
// ext4 with errors=remount-ro does after a disk error), where SQLite says
// only "disk I/O error".
type UnwritableError struct {
	Database string // the database's path
	Path     string // what could not be written: the file or its directory
	Dir      bool   // Path is the directory
	Midway   bool   // the file stopped taking writes while the Store had it open
	Err      error
}

func (e *UnwritableError) Error() string {
	if e.Midway {
		return fmt.Sprintf("state/sqlite: database %q can no longer be written (%v): its filesystem was remounted read-only, or the file made unwritable, while the server ran; until the file takes writes again the server records nothing, so launches nothing: see the kernel log (dmesg) for why, repair the filesystem or move the state to a writable one, and restart the server",
			e.Database, e.Err)
	}
	what := "the database file"
	if e.Dir {
		what = "its directory"
	}
	return fmt.Sprintf("state/sqlite: database %q cannot be written: %s %s is not writable by this process (uid %d): %v; a server writes the file and keeps %s-wal, %s-shm and %s.lock beside it: make %s and the file writable by the user spillway runs as, or name in server.state a file in a writable directory",
		e.Database, what, e.Path, os.Geteuid(), e.Err, filepath.Base(e.Database), filepath.Base(e.Database), filepath.Base(e.Database), filepath.Dir(e.Database))
}

func (e *UnwritableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, state.ErrNoWrites) match.
func (e *UnwritableError) Is(target error) bool { return target == state.ErrNoWrites }

// unwritable returns err as an *UnwritableError of the database at abs
// when it says that the file or its directory may not be written (EACCES,
// EPERM, EROFS; SQLite's SQLITE_READONLY), else nil.
func unwritable(abs string, err error) error {
	dir := filepath.Dir(abs)
	var se *sqlite.Error
	switch {
	case errors.As(err, &se) && se.Code() == sqlite3.SQLITE_READONLY_DIRECTORY:
		return &UnwritableError{Database: abs, Path: dir, Dir: true, Err: se}
	case errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_READONLY:
		return &UnwritableError{Database: abs, Path: abs, Err: se}
	case errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS):
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
			// A file that could not be made, or a lock file beside it: the
			// directory refused it.
			if pe.Path != abs {
				return &UnwritableError{Database: abs, Path: dir, Dir: true, Err: err}
			}
			if _, serr := os.Stat(abs); errors.Is(serr, fs.ErrNotExist) {
				return &UnwritableError{Database: abs, Path: dir, Dir: true, Err: err}
			}
		}
		return &UnwritableError{Database: abs, Path: abs, Err: err}
	}
	return nil
}

// writeFailed is what a write of s answers for err: a *FullError when
// SQLite could not grow the file (SQLITE_FULL), an *UnwritableError
// (Midway) when SQLite failed to write (an I/O error, a read-only
// database) and the file can no longer be written, else err.
func (s *Store) writeFailed(err error) error {
	var se *sqlite.Error
	if err == nil || s.presence.abs == "" || !errors.As(err, &se) {
		return err
	}
	if fe := full(s.presence.abs, err, false); fe != nil {
		return fe
	}
	if code := se.Code() & 0xff; code != sqlite3.SQLITE_IOERR && code != sqlite3.SQLITE_READONLY {
		return err
	}
	aerr := canWrite(s.presence.abs)
	if aerr == nil {
		return err // a failing disk, not a read-only one
	}
	return &UnwritableError{Database: s.presence.abs, Path: s.presence.abs, Midway: true, Err: fmt.Errorf("%w; SQLite: %w", aerr, err)}
}
