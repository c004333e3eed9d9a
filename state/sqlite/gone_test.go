package sqlite

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spillway-io/spillway/state"
)

// TestWritesStopWhenTheFileIsRemoved removes the database's files under an
// open Store (rm spillway.db*, a cleanup of the directory), or puts another
// file in its place: the next write must not go on into the removed file,
// to be lost when the server ends, and the state written so far must be
// found at the path (or beside the file that replaced it) by the next start,
// and by no second server while this one runs.
func TestWritesStopWhenTheFileIsRemoved(t *testing.T) {
	ctx := t.Context()
	intent := func(id string) state.Intent {
		return state.Intent{ID: id, Pool: "train", Provider: "aws", Count: 1, ClientToken: "spw-" + id, CreatedAt: testT0}
	}
	for _, c := range []struct {
		name    string
		replace bool
	}{
		{"removed", false},
		{"replaced by another file", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "spillway.db")
			s, err := Open(ctx, path, WithServerLock())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.CreateIntent(ctx, intent("before")); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{path, path + "-wal", path + "-shm", path + ".lock"} { // rm spillway.db*
				if err := os.Remove(f); err != nil {
					t.Fatal(err)
				}
			}
			if c.replace {
				other, err := Open(ctx, filepath.Join(dir, "other.db"))
				if err != nil {
					t.Fatal(err)
				}
				if err := other.Close(); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(filepath.Join(dir, "other.db"), path); err != nil {
					t.Fatal(err)
				}
			}

			err = s.CreateIntent(ctx, intent("after"))
			var gone *GoneError
			if !errors.As(err, &gone) {
				t.Fatalf("a write after the file was %s: %v, want a *GoneError (else it is lost with the removed file)", c.name, err)
			}
			if gone.SavedTo == "" {
				t.Fatalf("the open database was not saved: %v", err)
			}
			for _, want := range []string{path, gone.SavedTo, "restart the server"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if err := s.FinishIntent(ctx, "before", state.IntentDone, []string{"i-1"}, "", testT0); !errors.As(err, &gone) {
				t.Errorf("the next write: %v, want refused as well", err)
			}
			if err := s.Ping(ctx); !errors.As(err, &gone) {
				t.Errorf("Ping (readiness): %v, want the *GoneError", err)
			}
			if c.replace != (gone.SavedTo != path) {
				t.Errorf("saved to %s: want %s when nothing took its place, beside it otherwise", gone.SavedTo, path)
			}
			// The state written back is this server's while it runs on:
			// a second server does not start on it.
			if !c.replace {
				second, err := Open(ctx, path, WithServerLock())
				var locked *LockedError
				if !errors.As(err, &locked) {
					if second != nil {
						second.Close()
					}
					t.Errorf("a second server on the state written back while the first runs: %v, want a *LockedError", err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			// The next start finds what was written before the removal.
			saved, err := Open(ctx, gone.SavedTo)
			if err != nil {
				t.Fatal(err)
			}
			defer saved.Close()
			ins, err := saved.Intents(ctx, state.IntentFilter{})
			if err != nil || len(ins) != 1 || ins[0].ID != "before" || ins[0].Status != state.IntentPending {
				t.Fatalf("intents saved: %+v, %v; want the one written before the removal, still pending", ins, err)
			}
			if c.replace {
				repl, err := Open(ctx, path)
				if err != nil {
					t.Fatal(err)
				}
				defer repl.Close()
				if ins, err := repl.Intents(ctx, state.IntentFilter{}); err != nil || len(ins) != 0 {
					t.Fatalf("the file that took its place: intents %+v, %v; want it left as it was", ins, err)
				}
			}
		})
	}
}
