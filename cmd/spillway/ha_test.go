package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/internal/fixture"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/scheduler"
	"github.com/spillway-io/spillway/state"
	"github.com/spillway-io/spillway/state/postgres"
)

// haChildEnv makes the test binary run as `spillway` (see TestMain).
const haChildEnv = "SPILLWAY_HA_CHILD"

// haFaultsEnv raises the number of faults of the HA tests (make soak).
const haFaultsEnv = "SPILLWAY_HA_FAULTS"

const (
	haCluster = "ha-test"
	haTTL     = time.Second
	haRenew   = 200 * time.Millisecond
	haTick    = 200 * time.Millisecond
)

// call is one request a server made to the emulator, as the emulator got it.
type call struct {
	slot   int // the server slot whose endpoint it came through
	action string
	epoch  int64  // the spillway:epoch tag of a RunInstances; 0 otherwise
	token  string // the ClientToken of a RunInstances
	at     time.Time
}

// callLog records every EC2 request of every server, in arrival order.
type callLog struct {
	mu    sync.Mutex
	calls []call
	// around, when set, serves each request in place of the emulator's
	// handler: it calls serve (or not) and may hold the answer or drop it.
	around atomic.Pointer[func(c call, serve func())]
}

func (l *callLog) add(c call) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, c)
}

func (l *callLog) snapshot() []call {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

// firstAfter returns the first call of slot at or after t.
func (l *callLog) firstAfter(slot int, t time.Time) (call, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.calls {
		if c.slot == slot && !c.at.Before(t) {
			return c, true
		}
	}
	return call{}, false
}

func mutating(action string) bool { return action == "RunInstances" || action == "TerminateInstances" }

// recorder logs each request of slot before the emulator serves it.
func recorder(slot int, log *callLog, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		c := call{slot: slot, action: form.Get("Action"), token: form.Get("ClientToken"), at: at}
		for k, v := range form {
			if strings.HasSuffix(k, ".Key") && len(v) == 1 && v[0] == scheduler.TagEpoch {
				c.epoch, _ = strconv.ParseInt(form.Get(strings.TrimSuffix(k, ".Key")+".Value"), 10, 64)
			}
		}
		log.add(c)
		if around := log.around.Load(); around != nil {
			(*around)(c, func() { h.ServeHTTP(w, r) })
			return
		}
		h.ServeHTTP(w, r)
	})
}

// haSlot is one server's place: its emulator endpoint, its own TCP proxy
// to PostgreSQL (to cut it), its config, and the process running in it.
type haSlot struct {
	i      int
	proxy  *fixture.Proxy
	config string
	logs   string
	cmd    *exec.Cmd
	exited chan struct{}
}

// ha is several `spillway server` processes on one PostgreSQL and one
// emulator, under a demand that keeps them launching and terminating.
type ha struct {
	t      testing.TB
	pg     *fixture.Postgres
	db     *postgres.Store // the test's own connection, direct
	emu    *emulator.Emulator
	log    *callLog
	slots  []*haSlot
	demand atomic.Bool
	lease  string

	mu     sync.Mutex
	pidOf  map[int]int // pid → slot, every process ever started
	starts int
}

// haFast are the server settings of the HA tests: a dead leader is
// replaced in about a second.
var haFast = fmt.Sprintf("  tick: %s\n  lease_ttl: %s\n  lease_renew: %s\n", haTick, haTTL, haRenew)

// postgresDatabase starts a PostgreSQL for the test, stopped when it ends
// (failing it, never skipping, when it cannot), and creates a database
// named after prefix in it.
func postgresDatabase(tb testing.TB, prefix string) (*fixture.Postgres, string) {
	tb.Helper()
	pg, err := fixture.StartPostgres()
	if err != nil {
		tb.Fatalf("the test needs PostgreSQL: %v", err)
	}
	tb.Cleanup(pg.Stop)
	db, err := pg.CreateDatabase(prefix)
	if err != nil {
		tb.Fatal(err)
	}
	return pg, db
}

// startHA starts servers processes whose server sections add settings
// (YAML lines) to listen, state and sweep_grace. Everything it starts is
// the test's own (a PostgreSQL server, not only a database: a test that
// restarts it ends no other test's sessions; the emulator, the proxies,
// the queue and agent), so the HA tests run in parallel.
func startHA(t testing.TB, servers int, settings string) *ha {
	t.Helper()
	pg, dbName := postgresDatabase(t, "ha")
	db, err := postgres.Open(t.Context(), pg.DSN(dbName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h := &ha{t: t, pg: pg, db: db, log: &callLog{}, pidOf: map[int]int{}, lease: leaseName(haCluster)}
	h.emu = emulator.New(emulator.Options{Seed: 13, BootDelay: 100 * time.Millisecond})
	queue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if h.demand.Load() {
			fmt.Fprint(w, `{"job_gpus": [8, 8], "oldest_wait_seconds": 600}`)
			return
		}
		fmt.Fprint(w, `{"job_gpus": [], "oldest_wait_seconds": 0}`)
	}))
	t.Cleanup(queue.Close)
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, idleP4dAgent)
	}))
	t.Cleanup(agent.Close)
	dir := t.TempDir()
	// Server 0 has the database password in its DSN, the others in
	// server.state_password_file; no log may show it.
	pwfile := filepath.Join(dir, "db-password")
	if err := os.WriteFile(pwfile, []byte(fixture.PostgresPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	password := func(i int) string {
		if i == 0 {
			return ":" + fixture.PostgresPassword
		}
		return ""
	}
	for i := range servers {
		ec2 := httptest.NewServer(recorder(i, h.log, h.emu.EC2Handler()))
		t.Cleanup(ec2.Close)
		proxy, err := fixture.StartProxy(pg.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(proxy.Close)
		port, err := fixture.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		cfg := fmt.Sprintf(`cluster: %s
server:
  listen: 127.0.0.1:%d
  state: postgres://postgres%s@%s/%s?sslmode=disable&connect_timeout=1
%s  sweep_grace: 5s
  state_password_file: %s
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
        billing: per-second
    limits: {max_gpus: 16}
    scale_in: {idle: 500ms, drain_timeout: 1s}
    join:
      agent_url: %s
      timeout: 30s
    signals:
      demand:
        - type: http
          http:
            url: %s
            job_gpus: job_gpus
            oldest_wait_seconds: oldest_wait_seconds
`, haCluster, port, password(i), proxy.Addr, dbName, settings, pwfile, ec2.URL, agent.URL, queue.URL)
		s := &haSlot{i: i, proxy: proxy, config: filepath.Join(dir, fmt.Sprintf("server%d.yaml", i)), logs: filepath.Join(dir, fmt.Sprintf("server%d.log", i))}
		if err := os.WriteFile(s.config, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		h.slots = append(h.slots, s)
	}
	t.Cleanup(h.stopAll)
	for _, s := range h.slots {
		h.start(s)
	}
	return h
}

// start runs a new server process in slot s.
func (h *ha) start(s *haSlot) {
	h.t.Helper()
	out, err := os.OpenFile(s.logs, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		h.t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "server", "--config", s.config, "--log-level", "info")
	cmd.Env = append(os.Environ(), haChildEnv+"=1", "AWS_ACCESS_KEY_ID=emulator", "AWS_SECRET_ACCESS_KEY=emulator", "AWS_EC2_METADATA_DISABLED=true")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		h.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	h.mu.Lock()
	h.pidOf[cmd.Process.Pid] = s.i
	h.starts++
	h.mu.Unlock()
}

// stop ends the process in s: SIGCONT (it may be stopped), SIGTERM, and
// SIGKILL after 20s.
func (h *ha) stop(s *haSlot) {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT)
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

func (h *ha) stopAll() {
	for _, s := range h.slots {
		s.proxy.Restore()
		h.stop(s)
	}
	if h.t.Failed() {
		for _, s := range h.slots {
			b, _ := os.ReadFile(s.logs)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			h.t.Logf("server %d's log ends:\n%s", s.i, strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	}
}

// leader returns the slot whose live process holds the lease, and the
// term's epoch.
func (h *ha) leader() (*haSlot, int64, bool) {
	li, err := h.db.LeaseInfo(h.t.Context(), h.lease)
	if err != nil || !li.Live {
		return nil, 0, false
	}
	pid := holderPID(li.Holder)
	for _, s := range h.slots {
		if s.cmd != nil && s.cmd.Process.Pid == pid {
			return s, li.Epoch, true
		}
	}
	return nil, 0, false
}

// holderPID reads the pid out of a holder name (host/pid/random).
func holderPID(holder string) int {
	parts := strings.Split(holder, "/")
	if len(parts) < 3 {
		return 0
	}
	pid, _ := strconv.Atoi(parts[len(parts)-2])
	return pid
}

// waitFor polls cond every 20ms for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			return cond()
		case <-tick.C:
		}
	}
	return true
}

// faults returns n, or the number in haFaultsEnv when set.
func faults(t *testing.T, n int) int {
	if v := os.Getenv(haFaultsEnv); v != "" {
		m, err := strconv.Atoi(v)
		if err != nil || m < 1 {
			t.Fatalf("%s=%q: want a positive number of faults", haFaultsEnv, v)
		}
		return m
	}
	return n
}

type faultKind int

const (
	faultKill faultKind = iota
	faultStop
	faultCut
)

func (k faultKind) String() string {
	return [...]string{"SIGKILL", "SIGSTOP past the TTL", "cut from PostgreSQL"}[k]
}

// launchedSince says whether a RunInstances tagged epoch or a later one
// has come.
func (l *callLog) launchedSince(epoch int64) bool {
	for _, c := range l.snapshot() {
		if c.action == "RunInstances" && c.epoch >= epoch {
			return true
		}
	}
	return false
}

// launchEpochs is how many epochs have had a RunInstances so far.
func (l *callLog) launchEpochs() int {
	seen := map[int64]bool{}
	for _, c := range l.snapshot() {
		if c.action == "RunInstances" {
			seen[c.epoch] = true
		}
	}
	return len(seen)
}

// run injects n faults into the leader, each kind in turn, and returns how
// long each failover took (fault → the first call of the next leader) and
// how many faults it injected: on a loaded machine short terms can pass
// without a launch, so faults go on (up to 3n) until launches have come
// under n/3 epochs, as drainAndCheck asks.
func (h *ha) run(n int) (map[faultKind][]time.Duration, int) {
	t := h.t
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	took := map[faultKind][]time.Duration{}
	stopDemand := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stopDemand)
	h.demand.Store(true)
	wg.Go(func() { // demand comes and goes: launches, then drains and terminations
		for {
			select {
			case <-stopDemand:
				return
			case <-time.After(1200 * time.Millisecond):
				h.demand.Store(!h.demand.Load())
			}
		}
	})
	round := 0
	for ; round < n || round < 3*n && h.log.launchEpochs() < n/3; round++ {
		var lead *haSlot
		var epoch int64
		leads := func() bool {
			var ok bool
			lead, epoch, ok = h.leader()
			return ok
		}
		if !waitFor(20*time.Second, leads) {
			t.Fatalf("round %d: no server took the lease within 20s", round)
		}
		// A term can pass without a launch: on a loaded machine a leader's
		// first ticks take longer, and a renewal that misses the 1s TTL
		// ends a term early. While launches lag behind the epochs
		// drainAndCheck asks for (a third of the faults asked), a round
		// lets its leader launch first (a launch needs the demand on and
		// the last burst ended: a few demand cycles of 2.4s at most), so
		// the check does not depend on how fast the machine is.
		if h.log.launchEpochs() < n/3 && !h.log.launchedSince(epoch) {
			waitFor(20*time.Second, func() bool { return h.log.launchedSince(epoch) })
			if !waitFor(20*time.Second, leads) {
				t.Fatalf("round %d: no server took the lease within 20s", round)
			}
		}
		// Let it act a while, a random while, so faults land in every phase
		// of its work.
		pause := time.NewTimer(time.Duration(300+rng.IntN(900)) * time.Millisecond)
		<-pause.C
		kind := faultKind(round % 3)
		at := time.Now()
		switch kind {
		case faultKill:
			_ = lead.cmd.Process.Signal(syscall.SIGKILL)
			<-lead.exited
			lead.cmd = nil
			h.start(lead) // it comes back, as a follower
		case faultStop:
			_ = lead.cmd.Process.Signal(syscall.SIGSTOP)
		case faultCut:
			lead.proxy.Cut()
		}
		var next *haSlot
		if !waitFor(20*time.Second, func() bool {
			s, e, ok := h.leader()
			if ok && e > epoch {
				next = s
				return true
			}
			return false
		}) {
			t.Fatalf("round %d: after %s of server %d (epoch %d), no server took the lease within 20s", round, kind, lead.i, epoch)
		}
		// The server that took the lease may lose it again at once (on a
		// loaded machine a renewal can miss the 1s TTL): the first call
		// that counts is that of whichever server leads after the fault.
		var first call
		if !waitFor(20*time.Second, func() bool {
			if s, e, ok := h.leader(); ok && e > epoch {
				next = s
			}
			var ok bool
			first, ok = h.log.firstAfter(next.i, at)
			return ok
		}) {
			t.Fatalf("round %d: server %d took the lease after %s of server %d but made no call within 20s", round, next.i, kind, lead.i)
		}
		took[kind] = append(took[kind], first.at.Sub(at))
		switch kind {
		case faultStop:
			_ = lead.cmd.Process.Signal(syscall.SIGCONT)
		case faultCut:
			lead.proxy.Restore()
		}
	}
	return took, round
}

// drainAndCheck takes the demand away, waits until no instance of the
// cluster is left, stops every server and checks the record.
// faults is how many were injected; launches must have come under at
// least asked/3 epochs (asked: the faults the test asked for).
func (h *ha) drainAndCheck(faults, asked int) {
	t := h.t
	h.demand.Store(false)
	live := func() []emulator.Instance {
		var out []emulator.Instance
		for _, in := range h.emu.Instances() {
			if (in.State == "pending" || in.State == "running") && haTag(in, providers.TagCluster) == haCluster {
				out = append(out, in)
			}
		}
		return out
	}
	if !waitFor(60*time.Second, func() bool { return len(live()) == 0 }) {
		t.Fatalf("demand gone for 60s, and %d instances of the cluster still live (leaked): %+v", len(live()), live())
	}
	for _, s := range h.slots {
		h.stop(s)
	}
	led, resumed := 0, 0
	for _, s := range h.slots {
		b, err := os.ReadFile(s.logs)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), fixture.PostgresPassword) {
			t.Errorf("server %d's log shows the database password", s.i)
		}
		if strings.Contains(string(b), "took the lease") {
			led++
		}
		resumed += strings.Count(string(b), "resuming intent")
	}
	if led < 2 {
		t.Errorf("%d of %d server slots ever led: the lease never moved between servers", led, len(h.slots))
	}

	// No intent launched more than its count, nor instances it does not
	// record.
	intents, err := h.db.Intents(context.Background(), state.IntentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]state.Intent{}
	for _, in := range intents {
		byID[in.ID] = in
		if strings.Contains(in.Error, "IdempotentParameterMismatch") {
			t.Errorf("intent %s failed: %s: a resume did not repeat its first request", in.ID, in.Error)
		}
	}
	launched := map[string][]string{}
	for _, in := range h.emu.Instances() {
		id := haTag(in, providers.TagIntent)
		launched[id] = append(launched[id], in.ID)
	}
	for id, ids := range launched {
		in, ok := byID[id]
		if !ok {
			t.Errorf("instances %v carry intent %q, which no server recorded", ids, id)
			continue
		}
		if len(ids) > in.Count {
			t.Errorf("intent %s (count %d) has %d instances on the emulator: %v: a duplicate launch", id, in.Count, len(ids), ids)
		}
		if in.Status == state.IntentDone && !sameSet(in.InstanceIDs, ids) {
			t.Errorf("intent %s recorded instances %v, the emulator has %v", id, in.InstanceIDs, ids)
		}
	}

	// At no moment did two servers act: every mutating call came from the
	// server holding the term current when it arrived, and launches' epochs
	// never go back. A retry of a launch (same client token, perhaps by a
	// later term) repeats the first request, epoch tag included.
	terms, err := h.db.Terms(context.Background(), h.lease)
	if err != nil {
		t.Fatal(err)
	}
	slotOf := func(tm postgres.Term) int {
		h.mu.Lock()
		defer h.mu.Unlock()
		if s, ok := h.pidOf[holderPID(tm.Holder)]; ok {
			return s
		}
		return -1
	}
	epochSlot := map[int64]int{}
	for _, tm := range terms {
		epochSlot[tm.Epoch] = slotOf(tm)
	}
	var lastEpoch int64
	firstEpoch := map[string]int64{} // client token → epoch of its first RunInstances
	runs, terminates, launchEpochs := 0, 0, map[int64]bool{}
	headroom := time.Duration(math.MaxInt64)
	for _, c := range h.log.snapshot() {
		if !mutating(c.action) {
			continue
		}
		i, _ := slices.BinarySearchFunc(terms, c.at, func(tm postgres.Term, at time.Time) int { return tm.Acquired.Compare(at) })
		// terms[i-1] is the last term acquired before the call arrived.
		if i == 0 {
			t.Errorf("%s from server %d at %s, before any term began", c.action, c.slot, c.at.Format(time.StampMicro))
			continue
		}
		cur := terms[i-1]
		if s := slotOf(cur); s != c.slot {
			// The stamp is the emulator's, at its handler's entry. The
			// sender stops acting ttl/5 before its term could end in the
			// database, and every call's context ends then, so a call it
			// sent in its term arrives after the next term began only if
			// it spent over ttl/5 between the sender's write and this
			// handler: how far into cur it came, and the sender's own last
			// term, tell such a delay from a call sent too late.
			own := "it held no earlier term"
			for _, tm := range slices.Backward(terms[:i-1]) {
				if slotOf(tm) == c.slot {
					own = fmt.Sprintf("its own last term, epoch %d, was acquired at %s", tm.Epoch, tm.Acquired.Format(time.StampMicro))
					break
				}
			}
			t.Errorf("%s from server %d at %s, %s into epoch %d held by server %d (acquired at %s; %s; the margin is %s): two servers acted",
				c.action, c.slot, c.at.Format(time.StampMicro), c.at.Sub(cur.Acquired), cur.Epoch, s, cur.Acquired.Format(time.StampMicro), own, haTTL/5)
		}
		if i < len(terms) && slotOf(terms[i]) != c.slot {
			// How long before another server's term began this call came:
			// the slack its sender's margin left it.
			if d := terms[i].Acquired.Sub(c.at); d < headroom {
				headroom = d
			}
		}
		switch c.action {
		case "RunInstances":
			runs++
			launchEpochs[c.epoch] = true
			if e, retry := firstEpoch[c.token]; retry {
				if c.epoch != e {
					t.Errorf("RunInstances retrying client token %s tagged epoch %d, its first attempt %d: the parameters differ", c.token, c.epoch, e)
				}
				if c.epoch > cur.Epoch {
					t.Errorf("RunInstances tagged epoch %d arrived during epoch %d", c.epoch, cur.Epoch)
				}
				continue
			}
			firstEpoch[c.token] = c.epoch
			if epochSlot[c.epoch] != c.slot {
				t.Errorf("RunInstances from server %d tagged epoch %d, held by server %d", c.slot, c.epoch, epochSlot[c.epoch])
			}
			if c.epoch < lastEpoch {
				t.Errorf("RunInstances at epoch %d after one at epoch %d: epochs interleaved", c.epoch, lastEpoch)
			}
			lastEpoch = max(lastEpoch, c.epoch)
		case "TerminateInstances":
			terminates++
		}
	}
	// The run proved something only if the lease moved with every fault
	// and the servers launched and terminated under many terms.
	if len(terms) <= faults || len(launchEpochs) < asked/3 || terminates == 0 {
		t.Fatalf("%d terms for %d faults, launches under %d epochs, %d terminations: the run was too quiet to prove anything", len(terms), faults, len(launchEpochs), terminates)
	}
	t.Logf("%d faults, %d terms, %d RunInstances under %d epochs, %d TerminateInstances, %d intents (%d resumed by a later term), %d server processes; the mutating call closest to another server's term arrived %s before it began",
		faults, len(terms), runs, len(launchEpochs), terminates, len(intents), resumed, h.starts, headroom)
}

func haTag(in emulator.Instance, key string) string {
	for _, t := range in.Tags {
		if t.Key == key {
			return t.Value
		}
	}
	return ""
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func logFailovers(t *testing.T, took map[faultKind][]time.Duration) {
	for _, k := range []faultKind{faultKill, faultStop, faultCut} {
		ds := slices.Clone(took[k])
		if len(ds) == 0 {
			continue
		}
		slices.Sort(ds)
		t.Logf("failover after %s (ttl %s, tick %s): %d times, min %s median %s max %s", k, haTTL, haTick, len(ds),
			ds[0].Round(time.Millisecond), ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
	}
}

// TestHATwoServersFailover: two servers on one PostgreSQL and one
// emulator; the leader is SIGKILLed, SIGSTOPped past the TTL and cut from
// the database in turn, while demand comes and goes.
func TestHATwoServersFailover(t *testing.T) {
	t.Parallel() // its own PostgreSQL, emulator, proxies and servers (startHA)
	h := startHA(t, 2, haFast)
	asked := faults(t, 10)
	took, n := h.run(asked)
	h.drainAndCheck(n, asked)
	logFailovers(t, took)
}

// TestHAThreeServersFailover is the same with three servers.
func TestHAThreeServersFailover(t *testing.T) {
	t.Parallel() // its own PostgreSQL, emulator, proxies and servers (startHA)
	h := startHA(t, 3, haFast)
	asked := faults(t, 11)
	took, n := h.run(asked)
	h.drainAndCheck(n, asked)
	logFailovers(t, took)
}

// BenchmarkHAFailoverDefaults measures a failover at the default settings
// (lease_ttl 10s, lease_renew 2.5s, tick 10s): the leader of two servers is
// SIGKILLed; reported are the seconds until the other holds the lease and
// until it makes its first cloud call.
func BenchmarkHAFailoverDefaults(b *testing.B) {
	h := startHA(b, 2, "")
	h.demand.Store(true)
	var toLease, toCall time.Duration
	for i := 0; i < b.N; i++ {
		var lead *haSlot
		var epoch int64
		if !waitFor(60*time.Second, func() bool {
			var ok bool
			lead, epoch, ok = h.leader()
			return ok
		}) {
			b.Fatal("no server took the lease within 60s")
		}
		<-time.After(time.Second)
		at := time.Now()
		_ = lead.cmd.Process.Signal(syscall.SIGKILL)
		<-lead.exited
		lead.cmd = nil
		var next *haSlot
		if !waitFor(60*time.Second, func() bool {
			s, e, ok := h.leader()
			next = s
			return ok && e > epoch
		}) {
			b.Fatal("no server took the lease within 60s of the kill")
		}
		toLease += time.Since(at)
		var first call
		if !waitFor(60*time.Second, func() bool {
			var ok bool
			first, ok = h.log.firstAfter(next.i, at)
			return ok
		}) {
			b.Fatal("the new leader made no call within 60s")
		}
		toCall += first.at.Sub(at)
		h.start(lead)
	}
	b.ReportMetric(toLease.Seconds()/float64(b.N), "s-to-lease/op")
	b.ReportMetric(toCall.Seconds()/float64(b.N), "s-to-first-call/op")
}
