package sqlite

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spillway-io/spillway/state"
)

// A database whose pages were overwritten (a bad disk, a stray write) opens
// cleanly as far as its header and schema go: Open must refuse it, saying
// it is damaged, instead of handing out a Store that fails table by table.
// A file cut short (a copy onto a full disk, a restore interrupted), one
// whose header was overwritten, or another kind of file named by mistake is
// refused by SQLite before the check runs: Open says so too, naming the
// file and what to do, rather than passing on SQLite's bare "database disk
// image is malformed" or "file is not a database".
func TestOpenRefusesADamagedDatabase(t *testing.T) {
	ctx := t.Context()
	for _, c := range []struct {
		name string
		// damage changes the file of a closed database whose intents table
		// is at page root of pageSize bytes.
		damage       func(t *testing.T, path string, root, pageSize int64)
		notADatabase bool
	}{
		{"a table's page overwritten", func(t *testing.T, path string, root, pageSize int64) {
			writeAt(t, path, (root-1)*pageSize, strings.Repeat("\xde\xad", int(pageSize)/2))
		}, false},
		{"cut in half", func(t *testing.T, path string, _, _ int64) {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"cut inside its header", func(t *testing.T, path string, _, _ int64) {
			if err := os.Truncate(path, 50); err != nil {
				t.Fatal(err)
			}
		}, false},
		// SQLite takes a file of 0 or 1 bytes for a new database and
		// writes a fresh one into it.
		{"emptied", func(t *testing.T, path string, _, _ int64) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"cut to one byte", func(t *testing.T, path string, _, _ int64) {
			if err := os.Truncate(path, 1); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"its header overwritten", func(t *testing.T, path string, _, _ int64) {
			writeAt(t, path, 0, strings.Repeat("garbage ", 12))
		}, true},
		{"another kind of file", func(t *testing.T, path string, _, _ int64) {
			if err := os.WriteFile(path, []byte("cluster: prod\npools: []\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "spillway.db")
			s, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 200 {
				if err := s.CreateIntent(ctx, state.Intent{ID: "intent-" + strconv.Itoa(i), Pool: "train", Provider: "aws", Reason: strings.Repeat("r", 200), CreatedAt: testT0}); err != nil {
					t.Fatal(err)
				}
			}
			var root, pageSize int64
			if err := s.write.QueryRowContext(ctx, `SELECT rootpage FROM sqlite_master WHERE name = 'intents'`).Scan(&root); err != nil {
				t.Fatal(err)
			}
			if err := s.write.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&pageSize); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil { // checkpoints the WAL into the file
				t.Fatal(err)
			}
			c.damage(t, path, root, pageSize)
			damagedSize := fileSize(t, path)

			s, err = Open(ctx, path, WithServerLock())
			var damaged *DamagedError
			if !errors.As(err, &damaged) {
				if s != nil {
					s.Close()
				}
				t.Fatalf("Open of a database %s: %v, want a *DamagedError", c.name, err)
			}
			if damaged.NotADatabase != c.notADatabase {
				t.Errorf("NotADatabase = %v, want %v", damaged.NotADatabase, c.notADatabase)
			}
			for _, want := range []string{path, "restore it from a backup", "move it aside"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			// Refused, not changed: the file is as the damage left it.
			if size := fileSize(t, path); size != damagedSize {
				t.Fatalf("the damaged file after Open: %d bytes, was %d", size, damagedSize)
			}
		})
	}
}

func writeAt(t *testing.T, path string, off int64, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte(data), off); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
