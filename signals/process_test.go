package signals

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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
		name    string
		script  string // %[1]s: the file the left-behind job writes its pid to
		timeout time.Duration
		out     string
		err     error
	}{
		{"a job left in the background", `sleep 600 & echo $! > %[1]s; echo 5`, 0, "5\n", nil},
		{"a wrapper's child, on a timeout", `sleep 600 & echo $! > %[1]s; wait`, 200 * time.Millisecond, "", context.DeadlineExceeded},
		{"a job in a session of its own", `setsid sh -c 'echo $$ > %[1]s.tmp; mv %[1]s.tmp %[1]s; exec sleep 600' & while [ ! -s %[1]s ]; do :; done; echo 5`, 0, "5\n", exec.ErrWaitDelay},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pid")
			ctx := t.Context()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			cmd := exec.CommandContext(ctx, "sh", "-c", fmt.Sprintf(tc.script, pidFile))
			var out LimitedBuffer
			out.Max = 1 << 10
			cmd.Stdout = &out
			err := RunGroup(cmd)
			if tc.timeout > 0 {
				for ctx.Err() == nil && !exists(pidFile) {
					runtime.Gosched()
				}
			}
			pid := signalstest.ReadPid(t, pidFile)
			if errors.Is(tc.err, exec.ErrWaitDelay) {
				defer killPid(pid)
			}
			switch {
			case tc.err == nil && err != nil,
				tc.err == context.DeadlineExceeded && (err == nil || !errors.Is(ctx.Err(), tc.err)),
				tc.err == exec.ErrWaitDelay && !errors.Is(err, exec.ErrWaitDelay):
				t.Fatalf("RunGroup = %v (context: %v), want %v", err, ctx.Err(), tc.err)
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

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func killPid(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}
