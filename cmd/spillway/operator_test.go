package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/api/apitest"
	"github.com/spillway-io/spillway/api/tokens"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/cli goldens")

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// opServer starts the API over the fixture backend on loopback and returns
// its URL and a token per role.
func opServer(t *testing.T) (string, map[tokens.Role]string) {
	t.Helper()
	return opServerWith(t, nil)
}

// opServerWith is opServer whose status names leader as the lease's.
func opServerWith(t *testing.T, leader *api.LeaderInfo) (string, map[tokens.Role]string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "tokens.yaml")
	toks := map[tokens.Role]string{}
	for name, role := range map[string]tokens.Role{"vera": tokens.Viewer, "alice": tokens.Operator, "root": tokens.Admin} {
		tok, err := tokens.Add(file, name, role, apitest.FixtureTime, nil)
		if err != nil {
			t.Fatal(err)
		}
		toks[role] = tok
	}
	clock := fixedClock{apitest.FixtureTime}
	be := apitest.Fixture(clock.Now)
	if leader != nil {
		be.SetLeader(leader)
	}
	srv, err := api.NewServer(api.Options{Backend: be, TokensFile: file, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts.URL, toks
}

func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// TestOperatorCLIGolden runs each operator command against the API and
// compares what a person reads (stdout, and the error main prints) with
// testdata/cli/NAME.golden.
func TestOperatorCLIGolden(t *testing.T) {
	// The lease each status golden's server names; none: a single server.
	follower := func(end *api.TermEnd) *api.LeaderInfo {
		return &api.LeaderInfo{Holder: "spw-b/4242/9f1c", Epoch: 8, Expires: apitest.FixtureTime.Add(10 * time.Second), This: "spw-a/4141/77aa", LastTerm: end}
	}
	leaders := map[string]*api.LeaderInfo{
		"status-follower-last-term":      follower(&api.TermEnd{Epoch: 7, Ended: apitest.FixtureTime.Add(-2 * time.Minute), Why: "its renewals failed until the term ran out: dial tcp 10.0.0.5:5432: i/o timeout", Error: "dial tcp 10.0.0.5:5432: i/o timeout", TakenBy: "spw-b/4242/9f1c"}),
		"status-follower-last-term-json": follower(&api.TermEnd{Epoch: 7, Ended: apitest.FixtureTime.Add(-2 * time.Minute), Why: "its renewals failed until the term ran out: dial tcp 10.0.0.5:5432: i/o timeout", Error: "dial tcp 10.0.0.5:5432: i/o timeout", TakenBy: "spw-b/4242/9f1c"}),
		"status-follower-lost":           follower(&api.TermEnd{Epoch: 7, Ended: apitest.FixtureTime.Add(-2 * time.Minute), Why: "the lease was lost to spw-b/4242/9f1c (epoch 8)", TakenBy: "spw-b/4242/9f1c"}),
	}
	for _, tc := range []struct {
		name string
		role tokens.Role // token in SPILLWAY_TOKEN; "" none
		tok  string      // a literal token instead
		args []string
	}{
		{"status", tokens.Viewer, "", []string{"status"}},
		// A follower whose renewals failed says so, and who took the
		// lease; one that lost it to a renewal names the taker once.
		{"status-follower-last-term", tokens.Viewer, "", []string{"status"}},
		{"status-follower-lost", tokens.Viewer, "", []string{"status"}},
		{"status-follower-last-term-json", tokens.Viewer, "", []string{"status", "-o", "json"}},
		{"status-json", tokens.Viewer, "", []string{"status", "-o", "json"}},
		{"instances", tokens.Viewer, "", []string{"instances"}},
		{"instances-json", tokens.Viewer, "", []string{"instances", "--pool", "training", "-o", "json"}},
		{"decisions", tokens.Viewer, "", []string{"decisions"}},
		{"decisions-since", tokens.Viewer, "", []string{"decisions", "--pool", "training", "--since", "45m"}},
		{"decisions-json", tokens.Viewer, "", []string{"decisions", "--limit", "2", "-o", "json"}},
		// An empty listing in JSON is an empty array, not null.
		{"decisions-json-none", tokens.Viewer, "", []string{"decisions", "--since", "0s", "-o", "json"}},
		{"decisions-since-date", tokens.Viewer, "", []string{"decisions", "--since", "2026-11-29", "--limit", "1"}},
		{"instances-json-none", tokens.Viewer, "", []string{"instances", "--pool", "inference", "-o", "json"}},
		{"burst-list", tokens.Viewer, "", []string{"burst", "list"}},
		{"burst-list-json", tokens.Viewer, "", []string{"burst", "list", "--all", "-o", "json"}},
		{"burst-create", tokens.Operator, "", []string{"burst", "create", "--pool", "training", "--gpus", "16", "--for", "2h", "--reason", "INC-4212: retrain"}},
		// One GPU is "1 GPU".
		{"burst-create-one", tokens.Operator, "", []string{"burst", "create", "--pool", "training", "--gpus", "1", "--for", "2h", "--reason", "INC-4213: debug a kernel"}},
		{"burst-create-json", tokens.Operator, "", []string{"burst", "create", "--pool", "training", "--gpus", "4", "--for", "30m", "--reason", "smoke test", "-o", "json"}},
		{"burst-cancel", tokens.Operator, "", []string{"burst", "cancel", "b-0001"}},
		{"burst-cancel-json", tokens.Admin, "", []string{"burst", "cancel", "b-0001", "-o", "json"}},
		// Each class of error.
		{"err-no-token", "", "", []string{"status"}},
		{"err-unknown-token", "", "spw_revoked", []string{"instances"}},
		{"err-viewer-create", tokens.Viewer, "", []string{"burst", "create", "--pool", "training", "--gpus", "8", "--for", "1h", "--reason", "x"}},
		{"err-max-gpus", tokens.Operator, "", []string{"burst", "create", "--pool", "training", "--gpus", "40", "--for", "1h", "--reason", "x"}},
		{"err-max-ttl", tokens.Operator, "", []string{"burst", "create", "--pool", "training", "--gpus", "8", "--for", "24h", "--reason", "x"}},
		{"err-refuses-manual", tokens.Operator, "", []string{"burst", "create", "--pool", "inference", "--gpus", "1", "--for", "1h", "--reason", "x"}},
		{"err-unknown-pool", tokens.Operator, "", []string{"burst", "create", "--pool", "nope", "--gpus", "1", "--for", "1h", "--reason", "x"}},
		{"err-unknown-burst", tokens.Operator, "", []string{"burst", "cancel", "b-9999"}},
		{"err-unknown-pool-filter", tokens.Operator, "", []string{"decisions", "--pool", "nope"}},
		// A mistyped pool: did you mean, and the pools there are.
		{"err-typo-pool", tokens.Operator, "", []string{"burst", "create", "--pool", "trainig", "--gpus", "8", "--for", "1h", "--reason", "x"}},
		{"err-typo-pool-decisions", tokens.Viewer, "", []string{"decisions", "--pool", "Training"}},
		{"err-typo-pool-instances", tokens.Viewer, "", []string{"instances", "--pool", "inferense"}},
		{"err-typo-pool-bursts", tokens.Viewer, "", []string{"burst", "list", "--pool", "trainings"}},
		{"err-bad-since", tokens.Viewer, "", []string{"decisions", "--since", "last week"}},
		{"err-since-days", tokens.Viewer, "", []string{"decisions", "--since", "1d"}},
		{"err-bad-output", tokens.Viewer, "", []string{"status", "-o", "yaml"}},
		{"err-unreachable", tokens.Viewer, "", []string{"status", "--server", "http://127.0.0.1:1"}},
		{"err-https-to-http", tokens.Viewer, "", []string{"status", "--server", "https://SERVER"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, toks := opServerWith(t, leaders[tc.name])
			tok := tc.tok
			if tc.role != "" {
				tok = toks[tc.role]
			}
			t.Setenv("SPILLWAY_TOKEN", tok)
			t.Setenv("SPILLWAY_SERVER", url)
			args := slices.Clone(tc.args)
			for i, a := range args {
				// https://SERVER: this server's address with https.
				args[i] = strings.Replace(a, "https://SERVER", strings.Replace(url, "http://", "https://", 1), 1)
			}
			out, _, err := runCLI(t, args...)
			got := out
			if err != nil {
				got += "spillway: " + err.Error() + "\n"
			}
			got = strings.ReplaceAll(got, url, "http://SERVER")
			got = strings.ReplaceAll(got, strings.Replace(url, "http://", "https://", 1), "https://SERVER")
			got = regexp.MustCompile(`127\.0\.0\.1:1\b: connect: .*`).ReplaceAllString(got, "127.0.0.1:1: connect: ERROR")
			golden := filepath.Join("testdata", "cli", tc.name+".golden")
			if *updateGolden {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err2 := os.ReadFile(golden)
			if err2 != nil {
				t.Fatal(err2)
			}
			if got != string(want) {
				t.Errorf("output differs from %s:\n--- got\n%s--- want\n%s", golden, got, want)
			}
			if strings.HasPrefix(tc.name, "err-") != (err != nil) {
				t.Errorf("error = %v", err)
			}
		})
	}
}

// TestOperatorCLIWrongTLS: a server that answers over TLS with a
// certificate this machine does not trust is not reported as one that may
// not be running, and a plain-HTTP URL to a TLS server says to use https.
func TestOperatorCLIWrongTLS(t *testing.T) {
	ts := httptest.NewTLSServer(http.NotFoundHandler())
	defer ts.Close()
	t.Setenv("SPILLWAY_TOKEN", "spw_x")
	_, _, err := runCLI(t, "status", "--server", ts.URL)
	if err == nil || !strings.Contains(err.Error(), "The server answered, but its TLS certificate did not verify") || strings.Contains(err.Error(), "running there") {
		t.Errorf("untrusted certificate: %v, want it said the certificate did not verify", err)
	}
	plain := "http://" + strings.TrimPrefix(ts.URL, "https://")
	_, _, err = runCLI(t, "status", "--server", plain)
	if want := "(if it serves HTTPS, use https://" + ts.Listener.Addr().String() + ")"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("http:// to a TLS server: %v, want %q", err, want)
	}
}

func TestOperatorCLITokenFile(t *testing.T) {
	url, toks := opServer(t)
	t.Setenv("SPILLWAY_TOKEN", "spw_wrong")
	file := filepath.Join(t.TempDir(), "token")
	os.WriteFile(file, []byte(toks[tokens.Viewer]+"\n"), 0o600)
	out, _, err := runCLI(t, "status", "--server", url, "--token-file", file)
	if err != nil || !strings.Contains(out, "training") {
		t.Errorf("--token-file overrides SPILLWAY_TOKEN: %v\n%s", err, out)
	}
	_, _, err = runCLI(t, "status", "--server", url, "--token-file", filepath.Join(t.TempDir(), "missing"))
	if err == nil || !strings.Contains(err.Error(), "reading --token-file") {
		t.Errorf("missing token file: %v", err)
	}
}

func TestTokenCreate(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens.yaml")
	out, errOut, err := runCLI(t, "token", "create", "--name", "alice", "--role", "operator", "--file", file)
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(out)
	if !regexp.MustCompile(`^spw_[A-Za-z0-9_-]{43}$`).MatchString(tok) {
		t.Errorf("stdout %q is not just the token", out)
	}
	if !strings.Contains(errOut, `token "alice" (operator) added to `+file) || !strings.Contains(errOut, "shown only once") {
		t.Errorf("stderr: %s", errOut)
	}
	data, _ := os.ReadFile(file)
	if bytes.Contains(data, []byte(tok)) {
		t.Fatal("the tokens file holds the token")
	}
	p, err := tokens.NewStore(file, nil).Lookup(tok)
	if err != nil || p != (tokens.Principal{Name: "alice", Role: tokens.Operator}) {
		t.Errorf("Lookup = %+v, %v", p, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--name", "bob", "--role", "root", "--file", file}, `--role: role "root" is not a role: use viewer, operator or admin`},
		{[]string{"--name", "alice", "--role", "viewer", "--file", file}, `token name "alice" is already in`},
		{[]string{"--name", "bob smith", "--role", "viewer", "--file", file}, `name "bob smith" is not a token name`},
		{[]string{"--name", "bob", "--role", "viewer"}, `required flag(s) "file" not set`},
		// It said "locking the tokens file's folder: open /missing/dir: ...",
		// naming neither the flag nor what to do.
		{[]string{"--name", "bob", "--role", "viewer", "--file", filepath.Join(filepath.Dir(file), "missing", "t.yaml")},
			"--file " + filepath.Join(filepath.Dir(file), "missing", "t.yaml") + ": its folder " + filepath.Join(filepath.Dir(file), "missing") + " does not exist: create it first (mkdir -p"},
		{[]string{"--name", "bob", "--role", "viewer", "--file", filepath.Join(file, "t.yaml")}, "--file " + filepath.Join(file, "t.yaml") + ": " + file + " is not a folder"},
	} {
		_, _, err := runCLI(t, append([]string{"token", "create"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestFloorColumn: the FLOOR column names a burst once, with its owner
// only when that is someone (the server leaves the owner out when the
// burst's row is gone; servers before it reported the burst's ID).
func TestFloorColumn(t *testing.T) {
	for _, tc := range []struct {
		in   api.Instance
		want string
	}{
		{api.Instance{}, "-"},
		{api.Instance{Floor: "weekday-peak"}, "weekday-peak"},
		{api.Instance{Floor: "b-20240102t140607-09c1e845ce53", Burst: "b-20240102t140607-09c1e845ce53"}, "b-20240102t140607-09c1e845ce53"},
		{api.Instance{Floor: "alice", Burst: "b-0001"}, "b-0001 (alice)"},
	} {
		if got := floorColumn(tc.in); got != tc.want {
			t.Errorf("floorColumn(%+v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestFloorLine: status lists each active floor once by who holds it; a
// burst's reason, which the leader gives as "manual burst ID by OWNER:
// REASON" (a follower as the bare reason), names the burst only once.
func TestFloorLine(t *testing.T) {
	until := time.Date(2026, 12, 1, 16, 45, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   api.Floor
		want string
	}{
		{api.Floor{Kind: "schedule", Owner: "peak", GPUs: 8, Until: until, Reason: `schedule "peak" (07 16 * * *, UTC) holds 8 GPUs until 16:45`},
			`schedule peak: 8 GPUs until 2026-12-01 16:45Z: schedule "peak" (07 16 * * *, UTC) holds 8 GPUs until 16:45`},
		{api.Floor{Kind: "manual", Owner: "alice", Burst: "b-1", GPUs: 8, Until: until, Reason: "manual burst b-1 by alice: INC-1: eval backlog"},
			"manual burst b-1 by alice: 8 GPUs until 2026-12-01 16:45Z: INC-1: eval backlog"},
		{api.Floor{Kind: "manual", Owner: "alice", Burst: "b-1", GPUs: 8, Until: until, Reason: "INC-1: eval backlog"},
			"manual burst b-1 by alice: 8 GPUs until 2026-12-01 16:45Z: INC-1: eval backlog"},
	} {
		if got := floorLine(tc.in); got != tc.want {
			t.Errorf("floorLine(%+v)\n = %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

// TestHealthEndpointsRefuseOtherMethods: POST /healthz, /readyz and
// /metrics answer 405 naming GET, not the API's 404.
func TestHealthEndpointsRefuseOtherMethods(t *testing.T) {
	s := &server{reg: prometheus.NewRegistry(), api: http.NotFoundHandler()}
	ts := httptest.NewServer(s.handler())
	t.Cleanup(ts.Close)
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Post(ts.URL+p, "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" || !strings.Contains(string(body), "POST "+p+" is not served: "+p+" takes GET") {
			t.Errorf("POST %s: %d %q %s, want 405 allowing GET", p, resp.StatusCode, resp.Header.Get("Allow"), body)
		}
		if p == "/readyz" {
			continue // its GET needs a whole server
		}
		if resp, err := http.Get(ts.URL + p); err != nil || resp.StatusCode != 200 {
			t.Errorf("GET %s: %v %v", p, resp, err)
		} else {
			resp.Body.Close()
		}
	}
}

// TestStatusSaysWhichFloorsItLeftOut: the server sends each pool's
// schedules' floors and its 10 newest bursts' (a script that opened 2,000
// bursts made the status 216 kB); spillway status lists those and says how
// many older bursts it did not show and how to list them.
func TestStatusSaysWhichFloorsItLeftOut(t *testing.T) {
	url, toks := opServer(t)
	t.Setenv("SPILLWAY_SERVER", url)
	t.Setenv("SPILLWAY_TOKEN", toks[tokens.Operator])
	for i := range 14 { // and the fixture's b-0001
		if _, _, err := runCLI(t, "burst", "create", "--pool", "training", "--gpus", "1", "--for", "1h", "--reason", fmt.Sprintf("INC-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	out, _, err := runCLI(t, "status")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "\n  manual burst b-"); n != 10 || !strings.Contains(out, "\n  schedule weekday-peak") ||
		!strings.Contains(out, "manual burst b-0015 by alice") || !strings.Contains(out, "b-0006 by") || strings.Contains(out, "b-0005 by") {
		t.Errorf("status lists %d bursts' floors, want the schedule's and the 10 newest (b-0015 to b-0006):\n%s", n, out)
	}
	if want := "\n  … and 5 older manual bursts, not shown: spillway burst list --pool training lists them all\n"; !strings.Contains(out, want) {
		t.Errorf("status does not say what it left out: want %q in\n%s", want, out)
	}
	out, _, err = runCLI(t, "status", "-o", "json")
	if err != nil || !strings.Contains(out, `"floors_omitted": 5`) || !strings.Contains(out, `"more_floors": "/v1/bursts?limit=5&pool=training"`) {
		t.Errorf("status -o json: %v\n%s", err, out)
	}
}

// TestStatusSaysWhenFiguresAreUnknownOrOld: a pool the server had not
// evaluated (just started, or a follower), or whose last evaluation
// failed, read as 0/0 busy with an empty queue, and one whose evaluations
// had stopped as current; such a row shows ? for what is unknown, and a
// line under the table says why, or since when the figures are old.
func TestStatusSaysWhenFiguresAreUnknownOrOld(t *testing.T) {
	t0 := apitest.FixtureTime
	m := apitest.NewMemory("acme", func() time.Time { return t0 })
	m.AddPool(api.PoolDetail{Name: "fresh"}, nil)
	m.AddPool(api.PoolDetail{Name: "failing", Snapshot: api.Snapshot{Time: t0.Add(-10 * time.Second), Error: "listing instances: RequestLimitExceeded"}}, nil)
	m.AddPool(api.PoolDetail{Name: "late", Snapshot: api.Snapshot{Time: t0.Add(-47 * time.Minute), Interval: api.Duration(30 * time.Second), OnPremTotal: 32, OnPremBusy: 30}}, nil)
	m.AddPool(api.PoolDetail{Name: "current", Snapshot: api.Snapshot{Time: t0.Add(-20 * time.Second), Interval: api.Duration(10 * time.Second), OnPremTotal: 32, OnPremBusy: 12}}, nil)
	// A tick may wait 20m on its cloud calls (a 10m call_timeout): 9m-old
	// figures are not out of date, and the server says what it waits on.
	m.AddPool(api.PoolDetail{Name: "waiting", Snapshot: api.Snapshot{Time: t0.Add(-9 * time.Minute), Interval: api.Duration(time.Minute), TickLength: api.Duration(20 * time.Minute),
		Waiting: "aws-use1", WaitingSince: t0.Add(-8*time.Minute - 30*time.Second), OnPremTotal: 8}}, nil)
	m.AddPool(api.PoolDetail{Name: "slow", Snapshot: api.Snapshot{Time: t0.Add(-9 * time.Minute), Interval: api.Duration(time.Minute), TickLength: api.Duration(20 * time.Minute), OnPremTotal: 8}}, nil)
	m.AddPool(api.PoolDetail{Name: "stuck", Snapshot: api.Snapshot{Time: t0.Add(-24 * time.Minute), Interval: api.Duration(time.Minute), TickLength: api.Duration(20 * time.Minute), OnPremTotal: 8}}, nil)
	out := statusAt(t, m)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`\nfresh +\? +\? +\? +\? +\? +0 `),
		regexp.MustCompile(`\nfailing +\? +\? +\? +\? +\? +0 `),
		regexp.MustCompile(`\nlate +30/32 +0 +0 +0 +0s +0 `),
		regexp.MustCompile(`\ncurrent +12/32 +0 `),
		regexp.MustCompile(`\nfresh: not evaluated by this server yet \(its first evaluation has not finished: it has just started, or taken the lease\): on-prem and queue figures unknown \(\?\)\n`),
		regexp.MustCompile(`\nfailing: the last evaluation, at 2026-11-29 08:59Z, failed: listing instances: RequestLimitExceeded: on-prem and queue figures unknown \(\?\) until one succeeds\n`),
		regexp.MustCompile(`\nlate: not evaluated since 2026-11-29 08:13Z, 47m ago \(every 30s\): its row is out of date\n`),
		regexp.MustCompile(`\nwaiting: evaluated at 2026-11-29 08:51Z, 9m ago \(every 1m\): the next evaluation is waiting on a call to aws-use1 since 08:51:30 UTC, 8m30s ago \(a tick may wait up to 20m on its cloud calls\)\n`),
		regexp.MustCompile(`\nstuck: not evaluated since 2026-11-29 08:36Z, 24m ago \(every 1m; a tick may wait up to 20m on its cloud calls\): its row is out of date\n`),
	} {
		if !want.MatchString(out) {
			t.Errorf("status lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "current:") || strings.Contains(out, "slow:") {
		t.Errorf("status says something of a pool evaluated 20s ago, or 9m ago with ticks of up to 20m:\n%s", out)
	}
}

// TestJSONOutputIsNotHTMLEscaped: -o json wrote &, < and > as \u0026,
// \u003c and \u003e (encoding/json's default, for JSON inside HTML), so a
// reason "R&D <night run>" read "R\u0026D \u003cnight run\u003e" to
// whoever looked and to grep, and more_floors "limit=5\u0026pool=…",
// which no shell or browser takes as a URL. The CLI writes them as they
// are; the JSON still decodes to the same text.
func TestJSONOutputIsNotHTMLEscaped(t *testing.T) {
	url, toks := opServer(t)
	t.Setenv("SPILLWAY_SERVER", url)
	t.Setenv("SPILLWAY_TOKEN", toks[tokens.Operator])
	const reason = "R&D <night run> -> INC-7"
	created, _, err := runCLI(t, "burst", "create", "--pool", "training", "--gpus", "1", "--for", "1h", "--reason", reason, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		out  string
	}{
		{"burst create", nil, created},
		{"burst list", []string{"burst", "list", "-o", "json"}, ""},
		{"status", []string{"status", "-o", "json"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := tc.out
			if tc.args != nil {
				if out, _, err = runCLI(t, tc.args...); err != nil {
					t.Fatal(err)
				}
			}
			if !strings.Contains(out, `"`+reason+`"`) || strings.Contains(out, `\u00`) {
				t.Errorf("%s -o json does not show %q as it is:\n%s", tc.name, reason, out)
			}
			var v any
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Errorf("%s -o json is not JSON: %v", tc.name, err)
			}
		})
	}
}

// TestStatusIndentsAMultiLineStaleSignal: a stale signal whose error has
// several lines (squeue's standard error, as the slurm source keeps it)
// stays indented under its pool's stale list. Its second and later lines
// started at column 0, reading as lines of the status's own.
func TestStatusIndentsAMultiLineStaleSignal(t *testing.T) {
	t0 := apitest.FixtureTime
	m := apitest.NewMemory("acme", func() time.Time { return t0 })
	squeue := `slurm:train: slurm source "slurm:train": running squeue: exit status 1: squeue: error: fetch_config: DNS SRV lookup failed
squeue: fatal: Could not establish a configuration source (gave up after 3 attempts)`
	m.AddPool(api.PoolDetail{Name: "training", Snapshot: api.Snapshot{Time: t0.Add(-5 * time.Second), Interval: api.Duration(10 * time.Second), OnPremTotal: 8, Stale: []string{squeue}}}, nil)
	out := statusAt(t, m)
	want := "\n  slurm:train: slurm source \"slurm:train\": running squeue: exit status 1: squeue: error: fetch_config: DNS SRV lookup failed\n    squeue: fatal: Could not establish"
	if !strings.Contains(out, want) {
		t.Errorf("status does not indent the stale signal's second line under it, as %q:\n%s", want, out)
	}
}

// TestStatusHeldAfterACloudsSentence: a quota error's message from the
// cloud ends with a full stop, and the held line read "...Request an
// adjustment to this limit. until 2026-11-29 09:07Z"; a sentence is
// followed by "Held until", and a short reason still by "until". A reason
// of several lines (a terraform provider's error) printed its later lines
// at column 0; they are indented under it.
func TestStatusHeldAfterACloudsSentence(t *testing.T) {
	t0 := apitest.FixtureTime
	m := apitest.NewMemory("acme", func() time.Time { return t0 })
	quota := "InstanceLimitExceeded: You have requested more instances (9) than your current instance limit of 8 allows for the specified instance type. Please visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit."
	m.AddPool(api.PoolDetail{Name: "training", Snapshot: api.Snapshot{Time: t0.Add(-5 * time.Second), Interval: api.Duration(10 * time.Second), OnPremTotal: 8,
		Held: []api.Held{{What: "aws-use1/us-east-1", Why: quota, Until: t0.Add(5 * time.Minute)}, {What: "aws-p5-spot", Why: "out of stock", Until: t0.Add(7 * time.Minute)},
			{What: "tf-use1", Why: "terraform apply: exit status 1\nError: creating EC2 Instance: VcpuLimitExceeded", Until: t0.Add(9 * time.Minute)}}}}, nil)
	out := statusAt(t, m)
	for _, want := range []string{
		"\n  aws-use1/us-east-1: " + quota + " Held until " + fmtTime(t0.Add(5*time.Minute)) + "\n",
		"\n  aws-p5-spot: out of stock until " + fmtTime(t0.Add(7*time.Minute)) + "\n",
		"\n  tf-use1: terraform apply: exit status 1\n    Error: creating EC2 Instance: VcpuLimitExceeded until " + fmtTime(t0.Add(9*time.Minute)) + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}

// TestStatusFloorOfOneGPU: a manual burst of one GPU (burst create --gpus
// 1) was listed as "manual burst b-0002 by bob: 1 GPUs until ..."; it
// says 1 GPU.
func TestStatusFloorOfOneGPU(t *testing.T) {
	t0 := apitest.FixtureTime
	m := apitest.NewMemory("acme", func() time.Time { return t0 })
	m.AddPool(api.PoolDetail{Name: "training", Snapshot: api.Snapshot{Time: t0.Add(-5 * time.Second), Interval: api.Duration(10 * time.Second), OnPremTotal: 8},
		Floors: []api.Floor{{Kind: "manual", Owner: "bob", Burst: "b-0002", Reason: "manual burst b-0002 by bob: debug a kernel", GPUs: 1, Until: t0.Add(time.Hour)}}}, nil)
	out := statusAt(t, m)
	if want := "\n  manual burst b-0002 by bob: 1 GPU until " + fmtTime(t0.Add(time.Hour)) + ": debug a kernel\n"; !strings.Contains(out, want) {
		t.Errorf("status lacks %q:\n%s", want, out)
	}
}

// TestStatusShowsDrainingInstances: spillway status said nothing of the
// instances draining, nor of a drain hook running (a tick waits up to a
// minute on it, and it may run on past), though /v1/pools/{pool} and
// /v1/instances say both: an on-call engineer in a terminal saw only an
// instance count. It lists each pool's draining instances, those whose
// hook runs first, then the longest draining, 10 a pool with a count of
// the rest (testdata/cli/status-draining.golden).
func TestStatusShowsDrainingInstances(t *testing.T) {
	t0 := apitest.FixtureTime
	m := apitest.NewMemory("acme", func() time.Time { return t0 })
	in := func(id string, state string, drained time.Duration) api.Instance {
		i := api.Instance{ID: id, Pool: "training", Provider: "aws-use1", Offering: "aws-p5-spot", InstanceType: "p5.48xlarge",
			GPUs: 8, BusyGPUs: 2, State: state, LaunchedAt: t0.Add(-3 * time.Hour), PricePerHour: 31.04}
		if state == "draining" {
			i.DrainingSince = t0.Add(-drained)
		}
		return i
	}
	training := api.PoolDetail{Name: "training", Snapshot: api.Snapshot{Time: t0.Add(-5 * time.Second), Interval: api.Duration(30 * time.Second), OnPremTotal: 64, OnPremBusy: 64}}
	training.Instances = append(training.Instances, in("i-0000000000000run1", "running", 0))
	for k := range 10 {
		training.Instances = append(training.Instances, in(fmt.Sprintf("i-00000000000000d%02d", k), "draining", time.Duration(k+1)*time.Minute))
	}
	hook := in("i-000000000000hook1", "draining", 90*time.Second)
	hook.DrainHook, hook.DrainHookSince = api.DrainHookRunning, t0.Add(-90*time.Second)
	ran := in("i-000000000000hook2", "draining", 25*time.Minute)
	ran.DrainHook, ran.DrainHookSince = api.DrainHookDone, t0.Add(-24*time.Minute)
	training.Instances = append(training.Instances, hook, ran)
	m.AddPool(training, nil)
	m.AddPool(api.PoolDetail{Name: "inference", Snapshot: api.Snapshot{Time: t0.Add(-5 * time.Second), Interval: api.Duration(30 * time.Second), OnPremTotal: 8}}, nil)
	checkGolden(t, "status-draining", statusAt(t, m))
	js, _, err := runCLI(t, "status", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"draining_omitted": 2`, `"drain_hook": "running"`, `"drain_hook_since": "2026-11-29T08:58:30Z"`} {
		if !strings.Contains(js, want) {
			t.Errorf("status -o json lacks %s:\n%s", want, js)
		}
	}
}

// statusAt is what spillway status prints against an API server on m,
// read anonymously, its clock at apitest.FixtureTime.
// checkGolden compares out with testdata/cli/NAME.golden (rewritten
// with -update).
func checkGolden(t *testing.T, name, out string) {
	t.Helper()
	golden := filepath.Join("testdata", "cli", name+".golden")
	if *updateGolden {
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("output differs from %s:\n--- got\n%s--- want\n%s", golden, out, want)
	}
}

func statusAt(t *testing.T, m *apitest.Memory) string {
	t.Helper()
	srv, err := api.NewServer(api.Options{Backend: m, AnonymousRead: true, Clock: fixedClock{apitest.FixtureTime}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	t.Setenv("SPILLWAY_SERVER", strings.Replace(ts.URL, "127.0.0.1", "localhost", 1))
	t.Setenv("SPILLWAY_TOKEN", "")
	out, _, err := runCLI(t, "status")
	if err != nil {
		t.Fatal(err)
	}
	return out
}
