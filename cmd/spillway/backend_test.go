package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
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
	st := tempState(t)
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
		{"/v1/decisions?pool=old&since=1m", 200, `{"items":[],"since":"`},
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
	return backendOverProviders(tb, st, pool, map[string]providers.Provider{})
}

// backendOverProviders is backendOver with the pool's offerings' providers
// (which the scheduler never calls: it does not tick).
func backendOverProviders(tb testing.TB, st state.Store, pool policy.Pool, provs map[string]providers.Provider) *httptest.Server {
	tb.Helper()
	sched, err := scheduler.New(scheduler.Options{Cluster: "c", Store: st, Providers: provs,
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

// TestBurstListCountsLaunchesInFlight: a burst whose launch is committed
// (its intent written) but whose instances are not recorded yet showed 0
// instances and nothing else, as if nothing were happening; it now shows
// the GPUs launching. An instance already recorded under the intent is
// counted once, as an instance; a done intent, a demand launch and
// another burst's launch are not this burst's.
func TestBurstListCountsLaunchesInFlight(t *testing.T) {
	ctx := context.Background()
	st := tempState(t)
	now := time.Now().UTC()
	for _, id := range []string{"b-inflight", "b-other"} {
		if err := st.CreateFloor(ctx, state.Floor{ID: id, Pool: "train", Kind: state.FloorManual, Owner: "alice", Reason: "INC-5",
			GPUs: 24, Start: now, Until: now.Add(time.Hour), CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	intents := []state.Intent{
		{ID: "i-3", Floor: "b-inflight", Count: 3, Status: state.IntentPending}, // one of three recorded
		{ID: "i-done", Floor: "b-inflight", Count: 1, Status: state.IntentPending},
		{ID: "i-demand", Count: 2, Status: state.IntentPending},
		{ID: "i-other", Floor: "b-other", Count: 1, Status: state.IntentPending},
	}
	for _, in := range intents {
		in.Pool, in.Provider, in.Offering, in.ClientToken, in.CreatedAt, in.UpdatedAt = "train", "aws", "p5", "spw-"+in.ID, now, now
		if err := st.CreateIntent(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutInstances(ctx, []state.Instance{{ID: "i-0a", Provider: "aws", Pool: "train", Offering: "p5", InstanceType: "p5.48xlarge",
		State: state.InstanceBooting, GPUs: 8, LaunchedAt: now, UpdatedAt: now, Floor: "b-inflight", IntentID: "i-3"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.FinishIntent(ctx, "i-done", state.IntentDone, []string{"i-0gone"}, "", now); err != nil {
		t.Fatal(err)
	}
	srv := backendOverProviders(t, st, policy.Pool{Name: "train", Offerings: []policy.Offering{{Name: "p5", Provider: "aws", InstanceType: "p5.48xlarge", GPUs: 8, PricePerHour: 98}}},
		map[string]providers.Provider{"aws": uncalledProvider{}})
	c, err := api.NewClient(srv.URL, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := c.Bursts(ctx, "train", false)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][2]int{}
	for _, b := range bs {
		got[b.ID] = [2]int{b.Instances, b.LaunchingGPUs}
	}
	want := map[string][2]int{"b-inflight": {1, 16}, "b-other": {0, 8}}
	if !maps.Equal(got, want) {
		t.Fatalf("bursts' [instances, launching GPUs] = %v, want %v", got, want)
	}
	// GET /v1/bursts/{id}, where the create's Location points, says the same.
	if b, err := c.Burst(ctx, "b-inflight"); err != nil || b.Instances != 1 || b.LaunchingGPUs != 16 {
		t.Fatalf("GET /v1/bursts/b-inflight: %+v, %v; want 1 instance and 16 GPUs launching", b, err)
	}
	if _, err := c.Burst(ctx, "b-none"); apiStatus(err) != 404 {
		t.Fatalf("GET /v1/bursts/b-none: %v, want 404", err)
	}
}

// uncalledProvider names a provider for a scheduler that never ticks.
type uncalledProvider struct{ providers.Provider }

// floorReads counts the floors a store hands back to its caller.
type floorReads struct {
	state.Store
	rows int
}

func (s *floorReads) Floors(ctx context.Context, f state.FloorFilter) ([]state.Floor, error) {
	fls, err := s.Store.Floors(ctx, f)
	s.rows += len(fls)
	return fls, err
}

// TestBurstListReadsOnePage: GET /v1/bursts read every manual burst the
// state held (90 days of them by default) to answer one page, so that a
// long-lived server's burst list cost grew with its history (115 ms a
// request at 20,000 bursts) and paging through it grew with its square.
// The active list now reads the open bursts, and all=true one page; the
// pages still list every burst once, in ID order.
func TestBurstListReadsOnePage(t *testing.T) {
	ctx := context.Background()
	st := tempState(t)
	now := time.Now().UTC()
	const ended, active = 250, 3
	var want []string
	for i := range ended + active {
		fl := state.Floor{ID: fmt.Sprintf("b-%04d", i), Pool: "train", Kind: state.FloorManual, Owner: "alice", Reason: "INC-5",
			GPUs: 8, Start: now.Add(-time.Hour), Until: now.Add(time.Hour), CreatedAt: now.Add(-time.Hour)}
		if err := st.CreateFloor(ctx, fl); err != nil {
			t.Fatal(err)
		}
		if i < ended {
			if err := st.EndFloor(ctx, fl.ID, now.Add(-time.Minute), "cancelled by alice"); err != nil {
				t.Fatal(err)
			}
		}
		want = append(want, fl.ID)
	}
	reads := &floorReads{Store: st}
	srv := backendOver(t, reads, policy.Pool{Name: "train", Manual: policy.Manual{MaxGPUs: 8}})
	c, err := api.NewClient(srv.URL, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := c.Bursts(ctx, "train", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != active || reads.rows > active {
		t.Fatalf("GET /v1/bursts listed %d bursts and read %d from the state, want %d and %d (the open ones)", len(bs), reads.rows, active, active)
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		reads.rows = 0
		resp, err := http.Get(srv.URL + "/v1/bursts?pool=train&all=true&limit=100&cursor=" + cursor)
		if err != nil {
			t.Fatal(err)
		}
		var page api.Page[api.Burst]
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("page %d: %s, %v", pages, resp.Status, err)
		}
		if reads.rows > 101 {
			t.Fatalf("page %d of 100 bursts read %d bursts from the state, want at most 101", pages, reads.rows)
		}
		for _, b := range page.Items {
			got = append(got, b.ID)
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the pages of all=true listed %d bursts %v…, want %d %v…", len(got), got[:min(3, len(got))], len(want), want[:3])
	}
}

// tempState is a new SQLite state in the test's temporary folder.
func tempState(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestPoolNotEvaluatedShowsStoredSpend: before a server's first tick
// (just restarted, the tick still resuming intents or waiting on a slow
// cloud), or after a failed one, the pool showed $0.00 spent in a budget
// period of year 1 and zeros for its on-prem GPUs and queue, read as an
// idle pool with nothing spent; it shows the spend the state holds, and
// says it has not evaluated the pool (no time), and how often it does.
func TestPoolNotEvaluatedShowsStoredSpend(t *testing.T) {
	ctx := context.Background()
	st := tempState(t)
	pool := policy.Pool{Name: "train", Interval: policy.Duration(30 * time.Second), Limits: policy.Limits{Budget: &policy.Budget{Amount: 20000, Period: policy.PeriodMonth}}}
	start, end := pool.BudgetPeriod(time.Now())
	if err := st.RecordSpend(ctx, state.SpendEntry{Pool: "train", Provider: "aws", InstanceID: "i-1", PeriodStart: start, Amount: 1234.5, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	srv := backendOver(t, st, pool)
	var d api.PoolDetail
	resp, err := http.Get(srv.URL + "/v1/pools/train")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	if d.Spend.Accrued != 1234.5 || !d.Spend.PeriodStart.Equal(start) || !d.Spend.PeriodEnd.Equal(end) || d.Spend.Budget != 20000 {
		t.Errorf("spend of a pool not evaluated yet: %+v, want $1234.50 of $20000 from %s to %s", d.Spend, start, end)
	}
	if !d.Snapshot.Time.IsZero() || d.Snapshot.Known() || time.Duration(d.Snapshot.Interval) != 30*time.Second {
		t.Errorf("snapshot of a pool not evaluated yet: %+v, want no time (unknown figures), interval 30s", d.Snapshot)
	}
}

// TestStoredSpendCountsPendingLaunches: a pool whose spend no tick of the
// answering server has shown (a follower's, or one restarted and
// resuming its intents) showed the ledger alone, where the leader's tick
// counts what the instances of its pending intents may cost
// (pendingSpend): during a failover with a launch pending, the follower
// said $1234.50 where the leader said $1332.50 for the same pool. It
// counts them as the tick does: here one hourly $98/h instance of a
// two-instance intent that one live row records.
func TestStoredSpendCountsPendingLaunches(t *testing.T) {
	ctx := t.Context()
	st := tempState(t)
	p5 := policy.Offering{Name: "p5", Provider: "aws", InstanceType: "p5.48xlarge", GPUs: 8, PricePerHour: 98, Billing: policy.BillingHourly}
	pool := policy.Pool{Name: "train", Interval: policy.Duration(30 * time.Second), Offerings: []policy.Offering{p5},
		Limits: policy.Limits{Budget: &policy.Budget{Amount: 20000, Period: policy.PeriodMonth}}}
	now := time.Now()
	start, _ := pool.BudgetPeriod(now)
	if err := st.RecordSpend(ctx, state.SpendEntry{Pool: "train", Provider: "aws", InstanceID: "i-1", PeriodStart: start, Amount: 1234.5, At: now}); err != nil {
		t.Fatal(err)
	}
	at := now.Add(-10 * time.Minute)
	if err := st.CreateIntent(ctx, state.Intent{ID: "in-1", Pool: "train", Provider: "aws", Offering: "p5", Count: 2, ClientToken: "tok-1", Status: state.IntentPending, CreatedAt: at, UpdatedAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutInstances(ctx, []state.Instance{{ID: "i-2", Provider: "aws", Pool: "train", Offering: "p5", InstanceType: "p5.48xlarge",
		State: state.InstanceBooting, GPUs: 8, PricePerHour: 98, Billing: string(policy.BillingHourly), LaunchedAt: now, UpdatedAt: now, IntentID: "in-1"}}); err != nil {
		t.Fatal(err)
	}
	c, err := api.NewClient(backendOverProviders(t, st, pool, map[string]providers.Provider{"aws": uncalledProvider{}}).URL, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Pool(ctx, "train")
	if err != nil {
		t.Fatal(err)
	}
	if want := 1234.5 + 98; d.Spend.Accrued != want {
		t.Errorf("spend of a pool not evaluated with a launch pending: $%.2f, want $%.2f: the ledger's $1234.50 and the hour one pending instance has begun", d.Spend.Accrued, want)
	}
}

// TestPoolSaysItsTickLength: the page and spillway status count a pool's
// figures out of date only once older than three intervals and the
// longest its tick may wait on its cloud calls; the server says how long
// that is (twice the call timeout of its offerings' provider: 2m at the
// default 60s), in the pool and in /v1/status, and waits on no call
// while no tick runs.
func TestPoolSaysItsTickLength(t *testing.T) {
	srv := backendOverProviders(t, tempState(t), policy.Pool{Name: "train", Interval: policy.Duration(30 * time.Second),
		Offerings: []policy.Offering{{Name: "p5", Provider: "aws", InstanceType: "p5.48xlarge", GPUs: 8, PricePerHour: 98}}},
		map[string]providers.Provider{"aws": uncalledProvider{}})
	c, err := api.NewClient(srv.URL, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Pool(t.Context(), "train")
	if err != nil || time.Duration(d.Snapshot.TickLength) != 2*time.Minute || d.Snapshot.Waiting != "" {
		t.Errorf("pool: tick_length %s, waiting %q (%v); want 2m, none", d.Snapshot.TickLength, d.Snapshot.Waiting, err)
	}
	st, err := c.Status(t.Context())
	if err != nil || len(st.Pools) != 1 || time.Duration(st.Pools[0].TickLength) != 2*time.Minute {
		t.Errorf("status: %+v (%v); want the pool's tick_length 2m", st.Pools, err)
	}
}

// TestUnconfiguredRowCostsByItsBilling: an open row of a pool the config
// lacks was costed by the second whatever its billing: an hourly p4d 10
// minutes old showed $5.46 where its started hour bills $32.77. It is
// costed by the rule the row recorded.
func TestUnconfiguredRowCostsByItsBilling(t *testing.T) {
	launched := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	now := launched.Add(10 * time.Minute)
	tests := []struct {
		billing policy.Billing
		want    float64
	}{
		{policy.BillingHourly, 32.77},
		{policy.BillingPerSecond, 32.77 / 6},
		{policy.BillingPerSecondMin60, 32.77 / 6},
	}
	for _, tt := range tests {
		r := state.Instance{Pool: "gone", ID: "i-1", PricePerHour: 32.77, Billing: string(tt.billing), LaunchedAt: launched}
		if got := apiUnconfigured(r, now).CostSoFar; math.Abs(got-tt.want) > 0.005 {
			t.Errorf("%s row 10 minutes old: cost so far $%.2f, want $%.2f", tt.billing, got, tt.want)
		}
	}
}
