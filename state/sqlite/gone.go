package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// A database file removed while the server runs (rm of the state's files,
// a cleanup of the directory, a deploy that replaces it) stays open: SQLite
// writes on into the removed file, its answers say nothing, and all of it
// is lost when the process ends. The restarted server then opened an empty
// state: its sweeper ended the instances it no longer knew of (without a
// drain), and its budgets counted from nothing. So before each write the
// Store checks that its path still names the file it opened; the first
// write that finds it gone writes the open database back to the path (or,
// when another file took its place, beside it), and every write after is
// refused with a *GoneError: what is written from then on would be lost
// with the removed file. A restart opens the file put back.

// GoneError is a write's answer once the database file was removed or
// replaced while the Store had it open.
type GoneError struct {
	Database string
	Replaced bool   // another file took its place (else none is there)
	SavedTo  string // where the open database was written ("" if it could not be)
	SaveErr  error  // why it could not be
	At       time.Time
}

func (e *GoneError) Error() string {
	what := "was removed"
	if e.Replaced {
		what = "was replaced by another file"
	}
	saved := fmt.Sprintf("its state could not be saved (%v): copy it from this process before it ends (its open files are under /proc/%d/fd)", e.SaveErr, os.Getpid())
	if e.SavedTo != "" {
		saved = fmt.Sprintf("its state as of %s was written to %s", e.At.UTC().Format(time.RFC3339), e.SavedTo)
		if e.Replaced {
			saved += fmt.Sprintf("; move that back to %s, or keep the file that replaced it,", e.Database)
		}
	}
	return fmt.Sprintf("state/sqlite: database %q %s while this server had it open: %s and restart the server; until then writes are refused, as they would be lost with the removed file", e.Database, what, saved)
}

// presence is what the Store knows of its file's identity.
type presence struct {
	abs   string      // the file's absolute path
	ident os.FileInfo // the file it opened; nil for ":memory:"
	mu    sync.Mutex
	gone  *GoneError
}

// present fails with a *GoneError once the path no longer names the file
// the Store opened, saving the open database first (once). A path that
// cannot be looked at (a directory made unreadable) is taken as present.
func (s *Store) present(ctx context.Context) error {
	p := &s.presence
	if p.ident == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gone != nil {
		return p.gone
	}
	fi, err := os.Stat(p.abs)
	switch {
	case err == nil && os.SameFile(fi, p.ident):
		return nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil
	}
	ge := &GoneError{Database: p.abs, Replaced: err == nil, At: time.Now()}
	dest := p.abs
	if ge.Replaced {
		dest = fmt.Sprintf("%s.saved-%s", p.abs, ge.At.UTC().Format("20060102T150405.000Z"))
	}
	if err := s.Backup(ctx, dest); err != nil {
		ge.SaveErr = err
	} else {
		ge.SavedTo = dest
		// A server's lock goes with the file it opened: it takes the one
		// written back too, so that no second server starts on it while
		// this one runs on (acting from memory, its sweeper blind to what
		// the other would launch).
		if !ge.Replaced {
			if err := s.lock.add(dest); err != nil {
				s.log.Warn("the state written back could not be locked: a second server could start on it while this one runs", "database", dest, "err", err)
			}
		}
	}
	s.log.Error("the state database was removed or replaced while the server ran; writes are refused", "database", p.abs, "saved_to", ge.SavedTo, "err", ge.SaveErr)
	p.gone = ge
	return ge
}

// exec runs one write statement on the write connection, once present.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := s.present(ctx); err != nil {
		return nil, err
	}
	res, err := s.write.ExecContext(ctx, query, args...)
	return res, s.writeFailed(err)
}

// identify records the file the Store opened.
func (s *Store) identify() error {
	abs, err := filepath.Abs(s.path)
	if err != nil {
		return fmt.Errorf("state/sqlite: database path %q: %w", s.path, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("state/sqlite: open database %q: %w", s.path, err)
	}
	s.presence.abs, s.presence.ident = abs, fi
	return nil
}
