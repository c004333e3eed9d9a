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
func TestOpenRefusesADamagedDatabase(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "spillway.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := s.CreateIntent(ctx, state.Intent{ID: "intent-" + strconv.Itoa(i), Pool: "train", Provider: "aws", CreatedAt: testT0}); err != nil {
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
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(strings.Repeat("\xde\xad", int(pageSize)/2)), (root-1)*pageSize); err != nil {
		t.Fatal(err)
	}
	f.Close()

	s, err = Open(ctx, path)
	var damaged *DamagedError
	if !errors.As(err, &damaged) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("Open of a database with an overwritten table: %v, want a *DamagedError", err)
	}
	if !strings.Contains(err.Error(), "damaged") || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q does not say the database %s is damaged", err, path)
	}
}
