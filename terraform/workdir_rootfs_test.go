//go:build rootfs && linux

package terraform_test

import (
	"syscall"
	"testing"

	"github.com/spillway-io/spillway/terraform"
)

// readOnlyMount makes dir read-only where it is, by a read-only bind
// mount of it onto itself (undone when the test ends), as a kernel
// remounting a file system read-only after disk errors does (it needs
// CAP_SYS_ADMIN: run as root).
func readOnlyMount(t *testing.T, dir string) {
	t.Helper()
	if err := syscall.Mount(dir, dir, "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind mount %s onto itself (run as root): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount %s read-only: %v", dir, err)
	}
}

// TestWorkDirRemountedReadOnly: a work dir remounted read-only (after
// disk errors) failed every launch and ending with "waiting for its lock:
// open ...: read-only file system", which reads as a lock problem. Each
// now says the work dir is on a read-only file system and what to do, as
// a *WorkDirError. As root (a bind mount): make soak runs it.
func TestWorkDirRemountedReadOnly(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	work := t.TempDir()
	p := newProvider(t, terraform.Config{Module: "testdata/plain", Region: region, Zones: zones, WorkDir: work})
	insts, err := p.Launch(ctx, launchRequest("before", "before-1", 1))
	if err != nil {
		t.Fatal(err)
	}
	readOnlyMount(t, work)
	want := []string{"work dir " + work + " is on a read-only file system", "remount it read-write", "a new work_dir must start as a copy"}
	for name, call := range map[string]func() error{
		"a new burst's launch": func() error { _, err := p.Launch(ctx, launchRequest("after", "after-1", 1)); return err },
		"ending an instance":   func() error { return p.Terminate(ctx, idsOf(insts)) },
	} {
		err := call()
		checkWorkDirError(t, name, err, syscall.EROFS, want)
	}
}
