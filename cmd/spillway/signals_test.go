package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/nvml"
)

// signalsLeakCheck fails the test if it leaves goroutines behind (servers,
// kept-alive connections, source reads). Registered first, it runs after
// every other cleanup.
func signalsLeakCheck(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// signalsAgent serves a simulated DGX H100 node through the real agent
// handler on loopback, sampled once. Its load is fixed at 6 of 8 GPUs
// allocated, half of those idle; it returns the node's expected busy, free
// and idle-allocated GPU counts, computed from the simulation itself.
func signalsAgent(t *testing.T, node string) (srv *httptest.Server, busy, free, waste int) {
	return signalsAgentAt(t, node, time.Now())
}

// signalsAgentAt is signalsAgent with the sample taken at a given time.
func signalsAgentAt(t *testing.T, node string, at time.Time) (srv *httptest.Server, busy, free, waste int) {
	t.Helper()
	now := func() time.Time { return at }
	load := &nvml.Series{Name: "six of eight", Step: time.Minute, Busy: []float64{0.75}}
	sim, err := nvml.NewSimulatedNode("dgxh100", load, nvml.WithSimClock(now), nvml.WithIdleAllocated(0.5))
	if err != nil {
		t.Fatal(err)
	}
	s, err := nvml.NewSampler(sim.Interface(), node, nvml.WithClock(now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a := nvml.NewAgent(s)
	if err := a.SampleOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv = httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	for i := range 8 {
		st := sim.StateAt(i, at)
		switch {
		case st.Processes == 0:
			free++
		case float64(st.Utilization) < nvml.DefaultThresholds.BusyUtil:
			busy++ // a process holds it: busy, though it computes nothing
			waste++
		default:
			busy++
		}
	}
	if busy != 6 || free != 2 || waste == 0 || waste == 6 {
		t.Fatalf("the simulated node has %d busy, %d free, %d idle-allocated GPUs: want 6 busy (some idle), 2 free", busy, free, waste)
	}
	return srv, busy, free, waste
}

// queueServer serves a queue document: three pending jobs asking 1, 2
// and 4 GPUs, the oldest waiting five minutes. hits counts requests.
func queueServer(t *testing.T, hits *atomic.Int32) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits != nil {
			hits.Add(1)
		}
		fmt.Fprint(w, `{"queue": {"jobs": [1, 2, 4], "oldest_wait": 300}}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func closedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// writeSignalsFile writes a spillway.yaml with one pool whose signals are
// body; see signalsConfig.
func writeSignalsFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "spillway.yaml")
	if err := os.WriteFile(path, []byte(signalsConfig(body)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// signalsConfigHeader is the part of signalsConfig's file before the
// pool's own settings: cluster, a provider and the pool's name and offering.
const signalsConfigHeader = `cluster: test
providers:
  aws: {type: aws, region: us-east-1}
pools:
  - name: %s
    offerings: [{provider: aws, instance_type: p5.48xlarge}]
`

// signalsConfig makes a spillway.yaml of one pool from a body written as
// the pool's signals at the top level: its "pool:" line names the pool
// (training when absent), "stale_after:" and "onprem:" lines are the
// pool's own settings, and every other line goes under the pool's
// signals:, indented by six spaces. The body's line N (not counting pool,
// stale_after and onprem lines) is line N+7+(those lines) of the file.
func signalsConfig(body string) string {
	pool := "training"
	var own, sig []string
	for _, l := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "pool: "):
			pool = strings.TrimPrefix(l, "pool: ")
		case strings.HasPrefix(l, "stale_after:"), strings.HasPrefix(l, "onprem:"):
			own = append(own, "    "+l)
		default:
			sig = append(sig, "      "+l)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, signalsConfigHeader, pool)
	for _, l := range own {
		b.WriteString(l + "\n")
	}
	b.WriteString("    signals:\n")
	for _, l := range sig {
		b.WriteString(l + "\n")
	}
	return b.String()
}

func runSignals(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"signals"}, args...))
	err = root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

func exitCode(err error) int {
	var ec *exitCodeError
	if errors.As(err, &ec) {
		return ec.code
	}
	if err != nil {
		return -1
	}
	return 0
}

// signalsFile is a pool fed by one agent, an HTTP queue and a command
// printing 5 (pending GPUs); extra demand entries are appended.
func signalsFile(agentURL, queueURL, extra string) string {
	return signalsPool(agentURL) + fmt.Sprintf(`  - type: http
    attempts: 1
    http:
      name: queue
      url: %s/queue
      job_gpus: queue.jobs
      oldest_wait_seconds: queue.oldest_wait
  - type: command
    command:
      command: [sh, -c, 'echo 5']
%s`, queueURL, extra)
}

// signalsPool is a pool fed by one agent, up to its demand sources' list.
func signalsPool(agentURL string) string {
	return fmt.Sprintf(`pool: training
stale_after: 1m
onprem: {nodes: 2, gpus_per_node: 8}
baseline:
  agents:
    urls: [%s]
demand:
`, agentURL)
}

func TestSignalsCheck(t *testing.T) {
	signalsLeakCheck(t)
	agent, busy, free, waste := signalsAgent(t, "gpu-01")
	path := writeSignalsFile(t, signalsFile(agent.URL, queueServer(t, nil).URL, ""))

	out, stderr, err := runSignals(t.Context(), "check", path)
	if err != nil {
		t.Fatalf("check: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr)
	}
	outputSays(t, out,
		"pool training ("+path+")",
		"ok      agents:training (baseline, ",
		fmt.Sprintf("8 GPUs on 1 node: %d busy, %d free, %d allocated but idle (8× NVIDIA H100 80GB HBM3)", busy, free, waste),
		"ok      queue (demand, ",
		"): 3 jobs, 7 GPUs, job sizes 1 2 4, oldest wait 5m0s",
		"ok      command:sh (demand, ",
		"): 0 jobs, 5 GPUs\n",
		fmt.Sprintf("on-prem GPUs  8 total, %d busy, %d free", busy, free),
		"waste         "+policyPlural(waste, "GPU")+" allocated but idle",
		"pending       3 jobs, 12 GPUs",
		// The command does not list its jobs, so the sizes are unknown.
		"job sizes     unknown",
		"job waits     unknown (not every source gives each job's wait): launches for the queue wait on its oldest job",
		"oldest wait   5m0s",
		"stale         none",
	)
}

// TestSignalsCheckJobWaits: a queue that gives each job's wait reaches the
// snapshot with it, and the check says the engine will hold young jobs.
func TestSignalsCheckJobWaits(t *testing.T) {
	signalsLeakCheck(t)
	agent, _, _, _ := signalsAgent(t, "gpu-01")
	queue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"queue": {"jobs": [1, 2, 4], "waits": [300, 60, 0]}}`)
	}))
	t.Cleanup(queue.Close)
	path := writeSignalsFile(t, signalsPool(agent.URL)+fmt.Sprintf(`  - type: http
    http:
      name: queue
      url: %s/queue
      job_gpus: queue.jobs
      job_wait_seconds: queue.waits
`, queue.URL))
	out, stderr, err := runSignals(t.Context(), "check", path)
	if err != nil {
		t.Fatalf("check: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr)
	}
	outputSays(t, out,
		"): 3 jobs, 7 GPUs, job sizes 1 2 4, each job's wait known, oldest wait 5m0s",
		"job waits     known for each job: the youngest are left to on-prem, launches only for those that would wait past the target",
		"oldest wait   5m0s\n",
	)
	js, _, err := runSignals(t.Context(), "check", "--json", path)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Snapshot struct {
			Waits []float64 `json:"pending_job_wait_seconds"`
		} `json:"snapshot"`
	}
	if err := json.Unmarshal([]byte(js), &r); err != nil || fmt.Sprint(r.Snapshot.Waits) != "[300 60 0]" {
		t.Errorf("--json snapshot waits %v (%v), want [300 60 0]:\n%s", r.Snapshot.Waits, err, js)
	}
}

// TestSignalsCheckEmptyQueueSizes: a queue that lists each job's GPUs
// and wait and has none pending reads "job sizes none" on its line; the
// snapshot says none too, not that no source lists them.
func TestSignalsCheckEmptyQueueSizes(t *testing.T) {
	signalsLeakCheck(t)
	agent, _, _, _ := signalsAgent(t, "gpu-01")
	queue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"queue": {"jobs": [], "waits": []}}`)
	}))
	t.Cleanup(queue.Close)
	out, stderr, err := runSignals(t.Context(), "check", writeSignalsFile(t, signalsPool(agent.URL)+fmt.Sprintf(`  - type: http
    http:
      url: %s/queue
      job_gpus: queue.jobs
      job_wait_seconds: queue.waits
`, queue.URL)))
	if err != nil {
		t.Fatalf("check: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr)
	}
	for _, want := range []string{"): 0 jobs, 0 GPUs, job sizes none, ", "job sizes     none: nothing pending\n", "job waits     none: nothing pending\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
}

// TestSignalsCheckShowsScatteredFreeGPUs: idle GPUs that no pending job
// fits are shown apart from the free ones.
func TestSignalsCheckShowsScatteredFreeGPUs(t *testing.T) {
	for _, tt := range []struct {
		snap snapshotJSON
		want string
	}{
		{snapshotJSON{OnPremGPUs: 16, OnPremBusyGPUs: 10, OnPremFreeGPUs: 0},
			"on-prem GPUs  16 total, 10 busy, 0 free (6 idle: the rest sit on nodes with no room for the smallest pending job)\n"},
		{snapshotJSON{OnPremGPUs: 16, OnPremBusyGPUs: 10, OnPremFreeGPUs: 6}, "on-prem GPUs  16 total, 10 busy, 6 free\n"},
	} {
		var out strings.Builder
		printSignalsReport(&out, signalsReport{Pool: "training", File: "spillway.yaml", Snapshot: tt.snap})
		if !strings.Contains(out.String(), tt.want) {
			t.Errorf("output does not say %q:\n%s", tt.want, out.String())
		}
	}
}

// TestSignalsCheckShowsLeftOutJobs: the jobs a source saw and did not
// count (a Slurm job pending for a limit or a license, or asking for a
// GPU type the pool does not rent) are shown under it, and in --json.
func TestSignalsCheckShowsLeftOutJobs(t *testing.T) {
	d := signals.Demand{Source: "slurm:gpu", PendingJobs: 1, PendingGPUs: 8, PendingGPUsKnown: true, JobGPUs: []int{8},
		LeftOut: []signals.LeftOut{{Why: "pending for QOSMaxGRESPerUser", Jobs: 3}, {Why: "asking for GPU type a100, not in gpu_types", Jobs: 1}}}
	res := summarizeDemand(d)
	var out strings.Builder
	printSignalsReport(&out, signalsReport{Pool: "training", File: "spillway.yaml",
		Sources: []sourceResult{{Name: "slurm:gpu", Kind: "demand", OK: true, Demand: res}}})
	want := "): 1 job, 8 GPUs, job sizes 8\n          left out: 3 jobs pending for QOSMaxGRESPerUser, 1 job asking for GPU type a100, not in gpu_types\n"
	if !strings.Contains(out.String(), want) {
		t.Errorf("output does not say %q:\n%s", want, out.String())
	}
	js, err := json.Marshal(res)
	if err != nil || !strings.Contains(string(js), `"left_out":[{"why":"pending for QOSMaxGRESPerUser","jobs":3},{"why":"asking for GPU type a100, not in gpu_types","jobs":1}]`) {
		t.Errorf("--json demand %s (%v) lacks left_out", js, err)
	}
	out.Reset()
	d.LeftOut = nil
	printSignalsReport(&out, signalsReport{Sources: []sourceResult{{Name: "slurm:gpu", Kind: "demand", OK: true, Demand: summarizeDemand(d)}}})
	if strings.Contains(out.String(), "left out") || strings.Contains(out.String(), "counted larger") {
		t.Errorf("a source that left nothing out and counted every job by its GPUs says so:\n%s", out.String())
	}
	out.Reset()
	d.Larger = 1
	res = summarizeDemand(d)
	printSignalsReport(&out, signalsReport{Sources: []sourceResult{{Name: "slurm:gpu", Kind: "demand", OK: true, Demand: res}}})
	if want := "          counted larger: 1 job, as the GPUs of the smallest offering that holds their CPUs and memory\n"; !strings.Contains(out.String(), want) {
		t.Errorf("output does not say %q:\n%s", want, out.String())
	}
	if js, err := json.Marshal(res); err != nil || !strings.Contains(string(js), `"counted_larger":1`) {
		t.Errorf("--json demand %s (%v) lacks counted_larger", js, err)
	}
}

func TestSignalsCheckJSON(t *testing.T) {
	signalsLeakCheck(t)
	agent, busy, free, waste := signalsAgent(t, "gpu-01")
	down := closedURL(t)
	// A second agent that is down, and an HTTP queue that is down.
	body := strings.Replace(signalsFile(agent.URL, queueServer(t, nil).URL, fmt.Sprintf(`  - type: http
    attempts: 1
    http: {name: down, url: %s/queue, pending_jobs: n}
`, down)), "urls: ["+agent.URL+"]", "urls: ["+agent.URL+", "+down+"]", 1)
	path := writeSignalsFile(t, body)

	out, stderr, err := runSignals(t.Context(), "check", "--json", path)
	if exitCode(err) != exitSignalsFailed {
		t.Fatalf("check with a failing source: %v, want exit code %d", err, exitSignalsFailed)
	}
	if !strings.Contains(err.Error(), "1 of 4 sources failed (down), 1 of 4 answered in part (agents:training)") {
		t.Errorf("error %q does not name the failed sources", err)
	}
	var r signalsReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("--json output: %v\n%s\nstderr: %s", err, out, stderr)
	}
	if r.OK || r.Pool != "training" || len(r.Sources) != 4 {
		t.Fatalf("report ok=%v pool=%q with %d sources, want a failed check of training's 4 sources:\n%s", r.OK, r.Pool, len(r.Sources), out)
	}
	b := r.Sources[0]
	if b.OK || b.Baseline == nil || b.Baseline.GPUs != 8 || b.Baseline.BusyGPUs != busy ||
		!strings.Contains(b.Baseline.Unknown[down], "connection refused") {
		t.Errorf("baseline result %+v %+v: want the live agent's 8 GPUs (%d busy) and %s unknown (connection refused)", b, b.Baseline, busy, down)
	}
	d := r.Sources[3]
	if d.Name != "down" || d.OK || !strings.Contains(d.Error, "connection refused") || d.Demand != nil {
		t.Errorf("down source %+v: want failed with connection refused", d)
	}
	s := r.Snapshot
	// The unknown node counts gpus_per_node (8) busy GPUs; the failed
	// source is out of the sums.
	if s.OnPremGPUs != 16 || s.OnPremBusyGPUs != busy+8 || s.OnPremFreeGPUs != free || s.IdleAllocatedGPUs != waste ||
		s.PendingJobs != 3 || s.PendingGPUs != 12 || s.PendingJobGPUs != nil || s.OldestWaitSeconds != 300 {
		t.Errorf("snapshot %+v: want 16 on-prem (%d busy, %d free), %d waste, 3 jobs, 12 GPUs, sizes unknown, oldest 300 s", s, busy+8, free, waste)
	}
	stale := strings.Join(s.Stale, "\n")
	if len(s.Stale) != 2 || !strings.Contains(stale, "agents:training: node "+down+" unknown") || !strings.Contains(stale, "down") {
		t.Errorf("stale %q: want the unknown node and the down source", s.Stale)
	}
}

func TestSignalsCheckFailingSourceText(t *testing.T) {
	signalsLeakCheck(t)
	down := closedURL(t)
	path := writeSignalsFile(t, fmt.Sprintf(`pool: training
onprem: {nodes: 1, gpus_per_node: 4}
baseline:
  agents: {urls: [%s], timeout: 1s}
demand:
  - type: command
    command: {command: [sh, -c, 'echo 5']}
`, down))
	out, _, err := runSignals(t.Context(), "check", path)
	if exitCode(err) != exitSignalsFailed {
		t.Fatalf("check with no agent answering: %v, want exit code %d\n%s", err, exitSignalsFailed, out)
	}
	outputSays(t, out,
		"FAILED  agents:training (baseline, ",
		"connection refused",
		// The failed baseline counts every on-prem GPU as busy.
		"on-prem GPUs  4 total, 4 busy, 0 free",
		"pending       0 jobs, 5 GPUs",
		"oldest wait   0s (no source reports waits)",
		"stale         1: the policy would hold",
		"    - agents:training: none of 1 agents answered",
	)
}

// TestSignalsCheckIndentsAMultiLineError: a failure of several lines (the
// real squeue's standard error when its slurm.conf is empty: "…is empty /
// error: ClusterName needs to be specified / fatal: Unable to process
// configuration file") stays indented under its source and its stale item.
// Its second and later lines started at column 0, reading as lines of the
// report's own.
func TestSignalsCheckIndentsAMultiLineError(t *testing.T) {
	signalsLeakCheck(t)
	agent, _, _, _ := signalsAgent(t, "gpu-01")
	conf := filepath.Join(t.TempDir(), "slurm.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	path := writeSignalsFile(t, signalsPool(agent.URL)+fmt.Sprintf(`  - type: slurm
    attempts: 1
    slurm: {partition: gpu, slurm_conf: %s}
`, conf))
	out, _, err := runSignals(t.Context(), "check", path)
	const last = "fatal: Unable to process configuration file"
	if exitCode(err) != exitSignalsFailed || !strings.Contains(out, last) {
		t.Fatalf("check with squeue failing: %v, want exit code %d and squeue's standard error\n%s", err, exitSignalsFailed, out)
	}
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		top := l == "" || strings.HasPrefix(l, "pool ") || l == "sources:" || strings.HasPrefix(l, "snapshot (")
		if !top && !strings.HasPrefix(l, " ") {
			t.Errorf("line %q starts at column 0, outside the item it belongs to:\n%s", l, out)
		}
	}
	for _, want := range []string{"\n          squeue: " + last, "\n      squeue: " + last} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not indent squeue's last line as %q:\n%s", want, out)
		}
	}
}

// TestSignalsCheckStale: every source answers, but the agent's sample is
// older than stale_after (though young enough for max_sample_age): the
// policy would hold, so the check fails.
func TestSignalsCheckStale(t *testing.T) {
	signalsLeakCheck(t)
	agent, _, _, _ := signalsAgentAt(t, "gpu-01", time.Now().Add(-90*time.Second))
	path := writeSignalsFile(t, fmt.Sprintf(`pool: training
stale_after: 1m
baseline:
  agents: {urls: [%s], max_sample_age: 5m}
demand:
  - type: command
    command: {command: [sh, -c, 'echo 5']}
`, agent.URL))
	out, _, err := runSignals(t.Context(), "check", path)
	if exitCode(err) != exitSignalsFailed || !strings.Contains(err.Error(), "every source answered; 1 signal stale") {
		t.Fatalf("check with an old sample: %v, want exit code %d saying every source answered\n%s", err, exitSignalsFailed, out)
	}
	if !strings.Contains(out, "ok      agents:training") || !strings.Contains(out, "old, more than stale_after 1m0s") {
		t.Errorf("output does not show the old signal:\n%s", out)
	}
}

// TestSignalsCheckTimeout: a source that does not answer is cut off at
// --timeout and named.
func TestSignalsCheckTimeout(t *testing.T) {
	signalsLeakCheck(t)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	path := writeSignalsFile(t, fmt.Sprintf(`pool: training
demand:
  - type: http
    attempts: 1
    timeout: 1m
    http: {name: slow, url: %s, pending_jobs: n}
`, slow.URL))
	out, _, err := runSignals(t.Context(), "check", "--timeout", "100ms", path)
	if exitCode(err) != exitSignalsFailed || !strings.Contains(err.Error(), "1 of 1 sources failed (slow)") {
		t.Fatalf("check with a silent source: %v, want exit code %d naming it\n%s", err, exitSignalsFailed, out)
	}
	if !strings.Contains(out, "FAILED  slow (demand, ") || !strings.Contains(out, "(cut off by --timeout 100ms)") {
		t.Errorf("output does not show the silent source failed:\n%s", out)
	}
}

func TestSignalsCheckBadFile(t *testing.T) {
	signalsLeakCheck(t)
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"unknown field", "pool: a\ndemand:\n  - type: command\n    command: {command: [echo, '1']}\n    retries: 3\n",
			[]string{`:11:11: pools[0].signals.demand[0].retries: unknown field "retries": valid fields here are type, timeout, attempts, backoff, max_backoff, slurm, redis, http, command, prometheus`}},
		{"bad durations", "pool: a\nstale_after: 2 minutes\ndemand:\n  - type: command\n    timeout: 5\n    command: {command: [echo, '1']}\n",
			[]string{`:7:18: pools[0].stale_after: bad duration "2 minutes": use a Go duration such as 90s, 5m or 1h30m`, `:11:20: pools[0].signals.demand[0].timeout: bad duration "5"`}},
		{"bad source", "pool: a\ndemand:\n  - type: command\n    command: {command: [echo, '1']}\n  - type: http\n    http: {url: 'ftp://x', pending_jobs: n}\n",
			[]string{`:11:11: pools[0].signals.demand[1]: http source "http": `, `ftp://x`}},
		{"no demand", "pool: a\nbaseline:\n  agents: {urls: ['127.0.0.1:1']}\n",
			[]string{`:8:7: pools[0].signals.demand: missing required field: list at least one demand source`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeSignalsFile(t, tc.body)
			_, _, err := runSignals(t.Context(), "check", path)
			if exitCode(err) != exitSignalsBadFile {
				t.Fatalf("%v, want exit code %d", err, exitSignalsBadFile)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), path+w) && !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", path+w, err)
				}
				if strings.HasPrefix(w, ":") && !strings.Contains(err.Error(), path+w) {
					t.Errorf("error does not name %s%s:\n%v", path, w, err)
				}
			}
		})
	}
	_, _, err := runSignals(t.Context(), "check", filepath.Join(t.TempDir(), "missing.yaml"))
	if exitCode(err) != exitSignalsBadFile || !strings.Contains(err.Error(), "missing.yaml: no such config file") {
		t.Errorf("missing file: %v, want exit code %d naming the file", err, exitSignalsBadFile)
	}
}

// TestSignalsCheckWatch repeats the check until the context ends; the test
// ends it once the queue has been read three times.
func TestSignalsCheckWatch(t *testing.T) {
	signalsLeakCheck(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var hits atomic.Int32
	queue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) >= 3 {
			defer cancel()
		}
		fmt.Fprint(w, `{"queue": {"jobs": [2, 2]}}`)
	}))
	defer queue.Close()
	path := writeSignalsFile(t, fmt.Sprintf(`pool: training
demand:
  - type: http
    http: {url: %s, job_gpus: queue.jobs}
`, queue.URL))
	out, _, err := runSignals(ctx, "check", "--json", "--watch", "10ms", path)
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// The third round may be cut off by the cancellation; two are complete.
	if len(lines) < 2 || len(lines) > 3 {
		t.Fatalf("%d JSON lines, want 2 or 3 rounds:\n%s", len(lines), out)
	}
	for _, l := range lines {
		var r signalsReport
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if !r.OK || r.Snapshot.PendingGPUs != 4 || fmt.Sprint(r.Snapshot.PendingJobGPUs) != "[2 2]" {
			t.Errorf("round %+v: want 2 jobs of 2 GPUs", r.Snapshot)
		}
	}
}

func TestSignalsCheckFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"check"}, "wants one config file"},
		{[]string{"check", "--timeout", "0s", "x.yaml"}, "--timeout 0s"},
		{[]string{"check", "--watch", "-1s", "x.yaml"}, "--watch -1s"},
	} {
		_, _, err := runSignals(t.Context(), tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("spillway signals %s: %v, want %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

// TestSignalsExample checks the signals of the bundled reference config's
// training pool against a simulated agent on loopback (its URL swapped in).
func TestSignalsExample(t *testing.T) {
	signalsLeakCheck(t)
	agent, _, _, _ := signalsAgent(t, "gpu-01")
	data, err := os.ReadFile("../../configs/examples/spillway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "spillway.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), "urls: [http://127.0.0.1:9401]", "urls: ["+agent.URL+"]", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := runSignals(t.Context(), "check", "--pool", "training", path)
	if err != nil {
		t.Fatalf("example: %v\n%s", err, out)
	}
	if !strings.Contains(out, "pending       3 jobs, 7 GPUs") || !strings.Contains(out, "job sizes     1 2 4") {
		t.Errorf("example output:\n%s", out)
	}
	// README's single agent against the example's 4×8: said, exit 0.
	outputSays(t, out, "  warning       onprem says 4 nodes × 8 = 32 GPUs, the baseline found 8 GPUs on 1 node: the server counts what the baseline finds")
}

// TestSignalsCheckOnPremAgrees: a baseline that finds the nodes and GPUs
// onprem says gets no warning, nor does a pool that leaves onprem out.
func TestSignalsCheckOnPremAgrees(t *testing.T) {
	signalsLeakCheck(t)
	agent, _, _, _ := signalsAgent(t, "gpu-01")
	const demand = "demand:\n  - type: command\n    command: {command: [echo, '3']}\n"
	for _, onprem := range []string{"onprem: {nodes: 1, gpus_per_node: 8}\n", ""} {
		path := writeSignalsFile(t, onprem+"baseline:\n  agents: {urls: ["+agent.URL+"]}\n"+demand)
		out, _, err := runSignals(t.Context(), "check", path)
		if err != nil || !strings.Contains(out, "on-prem GPUs  8 total") || strings.Contains(out, "warning") {
			t.Errorf("%q: %v, want 8 GPUs and no warning:\n%s", onprem, err, out)
		}
	}
}

// TestSignalsCheckPools: every pool with signals is checked, or only
// --pool; an unknown pool, a pool without signals and a config where no
// pool has any are bad-file errors that say what to do.
func TestSignalsCheckPools(t *testing.T) {
	signalsLeakCheck(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	pool := func(name, signals string) string {
		return fmt.Sprintf("  - name: %s\n    offerings: [{provider: aws, instance_type: p5.48xlarge}]\n%s", name, signals)
	}
	demand := func(n int) string {
		return fmt.Sprintf("    signals:\n      demand:\n        - type: command\n          command: {command: [echo, '%d']}\n", n)
	}
	const head = "cluster: test\nproviders:\n  aws: {type: aws, region: us-east-1}\npools:\n"
	three := write("three.yaml", head+pool("a", demand(3))+pool("b", demand(5))+pool("c", ""))
	none := write("none.yaml", head+pool("c", ""))

	out, _, err := runSignals(t.Context(), "check", three)
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	if !strings.Contains(out, "pool a (") || !strings.Contains(out, "pending       0 jobs, 3 GPUs") ||
		!strings.Contains(out, "pool b (") || !strings.Contains(out, "pending       0 jobs, 5 GPUs") || strings.Contains(out, "pool c") {
		t.Errorf("want pools a and b (3 and 5 GPUs pending), not c:\n%s", out)
	}

	out, _, err = runSignals(t.Context(), "check", "--pool", "b", three)
	if err != nil || strings.Contains(out, "pool a") || !strings.Contains(out, "pool b (") {
		t.Errorf("--pool b: %v, want pool b alone:\n%s", err, out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--pool", "nosuch", three}, `--pool "nosuch": no such pool in ` + three + " (its pools are a, b, c)"},
		{[]string{"--pool", "c", three}, `pool "c" has no signals: add signals (baseline and demand) to it`},
		{[]string{none}, none + ": no pool has signals"},
	} {
		_, _, err := runSignals(t.Context(), append([]string{"check"}, tc.args...)...)
		if exitCode(err) != exitSignalsBadFile || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("check %v: %v, want exit code %d saying %q", tc.args, err, exitSignalsBadFile, tc.want)
		}
	}
}

// outputSays fails t for each of wants that out does not say.
func outputSays(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
}
