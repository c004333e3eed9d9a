package main

import (
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
)

// TestHAFollowerReadyzSaysWhyItsTermEnded: a leader cut off from the
// database cannot renew its lease; its term runs out, its tick's state
// calls end with it (the pool's error), and the other server takes over.
// Once it reaches the database again it follows; its /readyz kept its last
// leader tick's error in pools.train.error (an operator read a failure of
// a server that no longer acts), and its lease block did not say why its
// term ended. Now the follower shows no pool error, and lease.last_term
// says its renewals failed and with which error.
func TestHAFollowerReadyzSaysWhyItsTermEnded(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "emulator")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "emulator")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("PGPASSWORD", fixture.PostgresPassword) // the DSNs have none
	pg, db := postgresDatabase(t, "ha_readyz")
	proxy, err := fixture.StartProxy(pg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	ec2, queue, agent := haReadyzFixtures(t)
	dir := t.TempDir()
	config := func(name, dsn string) string {
		path := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(path, []byte(fmt.Sprintf(`cluster: ha-readyz
server:
  state: %s
  tick: 200ms
  lease_ttl: 2s
  lease_renew: 250ms
  tokens_file: tokens.yaml
%spools:
  - name: train
    onprem: {nodes: 1, gpus_per_node: 8}
    interval: 100ms
    offerings:
      - provider: emu
        instance_type: p4d.24xlarge
        billing: per-second
    limits: {max_gpus: 16}
    join: {agent_url: %s}
    signals:
      demand:
        - type: http
          http: {url: %s, job_gpus: job_gpus, oldest_wait_seconds: oldest_wait_seconds}
`, dsn, emuProvider(ec2), agent, queue)), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tok, err := tokens.Add(filepath.Join(dir, "tokens.yaml"), "victor", tokens.Viewer, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	direct := pg.DSNWithoutPassword(db) + "&connect_timeout=1"
	// a reaches the database through the proxy, b directly; a starts
	// first, and leads.
	a := startServer(t, loadConfig(t, config("a", strings.Replace(direct, pg.Addr, proxy.Addr, 1))))
	eventually(t, "a leads", func() bool {
		_, ok := a.elector.Acting()
		return ok
	})
	b := startServer(t, loadConfig(t, config("b", direct)))
	eventually(t, "b is ready, following", func() bool {
		code, body := readyzOf(t, b.addr)
		return code == http.StatusOK && !body.Leader
	})

	proxy.Cut()
	eventually(t, "b leads once a's term ran out", func() bool {
		_, ok := b.elector.Acting()
		return ok
	})
	if _, ok := a.elector.Acting(); ok {
		t.Fatal("a still acts while b leads")
	}
	st, _ := a.sched.LastStatus("train")
	if st.Err == "" && st.ReadErr == "" && st.StateErr == "" {
		t.Fatalf("a's last tick as leader left no error in the pool's status (%+v): nothing stale to check", st)
	}
	proxy.Restore()
	var body readyzFull
	eventually(t, "a answers /readyz as a follower that reached the database", func() bool {
		var code int
		code, body = readyzOf(t, a.addr)
		// Its renewals failed, so no renewal read who held the lease
		// next: it learns it as a follower.
		return code == http.StatusOK && !body.Leader && body.Lease != nil && body.Lease.Error == "" && body.Lease.Holder == b.elector.Holder() &&
			body.Lease.LastTerm != nil && body.Lease.LastTerm.TakenBy != ""
	})
	if p, ok := body.Pools["train"]; !ok || p.Error != "" {
		t.Errorf("the follower's /readyz pools.train = %+v, %v; want no error (its last leader tick's was %q)", p, ok, st.Err+st.ReadErr+st.StateErr)
	}
	lt := body.Lease.LastTerm
	if lt == nil || lt.Epoch != 1 || lt.Ended.IsZero() || !strings.Contains(lt.Why, "its renewals failed until the term ran out") || lt.Error == "" || !strings.Contains(lt.Why, lt.Error) {
		t.Errorf("the follower's /readyz lease.last_term = %+v; want epoch 1, ended, its renewals failed, with their error", lt)
	}
	if lt == nil {
		t.FailNow()
	}
	if lt.TakenBy != b.elector.Holder() {
		t.Errorf("the follower's /readyz lease.last_term.taken_by = %q, want %q, which took the lease after its term", lt.TakenBy, b.elector.Holder())
	}
	// So do /v1/status and spillway status.
	t.Setenv("SPILLWAY_TOKEN", tok)
	out, _, err := runCLI(t, "status", "--server", "http://"+a.addr)
	if want := "ended " + fmtTime(lt.Ended) + ": " + lt.Why + "; the lease was then taken by " + b.elector.Holder(); err != nil || !strings.Contains(out, want) {
		t.Errorf("spillway status on the follower: %v\n%s\nwant a line with %q", err, out, want)
	}
	// The leader's has none.
	if _, lb := readyzOf(t, b.addr); !lb.Leader || lb.Lease == nil || lb.Lease.LastTerm != nil {
		t.Errorf("the leader's /readyz: leader %v, lease %+v; want it leading, with no last_term", lb.Leader, lb.Lease)
	}
}

// readyzFull is the /readyz body with its pools.
type readyzFull struct {
	Ready  bool            `json:"ready"`
	Leader bool            `json:"leader"`
	Lease  *api.LeaderInfo `json:"lease"`
	Pools  map[string]struct {
		Error string `json:"error"`
	} `json:"pools"`
}

func readyzOf(t *testing.T, addr string) (int, readyzFull) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0, readyzFull{}
	}
	defer resp.Body.Close()
	var b readyzFull
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		t.Fatalf("/readyz: %v", err)
	}
	return resp.StatusCode, b
}

// haReadyzFixtures are the EC2 emulator, a queue asking for 16 GPUs and
// an agent, each on loopback, stopped when the test ends.
func haReadyzFixtures(t *testing.T) (ec2, queue, agent string) {
	t.Helper()
	srv := func(h http.Handler) string {
		s := httptest.NewServer(h)
		t.Cleanup(s.Close)
		return s.URL
	}
	ec2 = srv(emulator.New(emulator.Options{Seed: 23, BootDelay: 100 * time.Millisecond}).EC2Handler())
	queue = srv(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"job_gpus": [8, 8], "oldest_wait_seconds": 600}`)
	}))
	agent = srv(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, idleP4dAgent)
	}))
	return ec2, queue, agent
}
