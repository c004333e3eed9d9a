package scheduler_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/providers/aws"
	"github.com/spillway-io/spillway/scheduler"
	"github.com/spillway-io/spillway/state"
	"github.com/spillway-io/spillway/state/sqlite"
)

// The crash test runs the scheduler in a child process (this test binary,
// re-executed) against an emulator in the parent, and SIGKILLs it at random
// points of busy launching and terminating.
const (
	crashChildEnv  = "SPILLWAY_CRASH_CHILD"
	crashEC2Env    = "SPILLWAY_CRASH_EC2"
	crashDBEnv     = "SPILLWAY_CRASH_DB"
	crashDemandEnv = "SPILLWAY_CRASH_DEMAND"
	// CrashKillsEnv sets how many kills TestCrashSafety makes (make soak).
	crashKillsEnv = "SPILLWAY_CRASH_KILLS"
)

func crashPool() policy.Pool {
	p := testPool()
	p.WaitTarget = 0
	p.Interval = policy.Duration(100 * time.Millisecond)
	p.StaleAfter = policy.Duration(10 * time.Second)
	p.Limits.MaxGPUs = 48
	for i := range p.Offerings {
		p.Offerings[i].Boot = policy.Duration(200 * time.Millisecond)
		p.Offerings[i].Billing = policy.BillingPerSecond // no minimum: idle instances end within seconds
	}
	p.ScaleIn = policy.ScaleIn{Idle: policy.IdleSetting{Duration: time.Second}, DrainTimeout: policy.Duration(time.Second)}
	return p
}

// crashChild is the child's main: one scheduler ticking every 100ms until
// SIGTERM (exit 0) or SIGKILL.
func crashChild() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	fmt.Println("ready") // SIGTERM now ends the child cleanly
	level := slog.LevelWarn
	if os.Getenv("SPILLWAY_CRASH_DEBUG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	fail := func(err error) {
		if ctx.Err() != nil {
			os.Exit(0) // SIGTERM while starting (the parent saw nothing left to drain): a clean end
		}
		log.Error("child", "err", err)
		os.Exit(3)
	}
	cfg := config.ProviderConfig{
		Type: config.ProviderAWS, Region: "us-east-1", Endpoint: os.Getenv(crashEC2Env), Image: "ami-0abcdef1234567890",
		Subnets: []config.Subnet{{Zone: "us-east-1a", ID: "subnet-us-east-1a"}},
	}
	prov, err := aws.New(ctx, cfg, provName, aws.WithCredentials(staticCreds), aws.WithRetry(3, 10*time.Millisecond), aws.WithHTTPTimeout(2*time.Second))
	if err != nil {
		fail(err)
	}
	log.Debug("child started")
	st, err := sqlite.Open(ctx, os.Getenv(crashDBEnv))
	if err != nil {
		fail(err)
	}
	defer st.Close()
	client := &http.Client{Timeout: time.Second}
	snapshot := func(ctx context.Context) policy.Snapshot {
		s := policy.Snapshot{Time: time.Now(), OnPremGPUs: 8, OnPremBusyGPUs: 8}
		resp, err := client.Get(os.Getenv(crashDemandEnv))
		if err != nil {
			s.Stale = []string{err.Error()}
			return s
		}
		defer resp.Body.Close()
		var jobs []int
		if err := json.NewDecoder(resp.Body).Decode(&jobs); err != nil {
			s.Stale = []string{err.Error()}
			return s
		}
		for _, g := range jobs {
			s.PendingJobs++
			s.PendingGPUs += g
			s.PendingJobGPUs = append(s.PendingJobGPUs, g)
			s.PendingJobWaits = append(s.PendingJobWaits, time.Minute)
		}
		if len(jobs) > 0 {
			s.OldestWait = time.Minute
		}
		return s
	}
	sched, err := scheduler.New(scheduler.Options{
		Cluster: cluster, Providers: map[string]providers.Provider{provName: prov}, Store: st, Logger: log,
		Tick: 100 * time.Millisecond, SweepGrace: 3 * time.Second, CallTimeout: 10 * time.Second,
		Pools: []scheduler.Pool{{Policy: crashPool(), Snapshot: snapshot}},
	})
	if err != nil {
		fail(err)
	}
	log.Debug("child ticking")
	if err := sched.Run(ctx); err != nil {
		fail(err)
	}
}

func crashKills(t *testing.T) int {
	if s := os.Getenv(crashKillsEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number of kills", crashKillsEnv, s)
		}
		return n
	}
	return 50
}

func TestCrashSafetyNoDuplicateNoLeak(t *testing.T) {
	t.Parallel()
	kills := crashKills(t)
	emu := emulator.New(emulator.Options{BootDelay: 200 * time.Millisecond, FaultRate: 0.05, Latency: 20 * time.Millisecond, Seed: 11})
	ec2 := httptest.NewServer(emu.EC2Handler())
	defer ec2.Close()
	// The queue swings between a burst and nothing every 700ms, so the
	// servers keep launching and terminating.
	demands := []string{"[8,8,8]", "[8,8,8,8,8]", "[]", "[8]", "[8,8]"}
	var drained atomic.Bool
	began := time.Now()
	dsrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		phase := int(time.Since(began) / (700 * time.Millisecond))
		if drained.Load() || phase%2 == 1 {
			fmt.Fprint(w, "[]")
			return
		}
		fmt.Fprint(w, demands[(phase/2)%len(demands)])
	}))
	defer dsrv.Close()
	db := filepath.Join(t.TempDir(), "state.db")
	env := append(os.Environ(), crashChildEnv+"=1", crashEC2Env+"="+ec2.URL, crashDBEnv+"="+db, crashDemandEnv+"="+dsrv.URL)
	// start starts a child and waits (30s at most) until it is ready.
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = env
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start child: %v", err)
		}
		ready := make(chan error, 1)
		go func() {
			line, err := bufio.NewReader(out).ReadString('\n')
			if err == nil && line != "ready\n" {
				err = fmt.Errorf("first line %q, want ready", line)
			}
			ready <- err
			_, _ = io.Copy(io.Discard, out)
		}()
		select {
		case err := <-ready:
			if err != nil {
				t.Fatalf("child: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("child not ready after 30s")
		}
		return cmd
	}
	rng := rand.New(rand.NewPCG(7, 9))
	// The kills go on until an instance was launched (up to 4 times as
	// many): a child killed before its first launch call launches
	// nothing, an intent a killed child left is called only after the
	// providers' consistency window (2 minutes, longer than the kills
	// last), and a launch call may fault (FaultRate) or be killed mid-call,
	// so on a loaded machine the first call made need not launch
	// anything. Each kill point is a random time after the child is
	// ready: a child slow to start under load is not killed before it
	// runs.
	killed := 0
	for ; killed < kills || killed < 4*kills && len(launchedOf(emu)) == 0; killed++ {
		cmd := start()
		at := time.NewTimer(time.Duration(150+rng.IntN(900)) * time.Millisecond)
		<-at.C
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}
	launchedKilled := len(launchedOf(emu))

	// One last server, killed no more. Should the kills have launched
	// nothing (a machine so loaded that every child died first, mid-call
	// or before it), it keeps the demand until it has launched: the
	// intents the killed children left are resumed once the providers'
	// consistency window has passed, and what they launch is then
	// drained like the rest. Then the demand goes, it drains everything
	// and exits on SIGTERM (once it handles SIGTERM: sent earlier, it
	// kills the process).
	cmd := start()
	poll := func(what string, d time.Duration, done func() bool) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for !done() {
			select {
			case <-ctx.Done():
				t.Logf("%s: not within %s", what, d)
				return
			case <-tk.C:
			}
		}
	}
	if launchedKilled == 0 {
		poll("a launch by the last server", providers.ConsistencyWindow+time.Minute, func() bool { return len(launchedOf(emu)) > 0 })
	}
	drained.Store(true)
	poll("all instances ended", 90*time.Second, func() bool { return len(liveOf(emu)) == 0 })
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("server after SIGTERM: %v, want exit 0", err)
	}

	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	intents, err := st.Intents(context.Background(), state.IntentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	byIntent := map[string]int{}
	var launched int
	for _, in := range emu.Instances() {
		if tag(in, providers.TagCluster) == cluster {
			byIntent[tag(in, providers.TagIntent)]++
			launched++
		}
	}
	counts := map[string]int{}
	for _, in := range intents {
		counts[in.ID] = in.Count
	}
	for id, n := range byIntent {
		want, ok := counts[id]
		if !ok {
			t.Errorf("%d instances carry intent %q that state never recorded", n, id)
		} else if n > want {
			t.Errorf("intent %s asked for %d instances; the emulator launched %d: a duplicate", id, want, n)
		}
	}
	leaked := liveOf(emu)
	t.Logf("%d kills, %d intents, %d instances launched (%d while killing), %d RunInstances calls, %d leaked", killed, len(intents), launched, launchedKilled, emu.Calls("RunInstances"), len(leaked))
	if launched == 0 {
		t.Fatal("nothing was launched: the test did not exercise the scheduler")
	}
	if len(leaked) > 0 {
		t.Fatalf("leaked %d instances once demand was gone: %v", len(leaked), leaked)
	}
}

// launchedOf is every instance of the test's cluster the emulator
// launched, in any state.
func launchedOf(emu *emulator.Emulator) []string {
	var out []string
	for _, in := range emu.Instances() {
		if tag(in, providers.TagCluster) == cluster {
			out = append(out, in.ID)
		}
	}
	return out
}

func liveOf(emu *emulator.Emulator) []string {
	var out []string
	for _, in := range emu.Instances() {
		if (in.State == "pending" || in.State == "running") && tag(in, providers.TagCluster) == cluster {
			out = append(out, in.ID)
		}
	}
	return out
}
