package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/api/apitest"
	"github.com/spillway-io/spillway/api/tokens"
)

// runCLIContext is runCLI under ctx (api.WithPaging sets how listings page).
func runCLIContext(t *testing.T, ctx context.Context, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// advancingClock moves on by step at each reading: a server whose clock
// runs on between the pages of one listing.
type advancingClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *advancingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t
	c.t = c.t.Add(c.step)
	return t
}

// TestDecisionsSinceKeepsItsWindow: `spillway decisions --since 50m` sent
// since=50m again with each page, so the window moved with the server's
// clock between pages and the decisions near its old edge were left out.
// The window is the one the first page set: every decision of the last
// 50 minutes (the fixture's four) is listed, however many pages it takes.
func TestDecisionsSinceKeepsItsWindow(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens.yaml")
	tok, err := tokens.Add(file, "vera", tokens.Viewer, apitest.FixtureTime, nil)
	if err != nil {
		t.Fatal(err)
	}
	clk := &advancingClock{t: apitest.FixtureTime, step: 10 * time.Minute}
	srv, err := api.NewServer(api.Options{Backend: apitest.Fixture(func() time.Time { return apitest.FixtureTime }), TokensFile: file, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	t.Setenv("SPILLWAY_SERVER", ts.URL)
	t.Setenv("SPILLWAY_TOKEN", tok)
	for _, size := range []int{1, 2, 1000} {
		clk.mu.Lock()
		clk.t = apitest.FixtureTime // each listing starts at the fixture's now
		clk.mu.Unlock()
		out, _, err := runCLIContext(t, api.WithPaging(context.Background(), api.Paging{Size: size}), "decisions", "--since", "50m", "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		var ds []api.Decision
		if err := json.Unmarshal([]byte(out), &ds); err != nil {
			t.Fatal(err)
		}
		var ago []time.Duration
		for _, d := range ds {
			ago = append(ago, apitest.FixtureTime.Sub(d.Time))
		}
		want := []time.Duration{3 * time.Minute, 30 * time.Minute, 40 * time.Minute, 41 * time.Minute}
		if len(ago) != len(want) || !equalDurations(ago, want) {
			t.Errorf("pages of %d: decisions from %v ago, want %v", size, ago, want)
		}
	}
}

func equalDurations(a, b []time.Duration) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

// TestListingsSayWhenThePageCapCutThem: a listing longer than the client
// follows (1,000 pages) ended silently, its rows looking like all there
// were. The rows read are printed, then stderr says the list is incomplete
// and how to narrow it, and the command exits 1.
func TestListingsSayWhenThePageCapCutThem(t *testing.T) {
	url, toks := opServer(t)
	t.Setenv("SPILLWAY_SERVER", url)
	t.Setenv("SPILLWAY_TOKEN", toks[tokens.Operator])
	for range 2 { // three bursts with the fixture's
		if _, _, err := runCLI(t, "burst", "create", "--pool", "training", "--gpus", "1", "--for", "1h", "--reason", "paging"); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		args   []string
		pages  int
		rows   int    // table rows printed
		narrow string // the hint, "" when the listing is whole
	}{
		{[]string{"instances"}, 2, 2, "narrow it with --pool"},
		{[]string{"instances"}, 3, 3, ""},
		{[]string{"burst", "list", "--all"}, 2, 2, "narrow it with --pool"},
		{[]string{"burst", "list", "--all"}, 3, 3, ""},
		{[]string{"decisions"}, 4, 4, "narrow it with --pool, --since or --limit"},
		{[]string{"decisions", "--limit", "4"}, 4, 4, ""},
		{[]string{"decisions"}, 5, 5, ""},
	} {
		name := strings.Join(tc.args, " ")
		ctx := api.WithPaging(context.Background(), api.Paging{Size: 1, Pages: tc.pages})
		out, _, err := runCLIContext(t, ctx, tc.args...)
		if rows := strings.Count(out, "\n") - 1; rows != tc.rows {
			t.Errorf("%s, %d pages: %d rows printed, want %d:\n%s", name, tc.pages, rows, tc.rows, out)
		}
		if tc.narrow == "" {
			if err != nil {
				t.Errorf("%s, %d pages: %v, want the whole list", name, tc.pages, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s, %d pages: exit 0 with nothing said, want 1 and the list said incomplete", name, tc.pages)
			continue
		}
		code, msg := exitStatus(err)
		if code != 1 || !strings.Contains(msg, "stopped after") || !strings.Contains(msg, "the list above is incomplete; "+tc.narrow) {
			t.Errorf("%s, %d pages: exit %d %q, want 1 and the list said incomplete with %q", name, tc.pages, code, msg, tc.narrow)
		}
	}
}
