package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/api"
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
	if out, _, err := runCLI(t, "status", "--server", p.lead.url); err != nil || strings.Contains(out, "mixed configs") {
		t.Errorf("spillway status on the leader: %v\n%s\nwant no word of mixed configs (its pools are all the leader's)", err, out)
	}
}
