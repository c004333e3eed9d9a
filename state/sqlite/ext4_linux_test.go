//go:build rootfs

package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/spillway-io/spillway/internal/fixture"
	"github.com/spillway-io/spillway/state"
)

// storeOnExt4 runs the test in a mount namespace of its own, on a real
// ext4 filesystem of its own: in the test's process it reruns the test
// there and returns ok false (the test returns); in that namespace it
// mounts the filesystem (unmounted at the test's end), opens a server's
// Store at path on it (closed at the end) and writes an intent "before".
func storeOnExt4(t *testing.T) (s *Store, path string, disk *fixture.Ext4, ok bool) {
	t.Helper()
	if !fixture.InOwnMountNamespace() {
		if out, err := fixture.RunInOwnMountNamespace(t.Context(), t.Name()); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return nil, "", nil, false
	}
	disk, err := fixture.MountExt4(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := disk.Unmount(); err != nil {
			t.Error(err)
		}
	})
	path = filepath.Join(disk.Dir, "spillway.db")
	s, err = Open(t.Context(), path, WithServerLock())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.CreateIntent(t.Context(), state.Intent{ID: "before", Pool: "train", Provider: "aws", CreatedAt: testT0}); err != nil {
		t.Fatal(err)
	}
	return s, path, disk, true
}
