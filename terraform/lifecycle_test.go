package terraform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/terraform"
)

func launchRequest(burst, token string, count int) providers.LaunchRequest {
	return providers.LaunchRequest{
		Offering: offering, Count: count, ClientToken: token,
		Tags: map[string]string{
			providers.TagCluster: "lifecycle", providers.TagPool: "gpu",
			providers.TagBurst: burst, providers.TagIntent: token,
		},
		UserData: "#!/bin/sh\nspillway agent\n",
	}
}

func idsOf(insts []providers.Instance) []string {
	var out []string
	for _, in := range insts {
		out = append(out, in.ID)
	}
	slices.Sort(out)
	return out
}

func liveIDs(e *emulated) []string {
	var out []string
	for _, in := range e.live() {
		out = append(out, in.ID)
	}
	slices.Sort(out)
	return out
}

// noDeadlineBound bounds a test's calls when the test binary has no
// deadline (go test -timeout 0).
const noDeadlineBound = 10 * time.Minute

// testCtx is the context a test's calls run under. Each call runs
// Terraform, which takes seconds, and minutes on a loaded two-core CI
// machine running the whole suite: a fixed bound fails correct code there.
// So the calls are bounded by the test binary's own deadline (go test
// -timeout), less a tenth of the time left to report and clean up: a call
// that hangs still fails its test, with the call's error, before the
// binary's timeout panics. A test of what a deadline does sets its own
// (deadlineCtx).
func testCtx(t *testing.T) context.Context {
	bound := noDeadlineBound
	if deadline, ok := t.Deadline(); ok {
		left := time.Until(deadline)
		bound = left - left/10
	}
	return deadlineCtx(t, bound)
}

// deadlineCtx is a context that ends d from now.
func deadlineCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestParallelBurstsApplyOnSeparateStates(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startEmulator(t)
	work := t.TempDir()
	p := newProvider(t, e.config(t, work, 5*time.Second))

	const bursts = 4
	got := make([][]providers.Instance, bursts)
	errs := make([]error, bursts)
	var wg sync.WaitGroup
	for i := range bursts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = p.Launch(ctx, launchRequest(fmt.Sprintf("burst-%d", i), fmt.Sprintf("par-%d", i), 1+i%2))
		}()
	}
	wg.Wait()
	var all []string
	for i := range bursts {
		if errs[i] != nil {
			t.Fatalf("burst %d: %v", i, errs[i])
		}
		if len(got[i]) != 1+i%2 {
			t.Fatalf("burst %d launched %d instances, want %d", i, len(got[i]), 1+i%2)
		}
		all = append(all, idsOf(got[i])...)
	}
	slices.Sort(all)
	if live := liveIDs(e); !slices.Equal(live, all) {
		t.Fatalf("the emulator runs %v, the bursts launched %v", live, all)
	}
	states, err := filepath.Glob(filepath.Join(work, "bursts", "*", "terraform.tfstate"))
	if err != nil || len(states) != bursts {
		t.Fatalf("state files %v (%v), want one per burst (%d)", states, err, bursts)
	}

	// Ending burst 1 destroys its state's instances and nothing else.
	if err := p.Terminate(ctx, idsOf(got[1])); err != nil {
		t.Fatalf("Terminate burst 1: %v", err)
	}
	want := slices.DeleteFunc(slices.Clone(all), func(id string) bool { return slices.Contains(idsOf(got[1]), id) })
	if live := liveIDs(e); !slices.Equal(live, want) {
		t.Errorf("after ending burst 1 the emulator runs %v, want %v", live, want)
	}
	listed, err := p.List(ctx, providers.ListFilter{Cluster: "lifecycle"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(idsOf(listed), want) {
		t.Errorf("List = %v, want %v", idsOf(listed), want)
	}
	if err := p.Terminate(ctx, want); err != nil {
		t.Fatalf("Terminate the rest: %v", err)
	}
	if live := liveIDs(e); len(live) != 0 {
		t.Errorf("after ending every burst the emulator runs %v", live)
	}
}

func TestCancelledApplyIsCompletedByTheNextLaunch(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	work := t.TempDir()
	// Cancelled, Terraform must stop and write its state within its grace,
	// or it is killed and the state loses what it created: it takes a
	// second or two, the grace is generous for a loaded CI machine.
	p := newProvider(t, e.config(t, work, 5*time.Second), terraform.WithInterruptGrace(60*time.Second))
	req := launchRequest("cancel", "cancel-1", 2)

	// Every EC2 call takes a second: cancel once the apply has sent its
	// first RunInstances.
	e.emu.SetLatency(time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for e.emu.Calls("RunInstances") == 0 && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
		cancel()
	}()
	_, err := p.Launch(ctx, req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Launch cancelled mid-apply: err = %v, want context.Canceled", err)
	}
	e.emu.SetLatency(0)

	insts, err := p.Launch(testCtx(t), req)
	if err != nil {
		t.Fatalf("Launch again with the same token: %v", err)
	}
	if len(insts) != 2 {
		t.Fatalf("the resumed launch returned %d instances, want 2", len(insts))
	}
	if live := liveIDs(e); !slices.Equal(live, idsOf(insts)) {
		t.Errorf("the emulator runs %v, the resumed launch returned %v: the interrupted apply left a duplicate or lost one", live, idsOf(insts))
	}
	if err := p.Terminate(testCtx(t), idsOf(insts)); err != nil {
		t.Fatal(err)
	}
	if live := liveIDs(e); len(live) != 0 {
		t.Errorf("after Terminate the emulator runs %v", live)
	}
}

func TestFailingModuleSurfacesTerraformsOwnError(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	p := newProvider(t, terraform.Config{Module: "testdata/failing", Zones: zones, WorkDir: t.TempDir()})
	_, err := p.Launch(ctx, launchRequest("failing", "failing-1", 1))
	var re *terraform.RunError
	if !errors.As(err, &re) {
		t.Fatalf("Launch of a failing module: err = %v, want a *terraform.RunError", err)
	}
	for _, want := range []string{"local-exec provisioner error", "no GPU image is shared with this account", "exit status 3", `looking up the image \x1b[2K\r\x00`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not quote Terraform's %q: %v", want, err)
		}
	}
	// What the module printed is quoted with its control characters
	// escaped: the error reaches terminals, and a state that stores no NUL.
	if i := strings.IndexFunc(err.Error(), func(r rune) bool { return r < ' ' && r != '\n' && r != '\t' }); i >= 0 {
		t.Errorf("the error holds control character %q: %q", err.Error()[i], err)
	}
	if !providers.IsTransient(err) {
		t.Errorf("an unrecognised module failure is %T, want *providers.TransientError", err)
	}
	logged, rerr := os.ReadFile(re.Log)
	if rerr != nil || !bytes.Contains(logged, []byte("no GPU image is shared with this account")) {
		t.Errorf("the run's log %s does not hold Terraform's output (%v)", re.Log, rerr)
	}
	listed, err := p.List(ctx, providers.ListFilter{Cluster: "lifecycle"})
	if err != nil || len(listed) != 0 {
		t.Errorf("after a failed launch List = %v, %v; want nothing", listed, err)
	}
}

func TestNewRejectsAModuleOutsideTheContract(t *testing.T) {
	_, err := terraform.New("tf", terraform.Config{Module: "testdata/contract/no_output", Zones: zones, WorkDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), `declares no output "instances"`) {
		t.Errorf("New with a module without the instances output: err = %v", err)
	}
}

// stateServer is a Terraform http backend: state by path, and a lock that
// stays held until UNLOCK, as a remote backend's does when its holder dies.
type stateServer struct {
	// writeDelay makes each state write take this long; a write whose
	// client is gone by then is dropped, as a slow backend's would be.
	writeDelay time.Duration

	mu      sync.Mutex
	states  map[string][]byte
	locks   map[string][]byte
	unlocks int
}

func (s *stateServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Method == http.MethodPost && s.writeDelay > 0 {
		select {
		case <-time.After(s.writeDelay):
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name := r.URL.Path
	switch r.Method {
	case http.MethodGet:
		st, ok := s.states[name]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Write(st)
	case http.MethodPost:
		s.states[name] = body
	case http.MethodDelete:
		delete(s.states, name)
	case "LOCK":
		if held, ok := s.locks[name]; ok {
			w.WriteHeader(http.StatusLocked)
			w.Write(held)
			return
		}
		s.locks[name] = body
	case "UNLOCK":
		// Terraform's own unlock names the lock; force-unlock sends nothing.
		var info, held struct{ ID string }
		if len(body) > 0 && json.Unmarshal(body, &info) == nil && json.Unmarshal(s.locks[name], &held) == nil && info.ID != held.ID {
			w.WriteHeader(http.StatusConflict)
			return
		}
		delete(s.locks, name)
		s.unlocks++
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func (s *stateServer) held() (locks, unlocks int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.locks), s.unlocks
}

// crasherMain runs in a child process, a server the test stops: it
// launches CRASH_COUNT instances into burst CRASH_BURST with client token
// CRASH_TOKEN on the config in CRASH_CONFIG, with CRASH_MARK in the
// environment of what it runs (SPILLWAY_TEST_PROCS), on a context with the
// deadline CRASH_DEADLINE (Unix nanoseconds; none when empty) and the
// interrupt grace CRASH_GRACE (the provider's default when empty).
func crasherMain() int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "crasher:", err)
		return 2
	}
	var cfg terraform.Config
	if err := json.Unmarshal([]byte(os.Getenv("CRASH_CONFIG")), &cfg); err != nil {
		return fail(err)
	}
	count, err := strconv.Atoi(os.Getenv("CRASH_COUNT"))
	if err != nil {
		return fail(err)
	}
	opts := []terraform.Option{terraform.WithEnv(map[string]string{testProcsEnv: os.Getenv("CRASH_MARK")})}
	if bin := os.Getenv("CRASH_BINARY"); bin != "" {
		opts = append(opts, terraform.WithBinary(bin))
	}
	if s := os.Getenv("CRASH_GRACE"); s != "" {
		grace, err := time.ParseDuration(s)
		if err != nil {
			return fail(err)
		}
		opts = append(opts, terraform.WithInterruptGrace(grace))
	}
	ctx := context.Background()
	if s := os.Getenv("CRASH_DEADLINE"); s != "" {
		ns, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fail(err)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Unix(0, ns))
		defer cancel()
	}
	p, err := terraform.New("crasher", cfg, opts...)
	if err != nil {
		return fail(err)
	}
	_, err = p.Launch(ctx, launchRequest(os.Getenv("CRASH_BURST"), os.Getenv("CRASH_TOKEN"), count))
	fmt.Fprintln(os.Stderr, "the crasher's launch returned:", err)
	return 1
}

// startCrasher starts crasherMain on cfg with env (CRASH_* settings) and
// returns it with a channel that receives its exit.
func startCrasher(t *testing.T, cfg terraform.Config, env ...string) (*exec.Cmd, <-chan error, *bytes.Buffer) {
	t.Helper()
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	crasher := exec.Command(os.Args[0], "-test.run=^$")
	crasher.Env = append(append(os.Environ(), "SPILLWAY_TF_CRASHER=1", "CRASH_CONFIG="+string(data)), env...)
	var stderr bytes.Buffer
	crasher.Stderr = &stderr
	if err := crasher.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- crasher.Wait() }()
	return crasher, exited, &stderr
}

func TestStaleLockOfAKilledRunIsReleased(t *testing.T) {
	t.Parallel()
	st := &stateServer{states: map[string][]byte{}, locks: map[string][]byte{}}
	srv := httptest.NewServer(st)
	t.Cleanup(srv.Close)
	work := t.TempDir()
	hold, started := filepath.Join(work, "hold"), filepath.Join(work, "started")
	addr := srv.URL + "/state/{burst}"
	cfg := terraform.Config{
		Module: "testdata/httpstate", Zones: zones, WorkDir: work,
		Variables:     map[string]any{"hold": hold, "started": started},
		BackendConfig: map[string]string{"address": addr, "lock_address": addr, "unlock_address": addr},
	}
	if err := os.WriteFile(hold, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(hold) }) // lets the orphaned provisioner go
	crasher, exited, stderr := startCrasher(t, cfg, "CRASH_BURST=stale", "CRASH_TOKEN=stale-1", "CRASH_COUNT=1")
	waited := testCtx(t)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for ok := false; !ok; {
		select {
		case err := <-exited:
			t.Fatalf("the crasher exited before its apply started (%v): %s", err, stderr.String())
		case <-waited.Done():
			crasher.Process.Kill()
			<-exited
			t.Fatalf("the crasher's apply never started: %s", stderr.String())
		case <-tick.C:
			_, err := os.Stat(started)
			ok = err == nil
		}
	}
	if locks, _ := st.held(); locks != 1 {
		t.Fatalf("the crasher's apply holds %d state locks, want 1", locks)
	}
	// Kill the crasher mid-apply; its Terraform dies with it (parent-death
	// signal) and never releases the backend's lock.
	crasher.Process.Kill()
	<-exited
	os.Remove(hold)

	p := newProvider(t, cfg)
	insts, err := p.Launch(testCtx(t), launchRequest("stale", "stale-1", 1))
	if err != nil {
		t.Fatalf("Launch after the crash: %v", err)
	}
	if len(insts) != 1 {
		t.Fatalf("Launch after the crash returned %d instances, want 1", len(insts))
	}
	locks, unlocks := st.held()
	if locks != 0 || unlocks < 2 {
		t.Errorf("after the recovered launch: %d locks held, %d unlocks; want none held, the force-unlock and the run's own", locks, unlocks)
	}
	unlockLogs, _ := filepath.Glob(filepath.Join(work, "bursts", "*", ".spillway", "runs", "*-force-unlock.log"))
	if len(unlockLogs) != 1 {
		t.Errorf("force-unlock ran %d times, want once", len(unlockLogs))
	}
	// Ending the burst's last instance pulls its remote state to see that
	// it holds something to destroy, then destroys it. (The launch's apply
	// pulled it once too, to count the instances it holds.)
	runs := func(op string) int {
		logs, _ := filepath.Glob(filepath.Join(work, "bursts", "*", ".spillway", "runs", "*-"+op+".log"))
		return len(logs)
	}
	pulled := runs("state-pull")
	if err := p.Terminate(testCtx(t), idsOf(insts)); err != nil {
		t.Fatalf("Terminate %v: %v", idsOf(insts), err)
	}
	if n := runs("state-pull") - pulled; n != 1 {
		t.Errorf("state-pull ran %d times to end the burst, want once", n)
	}
	if n := runs("destroy"); n != 1 {
		t.Errorf("destroy ran %d times, want once", n)
	}
	if listed, err := p.List(testCtx(t), providers.ListFilter{Cluster: "lifecycle"}); err != nil || len(listed) != 0 {
		t.Errorf("List after Terminate = %v, %v; want nothing", idsOf(listed), err)
	}
}

// An instance ended outside Terraform is seen by a refresh-only plan:
// Refresh reports it gone, List stops reporting it, and ending the burst
// later does not trip over it.
func TestRefreshSeesInstancesGoneFromTheCloud(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startEmulator(t)
	requested := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	p := newProvider(t, e.config(t, t.TempDir(), 5*time.Second), terraform.WithClock(func() time.Time { return requested }))
	insts, err := p.Launch(ctx, launchRequest("drift", "drift-1", 2))
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	for _, in := range insts {
		if !in.LaunchTime.Equal(requested) {
			t.Errorf("instance %s LaunchTime = %v, want the injected clock's %v", in.ID, in.LaunchTime, requested)
		}
	}
	if drift, err := p.Refresh(ctx, "lifecycle"); err != nil || len(drift) != 0 {
		t.Fatalf("Refresh before any drift = %+v, %v; want none", drift, err)
	}
	gone, kept := insts[0].ID, insts[1].ID
	client := ec2.New(ec2.Options{Region: region, Credentials: staticCreds(), BaseEndpoint: awssdk.String(e.srv.URL)})
	if _, err := client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{gone}}); err != nil {
		t.Fatal(err)
	}
	drift, err := p.Refresh(ctx, "lifecycle")
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if len(drift) != 1 || !slices.Equal(drift[0].Gone, []string{gone}) {
		t.Fatalf("Refresh = %+v, want one burst with %s gone", drift, gone)
	}
	listed, err := p.List(ctx, providers.ListFilter{Cluster: "lifecycle"})
	if err != nil || !slices.Equal(idsOf(listed), []string{kept}) {
		t.Fatalf("List after the refresh = %v, %v; want only %s", idsOf(listed), err, kept)
	}
	if err := p.Terminate(ctx, []string{kept}); err != nil {
		t.Fatalf("Terminate the rest: %v", err)
	}
	if live := liveIDs(e); len(live) != 0 {
		t.Errorf("the emulator still runs %v", live)
	}
}

// A Terminate whose apply fails leaves the burst dirty; Reconcile applies
// it again once the cloud answers, and the instance ends.
func TestReconcileRepairsAFailedApply(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	e := startEmulator(t)
	p := newProvider(t, e.config(t, t.TempDir(), 5*time.Second))
	insts, err := p.Launch(ctx, launchRequest("repair", "repair-1", 2))
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	victim := insts[0].ID

	e.emu.SetFaultRate(1)
	err = p.Terminate(ctx, []string{victim})
	var re *terraform.RunError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "InternalError") && !strings.Contains(err.Error(), "ServiceUnavailable") {
		t.Fatalf("Terminate while every EC2 call fails: err = %v, want Terraform's error quoting EC2's 5xx", err)
	}
	e.emu.SetFaultRate(0)
	if live := liveIDs(e); !slices.Contains(live, victim) {
		t.Fatalf("the failed Terminate ended %s anyway (live: %v); the case proves nothing", victim, live)
	}
	if err := p.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if live := liveIDs(e); !slices.Equal(live, []string{insts[1].ID}) {
		t.Errorf("after Reconcile the emulator runs %v, want only %s", live, insts[1].ID)
	}
	listed, err := p.List(ctx, providers.ListFilter{Cluster: "lifecycle"})
	if err != nil || !slices.Equal(idsOf(listed), []string{insts[1].ID}) {
		t.Errorf("List after Reconcile = %v, %v; want only %s", idsOf(listed), err, insts[1].ID)
	}
	// Nothing is left to repair.
	if err := p.Reconcile(ctx); err != nil {
		t.Errorf("second Reconcile: %v", err)
	}
}

// A module snapshot removed from the work dir (by hand, or a clean-up of
// what looked like a cache) is made and initialised again by the next run
// on any burst, by this provider or one made after a restart: the bursts'
// .terraform links point at it, and without it no burst could plan, so
// none of its instances could be ended.
func TestRemovedModuleSnapshotIsMadeAgain(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	work, live := t.TempDir(), t.TempDir()
	cfg := terraform.Config{Module: "testdata/childmodule", Region: region, Zones: zones, WorkDir: work, Variables: map[string]any{"live": live}}
	p := newProvider(t, cfg)
	first, err := p.Launch(ctx, launchRequest("snap", "snap-1", 1))
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	second, err := p.Launch(ctx, launchRequest("snap", "snap-2", 1))
	if err != nil {
		t.Fatalf("second Launch: %v", err)
	}
	if err := os.RemoveAll(filepath.Join(work, "modules")); err != nil {
		t.Fatal(err)
	}
	if err := p.Terminate(ctx, idsOf(first)); err != nil {
		t.Fatalf("Terminate after the module snapshot was removed: %v", err)
	}
	if err := os.RemoveAll(filepath.Join(work, "modules")); err != nil {
		t.Fatal(err)
	}
	restarted := newProvider(t, cfg)
	if err := restarted.Terminate(ctx, idsOf(second)); err != nil {
		t.Fatalf("Terminate by a provider made after the snapshot was removed again: %v", err)
	}
	if left := liveFiles(t, live); len(left) != 0 {
		t.Errorf("the module's instances %v still exist", left)
	}
	listed, err := restarted.List(ctx, providers.ListFilter{Cluster: "lifecycle"})
	if err != nil || len(listed) != 0 {
		t.Errorf("List = %v, %v; want nothing", idsOf(listed), err)
	}
}

// A burst whose local state file was removed by hand, or left empty, is
// not applied (before, an emptied one was: the launch's instance was
// launched again and Terminate forgot the first, still running): a
// plan from no state would launch its instances again and leave the ones
// the state held running untracked. The runs fail, naming the state file
// and the instances, until the state is restored.
func TestBurstWhoseStateWasRemovedIsNotApplied(t *testing.T) {
	t.Parallel()
	// An emptied state file (0 bytes, what a crash while Terraform wrote
	// it can leave) is read by Terraform as no state, as a removed one.
	lost := func(gone string) func(path, id string) string {
		return func(path, id string) string {
			return fmt.Sprintf("its Terraform state %s %s, yet its ledger lists instances %q", path, gone, id)
		}
	}
	for _, tc := range []struct {
		name string
		lose func(path string) error
		want func(path, id string) string
	}{
		{"removed", os.Remove, lost("is gone")},
		{"emptied", func(path string) error { return os.WriteFile(path, nil, 0o600) },
			lost("is empty (0 bytes, which Terraform reads as no state: a crash while it was written?)")},
		// Terraform refuses a state it cannot parse as an error acquiring
		// the state lock, suggesting -lock=false: the error says what is
		// wrong instead.
		{"damaged", func(path string) error { return os.WriteFile(path, []byte("not a state{"), 0o600) },
			func(path, id string) string {
				return fmt.Sprintf("the burst's Terraform state %s cannot be read (damaged, or edited by hand), and no lock is at fault: "+
					"every run on the burst fails, its instances neither launched nor ended, until the state is restored (from %[1]s.backup", path)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stateLostIsNotApplied(t, tc.lose, tc.want)
		})
	}
}

// stateLostIsNotApplied launches into a burst, loses its state file with
// lose, and checks that no run on the burst is made until it is restored.
func stateLostIsNotApplied(t *testing.T, lose func(path string) error, wantErr func(path, id string) string) {
	ctx := testCtx(t)
	work := t.TempDir()
	p, live := badOutput(t, work, "good")
	first, err := p.Launch(ctx, launchRequest("lost", "lost-1", 1))
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	dirs, err := filepath.Glob(filepath.Join(work, "bursts", "lost-*"))
	if err != nil || len(dirs) != 1 {
		t.Fatalf("burst directories %v, %v; want one", dirs, err)
	}
	statePath := filepath.Join(dirs[0], "terraform.tfstate")
	saved, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	if err := lose(statePath); err != nil {
		t.Fatal(err)
	}
	want := wantErr(statePath, first[0].ID)
	if _, err := p.Launch(ctx, launchRequest("lost", "lost-2", 1)); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Launch into the burst without its state: err = %v, want it to say %s", err, want)
	}
	if err := p.Terminate(ctx, idsOf(first)); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Terminate without the state: err = %v, want it to say %s", err, want)
	}
	if left := liveFiles(t, live); !slices.Equal(left, []string{instanceKey("lost-1", 0)}) {
		t.Errorf("the module's instances are %v, want only the first launch's %s (nothing launched again)", left, instanceKey("lost-1", 0))
	}

	if err := os.WriteFile(statePath, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.Terminate(ctx, idsOf(first)); err != nil {
		t.Fatalf("Terminate with the state restored: %v", err)
	}
	if err := p.Reconcile(ctx); err != nil {
		t.Errorf("Reconcile with the state restored: %v", err)
	}
	if left := liveFiles(t, live); len(left) != 0 {
		t.Errorf("with the state restored and every instance ended, the module's instances %v still exist", left)
	}
}

// A module that removes its own state during a burst's first launch, and
// fails that apply, leaves instances no output ever listed: the launch's
// clean-up cannot destroy them (a destroy from no state ends nothing), so
// the burst is not forgotten as if empty. Reconcile reports it, naming the
// state file and what the apply created, once (the burst is held: later
// sweeps would only say it again), and no later launch into the burst
// runs Terraform from no state.
func TestFirstLaunchWhoseModuleRemovedItsStateIsNotForgotten(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	work := t.TempDir()
	p, live := badOutput(t, work, "lose")
	if insts, err := p.Launch(ctx, launchRequest("lose", "lose-1", 1)); err == nil {
		t.Fatalf("Launch through a module failing its apply = %v; want an error", idsOf(insts))
	}
	made := instanceKey("lose-1", 0)
	if left := liveFiles(t, live); !slices.Equal(left, []string{made}) {
		t.Fatalf("the module's instances are %v; want %s, which its failed apply made", left, made)
	}
	dirs, err := filepath.Glob(filepath.Join(work, "bursts", "lose-*"))
	if err != nil || len(dirs) != 1 {
		t.Fatalf("burst directories %v, %v; want one", dirs, err)
	}
	want := []string{fmt.Sprintf("its Terraform state %s is gone, yet its last failed apply created", filepath.Join(dirs[0], "terraform.tfstate")), fmt.Sprintf(`terraform_data.instance[\"%s\"] (id `, made)}
	err = p.Reconcile(ctx)
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Reconcile: err = %v, want it to say %s", err, w)
		}
	}
	if err := p.Reconcile(ctx); err != nil {
		t.Errorf("the second Reconcile: %v, want nil: the first said the burst is held", err)
	}
	if _, err := p.Launch(ctx, launchRequest("lose", "lose-2", 1)); err == nil || !strings.Contains(err.Error(), want[0]) {
		t.Errorf("Launch into the burst without its state: err = %v, want it to say %s", err, want[0])
	}
	if left := liveFiles(t, live); !slices.Equal(left, []string{made}) {
		t.Errorf("the module's instances are %v, want only %s (nothing launched again)", left, made)
	}
}

// A burst ledger that cannot be read (corrupt on disk) fails List and
// Describe, naming the file and how to recover: listing the other bursts
// alone would make its instances look gone, and the scheduler would forget
// them. Launches into other bursts, and Terminate and Reconcile of them,
// go on; an id no readable ledger holds is not reported ended.
func TestCorruptLedgerFailsListButNotOtherBursts(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	work := t.TempDir()
	p, live := badOutput(t, work, "good")
	kept, err := p.Launch(ctx, launchRequest("kept", "kept-1", 1))
	if err != nil {
		t.Fatalf("Launch into burst kept: %v", err)
	}
	broken, err := p.Launch(ctx, launchRequest("broken", "broken-1", 1))
	if err != nil {
		t.Fatalf("Launch into burst broken: %v", err)
	}
	dirs, err := filepath.Glob(filepath.Join(work, "bursts", "broken-*"))
	if err != nil || len(dirs) != 1 {
		t.Fatalf("burst directories %v, %v; want one", dirs, err)
	}
	ledgerPath := filepath.Join(dirs[0], ".spillway", "ledger.json")
	saved, err := os.ReadFile(ledgerPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ledgerPath, saved[:len(saved)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	wantErr := []string{"burst ledger " + ledgerPath + " is corrupt", "terraform output instances", dirs[0]}
	says := func(err error) bool {
		for _, w := range wantErr {
			if err == nil || !strings.Contains(err.Error(), w) {
				return false
			}
		}
		return true
	}
	if listed, err := p.List(ctx, providers.ListFilter{Cluster: "lifecycle"}); !says(err) || listed != nil {
		t.Errorf("List with a corrupt ledger = %v, %v; want no instances and an error saying %q", idsOf(listed), err, wantErr)
	}
	if described, err := p.Describe(ctx, idsOf(kept)); !says(err) || described != nil {
		t.Errorf("Describe with a corrupt ledger = %v, %v; want no instances and an error saying %q", idsOf(described), err, wantErr)
	}

	other, err := p.Launch(ctx, launchRequest("other", "other-1", 1))
	if err != nil || len(other) != 1 {
		t.Fatalf("Launch into another burst with a corrupt ledger = %v, %v; want 1 instance", idsOf(other), err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := p.Terminate(cancelled, idsOf(kept)); !errors.Is(err, context.Canceled) {
		t.Errorf("Terminate %v on a cancelled context = %v, want context.Canceled (not reported ended)", idsOf(kept), err)
	}
	if err := p.Terminate(ctx, idsOf(kept)); err != nil {
		t.Errorf("Terminate %v, held by a readable ledger: %v", idsOf(kept), err)
	}
	if err := p.Terminate(ctx, append(idsOf(other), "tf-unknown")); !says(err) || !strings.Contains(err.Error(), `instances "tf-unknown" are in no burst ledger that can be read`) {
		t.Errorf("Terminate of an id no readable ledger holds = %v; want it not reported ended, naming the corrupt ledger", err)
	}
	if err := p.Reconcile(ctx); !says(err) {
		t.Errorf("Reconcile with a corrupt ledger = %v; want an error saying %q", err, wantErr)
	}
	if left := liveFiles(t, live); !slices.Equal(left, []string{instanceKey("broken-1", 0)}) {
		t.Errorf("the module's instances are %v, want only the corrupt burst's %s", left, instanceKey("broken-1", 0))
	}

	if err := os.WriteFile(ledgerPath, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	listed, err := p.List(ctx, providers.ListFilter{Cluster: "lifecycle"})
	if err != nil || !slices.Equal(idsOf(listed), idsOf(broken)) {
		t.Errorf("List with the ledger restored = %v, %v; want %v", idsOf(listed), err, idsOf(broken))
	}
}

// A module whose files are links to files shared with other modules runs
// as it reads: the snapshot every burst is made from holds what the links
// point to (it held none of them, and every plan failed for want of
// configuration, or ran a module without its linked parts).
func TestModuleOfLinkedFilesIsSnapshotWhole(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	live := t.TempDir()
	p := newProvider(t, terraform.Config{
		Module: "testdata/linked", Region: region, Zones: zones, WorkDir: t.TempDir(),
		Variables: map[string]any{"mode": "good", "live": live},
	})
	insts, err := p.Launch(ctx, launchRequest("linked", "linked-1", 1))
	if err != nil || len(insts) != 1 {
		t.Fatalf("Launch through a module whose main.tf is a link = %v, %v; want 1 instance", idsOf(insts), err)
	}
	if left := liveFiles(t, live); !slices.Equal(left, []string{instanceKey("linked-1", 0)}) {
		t.Errorf("the module's instances are %v, want %s", left, instanceKey("linked-1", 0))
	}
	if err := p.Terminate(ctx, idsOf(insts)); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	if left := liveFiles(t, live); len(left) != 0 {
		t.Errorf("after Terminate the module's instances %v still exist", left)
	}
}
