package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestAnonymousReadRefusesARebindingHost: a server on loopback with
// anonymous_read answered any Host, so a page on another site whose name
// it had made resolve to 127.0.0.1 (DNS rebinding) read the status, pools
// and instances from the browser of whoever had the server open; only a
// Host naming the machine gets the anonymous read now.
func TestAnonymousReadRefusesARebindingHost(t *testing.T) {
	e := newEnv(t, true)
	port := e.url[strings.LastIndex(e.url, ":")+1:]
	for _, tc := range []struct {
		host, path string
		want       int
		body       string
	}{
		{"127.0.0.1:" + port, "/v1/status", 200, `"cluster":"acme-research"`},
		{"localhost:" + port, "/v1/status", 200, `"cluster":"acme-research"`},
		{"LOCALHOST.", "/v1/pools", 200, `"training"`},
		{"spillway.localhost:" + port, "/v1/status", 200, `"cluster":"acme-research"`},
		{"[::1]:" + port, "/v1/status", 200, `"cluster":"acme-research"`},
		{"127.8.9.10", "/v1/status", 200, `"cluster":"acme-research"`},
		{"attacker.example:" + port, "/v1/status", 401, `not \"attacker.example:` + port + `\"`},
		{"attacker.example", "/v1/instances", 401, "open the server as http://localhost:PORT or send a token"},
		{"10.0.0.5:" + port, "/v1/pools", 401, "anonymous reads on a loopback address"},
		{"localhost.attacker.example", "/v1/status", 401, "anonymous reads"},
		{"attacker.example", "/", 200, `name="token"`}, // the login form, not the status
		{"localhost:" + port, "/", 200, "acme-research"},
	} {
		req, err := http.NewRequest("GET", e.url+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = tc.host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || !strings.Contains(string(b), tc.body) {
			t.Errorf("Host %s, GET %s: %d %.300s; want %d with %q", tc.host, tc.path, resp.StatusCode, b, tc.want, tc.body)
		}
		if tc.want == 401 && strings.Contains(string(b), "acme-research") || tc.path == "/" && tc.want == 200 && strings.HasPrefix(tc.host, "attacker") && strings.Contains(string(b), "acme-research") {
			t.Errorf("Host %s, GET %s: the answer shows the cluster's data: %.300s", tc.host, tc.path, b)
		}
	}
	// A token still reads whatever the Host.
	req, _ := http.NewRequest("GET", e.url+"/v1/status", nil)
	req.Host = "attacker.example"
	req.Header.Set("Authorization", "Bearer "+e.tok["viewer"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("a viewer token with Host attacker.example: %d, want 200", resp.StatusCode)
	}
}
