package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/scheduler"
	"github.com/spillway-io/spillway/state"
	"github.com/spillway-io/spillway/state/sqlite"
)

// TestListsOfAnUnknownPool: a list filtered on a pool the config does not
// have answers 404 naming it, not an empty list that hides a mistyped
// name; the rows of a pool since removed from the config are still listed.
func TestListsOfAnUnknownPool(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	// Pool "old" was removed from the config; its rows remain.
	if err := st.PutInstances(ctx, []state.Instance{{ID: "i-0old", Provider: "aws", Pool: "old", Offering: "p5",
		InstanceType: "p5.48xlarge", State: state.InstanceRunning, GPUs: 8, PricePerHour: 98.32,
		LaunchedAt: now, JoinedAt: now, UpdatedAt: now}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddDecision(ctx, state.Decision{Pool: "old", Time: now, Summary: "launch 1× p5", Plan: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateFloor(ctx, state.Floor{ID: "b-old", Pool: "old", Kind: state.FloorManual, Owner: "alice", Reason: "x",
		GPUs: 8, Start: now, Until: now.Add(time.Hour), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	srv := backendOver(t, st, policy.Pool{Name: "train"})

	for _, tt := range []struct {
		path   string
		status int
		want   string
	}{
		{"/v1/instances?pool=trian", 404, `no pool \"trian\"`},
		{"/v1/decisions?pool=trian", 404, `no pool \"trian\"`},
		{"/v1/bursts?pool=trian&all=true", 404, `no pool \"trian\"`},
		{"/v1/instances?pool=train", 200, `{"items":[]}`},
		{"/v1/decisions?pool=train", 200, `{"items":[]}`},
		{"/v1/bursts?pool=train", 200, `{"items":[]}`},
		{"/v1/instances?pool=old", 200, `"id":"i-0old"`},
		{"/v1/decisions?pool=old", 200, `"pool":"old"`},
		{"/v1/decisions?pool=old&since=1m", 200, `{"items":[]}`},
		{"/v1/decisions?pool=trian&since=1m", 404, `no pool \"trian\"`},
		{"/v1/bursts?pool=old&all=true", 200, `"id":"b-old"`},
	} {
		resp, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.want) {
			t.Errorf("GET %s: %d %s, want %d with %s", tt.path, resp.StatusCode, body, tt.status, tt.want)
		}
	}
}

// backendOver serves the API, reads open to all, through the real backend
// over st and a scheduler of one pool (no providers, an empty snapshot).
func backendOver(tb testing.TB, st state.Store, pool policy.Pool) *httptest.Server {
	tb.Helper()
	sched, err := scheduler.New(scheduler.Options{Cluster: "c", Store: st, Providers: map[string]providers.Provider{},
		Pools: []scheduler.Pool{{Policy: pool, Snapshot: func(context.Context) policy.Snapshot { return policy.Snapshot{} }}}})
	if err != nil {
		tb.Fatal(err)
	}
	h, err := api.NewServer(api.Options{Backend: &backend{cluster: "c", sched: sched, store: st, clock: clock.RealClock{}}, AnonymousRead: true})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv
}

// TestAPIDecisionCountsWhatLaunched: a decision's row names the offering
// that launched and how many instances did. A launch that failed for
// capacity and fell back to another offering in the same tick was shown
// as the failed offering, with both attempts' counts added up.
func TestAPIDecisionCountsWhatLaunched(t *testing.T) {
	p5, gn7e := "aws/us-east-1/p5.48xlarge/on-demand", "ali/cn-hangzhou/ecs.gn7e/on-demand"
	for _, tt := range []struct {
		name     string
		dryRun   bool
		launches []scheduler.LaunchRecord
		offering string
		count    int
		ids      []string
	}{
		{"fell back", false, []scheduler.LaunchRecord{
			{Offering: p5, Count: 1, Outcome: "failed (capacity)"},
			{Offering: gn7e, Count: 1, Outcome: "launched 1", Instances: []string{"i-a"}},
		}, gn7e, 1, []string{"i-a"}},
		{"launched fewer than asked", false, []scheduler.LaunchRecord{
			{Offering: p5, Count: 3, Outcome: "launched 2", Instances: []string{"i-a", "i-b"}},
		}, p5, 2, []string{"i-a", "i-b"}},
		{"two offerings launched", false, []scheduler.LaunchRecord{
			{Offering: p5, Count: 1, Outcome: "launched 1", Instances: []string{"i-a"}},
			{Offering: gn7e, Count: 2, Outcome: "launched 2", Instances: []string{"i-b", "i-c"}},
		}, p5 + ", " + gn7e, 3, []string{"i-a", "i-b", "i-c"}},
		{"every launch failed", false, []scheduler.LaunchRecord{
			{Offering: p5, Count: 2, Outcome: "failed (capacity)"},
			{Offering: gn7e, Count: 2, Outcome: "failed (quota)"},
		}, p5, 0, nil},
		{"a dry run", true, []scheduler.LaunchRecord{
			{Offering: p5, Count: 2, Outcome: "dry run: not launched"},
		}, p5, 2, nil},
	} {
		plan, err := json.Marshal(scheduler.Decision{Pool: "p", Launches: tt.launches})
		if err != nil {
			t.Fatal(err)
		}
		got := apiDecision(state.Decision{Pool: "p", DryRun: tt.dryRun, Plan: plan})
		if got.Kind != "launch" || got.Offering != tt.offering || got.Count != tt.count || !slices.Equal(got.Instances, tt.ids) {
			t.Errorf("%s: %s %q ×%d %v, want launch %q ×%d %v", tt.name, got.Kind, got.Offering, got.Count, got.Instances, tt.offering, tt.count, tt.ids)
		}
	}
}
