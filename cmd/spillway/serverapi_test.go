package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/api/tokens"
	"github.com/spillway-io/spillway/emulator"
)

// apiServer runs `spillway server` in-process on a loopback listener
// against the EC2 emulator, with a tokens file, an empty queue and one
// agent answering for every burst instance.
type apiServer struct {
	url    string
	emu    *emulator.Emulator
	tokens string
	stop   func() error
	// config is its config file, to start it again on the same state.
	config string
}

func startAPIServer(t *testing.T) *apiServer {
	t.Helper()
	return startAPIServerWith(t, func() string { return `{"job_gpus": [], "oldest_wait_seconds": 0}` },
		func() string { return idleP4dAgent })
}

// startAPIServerWith is startAPIServer with the queue's and the burst
// agents' answers given by queue and agent at each request.
func startAPIServerWith(t *testing.T, queue, agent func() string) *apiServer {
	t.Helper()
	return startAPIServerServing(t, queue, agent, "")
}

// startAPIServerServing is startAPIServerWith with more server settings,
// lines of the config's server section ("  max_connections: 2\n").
func startAPIServerServing(t *testing.T, queue, agent func() string, server string) *apiServer {
	t.Helper()
	return startAPIServerOn(t, queue, agent, server, clock.RealClock{})
}

// startAPIServerOn is startAPIServerServing on the given clock.
func startAPIServerOn(t *testing.T, queue, agent func() string, server string, clk clock.WithTicker) *apiServer {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "emulator")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "emulator")
	emu := emulator.New(emulator.Options{Seed: 9, BootDelay: 100 * time.Millisecond})
	ec2 := httptest.NewServer(emu.EC2Handler())
	t.Cleanup(ec2.Close)
	qsrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, queue()) }))
	t.Cleanup(qsrv.Close)
	asrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, agent()) }))
	t.Cleanup(asrv.Close)
	dir := t.TempDir()
	toks := filepath.Join(dir, "tokens.yaml")
	cfgText := fmt.Sprintf(`cluster: api-test
server:
  state: state.db
  tick: 100ms
  tokens_file: tokens.yaml
%sproviders:
  emu:
    type: aws
    region: us-east-1
    endpoint: %s
    subnets: [{zone: us-east-1a, id: subnet-us-east-1a}]
    image: ami-0123456789abcdef0
pools:
  - name: train
    onprem: {nodes: 1, gpus_per_node: 8}
    interval: 100ms
    offerings:
      - provider: emu
        instance_type: p4d.24xlarge
        billing: per-second
    limits: {max_gpus: 32}
    scale_in: {idle: 1s, drain_timeout: 5s}
    manual: {max_gpus: 16, max_ttl: 4h}
    join:
      agent_url: %s
    signals:
      demand:
        - type: http
          http:
            url: %s
            job_gpus: job_gpus
            oldest_wait_seconds: oldest_wait_seconds
`, server, ec2.URL, asrv.URL, qsrv.URL)
	path := filepath.Join(dir, "spillway.yaml")
	if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServerOn(t, loadConfig(t, path), clk)
	return &apiServer{url: "http://" + srv.addr, emu: emu, tokens: toks, stop: srv.stop, config: path}
}

func (s *apiServer) token(t *testing.T, name string, role tokens.Role) string {
	t.Helper()
	tok, err := tokens.Add(s.tokens, name, role, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (s *apiServer) client(t *testing.T, token string) *api.Client {
	t.Helper()
	c, err := api.NewClient(s.url, token, &http.Client{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func countOf(codes []int, code int) int {
	n := 0
	for _, c := range codes {
		if c == code {
			n++
		}
	}
	return n
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !waitFor(30*time.Second, cond) {
		t.Fatalf("%s: not within 30s", what)
	}
}

func apiStatus(err error) int {
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

func TestAPIManualBurstOnTheEmulator(t *testing.T) {
	s := startAPIServer(t)
	ctx := context.Background()
	op := s.client(t, s.token(t, "alice", tokens.Operator))
	viewer := s.client(t, s.token(t, "victor", tokens.Viewer))
	admin := s.client(t, s.token(t, "root", tokens.Admin))

	// The auth matrix against the real server.
	if _, err := s.client(t, "").CreateBurst(ctx, api.CreateBurstRequest{Pool: "train", GPUs: 8, For: api.Duration(time.Hour), Reason: "x"}); apiStatus(err) != 401 {
		t.Fatalf("no token: %v, want 401", err)
	}
	if _, err := s.client(t, "not-a-token").Status(ctx); apiStatus(err) != 401 {
		t.Fatalf("unknown token: %v, want 401", err)
	}
	if _, err := viewer.CreateBurst(ctx, api.CreateBurstRequest{Pool: "train", GPUs: 8, For: api.Duration(time.Hour), Reason: "x"}); apiStatus(err) != 403 {
		t.Fatalf("viewer POST: %v, want 403", err)
	}
	_, err := op.CreateBurst(ctx, api.CreateBurstRequest{Pool: "train", GPUs: 24, For: api.Duration(time.Hour), Reason: "x"})
	if apiStatus(err) != 403 || !strings.Contains(err.Error(), "16") {
		t.Fatalf("operator above max_gpus: %v, want 403 naming the limit 16", err)
	}

	b, err := op.CreateBurst(ctx, api.CreateBurstRequest{Pool: "train", GPUs: 16, For: api.Duration(time.Hour), Reason: "incident 7"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the burst's instances run and join", func() bool {
		ins, err := viewer.Instances(ctx, "train")
		if err != nil || len(ins) != 2 {
			return false
		}
		for _, in := range ins {
			if in.State != "running" || in.Burst != b.ID || in.Floor != "alice" {
				return false
			}
		}
		return true
	})
	// The pool shows the burst's floor by the burst's ID and, as on its
	// instances, the principal who opened it.
	if d, err := viewer.Pool(ctx, "train"); err != nil || len(d.Floors) != 1 || d.Floors[0].Burst != b.ID || d.Floors[0].Owner != "alice" {
		t.Errorf("the pool's floors are %+v (%v), want the burst %s owned by alice", d.Floors, err, b.ID)
	}
	// Several callers cancel the burst at once: exactly one is told it
	// cancelled it, the others get 409, and the audit log says it once.
	const cancellers = 8
	codes := make([]int, cancellers)
	var winner string // who cancelled it
	var wg sync.WaitGroup
	for i := range cancellers {
		wg.Go(func() {
			c := op
			if i%2 == 1 {
				c = admin
			}
			cb, err := c.CancelBurst(ctx, b.ID)
			codes[i] = apiStatus(err)
			if err == nil {
				codes[i], winner = 200, cb.CancelledBy
			}
		})
	}
	wg.Wait()
	if n200, n409 := countOf(codes, 200), countOf(codes, 409); n200 != 1 || n409 != cancellers-1 {
		t.Fatalf("concurrent cancels answered %v: want one 200 and %d 409s", codes, cancellers-1)
	}
	eventually(t, "the cancelled burst's instances drain and terminate", func() bool {
		for _, in := range s.emu.Instances() {
			if in.State == "pending" || in.State == "running" {
				return false
			}
		}
		return true
	})
	eventually(t, "a drain decision whose reason says who cancelled the burst", func() bool {
		ds, err := viewer.Decisions(ctx, api.DecisionsQuery{Pool: "train"})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if strings.Contains(d.Kind, "drain") && strings.Contains(d.Reason, "cancelled by "+winner) {
				return true
			}
		}
		return false
	})
	// since= at the ends of its range, against the real store: the epoch
	// lists every decision, and a time the store cannot hold is the
	// caller's mistake (400), not the server's (500).
	if ds, err := viewer.Decisions(ctx, api.DecisionsQuery{Pool: "train", Since: "1970-01-01T00:00:00Z"}); err != nil || len(ds) == 0 {
		t.Fatalf("decisions since the epoch: %d, %v; want every decision", len(ds), err)
	}
	for _, since := range []string{"1900-01-01T00:00:00Z", "2300-01-01T00:00:00Z"} {
		if _, err := viewer.Decisions(ctx, api.DecisionsQuery{Since: since}); apiStatus(err) != 400 || !strings.Contains(err.Error(), "out of range") {
			t.Fatalf("decisions since %s: %v, want a 400 naming the range", since, err)
		}
	}

	audit, err := admin.Audit(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	statuses := map[int]int{}
	for _, a := range audit {
		statuses[a.Status]++
		if a.Status == 200 && !strings.Contains(a.Outcome, "cancelled burst "+b.ID) {
			t.Errorf("audit row %+v: the only 200 is the cancel", a)
		}
	}
	if statuses[200] != 1 || statuses[409] != cancellers-1 {
		t.Errorf("audit statuses %v: want one cancel (200) and %d refused (409)", statuses, cancellers-1)
	}
	if statuses[401] == 0 || statuses[403] < 2 || statuses[200]+statuses[201] < 2 {
		t.Fatalf("audit statuses %v: want the refusals (401, 403s) and the two accepted calls", statuses)
	}
	if _, err := op.Audit(ctx, 10); apiStatus(err) != 403 {
		t.Fatalf("operator reading the audit log: %v, want 403", err)
	}
	data, err := os.ReadFile(s.tokens)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "not-a-token") {
		t.Fatal("tokens file holds a token in clear")
	}

	// Revoking a token is an edit of the file; the running server sees it.
	f, err := tokens.Read(s.tokens)
	if err != nil {
		t.Fatal(err)
	}
	kept := f.Entries[:0]
	for _, e := range f.Entries {
		if e.Name != "victor" {
			kept = append(kept, e)
		}
	}
	f.Entries = kept
	if err := os.WriteFile(s.tokens, f.Marshal(), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := viewer.Status(ctx); apiStatus(err) != 401 {
		t.Fatalf("a revoked token: %v, want 401 without a restart", err)
	}
	if err := s.stop(); err != nil {
		t.Fatalf("server stop: %v", err)
	}
}

// TestAPIBurstListsTheInstanceItKeeps: a manual burst opened while an
// instance launched for queue demand runs keeps that instance instead of
// launching another, and the API says it holds it: `burst list` counts it
// and the instance names the burst and its owner. The burst listed 0
// instances, and instances showed the floor's ID where its owner belongs.
func TestAPIBurstListsTheInstanceItKeeps(t *testing.T) {
	var queued atomic.Bool
	queued.Store(true)
	s := startAPIServerWith(t, func() string {
		if queued.Load() { // a job the burst instance's free GPUs could take
			return `{"job_gpus": [8], "oldest_wait_seconds": 600}`
		}
		return `{"job_gpus": [], "oldest_wait_seconds": 0}`
	}, func() string {
		return `{"node": "burst", "gpus": [` + strings.Repeat(`{"busy": false}, `, 7) + `{"busy": false}]}`
	})
	ctx := context.Background()
	op := s.client(t, s.token(t, "alice", tokens.Operator))
	var id string
	eventually(t, "an instance launched for the queue runs", func() bool {
		ins, err := op.Instances(ctx, "train")
		if err != nil || len(ins) != 1 || ins[0].State != "running" {
			return false
		}
		if ins[0].Floor != "" || ins[0].Burst != "" {
			t.Fatalf("the queue's instance %+v names a floor", ins[0])
		}
		id = ins[0].ID
		return true
	})
	b, err := op.CreateBurst(ctx, api.CreateBurstRequest{Pool: "train", GPUs: 8, For: api.Duration(time.Hour), Reason: "incident 9"})
	if err != nil {
		t.Fatal(err)
	}
	queued.Store(false) // from now on only the burst keeps it
	eventually(t, "the idle instance kept past its threshold for the burst", func() bool {
		d, err := op.Pool(ctx, "train")
		return err == nil && d.LastPlan != nil && strings.Contains(strings.Join(d.LastPlan.Notes, "; "), "kept 1 idle instance past its threshold: floors need 8 burst GPUs, 8 held")
	})
	bs, err := op.Bursts(ctx, "train", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 1 || bs[0].ID != b.ID || bs[0].Instances != 1 {
		t.Errorf("burst list %+v, want burst %s holding 1 instance (the one it keeps)", bs, b.ID)
	}
	ins, err := op.Instances(ctx, "train")
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 1 || ins[0].ID != id || ins[0].Burst != b.ID || ins[0].Floor != "alice" {
		t.Errorf("instances %+v, want only %s, held by burst %s whose owner is alice", ins, id, b.ID)
	}
	if n := len(s.emu.Instances()); n != 1 {
		t.Errorf("%d instances on the cloud, want 1: the burst keeps the queue's instead of launching", n)
	}
}

// TestAPIShowsHeldOfferings: a launch into a stock-out puts the offering in
// the capacity cache, and the pool's detail says it is not launched now,
// why and until when.
func TestAPIShowsHeldOfferings(t *testing.T) {
	s := startAPIServer(t)
	s.emu.SetStock("p4d.24xlarge", "us-east-1a", 0)
	ctx := context.Background()
	op := s.client(t, s.token(t, "alice", tokens.Operator))
	if _, err := op.CreateBurst(ctx, api.CreateBurstRequest{Pool: "train", GPUs: 8, For: api.Duration(time.Hour), Reason: "stock-out drill"}); err != nil {
		t.Fatal(err)
	}
	var held []api.Held
	eventually(t, "the pool's detail holds the offering out of stock", func() bool {
		d, err := op.Pool(ctx, "train")
		if err != nil {
			return false
		}
		held = d.Snapshot.Held
		return len(held) > 0
	})
	if len(held) != 1 || !strings.Contains(held[0].What, "p4d.24xlarge") || held[0].Why != "out of stock" || !held[0].Until.After(time.Now()) {
		t.Errorf("held %+v, want the p4d offering out of stock until a time to come", held)
	}
	st, err := op.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Pools) != 1 || len(st.Pools[0].Held) == 0 || st.Pools[0].Held[0].Why != "out of stock" {
		t.Errorf("/v1/status pools %+v, want train's held offering", st.Pools)
	}
}

// TestAPIBurstPinsAnUnnamedOffering: a burst pins an offering by the name
// the server shows for it, provider/region/type/market when the config
// gives it none; an offering the pool does not have is refused with the
// pool's offerings, in the message a person reads.
func TestAPIBurstPinsAnUnnamedOffering(t *testing.T) {
	s := startAPIServer(t)
	ctx := context.Background()
	op := s.client(t, s.token(t, "alice", tokens.Operator))
	const name = "emu/us-east-1/p4d.24xlarge/on-demand"
	b, err := op.CreateBurst(ctx, api.CreateBurstRequest{Pool: "train", GPUs: 8, For: api.Duration(time.Hour), Reason: "INC-7", Offering: name})
	if err != nil || b.Offering != name {
		t.Fatalf("pinned to %s: %+v %v, want a burst on it", name, b, err)
	}
	_, err = op.CreateBurst(ctx, api.CreateBurstRequest{Pool: "train", GPUs: 8, For: api.Duration(time.Hour), Reason: "INC-7", Offering: "emu/us-east-1/p5.48xlarge/spot"})
	var ae *api.Error
	want := `offering "emu/us-east-1/p5.48xlarge/spot" is not one of pool train's offerings: ` + name
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Message != want {
		t.Errorf("an offering the pool lacks: %v, want a 400 saying %q", err, want)
	}
}

// TestAPIAdminBurstPastTheManualLimits: an admin is not bound by a pool's
// manual limits (max_gpus 16, max_ttl 4h here), as the API and the CLI say;
// an operator is, with a 403 naming the limit.
func TestAPIAdminBurstPastTheManualLimits(t *testing.T) {
	s := startAPIServer(t)
	ctx := context.Background()
	admin := s.client(t, s.token(t, "root", tokens.Admin))
	op := s.client(t, s.token(t, "alice", tokens.Operator))
	req := api.CreateBurstRequest{Pool: "train", GPUs: 24, For: api.Duration(5 * time.Hour), Reason: "INC-8: the release"}
	if _, err := op.CreateBurst(ctx, req); apiStatus(err) != 403 || !strings.Contains(err.Error(), "max_gpus = 16") {
		t.Errorf("operator past max_gpus: %v, want a 403 naming max_gpus = 16", err)
	}
	b, err := admin.CreateBurst(ctx, req)
	if err != nil || b.GPUs != 24 || b.Owner != "root" {
		t.Fatalf("admin past max_gpus and max_ttl: %+v %v, want the burst", b, err)
	}
}
