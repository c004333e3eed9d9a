//go:build rootfs

package scheduler_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/internal/fixture"
	"github.com/spillway-io/spillway/state"
	"github.com/spillway-io/spillway/state/sqlite"
)

// TestNothingLaunchesOnAStateRemountedReadOnly: the filesystem of the
// SQLite state is remounted read-only while the server runs (ext4's
// errors=remount-ro after a disk error; a real ext4 in a mount namespace
// of the test's own). A launch first writes its intent, and that write
// fails: however much the queue asks for, no launch call is made that the
// state could not record, the instances already running are kept, and the
// pool's status says the state is not writable because its filesystem was
// remounted read-only.
func TestNothingLaunchesOnAStateRemountedReadOnly(t *testing.T) {
	if !fixture.InOwnMountNamespace() {
		if out, err := fixture.RunInOwnMountNamespace(t.Context(), t.Name()); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return
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
	h := newHarness(t, testPool(), func(h *harness) { h.dbPath = filepath.Join(disk.Dir, "state.db") })
	h.setDemand(2*time.Minute, 8)
	h.tick()
	if n := len(h.live()); n != 1 {
		t.Fatalf("before the remount: %d instances, want 1", n)
	}
	launches := h.emu.Calls("RunInstances")
	intents, err := h.store.Intents(t.Context(), state.IntentFilter{})
	if err != nil {
		t.Fatal(err)
	}

	if err := disk.Fail(); err != nil {
		t.Fatal(err)
	}
	h.setDemand(5*time.Minute, 8, 8, 8)
	for range 6 {
		h.agents.setBusy(8)
		h.step(30 * time.Second)
	}
	if n := h.emu.Calls("RunInstances"); n != launches || len(h.live()) != 1 {
		t.Fatalf("with the state's filesystem read-only: %d launch calls, %d instances; want no call, the 1 instance from before", n-launches, len(h.live()))
	}
	after, err := h.store.Intents(t.Context(), state.IntentFilter{})
	if err != nil || len(after) != len(intents) {
		t.Fatalf("intents read with the filesystem read-only: %d (%v), want the %d from before", len(after), err, len(intents))
	}
	st, _ := h.sched.LastStatus(h.pool.Name)
	if !strings.Contains(st.StateErr, "remounted read-only") {
		t.Fatalf("the pool's state error with its filesystem read-only: %q, want it to say the filesystem was remounted read-only", st.StateErr)
	}
	t.Logf("with the filesystem read-only: %d launch calls; the pool's state error: %s", h.emu.Calls("RunInstances")-launches, st.StateErr)
	// What a caller of the state gets is typed.
	err = h.store.CreateIntent(t.Context(), state.Intent{ID: "probe", Pool: h.pool.Name, Provider: provName, CreatedAt: h.clk.Now()})
	var uw *sqlite.UnwritableError
	if !errors.As(err, &uw) {
		t.Fatalf("a write with the filesystem read-only: %v, want a *sqlite.UnwritableError", err)
	}
}
