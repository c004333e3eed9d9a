package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/api/apitest"
	"github.com/spillway-io/spillway/api/tokens"
	"github.com/spillway-io/spillway/state"
	"github.com/spillway-io/spillway/state/sqlite"
)

// restartRenamed stops s's server and starts it again, on the same SQLite
// state, with its pool train renamed training: to that server, train is a
// pool its config lacks.
func restartRenamed(t *testing.T, s *apiServer) {
	t.Helper()
	restartRenamedAfter(t, s, nil)
}

// restartRenamedAfter is restartRenamed that calls stopped, when not nil,
// with the server's state file while the server is stopped.
func restartRenamedAfter(t *testing.T, s *apiServer, stopped func(stateDB string)) {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if stopped != nil {
		stopped(filepath.Join(filepath.Dir(s.config), "state.db"))
	}
	cfg, err := os.ReadFile(s.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.config, []byte(strings.Replace(string(cfg), "- name: train\n", "- name: training\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, loadConfig(t, s.config))
	s.url = "http://" + srv.addr
}

// TestStatusNamesInstancesOfARemovedPool: an instance launched for pool
// train, which the config no longer has when the server starts again on
// the same state, is kept by the sweeper and bills with no pool to drain
// or end it; GET /v1/status, spillway status and the status page said
// nothing of it (only the log, once, and a gauge did). They name it, with
// its price and cost so far, and say what to do.
func TestStatusNamesInstancesOfARemovedPool(t *testing.T) {
	s, tok, ins := oneInstanceOfTrain(t)
	restartRenamed(t, s)
	st, err := s.client(t, tok).Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Unconfigured) != 1 || st.UnconfiguredUnknown != "" || st.UnconfiguredOmitted != 0 {
		t.Fatalf("status unconfigured %+v (unknown %q, omitted %d), want instance %s of pool train", st.Unconfigured, st.UnconfiguredUnknown, st.UnconfiguredOmitted, ins[0].ID)
	}
	u := st.Unconfigured[0]
	if u.Pool != "train" || u.Provider != "emu" || u.ID != ins[0].ID || !u.Since.Equal(ins[0].LaunchedAt) ||
		u.PricePerHour != ins[0].PricePerHour || u.PricePerHour <= 0 || u.CostSoFar <= 0 || u.CostSoFar > u.PricePerHour {
		t.Errorf("unconfigured %+v, want pool train, emu, %s launched at %v at $%.2f/h, cost so far above 0 and under an hour's", u, ins[0].ID, ins[0].LaunchedAt, ins[0].PricePerHour)
	}
	t.Setenv("SPILLWAY_TOKEN", tok)
	out, _, err := runCLI(t, "status", "--server", s.url)
	for _, want := range []string{
		"instances of pools not in this server's config (kept, never swept, billing: no pool here drains or ends them):\n",
		"  pool train: emu " + u.ID + " (",
		"  to end them: put their pool back in the config",
	} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("spillway status: %v\n%s\nwant %q", err, out, want)
		}
	}
	resp, err := http.Get(s.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "<td>train</td><td>emu</td><td>" + u.ID + "</td>"; !strings.Contains(string(page), want) || !strings.Contains(string(page), `id="unconfigured"`) {
		t.Errorf("status page lacks the unconfigured instance %q", want)
	}
}

// oneInstanceOfTrain starts a server whose pool train runs one instance,
// of an operator's burst: it returns the server, the operator's token and
// the instance.
func oneInstanceOfTrain(t *testing.T) (*apiServer, string, []api.Instance) {
	t.Helper()
	s := startAPIServerServing(t, func() string { return `{"job_gpus": [], "oldest_wait_seconds": 0}` },
		func() string { return `{"node": "burst", "gpus": [{"index": 0, "busy": true}]}` }, "  anonymous_read: true\n")
	tok := s.token(t, "alice", tokens.Operator)
	op := s.client(t, tok)
	b, err := op.CreateBurst(t.Context(), api.CreateBurstRequest{Pool: "train", GPUs: 8, For: api.Duration(time.Hour), Reason: "INC-81"})
	if err != nil {
		t.Fatal(err)
	}
	var ins []api.Instance
	eventually(t, "burst "+b.ID+"'s instance recorded", func() bool {
		ins, err = op.Instances(t.Context(), "train")
		return err == nil && len(ins) == 1
	})
	return s, tok, ins
}

// TestStatusNamesAnInstanceKeptForARemovedPoolsIntent: an instance that
// no row records, launched under an intent of pool train, which the config
// no longer has (its row lost: here ended an hour ago while it ran on), is
// kept by the sweeper and bills; GET /v1/status and spillway status
// listed only the rows of such pools, and said nothing of it. They list it,
// its state "no row", its price unknown.
func TestStatusNamesAnInstanceKeptForARemovedPoolsIntent(t *testing.T) {
	s, tok, ins := oneInstanceOfTrain(t)
	restartRenamedAfter(t, s, func(stateDB string) { endRowLongAgo(t, stateDB, ins[0].ID) })
	c := s.client(t, tok)
	var st api.Status
	eventually(t, "status names "+ins[0].ID, func() bool {
		var err error
		st, err = c.Status(t.Context())
		return err == nil && len(st.Unconfigured) > 0
	})
	if u := st.Unconfigured; len(u) != 1 || u[0].Pool != "train" || u[0].Provider != "emu" || u[0].ID != ins[0].ID || u[0].State != noRow ||
		u[0].Offering != ins[0].Offering || u[0].PricePerHour != 0 || u[0].CostSoFar != 0 || u[0].Since.IsZero() {
		t.Fatalf("status unconfigured %+v, want %s of pool train on emu, offering %s, state %q, price and cost unknown (0)", u, ins[0].ID, ins[0].Offering, noRow)
	}
	t.Setenv("SPILLWAY_TOKEN", tok)
	out, _, err := runCLI(t, "status", "--server", s.url)
	if want := "  pool train: emu " + ins[0].ID + " (" + ins[0].Offering + ", no row) since "; err != nil || !strings.Contains(out, want) || !strings.Contains(out, "price unknown") {
		t.Errorf("spillway status: %v\n%s\nwant %q and price unknown", err, out, want)
	}
	instancesListKept(t, s, c, ins[0])
}

// instancesListKept checks that GET /v1/instances?pool=train and spillway
// instances --pool train list in, kept for an intent of train with no row,
// as status does: they answered "pool train not found".
func instancesListKept(t *testing.T, s *apiServer, c *api.Client, in api.Instance) {
	t.Helper()
	got, err := c.Instances(t.Context(), "train")
	if err != nil || len(got) != 1 || got[0].ID != in.ID || got[0].State != noRow || got[0].Offering != in.Offering || got[0].Provider != "emu" {
		t.Errorf("GET /v1/instances?pool=train: %+v (%v), want %s, state %q", got, err, in.ID, noRow)
	}
	out, _, err := runCLI(t, "instances", "--server", s.url, "--pool", "train")
	if want := in.ID + "  train  " + in.Offering; err != nil || !strings.Contains(out, want) || !strings.Contains(out, noRow+"  -  ") || !strings.Contains(out, "unknown") {
		t.Errorf("spillway instances --pool train: %v\n%s\nwant %q, %q, busy GPUs - and price unknown", err, out, want, noRow)
	}
}

// endRowLongAgo ends, in the SQLite state at path, the row of instance id,
// launched 2 hours ago and ended 1 hour ago: older than the sweep grace, it
// claims its instance no more.
func endRowLongAgo(t *testing.T, path, id string) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.Instances(t.Context(), state.InstanceFilter{Pool: "train"})
	if err != nil || len(rows) != 1 || rows[0].ID != id {
		t.Fatalf("rows of train: %+v (%v), want %s's", rows, err, id)
	}
	r, now := rows[0], time.Now()
	r.State, r.EndReason, r.LaunchedAt, r.EndedAt, r.UpdatedAt = state.InstanceEnded, "lost (test)", now.Add(-2*time.Hour), now.Add(-time.Hour), now
	if err := st.PutInstance(t.Context(), r); err != nil {
		t.Fatal(err)
	}
}

// TestStatusUnconfiguredGolden: what spillway status says of the instances
// of pools the config lacks (testdata/cli/status-unconfigured*.golden):
// each with its price and cost so far (or that its price is unknown), a
// count of those the server left out, and what to do; from a follower,
// that only the leader knows.
func TestStatusUnconfiguredGolden(t *testing.T) {
	t0 := apitest.FixtureTime
	pool := api.PoolDetail{Name: "training", Snapshot: api.Snapshot{Time: t0.Add(-5 * time.Second), Interval: api.Duration(30 * time.Second), OnPremTotal: 64, OnPremBusy: 64}}
	for _, tc := range []struct {
		name string
		st   api.Status
	}{
		{"status-unconfigured", api.Status{UnconfiguredOmitted: 3, Unconfigured: []api.UnconfiguredInstance{
			{Pool: "train-old", Provider: "aws-use1", ID: "i-0000000000000old1", Offering: "aws-p5-spot", State: "running",
				Since: t0.Add(-26*time.Hour - 30*time.Minute), PricePerHour: 31.04, CostSoFar: 822.56},
			{Pool: "train-old", Provider: "aws-use1", ID: "i-0000000000000old2", Offering: "aws-p5-spot", State: "booting", Since: t0.Add(-90 * time.Second)},
		}}},
		{"status-unconfigured-follower", api.Status{UnconfiguredUnknown: onlyTheLeaderLacks(&api.LeaderInfo{This: "spw-a/4141/77aa", Holder: "spw-b/4242/9f1c"})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := apitest.NewMemory("acme", func() time.Time { return t0 })
			m.AddPool(pool, nil)
			m.SetUnconfigured(tc.st)
			checkGolden(t, tc.name, statusAt(t, m))
		})
	}
}
