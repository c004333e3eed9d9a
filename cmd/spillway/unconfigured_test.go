package main

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/api/apitest"
	"github.com/spillway-io/spillway/api/tokens"
)

// restartRenamed stops s's server and starts it again, on the same SQLite
// state, with its pool train renamed training: to that server, train is a
// pool its config lacks.
func restartRenamed(t *testing.T, s *apiServer) {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Fatal(err)
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
