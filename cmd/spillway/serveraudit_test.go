package main

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/spillway-io/spillway/api/tokens"
)

// TestUnauthenticatedCallsCountedAtStop: the 401s of one source within a
// minute leave one audit row and are counted into that source's next one,
// held in memory until then. A server stopped in between wrote the counts
// nowhere: the audit log said one call where there were six. Now the
// counts go into a summary row as the server stops.
func TestUnauthenticatedCallsCountedAtStop(t *testing.T) {
	s := startAPIServer(t)
	const calls = 6
	for range calls {
		resp, err := http.Post(s.url+"/v1/bursts", "application/json", strings.NewReader(`{"pool":"train","gpus":1,"for":"1h","reason":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a burst without a token: %d, want 401", resp.StatusCode)
		}
	}
	admin := s.token(t, "root", tokens.Admin)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	again := startServer(t, loadConfig(t, s.config))
	s.url = "http://" + again.addr
	rows, err := s.client(t, admin).Audit(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	counted := regexp.MustCompile(`\(and (\d+) more unauthenticated calls? from|^(\d+) unauthenticated calls? from`)
	total := 0
	var outcomes []string
	for _, r := range rows {
		if r.Status != http.StatusUnauthorized {
			continue
		}
		outcomes = append(outcomes, r.Outcome)
		total++
		if m := counted.FindStringSubmatch(r.Outcome); m != nil {
			n, _ := strconv.Atoi(m[1] + m[2])
			total += n
			if m[2] != "" {
				total-- // a summary row is no call of its own
			}
		}
	}
	if total != calls {
		t.Errorf("after a restart the audit log accounts for %d unauthenticated calls, want %d: %q", total, calls, outcomes)
	}
}
