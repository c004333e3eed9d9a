package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/internal/fixture"
	"github.com/spillway-io/spillway/state"
	"github.com/spillway-io/spillway/state/postgres"
)

// TestHAFollowerNamesThePoolsTheLeaderLacks: a rollout half done, the
// leader runs a config with pool train only, the follower one with train
// and train2. A burst of train2 made through the follower waits for
// nothing, since no server evaluates train2, but the follower said only
// the leader knew what it waited for, and its status said nothing of the
// mixed configs. Each server records its pools with the term it takes;
// the follower's lease carries the leader's, its floors and bursts of
// train2 say the leader runs a config without it, and spillway status
// warns of the mixed configs.
func TestHAFollowerNamesThePoolsTheLeaderLacks(t *testing.T) {
	p := startHAPairOf(t, "ha_mixed", 1, 2, nil)
	p.emu.SetStock("p4d.24xlarge", "us-east-1a", 0)
	ctx := context.Background()
	c := p.client(p.follow)
	b, err := c.CreateBurst(ctx, api.CreateBurstRequest{Pool: "train2", GPUs: 8, For: api.Duration(time.Hour), Reason: "incident 12"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Leader == nil || !slices.Equal(st.Leader.Pools, []string{"train"}) {
		t.Fatalf("the follower's lease: %+v; want the leader's pools [train]", st.Leader)
	}
	want := "the leader, " + p.leader + ", runs a config without pool train2: no server evaluates the pool"
	detail, err := c.Pool(ctx, "train2")
	if err != nil {
		t.Fatal(err)
	}
	if len(detail.Floors) != 1 || !strings.Contains(detail.Floors[0].WaitingUnknown, want) {
		t.Errorf("the follower's floors of train2: %+v; want one whose waiting_unknown says %q", detail.Floors, want)
	}
	if got, err := c.Burst(ctx, b.ID); err != nil || !strings.Contains(got.WaitingUnknown, want) {
		t.Errorf("the follower's burst %s: %+v, %v; want its waiting_unknown saying %q", b.ID, got, err, want)
	}
	if d, err := c.Pool(ctx, "train"); err != nil || len(d.Floors) != 0 {
		t.Errorf("the follower's pool train: %+v, %v; want no floor", d, err)
	}
	t.Setenv("SPILLWAY_TOKEN", p.token)
	out, _, err := runCLI(t, "status", "--server", p.follow.url)
	line := "mixed configs: the leader, " + p.leader + ", runs a config without pool train2, which this server's has"
	if err != nil || !strings.Contains(out, line) {
		t.Errorf("spillway status on the follower: %v\n%s\nwant it saying %q", err, out, line)
	}
	// The pool's own line too, as the page's: not "a follower leaves it
	// to the leader", which evaluates nothing of it.
	line = "\ntrain2: not evaluated by this server yet (it follows, and the leader, " + p.leader + ", runs a config without pool train2: no server evaluates it)"
	if !strings.Contains(out, line) || !strings.Contains(out, "\ntrain: not evaluated by this server yet (it follows: the leader reads the on-prem GPUs and the queue)") {
		t.Errorf("spillway status on the follower:\n%s\nwant train2's line saying %q, and train's that the leader evaluates it", out, line)
	}
	if out, _, err := runCLI(t, "status", "--server", p.lead.url); err != nil || strings.Contains(out, "mixed configs") {
		t.Errorf("spillway status on the leader: %v\n%s\nwant no word of mixed configs (its pools are all the leader's)", err, out)
	}
}

// TestHAFollowerListsTheRowsOfPoolsTheLeaderLacks: a rollout half done,
// the leader runs a config with pool train only, the follower one with
// train and train2, and an open row of train2 (on a provider neither
// config has, so no sweep ends it) bills, kept by the leader's sweeper.
// The follower's status said only the leader knew of such instances,
// though it knows the leader's pools: it lists the rows of pools the
// leader lacks (not train's), in the API, spillway status and the page,
// and says the leader names those no row records.
func TestHAFollowerListsTheRowsOfPoolsTheLeaderLacks(t *testing.T) {
	launched := time.Now().Add(-time.Hour).Truncate(time.Second)
	p := startHAPairOf(t, "ha_mixed_rows", 1, 2, func(pg *fixture.Postgres, db string) {
		st, err := postgres.Open(t.Context(), pg.DSN(db))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		row := func(id, pool string) state.Instance {
			return state.Instance{ID: id, Provider: "aws-old", Pool: pool, Offering: "aws-old-p4d", InstanceType: "p4d.24xlarge",
				State: state.InstanceRunning, GPUs: 8, PricePerHour: 32.77, LaunchedAt: launched, JoinedAt: launched, UpdatedAt: launched}
		}
		if err := st.PutInstances(t.Context(), []state.Instance{row("i-0train2", "train2"), row("i-0train", "train")}); err != nil {
			t.Fatal(err)
		}
	})
	st, err := p.client(p.follow).Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Unconfigured) != 1 || st.Unconfigured[0].ID != "i-0train2" || st.Unconfigured[0].Pool != "train2" || st.Unconfigured[0].CostSoFar < 32 ||
		!strings.Contains(st.UnconfiguredUnknown, "is the leader's to name: ask the leader, "+p.leader) {
		t.Fatalf("the follower's unconfigured: %+v (%q); want train2's row i-0train2, about $32.77 so far, and the leader naming those no row records", st.Unconfigured, st.UnconfiguredUnknown)
	}
	t.Setenv("SPILLWAY_TOKEN", p.token)
	out, _, err := runCLI(t, "status", "--server", p.follow.url)
	for _, want := range []string{"instances of pools not in the leader's config (kept", "  pool train2: aws-old i-0train2 (aws-old-p4d, running)"} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("spillway status on the follower: %v\n%s\nwant %q", err, out, want)
		}
	}
	page := followerPage(t, p)
	if want := "<h2>Instances of pools not in the leader's config</h2>"; !strings.Contains(page, want) || !strings.Contains(page, "<td>i-0train2</td>") {
		t.Errorf("the follower's page lacks %s and i-0train2:\n%s", want, page)
	}
	// Its /metrics counted none: its sweeper, a follower's, returned at
	// once. It counts what its status lists, train's row not among them.
	var metrics string
	if !waitFor(30*time.Second, func() bool {
		metrics = anonymousPage(t, p.follow.url+"/metrics")
		return strings.Contains(metrics, `spillway_unconfigured_pool_instances{pool="train2"} 1`+"\n")
	}) || strings.Contains(metrics, `spillway_unconfigured_pool_instances{pool="train"}`) {
		t.Errorf("the follower's /metrics: %s; want spillway_unconfigured_pool_instances{pool=\"train2\"} 1 and no series of train", grepLines(metrics, "unconfigured"))
	}
}

// grepLines is the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for l := range strings.Lines(text) {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}
