package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/state"
	"github.com/spillway-io/spillway/state/sqlite"
)

// serverConfig is a config bursting into the emulator at ec2URL, with the
// queue read by the http source from queueURL.
func serverConfig(t *testing.T, ec2URL, queueURL string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`cluster: server-test
server:
  state: state.db
  tick: 100ms
providers:
  emu:
    type: aws
    region: us-east-1
    endpoint: %s
    subnets: [{zone: us-east-1a, id: subnet-us-east-1a}]
    image: ami-0123456789abcdef0
pools:
  - name: train
    onprem: {nodes: 1, gpus_per_node: 8}
    wait_target: 0s
    interval: 100ms
    offerings:
      - provider: emu
        instance_type: p4d.24xlarge
    limits: {max_gpus: 16}
    signals:
      demand:
        - type: http
          http:
            url: %s
            job_gpus: job_gpus
            oldest_wait_seconds: oldest_wait_seconds
`, ec2URL, queueURL)
	path := filepath.Join(dir, "spillway.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func startServerFixtures(t *testing.T) (*emulator.Emulator, string) {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "emulator")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "emulator")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	emu := emulator.New(emulator.Options{Seed: 5})
	ec2 := httptest.NewServer(emu.EC2Handler())
	t.Cleanup(ec2.Close)
	queue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"job_gpus": [8, 8], "oldest_wait_seconds": 600}`)
	}))
	t.Cleanup(queue.Close)
	return emu, serverConfig(t, ec2.URL, queue.URL)
}

// runFor runs the server until cond holds (or 30s pass), then stops it as
// SIGTERM does and returns its error.
func runFor(t *testing.T, o serverOptions, cond func() bool) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runServer(ctx, o) }()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() && time.Now().Before(deadline) {
		select {
		case err := <-done:
			cancel()
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	return <-done
}

func TestServerDryRunMakesNoMutatingCall(t *testing.T) {
	emu, cfg := startServerFixtures(t)
	err := runFor(t, serverOptions{config: cfg, dryRun: true, logLevel: "warn", listen: "127.0.0.1:0"}, func() bool { return emu.Calls("DescribeInstances") >= 5 })
	if err != nil {
		t.Fatalf("server --dry-run stopped with %v, want a clean exit", err)
	}
	for _, a := range []string{"RunInstances", "TerminateInstances"} {
		if n := emu.Calls(a); n != 0 {
			t.Fatalf("--dry-run made %d %s calls, want 0", n, a)
		}
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(filepath.Dir(cfg), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ds, err := st.Decisions(context.Background(), state.DecisionFilter{Pool: "train"})
	if err != nil || len(ds) == 0 || !ds[len(ds)-1].DryRun || !strings.Contains(ds[len(ds)-1].Summary, "dry run") {
		t.Fatalf("decisions = %+v (%v), want a recorded dry-run launch", ds, err)
	}
}

func TestServerBurstsAndStopsCleanly(t *testing.T) {
	emu, cfg := startServerFixtures(t)
	err := runFor(t, serverOptions{config: cfg, logLevel: "warn", listen: "127.0.0.1:0"}, func() bool { return len(emu.Instances()) >= 2 })
	if err != nil {
		t.Fatalf("server stopped with %v, want a clean exit after SIGTERM", err)
	}
	if n := len(emu.Instances()); n != 2 {
		t.Fatalf("a 16-GPU queue launched %d instances, want 2", n)
	}
}

func TestServerRefusesAConfigWithoutSignals(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spillway.yaml")
	cfg := `cluster: c
providers:
  emu: {type: aws, region: us-east-1, endpoint: "http://127.0.0.1:1", subnets: [{zone: us-east-1a, id: subnet-a}], image: ami-0123456789abcdef0}
pools:
  - name: train
    offerings: [{provider: emu, instance_type: p4d.24xlarge}]
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	err := runServer(context.Background(), serverOptions{config: path, logLevel: "warn"})
	if err == nil || !strings.Contains(err.Error(), "signals") {
		t.Fatalf("server on a pool without signals: %v, want a refusal naming signals", err)
	}
}

// TestServerStoppedWhileStarting: a SIGTERM that comes before the server
// has started (its config read, its state opened) is a clean stop, not a
// failure: exit 0, no instance touched.
func TestServerStoppedWhileStarting(t *testing.T) {
	emu, cfg := startServerFixtures(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := runServer(ctx, serverOptions{config: cfg, logLevel: "warn", listen: "127.0.0.1:0"}); err != nil {
		t.Fatalf("server stopped before it started: %v, want a clean exit", err)
	}
	if n := emu.Calls("RunInstances"); n != 0 {
		t.Fatalf("%d RunInstances calls from a server stopped before it started", n)
	}
}

// TestServerStopsPromptlyWhenTheCloudHangs: a stop while the cloud's list
// hangs (an endpoint that never answers) ends at once: read-only calls get
// no shutdown grace, only mutating calls in flight do. It used to wait
// out the SDK's attempts (each up to 30s), past the documented 60s.
func TestServerStopsPromptlyWhenTheCloudHangs(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "emulator")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "emulator")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	asked := make(chan struct{}, 1)
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case asked <- struct{}{}:
		default:
		}
		select { // never answers, until the test ends
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hang.Close()
	defer close(release)
	queue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"job_gpus": [8], "oldest_wait_seconds": 600}`)
	}))
	defer queue.Close()
	cfg := serverConfig(t, hang.URL, queue.URL)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- runServer(ctx, serverOptions{config: cfg, dryRun: true, logLevel: "error", listen: "127.0.0.1:0"})
	}()
	bound := time.NewTimer(30 * time.Second)
	defer bound.Stop()
	select {
	case <-asked:
	case err := <-done:
		t.Fatalf("server stopped before asking the cloud: %v", err)
	case <-bound.C:
		t.Fatal("the server never listed the cloud's instances")
	}
	cancel()
	// The bound is generous (the old wait was 30s per attempt) and far
	// below the 60s grace a hanging list used to run into.
	stopped := time.NewTimer(15 * time.Second)
	defer stopped.Stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("stop: %v, want a clean exit", err)
		}
	case <-stopped.C:
		t.Fatal("the server did not stop within 15s of its stop while the cloud's list hung")
	}
}

// SQLite has no leader lease: a second server pointed at the state file of
// one that runs refuses to start, naming the first, instead of acting
// beside it (sweeping, draining and launching on the same rows).
func TestSecondServerOnOneSQLiteFileRefusesToStart(t *testing.T) {
	_, path := startServerFixtures(t)
	cfg := loadConfig(t, path)
	startServer(t, cfg)

	ctx := t.Context()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	second, err := newServer(ctx, loadConfig(t, path), serverDeps{log: slog.New(slog.DiscardHandler), clock: clock.RealClock{}, listener: ln})
	if err == nil {
		second.close()
		t.Fatal("a second server on the same SQLite state started, want a refusal")
	}
	var locked *sqlite.LockedError
	if !errors.As(err, &locked) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second server: %v, want a *sqlite.LockedError naming pid %d", err, os.Getpid())
	}
}

// TestServerRefusesBadListenFlag: --listen is checked as server.listen is,
// before the state is opened: a bad one exits 2 naming the flag, and
// leaves no state file behind.
func TestServerRefusesBadListenFlag(t *testing.T) {
	cfg := serverConfig(t, "http://127.0.0.1:1", "http://127.0.0.1:1")
	stateFile := filepath.Join(filepath.Dir(cfg), "state.db")
	for _, tc := range []struct{ listen, want string }{
		{"127.0.0.1:99999", `spillway: --listen: listen address "127.0.0.1:99999": port "99999" is not a port number: want 1 to 65535`},
		{"garbage", `spillway: --listen: listen address "garbage" is not host:port`},
		{"example.com:8700", `spillway: --listen: listen address "example.com:8700": host "example.com" is not an IP address or localhost`},
		{"10.0.0.1:8700", `spillway: --listen: listen address "10.0.0.1:8700" (10.0.0.1) is not loopback and server.tls is not set`},
	} {
		err := runServer(context.Background(), serverOptions{config: cfg, listen: tc.listen, logLevel: "error"})
		var ee *exitCodeError
		if !errors.As(err, &ee) || ee.code != 2 || !strings.HasPrefix(ee.msg, tc.want) {
			t.Errorf("--listen %s: %v, want exit 2 with %q", tc.listen, err, tc.want)
		}
		if _, err := os.Stat(stateFile); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("--listen %s: the state file was opened before the flag was checked (%v)", tc.listen, err)
		}
	}
}

// TestServerRefusalsNameSpillway: a config the server will not start with
// (not there, not YAML, not valid) exits 2 with a message that starts
// "spillway: " as every other command's errors do, so a line in a log
// that collects stderr says whose it is, and names the file.
func TestServerRefusalsNameSpillway(t *testing.T) {
	dir := t.TempDir()
	notYAML := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(notYAML, []byte("pools: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.yaml")
	for _, tc := range []struct{ config, want string }{
		{missing, "spillway: " + missing + ": no such config file: "},
		{notYAML, "spillway: " + notYAML + ":1: invalid YAML"},
	} {
		err := runServer(context.Background(), serverOptions{config: tc.config, logLevel: "error"})
		code, msg := exitStatus(err)
		if code != 2 || !strings.HasPrefix(msg, tc.want) {
			t.Errorf("server --config %s: exit %d %q, want exit 2 with %q", tc.config, code, msg, tc.want)
		}
	}
}

// TestServerListenInUse: an address another program holds is named as
// the flag or field it came from (--listen or server.listen), with what to
// do, and the server exits 1.
func TestServerListenInUse(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	addr := held.Addr().String()
	cfg := serverConfig(t, "http://127.0.0.1:1", "http://127.0.0.1:1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = runServer(ctx, serverOptions{config: cfg, listen: addr, logLevel: "error"})
	code, msg := exitStatus(err)
	_, port, _ := net.SplitHostPort(addr)
	for _, want := range []string{
		"spillway: --listen " + addr + ": listen tcp " + addr + ": bind: address already in use",
		"another program (another spillway server?) listens there: stop it, or give another address (--listen or server.listen); ss -ltnp 'sport = :" + port + "' names it",
	} {
		if code != 1 || !strings.Contains(msg, want) {
			t.Errorf("--listen %s, held: exit %d %q, want exit 1 with %q", addr, code, msg, want)
		}
	}
}
