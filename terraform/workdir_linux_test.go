package terraform_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/spillway-io/spillway/terraform"
)

// A work dir that could not be written (a file where the bursts'
// directory must be; a read-only remount is TestWorkDirRemountedReadOnly,
// build tag rootfs) failed every launch and ending with "mkdir ...: not a
// directory", which says nothing of what to do. It now says plainly what
// is wrong with the work dir and what to do, as a *WorkDirError.
func TestUnwritableWorkDirIsSaidPlainly(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	t.Run("a file in place of a directory", func(t *testing.T) {
		work := t.TempDir()
		p := newProvider(t, terraform.Config{Module: "testdata/plain", Region: region, Zones: zones, WorkDir: work})
		if err := os.WriteFile(filepath.Join(work, "bursts"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := p.Launch(ctx, launchRequest("blocked", "blocked-1", 1))
		checkWorkDirError(t, "a launch", err, syscall.ENOTDIR, []string{"work dir " + work + " has a file where a directory must be", "move the file away"})
	})
}

func checkWorkDirError(t *testing.T, name string, err error, errno syscall.Errno, want []string) {
	t.Helper()
	var we *terraform.WorkDirError
	if !errors.As(err, &we) || !errors.Is(err, errno) {
		t.Errorf("%s: %v, want a *terraform.WorkDirError of %v", name, err, errno)
		return
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: %q does not say %q", name, err, w)
		}
	}
	if strings.Contains(err.Error(), "waiting for its lock") {
		t.Errorf("%s: %q reads as a lock problem", name, err)
	}
}
