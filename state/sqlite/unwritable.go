package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// UnwritableError is Open's answer when this process may not write the
// database file, or the directory it lies in (a read-only directory or
// filesystem, a file owned by another user, modes that keep it out): a
// server writes the file, and creates beside it SQLite's PATH-wal and
// PATH-shm and its server lock PATH.lock.
type UnwritableError struct {
	Database string // the database's path
	Path     string // what could not be written: the file or its directory
	Dir      bool   // Path is the directory
	Err      error
}

func (e *UnwritableError) Error() string {
	what := "the database file"
	if e.Dir {
		what = "its directory"
	}
	return fmt.Sprintf("state/sqlite: database %q cannot be written: %s %s is not writable by this process (uid %d): %v; a server writes the file and keeps %s-wal, %s-shm and %s.lock beside it: make %s and the file writable by the user spillway runs as, or name in server.state a file in a writable directory",
		e.Database, what, e.Path, os.Geteuid(), e.Err, filepath.Base(e.Database), filepath.Base(e.Database), filepath.Base(e.Database), filepath.Dir(e.Database))
}

func (e *UnwritableError) Unwrap() error { return e.Err }

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
