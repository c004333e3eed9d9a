package signals

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/spillway-io/spillway/signals/signalstest"
)

// TestRunGroup: what a program leaves running in its process group ends
// when it exits (it held the output open: the read failed after
// WaitDelay, and the job outlived it), and with it when its context ends;
// one that left the group and holds the output fails the read with
// exec.ErrWaitDelay.
func TestRunGroup(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string // %[1]s: the file the left-behind job writes its pid to
		cancel bool   // cancel the context once the pid is written
		out    string
		err    error
	}{
		{"a job left in the background", `sleep 600 & echo $! > %[1]s; echo 5`, false, "5\n", nil},
		{"a wrapper's child, on a cancel", `sleep 600 & echo $! > %[1]s; wait`, true, "", context.Canceled},
		{"a job in a session of its own", `setsid sh -c 'echo $$ > %[1]s.tmp; mv %[1]s.tmp %[1]s; exec sleep 600' & while [ ! -s %[1]s ]; do sleep 0.01; done; echo 5`, false, "5\n", exec.ErrWaitDelay},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pid")
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			cmd := exec.CommandContext(ctx, "sh", "-c", fmt.Sprintf(tc.script, pidFile))
			var out LimitedBuffer
			out.Max = 1 << 10
			cmd.Stdout = &out
			done := make(chan error, 1)
			go func() { done <- RunGroup(cmd) }()
			if tc.cancel {
				waitFor(t, pidFile)
				cancel()
			}
			err := <-done
			pid := signalstest.ReadPid(t, pidFile)
			if errors.Is(tc.err, exec.ErrWaitDelay) {
				defer killPid(pid)
			}
			switch {
			case tc.err == nil && err != nil,
				tc.err == context.Canceled && err == nil,
				tc.err == exec.ErrWaitDelay && !errors.Is(err, exec.ErrWaitDelay):
				t.Fatalf("RunGroup = %v, want %v", err, tc.err)
			}
			if out.String() != tc.out {
				t.Errorf("output %q, want %q", out.String(), tc.out)
			}
			if errors.Is(tc.err, exec.ErrWaitDelay) {
				return // outside the group: not RunGroup's to end
			}
			signalstest.WaitGone(t, pid, "the job the program left")
		})
	}
}

// waitFor waits up to 10 s for a script to write path.
func waitFor(t *testing.T, path string) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(10 * time.Second); ; <-tick.C {
		// Written in one write once created: a file still empty is
		// being written (reading it then found no pid).
		if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not written after 10s", path)
		}
	}
}

func killPid(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}
