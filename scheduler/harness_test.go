package scheduler_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/providers/aws"
	"github.com/spillway-io/spillway/scheduler"
	"github.com/spillway-io/spillway/state"
	"github.com/spillway-io/spillway/state/postgres"
	"github.com/spillway-io/spillway/state/sqlite"
)

const (
	cluster  = "test-cluster"
	provName = "aws"
	gpuType  = "p4d.24xlarge" // 8 GPUs
	altType  = "p5.48xlarge"  // 8 GPUs, dearer
	bootTime = time.Minute
)

var (
	staticCreds = credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")
	t0          = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC) // a Monday
	ipBlock     = 0
	ipMu        sync.Mutex
)

// harness is one scheduler on the EC2 emulator through the real AWS SDK,
// with a SQLite state, a fake clock, a demand the test sets, and a
// simulated agent at each burst instance's private address.
type harness struct {
	t      *testing.T
	clk    *clocktesting.FakeClock
	emu    *emulator.Emulator
	url    string
	prov   providers.Provider
	dbPath string
	store  state.Store
	sched  *scheduler.Scheduler
	pool   policy.Pool
	opts   scheduler.Options
	agents *agents

	mu      sync.Mutex
	demand  policy.Snapshot
	drained []string
	// hook, when set, is the pool's drain hook instead of recording drains.
	hook func(context.Context, config.InstanceFields) error
	// userData, when set, renders every launch's user data.
	userData func(config.InstanceFields) (string, error)
	// wrap, when set, stands between the scheduler and the state it opens
	// (h.store stays the state itself).
	wrap func(state.Store) state.Store
	// extra are pools the scheduler runs beside h.pool (ticked by the test).
	extra []scheduler.Pool
	// capacity, when set, is the scheduler's capacity cache (a restart
	// keeps it); else each start makes one.
	capacity *providers.CapacityCache
	// moreProviders are providers the scheduler has beside provName.
	moreProviders map[string]providers.Provider
	// withoutMain leaves provName out of the scheduler's providers (a
	// config that no longer has it).
	withoutMain bool
	// pgDSN, when set, is the PostgreSQL database of the state instead of
	// the SQLite file at dbPath.
	pgDSN string
	// logs, when set, gets the scheduler's log too.
	logs *lockedBuffer
	// cloudClk, when set, is the emulator's clock apart from the server's
	// (withCloudClock); step moves both.
	cloudClk *clocktesting.FakeClock
}

// lockedBuffer is a log's text, written and read from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type harnessOption func(*harness)

func newHarness(t *testing.T, pool policy.Pool, hopts ...harnessOption) *harness {
	t.Helper()
	h := &harness{t: t, clk: clocktesting.NewFakeClock(t0), pool: pool}
	h.emu = emulator.New(emulator.Options{Clock: h.cloudNow, BootDelay: bootTime, Seed: 3, PrivateIPs: nextIPRange(t)})
	srv := httptest.NewServer(h.emu.EC2Handler())
	t.Cleanup(srv.Close)
	h.url = srv.URL
	h.prov = h.newProvider()
	h.dbPath = filepath.Join(t.TempDir(), "state.db")
	h.agents = newAgents(t)
	h.demand = policy.Snapshot{OnPremGPUs: 8, OnPremBusyGPUs: 8, OnPremFreeGPUs: 0}
	for _, o := range hopts {
		o(h)
	}
	h.start()
	return h
}

// withCloudClock gives the emulator a clock of its own, at the server's
// until the test moves one without the other.
func withCloudClock(h *harness) { h.cloudClk = clocktesting.NewFakeClock(h.clk.Now()) }

// cloudNow is the emulator's clock: its own, or the server's.
func (h *harness) cloudNow() time.Time {
	if h.cloudClk != nil {
		return h.cloudClk.Now()
	}
	return h.clk.Now()
}

// nextIPRange gives each harness its own loopback /24, so agents of
// parallel or repeated tests never collide.
func nextIPRange(t *testing.T) netip.Prefix {
	ipMu.Lock()
	defer ipMu.Unlock()
	ipBlock++
	return netip.MustParsePrefix(fmt.Sprintf("127.%d.%d.0/24", 100+os.Getpid()%100, ipBlock%250))
}

// harnessBuckets are EC2's request buckets (aws.DefaultBuckets) made a
// thousand times larger. Every call still takes its tokens through the
// provider's pacing, but a test's hundreds of ticks, minutes apart on the
// fake clock and milliseconds apart on the wall clock, never wait for a
// real-time refill: at EC2's rates (DescribeInstances 90, then 18 a second)
// two hours of 30 s steps waited over 4 s of wall time for tokens, and the
// package's tests spent minutes so. Pacing itself is tested in
// providers/aws.
func harnessBuckets() map[string]providers.Bucket {
	out := aws.DefaultBuckets()
	for k, b := range out {
		out[k] = providers.Bucket{Burst: b.Burst * 1000, Rate: b.Rate * 1000}
	}
	return out
}

// harnessBackoff caps the harness providers' waits between the attempts of
// a call the cloud refused or whose answer was lost: each retry is still
// made, but a test of a terminate refused at each of 120 ticks waited 2 ×
// 20 ms per tick on the wall clock, most of its 10 s. Backoff itself is
// tested in providers/aws and providers/alicloud.
const harnessBackoff = time.Millisecond

func (h *harness) newProvider() providers.Provider { return h.newProviderAt(provName, h.url) }

// newProviderAt is an aws provider, named name, at the EC2 API at url.
func (h *harness) newProviderAt(name, url string) providers.Provider {
	cfg := config.ProviderConfig{
		Type: config.ProviderAWS, Region: "us-east-1", Endpoint: url, Image: "ami-0abcdef1234567890",
		Subnets: []config.Subnet{{Zone: "us-east-1a", ID: "subnet-us-east-1a"}, {Zone: "us-east-1b", ID: "subnet-us-east-1b"}},
	}
	p, err := aws.New(context.Background(), cfg, name, aws.WithCredentials(staticCreds), aws.WithRetry(3, harnessBackoff), aws.WithBuckets(harnessBuckets()))
	if err != nil {
		h.t.Fatalf("aws.New: %v", err)
	}
	h.t.Cleanup(p.Close)
	return p
}

// start opens the state and builds a scheduler, as a server start does.
func (h *harness) start() {
	h.t.Helper()
	var st state.Store
	var err error
	if h.pgDSN != "" {
		st, err = postgres.Open(context.Background(), h.pgDSN)
	} else {
		st, err = sqlite.Open(context.Background(), h.dbPath)
	}
	if err != nil {
		h.t.Fatalf("open state: %v", err)
	}
	h.t.Cleanup(func() { st.Close() })
	h.store = st
	var use state.Store = st
	if h.wrap != nil {
		use = h.wrap(st)
	}
	var logTo io.Writer = testWriter{h.t}
	if h.logs != nil {
		logTo = io.MultiWriter(logTo, h.logs)
	}
	h.opts = scheduler.Options{
		Cluster: cluster, Providers: h.providers(), Store: use, Clock: h.clk,
		Logger:     slog.New(slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: slog.LevelDebug})),
		SweepGrace: 10 * time.Minute, Capacity: h.capacity, DryRun: h.opts.DryRun, Retention: h.opts.Retention, Leader: h.opts.Leader, Registerer: h.opts.Registerer,
		CallTimeout: h.opts.CallTimeout, CallTimeouts: h.opts.CallTimeouts, Tick: h.opts.Tick,
		Pools: []scheduler.Pool{{
			Policy:   h.pool,
			Snapshot: h.snapshot,
			AgentURL: func(in config.InstanceFields) (string, error) {
				return "http://" + net.JoinHostPort(in.PrivateIP, h.agents.port), nil
			},
			JoinTimeout: 10 * time.Minute,
			UserData:    h.userData,
			Drain: func(ctx context.Context, in config.InstanceFields) error {
				h.mu.Lock()
				h.drained = append(h.drained, in.ID)
				h.mu.Unlock()
				if h.hook != nil {
					return h.hook(ctx, in)
				}
				return nil
			},
		}},
	}
	h.opts.Pools = append(h.opts.Pools, h.extra...)
	h.sched, err = scheduler.New(h.opts)
	if err != nil {
		h.t.Fatalf("scheduler.New: %v", err)
	}
}

// providers is the scheduler's providers: provName and moreProviders.
func (h *harness) providers() map[string]providers.Provider {
	out := map[string]providers.Provider{provName: h.prov}
	if h.withoutMain {
		delete(out, provName)
	}
	maps.Copy(out, h.moreProviders)
	return out
}

// restart closes the state and starts a new scheduler on the same file.
func (h *harness) restart() {
	h.store.Close()
	h.start()
}

func (h *harness) snapshot(context.Context) policy.Snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.demand
	s.Time = h.clk.Now()
	s.PendingJobGPUs = append([]int(nil), s.PendingJobGPUs...)
	return s
}

// setDemand sets the queue: jobs of the given GPU sizes, waiting for wait.
func (h *harness) setDemand(wait time.Duration, jobs ...int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.demand.PendingJobs, h.demand.PendingGPUs, h.demand.PendingJobGPUs = len(jobs), 0, jobs
	h.demand.PendingJobWaits = nil
	for _, g := range jobs {
		h.demand.PendingGPUs += g
		h.demand.PendingJobWaits = append(h.demand.PendingJobWaits, wait)
	}
	h.demand.OldestWait = 0
	if len(jobs) > 0 {
		h.demand.OldestWait = wait
	}
}

func (h *harness) tick() {
	h.t.Helper()
	if err := h.sched.Tick(context.Background(), h.pool.Name); err != nil {
		h.t.Fatalf("tick: %v", err)
	}
}

// step moves the clock, serves an agent at every running instance's
// address (unless the instance is in noAgent), and ticks.
func (h *harness) step(d time.Duration) {
	h.t.Helper()
	h.clk.Step(d)
	if h.cloudClk != nil {
		h.cloudClk.Step(d)
	}
	h.serveAgents()
	h.tick()
}

// until steps by d until cond holds, at most n times.
func (h *harness) until(what string, d time.Duration, n int, cond func() bool) {
	h.t.Helper()
	for range n {
		if cond() {
			return
		}
		h.step(d)
	}
	if !cond() {
		h.t.Fatalf("%s: still not true after %d steps of %s", what, n, d)
	}
}

// busyFor steps h a minute at a time for d, its instance's agent
// answering its 8 GPUs busy at each step.
func (h *harness) busyFor(d time.Duration) {
	for end := h.clk.Now().Add(d); h.clk.Now().Before(end); {
		h.agents.setBusy(8)
		h.step(time.Minute)
	}
}

// joinOne has the queue ask for 8 GPUs, ticks (the pool launching one
// instance), steps the clock by d up to n times until that instance has
// joined, and returns its id.
func (h *harness) joinOne(d time.Duration, n int) string {
	h.t.Helper()
	h.setDemand(2*time.Minute, 8)
	h.tick()
	h.until("the instance joins", d, n, func() bool {
		rs := h.rows(true)
		return len(rs) == 1 && rs[0].State == state.InstanceRunning
	})
	return h.rows(true)[0].ID
}

// untilNoLongerBooting steps a minute at a time, at most 15 times, until
// instance id has left the booting state (its join timeout ended it).
func (h *harness) untilNoLongerBooting(id string) {
	h.t.Helper()
	h.until("join timeout ends "+id, time.Minute, 15, func() bool {
		for _, r := range h.rows(false) {
			if r.ID == id && r.State != state.InstanceBooting {
				return true
			}
		}
		return false
	})
}

func (h *harness) serveAgents() {
	for _, in := range h.emu.Instances() {
		if in.State == "running" {
			h.agents.serve(h.t, in.PrivateIP)
		}
	}
}

// live returns the emulator's instances of this cluster that are not
// terminated or shutting down.
func (h *harness) live() []emulator.Instance {
	var out []emulator.Instance
	for _, in := range h.emu.Instances() {
		if (in.State == "pending" || in.State == "running") && tag(in, providers.TagCluster) == cluster {
			out = append(out, in)
		}
	}
	return out
}

func tag(in emulator.Instance, key string) string {
	for _, t := range in.Tags {
		if t.Key == key {
			return t.Value
		}
	}
	return ""
}

func (h *harness) rows(live bool) []state.Instance {
	h.t.Helper()
	rs, err := h.store.Instances(context.Background(), state.InstanceFilter{Pool: h.pool.Name, Live: live})
	if err != nil {
		h.t.Fatal(err)
	}
	return rs
}

// lastDrainReason is the reason of the last drain the recorded decisions
// name, in their order; "" when none drains.
func (h *harness) lastDrainReason() string {
	h.t.Helper()
	var reason string
	for _, d := range h.decisions() {
		for _, dr := range d.Drains {
			reason = dr.Reason
		}
	}
	return reason
}

func (h *harness) decisions() []scheduler.Decision {
	h.t.Helper()
	ds, err := h.store.Decisions(context.Background(), state.DecisionFilter{Pool: h.pool.Name, Limit: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	out := make([]scheduler.Decision, len(ds))
	for i, d := range ds {
		if err := json.Unmarshal(d.Plan, &out[i]); err != nil {
			h.t.Fatalf("decision %d: %v", d.ID, err)
		}
	}
	return out
}

// agents serves simulated spillway agents: one listener per private
// address, all on the same port, each reporting 8 GPUs of which the test
// sets how many are busy.
type agents struct {
	port string
	mu   sync.Mutex
	busy map[string]int
	down map[string]bool
	srvs map[string]*http.Server
	// handler, when set, answers for every agent instead of the
	// simulated one (a real spillway agent's, for instance).
	handler http.Handler
}

func newAgents(t *testing.T) *agents {
	// Pick a port free on 127.0.0.1; the same port on other loopback
	// addresses of the block is practically always free too.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	a := &agents{port: port, busy: map[string]int{}, down: map[string]bool{}, srvs: map[string]*http.Server{}}
	t.Cleanup(func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, s := range a.srvs {
			s.Close()
		}
	})
	return a
}

func (a *agents) serve(t *testing.T, ip string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.srvs[ip]; ok || a.down[ip] {
		return
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, a.port))
	if err != nil {
		t.Fatalf("simulated agent at %s: %v", ip, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		busy, handler := a.busy[ip], a.handler
		a.mu.Unlock()
		if handler != nil {
			handler.ServeHTTP(w, r)
			return
		}
		type gpu struct {
			Index int  `json:"index"`
			Busy  bool `json:"busy"`
		}
		body := struct {
			Node string `json:"node"`
			GPUs []gpu  `json:"gpus"`
		}{Node: ip}
		for i := range 8 {
			body.GPUs = append(body.GPUs, gpu{Index: i, Busy: i < busy})
		}
		_ = json.NewEncoder(w).Encode(body)
	}), ReadHeaderTimeout: 5 * time.Second}
	a.srvs[ip] = srv
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("agent %s: %v", ip, err)
		}
	}()
}

// setBusy sets the busy GPUs of every agent.
func (a *agents) setBusy(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for ip := range a.srvs {
		a.busy[ip] = n
	}
}

// never keeps the agent at ip from ever answering.
func (a *agents) never(ip string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.down[ip] = true
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// testPool is a pool of 8 on-prem GPUs bursting to p4d (cheapest) then p5.
func testPool() policy.Pool {
	return policy.Pool{
		Name: "train", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8},
		WaitTarget: policy.Duration(time.Minute), Interval: policy.Duration(10 * time.Second),
		StaleAfter: policy.Duration(2 * time.Minute),
		Offerings: []policy.Offering{
			{Name: "p4d", Provider: provName, Region: "us-east-1", InstanceType: gpuType, GPUs: 8, PricePerHour: 32.77,
				Boot: policy.Duration(bootTime), Market: policy.MarketOnDemand, Performance: 1, Billing: policy.BillingPerSecondMin60},
			{Name: "p5", Provider: provName, Region: "us-east-1", InstanceType: altType, GPUs: 8, PricePerHour: 98.32,
				Boot: policy.Duration(bootTime), Market: policy.MarketOnDemand, Performance: 1, Billing: policy.BillingPerSecondMin60},
		},
		Limits:  policy.Limits{MaxGPUs: 32},
		ScaleIn: policy.ScaleIn{Idle: policy.IdleSetting{Duration: 5 * time.Minute}, DrainTimeout: policy.Duration(10 * time.Minute)},
		Manual:  policy.Manual{MaxGPUs: 16, MaxTTL: policy.Duration(4 * time.Hour)},
	}
}

var _ = awssdk.String
