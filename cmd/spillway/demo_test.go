package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/internal/speedclock"
)

// The demo tests run `spillway demo` in a child process (this test binary
// re-executed), as a user would: a demo that leaves anything behind then
// shows as a port still open or a process still there.
const demoChildEnv = "SPILLWAY_DEMO_CHILD_ARGS"

// TestDemoChildProcess is the child: it runs main with the arguments in
// $SPILLWAY_DEMO_CHILD_ARGS and is a no-op otherwise.
func TestDemoChildProcess(t *testing.T) {
	args := os.Getenv(demoChildEnv)
	if args == "" {
		return
	}
	os.Args = append([]string{"spillway"}, strings.Split(args, "\x1f")...)
	main()
}

// demoChild returns the command running `spillway ARGS` in a child, and
// the (empty) TMPDIR it is given.
func demoChild(t *testing.T, env []string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	tmp := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDemoChildProcess$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), demoChildEnv+"="+strings.Join(args, "\x1f"), "TMPDIR="+tmp), env...)
	return cmd, tmp
}

// startDemo starts a short demo (demoFast) in a child, killed at the
// test's end, and returns it, its output, its error output and its TMPDIR.
func startDemo(t *testing.T) (*exec.Cmd, io.ReadCloser, *syncBuffer, string) {
	t.Helper()
	cmd, tmp := demoChild(t, nil, append([]string{"demo"}, demoFast...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, stdout, stderr, tmp
}

// demoChromium finds Debian's chromium (or $SPILLWAY_CHROMIUM); the test
// fails, never skips, without it (.ci/run installs it).
func demoChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SPILLWAY_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found (chromium, chromium-browser or google-chrome on PATH, or $SPILLWAY_CHROMIUM): install Debian's chromium package")
	return ""
}

// demoFast are the flags of a short demo: at 1200× from 13:00 on the
// trace's second day, the queue outgrows the two on-prem nodes within the
// first simulated hour.
var demoFast = []string{"--listen", "127.0.0.1:0", "--speed", "1200", "--start", "37h"}

// TestDemoForJSON runs `spillway demo --for 6s --json` (two simulated hours
// and a quarter): a burst is launched, takes jobs and is torn down, a
// stock-out falls back to the next offering, and nothing is left on the
// emulated clouds.
func TestDemoForJSON(t *testing.T) {
	t.Parallel() // it waits on its child's accelerated clock, as the page test does
	cmd, tmp := demoChild(t, nil, append([]string{"demo", "--for", "6s", "--json"}, demoFast...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("spillway demo: %v\nstderr:\n%s", err, stderr.String())
	}
	var sum demoSummary
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sum); err != nil {
		t.Fatalf("summary %q: %v", out, err)
	}
	t.Logf("summary: %+v", sum)
	for _, c := range []struct {
		what string
		got  int
	}{
		{"launches", sum.Launches}, {"terminations", sum.Terminations}, {"jobs_on_cloud", sum.JobsOnCloud},
		{"max_cloud_gpus", sum.MaxCloudGPUs}, {"fallbacks", sum.Fallbacks}, {"decisions", sum.Decisions},
	} {
		if c.got < 1 {
			t.Errorf("%s = %d, want at least 1\nstderr:\n%s", c.what, c.got, stderr.String())
		}
	}
	if sum.Leaked != 0 || sum.Terminations != sum.Launches {
		t.Errorf("leaked %d, %d launched and %d terminated: want every burst instance torn down", sum.Leaked, sum.Launches, sum.Terminations)
	}
	if sum.SpendUSD <= 0 || sum.WaitP95S <= 0 || sum.SimulatedS < 6*1200 {
		t.Errorf("spend $%v, wait p95 %vs over %vs simulated: want positive spend and waits over at least 2h", sum.SpendUSD, sum.WaitP95S, sum.SimulatedS)
	}
	for _, want := range []string{"decision  launch", "cluster: node up", "joined", "draining", "terminating"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("live lines lack %q:\n%s", want, stderr.String())
		}
	}
	checkREADMEDemoLines(t, stderr.String())
	if ents, err := os.ReadDir(tmp); err != nil || sum.Dir != "" || len(ents) > 0 {
		t.Errorf("the demo left %v in its TMPDIR (summary dir %q, %v) without --keep", ents, sum.Dir, err)
	}
}

var (
	bannerURL   = regexp.MustCompile(`status page +(http://\S+)`)
	bannerToken = regexp.MustCompile(`operator token +(\S+)`)
	bannerDir   = regexp.MustCompile(`directory +(\S+)`)
)

// TestDemoPageCLIAndSIGINT starts `spillway demo` as a user would, runs
// the operator CLI commands it prints against it, watches its status page
// in a real headless Chromium until a burst instance shows (keeping a
// screenshot), then sends SIGINT: the demo exits 0 and leaves no listening
// port (page, clouds, agents, queue), no child process and no directory.
func TestDemoPageCLIAndSIGINT(t *testing.T) {
	t.Parallel() // it waits on its child and Chromium, as TestDemoForJSON does
	bin := demoChromium(t)
	cmd, stdout, stderr, _ := startDemo(t)
	exited := make(chan error, 1)

	// The banner: page URL, token and directory.
	var pageURL, tok, dir string
	var banner strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && (pageURL == "" || tok == "" || dir == "") {
		line := sc.Text()
		banner.WriteString(line + "\n")
		if m := bannerURL.FindStringSubmatch(line); m != nil {
			pageURL = m[1]
		}
		if m := bannerToken.FindStringSubmatch(line); m != nil {
			tok = m[1]
		}
		if m := bannerDir.FindStringSubmatch(line); m != nil {
			dir = m[1]
		}
	}
	if pageURL == "" || tok == "" || dir == "" {
		t.Fatalf("no banner with the page URL, token and directory:\n%s\nstderr:\n%s", banner.String(), stderr.String())
	}
	var rest syncBuffer
	go func() {
		_, _ = io.Copy(&rest, stdout)
		exited <- cmd.Wait()
	}()

	// Every address the demo listens on, from the config it wrote.
	cfg, err := config.Load(filepath.Join(dir, "spillway.yaml"))
	if err != nil {
		t.Fatalf("the demo's config: %v", err)
	}
	addrs := []string{cfg.Server.Listen, hostOf(t, cfg.Providers["emu-aws"].Endpoint), hostOf(t, cfg.Providers["emu-ali"].Endpoint)}
	for _, u := range cfg.Pools[0].Signals.Baseline.Agents.URLs {
		addrs = append(addrs, hostOf(t, u))
	}
	addrs = append(addrs, hostOf(t, cfg.Pools[0].Signals.Demand[0].HTTP.URL))

	// The operator CLI, as the banner prints it.
	server := strings.TrimSuffix(pageURL, "/")
	cli := func(args ...string) string {
		c, _ := demoChild(t, []string{"SPILLWAY_SERVER=" + server, "SPILLWAY_TOKEN=" + tok}, args...)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("spillway %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := cli("status"); !strings.Contains(out, "training") {
		t.Errorf("spillway status does not show the pool:\n%s", out)
	}
	if out := cli("burst", "create", "--pool", "training", "--gpus", "8", "--for", "2h", "--reason", "demo drill"); !strings.Contains(out, "b-") {
		t.Errorf("spillway burst create printed no burst id:\n%s", out)
	}
	if out := cli("burst", "list"); !strings.Contains(out, "demo drill") {
		t.Errorf("spillway burst list does not show the burst:\n%s", out)
	}

	// The page, in Chromium, until a burst instance is on it.
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1600))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	defer cancelT()
	var text string
	poll := time.NewTicker(200 * time.Millisecond)
	defer poll.Stop()
	for !strings.Contains(text, "p5.48xlarge") {
		if err := chromedp.Do(ctx, chromedp.Navigate(pageURL), chromedp.WaitVisible(chromedp.ID("pool-training"))); err != nil {
			t.Fatalf("status page %s: %v\nstderr:\n%s", pageURL, err, stderr.String())
		}
		if text, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main"))); err != nil {
			t.Fatalf("status page %s: %v", pageURL, err)
		}
		if strings.Contains(text, "p5.48xlarge") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("status page %s: no burst instance shown: %v\nlast page:\n%s\nstderr:\n%s", pageURL, ctx.Err(), text, stderr.String())
		case <-poll.C:
		}
	}
	// A burst instance is on the page, so a launch was decided.
	if out := cli("decisions"); !strings.Contains(out, "launch") {
		t.Errorf("spillway decisions does not show a launch:\n%s", out)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(t.TempDir(), "demo-page.png")
	if d := os.Getenv("SPILLWAY_ARTIFACTS"); d != "" {
		shot = filepath.Join(d, "demo-page.png")
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the demo's page: %s", shot)
	cancel()
	cancelAlloc()

	// The demo starts no child process: everything runs inside it.
	if kids := childrenOf(t, cmd.Process.Pid); len(kids) > 0 {
		t.Errorf("the demo has child processes %v", kids)
	}
	// Burst agents listen at the instances' private addresses.
	for _, m := range regexp.MustCompile(`agent=(127\.\d+\.\d+\.\d+:\d+)`).FindAllStringSubmatch(rest.String(), -1) {
		addrs = append(addrs, m[1])
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the demo exited with %v after SIGINT\nstderr:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the demo did not exit within 30s of SIGINT\nstderr:\n%s", stderr.String())
	}
	for _, a := range addrs {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after the demo exited", a)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the demo's directory %s is still there (%v)", dir, err)
	}
	if !strings.Contains(rest.String(), "stopping") {
		t.Errorf("no stopping line after SIGINT:\n%s", rest.String())
	}
	// Stopped before tearing its burst down, the demo does not report the
	// instances running then as left behind (they end with the emulator).
	if strings.Contains(rest.String(), "had not terminated") || !strings.Contains(rest.String(), "left on the cloud") {
		t.Errorf("the summary after SIGINT reports a leak, or no count:\n%s", rest.String())
	}
}

func hostOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		t.Fatalf("URL %q: %v", raw, err)
	}
	return u.Host
}

// childrenOf lists the pids of pid's child processes (Linux /proc).
func childrenOf(t *testing.T, pid int) []string {
	t.Helper()
	tasks, err := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "children"))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no /proc task list for pid %d: %v", pid, err)
	}
	var kids []string
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		kids = append(kids, strings.Fields(string(b))...)
	}
	return kids
}

// syncBuffer is a bytes.Buffer written by one goroutine and read by another.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDemoInProcessLeavesNoGoroutine runs the demo in this process until
// its page is ready, cancels it as Ctrl-C does, and checks that every
// goroutine it started (server, scheduler, emulator, cluster, agents) has
// ended.
func TestDemoInProcessLeavesNoGoroutine(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &bannerWatch{ready: make(chan struct{})}
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runDemo(ctx, demoOptions{speed: 1200, start: 37 * time.Hour, listen: "127.0.0.1:0", onprem: 2, logLevel: "debug"}, io.MultiWriter(w, &out), io.Discard)
	}()
	select {
	case <-w.ready:
	case err := <-done:
		t.Fatalf("the demo stopped before its page was ready: %v", err)
	}
	// Stop it with work under way: once the server has decided and a
	// burst instance has come up or is being launched.
	if !waitFor(30*time.Second, func() bool {
		s := out.String()
		return strings.Contains(s, "decision") && strings.Contains(s, "launch")
	}) {
		t.Fatalf("no decision and launch within 30s; output:\n%s", out.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("demo: %v", err)
	}
	goleak.VerifyNone(t, opt)
	// The banner comes first: the first tick's decision was printed
	// above the page's URL and the token.
	if first := strings.TrimSpace(out.String()); !strings.HasPrefix(first, "Spillway demo:") {
		t.Errorf("the output does not begin with the banner:\n%s", first[:min(len(first), 400)])
	}
	if want := "\n  " + cliName(os.Args[0], exec.LookPath) + " status\n"; !strings.Contains(out.String(), want) {
		t.Errorf("the banner does not show the operator CLI as %q:\n%s", want, out.String())
	}
	if !strings.Contains(out.String(), ", interrupted):") {
		t.Errorf("the summary of a demo stopped as by Ctrl-C does not say interrupted:\n%s", out.String())
	}
}

// TestDemoInterruptedBeforeReady: Ctrl-C before the demo's page is ready
// says the demo was interrupted and leaves nothing in TMPDIR. It said
// "server.state …: state/sqlite: open database …: context canceled".
func TestDemoInterruptedBeforeReady(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	err := runDemo(ctx, demoOptions{speed: 360, start: defaultDemoStart, listen: "127.0.0.1:0", onprem: 2, logLevel: "info"}, &out, &out)
	if !errors.Is(err, errDemoInterrupted) || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("demo interrupted before its page was ready: error %v, want one saying it was interrupted", err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("left in TMPDIR: %v", left)
	}
}

// TestDemoTMPDIRNotWritable: a TMPDIR the demo cannot make its directory
// in is named, with what to do. It said only "stat /nonexistent: no such
// file or directory".
func TestDemoTMPDIRNotWritable(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	t.Setenv("TMPDIR", missing)
	err := runDemo(context.Background(), demoOptions{speed: 360, start: defaultDemoStart, listen: "127.0.0.1:0", onprem: 2, logLevel: "info"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "in "+missing) || !strings.Contains(err.Error(), "set TMPDIR to a folder you can write") {
		t.Errorf("demo with TMPDIR=%s: error %v, want one naming it and saying to set TMPDIR", missing, err)
	}
}

// TestDemoBannerRunsThisBinary: the banner's operator commands run the
// binary the demo was started as. They said "spillway status", which is
// "command not found" after make demo (bin/spillway) or go run.
func TestDemoBannerRunsThisBinary(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	onPath := func(p string) func(string) (string, error) {
		return func(string) (string, error) {
			if p == "" {
				return "", exec.ErrNotFound
			}
			return p, nil
		}
	}
	for _, tc := range []struct {
		arg0, path, want string
	}{
		{"bin/spillway", "", "bin/spillway"}, // make demo
		{"/tmp/go-build1234/b001/exe/spillway", "", "go run ./cmd/spillway"},
		{"spillway", "/usr/local/bin/spillway", "spillway"},
		{"/usr/local/bin/spillway", "/usr/local/bin/spillway", "spillway"},
		{"bin/spillway", filepath.Join(wd, "bin/spillway"), "spillway"},
		{"bin/spillway", "/usr/local/bin/spillway", "bin/spillway"}, // another spillway on PATH
		{"./spillway", "", "./spillway"},
	} {
		if got := cliName(tc.arg0, onPath(tc.path)); got != tc.want {
			t.Errorf("started as %q (spillway on PATH: %q): banner runs %q, want %q", tc.arg0, tc.path, got, tc.want)
		}
	}
}

// TestDemoConfigQuotesPaths: the demo's config reads back the paths and
// URLs it was written with, whatever characters the TMPDIR they sit in
// holds. Unquoted, a TMPDIR "/tmp/a #b" put the state at /tmp/a (the rest
// read as a comment), outside the directory the demo removes, and one
// holding ": " made the demo refuse its own config.
func TestDemoConfigQuotesPaths(t *testing.T) {
	for _, name := range []string{"a #b", "c: d", "'q", `"dq"`, "sp ace", "ü{{x}}", "- dash", "x\\y"} {
		dir := filepath.Join(t.TempDir(), name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		p := demoConfigParams{
			Listen: "127.0.0.1:0", State: filepath.Join(dir, "state.db"), Tokens: filepath.Join(dir, "tokens.yaml"),
			EC2: "http://127.0.0.1:1", ECS: "http://127.0.0.1:2", Queue: "http://127.0.0.1:3/queue", Drain: "http://127.0.0.1:3/drain",
			Agents: []string{"http://127.0.0.1:4"}, OnPremNodes: 2,
		}
		cfg, _, err := writeDemoFiles(dir, time.Unix(0, 0), p)
		if err != nil {
			t.Errorf("TMPDIR holding %q: %v", name, err)
			continue
		}
		if cfg.Server.State != p.State || cfg.Server.TokensFile != p.Tokens {
			t.Errorf("TMPDIR holding %q: state %q, tokens %q; want %q, %q", name, cfg.Server.State, cfg.Server.TokensFile, p.State, p.Tokens)
		}
	}
}

// TestDemoCallWindowIsRealTime: at every --speed the config the demo
// writes gives a tick's launch calls at least demoCallWall of real time
// to start in (half the call_timeout, on the demo's clock), as the server
// reads it. With the default 1m, 1200x left 25 ms, which a busy machine's
// observe and intent writes used up: the launches were held tick after
// tick and TestDemoForJSON saw no stock-out fallback at load 20.
func TestDemoCallWindowIsRealTime(t *testing.T) {
	for _, speed := range []float64{1, 60, defaultDemoSpeed, 1200, speedclock.MaxSpeed} {
		dir := t.TempDir()
		p := demoConfigParams{
			Listen: "127.0.0.1:0", State: filepath.Join(dir, "state.db"), Tokens: filepath.Join(dir, "tokens.yaml"),
			EC2: "http://127.0.0.1:1", ECS: "http://127.0.0.1:2", Queue: "http://127.0.0.1:3/queue", Drain: "http://127.0.0.1:3/drain",
			Agents: []string{"http://127.0.0.1:4"}, OnPremNodes: 2, CallTimeout: demoCallTimeout(speed),
		}
		cfg, _, err := writeDemoFiles(dir, time.Unix(0, 0), p)
		if err != nil {
			t.Fatalf("--speed %g: %v", speed, err)
		}
		for name, pc := range cfg.Providers {
			if window := time.Duration(float64(pc.CallTimeout.D()/2) / speed); window < demoCallWall/2 {
				t.Errorf("--speed %g: provider %s's call_timeout %s leaves a tick %s of real time to start a launch call in, want at least %s",
					speed, name, pc.CallTimeout.D(), window, demoCallWall/2)
			}
		}
	}
}

// TestDemoRefusesBadFlags: each bad flag is named with its value and what
// would do, before anything starts.
func TestDemoRefusesBadFlags(t *testing.T) {
	ok := demoOptions{speed: 360, start: defaultDemoStart, listen: "127.0.0.1:0", onprem: 2, logLevel: "info"}
	for _, tc := range []struct {
		change func(*demoOptions)
		want   string
	}{
		{func(o *demoOptions) { o.onprem = 0 }, "--onprem-nodes 0: want 1 to 64"},
		{func(o *demoOptions) { o.forDur = -time.Second }, "--for -1s: want a duration of 0 (until Ctrl-C) or more"},
		{func(o *demoOptions) { o.speed = 0 }, "--speed 0: want a number from 1 to 3600"},
		{func(o *demoOptions) { o.start = 10000 * time.Hour }, "--start 10000h0m0s: want an offset from 0 to the trace's span"},
		{func(o *demoOptions) { o.trace = "testdata/no-such-trace.csv" }, "--trace: open trace"},
		{func(o *demoOptions) { o.trace = "testdata/cpu-only-joblog.csv" }, "--trace: trace cpu-only-joblog.csv has no jobs to replay: every row was skipped (1 CPU-only job (0 GPUs))"},
		{func(o *demoOptions) { o.logLevel = "loud" }, `--log-level "loud"`},
		{func(o *demoOptions) { o.listen = "0.0.0.0:8700" }, `--listen "0.0.0.0:8700": the demo serves on loopback only: give 127.0.0.1:PORT`},
	} {
		o := ok
		tc.change(&o)
		err := runDemo(context.Background(), o, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one saying %q", o, err, tc.want)
		}
	}
}

// TestDemoHelpNamesEverySummaryField: demo --help names each field of
// --json's summary. It named 2 of 19 (the README 9), and a user reading
// "jobs_cut_at_end": 3 or "simulated_s" could not tell what had been cut,
// nor that the waits are simulated seconds.
func TestDemoHelpNamesEverySummaryField(t *testing.T) {
	help := newDemoCmd().Long
	typ := reflect.TypeFor[demoSummary]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if !regexp.MustCompile(`\b` + name + `\b`).MatchString(help) {
			t.Errorf("demo --help does not name the summary's field %s", name)
		}
	}
}

// TestDemoListenErrorGivesTheDemosAdvice: a refused --listen is told what
// the demo takes. It was told the server's remedy too ("configure
// server.tls, listen on 127.0.0.1, or pass --insecure-listen on a trusted
// network"), flags the demo does not have, and a loopback address with a
// bad port was told it was not loopback.
func TestDemoListenErrorGivesTheDemosAdvice(t *testing.T) {
	ok := demoOptions{speed: 360, start: defaultDemoStart, listen: "127.0.0.1:0", onprem: 2, logLevel: "info"}
	for _, tc := range []struct{ listen, want string }{
		{"0.0.0.0:8700", `--listen "0.0.0.0:8700": the demo serves on loopback only: give 127.0.0.1:PORT (port 0 picks a free one)`},
		{":8700", `--listen ":8700": the demo serves on loopback only: give 127.0.0.1:PORT`},
		{"example.com:8700", `--listen "example.com:8700": the demo serves on loopback only: give 127.0.0.1:PORT`},
		{"garbage", `--listen "garbage": the demo serves on loopback only: give 127.0.0.1:PORT`},
		{"127.0.0.1:8700x", `--listen "127.0.0.1:8700x": listen address "127.0.0.1:8700x": port "8700x" is not a port number: want 1 to 65535, or 0 for a free port`},
		{"localhost:70000", `port "70000" is not a port number`},
		{"[::1]:-1", `port "-1" is not a port number`},
	} {
		o := ok
		o.listen = tc.listen
		err := runDemo(context.Background(), o, io.Discard, io.Discard)
		var usage *usageError
		if !errors.As(err, &usage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--listen %q: error %v, want a usage error saying %q", tc.listen, err, tc.want)
			continue
		}
		for _, server := range []string{"--insecure-listen", "server.tls", "not loopback"} {
			if strings.Contains(err.Error(), server) && !strings.Contains(tc.want, server) {
				t.Errorf("--listen %q: error %q gives the server's advice %q, which the demo does not take", tc.listen, err, server)
			}
		}
	}
}

// TestDemoOutputClosed: the demo's output closed early (spillway demo |
// head -3) stops it as Ctrl-C does, and it removes its directory. It was
// killed by SIGPIPE at its next line and left the directory (state,
// tokens, log) behind.
func TestDemoOutputClosed(t *testing.T) {
	cmd, stdout, stderr, tmp := startDemo(t)
	dir := ""
	sc := bufio.NewScanner(stdout)
	for dir == "" && sc.Scan() {
		if m := bannerDir.FindStringSubmatch(sc.Text()); m != nil {
			dir = m[1]
		}
	}
	if dir == "" {
		t.Fatalf("no directory in the banner\nstderr:\n%s", stderr.String())
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the banner's directory: %v", err)
	}
	stdout.Close() // as head does after its lines
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("the demo did not stop within 60s of its output closing\nstderr:\n%s", stderr.String())
	}
	// The test binary running the demo may itself die writing its own
	// verdict to the closed pipe: what counts is what the demo left.
	if left, _ := filepath.Glob(filepath.Join(tmp, "spillway-demo-*")); len(left) != 0 {
		t.Errorf("left behind after its output closed: %v\nstderr:\n%s", left, stderr.String())
	}
}

// TestDemoLiveLineTimes: a time in a live line's attributes reads as the
// line's own stamp does. A manual burst's line said
// "until=2024-01-02 15:56:53.3516196 +0000 UTC" beside "Tue 13:56".
func TestDemoLiveLineTimes(t *testing.T) {
	wall := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC))
	epoch := time.Date(2024, 1, 2, 13, 56, 53, 351619600, time.UTC)
	clk, err := speedclock.New(epoch, 360, wall)
	if err != nil {
		t.Fatal(err)
	}
	var full, live bytes.Buffer
	log := newDemoLogger(&full, slog.LevelInfo, &liveLines{w: &live}, clk)
	log.Info("manual burst opened", "pool", "training", "burst", "b-1", "gpus", 8, "until", epoch.Add(2*time.Hour), "by", "demo")
	if want := "Tue 13:56  manual burst  burst=b-1 gpus=8 until=Tue 15:56 by=demo\n"; live.String() != want {
		t.Errorf("live line %q, want %q", live.String(), want)
	}
}

// TestDemoLogOnSimulatedTime: demo.log is stamped with the demo's
// simulated time, as its live lines, page and decisions are, from every
// component's logger. It was stamped with the wall clock, so its lines
// could not be matched with anything else the demo showed.
func TestDemoLogOnSimulatedTime(t *testing.T) {
	wall := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC))
	epoch := time.Date(2017, 10, 3, 13, 0, 0, 0, time.UTC)
	clk, err := speedclock.New(epoch, 1200, wall)
	if err != nil {
		t.Fatal(err)
	}
	var full, live bytes.Buffer
	log := newDemoLogger(&full, slog.LevelDebug, &liveLines{w: &live}, clk)
	for _, tt := range []struct {
		log   *slog.Logger
		msg   string
		real  time.Duration // wall time passed before it
		stamp string        // in demo.log
		line  string        // the live line, "" for none
	}{
		{log, "manual burst opened", 0, "time=2017-10-03T13:00:00.000Z", "Tue 13:00  manual burst"},
		{log.WithGroup("emulator"), "tick", 3 * time.Second, "time=2017-10-03T14:00:00.000Z", ""},
		{log.With("pool", "train"), "instance joined", 1500 * time.Millisecond, "time=2017-10-03T14:30:00.000Z", "Tue 14:30  joined"},
	} {
		wall.SetTime(wall.Now().Add(tt.real))
		full.Reset()
		live.Reset()
		tt.log.Info(tt.msg)
		if !strings.HasPrefix(full.String(), tt.stamp+" ") {
			t.Errorf("%q in demo.log: %q, want it stamped %s, the simulated time", tt.msg, full.String(), tt.stamp)
		}
		if !strings.HasPrefix(live.String(), tt.line) || (tt.line == "") != (live.Len() == 0) {
			t.Errorf("%q live line %q, want %q", tt.msg, live.String(), tt.line)
		}
	}
}

// TestDemoTraceReadStopsAtInterrupt: demo read --trace without its
// context, so Ctrl-C while it waited for a FIFO's writer (or read a large
// trace) went unheeded until the read ended. Under a context done it says
// the demo was interrupted at once; a writer opens the FIFO after 30 s so
// that the old code fails rather than hangs.
func TestDemoTraceReadStopsAtInterrupt(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "jobs.csv")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	defer releaseFIFO(fifo)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := make(chan error, 1)
	go func() {
		res <- runDemo(ctx, demoOptions{trace: fifo, speed: 360, start: defaultDemoStart, listen: "127.0.0.1:0", onprem: 2, logLevel: "info"}, io.Discard, io.Discard)
	}()
	select {
	case err := <-res:
		if !errors.Is(err, errDemoInterrupted) {
			t.Errorf("demo interrupted while its --trace (a FIFO with no writer) was opened: %v, want it to say it was interrupted", err)
		}
	case <-time.After(30 * time.Second):
		releaseFIFO(fifo)
		t.Errorf("demo under a context done waited 30 s for its --trace FIFO's writer: %v", <-res)
	}
}

// releaseFIFO opens fifo for writing and closes it, letting go a reader
// waiting in its open.
func releaseFIFO(fifo string) {
	if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		w.Close()
	}
}
