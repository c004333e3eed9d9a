package sqlite

import (
	"errors"
	"fmt"
	"path/filepath"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// FullError is a write's answer (and Open's) when SQLite could not grow
// the database or its WAL: the filesystem that holds them is full. SQLite
// says only "database or disk is full"; nothing written before is lost,
// reads go on, and writes succeed again, without a restart, once the
// filesystem has room.
type FullError struct {
	Database string // the database's path
	Dir      string // the directory holding it, its -wal and -shm
	Free     int64  // bytes free there for this process when it failed; -1 if unknown
	AtOpen   bool   // Open's answer: the database could not be made or brought up to date
	Err      error
}

func (e *FullError) Error() string {
	free := "its free space unknown"
	if e.Free >= 0 {
		free = fmt.Sprintf("%d bytes free", e.Free)
	}
	if e.AtOpen {
		return fmt.Sprintf("state/sqlite: database %q cannot be opened: the filesystem holding %s is full (%s; %v): free space on it, or name in server.state a file on a filesystem with room",
			e.Database, e.Dir, free, e.Err)
	}
	return fmt.Sprintf("state/sqlite: database %q cannot grow: the filesystem holding %s is full (%s; %v): until it has room the server records nothing, so launches nothing; free space on it (or move the state to a larger one): writes resume by themselves once there is room",
		e.Database, e.Dir, free, e.Err)
}

func (e *FullError) Unwrap() error { return e.Err }

// full returns err as a *FullError of the database at abs when it is
// SQLite's SQLITE_FULL, else nil; atOpen when Open failed so.
func full(abs string, err error, atOpen bool) error {
	var se *sqlite.Error
	if !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_FULL {
		return nil
	}
	dir := filepath.Dir(abs)
	return &FullError{Database: abs, Dir: dir, Free: freeBytes(dir), AtOpen: atOpen, Err: err}
}
