package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/spf13/cobra"

	"github.com/spillway-io/spillway/api/tokens"
	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/configs"
	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/internal/speedclock"
	"github.com/spillway-io/spillway/providers/alicloud"
	"github.com/spillway-io/spillway/providers/aws"
	"github.com/spillway-io/spillway/sim/live"
)

// onpremNodesRange says what --onprem-nodes takes, where a value is out of range.
const onpremNodesRange = "want 1 to 64"

// What the demo's --speed, --for and --start take (--start: up to the
// trace's span, said after it when it is known).
var (
	demoSpeedRange = fmt.Sprintf("want a number from 1 to %d (simulated seconds per real second)", speedclock.MaxSpeed)
	demoForRange   = "want a duration of 0 (until Ctrl-C) or more"
	demoStartRange = "want an offset from 0 to the trace's span"
)

func init() { register(newDemoCmd) }

// Demo defaults: one simulated day in four minutes, starting the bundled
// ITP cluster-2 trace on its second day at 10:00, an hour or two before its
// load outgrows two on-prem DGX nodes.
const (
	demoCluster      = "spillway-demo"
	demoPool         = "training"
	defaultDemoSpeed = 360
	defaultDemoStart = 34 * time.Hour
)

type demoOptions struct {
	speed    float64
	forDur   time.Duration
	json     bool
	keep     bool
	trace    string
	start    time.Duration
	listen   string
	onprem   int
	logLevel string
}

func newDemoCmd() *cobra.Command {
	o := demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole product on loopback: emulated clouds, a simulated GPU cluster replaying a real trace, the server and its page",
		Long: `The demo starts, in this one process and on loopback only:
  - the EC2 and ECS emulators (p5.48xlarge is short of stock, so some
    launches fall back to Alibaba);
  - a simulated GPU cluster replaying a real job trace (by default Microsoft
    ITP cluster 2, bundled) on two on-prem DGX H100 nodes, each with a
    simulated 'spillway agent'; burst instances the emulator reports running
    get an agent at their private address and take jobs;
  - 'spillway server' with a demo config, SQLite state and a tokens file in a
    temporary directory, reading the queue through the http demand source.

Time runs --speed times faster than the wall clock for all of them (default
360: a day in four minutes); spend follows simulated time. It prints the
status page's URL, an operator token and one line per decision. Ctrl-C stops
everything and removes the directory (--keep keeps it).

With --for D it runs for D of real time, then ends the replay (the queue
empties and running jobs end), waits for the server to drain and terminate
every burst instance, and prints a summary (--json for a machine).
--json's fields: trace, speed, simulated_s (simulated seconds it ran),
page_ready_s (real seconds until the page answered), launches,
terminations, fallbacks (launches that fell back after a stock-out),
max_cloud_gpus (the most at once), jobs_submitted, jobs_started,
jobs_on_cloud, jobs_requeued (their node went away under them),
jobs_cut_at_end (running when the replay ended, so ended early),
jobs_dropped_at_end (still queued then), jobs_narrowed_to_one_node (wider
than one node's 8 GPUs, run on 8), wait_p95_s (simulated seconds from
submit to start), spend_usd (the server's cloud spend), decisions,
leaked (instances of the demo left on the emulator), and interrupted and
dir (--keep's directory) when they apply.

Exit status: 0 when it ran, also when Ctrl-C, SIGTERM or a closed output
stopped it once its page was ready (the summary then says interrupted); 2
when a flag is refused; 1 when it could not start (its --listen port in
use, a TMPDIR it cannot write in); 130 (Ctrl-C) or 143 (SIGTERM) when
interrupted before its page was ready.`,
		Example: `  spillway demo
  spillway demo --for 90s --json
  spillway demo --speed 60 --keep             # an hour a minute; keep the config, state and log
  spillway demo --trace jobs.csv --start 0s    # your own trace, e.g. submit_s,duration_s,gpus`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := refuseEmpty(cmd, "trace", "listen"); err != nil {
				return err
			}
			return runDemo(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.Float64Var(&o.speed, "speed", defaultDemoSpeed, fmt.Sprintf("simulated seconds per real second (1 to %d)", speedclock.MaxSpeed))
	f.DurationVar(&o.forDur, "for", 0, "run this long (real time), then wind down and print a summary (0: until Ctrl-C)")
	f.BoolVar(&o.json, "json", false, "print the summary as JSON on stdout (the live lines go to stderr)")
	f.BoolVar(&o.keep, "keep", false, "keep the demo's directory (config, state, tokens, log)")
	f.StringVar(&o.trace, "trace", "", "job trace to replay (ITP, Philly, a Helios or Acme job log, Slurm's sacct --parsable2, Alibaba's 2023 or 2025 pod list, PAI 2020 task table or Alibaba 2026 spot job list, Philly's raw JSON job log, a Helios sequence, or generic CSV); default the bundled "+configs.DefaultTraceName)
	f.DurationVar(&o.start, "start", defaultDemoStart, "where in the trace to start: an offset from its first job, from 0 to the trace's span")
	flagRange(f, "speed", demoSpeedRange)
	flagRange(f, "for", demoForRange)
	flagRange(f, "start", demoStartRange)
	f.StringVar(&o.listen, "listen", "127.0.0.1:8700", "the server's address (loopback; port 0 picks a free one)")
	f.IntVar(&o.onprem, "onprem-nodes", 2, "on-prem DGX H100 nodes (8 GPUs each), 1 to 64")
	flagRange(f, "onprem-nodes", onpremNodesRange)
	f.StringVar(&o.logLevel, "log-level", "info", "level of the full log written to demo.log in the directory")
	return cmd
}

// demoSummary is what `spillway demo --for D` reports.
type demoSummary struct {
	Trace         string  `json:"trace"`
	Speed         float64 `json:"speed"`
	SimulatedS    float64 `json:"simulated_s"`
	PageReadyS    float64 `json:"page_ready_s"`
	Launches      int     `json:"launches"`
	Terminations  int     `json:"terminations"`
	Fallbacks     int     `json:"fallbacks"`
	MaxCloudGPUs  int     `json:"max_cloud_gpus"`
	JobsSubmitted int     `json:"jobs_submitted"`
	JobsStarted   int     `json:"jobs_started"`
	JobsOnCloud   int     `json:"jobs_on_cloud"`
	JobsRequeued  int     `json:"jobs_requeued"`
	JobsCut       int     `json:"jobs_cut_at_end"`
	JobsDropped   int     `json:"jobs_dropped_at_end"`
	JobsNarrowed  int     `json:"jobs_narrowed_to_one_node"`
	WaitP95S      float64 `json:"wait_p95_s"`
	SpendUSD      float64 `json:"spend_usd"`
	Decisions     int     `json:"decisions"`
	Leaked        int     `json:"leaked"`
	// Interrupted: Ctrl-C, SIGTERM or a closed output stopped the demo
	// before the burst was torn down; Leaked then counts the instances the
	// emulator held as it stopped, which end with it.
	Interrupted bool   `json:"interrupted,omitempty"`
	Dir         string `json:"dir,omitempty"`
}

// writeDemoFiles writes the demo's config and an operator token into dir
// and loads the config as the server would.
func writeDemoFiles(dir string, now time.Time, p demoConfigParams) (*config.Config, string, error) {
	path := filepath.Join(dir, "spillway.yaml")
	if err := os.WriteFile(path, []byte(demoConfig(p)), 0o600); err != nil {
		return nil, "", err
	}
	tok, err := tokens.Add(p.Tokens, "demo", tokens.Operator, now, rand.Reader)
	if err != nil {
		return nil, "", err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, "", fmt.Errorf("the demo's config: %w", err)
	}
	if err := cfg.ValidateForServer(); err != nil {
		return nil, "", fmt.Errorf("the demo's config: %w", err)
	}
	return cfg, tok, nil
}

// served is a Serve error other than the server's closing.
func served(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// demoListenError words a --listen that config.CheckListen refused in the
// demo's terms. The server's advice (server.tls, --insecure-listen, every
// interface with tls) is not the demo's to take, as it has neither flag and
// serves on loopback only; a loopback address whose port is wrong is told
// what is wrong with the port.
func demoListenError(listen string, err error) error {
	host, _, splitErr := net.SplitHostPort(listen)
	if splitErr == nil && !errors.Is(err, config.ErrInsecureListen) && isLoopbackHost(host) {
		return usagef("--listen %q: %w", listen, err)
	}
	return usagef("--listen %q: the demo serves on loopback only: give 127.0.0.1:PORT (port 0 picks a free one)", listen)
}

// isLoopbackHost reports whether a listen address's host is localhost or
// a loopback IP address.
func isLoopbackHost(host string) bool {
	ip, err := netip.ParseAddr(host)
	return host == "localhost" || (err == nil && ip.Unmap().IsLoopback())
}

func runDemo(ctx context.Context, o demoOptions, stdout, stderr io.Writer) (err error) {
	began := time.Now()
	// A closed output (spillway demo | head) stops the demo as Ctrl-C does,
	// so it still cleans up: unhandled, SIGPIPE killed the process and left
	// its directory behind. A SIGPIPE from a browser that closed its
	// connection to the page does not.
	pipe, stopCatching := catchClosedOutput()
	defer stopCatching()
	ctx, cancelPipe := context.WithCancel(ctx)
	defer cancelPipe()
	go stopOnClosedOutput(ctx, pipe, cancelPipe, nil, os.Stdout, os.Stderr)
	if o.onprem < 1 || o.onprem > 64 {
		return usagef("--onprem-nodes %d: %s", o.onprem, onpremNodesRange)
	}
	if o.forDur < 0 {
		return usagef("--for %v: %s", o.forDur, demoForRange)
	}
	if !(o.speed >= 1 && o.speed <= speedclock.MaxSpeed) { // NaN fails both
		// Here, before the trace is read, and in the flag's words: the
		// clock's own said "--speed: speed 0: want ...".
		return usagef("--speed %v: %s", o.speed, demoSpeedRange)
	}
	level, err := parseLogLevel(o.logLevel)
	if err != nil {
		return err
	}
	if err := config.CheckListen(o.listen, false, false); err != nil {
		return demoListenError(o.listen, err)
	}
	tr, err := loadDemoTrace(ctx, o.trace)
	if err != nil {
		return err
	}
	if ctx.Err() != nil { // Ctrl-C just as the trace's read ended
		return errDemoInterrupted
	}
	if o.start < 0 || o.start >= tr.Span() {
		return usagef("--start %v: %s %v", o.start, demoStartRange, tr.Span().Round(time.Hour))
	}
	clk, err := speedclock.New(tr.Start.Add(o.start).UTC(), o.speed, nil)
	if err != nil {
		return &usageError{fmt.Errorf("--speed: %w", err)}
	}

	dir, err := os.MkdirTemp("", "spillway-demo-")
	if err != nil {
		return fmt.Errorf("the demo's directory (config, state, tokens, demo.log) in %s: %w: set TMPDIR to a folder you can write", os.TempDir(), err)
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	}
	logFile, err := os.OpenFile(filepath.Join(dir, "demo.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	live1 := stdout
	if o.json {
		live1 = stderr
	}
	lines := &liveLines{w: live1}
	log := newDemoLogger(logFile, level, lines, clk)

	// The emulated clouds, on the shared clock, handing out private
	// addresses from a loopback range of their own so that each burst
	// instance's agent can listen at its address.
	emu := emulator.New(emulator.Options{
		BootDelay: 2 * time.Minute, Clock: clk.Now, Logger: log.WithGroup("emulator"), PrivateIPs: demoPrivateIPs(),
	})
	emu.SetStock("p5.48xlarge", "us-east-1a", 1)
	emu.SetStock("p5.48xlarge", "us-east-1b", 1)
	ec2Ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ecsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ec2Ln.Close()
		return err
	}

	model, err := live.New(live.Options{
		Clock: clk, Trace: tr, Start: o.start, OnPremNodes: o.onprem, OnPremModel: "dgxh100",
		Cloud: func() []live.CloudInstance { return demoInstances(emu) }, NodeModel: demoNodeModel,
		Logger: log.WithGroup("cluster"),
	})
	if err != nil {
		ec2Ln.Close()
		ecsLn.Close()
		return err
	}

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		model.Close()
		ec2Ln.Close()
		ecsLn.Close()
		return fmt.Errorf("--listen %s: %w (is another demo or server running? --listen 127.0.0.1:0 picks a free port)", o.listen, err)
	}
	cfg, tok, err := writeDemoFiles(dir, clk.Now(), demoConfigParams{
		Listen: ln.Addr().String(), State: filepath.Join(dir, "state.db"), Tokens: filepath.Join(dir, "tokens.yaml"),
		EC2: "http://" + ec2Ln.Addr().String(), ECS: "http://" + ecsLn.Addr().String(),
		Agents: model.AgentURLs(), Queue: model.QueueURL(), Drain: model.DrainURL(), OnPremNodes: o.onprem,
		CallTimeout: demoCallTimeout(o.speed),
	})
	var srv *server
	if err == nil {
		creds := awscreds.NewStaticCredentialsProvider("demo", "demo", "")
		srv, err = newServer(ctx, cfg, serverDeps{
			log: log, clock: clk, listener: ln, sessionTTL: 720 * time.Hour, // page logins last 2h of real time at 360x
			awsOpts: []aws.Option{aws.WithCredentials(creds)},
			aliOpts: []alicloud.Option{alicloud.WithStaticCredentials("demo", "demo")},
		})
	}
	if err != nil {
		model.Close()
		ec2Ln.Close()
		ecsLn.Close()
		ln.Close()
		return interruptedEarly(ctx, err)
	}

	// Everything runs until stop; the server stops first (its calls in
	// flight finish against the emulator), then the cluster, then the clouds.
	srvCtx, stopSrv := context.WithCancel(context.WithoutCancel(ctx))
	modelCtx, stopModel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	var srvErr error
	srvDone, decDone := make(chan struct{}), make(chan struct{})
	// The clouds are served here rather than by emulator.Serve, whose
	// graceful shutdown waits up to 5 s for a connection the SDK opened but
	// never used: by the time they stop, their only client has.
	ec2Srv := &http.Server{Handler: emu.EC2Handler(), ReadHeaderTimeout: 10 * time.Second}
	ecsSrv := &http.Server{Handler: emu.ECSHandler(), ReadHeaderTimeout: 10 * time.Second}
	var ec2Err, ecsErr error
	wg.Add(3)
	go func() { defer wg.Done(); ec2Err = ec2Srv.Serve(ec2Ln) }()
	go func() { defer wg.Done(); ecsErr = ecsSrv.Serve(ecsLn) }()
	go func() { defer wg.Done(); _ = model.Run(modelCtx) }()
	go func() { defer close(srvDone); srvErr = srv.run(srvCtx) }()
	following := false
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		stopSrv()
		if following {
			<-decDone
		}
		<-srvDone
		stopModel()
		_ = ec2Srv.Close()
		_ = ecsSrv.Close()
		wg.Wait()
	}
	defer stop()

	pageURL := "http://" + ln.Addr().String() + "/"
	if err := waitReady(ctx, pageURL+"readyz"); err != nil {
		return interruptedEarly(ctx, err)
	}
	ready := time.Since(began)
	printBanner(live1, pageURL, tok, dir, tr.Name, o, ready, clk, tr.Start.Add(o.start))
	// The decisions follow the banner: started with the server, the
	// first tick's hold was printed above the page's URL.
	following = true
	go func() { defer close(decDone); lines.followDecisions(srvCtx, srv.store) }()

	if o.forDur == 0 {
		<-ctx.Done()
		fmt.Fprintln(live1, "stopping: the server, the simulated cluster and the emulated clouds (their instances end with them)")
	} else {
		select {
		case <-ctx.Done():
		case <-time.After(o.forDur):
			fmt.Fprintln(live1, "winding down: the replay ends, the queue empties, running jobs end; waiting for the burst to be torn down")
			model.WindDown()
			// The server needs scale_in.idle, the drain and the shutdown
			// of simulated time to tear the burst down: about 15 minutes.
			waitTornDown(ctx, emu, srv.store, max(30*time.Second, clk.Real(time.Hour)))
		}
	}
	sum := demoSummary{Trace: tr.Name, Speed: o.speed, SimulatedS: math.Round(clk.Now().Sub(tr.Start.Add(o.start)).Seconds()),
		PageReadyS: math.Round(ready.Seconds()*1000) / 1000}
	if err := summarise(context.WithoutCancel(ctx), srv, &sum, clk.Now()); err != nil {
		return err
	}
	stop()
	if err := countCalls(srv, &sum); err != nil {
		return err
	}
	ms := model.Stats()
	sum.MaxCloudGPUs, sum.JobsSubmitted, sum.JobsStarted, sum.JobsOnCloud = ms.MaxCloudGPUs, ms.Submitted, ms.Started, ms.OnCloud
	sum.JobsRequeued, sum.JobsCut, sum.JobsDropped, sum.JobsNarrowed = ms.Requeued, ms.Cut, ms.Dropped, ms.Narrowed
	sum.WaitP95S = math.Round(ms.WaitP95.Seconds()*10) / 10
	sum.Leaked = len(leftOn(emu))
	sum.Interrupted = ctx.Err() != nil
	if o.keep {
		sum.Dir = dir
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sum); err != nil {
			return err
		}
	} else {
		printSummary(stdout, sum)
	}
	return errors.Join(srvErr, served(ec2Err), served(ecsErr))
}

// errDemoInterrupted is a demo stopped (Ctrl-C, SIGTERM, a closed output)
// before its page was ready: it has no summary to print.
var errDemoInterrupted = errors.New("interrupted before the demo was ready: it stopped everything it had started and removed its directory")

// interruptedEarly is err, or errDemoInterrupted when err is what the
// interruption made of a step of the start (an open of the state, the
// wait for the page): "context canceled" says nothing to whoever pressed
// Ctrl-C.
func interruptedEarly(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errDemoInterrupted
	}
	return err
}
