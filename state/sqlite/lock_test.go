package sqlite

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spillway-io/spillway/state"
)

// A second server on the same file refuses to start, naming the first; a
// reader without the lock is not affected; once the first closes, the
// next server starts.
func TestServerLockRefusesASecondServer(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "spillway.db")
	first, err := Open(ctx, path, WithServerLock())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()

	second, err := Open(ctx, path, WithServerLock())
	var locked *LockedError
	if !errors.As(err, &locked) {
		if second != nil {
			second.Close()
		}
		t.Fatalf("a second Open WithServerLock on %s: %v, want a *LockedError", path, err)
	}
	if want := "pid " + strconv.Itoa(os.Getpid()); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q does not name the holder (%q) and the database", err, want)
	}

	reader, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("an Open without the server lock while a server holds it: %v", err)
	}
	reader.Close()

	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	next, err := Open(ctx, path, WithServerLock())
	if err != nil {
		t.Fatalf("Open WithServerLock after the holder closed: %v", err)
	}
	next.Close()
}

// A server's lock file removed while it runs (a cleanup of stale-looking
// files, rm spillway.db.*) must not let a second server start on the same
// database: two servers on one file both act (duplicate launches). The
// lock is on the database file itself; PATH.lock only names the holder.
// The first server runs in this process or in another.
func TestServerLockHoldsWhenItsLockFileIsRemoved(t *testing.T) {
	for _, c := range []struct {
		name string
		// hold opens the database at path as a server and returns a Store
		// of the first server to write with, nil when another process
		// holds it, and the function that ends it.
		hold func(t *testing.T, path string) (*Store, func())
	}{
		{"in this process", func(t *testing.T, path string) (*Store, func()) {
			s, err := Open(t.Context(), path, WithServerLock())
			if err != nil {
				t.Fatal(err)
			}
			return s, func() {
				if err := s.Close(); err != nil {
					t.Error(err)
				}
			}
		}},
		{"in another process", func(t *testing.T, path string) (*Store, func()) {
			cmd := helperCmd(t, path, "hold", "first")
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if err != nil || line != "holding\n" {
				t.Fatalf("the first server: %q, %v", line, err)
			}
			return nil, func() {
				stdin.Close()
				if err := cmd.Wait(); err != nil {
					t.Errorf("the first server: %v", err)
				}
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), "spillway.db")
			first, stop := c.hold(t, path)
			stopped := false
			defer func() {
				if !stopped {
					stop()
				}
			}()
			if err := os.Remove(path + ".lock"); err != nil {
				t.Fatal(err)
			}

			second, err := Open(ctx, path, WithServerLock())
			var locked *LockedError
			if !errors.As(err, &locked) {
				if second != nil {
					second.Close()
				}
				t.Fatalf("a second Open WithServerLock on %s after its .lock was removed: %v, want a *LockedError", path, err)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "in use by another spillway server") {
				t.Fatalf("error %q does not name the database and that another server holds it", err)
			}

			// The first server still writes, and its lock goes with it.
			if first != nil {
				if err := first.CreateIntent(ctx, state.Intent{ID: "i-1", Pool: "train", Provider: "aws", CreatedAt: testT0}); err != nil {
					t.Fatalf("a write of the first server: %v", err)
				}
			}
			stop()
			stopped = true
			next, err := Open(ctx, path, WithServerLock())
			if err != nil {
				t.Fatalf("Open WithServerLock after the holder closed: %v", err)
			}
			next.Close()
		})
	}
}
