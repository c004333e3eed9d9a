package terraform_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spillway-io/spillway/terraform"
)

// A wrapper standing for terraform that leaves a background process
// holding the stdout it was given (a forgotten `&`, a log shipper) made
// each command it wrapped wait past Terraform's exit: a plan or apply
// the whole interrupt grace (a minute by default) and then fail with
// exec's "WaitDelay expired before I/O complete", which says nothing of
// why; a `terraform output` or `state pull` until the call's deadline,
// when the run's processes were killed. Now the output gets a couple of
// seconds once Terraform has exited, and the run fails saying that a
// process the binary started held it, naming the binary.
func TestTerraformWhoseChildHoldsItsOutput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, command, mode, start string }{
		{"apply", "apply", "good", ""},
		// The apply's log keeps no line as long as hugeother's outputs:
		// they are read with `terraform output`.
		{"output", "output", "hugeother", ""},
		// A child that left the wrapper's process group (a daemon's
		// setsid) ran on: only the group was killed.
		{"apply, its child in a session of its own", "apply", "good", "setsid "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pids := filepath.Join(t.TempDir(), "pids")
			t.Cleanup(func() { killListed(t, pids) })
			bin := wrappedTerraform(t, fmt.Sprintf("if [ \"$1\" = %s ]; then %ssleep 100 & echo $! >> '%s'; fi", tc.command, tc.start, pids))
			p := newProvider(t, terraform.Config{
				Module: "testdata/badoutput", Region: region, Zones: zones, WorkDir: t.TempDir(),
				Variables: map[string]any{"mode": tc.mode, "live": t.TempDir()},
			}, terraform.WithBinary(bin))
			// The old code's wait was bound by the grace (45s of this
			// deadline) or the deadline itself.
			ctx := deadlineCtx(t, 90*time.Second)
			start := time.Now()
			burst := strings.Fields(tc.name)[0] + strconv.Itoa(len(tc.start))
			insts, err := p.Launch(ctx, launchRequest("held-"+burst, "held-"+burst+"-1", 1))
			took := time.Since(start)
			want := bin + " exited 0, and a process it started still held its stdout and stderr open 2s later: Spillway stopped reading"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Launch = %v, %v; want it to say %s", idsOf(insts), err, want)
			}
			if ctx.Err() != nil {
				t.Errorf("the launch took %v, to its context's deadline", took.Round(time.Second))
			}
			t.Logf("the launch took %v", took.Round(100*time.Millisecond))
			awaitListedEnded(t, pids)
		})
	}
}

// The start-up check of such a wrapper failed with exec's "WaitDelay
// expired before I/O complete" after its `terraform version` had printed
// the version; it now says what its runs would say.
func TestCheckCoreVersionOfAWrapperWhoseChildHoldsItsOutput(t *testing.T) {
	t.Parallel()
	pids := filepath.Join(t.TempDir(), "pids")
	t.Cleanup(func() { killListed(t, pids) })
	bin := wrappedTerraform(t, fmt.Sprintf("sleep 100 & echo $! >> '%s'", pids))
	err := terraform.CheckCoreVersion(testCtx(t), bin, "testdata/badoutput")
	want := bin + " exited 0, and a process it started still held its stdout and stderr open 2s later"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("CheckCoreVersion = %v, want it to say %s", err, want)
	}
	awaitListedEnded(t, pids)
}

// awaitListedEnded waits until none of the background processes whose ids
// the file at path lists runs (a zombie has ended), failing the test with
// those still running after a minute: each held-output run left one
// running (for 100 s, as long as it liked), one more a retry.
func awaitListedEnded(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the wrapper listed no background process: %v", err)
	}
	pids := strings.Fields(string(data))
	ctx := deadlineCtx(t, time.Minute)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var left []string
		for _, pid := range pids {
			if sleepRunning(pid) {
				left = append(left, pid)
			}
		}
		if len(left) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the wrapper's background processes %v (of %v) still run a minute after the run failed", left, pids)
		case <-tick.C:
		}
	}
}

// sleepRunning says whether process pid is a sleep that has not exited.
func sleepRunning(pid string) bool {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return false
	}
	name, rest, _ := strings.Cut(string(stat), ") ")
	return strings.HasSuffix(name, "(sleep") && !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

// killListed kills the processes whose ids the file at path lists, a line
// each.
func killListed(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
