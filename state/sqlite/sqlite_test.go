package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/spillway-io/spillway/state"
)

var testT0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

func openFileStore(t *testing.T, path string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(t.Context(), path, opts...)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	return s
}

// rawDB opens the file without Store, to look at or damage it.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestFilesArePrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spillway.db")
	s := openFileStore(t, path)
	defer s.Close()
	// A write makes SQLite create the -wal and -shm files.
	if err := s.CreateIntent(t.Context(), state.Intent{ID: "i-1", Pool: "train", Provider: "aws", CreatedAt: testT0}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatalf("stat %s: %v", name, err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %o, want 600", filepath.Base(name), mode)
		}
	}
}

func TestOpensInWALWithForeignKeysAndFullSync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spillway.db")
	for _, tc := range []struct {
		opts []Option
		sync int // PRAGMA synchronous: 1 NORMAL, 2 FULL
	}{
		{nil, 2},
		{[]Option{WithSync(SyncNormal)}, 1},
	} {
		s := openFileStore(t, path, tc.opts...)
		var mode string
		var fk, sync int
		if err := s.write.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := s.write.QueryRowContext(t.Context(), "PRAGMA foreign_keys").Scan(&fk); err != nil {
			t.Fatal(err)
		}
		if err := s.write.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&sync); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" || fk != 1 || sync != tc.sync {
			t.Errorf("journal_mode %q, foreign_keys %d, synchronous %d; want wal, 1, %d", mode, fk, sync, tc.sync)
		}
		// Reads go through query-only connections.
		if _, err := s.read.ExecContext(t.Context(), "DELETE FROM intents"); err == nil {
			t.Error("a write through the read pool succeeded; want it refused (query_only)")
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spillway.db")
	s := openFileStore(t, path)
	s.Close()
	// A newer spillway applied migration 1000.
	db := rawDB(t, path)
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (1000, 'future', 'x', 1)`); err != nil {
		t.Fatal(err)
	}
	_, err := Open(t.Context(), path)
	if !errors.Is(err, state.ErrSchemaTooNew) {
		t.Fatalf("Open of a database with schema version 1000: %v, want ErrSchemaTooNew", err)
	}
	var se *state.SchemaError
	if !errors.As(err, &se) || se.Have != 1000 || se.Know != SchemaVersion() {
		t.Fatalf("error %v: want a *state.SchemaError with Have 1000, Know %d", err, SchemaVersion())
	}
	for _, want := range []string{path, "schema version 1000", "upgrade spillway"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not say %q", err, want)
		}
	}
}

func TestRefusesChangedMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spillway.db")
	s := openFileStore(t, path)
	s.Close()
	db := rawDB(t, path)
	if _, err := db.Exec(`UPDATE schema_migrations SET checksum = 'deadbeef' WHERE version = 1`); err != nil {
		t.Fatal(err)
	}
	_, err := Open(t.Context(), path)
	if err == nil || !strings.Contains(err.Error(), "recorded migration 1") || !strings.Contains(err.Error(), "another build") {
		t.Fatalf("Open of a database whose migration 1 differs: %v, want a refusal naming migration 1", err)
	}
}

func TestAppliesOnlyMissingMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spillway.db")
	v1 := fstest.MapFS{"migrations/0001_first.sql": {Data: []byte("CREATE TABLE a (x INTEGER) STRICT;")}}
	v2 := fstest.MapFS{
		"migrations/0001_first.sql":  v1["migrations/0001_first.sql"],
		"migrations/0002_second.sql": {Data: []byte("CREATE TABLE b (y INTEGER) STRICT; INSERT INTO a VALUES (1);")},
	}
	broken := fstest.MapFS{
		"migrations/0001_first.sql":  v1["migrations/0001_first.sql"],
		"migrations/0002_second.sql": v2["migrations/0002_second.sql"],
		"migrations/0003_broken.sql": {Data: []byte("CREATE TABLE c (z INTEGER); INSERT INTO nowhere VALUES (1);")},
	}
	clock := testT0
	s := &Store{path: path, log: defaultOptions().logger}
	var err error
	o := defaultOptions()
	s.write, s.read, err = openFile(t.Context(), path, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := func() time.Time { clock = clock.Add(time.Minute); return clock }
	for i, step := range []struct {
		fsys    fstest.MapFS
		want    []int
		wantErr string
	}{
		{v1, []int{1}, ""},
		{v1, []int{1}, ""}, // again: nothing to do
		{v2, []int{1, 2}, ""},
		{broken, []int{1, 2}, "migration 3 \"broken\""}, // rolled back whole: no table c
		{v1, nil, "schema version 2, newer than the 1"},
	} {
		err := s.migrateWith(t.Context(), now, step.fsys)
		if step.wantErr == "" && err != nil || step.wantErr != "" && (err == nil || !strings.Contains(err.Error(), step.wantErr)) {
			t.Fatalf("step %d: migrate: %v, want error %q", i, err, step.wantErr)
		}
		if step.want == nil {
			continue
		}
		ms, err := s.Migrations(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for _, m := range ms {
			got = append(got, m.Version)
		}
		if !slices.Equal(got, step.want) {
			t.Fatalf("step %d: applied %v, want %v", i, got, step.want)
		}
	}
	var n int
	if err := s.read.QueryRow(`SELECT count(*) FROM a`).Scan(&n); err != nil || n != 1 {
		t.Errorf("migration 2 ran %d times (%v), want once", n, err)
	}
	if err := s.read.QueryRow(`SELECT count(*) FROM c`).Scan(&n); err == nil {
		t.Error("table c of the failed migration 3 exists: the migration was not rolled back")
	}
	ms, _ := s.Migrations(t.Context())
	if !ms[0].AppliedAt.Equal(testT0.Add(time.Minute)) || !ms[1].AppliedAt.Equal(testT0.Add(2*time.Minute)) {
		t.Errorf("applied at %v and %v: want the injected clock's first and second readings (one per applied migration)", ms[0].AppliedAt, ms[1].AppliedAt)
	}
}

func TestEmbeddedMigrationsAreWellFormed(t *testing.T) {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	if SchemaVersion() != len(ms) || ms[0].name != "init" {
		t.Fatalf("SchemaVersion %d, %d migrations, first %q", SchemaVersion(), len(ms), ms[0].name)
	}
	for _, tc := range []struct {
		name string
		fsys fstest.MapFS
		want string
	}{
		{"gap", fstest.MapFS{"migrations/0001_a.sql": {}, "migrations/0003_c.sql": {}}, `"0003_c.sql": version 3, want 2`},
		{"starts at 0", fstest.MapFS{"migrations/0000_a.sql": {}}, "version 0, want 1"},
		{"bad name", fstest.MapFS{"migrations/1_Init.sql": {}}, `"1_Init.sql": want a name like 0001_init.sql`},
		{"none", fstest.MapFS{"migrations/.keep": {}}, `".keep"`},
		{"empty", fstest.MapFS{"other/x": {}}, "embedded migrations"},
	} {
		_, err := loadMigrations(tc.fsys)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

func TestOpenRefusesBadArguments(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		path string
		opts []Option
		want string
	}{
		{"empty path", "", nil, `sqlite path "" is invalid: want a file path or ":memory:"`},
		{"directory", dir, nil, dir},
		{"missing directory", filepath.Join(dir, "no", "such", "x.db"), nil, "no such file or directory"},
		{"negative busy timeout", filepath.Join(dir, "a.db"), []Option{WithBusyTimeout(-time.Second)}, "busy timeout -1s is invalid: want 0 to 1h"},
		{"no readers", filepath.Join(dir, "a.db"), []Option{WithReaders(0)}, "readers 0 is invalid: want 1 to 64"},
		{"bad sync", filepath.Join(dir, "a.db"), []Option{WithSync("OFF")}, `sync "OFF" is invalid: want "FULL" or "NORMAL"`},
		{"not a database", writeFile(t, filepath.Join(dir, "junk.db"), strings.Repeat("not sqlite ", 500)), nil, "junk.db"},
	} {
		s, err := Open(t.Context(), tc.path, tc.opts...)
		if err == nil {
			s.Close()
			t.Errorf("%s: Open succeeded", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want it to say %q", tc.name, err, tc.want)
		}
	}
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPingAndClose(t *testing.T) {
	s := openFileStore(t, filepath.Join(t.TempDir(), "spillway.db"))
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); err == nil {
		t.Fatal("Ping after Close succeeded")
	}
}

func TestPruneDeletesInChunks(t *testing.T) {
	s := openFileStore(t, ":memory:")
	defer s.Close()
	const n = 2*pruneChunk + 17
	for i := range n {
		if _, err := s.AddDecision(t.Context(), state.Decision{Pool: "train", Time: testT0.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := s.Prune(t.Context(), testT0.Add(n*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if p.Decisions != n {
		t.Fatalf("pruned %d decisions in chunks of %d, want all %d", p.Decisions, pruneChunk, n)
	}
}

func TestWarnsOfAnExistingFileOthersCanRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spillway.db")
	openFileStore(t, path).Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	s := openFileStore(t, path, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	s.Close()
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "mode=0644") {
		t.Errorf("no warning about mode 0644 in the log:\n%s", logs.String())
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("the existing file's mode changed: %v, %v", fi.Mode(), err)
	}
}

func TestBackup(t *testing.T) {
	dir := t.TempDir()
	s := openFileStore(t, filepath.Join(dir, "spillway.db"))
	defer s.Close()
	if err := s.CreateIntent(t.Context(), state.Intent{ID: "i-1", Pool: "train", Provider: "aws", CreatedAt: testT0}); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(dir, "copy.db")
	if err := s.Backup(t.Context(), dest); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dest); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v; want mode 600", fi, err)
	}
	c := openFileStore(t, dest)
	ins, err := c.Intents(t.Context(), state.IntentFilter{})
	c.Close()
	if err != nil || len(ins) != 1 || ins[0].ID != "i-1" {
		t.Fatalf("the backup holds %+v, %v; want intent i-1", ins, err)
	}
	if err := s.Backup(t.Context(), dest); err == nil || !strings.Contains(err.Error(), "copy.db") || !errors.Is(err, os.ErrExist) {
		t.Fatalf("a second backup onto %s: %v; want a refusal that names the file", dest, err)
	}
}

func TestBacksUpBeforeMigrating(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spillway.db")
	v1 := fstest.MapFS{"migrations/0001_first.sql": {Data: []byte("CREATE TABLE a (x INTEGER) STRICT; INSERT INTO a VALUES (7);")}}
	v2 := fstest.MapFS{
		"migrations/0001_first.sql":  v1["migrations/0001_first.sql"],
		"migrations/0002_second.sql": {Data: []byte("DELETE FROM a;")},
	}
	o := defaultOptions()
	s := &Store{path: path, log: o.logger}
	var err error
	if s.write, s.read, err = openFile(t.Context(), path, o); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, fsys := range []fstest.MapFS{v1, v1, v2, v2} {
		if err := s.migrateWith(t.Context(), time.Now, fsys); err != nil {
			t.Fatal(err)
		}
	}
	matches, _ := filepath.Glob(path + ".*.bak")
	if !slices.Equal(matches, []string{path + ".schema-v1.bak"}) {
		t.Fatalf("backups %v, want one: %s.schema-v1.bak (none for a new database, none when nothing changes)", matches, path)
	}
	db := rawDB(t, matches[0])
	var x, v int
	if err := db.QueryRow(`SELECT x FROM a`).Scan(&x); err != nil || x != 7 {
		t.Errorf("the backup's table a: %d, %v; want the row migration 2 deleted", x, err)
	}
	if err := db.QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil || v != 1 {
		t.Errorf("the backup's schema version %d, %v; want 1", v, err)
	}
}

func TestOpenGivesUpOnALockedDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spillway.db")
	conn, err := rawDB(t, path).Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{"CREATE TABLE other (x INTEGER)", "BEGIN EXCLUSIVE"} {
		if _, err := conn.ExecContext(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")
	_, err = Open(t.Context(), path, WithBusyTimeout(50*time.Millisecond))
	if !isBusy(err) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open of a database another process holds locked: %v; want SQLITE_BUSY naming the file", err)
	}
}
