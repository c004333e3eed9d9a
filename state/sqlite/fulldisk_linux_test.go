//go:build rootfs

package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

// TestWritesOnAFullFilesystem: the filesystem that holds the database
// fills up while the server runs (its logs, a core dump, another program's
// files). Every kind of write then fails with a *FullError naming the
// database, the filesystem and what to do, rather than SQLite's bare
// "database or disk is full (13)"; reads go on and show everything written
// before; a new database cannot be made there either, and says so; and
// once there is room again, the same Store takes writes without a
// restart. It runs in a mount namespace of its own, on a real ext4
// filesystem filled by a file.
func TestWritesOnAFullFilesystem(t *testing.T) {
	s, path, disk, ok := storeOnExt4(t)
	if !ok {
		return
	}
	ctx := t.Context()
	filler := filepath.Join(disk.Dir, "filler")
	fill(t, filler)

	isFull := func(what string, err error, path string, says ...string) {
		t.Helper()
		var fe *FullError
		if !errors.As(err, &fe) || fe.Database != path || fe.Dir != disk.Dir {
			t.Errorf("%s on a full filesystem: %v, want a *FullError of %s", what, err, path)
			return
		}
		for _, want := range append([]string{path, "is full", "free space on it"}, says...) {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q does not say %q", what, err, want)
			}
		}
	}
	// The WAL may hold a few more writes: write until it cannot.
	written := 1
	for ; ; written++ {
		err := s.CreateIntent(ctx, state.Intent{ID: fmt.Sprint("filling-", written), Pool: "train", Provider: "aws", CreatedAt: testT0, Error: strings.Repeat("x", 1500)})
		if err != nil {
			isFull("an intent", err, path, "launches nothing")
			break
		}
		if written > 10000 {
			t.Fatal("10,000 intents written on a full filesystem")
		}
	}
	month := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name  string
		write func() error
	}{
		{"a tick's instance rows", func() error {
			ins := make([]state.Instance, 50)
			for i := range ins {
				ins[i] = state.Instance{ID: fmt.Sprint("i-", i), Pool: "train", Provider: "aws", State: state.InstanceRunning, LaunchedAt: testT0, EndReason: strings.Repeat("y", 1500)}
			}
			return s.PutInstances(ctx, ins)
		}},
		{"a decision", func() error {
			_, err := s.AddDecision(ctx, state.Decision{Pool: "train", Time: testT0, Summary: strings.Repeat("z", 1500)})
			return err
		}},
		{"spend", func() error {
			return s.RecordSpend(ctx, state.SpendEntry{Pool: "train", Provider: "aws", InstanceID: "i-1", PeriodStart: month, Amount: 1})
		}},
	} {
		isFull(c.name, c.write(), path, "launches nothing")
	}
	ins, err := s.Intents(ctx, state.IntentFilter{})
	if err != nil || len(ins) != written {
		t.Fatalf("intents read on the full filesystem: %d, %v; want the %d written", len(ins), err, written)
	}
	other := filepath.Join(disk.Dir, "other.db")
	_, err = Open(ctx, other)
	isFull("a new database", err, other, "cannot be opened", "server.state")

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateIntent(ctx, state.Intent{ID: "after", Pool: "train", Provider: "aws", CreatedAt: testT0}); err != nil {
		t.Fatalf("an intent once the filesystem had room: %v; want it written without a restart", err)
	}
}

// fill writes a file at path until its filesystem has no room left.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	// What is left is less than a block: write it byte by byte.
	for {
		if _, err := f.Write(buf[:1]); err != nil {
			break
		}
	}
	if err := f.Sync(); err != nil {
		t.Logf("sync of the filler: %v", err)
	}
}
