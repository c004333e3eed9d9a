package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/api/tokens"
	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/internal/fixture"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/state"
	"github.com/spillway-io/spillway/state/postgres"
	clocktesting "k8s.io/utils/clock/testing"
)

// haAPIServer is one in-process server of an HA pair.
type haAPIServer struct {
	url  string
	stop func() error
}

type readyzBody struct {
	Ready  bool            `json:"ready"`
	Leader bool            `json:"leader"`
	Lease  *api.LeaderInfo `json:"lease"`
}

func (s *haAPIServer) readyz(t *testing.T) (int, readyzBody) {
	t.Helper()
	resp, err := http.Get(s.url + "/readyz")
	if err != nil {
		return 0, readyzBody{}
	}
	defer resp.Body.Close()
	var b readyzBody
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		t.Fatalf("/readyz: %v", err)
	}
	return resp.StatusCode, b
}

// haPair is two in-process servers on one PostgreSQL, both ready, one
// leading, with an emulated EC2 behind them.
type haPair struct {
	pg           *fixture.Postgres
	db           string
	emu          *emulator.Emulator
	lead, follow *haAPIServer
	leader       string // the leading server's name
	token        string // an operator's
	client       func(*haAPIServer) *api.Client
}

// startHAPair starts a pair as TestHAFollowerServesAndAcceptsBursts uses
// it; name names its database.
func startHAPair(t *testing.T, name string) *haPair {
	t.Helper()
	return startHAPairWith(t, name, 1, nil)
}

// startHAPairWith is startHAPair with pools pools (train, train2, …, each
// as train), calling prepare, if any, on the database before the servers
// start.
func startHAPairWith(t *testing.T, name string, pools int, prepare func(pg *fixture.Postgres, db string)) *haPair {
	t.Helper()
	return startHAPairOf(t, name, pools, pools, prepare)
}

// startHAPairOf is startHAPairWith whose first server, started first and
// leading before the second starts, has leadPools pools, and the second
// followPools (a rollout half done, when they differ).
func startHAPairOf(t *testing.T, name string, leadPools, followPools int, prepare func(pg *fixture.Postgres, db string)) *haPair {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "emulator")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "emulator")
	t.Setenv("PGPASSWORD", fixture.PostgresPassword) // the DSN has none
	pg, db := postgresDatabase(t, name)
	if prepare != nil {
		prepare(pg, db)
	}
	emu := emulator.New(emulator.Options{Seed: 21, BootDelay: 100 * time.Millisecond})
	ec2 := httptest.NewServer(emu.EC2Handler())
	t.Cleanup(ec2.Close)
	queue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"job_gpus": [], "oldest_wait_seconds": 0}`)
	}))
	t.Cleanup(queue.Close)
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, idleP4dAgent)
	}))
	t.Cleanup(agent.Close)
	dir := t.TempDir()
	toks := filepath.Join(dir, "tokens.yaml")
	opToken, err := tokens.Add(toks, "alice", tokens.Operator, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	writeConfig := func(file string, pools int) string {
		path := filepath.Join(dir, file)
		if err := os.WriteFile(path, []byte(fmt.Sprintf(`cluster: ha-api
server:
  state: %s
  tick: 200ms
  lease_ttl: 3s
  lease_renew: 250ms
  tokens_file: tokens.yaml
providers:
  emu:
    type: aws
    region: us-east-1
    endpoint: %s
    subnets: [{zone: us-east-1a, id: subnet-us-east-1a}]
    image: ami-0123456789abcdef0
pools:
`, pg.DSNWithoutPassword(db), ec2.URL)+haPools(pools, agent.URL, queue.URL)), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	start := func(path string) *haAPIServer {
		srv := startServer(t, loadConfig(t, path))
		return &haAPIServer{url: "http://" + srv.addr, stop: srv.stop}
	}
	first := start(writeConfig("spillway.yaml", leadPools))
	eventually(t, "the first server leads", func() bool { _, b := first.readyz(t); return b.Leader })
	servers := []*haAPIServer{first, start(writeConfig("spillway2.yaml", followPools))}
	p := &haPair{pg: pg, db: db, emu: emu, token: opToken}
	eventually(t, "both servers are ready and exactly one leads", func() bool {
		c0, b0 := servers[0].readyz(t)
		c1, b1 := servers[1].readyz(t)
		if c0 != 200 || c1 != 200 || b0.Leader == b1.Leader || b0.Lease == nil || b1.Lease == nil || b0.Lease.Holder == "" || b0.Lease.Holder != b1.Lease.Holder {
			return false
		}
		p.lead, p.follow, p.leader = servers[0], servers[1], b0.Lease.This
		if b1.Leader {
			p.lead, p.follow, p.leader = servers[1], servers[0], b1.Lease.This
		}
		return true
	})
	p.client = func(s *haAPIServer) *api.Client {
		c, err := api.NewClient(s.url, opToken, &http.Client{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return p
}

// haPools is the pools of startHAPairWith's config.
func haPools(n int, agent, queue string) string {
	var b strings.Builder
	for i := range n {
		name := "train"
		if i > 0 {
			name = fmt.Sprintf("train%d", i+1)
		}
		fmt.Fprintf(&b, `  - name: %s
    onprem: {nodes: 1, gpus_per_node: 8}
    interval: 100ms
    offerings:
      - provider: emu
        instance_type: p4d.24xlarge
        billing: per-second
    limits: {max_gpus: 16}
    scale_in: {idle: 1s, drain_timeout: 2s}
    manual: {max_gpus: 16, max_ttl: 4h}
    join: {agent_url: %s}
    signals:
      demand:
        - type: http
          http: {url: %s, job_gpus: job_gpus, oldest_wait_seconds: oldest_wait_seconds}
`, name, agent, queue)
	}
	return b.String()
}

// TestHAFollowerServesAndAcceptsBursts runs two servers in-process on one
// PostgreSQL: both are ready, exactly one leads and both say which; an
// operator's burst created through the follower is launched by the leader;
// when the leader shuts down, the follower takes over and the burst is
// cancelled through it.
func TestHAFollowerServesAndAcceptsBursts(t *testing.T) {
	p := startHAPair(t, "ha_api")
	pg, db, emu, lead, follow, client := p.pg, p.db, p.emu, p.lead, p.follow, p.client
	ctx := context.Background()
	st, err := client(follow).Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Leader == nil || st.Leader.Leads || st.Leader.Holder != p.leader || st.Leader.This == st.Leader.Holder {
		t.Fatalf("the follower's /v1/status leader = %+v, want it naming the leader %q and not leading itself", st.Leader, p.leader)
	}
	// Which instances belong to no configured pool is the leader's
	// config's to say: the follower's may differ, mid-rollout.
	if want := "ask the leader, " + p.leader; !strings.Contains(st.UnconfiguredUnknown, want) || st.Unconfigured != nil {
		t.Errorf("the follower's /v1/status unconfigured %+v, unconfigured_unknown %q; want none, and it saying %q", st.Unconfigured, st.UnconfiguredUnknown, want)
	}
	if ls, err := client(lead).Status(ctx); err != nil || ls.UnconfiguredUnknown != "" {
		t.Errorf("the leader's /v1/status: unconfigured_unknown %q, %v; want none (it knows)", ls.UnconfiguredUnknown, err)
	}

	// An operator's burst through the follower: the leader launches it.
	req := api.CreateBurstRequest{Pool: "train", GPUs: 8, For: api.Duration(time.Hour), Reason: "incident 9", IdempotencyKey: "ha-retry-1"}
	b, err := client(follow).CreateBurst(ctx, req)
	if err != nil {
		t.Fatalf("a burst created through the follower: %v", err)
	}
	// Its retry, sent to the other server (a load balancer's choice),
	// gets the same burst: the key is in the shared state.
	if again, err := client(lead).CreateBurst(ctx, req); err != nil || again.ID != b.ID || !again.Replayed {
		t.Fatalf("the retry through the leader: %+v, %v; want burst %s replayed", again, err, b.ID)
	}
	eventually(t, "the burst's instance runs", func() bool {
		ins, err := client(follow).Instances(ctx, "train")
		return err == nil && len(ins) == 1 && ins[0].State == "running" && ins[0].Burst == b.ID
	})

	// The follower's page shows the burst's floor and its spend, from the
	// database.
	eventually(t, "the follower shows the burst's floor and spend", func() bool {
		d, err := client(follow).Pool(ctx, "train")
		return err == nil && len(d.Floors) == 1 && d.Floors[0].Burst == b.ID && d.Floors[0].Owner == "alice" && d.Floors[0].GPUs == 8 && d.Spend.Accrued > 0
	})

	// An offering held out of launches as unused is stored, as the leader
	// stores it (scheduler's TestUnusedOfferingReplaced): the follower shows
	// it, and the next leader keeps it.
	store, err := postgres.Open(ctx, pg.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	until := time.Now().Add(time.Hour).Truncate(time.Second)
	if err := store.PutHold(ctx, state.Hold{Pool: "train", Provider: "emu", Region: "us-east-1", InstanceType: "p4d.24xlarge",
		Market: "on-demand", At: time.Now(), Until: until, Reason: "left unused in a drill"}); err != nil {
		t.Fatal(err)
	}
	// So is what the leader's capacity cache holds: an offering whose
	// instance never joined, and a region after a quota error.
	for _, u := range []state.Unavailable{
		{Kind: state.UnavailableOffering, Provider: "emu", Region: "us-east-1", InstanceType: "p5.48xlarge", Market: "on-demand",
			Why: policy.WhyNeverJoined, At: time.Now(), Until: until},
		{Kind: state.UnavailableQuota, Provider: "emu", Region: "eu-west-1", At: time.Now(), Until: until},
	} {
		if err := store.PutUnavailable(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	heldUnused := func(s *haAPIServer) bool {
		d, err := client(s).Pool(ctx, "train")
		if err != nil || len(d.Snapshot.Held) != 3 {
			return false
		}
		want := map[string]string{ // what is held (in its name) → why
			"emu/eu-west-1": "quota exceeded",
			"p4d.24xlarge":  "left unused by the queue",
			"p5.48xlarge":   "failed launch: " + policy.WhyNeverJoined,
		}
		for _, h := range d.Snapshot.Held {
			for what, why := range want {
				if strings.Contains(h.What, what) && h.Why == why && h.Until.Equal(until) {
					delete(want, what)
				}
			}
		}
		return len(want) == 0
	}
	eventually(t, "the follower shows the held offerings and region", func() bool { return heldUnused(follow) })

	// The leader shuts down (releasing the lease); the other takes over and
	// cancels the burst through its own API.
	if err := lead.stop(); err != nil {
		t.Fatalf("the leader's shutdown: %v", err)
	}
	eventually(t, "the follower leads", func() bool {
		code, body := follow.readyz(t)
		return code == 200 && body.Leader
	})
	eventually(t, "the new leader holds the offerings and region", func() bool { return heldUnused(follow) })
	if _, err := client(follow).CancelBurst(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the cancelled burst's instance terminates", func() bool {
		for _, in := range emu.Instances() {
			if in.State == "pending" || in.State == "running" {
				return false
			}
		}
		return true
	})
	// One instance in all. The calls may be more: a term lost on a loaded
	// machine while the launch was in flight leaves its intent pending, and
	// the next leader resumes it with the same client token, which the
	// cloud answers with the instance it already launched.
	if got := emu.Instances(); len(got) != 1 {
		t.Fatalf("%d instances launched (%d RunInstances calls), want 1: %+v", len(got), emu.Calls("RunInstances"), got)
	}
}

func TestLeaderLine(t *testing.T) {
	for _, c := range []struct {
		in   api.LeaderInfo
		want string
	}{
		{api.LeaderInfo{Holder: "a/1/x", Epoch: 4, This: "a/1/x", Leads: true}, "leader a/1/x (epoch 4), which answered"},
		{api.LeaderInfo{Holder: "a/1/x", Epoch: 4, This: "b/2/y"}, "leader a/1/x (epoch 4); answered by follower b/2/y"},
		{api.LeaderInfo{This: "b/2/y"}, "no leader now (failing over); answered by b/2/y"},
		{api.LeaderInfo{This: "b/2/y", Error: "timeout"}, "leader unknown: server b/2/y cannot read the lease: timeout"},
	} {
		if got := leaderLine(&c.in); got != c.want {
			t.Errorf("leaderLine(%+v) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestHAFollowerSaysOnlyTheLeaderKnowsWhyABurstWaits: a burst the leader
// cannot launch (its offering out of stock) waits, and the leader says
// why; asked the same, the follower, which evaluates nothing, says that
// only the leader knows and names it, in GET /v1/bursts/{id}, the list
// and `spillway burst list`. Before, its answer was a burst waiting on
// nothing: no waiting, no held_by, and no word that it could not know.
func TestHAFollowerSaysOnlyTheLeaderKnowsWhyABurstWaits(t *testing.T) {
	p := startHAPair(t, "ha_waits")
	p.emu.SetStock("p4d.24xlarge", "us-east-1a", 0)
	ctx := context.Background()
	b, err := p.client(p.follow).CreateBurst(ctx, api.CreateBurstRequest{Pool: "train", GPUs: 8, For: api.Duration(time.Hour), Reason: "incident 10"})
	if err != nil {
		t.Fatal(err)
	}
	var led api.Burst
	eventually(t, "the leader says why the burst waits", func() bool {
		led, err = p.client(p.lead).Burst(ctx, b.ID)
		return err == nil && led.HeldBy == "no_offering" && led.Waiting != ""
	})
	if led.WaitingUnknown != "" {
		t.Errorf("the leader's burst: waiting_unknown %q, want none (it knows)", led.WaitingUnknown)
	}
	want := "ask the leader, " + p.leader
	fb, err := p.client(p.follow).Burst(ctx, b.ID)
	if err != nil || fb.Waiting != "" || !strings.Contains(fb.WaitingUnknown, want) {
		t.Fatalf("the follower's GET /v1/bursts/%s: %+v, %v; want no waiting and waiting_unknown saying %q", b.ID, fb, err, want)
	}
	list, err := p.client(p.follow).Bursts(ctx, "", false)
	if err != nil || len(list) != 1 || list[0].WaitingUnknown != fb.WaitingUnknown {
		t.Fatalf("the follower's GET /v1/bursts: %+v, %v; want the burst with waiting_unknown %q", list, err, fb.WaitingUnknown)
	}
	t.Setenv("SPILLWAY_TOKEN", p.token)
	out, _, err := runCLI(t, "burst", "list", "--server", p.follow.url)
	if err != nil || !strings.Contains(out, "what the bursts wait for: this server (") || !strings.Contains(out, want) {
		t.Fatalf("spillway burst list on the follower: %v\n%s\nwant it saying only the leader knows, naming it", err, out)
	}
}

// TestStatusOfALeaderThatStoppedActingInItsTerm: a leader whose renewals
// fail stops acting a fifth of the TTL before its term can end in the
// database, where the term stays its own until then. Asked meanwhile,
// spillway status said "leader a (epoch 1); answered by follower a": a
// leader that did not act, and a follower of itself. It says that no
// server acts, and why (its elector, on real PostgreSQL, counts its term
// on a fake clock moved past the term's end: the database's is not).
func TestStatusOfALeaderThatStoppedActingInItsTerm(t *testing.T) {
	pg, db := postgresDatabase(t, "ha_stopped")
	st, err := postgres.Open(t.Context(), pg.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	lease, err := st.Lease(leaseName("stopped"), "a/1/x", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(time.Now())
	el := postgres.NewElector(lease, 10*time.Second, clk, nil)
	el.Step(t.Context())
	if _, ok := el.Acting(); !ok {
		t.Fatal("the elector did not take the free lease")
	}
	clk.Step(50 * time.Second) // past 0.8 of the TTL, before its end
	l := leaderInfo(t.Context(), el)
	if l.Leads || l.Holder != el.Holder() || l.Error != "" {
		t.Fatalf("leaderInfo = %+v; want the lease still this server's in the database, and it not acting", l)
	}
	line := leaderLine(l)
	if strings.Contains(line, "follower") || !strings.Contains(line, "no leader acting now") || !strings.Contains(line, "stopped acting") {
		t.Errorf("leaderLine(%+v) = %q; want it to say that no server acts, as the holder stopped", l, line)
	}
}
