package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"text/template"
	"time"

	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/configs"
	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/internal/speedclock"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/sim/live"
	"github.com/spillway-io/spillway/sim/trace"
	"github.com/spillway-io/spillway/state"
)

// loadDemoTrace reads the demo's trace: the bundled one, or --trace's
// path under ctx, so that Ctrl-C while a large trace (or a FIFO whose
// writer has not started) is read ends the demo at once.
func loadDemoTrace(ctx context.Context, path string) (*trace.Trace, error) {
	if path == "" {
		return trace.Read(configs.DefaultTraceName, bytes.NewReader(configs.DefaultTraceCSV))
	}
	tr, err := trace.LoadContext(ctx, path, trace.Options{})
	if err == nil {
		err = hasJobs(tr)
	}
	if err != nil {
		return nil, interruptedEarly(ctx, &usageError{fmt.Errorf("--trace: %w", err)})
	}
	return tr, nil
}

// demoPrivateIPs picks a /24 of 127.0.0.0/8 away from 127.0.0.1, so that
// two demos (or a demo and the tests) rarely hand out the same addresses.
func demoPrivateIPs() netip.Prefix {
	a := netip.AddrFrom4([4]byte{127, byte(100 + mrand.IntN(100)), byte(mrand.IntN(256)), 0})
	return netip.PrefixFrom(a, 24)
}

// demoNodeModel is the simulated node of each instance type the demo offers.
func demoNodeModel(instanceType string) string {
	switch {
	case strings.HasPrefix(instanceType, "p5."):
		return "dgxh100"
	case strings.HasPrefix(instanceType, "ecs.gn7e"):
		return "dgxa100"
	}
	return ""
}

// demoInstances is what the emulated clouds report of the demo cluster's
// instances.
func demoInstances(emu *emulator.Emulator) []live.CloudInstance {
	var out []live.CloudInstance
	for _, in := range emu.Instances() {
		if !demoTagged(in) {
			continue
		}
		out = append(out, live.CloudInstance{ID: in.ID, InstanceType: in.InstanceType, PrivateIP: in.PrivateIP, Running: in.State == "running"})
	}
	return out
}

func demoTagged(in emulator.Instance) bool {
	for _, t := range in.Tags {
		if t.Key == providers.TagCluster && t.Value == demoCluster {
			return true
		}
	}
	return false
}

// leftOn lists the demo cluster's instances the emulator has not
// terminated (shutting-down counts as left: it is still billed).
func leftOn(emu *emulator.Emulator) []string {
	var ids []string
	for _, in := range emu.Instances() {
		if demoTagged(in) && in.State != "terminated" {
			ids = append(ids, in.ID+" ("+in.State+")")
		}
	}
	return ids
}

// allEnded reports whether every instance row of the demo's pool records
// its end (false when the state does not answer).
func allEnded(ctx context.Context, st state.Store) bool {
	rows, err := st.Instances(ctx, state.InstanceFilter{Pool: demoPool})
	if err != nil {
		return false
	}
	for _, r := range rows {
		if r.EndedAt.IsZero() {
			return false
		}
	}
	return true
}

// waitTornDown waits, at most limit of real time, until no instance of the
// demo cluster is left on the emulator and the server has recorded the end
// of each (the emulator ends one before the server's call returns).
func waitTornDown(ctx context.Context, emu *emulator.Emulator, st state.Store, limit time.Duration) {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for len(leftOn(emu)) > 0 || !allEnded(ctx, st) {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-t.C:
		}
	}
}

func waitReady(ctx context.Context, url string) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the demo server at %s was not ready within 30s (last: %v); see demo.log (--keep keeps it)", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type demoConfigParams struct {
	Listen, State, Tokens, EC2, ECS, Queue, Drain string
	Agents                                        []string
	OnPremNodes                                   int
	// CallTimeout is the emulated clouds' call_timeout (demoCallTimeout);
	// zero leaves it to the default.
	CallTimeout time.Duration
}

// demoCallWall is the real time a tick of the demo's server gives its
// launch calls at any --speed.
const demoCallWall = time.Second

// demoCallTimeout is the emulated clouds' call_timeout at speed: the
// simulated time demoCallWall of real time is, within config's range
// (1m to 1h). A tick starts a launch call only while half its call
// timeout is left on the scheduler's clock, which is the demo's: with the
// default 1m, a tick at 1200x gave its calls 25 ms of real time to start
// in, and on a busy machine its observe and intent writes used them up,
// so the demo's launches were held tick after tick and came late or not
// at all (a stock-out it shows did not happen).
func demoCallTimeout(speed float64) time.Duration {
	d := time.Duration(speed * float64(demoCallWall))
	return min(max(d, time.Minute), time.Hour).Round(time.Second)
}

// yamlQuoted writes s as a YAML double-quoted scalar (a JSON string is
// one), so that a path or URL holding " #" or ": " (a TMPDIR such as
// "/tmp/a #b") is read back whole: unquoted, YAML took the rest of the
// line for a comment and put the state beside the directory, left behind.
func yamlQuoted(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // a string always marshals
	}
	return string(b)
}

var demoConfigTmpl = template.Must(template.New("demo").Funcs(template.FuncMap{"q": yamlQuoted, "callWall": func() time.Duration { return demoCallWall }}).Parse(`# The config 'spillway demo' wrote for its server. Times are simulated:
# the demo's clock runs --speed times faster than the wall clock.
cluster: ` + demoCluster + `

server:
  listen: {{q .Listen}}
  state: {{q .State}}
  tokens_file: {{q .Tokens}}
  anonymous_read: true      # the page reads without a login; changes need a token
  tick: 30s
  sweep_grace: 10m

providers:
  emu-aws:
    type: aws
    region: us-east-1
    endpoint: {{q .EC2}}
{{- if .CallTimeout}}
    call_timeout: {{.CallTimeout}}   # simulated: at least {{callWall}} of real time at this --speed
{{- end}}
    subnets:
      - {zone: us-east-1a, id: subnet-us-east-1a}
      - {zone: us-east-1b, id: subnet-us-east-1b}
    image: ami-0123456789abcdef0
    user_data: |
      #!/bin/sh
      spillway agent --listen :9401
  emu-ali:
    type: alicloud
    region: cn-hangzhou
    endpoint: {{q .ECS}}
{{- if .CallTimeout}}
    call_timeout: {{.CallTimeout}}
{{- end}}
    subnets:
      - {zone: cn-hangzhou-i, id: vsw-cn-hangzhou-i}
    image: m-spillway-gpu
    user_data: |
      #!/bin/sh
      spillway agent --listen :9401

pools:
  - name: ` + demoPool + `
    onprem: {nodes: {{.OnPremNodes}}, gpus_per_node: 8}
    wait_target: 10m
    interval: 30s
    stale_after: 3m
    offerings:
      - provider: emu-aws
        instance_type: p5.48xlarge               # 8x H100; the emulator has one per zone
        boot: 2m
      - provider: emu-ali
        instance_type: ecs.gn7e-c16g1.32xlarge   # 8x A100 80GB
        boot: 2m
        performance: 0.5
    limits:
      max_gpus: 32
      max_cost_per_hour: 400
      budget: {amount: 20000, period: week}
    scale_in:
      idle: 10m
      drain_timeout: 30m
    manual:
      max_gpus: 16
      max_ttl: 8h
    signals:
      baseline:
        agents:
          urls: [{{range $i, $u := .Agents}}{{if $i}}, {{end}}{{q $u}}{{end}}]
      demand:
        - type: http
          http:
            name: queue
            url: {{q .Queue}}
            job_gpus: pending.job_gpus
            job_wait_seconds: pending.job_wait_seconds
            oldest_wait_seconds: pending.oldest_wait_seconds
    join:
      timeout: 15m
    drain:
      http: {url: {{q .Drain}}}
`))

func demoConfig(p demoConfigParams) string {
	var b strings.Builder
	if err := demoConfigTmpl.Execute(&b, p); err != nil {
		panic(err) // the template and its parameters are ours
	}
	return b.String()
}

func printBanner(w io.Writer, url, tok, dir, traceName string, o demoOptions, ready time.Duration, clk *speedclock.Clock, from time.Time) {
	cli := cliName(os.Args[0], exec.LookPath)
	fmt.Fprintf(w, `
Spillway demo: replaying %s from %s at %gx (a simulated day every %s)
  status page    %s   (ready after %.2fs)
  operator token %s
  directory      %s%s

Try the operator CLI against it (durations are simulated time):
  export SPILLWAY_SERVER=%s SPILLWAY_TOKEN=%s
  %s status
  %s burst create --pool %s --gpus 8 --for 2h --reason "demo drill"
  %s burst list
  %s decisions

Ctrl-C stops everything.

`, traceName, from.Format("Mon 2 Jan 15:04"), o.speed, clk.Real(24*time.Hour).Round(time.Second),
		url, ready.Seconds(), tok, dir, map[bool]string{true: " (kept)", false: " (removed at exit)"}[o.keep],
		strings.TrimSuffix(url, "/"), tok, cli, cli, demoPool, cli, cli)
}

// cliName is how the banner's operator commands run this binary, given how
// it was started (arg0): "spillway" only where that name on PATH finds it.
// Started by make demo (bin/spillway) or go run, "spillway status" was
// "command not found" for whoever copied it.
func cliName(arg0 string, lookPath func(string) (string, error)) string {
	if !strings.Contains(arg0, string(filepath.Separator)) {
		return arg0 // the shell found it on PATH by this name
	}
	if strings.Contains(arg0, string(filepath.Separator)+"go-build") {
		return "go run ./cmd/spillway" // a binary go run removes when the demo ends
	}
	self, err := filepath.Abs(arg0)
	if err != nil {
		return arg0
	}
	if onPath, err := lookPath("spillway"); err == nil {
		if abs, err := filepath.Abs(onPath); err == nil && abs == self {
			return "spillway"
		}
	}
	return arg0
}

func printSummary(w io.Writer, s demoSummary) {
	fmt.Fprintf(w, `
Summary (%s at %gx, %s simulated%s):
  burst instances launched %d, terminated %d, launches that fell back after a stock-out %d
  most cloud GPUs at once  %d
  jobs started %d of %d submitted, %d on cloud, %d requeued; wait p95 %s
  cloud spend              $%.2f
  left on the cloud        %d (%s)
`, s.Trace, s.Speed, time.Duration(s.SimulatedS*float64(time.Second)), map[bool]string{true: ", interrupted"}[s.Interrupted], s.Launches, s.Terminations, s.Fallbacks,
		s.MaxCloudGPUs, s.JobsStarted, s.JobsSubmitted, s.JobsOnCloud, s.JobsRequeued,
		time.Duration(s.WaitP95S*float64(time.Second)).Round(time.Second), s.SpendUSD, s.Leaked, leftWhy(s))
	if s.Dir != "" {
		fmt.Fprintf(w, "  kept                     %s (config, state, tokens, demo.log)\n", s.Dir)
	}
}

// leftWhy says what the summary's count of instances left on the cloud
// means: a leak when the burst was torn down, the instances running as the
// demo stopped when it was interrupted.
func leftWhy(s demoSummary) string {
	if s.Interrupted {
		return "running as the demo was stopped before tearing its burst down; they ended with the emulator"
	}
	return "instances of the demo the emulator had not terminated"
}

// countCalls fills the server's counts from its metrics: launches,
// terminations and stock-out fallbacks. It reads them once the server has
// stopped: a tick counts a termination after the cloud answered and its
// row is written, so read while it ran they could say "3 launched, 1
// terminated" of a burst the emulator had ended whole.
func countCalls(srv *server, sum *demoSummary) error {
	mfs, err := srv.reg.Gather()
	if err != nil {
		return err
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := int(m.GetCounter().GetValue())
			switch mf.GetName() {
			case "spillway_launched_instances_total":
				sum.Launches += v
			case "spillway_terminations_total":
				sum.Terminations += v
			case "spillway_launch_failures_total":
				for _, l := range m.GetLabel() {
					if l.GetName() == "cause" && l.GetValue() == "capacity" {
						sum.Fallbacks += v
					}
				}
			}
		}
	}
	return nil
}

// summarise fills the server's figures from its state, before it stops:
// spend (every burst instance's price over its simulated life) and the
// decisions recorded.
func summarise(ctx context.Context, srv *server, sum *demoSummary, now time.Time) error {
	rows, err := srv.store.Instances(ctx, state.InstanceFilter{Pool: demoPool})
	if err != nil {
		return err
	}
	for _, r := range rows {
		end := now
		if !r.EndedAt.IsZero() {
			end = r.EndedAt
		}
		sum.SpendUSD += r.PricePerHour * end.Sub(r.LaunchedAt).Hours()
	}
	sum.SpendUSD = float64(int(sum.SpendUSD*100+0.5)) / 100
	for before := int64(0); ; {
		ds, err := srv.store.Decisions(ctx, state.DecisionFilter{Pool: demoPool, BeforeID: before, Limit: state.MaxPageLimit})
		if err != nil {
			return err
		}
		sum.Decisions += len(ds)
		if len(ds) < state.MaxPageLimit {
			return nil
		}
		before = ds[len(ds)-1].ID
	}
}

// liveLines prints the demo's short live lines: one per decision, and the
// cluster's and the cloud's events, stamped with simulated time.
type liveLines struct {
	mu sync.Mutex
	w  io.Writer
}

// maxLine bounds a live line; demo.log has the whole record.
const maxLine = 200

func (l *liveLines) printf(at time.Time, format string, args ...any) {
	msg := strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " ")
	if r := []rune(msg); len(r) > maxLine {
		msg = string(r[:maxLine-1]) + "…"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s  %s\n", at.Format("Mon 15:04"), msg)
}

// followDecisions prints each decision the server records, oldest first,
// until ctx ends.
func (l *liveLines) followDecisions(ctx context.Context, st state.Store) {
	var last int64
	var lastHold string
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ds, err := st.Decisions(ctx, state.DecisionFilter{Pool: demoPool, Limit: 50})
		if err != nil {
			continue
		}
		slices.Reverse(ds)
		for _, d := range ds {
			if d.ID <= last {
				continue
			}
			last = d.ID
			// A hold is shown when its reason changes, not every tick
			// (its waits and counts change every tick).
			if strings.HasPrefix(d.Summary, "hold") {
				shape := digits.ReplaceAllString(d.Summary, "#")
				if shape == lastHold {
					continue
				}
				lastHold = shape
			} else {
				lastHold = ""
			}
			l.printf(d.Time, "decision  %s", d.Summary)
		}
	}
}

var digits = regexp.MustCompile(`[0-9][0-9.]*(ns|µs|ms|s|m|h)*`)

// demoEvents are the log messages shown as live lines (all go to demo.log).
var demoEvents = map[string]string{
	"launched": "launched ", "launch failed": "launch failed ", "instance joined": "joined ",
	"draining": "draining ", "terminating": "terminating ", "instance terminated": "ended ",
	"manual burst opened": "manual burst ", "manual burst cancelled": "burst cancelled ",
	"burst node joined the cluster": "cluster: node up ", "burst node left the cluster": "cluster: node gone ",
	"instance vanished": "vanished ", "swept an instance no state row claims": "swept ",
}

// newDemoLogger is the demo's logger: every record at level or above in
// text to w (demo.log), the demo's events also as live lines, all stamped
// with clk's time, the simulated time the rest of the demo shows.
func newDemoLogger(w io.Writer, level slog.Leveler, lines *liveLines, clk clock.PassiveClock) *slog.Logger {
	return slog.New(&demoHandler{full: slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}), lines: lines, clock: clk})
}

// demoHandler writes every record to the full log and the demo's events
// also as live lines, restamped with the demo's clock: slog stamps a
// record with the wall clock.
type demoHandler struct {
	full  slog.Handler
	lines *liveLines
	clock clock.PassiveClock
}

func (h *demoHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.full.Enabled(ctx, l)
}

func (h *demoHandler) Handle(ctx context.Context, r slog.Record) error {
	now := h.clock.Now()
	if !r.Time.IsZero() { // zero: the record asks for no time
		r.Time = now
	}
	if label, ok := demoEvents[r.Message]; ok && r.Level >= slog.LevelInfo && (r.Message != "launched" || hasAttr(r, "offering")) {
		var b strings.Builder
		b.WriteString(label)
		r.Attrs(func(a slog.Attr) bool {
			switch {
			case a.Key == "pool" || a.Key == "intent":
			case a.Value.Kind() == slog.KindTime: // as the line's own stamp, not Go's "2024-01-02 15:56:53.3516196 +0000 UTC"
				fmt.Fprintf(&b, " %s=%s", a.Key, a.Value.Time().In(now.Location()).Format("Mon 15:04"))
			default:
				fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
			}
			return true
		})
		h.lines.printf(now, "%s", strings.TrimSpace(b.String()))
	}
	if h.full.Enabled(ctx, r.Level) {
		return h.full.Handle(ctx, r)
	}
	return nil
}

func hasAttr(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}

func (h *demoHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &demoHandler{full: h.full.WithAttrs(as), lines: h.lines, clock: h.clock}
}

func (h *demoHandler) WithGroup(name string) slog.Handler {
	return &demoHandler{full: h.full.WithGroup(name), lines: h.lines, clock: h.clock}
}
