//go:build rootfs

package sqlite

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

// TestWritesOnAFilesystemRemountedReadOnly: the filesystem that holds the
// database is remounted read-only while the server runs (ext4's
// errors=remount-ro after a disk error). Every kind of write then fails
// with an *UnwritableError that says so, rather than SQLite's bare "disk
// I/O error (778)", and nothing is half-written: reads go on and show
// what was written before. It runs in a mount namespace of its own, on a
// real ext4 filesystem the kernel is told has failed.
func TestWritesOnAFilesystemRemountedReadOnly(t *testing.T) {
	s, path, disk, ok := storeOnExt4(t)
	if !ok {
		return
	}
	ctx := t.Context()
	month := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	if err := disk.Fail(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		write func() error
	}{
		{"an intent", func() error {
			return s.CreateIntent(ctx, state.Intent{ID: "after", Pool: "train", Provider: "aws", CreatedAt: testT0})
		}},
		{"an intent's outcome", func() error {
			return s.FinishIntent(ctx, "before", state.IntentDone, []string{"i-1"}, "", testT0.Add(time.Second))
		}},
		{"a tick's instance rows", func() error {
			return s.PutInstances(ctx, []state.Instance{{ID: "i-1", Pool: "train", Provider: "aws", State: state.InstanceRunning, LaunchedAt: testT0}})
		}},
		{"a decision", func() error {
			_, err := s.AddDecision(ctx, state.Decision{Pool: "train", Time: testT0, Summary: "after"})
			return err
		}},
		{"spend", func() error {
			return s.RecordSpend(ctx, state.SpendEntry{Pool: "train", Provider: "aws", InstanceID: "i-1", PeriodStart: month, Amount: 1})
		}},
	} {
		err := c.write()
		var uw *UnwritableError
		if !errors.As(err, &uw) || !uw.Midway || !errors.Is(err, syscall.EROFS) || !errors.Is(err, state.ErrNoWrites) || state.NoWrites(err) != uw {
			t.Errorf("writing %s on a filesystem remounted read-only: %v, want an *UnwritableError (Midway, EROFS) that is state.ErrNoWrites", c.name, err)
			continue
		}
		for _, want := range []string{path, "remounted read-only", "launches nothing"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("writing %s: %q does not say %q", c.name, err, want)
			}
		}
	}
	ins, err := s.Intents(ctx, state.IntentFilter{})
	if err != nil || len(ins) != 1 || ins[0].ID != "before" || ins[0].Status != state.IntentPending {
		t.Fatalf("intents read after the remount: %+v, %v; want the one written before, pending", ins, err)
	}
}
