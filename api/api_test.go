package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/api/apitest"
	"github.com/spillway-io/spillway/api/tokens"
)

const goodBurst = `{"pool":"training","gpus":8,"for":"2h","reason":"INC-1: queue backlog"}`

// TestAuthMatrix runs each kind of caller against each kind of endpoint and
// checks the answer and the audit row every mutating call leaves, refusals
// included.
func TestAuthMatrix(t *testing.T) {
	e := newEnv(t, false)
	unknown, _ := tokens.Generate(nil)
	for _, tc := range []struct {
		name         string
		method, path string
		role         tokens.Role // "" with tok: none
		tok          string      // used when role is ""
		body         string
		status       int
		want         []string // in the body
		audit        string   // principal of the audit row; "-" for no row
	}{
		{"read no token", "GET", "/v1/status", "", "", "", 401, []string{`"code": "unauthenticated"`, "no token: GET /v1/status needs a token with role viewer"}, "-"},
		{"read unknown token", "GET", "/v1/pools", "", unknown, "", 401, []string{"unknown token: it is not in this server's tokens file"}, "-"},
		{"read malformed header", "GET", "/v1/pools", "", "two words", "", 401, []string{"unknown token"}, "-"},
		{"read over-long token", "GET", "/v1/pools", "", strings.Repeat("a", 1024), "", 401, []string{"the bearer token is 1024 bytes, over the limit of 512"}, "-"},
		{"read viewer", "GET", "/v1/pools/training", tokens.Viewer, "", "", 200, []string{`"name": "training"`, `"onprem_gpus": 32`}, "-"},
		{"unknown pool", "GET", "/v1/pools/nope", tokens.Viewer, "", "", 404, []string{`no pool \"nope\": GET /v1/pools`}, "-"},
		{"audit viewer", "GET", "/v1/audit", tokens.Viewer, "", "", 403, []string{`token \"vera\" has role viewer, and GET /v1/audit needs role admin`}, "-"},
		{"audit operator", "GET", "/v1/audit", tokens.Operator, "", "", 403, []string{"needs role admin"}, "-"},
		{"create no token", "POST", "/v1/bursts", "", "", goodBurst, 401, []string{"no token: creating a burst needs a token with role operator"}, ""},
		// A second 401 from the address within a minute is counted into
		// its next 401 row, not recorded (TestUnauthenticatedAuditIsBounded).
		{"create unknown token", "POST", "/v1/bursts", "", unknown, goodBurst, 401, []string{"unknown token"}, "-"},
		{"create viewer", "POST", "/v1/bursts", tokens.Viewer, "", goodBurst, 403, []string{`"code": "forbidden"`, `token \"vera\" has role viewer, and creating a burst needs role operator or admin`}, "vera"},
		{"create operator over max_gpus", "POST", "/v1/bursts", tokens.Operator, "", `{"pool":"training","gpus":40,"for":"2h","reason":"big"}`, 403,
			[]string{`"code": "limit_exceeded"`, `"limit": "max_gpus"`, `"value": "32"`, "40 GPUs is over pool training's manual limit max_gpus = 32"}, "alice"},
		{"create operator over max_ttl", "POST", "/v1/bursts", tokens.Operator, "", `{"pool":"training","gpus":8,"for":"13h","reason":"long"}`, 403,
			[]string{`"limit": "max_ttl"`, `"value": "12h"`, "for 13h is over pool training's manual limit max_ttl = 12h"}, "alice"},
		{"create operator pool refusing", "POST", "/v1/bursts", tokens.Operator, "", `{"pool":"inference","gpus":1,"for":"1h","reason":"x"}`, 403,
			[]string{`"limit": "max_gpus"`, `"value": "0"`, "pool inference refuses manual bursts"}, "alice"},
		{"create operator unknown pool", "POST", "/v1/bursts", tokens.Operator, "", `{"pool":"nope","gpus":1,"for":"1h","reason":"x"}`, 404, []string{`no pool \"nope\"`}, "alice"},
		{"create operator bad body", "POST", "/v1/bursts", tokens.Operator, "", `{"pool":"training","gpus":"eight"}`, 400, []string{`field \"gpus\" must be a whole number, not a JSON string`}, "alice"},
		{"create operator foreign offering", "POST", "/v1/bursts", tokens.Operator, "", `{"pool":"training","gpus":8,"for":"2h","reason":"x","offering":"nodash"}`, 400,
			[]string{`"code": "invalid"`, `"message": "offering \"nodash\" is not one of pool training's offerings"`}, "alice"},
		// A parameter a mutating endpoint does not take is refused before
		// anything changes: ?dryrun=true must not create a real burst.
		{"create unknown parameter", "POST", "/v1/bursts?dryrun=true", tokens.Operator, "", goodBurst, 400,
			[]string{`unknown parameter \"dryrun\" for POST /v1/bursts: it takes no parameters`}, "alice"},
		{"create operator ok", "POST", "/v1/bursts", tokens.Operator, "", goodBurst, 201, []string{`"owner": "alice"`, `"state": "active"`, `"gpus": 8`}, "alice"},
		{"create admin over limits", "POST", "/v1/bursts", tokens.Admin, "", `{"pool":"training","gpus":40,"for":"24h","reason":"admin override"}`, 201, []string{`"owner": "root"`}, "root"},
		{"cancel viewer", "DELETE", "/v1/bursts/b-0001", tokens.Viewer, "", "", 403, []string{"cancelling a burst needs role operator"}, "vera"},
		{"cancel unknown", "DELETE", "/v1/bursts/b-9999", tokens.Operator, "", "", 404, []string{`no burst \"b-9999\"`}, "alice"},
		{"cancel unknown parameter", "DELETE", "/v1/bursts/b-0001?force=1", tokens.Operator, "", "", 400,
			[]string{`unknown parameter \"force\" for DELETE /v1/bursts/b-0001: it takes no parameters`}, "alice"},
		{"cancel operator", "DELETE", "/v1/bursts/b-0001", tokens.Operator, "", "", 200, []string{`"state": "cancelled"`, `"cancelled_by": "alice"`}, "alice"},
		{"cancel again", "DELETE", "/v1/bursts/b-0001", tokens.Admin, "", "", 409, []string{`"code": "conflict"`, `"message": "burst b-0001 already cancelled at 2026-11-29T09:00:00Z"`}, "root"},
		{"audit admin", "GET", "/v1/audit?limit=1", tokens.Admin, "", "", 200, []string{`"principal": "root"`, `"next": "`}, "-"},
		{"wrong method", "PUT", "/v1/bursts", tokens.Admin, "", goodBurst, 405, []string{`"code": "method_not_allowed"`, "PUT /v1/bursts is not an endpoint: /v1/bursts takes GET, HEAD, POST"}, "-"},
		{"wrong method on a burst", "PUT", "/v1/bursts/b-0001", tokens.Admin, "", "", 405, []string{"/v1/bursts/b-0001 takes GET, HEAD, DELETE"}, "-"},
		{"read a burst", "GET", "/v1/bursts/b-0001", tokens.Viewer, "", "", 200, []string{`"id": "b-0001"`, `"pool": "training"`}, "-"},
		{"read an unknown burst", "GET", "/v1/bursts/b-9999", tokens.Viewer, "", "", 404, []string{`no burst \"b-9999\": `}, "-"},
		{"no such endpoint", "GET", "/v1/nope", tokens.Admin, "", "", 404, []string{"no API endpoint GET /v1/nope"}, "-"},
		// An item path without its item is no item (404), not the wrong
		// method (405 "takes GET" to a GET).
		{"pool path without a pool", "GET", "/v1/pools/", tokens.Admin, "", "", 404,
			[]string{`"code": "not_found"`, "GET /v1/pools/ names no pool: GET /v1/pools lists them, GET /v1/pools/{pool} shows one"}, "-"},
		{"burst path without a burst", "DELETE", "/v1/bursts/", tokens.Admin, "", "", 404,
			[]string{`"code": "not_found"`, "DELETE /v1/bursts/ names no burst: GET /v1/bursts lists them, GET /v1/bursts/{id} shows one, DELETE /v1/bursts/{id} cancels one"}, "-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.tok
			if tc.role != "" {
				tok = e.tok[tc.role]
			}
			if tok == "two words" {
				tok = "x y"
			}
			before := len(e.be.AuditRows())
			status, body := e.do(tc.method, tc.path, tok, tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d\n%s", status, tc.status, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
			rows := e.be.AuditRows()
			if tc.audit == "-" {
				if len(rows) != before {
					t.Errorf("%d audit rows, want none", len(rows)-before)
				}
				return
			}
			if len(rows) != before+1 {
				t.Fatalf("%d audit rows for a mutating call, want 1", len(rows)-before)
			}
			r := rows[len(rows)-1]
			wantRequest := tc.body
			if tc.status == 401 {
				wantRequest = "" // anyone can send it: not kept
			}
			if r.Principal != tc.audit || r.Status != tc.status || r.Method != tc.method || r.Path != strings.SplitN(tc.path, "?", 2)[0] ||
				!strings.HasPrefix(r.Source, "127.0.0.1:") || r.Outcome == "" || r.Request != wantRequest {
				t.Errorf("audit row %+v", r)
			}
			if strings.Contains(r.Request+r.Outcome, tok) && tok != "" {
				t.Errorf("audit row holds the token")
			}
		})
	}
}

// TestUnauthenticatedAuditIsBounded: calls without a valid token leave
// at most one audit row per source address a minute, without their body;
// the rest are counted into the next row. Authenticated refusals are all
// recorded.
func TestUnauthenticatedAuditIsBounded(t *testing.T) {
	e := newEnv(t, false)
	big := `{"pool":"training","gpus":1,"for":"1m","reason":"` + strings.Repeat("y", 60000) + `"}`
	for i := range 50 {
		tok := ""
		if i%2 == 1 {
			tok = "spw_unknown"
		}
		if status, _ := e.do("POST", "/v1/bursts", tok, big); status != 401 {
			t.Fatalf("call %d: %d, want 401", i, status)
		}
	}
	rows := e.be.AuditRows()
	if len(rows) != 1 || rows[0].Status != 401 || rows[0].Request != "" || !strings.Contains(rows[0].Outcome, "no token") {
		t.Fatalf("audit after 50 unauthenticated calls in a minute: %d rows (the first holds %d bytes of request), want one 401 row without the body", len(rows), len(rows[0].Request))
	}
	e.clock.Advance(time.Minute)
	e.do("DELETE", "/v1/bursts/b-0001", "", "")
	rows = e.be.AuditRows()
	if len(rows) != 2 || !strings.Contains(rows[1].Outcome, "(and 49 more unauthenticated calls from this address since "+apitest.FixtureTime.UTC().Format(time.RFC3339)) {
		t.Fatalf("the next minute's row: %+v, want it to count the 49 calls not recorded", rows[len(rows)-1])
	}
	for range 3 { // a known token: every refusal is recorded, with its body
		e.do("POST", "/v1/bursts?x=1", e.tok[tokens.Viewer], goodBurst)
	}
	if rows = e.be.AuditRows(); len(rows) != 5 || rows[4].Status != 403 || rows[4].Request != goodBurst {
		t.Fatalf("authenticated refusals: %d rows, last %+v; want 3 more, with their bodies", len(rows), rows[len(rows)-1])
	}
}

func TestAnonymousRead(t *testing.T) {
	e := newEnv(t, true)
	if status, body := e.do("GET", "/v1/status", "", ""); status != 200 || !strings.Contains(body, `"cluster": "acme-research"`) {
		t.Errorf("anonymous read: %d %s", status, body)
	}
	if status, _ := e.do("GET", "/v1/audit", "", ""); status != 401 {
		t.Errorf("anonymous audit: %d, want 401", status)
	}
	if status, _ := e.do("GET", "/v1/status", "spw_unknown", ""); status != 401 {
		t.Errorf("unknown token with anonymous read: %d, want 401", status)
	}
	status, body := e.do("POST", "/v1/bursts", "", goodBurst)
	if status != 401 {
		t.Errorf("anonymous create: %d %s", status, body)
	}
}

// TestTokensFileEdit adds and revokes tokens in the file of a running
// server: both take effect without a restart, and the file holds hashes
// only.
func TestTokensFileEdit(t *testing.T) {
	e := newEnv(t, false)
	tok, err := tokens.Add(e.tokens, "bob", tokens.Operator, e.clock.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := api.NewClient(e.url, tok, nil)
	b, err := c.CreateBurst(context.Background(), api.CreateBurstRequest{Pool: "training", GPUs: 4, For: api.Duration(time.Hour), Reason: "new token"})
	if err != nil || b.Owner != "bob" {
		t.Fatalf("new token: %+v %v", b, err)
	}
	for _, tk := range []string{tok, e.tok[tokens.Viewer], e.tok[tokens.Admin]} {
		if strings.Contains(mustRead(t, e.tokens), tk) {
			t.Fatalf("tokens file holds a token")
		}
	}
	f, err := tokens.Read(e.tokens)
	if err != nil {
		t.Fatal(err)
	}
	kept := f.Entries[:0]
	for _, en := range f.Entries {
		if en.Name != "bob" {
			kept = append(kept, en)
		}
	}
	f.Entries = kept
	if err := os.WriteFile(e.tokens+".new", f.Marshal(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(e.tokens+".new", e.tokens); err != nil {
		t.Fatal(err)
	}
	_, err = c.Status(context.Background())
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Status != 401 {
		t.Fatalf("revoked token: %v, want a 401", err)
	}
	if _, err := e.client(tokens.Viewer).Status(context.Background()); err != nil {
		t.Errorf("remaining token after the edit: %v", err)
	}
	// A broken edit refuses every token (503) instead of keeping old ones.
	os.WriteFile(e.tokens, []byte("tokens: {"), 0o600)
	status, body := e.do("GET", "/v1/status", e.tok[tokens.Viewer], "")
	if status != 503 || !strings.Contains(body, "cannot read its tokens file") {
		t.Errorf("broken tokens file: %d %s", status, body)
	}
}

// TestTokenRotatedInPlace rotates a token for another of the same length
// by rewriting the tokens file in place within one tick of the
// filesystem's clock: its identity, size and modification time stay the
// same, and still the old token stops working at once and the new one
// works.
func TestTokenRotatedInPlace(t *testing.T) {
	e := newEnv(t, false)
	old, err := tokens.Add(e.tokens, "bob", tokens.Operator, e.clock.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The filesystem's clock ticks in whole seconds (ext3, NFS, FAT
	// tick as slowly): the rewrite below falls in the same tick.
	tick := time.Now().Truncate(time.Second)
	if err := os.Chtimes(e.tokens, tick, tick); err != nil {
		t.Fatal(err)
	}
	if _, err := mustClient(t, e.url, old).Status(context.Background()); err != nil {
		t.Fatalf("bob's token before the rotation: %v", err)
	}
	before, err := os.Stat(e.tokens)
	if err != nil {
		t.Fatal(err)
	}
	f, err := tokens.Read(e.tokens)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := tokens.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range f.Entries {
		if f.Entries[i].Name == "bob" {
			f.Entries[i].Hash = tokens.Hash(rotated)
		}
	}
	if err := os.WriteFile(e.tokens, f.Marshal(), 0o600); err != nil { // in place: same inode
		t.Fatal(err)
	}
	if err := os.Chtimes(e.tokens, tick, tick); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(e.tokens)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) || before.Size() != after.Size() || !before.ModTime().Equal(after.ModTime()) {
		t.Fatalf("the rewrite changed the file's stat: %v %d %v, then %v %d %v", before.Sys(), before.Size(), before.ModTime(), after.Sys(), after.Size(), after.ModTime())
	}
	_, err = mustClient(t, e.url, old).Status(context.Background())
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		t.Errorf("bob's revoked token after the rotation: %v, want a 401", err)
	}
	if _, err := mustClient(t, e.url, rotated).Status(context.Background()); err != nil {
		t.Errorf("bob's new token after the rotation: %v", err)
	}
}

func mustClient(t *testing.T, url, token string) *api.Client {
	t.Helper()
	c, err := api.NewClient(url, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPaging(t *testing.T) {
	e := newEnv(t, false)
	vt := e.tok[tokens.Viewer]
	var seen []int64
	cursor := ""
	for range 10 {
		status, body := e.do("GET", "/v1/decisions?limit=2"+cursor, vt, "")
		if status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		var p api.Page[api.Decision]
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
		for _, d := range p.Items {
			seen = append(seen, d.ID)
		}
		if p.Next == "" {
			break
		}
		cursor = "&cursor=" + p.Next
	}
	if len(seen) != 5 || seen[0] != 5 || seen[4] != 1 {
		t.Errorf("decisions over pages: %v, want 5 4 3 2 1", seen)
	}
	// Filters: pool and since.
	ds, err := e.client(tokens.Viewer).Decisions(context.Background(), api.DecisionsQuery{Pool: "training", Since: "45m", Limit: 100})
	if err != nil || len(ds) != 3 {
		t.Errorf("training decisions in the last 45m: %d %v, want 3", len(ds), err)
	}
	ins, err := e.client(tokens.Viewer).Instances(context.Background(), "")
	if err != nil || len(ins) != 3 {
		t.Errorf("instances: %d %v", len(ins), err)
	}
	status, body := e.do("GET", "/v1/instances?limit=2", vt, "")
	if status != 200 || !strings.Contains(body, `"next": "i-0a1b2c3d4e5f60002"`) {
		t.Errorf("instances page: %d %s", status, body)
	}
	status, body = e.do("GET", "/v1/instances?limit=2&cursor=i-0a1b2c3d4e5f60002", vt, "")
	if status != 200 || !strings.Contains(body, "i-bp1abcdefghijk0003") || strings.Contains(body, `"next"`) {
		t.Errorf("instances page 2: %d %s", status, body)
	}
	for _, tc := range []struct{ q, want string }{
		{"/v1/decisions?limit=0", `limit=\"0\" is out of range: use 1 to 1000 (default 100)`},
		{"/v1/decisions?limit=abc", `limit=\"abc\" is not a whole number: use 1 to 1000`},
		// limit=$N with N unset listed the default 100 as if asked.
		{"/v1/decisions?limit=", `limit= is empty: use 1 to 1000, or leave the parameter out for 100`},
		{"/v1/instances?limit=&pool=training", `limit= is empty`},
		{"/v1/bursts?limit", `limit= is empty`},
		{"/v1/decisions?limit=99999999999999999999", `limit=\"99999999999999999999\" is out of range`},
		// strconv.Atoi read "+5" as 5 and "05" as 5: each listed 5 as if
		// limit=5 was sent. Only decimal digits are a limit.
		{"/v1/decisions?limit=%2B5", `limit=\"+5\" is not a whole number: use 1 to 1000 (default 100), in decimal digits alone (no sign, space, leading zero or 0x)`},
		{"/v1/bursts?limit=+5", `limit=\" 5\" is not a whole number: use 1 to 1000`},
		{"/v1/instances?limit=05", `limit=\"05\" is not a whole number: use 1 to 1000`},
		{"/v1/decisions?limit=007", `limit=\"007\" is not a whole number`},
		{"/v1/decisions?limit=5%20", `limit=\"5 \" is not a whole number`},
		{"/v1/decisions?limit=0x10", `limit=\"0x10\" is not a whole number`},
		{"/v1/decisions?limit=-5", `limit=\"-5\" is not a whole number: use 1 to 1000`},
		{"/v1/decisions?limit=1e2", `limit=\"1e2\" is not a whole number`},
		{"/v1/decisions?limit=%EF%BC%95", `is not a whole number`}, // fullwidth 5
		{"/v1/decisions?cursor=%2B5", `cursor=\"+5\" is not a cursor: pass the \"next\" value of the previous page`},
		{"/v1/decisions?cursor=05", `cursor=\"05\" is not a cursor`},
		{"/v1/decisions?cursor=0x5", `cursor=\"0x5\" is not a cursor`},
		{"/v1/decisions?cursor=%205", `cursor=\" 5\" is not a cursor`},
		// A parameter the endpoint does not read (a mistyped filter would
		// list everything), one given twice, a query that does not parse.
		{"/v1/instances?pol=training", `unknown parameter \"pol\" for GET /v1/instances: it takes pool, limit, cursor`},
		{"/v1/instances?state=running", `unknown parameter \"state\" for GET /v1/instances`},
		{"/v1/decisions?pool=training&pool=inference", `parameter \"pool\" is given 2 times: give it once`},
		{"/v1/decisions?limit=1&limit=2", `parameter \"limit\" is given 2 times`},
		{"/v1/bursts?al=true", `unknown parameter \"al\" for GET /v1/bursts: it takes pool, all, limit, cursor`},
		{"/v1/status?verbose=1", `unknown parameter \"verbose\" for GET /v1/status: it takes no parameters`},
		{"/v1/pools/training?since=1h", `unknown parameter \"since\" for GET /v1/pools/training`},
		{"/v1/decisions?pool=%zz", `does not parse`},
		{"/v1/decisions?cursor=-3", `cursor=\"-3\" is not a cursor`},
		// Bursts and instances page by ID: a cursor not shaped like one
		// would end the listing early or start it again.
		{"/v1/bursts?all=true&cursor=zzz", `cursor=\"zzz\" is not a cursor: pass the \"next\" value of the previous page`},
		{"/v1/bursts?cursor=../../x", `cursor=\"../../x\" is not a cursor`},
		{"/v1/bursts?cursor=%00", `is not a cursor`},
		{"/v1/instances?cursor=../../x", `cursor=\"../../x\" is not a cursor`},
		{"/v1/instances?cursor=%00", `is not a cursor`},
		{"/v1/instances?cursor=a%20b", `is not a cursor`},
		{"/v1/instances?pool=", `pool= is empty: name a pool (GET /v1/pools lists them), or leave the parameter out`},
		{"/v1/decisions?pool=", `pool= is empty`},
		{"/v1/bursts?pool=", `pool= is empty`},
		// ?all, written as a flag, listed only the active bursts.
		{"/v1/bursts?all=", `all= is empty: use all=true to include ended bursts, or leave the parameter out for the active ones`},
		{"/v1/bursts?all", `all= is empty`},
		{"/v1/bursts?pool=training&all", `all= is empty`},
		{"/v1/decisions?since=yesterday", `since=\"yesterday\" is neither a duration (1h) nor an RFC 3339 time`},
		// Times the store cannot hold are the caller's mistake (400 with
		// the range), not the server's (500).
		{"/v1/decisions?since=1900-01-01T00:00:00Z", `since=\"1900-01-01T00:00:00Z\" is out of range: use an RFC 3339 time from 1970-01-01T00:00:00Z to 2262-04-11T23:47:16Z`},
		{"/v1/decisions?since=1969-12-31T23:59:59Z", `is out of range: use an RFC 3339 time from 1970-01-01T00:00:00Z`},
		{"/v1/decisions?since=2262-04-11T23:47:17Z", `is out of range`},
		{"/v1/decisions?since=9999-12-31T23:59:59Z", `is out of range`},
		{"/v1/bursts?all=maybe", `all=\"maybe\" is not a boolean`},
		// strconv.ParseBool read t, 1, T, TRUE and True as true: only the
		// words the CLI and the docs write are a value of all=.
		{"/v1/bursts?all=t", `all=\"t\" is not a boolean: use all=true to include ended bursts, or all=false (or leave it out) for the active ones`},
		{"/v1/bursts?all=1", `all=\"1\" is not a boolean`},
		{"/v1/bursts?all=TRUE", `all=\"TRUE\" is not a boolean`},
		{"/v1/bursts?all=F", `all=\"F\" is not a boolean`},
		// time.ParseDuration read +1h as 1h.
		{"/v1/decisions?since=%2B1h", `since=\"+1h\" is a duration with a sign: write it without one (1h, back from now: 0s to 8784h)`},
		{"/v1/decisions?since=%2B90m", `since=\"+90m\" is a duration with a sign`},
		{"/v1/instances?pool=a%20b", `pool=\"a b\" is not a pool name`},
	} {
		status, body := e.do("GET", tc.q, vt, "")
		if status != 400 || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want 400 with %s", tc.q, status, body, tc.want)
		}
	}
}

// TestBurstLifecycle creates a burst, sees its floor in the pool, lists it,
// and cancels it: the floor goes and its instances drain.
func TestBurstLifecycle(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	op := e.client(tokens.Operator)
	b, err := op.CreateBurst(ctx, api.CreateBurstRequest{Pool: "training", GPUs: 16, For: api.Duration(3 * time.Hour), Reason: "INC-7"})
	if err != nil {
		t.Fatal(err)
	}
	if !b.Until.Equal(apitest.FixtureTime.Add(3*time.Hour)) || b.ID != "b-0002" {
		t.Errorf("burst %+v", b)
	}
	bs, err := op.Bursts(ctx, "training", false)
	if err != nil || len(bs) != 2 {
		t.Fatalf("bursts: %+v %v", bs, err)
	}
	// alice's fixture burst b-0001 has a booting instance; cancelling it
	// drains the instance and removes the floor.
	if _, err := op.CancelBurst(ctx, "b-0001"); err != nil {
		t.Fatal(err)
	}
	d, err := op.Pool(ctx, "training")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range d.Floors {
		if f.Burst == "b-0001" {
			t.Errorf("cancelled burst's floor still active: %+v", f)
		}
	}
	for _, i := range d.Instances {
		if i.Burst == "b-0001" && i.State != "draining" {
			t.Errorf("instance %s of the cancelled burst is %s, want draining", i.ID, i.State)
		}
	}
	// The burst's time runs out: it is listed as ended, not active.
	e.clock.Advance(3*time.Hour + time.Second)
	if bs, _ := op.Bursts(ctx, "", false); len(bs) != 0 {
		t.Errorf("active bursts after their end: %+v", bs)
	}
	bs, _ = op.Bursts(ctx, "", true)
	if len(bs) != 2 || bs[0].State != "cancelled" || bs[1].State != "ended" {
		t.Errorf("all bursts: %+v", bs)
	}
}

func TestDecodeCreateBurst(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{``, "the body is empty"},
		{`[]`, "the body is not a burst request: the body is a JSON array, not an object"},
		{`{"pool":"training","gpus":8,"for":"2h","reason":"x","extra":1}`, `unknown field "extra"`},
		{`{"pool":"training","gpus":8,"for":"2h","reason":"x"} {}`, "more than one JSON value"},
		{`{"gpus":8,"for":"2h","reason":"x"}`, "pool is missing"},
		{`{"pool":"../etc","gpus":8,"for":"2h","reason":"x"}`, `pool "../etc" is not a pool name`},
		{`{"pool":"training","gpus":0,"for":"2h","reason":"x"}`, "gpus 0 is out of range: ask for 1 to 100000 GPUs"},
		{`{"pool":"training","gpus":1e9,"for":"2h","reason":"x"}`, `field "gpus" must be a whole number`},
		// A whole number past an int: out of range, as 0 is (it was "must
		// be a whole number, not a JSON number 99999999999999999999").
		{`{"pool":"training","gpus":99999999999999999999,"for":"2h","reason":"x"}`, "gpus 99999999999999999999 is out of range: ask for 1 to 100000 GPUs"},
		{`{"pool":"training","gpus":-99999999999999999999,"for":"2h","reason":"x"}`, "gpus -99999999999999999999 is out of range: ask for 1 to 100000 GPUs"},
		{`{"pool":"training","gpus":8,"for":"2 hours","reason":"x"}`, `"2 hours" is not a duration: use a Go duration such as "2h"`},
		{`{"pool":"training","gpus":8,"for":"10s","reason":"x"}`, "for 10s is out of range: a burst lasts from 1m to 720h"},
		{`{"pool":"training","gpus":8,"for":"2h","reason":"  "}`, "reason is missing"},
		{`{"pool":"training","gpus":8,"for":"2h","reason":"a\nb"}`, "reason contains control characters"},
		// Bidirectional formatting characters would let a reason display
		// other than it reads (who asked, and why).
		{"{\"pool\":\"training\",\"gpus\":8,\"for\":\"2h\",\"reason\":\"abc \u202eRTL\"}", "reason contains U+202E (RIGHT-TO-LEFT OVERRIDE), a bidirectional formatting character"},
		{`{"pool":"training","gpus":8,"for":"2h","reason":"x \u2066y\u2069"}`, "reason contains U+2066 (LEFT-TO-RIGHT ISOLATE)"},
		{`{"pool":"training","gpus":8,"for":"2h","reason":"x\u200f"}`, "reason contains U+200F (RIGHT-TO-LEFT MARK)"},
		{`{"pool":"training","gpus":8,"for":"2h","reason":"x","offering":"a\u0007b"}`, `offering "a\ab" is not an offering name`},
		{`{"pool":"training","gpus":8,"for":"2h","reason":"x","offering":"` + strings.Repeat("o", 129) + `"}`, "is not an offering name: name one of the pool's offerings"},
		// encoding/json keeps the last of two keys and matches keys in any
		// case: a proxy or a log reading the first would see another burst.
		{`{"pool":"training","gpus":8,"for":"2h","reason":"x","gpus":800}`, `field "gpus" is given twice: give it once`},
		{`{"pool":"training","gpus":8,"for":"2h","reason":"x","GPUs":800}`, `field "gpus" is spelt "GPUs": write it in lower case`},
		{`{"Pool":"training","gpus":8,"for":"2h","reason":"x"}`, `field "pool" is spelt "Pool"`},
		// encoding/json would store each bad byte as U+FFFD.
		{"{\"pool\":\"training\",\"gpus\":8,\"for\":\"2h\",\"reason\":\"\xff\xfe\"}", "the body is not valid UTF-8"},
		// Counted in characters, as the page's form counts them.
		{`{"pool":"training","gpus":8,"for":"2h","reason":"` + strings.Repeat("é", 501) + `"}`, "reason is 501 characters: keep it to 500"},
		// Half a UTF-16 surrogate pair: encoding/json stored U+FFFD, a
		// reason other than the one sent, and answered 201.
		{`{"pool":"training","gpus":8,"for":"2h","reason":"INC-7 \ud83d"}`, `field "reason" holds \ud83d, half of a UTF-16 surrogate pair without its other half`},
		{`{"pool":"training","gpus":8,"for":"2h","reason":"INC-7 \udE00 x"}`, `field "reason" holds \udE00, half of a UTF-16 surrogate pair`},
		{`{"pool":"training","gpus":8,"for":"2h","reason":"x","offering":"\ud83d\ud83d\ude80"}`, `field "offering" holds \ud83d, half of a UTF-16 surrogate pair`},
	} {
		_, err := api.DecodeCreateBurst([]byte(tc.body))
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(ae.Message, tc.want) {
			t.Errorf("%s: %v, want a 400 with %q", tc.body, err, tc.want)
		}
	}
	r, err := api.DecodeCreateBurst([]byte(`{"pool":"training","gpus":8,"for":"1h30m","reason":"x","offering":"aws-p5-spot"}`))
	if err != nil || r.GPUs != 8 || time.Duration(r.For) != 90*time.Minute || r.Offering != "aws-p5-spot" {
		t.Errorf("good body: %+v %v", r, err)
	}
	// 500 characters the page's form lets through are 1,000 bytes here.
	if r, err := api.DecodeCreateBurst([]byte(`{"pool":"training","gpus":8,"for":"1h","reason":"` + strings.Repeat("é", 500) + `"}`)); err != nil || len(r.Reason) != 1000 {
		t.Errorf("500 two-byte characters: %v", err)
	}
	// A whole pair, an escaped backslash before a u, and U+FFFD as sent
	// are what they say.
	if r, err := api.DecodeCreateBurst([]byte(`{"pool":"training","gpus":8,"for":"1h","reason":"\ud83d\ude80 C:\\ud83d \ufffd"}`)); err != nil || r.Reason != "🚀 C:\\ud83d \ufffd" {
		t.Errorf("a surrogate pair, an escaped backslash, U+FFFD: %q %v", r.Reason, err)
	}
	// An offering without a name of its own is named for its place.
	if r, err := api.DecodeCreateBurst([]byte(`{"pool":"training","gpus":8,"for":"1h","reason":"x","offering":"aws/us-east-1/us-east-1a/p5.48xlarge/spot"}`)); err != nil || r.Offering != "aws/us-east-1/us-east-1a/p5.48xlarge/spot" {
		t.Errorf("an unnamed offering: %+v %v", r, err)
	}
}

// FuzzDecodeCreateBurst: no input panics the decoder, and what it accepts
// is within every bound.
func FuzzDecodeCreateBurst(f *testing.F) {
	f.Add([]byte(goodBurst))
	f.Add([]byte(`{"pool":"training","gpus":8,"for":"1h30m","reason":"x","offering":"aws-p5-spot"}`))
	f.Add([]byte(`{"pool":"t","gpus":-1,"for":"-5m","reason":""}`))
	f.Add([]byte(`{"for":"9999999999h"}`))
	f.Add([]byte(`{"pool":"training","gpus":8,"for":"2h","reason":"a\u202eb"}`))
	f.Add([]byte(`{"pool":"training","gpus":8,"for":"2h","reason":"x"}{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := api.DecodeCreateBurst(body)
		if err != nil {
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Status/100 != 4 || ae.Message == "" {
				t.Fatalf("error %v is not a 4xx api.Error", err)
			}
			return
		}
		if r.Pool == "" || !utf8.ValidString(r.Reason) || r.GPUs < 1 || r.GPUs > 100000 || r.For < api.Duration(time.Minute) || r.For > api.Duration(720*time.Hour) ||
			strings.TrimSpace(r.Reason) == "" || utf8.RuneCountInString(r.Reason) > 500 || len(r.Offering) > 128 ||
			strings.ContainsAny(r.Reason, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069") {
			t.Fatalf("accepted out-of-bounds request %+v", r)
		}
	})
}

func TestClientErrors(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	c, _ := api.NewClient(e.url, "", nil)
	_, err := c.Status(ctx)
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || ae.Code != api.CodeUnauthenticated {
		t.Errorf("no token: %v", err)
	}
	_, err = e.client(tokens.Operator).CreateBurst(ctx, api.CreateBurstRequest{Pool: "training", GPUs: 33, For: api.Duration(time.Hour), Reason: "x"})
	if !errors.As(err, &ae) || ae.Status != 403 || ae.Limit != "max_gpus" || ae.Value != "32" {
		t.Errorf("over the limit: %#v", err)
	}
	dead, _ := api.NewClient("http://127.0.0.1:1", "x", nil)
	_, err = dead.Status(ctx)
	var ue *api.UnreachableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "cannot reach the Spillway server at http://127.0.0.1:1") {
		t.Errorf("unreachable: %v", err)
	}
	if _, err := api.NewClient("127.0.0.1:8700", "", nil); err == nil || !strings.Contains(err.Error(), "is not a URL such as http://127.0.0.1:8700") {
		t.Errorf("bad server URL: %v", err)
	}
	// An ID or pool name as typed (a space pasted with it, a slash)
	// reaches the server as one path segment, and the answer quotes it
	// as it was typed, not escaped twice ("b-1%20").
	for _, tc := range []struct{ id, want string }{
		{"b-0001 ", `no burst "b-0001 "`},
		{"a/b", `no burst "a/b"`},
		{"b-0001?force=1", `no burst "b-0001?force=1"`},
	} {
		_, err := e.client(tokens.Operator).CancelBurst(ctx, tc.id)
		if !errors.As(err, &ae) || ae.Status != 404 || !strings.HasPrefix(ae.Message, tc.want) {
			t.Errorf("cancel %q: %v, want a 404 saying %s", tc.id, err, tc.want)
		}
	}
	if _, err := e.client(tokens.Viewer).Pool(ctx, "no pool"); !errors.As(err, &ae) || ae.Status != 404 || !strings.HasPrefix(ae.Message, `no pool "no pool"`) {
		t.Errorf("pool %q: %v, want a 404 naming it as typed", "no pool", err)
	}
	// A server URL with a path prefix (behind a proxy) keeps it.
	prefixed := httptest.NewServer(http.StripPrefix("/spillway", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, e.url+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	})))
	defer prefixed.Close()
	pc, _ := api.NewClient(prefixed.URL+"/spillway/", e.tok[tokens.Viewer], nil)
	if _, err := pc.Pool(ctx, "training"); err != nil {
		t.Errorf("server URL with a path: %v", err)
	}
}

// TestParseSinceRange: the ends of the range its message names are
// accepted (the epoch as "every decision", the zero time the store reads
// as no filter); a second outside either end is refused.
func TestParseSinceRange(t *testing.T) {
	now := apitest.FixtureTime
	for _, tc := range []struct {
		v    string
		want time.Time
		err  string
	}{
		{"1970-01-01T00:00:00Z", time.Time{}, ""},
		{"1970-01-01T01:00:00+01:00", time.Time{}, ""},
		{"1970-01-01T00:00:01Z", time.Unix(1, 0), ""},
		{"2262-04-11T23:47:16Z", time.Date(2262, 4, 11, 23, 47, 16, 0, time.UTC), ""},
		{"1h", now.Add(-time.Hour), ""},
		{"1969-12-31T23:59:59Z", time.Time{}, "is out of range: use an RFC 3339 time from 1970-01-01T00:00:00Z to 2262-04-11T23:47:16Z, or a duration from 0s to 8784h"},
		{"2262-04-11T23:47:17Z", time.Time{}, "is out of range"},
		{"0001-01-01T00:00:00Z", time.Time{}, "is out of range"},
		// A duration too long for Go's (past 2562047h) is still a
		// duration: out of range, not "neither a duration nor ...".
		{"100000000h", time.Time{}, "is out of range: use a duration from 0s to 8784h (366 days)"},
		{"2562048h", time.Time{}, "is out of range: use a duration from 0s to 8784h"},
		{"8785h", time.Time{}, "is out of range: use a duration from 0s to 8784h"},
		{"-1.5h30m", time.Time{}, "is out of range: use a duration from 0s to 8784h"},
		// A date alone is its midnight in UTC.
		{"2026-11-30", time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), ""},
		{"1970-01-01", time.Time{}, ""},
		{"2026-02-30", time.Time{}, "is neither a duration (1h) nor an RFC 3339 time (2026-11-29T07:00:00Z) nor a date (2026-11-29, from midnight UTC)"},
		{"1h5", time.Time{}, "is neither a duration"},
		// A time without its zone would be read in someone's zone.
		{"2026-11-30T10:00:00", time.Time{}, "has no time zone: write it in RFC 3339 with Z for UTC (2026-11-30T10:00:00Z) or an offset (2026-11-30T10:00:00+01:00)"},
		{"2026-11-30 10:00", time.Time{}, "has no time zone: write it in RFC 3339 with Z for UTC (2026-11-30T10:00:00Z)"},
	} {
		got, err := api.ParseSince(tc.v, now)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseSince(%s) = %v, %v; want an error with %q", tc.v, got, err, tc.err)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("ParseSince(%s) = %v, %v; want %v", tc.v, got, err, tc.want)
		}
	}
}

// TestBodyReadErrors: a body that cannot be read is told apart from one
// too large, in the answer and in the audit row: cut short before its
// Content-Length (400), sent too slowly for the server's read timeout
// (408), over the limit (413). Only the slow body's server has a short
// read timeout (200 ms): the request's time runs from the server's first
// read, so on a loaded machine a body sent whole at once but read later
// than that was answered 408 instead of 400 or 413.
func TestBodyReadErrors(t *testing.T) {
	clock := &fakeClock{t: apitest.FixtureTime}
	be := apitest.Fixture(clock.Now)
	file := filepath.Join(t.TempDir(), "tokens.yaml")
	tok, err := tokens.Add(file, "alice", tokens.Operator, clock.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.NewServer(api.Options{Backend: be, TokensFile: file, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		contentLength int
		body          string
		closeWrite    bool // the client sends no more
		readTimeout   time.Duration
		status        int
		want          string
	}{
		{"cut short", 100, `{"pool":`, true, time.Minute, 400, "the request body could not be read (unexpected EOF): it ended before its Content-Length"},
		{"too slow", 100, `{"pool":`, false, 200 * time.Millisecond, 408, "the request body came too slowly for the server's read timeout"},
		{"too large", 70000, strings.Repeat("x", 70000), false, time.Minute, 413, "the request body is over the limit of 65536 bytes"},
	} {
		ts := httptest.NewUnstartedServer(srv)
		ts.Config.ReadTimeout = tc.readTimeout
		ts.Start()
		t.Cleanup(ts.Close)
		c, err := net.Dial("tcp", ts.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		fmt.Fprintf(c, "POST /v1/bursts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s", tok, tc.contentLength, tc.body)
		if tc.closeWrite {
			_ = c.(*net.TCPConn).CloseWrite()
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			c.Close()
			t.Fatalf("%s: %v", tc.name, err)
		}
		var eb struct{ Error api.Error }
		_ = json.NewDecoder(resp.Body).Decode(&eb)
		resp.Body.Close()
		c.Close()
		if resp.StatusCode != tc.status || !strings.HasPrefix(eb.Error.Message, tc.want) {
			t.Errorf("%s: %d %q, want %d with %q", tc.name, resp.StatusCode, eb.Error.Message, tc.status, tc.want)
		}
		rows := be.AuditRows()
		if last := rows[len(rows)-1]; last.Status != tc.status || last.Principal != "alice" || !strings.HasPrefix(last.Outcome, tc.want) {
			t.Errorf("%s: audit row %+v, want status %d with %q", tc.name, last, tc.status, tc.want)
		}
	}
}
