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

// readOnlyMount makes dir read-only where it is, by a read-only bind
// mount of it onto itself (undone when the test ends), as a kernel
// remounting a file system read-only after disk errors does. It says
// whether it could (it needs CAP_SYS_ADMIN).
func readOnlyMount(t *testing.T, dir string) bool {
	t.Helper()
	if err := syscall.Mount(dir, dir, "", syscall.MS_BIND, ""); err != nil {
		t.Logf("no bind mount here (%v)", err)
		return false
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount %s read-only: %v", dir, err)
	}
	return true
}

// A work dir that could not be written (remounted read-only after disk
// errors, or a file where the bursts' directory must be) failed every
// launch and ending with "waiting for its lock: open ...: read-only file
// system" or "mkdir ...: not a directory", which reads as a lock problem
// or says nothing of what to do. Each now says plainly what is wrong with
// the work dir and what to do, as a *WorkDirError.
func TestUnwritableWorkDirIsSaidPlainly(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)

	t.Run("read-only", func(t *testing.T) {
		t.Parallel()
		work := t.TempDir()
		p := newProvider(t, terraform.Config{Module: "testdata/plain", Region: region, Zones: zones, WorkDir: work})
		insts, err := p.Launch(ctx, launchRequest("before", "before-1", 1))
		if err != nil {
			t.Fatal(err)
		}
		if !readOnlyMount(t, work) {
			// Without the privilege the file-in-place case below is
			// what this test checks.
			return
		}
		want := []string{"work dir " + work + " is on a read-only file system", "remount it read-write", "a new work_dir must start as a copy"}
		for name, call := range map[string]func() error{
			"a new burst's launch": func() error { _, err := p.Launch(ctx, launchRequest("after", "after-1", 1)); return err },
			"ending an instance":   func() error { return p.Terminate(ctx, idsOf(insts)) },
		} {
			err := call()
			checkWorkDirError(t, name, err, syscall.EROFS, want)
		}
	})

	t.Run("a file in place of a directory", func(t *testing.T) {
		t.Parallel()
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
