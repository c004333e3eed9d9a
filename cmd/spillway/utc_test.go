package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/api/tokens"
)

// zonedClock is the wall clock read in a zone other than UTC, as
// time.Now reads it on a server whose TZ is set.
type zonedClock struct {
	clock.RealClock
	loc *time.Location
}

func (c zonedClock) Now() time.Time { return time.Now().In(c.loc) }

// TestAPITimesAreUTC: on a server whose clock reads another zone (TZ=
// Europe/Berlin), the times the API takes from the clock (the status's,
// a new burst's created_at and until, the held offerings' until, the
// plan's) came out with the zone's offset while those read back from the
// store ended in Z, so `burst create -o json` and `burst list -o json`
// showed one until in two forms. Every time the API returns is UTC.
func TestAPITimesAreUTC(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	s := startAPIServerOn(t, func() string { return `{"job_gpus": [], "oldest_wait_seconds": 0}` },
		func() string { return idleP4dAgent }, "", zonedClock{loc: berlin})
	s.emu.SetStock("p4d.24xlarge", "us-east-1a", 0)
	tok := s.token(t, "alice", tokens.Operator)
	ctx := context.Background()
	op := s.client(t, tok)

	t.Setenv("SPILLWAY_SERVER", s.url)
	t.Setenv("SPILLWAY_TOKEN", tok)
	out, _, err := runCLI(t, "burst", "create", "--pool", "train", "--gpus", "8", "--for", "1h", "--reason", "TZ drill", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var created api.Burst
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the pool holds the offering out of stock and has a plan", func() bool {
		d, err := op.Pool(ctx, "train")
		return err == nil && len(d.Snapshot.Held) > 0 && d.LastPlan != nil
	})

	// Each JSON time the API answers, endpoint by endpoint.
	get := func(method, path, body string) []byte {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, s.url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %s, %v", method, path, resp.StatusCode, b, err)
		}
		return b
	}
	for _, tc := range []struct {
		method, path, body string
		atLeast            int // times the answer holds
	}{
		{"GET", "/v1/status", "", 2},               // time, a held until
		{"GET", "/v1/pools/train", "", 6},          // snapshot, held, spend period, floor, plan
		{"GET", "/v1/bursts?all=true", "", 2},      // created_at, until
		{"GET", "/v1/bursts/" + created.ID, "", 2}, // created_at, until
		{"GET", "/v1/decisions", "", 0},            // as many as there are
		{"GET", "/v1/instances", "", 0},            //
		{"POST", "/v1/bursts", `{"pool":"train","gpus":8,"for":"30m","reason":"TZ drill 2"}`, 2},
	} {
		var doc any
		b := get(tc.method, tc.path, tc.body)
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		var times []string
		jsonTimes(doc, &times)
		if len(times) < tc.atLeast {
			t.Errorf("%s %s holds %d times %q, want at least %d: %s", tc.method, tc.path, len(times), times, tc.atLeast, b)
		}
		for _, v := range times {
			if !strings.HasSuffix(v, "Z") {
				t.Errorf("%s %s: time %q is not in UTC: %s", tc.method, tc.path, v, b)
			}
		}
	}

	// The CLI shows the burst's until in one form, created or listed.
	out, _, err = runCLI(t, "burst", "list", "--all", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	until, _ := json.Marshal(created.Until)
	if !bytes.Contains([]byte(out), until) || !strings.HasSuffix(strings.Trim(string(until), `"`), "Z") {
		t.Errorf("burst create -o json gave until %s, burst list -o json:\n%s", until, out)
	}
}

// jsonTimes appends every string in doc that reads as an RFC 3339 time.
func jsonTimes(doc any, out *[]string) {
	switch v := doc.(type) {
	case string:
		if _, err := time.Parse(time.RFC3339, v); err == nil {
			*out = append(*out, v)
		}
	case []any:
		for _, e := range v {
			jsonTimes(e, out)
		}
	case map[string]any:
		for _, e := range v {
			jsonTimes(e, out)
		}
	}
}
