// Package sqlite is the embedded state.Store: one SQLite database file
// (modernc.org/sqlite, pure Go, no cgo) beside the server.
//
// The file is created with mode 0600 and opened in WAL mode with
// synchronous=FULL, so a committed intent survives a crash of the process or
// of the machine. Writes go through one connection (SQLite has one writer
// at a time; a single connection turns contention inside the process into a
// queue instead of busy errors), transactions begin IMMEDIATE, and a busy
// timeout (default 5s) lets several processes share the file. Reads use a
// small pool of query-only connections that never block the writer.
//
// The schema is versioned: the migrations in migrations/*.sql are embedded
// in the binary and applied in order, each once, inside one transaction,
// and recorded in the schema_migrations table with a checksum of their text.
// Open refuses a database that SQLite's quick_check finds damaged
// (*DamagedError), and one whose schema is newer than the binary
// (state.ErrSchemaTooNew) or whose recorded migrations differ from the
// embedded ones. Before it changes the schema of an existing database, Open
// copies it to PATH.schema-vN.bak (N the version it had), so a rolled-back
// binary has a database it can open; Store.Backup makes such a copy on
// demand.
//
// The path ":memory:" opens a private in-memory database (one connection;
// for tests).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spillway-io/spillway/state"
	"modernc.org/sqlite" // the database/sql driver "sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

var (
	_ state.Store    = (*Store)(nil)
	_ state.Migrated = (*Store)(nil)
)

// Store is a state.Store kept in one SQLite database. Safe for concurrent
// use.
type Store struct {
	path  string
	write *sql.DB // one connection
	read  *sql.DB // query-only pool; == write for ":memory:"
	log   *slog.Logger
	lock  *serverLock // WithServerLock's lock; nil without it
	// presence finds the file removed or replaced under the open Store
	// (gone.go).
	presence presence
}

// Option changes how Open opens a database.
type Option func(*options)

type options struct {
	logger      *slog.Logger
	now         func() time.Time
	busyTimeout time.Duration
	readers     int
	sync        Sync
	serverLock  bool
}

func defaultOptions() options {
	return options{
		logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		now:         time.Now,
		busyTimeout: 5 * time.Second,
		readers:     4,
		sync:        SyncFull,
	}
}

// WithLogger logs migrations and warnings to l (silent by default).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l.WithGroup("state")
		}
	}
}

// WithClock is the clock that stamps applied migrations (time.Now by
// default). Rows carry the times their callers pass.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithBusyTimeout is how long a statement waits for another process's lock
// before failing (default 5s).
func WithBusyTimeout(d time.Duration) Option { return func(o *options) { o.busyTimeout = d } }

// Sync is how hard a commit waits for the disk (SQLite's synchronous
// pragma in WAL mode).
type Sync string

const (
	// SyncFull (the default): a write is on disk when the call returns; it
	// survives a crash of the process and a loss of power.
	SyncFull Sync = "FULL"
	// SyncNormal: a write survives a crash of the process at once, and a
	// loss of power once the next checkpoint has run; the database is never
	// corrupted. Several times the write throughput.
	SyncNormal Sync = "NORMAL"
)

// WithSync sets how hard commits wait for the disk (default SyncFull).
func WithSync(s Sync) Option { return func(o *options) { o.sync = s } }

// WithServerLock makes Open take an exclusive lock on the database file
// (and on PATH.lock beside it, which names the holder) that the Store
// holds until Close: a second Open with it (another server, in this
// process or another) fails at once with *LockedError, which names the
// holder, also when PATH.lock was removed meanwhile. Opens without it
// (tools, tests reading the state) are not affected. No effect on
// ":memory:".
func WithServerLock() Option { return func(o *options) { o.serverLock = true } }

// WithReaders is the size of the read connection pool (default 4).
func WithReaders(n int) Option { return func(o *options) { o.readers = n } }

// Open opens (creating it if needed, mode 0600) the SQLite database at path
// and brings its schema up to date. A file too short to hold a database
// (0 or 1 byte), which SQLite would take for a new one, is refused
// (*DamagedError, Short). path ":memory:" opens a private
// in-memory database.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" {
		return nil, &state.InvalidError{Field: "sqlite path", Value: `""`, Want: `a file path or ":memory:"`}
	}
	if o.busyTimeout < 0 || o.busyTimeout > time.Hour {
		return nil, &state.InvalidError{Field: "sqlite busy timeout", Value: o.busyTimeout.String(), Want: "0 to 1h"}
	}
	if o.readers < 1 || o.readers > 64 {
		return nil, &state.InvalidError{Field: "sqlite readers", Value: strconv.Itoa(o.readers), Want: "1 to 64"}
	}
	if o.sync != SyncFull && o.sync != SyncNormal {
		return nil, &state.InvalidError{Field: "sqlite sync", Value: strconv.Quote(string(o.sync)), Want: `"FULL" or "NORMAL"`}
	}
	var lock *serverLock
	if o.serverLock && path != ":memory:" {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("state/sqlite: database path %q: %w", path, err)
		}
		// The lock is on the database file: make it first if it is new.
		if err := prepareFile(ctx, abs); err != nil {
			if uw := unwritable(abs, err); uw != nil {
				return nil, uw
			}
			if fe := full(abs, err, true); fe != nil {
				return nil, fe
			}
			return nil, err
		}
		if lock, err = lockServer(abs, o.now()); err != nil {
			return nil, err
		}
	}
	// Processes opening a new database at once can find it locked while
	// another converts it to WAL, a moment in which SQLite does not wait
	// for the lock itself: try again until the busy timeout has passed.
	deadline := time.Now().Add(o.busyTimeout)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		s, err := open(ctx, path, o)
		if err == nil {
			s.lock = lock
			return s, nil
		}
		if !isBusy(err) || time.Now().Add(wait).After(deadline) {
			_ = lock.release()
			return nil, err
		}
		o.logger.Debug("the database is busy; opening it again", "database", path, "error", err, "wait", wait)
		select {
		case <-ctx.Done():
			_ = lock.release()
			return nil, fmt.Errorf("state/sqlite: open %q: %w (after: %w)", path, ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}

func open(ctx context.Context, path string, o options) (*Store, error) {
	s := &Store{path: path, log: o.logger}
	var err error
	if path == ":memory:" {
		s.write, err = openMemory()
		s.read = s.write
	} else {
		s.write, s.read, err = openFile(ctx, path, o)
	}
	if err != nil {
		if why, notADatabase, damaged := isDamaged(err); damaged {
			return nil, &DamagedError{Database: path, Problems: []string{why}, NotADatabase: notADatabase}
		}
		if abs, aerr := filepath.Abs(path); aerr == nil {
			if uw := unwritable(abs, err); uw != nil {
				return nil, uw
			}
			if fe := full(abs, err, true); fe != nil {
				return nil, fe
			}
		}
		return nil, err
	}
	if path != ":memory:" {
		if err := s.identify(); err != nil {
			s.Close()
			return nil, err
		}
		if err := s.check(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	if err := s.migrate(ctx, o.now); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// check runs SQLite's quick_check over the whole file, so that a damaged
// database (truncated, overwritten, a bad disk) is refused at Open with
// what SQLite found, rather than opened and found out table by table, tick
// after tick, while the server looks ready.
func (s *Store) check(ctx context.Context) error {
	rows, err := s.write.QueryContext(ctx, "PRAGMA quick_check(5)")
	if err != nil {
		if isBusy(err) {
			return err // Open tries again
		}
		return &DamagedError{Database: s.path, Problems: []string{err.Error()}}
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return fmt.Errorf("state/sqlite: check %q: %w", s.path, err)
		}
		if p != "ok" {
			problems = append(problems, p)
		}
	}
	if err := rows.Err(); err != nil {
		if isBusy(err) {
			return err
		}
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return &DamagedError{Database: s.path, Problems: problems}
	}
	return nil
}

// DamagedError is Open's answer for a database file that SQLite's
// quick_check finds damaged, or that SQLite cannot read as a database at
// all (truncated, its header overwritten, another kind of file).
type DamagedError struct {
	Database string
	Problems []string // the first few SQLite reported
	// NotADatabase: SQLite did not recognise the file's header (SQLITE_NOTADB).
	NotADatabase bool
	// Short: the file is so short (Size bytes, 0 when emptied) that SQLite
	// would take it for a new database.
	Short bool
	Size  int64
}

func (e *DamagedError) Error() string {
	what := "is damaged"
	switch {
	case e.Short && e.Size == 0:
		what = "is empty (0 bytes: emptied, or written onto a full disk)"
	case e.Short:
		what = fmt.Sprintf("is cut short (%d byte)", e.Size)
	case e.NotADatabase:
		what = "is not a SQLite database, or its header is damaged"
	}
	advice := fmt.Sprintf("restore it from a backup (such as a %s.schema-vN.bak Spillway made before a migration) or move it aside to start with an empty state, whose sweeper then ends the instances this one tracked", e.Database)
	if e.NotADatabase {
		advice = "if server.state names another file by mistake, name the state's database; else " + advice
	}
	if e.Short {
		advice += " (a file made empty on purpose for a new state included: the server makes a new database itself)"
	}
	return fmt.Sprintf("state/sqlite: database %q %s (%s): %s", e.Database, what, strings.Join(e.Problems, "; "), advice)
}

// isDamaged says whether err is SQLite's SQLITE_CORRUPT (a malformed
// database image: truncated, pages overwritten) or SQLITE_NOTADB (a header
// SQLite does not recognise), which SQLite may answer before the check can
// run; notADatabase tells the second, why is what SQLite said.
func isDamaged(err error) (why string, notADatabase, damaged bool) {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return "", false, false
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_NOTADB:
		return e.Error(), true, true
	case sqlite3.SQLITE_CORRUPT:
		return e.Error(), false, true
	}
	return "", false, false
}

// isBusy says whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED (in any
// of their extended forms).
func isBusy(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	code := e.Code() & 0xff
	return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
}

func openMemory() (*sql.DB, error) {
	db, err := sql.Open("sqlite", ":memory:?_foreign_keys=1&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("state/sqlite: open :memory:: %w", err)
	}
	// Every connection to ":memory:" is a database of its own: keep exactly
	// one, forever.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

func openFile(ctx context.Context, path string, o options) (write, read *sql.DB, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, fmt.Errorf("state/sqlite: database path %q: %w", path, err)
	}
	// Create the file ourselves (create.go) so it is private from the first
	// byte; SQLite gives the -wal and -shm files the same mode. The
	// connections open it with mode=rw, so they never create it.
	if err := prepareFile(ctx, abs); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(abs, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("state/sqlite: open database %q: %w", path, err)
	}
	fi, err := f.Stat()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, fmt.Errorf("state/sqlite: open database %q: %w", path, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		o.logger.Warn("the state database can be read by other users: it holds the audit log; chmod 600 it", "database", abs, "mode", fmt.Sprintf("%04o", perm))
	}
	dsn := func(extra url.Values) string {
		q := url.Values{}
		q.Set("mode", "rw")
		q.Set("_busy_timeout", strconv.FormatInt(o.busyTimeout.Milliseconds(), 10))
		q.Set("_foreign_keys", "1")
		for k, v := range extra {
			q[k] = v
		}
		return (&url.URL{Scheme: "file", Path: abs, RawQuery: q.Encode()}).String()
	}
	write, err = sql.Open("sqlite", dsn(url.Values{
		"_journal_mode": {"WAL"},
		"_synchronous":  {string(o.sync)},
		"_txlock":       {"immediate"},
	}))
	if err != nil {
		return nil, nil, fmt.Errorf("state/sqlite: open database %q: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	var mode string
	if err := write.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		write.Close()
		return nil, nil, fmt.Errorf("state/sqlite: open database %q: %w", path, err)
	}
	if mode != "wal" {
		write.Close()
		return nil, nil, fmt.Errorf("state/sqlite: database %q: journal mode is %q, want \"wal\" (is the file on a filesystem without shared memory?)", path, mode)
	}
	read, err = sql.Open("sqlite", dsn(url.Values{"_query_only": {"1"}}))
	if err != nil {
		write.Close()
		return nil, nil, fmt.Errorf("state/sqlite: open database %q: %w", path, err)
	}
	read.SetMaxOpenConns(o.readers)
	read.SetMaxIdleConns(o.readers)
	return write, read, nil
}

// Close closes the database. The WAL is checkpointed into the main file by
// the last connection to close.
func (s *Store) Close() error {
	var errs []error
	if s.read != s.write {
		errs = append(errs, s.read.Close())
	}
	errs = append(errs, s.write.Close())
	errs = append(errs, s.lock.release()) // after the database: the next server finds it closed
	s.lock = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("state/sqlite: close %q: %w", s.path, err)
	}
	return nil
}

// Ping checks that the database answers, and that its file is still
// there (for readiness probes).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.present(ctx); err != nil {
		return err
	}
	if err := s.write.PingContext(ctx); err != nil {
		return fmt.Errorf("state/sqlite: ping %q: %w", s.path, err)
	}
	return nil
}

// inTx runs f with query prepared in one write transaction, committed if
// f returns nil and rolled back otherwise.
func (s *Store) inTx(ctx context.Context, query string, f func(*sql.Stmt) error) error {
	if err := s.present(ctx); err != nil {
		return err
	}
	return s.writeFailed(s.tx(ctx, query, f))
}

func (s *Store) tx(ctx context.Context, query string, f func(*sql.Stmt) error) error {
	tx, err := s.write.BeginTx(ctx, nil) // IMMEDIATE (_txlock)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return err
	}
	defer stmt.Close()
	if err := f(stmt); err != nil {
		return err
	}
	return tx.Commit()
}

// nanos is how times are stored: UTC Unix nanoseconds, 0 for the zero time
// (state's Bounded checks keep every stored time in range).
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos reverses nanos.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
