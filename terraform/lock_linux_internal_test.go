package terraform

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// openCount is how many of the process's file descriptors are open on path.
func openCount(t *testing.T, path string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && target == path {
			n++
		}
	}
	return n
}

// A run that waits for a burst's lock while the burst is retired (its
// directory moved away under the lock) is told so when it gets the lock,
// rather than running on a directory that is gone.
func TestLockOfABurstRetiredMeanwhileIsRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "burst")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "lock")
	// Two locks on one path stand for two processes: flock is per open file.
	retiring, waiting := newDirLock(path), newDirLock(path)
	unlock, err := retiring.lock(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		u, err := waiting.lock(ctx, true)
		if u != nil {
			u()
		}
		got <- err
	}()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for openCount(t, path) < 2 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("the second lock never opened the lock file")
		}
	}
	if err := os.Rename(dir, dir+"-retired"); err != nil {
		t.Fatal(err)
	}
	unlock()
	if err := <-got; !errors.Is(err, errLockMoved) {
		t.Errorf("lock of a file moved while waiting = %v, want errLockMoved", err)
	}
}

// waitingOnSem says whether a goroutine is blocked taking a dirLock's
// channel.
func waitingOnSem() bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "[select") && strings.Contains(g, "(*dirLock).lock") {
			return true
		}
	}
	return false
}

// A run of this process that waits for a burst's lock while the burst is
// retired makes its directory afresh and runs, rather than failing on the
// directory moved away.
func TestBurstRetiredWhileARunWaitsIsMadeAfresh(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	work := t.TempDir()
	p, err := New("tf-lock", Config{Module: "testdata/childmodule", Region: "us-east-1", Zones: []string{"us-east-1a"}, WorkDir: work,
		Variables: map[string]any{"live": t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	b, unlock, err := p.lockBurst(ctx, "retired-k", true)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		b   *burst
		err error
	}
	got := make(chan result, 1)
	go func() {
		b, u, err := p.lockBurst(ctx, "retired-k", true)
		if u != nil {
			u()
		}
		got <- result{b, err}
	}()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !waitingOnSem() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("the second run never waited for the lock")
		}
	}
	if err := os.Rename(b.dir, filepath.Join(work, "moved")); err != nil {
		t.Fatal(err)
	}
	unlock()
	r := <-got
	if r.err != nil {
		t.Fatalf("the waiting run: %v, want the burst made afresh", r.err)
	}
	if _, err := os.Stat(filepath.Join(r.b.dir, lockFile)); err != nil {
		t.Errorf("the burst made afresh has no lock file: %v", err)
	}
}

// TestRunRecordOfAnotherProcessWithItsPIDIsDead: after a reboot, or once
// the PID is reused, a live process with a dead run's PID is not that
// run's: the record's boot id and start time tell them apart, so the run's
// backend lock is released instead of refusing every run on the burst.
func TestRunRecordOfAnotherProcessWithItsPIDIsDead(t *testing.T) {
	const host = "node-a"
	live := os.Getppid() // the go tool or the shell that ran the test
	boot, start := bootID(), procStart(live)
	if boot == "" || start == 0 {
		t.Fatalf("boot id %q, start time of pid %d %d: /proc does not say", boot, live, start)
	}
	for _, tc := range []struct {
		name string
		rec  runRecord
		want bool
	}{
		{"the live process itself", runRecord{PID: live, Host: host, Boot: boot, Start: start}, false},
		{"a record without them (an earlier version)", runRecord{PID: live, Host: host}, false},
		{"an earlier boot", runRecord{PID: live, Host: host, Boot: "00000000-0000-0000-0000-000000000000", Start: start}, true},
		{"a process started at another time", runRecord{PID: live, Host: host, Boot: boot, Start: start + 1}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rec.dead(host); got != tc.want {
				t.Errorf("dead = %v, want %v", got, tc.want)
			}
		})
	}
}

// A dead run's Terraform is known by what the run recorded of the process
// it started, whatever its executable is named: that process while its
// start time is the recorded one (a process given its PID since is left
// alone), or one run with that process's last arguments (a wrapper's
// "$@"). A plugin or a provisioner's shell of the run is neither.
func TestSurvivingTerraformIsKnownByTheRecordedProcess(t *testing.T) {
	mark := newRunMark()
	// A shell forks before it execs sleep, and until it has, the fork
	// has the shell's arguments (and would match as the shell does): a
	// process started is ready once its sleep has exec'd.
	sleeping := func(pid int) bool {
		pids, _ := markedProcesses([]byte(runMarkEnv + "=" + mark + "\x00"))
		for _, p := range pids {
			if args := cmdline(p); parent(p) == pid && len(args) > 0 && args[0] == "sleep" {
				return true
			}
		}
		return false
	}
	start := func(args ...string) procID {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), runMarkEnv+"="+mark)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for procStart(cmd.Process.Pid) == 0 || len(cmdline(cmd.Process.Pid)) != len(args) || !sleeping(cmd.Process.Pid) {
			select {
			case <-ctx.Done():
				t.Fatalf("%v never started", args)
			case <-tick.C:
			}
		}
		return procID{PID: cmd.Process.Pid, Start: procStart(cmd.Process.Pid)}
	}
	// A renamed Terraform, as a wrapper runs it, and a shell of its run.
	// (Its arguments end as the wrapper's did; a shell's do not.)
	tofu := start("sh", "-c", "sleep 600; :", "apply")
	shell := start("sh", "-c", "sleep 600; :")
	wrapperArgs := []string{"/bin/bash", "/opt/tf-wrapper", "-c", "sleep 600; :", "apply"}
	for _, tc := range []struct {
		name  string
		child *childProc
		want  []procID
	}{
		{"run with the recorded process's last arguments", &childProc{PID: 1 << 22, Start: 1, Args: wrapperArgs}, []procID{tofu}},
		{"the recorded process itself", &childProc{PID: shell.PID, Start: shell.Start, Args: []string{"sh", "-c", "x"}}, []procID{shell}},
		{"its PID, given to a process started later", &childProc{PID: shell.PID, Start: shell.Start + 1, Args: []string{"sh", "-c", "x"}}, nil},
		{"a record without the process, by the executable's name", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := survivingTerraform(mark, tc.child)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("survivingTerraform = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	if !running(shell) || running(procID{PID: shell.PID, Start: shell.Start + 1}) {
		t.Errorf("running(%v) = %v, running with another start time = %v; want true, false", shell, running(shell), running(procID{PID: shell.PID, Start: shell.Start + 1}))
	}
}
