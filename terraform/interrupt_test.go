//go:build linux

package terraform_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spillway-io/spillway/terraform"
)

// interruptFixture is testdata/interrupt on a state server of its own. Its
// cloud directory holds instances/<id> for each live instance, runs (one
// line per run of an instance's create-time provisioner) and
// registering/<key> for each registration waiting on hold.
type interruptFixture struct {
	cfg         terraform.Config
	cloud, hold string
	// mark is in the environment of every process the fixture's runs
	// start (testProcsEnv).
	mark string
}

const interruptBurst, interruptToken = "interrupt", "interrupt-1"

// A launch interrupted for its deadline is interrupted its grace ahead of
// it, and that is fixed when the launch starts, not when its instances
// exist: its deadline is untilRegistering + stopGrace, so it must have
// begun its registrations within untilRegistering and stopped within
// stopGrace of the interrupt. Terraform takes seconds for both; the bounds
// are generous for a loaded two-core CI machine running the whole suite,
// where 25 seconds to the registrations did not always do.
const (
	untilRegistering = 60 * time.Second
	stopGrace        = 30 * time.Second
)

func newInterruptFixture(t *testing.T, writeDelay time.Duration) *interruptFixture {
	t.Helper()
	st := &stateServer{writeDelay: writeDelay, states: map[string][]byte{}, locks: map[string][]byte{}}
	srv := httptest.NewServer(st)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	var b [8]byte
	rand.Read(b[:])
	f := &interruptFixture{cloud: filepath.Join(dir, "cloud"), hold: filepath.Join(dir, "hold"), mark: hex.EncodeToString(b[:])}
	addr := srv.URL + "/state/{burst}"
	f.cfg = terraform.Config{
		Module: "testdata/interrupt", Zones: zones, WorkDir: filepath.Join(dir, "work"),
		Variables:     map[string]any{"cloud": f.cloud, "hold": f.hold},
		BackendConfig: map[string]string{"address": addr, "lock_address": addr, "unlock_address": addr},
	}
	if err := os.MkdirAll(f.cloud, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.hold, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// Whatever the test's outcome, leave nothing running (registrations
	// wait on hold; their agents would outlive the test).
	t.Cleanup(func() {
		os.Remove(f.hold)
		for _, pid := range markedPIDs(t, f.mark) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return f
}

func (f *interruptFixture) provider(t *testing.T, grace time.Duration) *terraform.Provider {
	t.Helper()
	return newProvider(t, f.cfg, terraform.WithEnv(map[string]string{testProcsEnv: f.mark}), terraform.WithInterruptGrace(grace))
}

func (f *interruptFixture) registering() int {
	ents, _ := os.ReadDir(filepath.Join(f.cloud, "registering"))
	return len(ents)
}

// waitRegistering waits until every instance of a launch of n is created
// and its registration waits on hold (or the test fails when exited says
// the launch is over first).
func (f *interruptFixture) waitRegistering(t *testing.T, n int, exited <-chan error) {
	t.Helper()
	ctx := testCtx(t)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for f.registering() < n {
		select {
		case err := <-exited:
			t.Fatalf("the launch ended (%v) before its %d registrations began (%d did)", err, n, f.registering())
		case <-ctx.Done():
			t.Fatalf("the launch's %d registrations never began (%d did)", n, f.registering())
		case <-tick.C:
		}
	}
}

// runs counts the runs of each key's create-time provisioner.
func (f *interruptFixture) runs(t *testing.T) map[string]int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(f.cloud, "runs"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, k := range strings.Fields(string(data)) {
		out[k]++
	}
	return out
}

// live lists the instances the module's cloud runs.
func (f *interruptFixture) live(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(f.cloud, "instances"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

// leftBehind describes the processes of the fixture's runs still running.
func (f *interruptFixture) leftBehind(t *testing.T) []string {
	var out []string
	for _, pid := range markedPIDs(t, f.mark) {
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		out = append(out, fmt.Sprintf("%d (%s)", pid, strings.TrimSpace(string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})))))
	}
	return out
}

// markedPIDs lists the live processes whose environment holds
// testProcsEnv=mark (a zombie shows none).
func markedPIDs(t *testing.T, mark string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	entry := []byte(testProcsEnv + "=" + mark + "\x00")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err == nil && (bytes.HasPrefix(env, entry) || bytes.Contains(env, append([]byte{0}, entry...))) {
			out = append(out, pid)
		}
	}
	return out
}

// resume removes the hold, completes the interrupted launch with its token
// on a new provider, and checks that the instances created before the
// interrupt were kept (their provisioners ran once) and that the cloud runs
// exactly what the burst holds, then nothing once it is ended.
func (f *interruptFixture) resume(t *testing.T, count int) {
	t.Helper()
	if err := os.Remove(f.hold); err != nil {
		t.Fatal(err)
	}
	p := f.provider(t, 30*time.Second)
	insts, err := p.Launch(testCtx(t), launchRequest(interruptBurst, interruptToken, count))
	if err != nil {
		t.Fatalf("Launch again with the same token: %v", err)
	}
	if len(insts) != count {
		t.Fatalf("the resumed launch returned %d instances, want %d", len(insts), count)
	}
	for key, n := range f.runs(t) {
		if n != 1 {
			t.Errorf("instance %s was launched %d times (its create-time provisioner ran %d times), want once: the interrupted apply's state lost it", key, n, n)
		}
	}
	if live := f.live(t); !slices.Equal(live, idsOf(insts)) {
		t.Errorf("the cloud runs %v, the burst holds %v: the interrupted apply leaked what it had created", live, idsOf(insts))
	}
	if err := p.Terminate(testCtx(t), idsOf(insts)); err != nil {
		t.Fatal(err)
	}
	if live := f.live(t); len(live) != 0 {
		t.Errorf("after Terminate the cloud runs %v", live)
	}
	if left := f.leftBehind(t); len(left) != 0 {
		t.Errorf("processes of the runs left running: %v", left)
	}
}

// A launch interrupted once its instances exist, while their registration
// runs (its provisioner has started a child), leaves no process of the run
// behind; the next launch with its token keeps the instances (their
// provisioners do not run again, nothing is leaked) and replaces only the
// registrations that were cut off. Interrupted for its deadline, it has
// ended by then.
func TestInterruptedLaunchKeepsWhatItCreatedAndLeavesNothingRunning(t *testing.T) {
	t.Parallel()
	const count = 2
	cancelled := func(t *testing.T, f *interruptFixture) context.Context {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		go func() {
			// Polls the provisioners' marks until both registrations run.
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for f.registering() < count && ctx.Err() == nil {
				select {
				case <-ctx.Done():
				case <-tick.C:
				}
			}
			cancel()
		}()
		return ctx
	}
	for _, tt := range []struct {
		name string
		// interrupt returns the launch's context: cancelled by the test
		// once the registrations run, or with a deadline.
		interrupt func(t *testing.T, f *interruptFixture) context.Context
		want      error
		// stuck: the state backend never completes a write, so Terraform
		// cannot stop and is killed at the end of its grace (the state
		// loses what the apply created: no resume is checked).
		stuck bool
	}{
		{name: "cancelled", interrupt: cancelled, want: context.Canceled},
		{name: "cancelled, and Terraform cannot stop", interrupt: cancelled, want: context.Canceled, stuck: true},
		{
			// The scheduler bounds each mutating call (a shutdown waits for
			// it that long): Terraform must have stopped and written its
			// state by the deadline, not just been told to stop then.
			name: "deadline",
			interrupt: func(t *testing.T, f *interruptFixture) context.Context {
				return deadlineCtx(t, untilRegistering+stopGrace)
			},
			want: context.DeadlineExceeded,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			writeDelay, grace := time.Duration(0), stopGrace
			if tt.stuck {
				writeDelay, grace = time.Hour, 3*time.Second
			}
			f := newInterruptFixture(t, writeDelay)
			p := f.provider(t, grace)
			ctx := tt.interrupt(t, f)
			_, err := p.Launch(ctx, launchRequest(interruptBurst, interruptToken, count))
			returned := ctx.Err()
			if !errors.Is(err, tt.want) {
				t.Fatalf("Launch interrupted mid-apply: err = %v, want %v", err, tt.want)
			}
			if n := f.registering(); n != count {
				t.Fatalf("the launch was interrupted with %d of its %d registrations begun: want it interrupted after its instances were created", n, count)
			}
			if tt.want == context.DeadlineExceeded && returned != nil {
				t.Errorf("Launch returned after its context's deadline: Terraform was interrupted only then, with no time left to write its state before its caller gave up")
			}
			if left := f.leftBehind(t); len(left) != 0 {
				t.Errorf("processes of the interrupted run left running: %v", left)
			}
			if !tt.stuck {
				f.resume(t, count)
			}
		})
	}
}

// A server stopped when its call's bound is up (its supervisor kills it
// at the deadline of the launch in flight) takes its Terraform with it.
// The launch, interrupted grace before that deadline, has stopped and
// written its state (on a backend whose writes take a second) by then:
// nothing it created is leaked or launched again, and no process of it is
// left.
func TestServerStoppedAtItsCallsDeadlineLeaksNothing(t *testing.T) {
	t.Parallel()
	const count = 2
	f := newInterruptFixture(t, time.Second)
	deadline := time.Now().Add(untilRegistering + stopGrace)
	crasher, exited, stderr := startCrasher(t, f.cfg,
		"CRASH_BURST="+interruptBurst, "CRASH_TOKEN="+interruptToken, "CRASH_COUNT="+strconv.Itoa(count),
		"CRASH_DEADLINE="+strconv.FormatInt(deadline.UnixNano(), 10), "CRASH_GRACE="+stopGrace.String(), "CRASH_MARK="+f.mark)
	f.waitRegistering(t, count, exited)
	select {
	case <-exited:
	case <-time.After(time.Until(deadline)):
		crasher.Process.Kill()
		<-exited
		t.Errorf("the server was still running its launch at the launch's deadline, and was killed: %s", stderr.String())
	}
	if left := f.leftBehind(t); len(left) != 0 {
		t.Errorf("processes of the stopped server's run left running: %v", left)
	}
	f.resume(t, count)
}

// A server killed mid-apply takes its Terraform with it (the parent-death
// signal), but not the processes Terraform started: the next run on the
// burst ends them. (What that apply created since its state was last
// written is not recorded: see docs/terraform.md.)
func TestProcessesOfARunKilledWithItsServerAreEnded(t *testing.T) {
	t.Parallel()
	const count = 2
	f := newInterruptFixture(t, 0)
	crasher, exited, _ := startCrasher(t, f.cfg,
		"CRASH_BURST="+interruptBurst, "CRASH_TOKEN="+interruptToken, "CRASH_COUNT="+strconv.Itoa(count), "CRASH_MARK="+f.mark)
	f.waitRegistering(t, count, exited)
	crasher.Process.Kill()
	<-exited
	// The registrations' shells end with the hold; their agents would not.
	if err := os.Remove(f.hold); err != nil {
		t.Fatal(err)
	}
	p := f.provider(t, 30*time.Second)
	insts, err := p.Launch(testCtx(t), launchRequest(interruptBurst, interruptToken, count))
	if err != nil {
		t.Fatalf("Launch after the crash: %v", err)
	}
	if left := f.leftBehind(t); len(left) != 0 {
		t.Errorf("processes of the killed server's run left running after the next run on its burst: %v", left)
	}
	if err := p.Terminate(testCtx(t), idsOf(insts)); err != nil {
		t.Fatal(err)
	}
}

// A server killed mid-apply whose Terraform outlives it (the terraform it
// runs is a wrapper script that starts Terraform as its child, logging its
// output, so the parent-death signal takes the wrapper only): the next run
// on the burst interrupts that Terraform and waits for it to stop and
// write its state, rather than killing it outright, which on a backend
// written at the end of a run loses every instance the apply created
// (launched again by the next run, and left running untracked). The
// Terraform is known by the arguments the dead run gave the wrapper (its
// run record), not by its name: here neither is named terraform.
func TestTerraformOutlivingItsKilledServerIsInterruptedNotKilled(t *testing.T) {
	t.Parallel()
	const count = 2
	f := newInterruptFixture(t, 0)
	installed, err := exec.LookPath("terraform")
	if err != nil {
		t.Fatal(err)
	}
	// Terraform under another name, as OpenTofu's or a versioned
	// install's (terraform-1.5.7) is, run by a wrapper of another name.
	dir := t.TempDir()
	bin := filepath.Join(dir, "tofu")
	copyFile(t, installed, bin)
	wrapper := filepath.Join(dir, "tf-wrapper")
	script := "#!/bin/bash\n# Runs Terraform as its child, keeping a copy of its output.\n" +
		"\"$REAL_TERRAFORM\" \"$@\" > >(tee -p -a \"$TERRAFORM_LOG\") 2> >(tee -p -a \"$TERRAFORM_LOG\" >&2)\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	crasher, exited, stderr := startCrasher(t, f.cfg,
		"CRASH_BURST="+interruptBurst, "CRASH_TOKEN="+interruptToken, "CRASH_COUNT="+strconv.Itoa(count), "CRASH_MARK="+f.mark,
		"CRASH_BINARY="+wrapper, "REAL_TERRAFORM="+bin, "TERRAFORM_LOG="+filepath.Join(dir, "terraform.log"))
	f.waitRegistering(t, count, exited)
	crasher.Process.Kill()
	<-exited
	survived := false
	for _, p := range f.leftBehind(t) {
		survived = survived || strings.Contains(p, bin+" apply")
	}
	if !survived {
		t.Fatalf("no terraform apply outlived the killed server (left: %v): %s", f.leftBehind(t), stderr.String())
	}

	// The next run is a server's on the real binary; its registrations do
	// not wait (the survivor's still wait on the hold).
	cfg := f.cfg
	cfg.Variables = map[string]any{"cloud": f.cloud, "hold": filepath.Join(dir, "no-hold")}
	p := newProvider(t, cfg, terraform.WithEnv(map[string]string{testProcsEnv: f.mark}), terraform.WithInterruptGrace(stopGrace))
	insts, err := p.Launch(testCtx(t), launchRequest(interruptBurst, interruptToken, count))
	if err != nil {
		t.Fatalf("Launch after the crash: %v", err)
	}
	for key, n := range f.runs(t) {
		if n != 1 {
			t.Errorf("instance %s was launched %d times, want once: the surviving terraform was killed before it wrote its state", key, n)
		}
	}
	if live := f.live(t); !slices.Equal(live, idsOf(insts)) {
		t.Errorf("the cloud runs %v, the burst holds %v: what the surviving terraform created was leaked", live, idsOf(insts))
	}
	if left := f.leftBehind(t); len(left) != 0 {
		t.Errorf("processes of the killed server's run left running after the next run on its burst: %v", left)
	}
	if err := p.Terminate(testCtx(t), idsOf(insts)); err != nil {
		t.Fatal(err)
	}
	if live := f.live(t); len(live) != 0 {
		t.Errorf("after Terminate the cloud runs %v", live)
	}
}

// copyFile copies an executable.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o755); err != nil {
		t.Fatal(err)
	}
}
