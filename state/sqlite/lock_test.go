package sqlite

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
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
