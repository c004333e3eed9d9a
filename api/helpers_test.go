package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/api/apitest"
	"github.com/spillway-io/spillway/api/tokens"
)

func TestMain(m *testing.M) {
	code := m.Run()
	// The package's browser (chromium) ends before goleak looks for
	// goroutines left behind, as goleak.VerifyTestMain does.
	sharedChromium.close()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a server on loopback over the fixture backend, with a tokens file
// holding one token per role.
type env struct {
	t      *testing.T
	be     *apitest.Memory
	clock  *fakeClock
	url    string
	tokens string // the tokens file
	tok    map[tokens.Role]string
	// handler is the API and page, served at url; a test may serve it
	// elsewhere too.
	handler http.Handler
}

func newEnv(t *testing.T, anon bool) *env {
	t.Helper()
	return newEnvWith(t, api.Options{AnonymousRead: anon})
}

// newEnvRefresh is newEnv whose status page reloads itself every period.
func newEnvRefresh(t *testing.T, every time.Duration) *env {
	t.Helper()
	return newEnvWith(t, api.Options{PageRefresh: every})
}

// newEnvWith is newEnv with o's settings (its tokens and clock are the
// env's; its backend too, unless o names an *apitest.Memory, whose clock
// should then be apitest.FixtureTime's).
func newEnvWith(t *testing.T, o api.Options) *env {
	t.Helper()
	clock := &fakeClock{t: apitest.FixtureTime}
	e := &env{t: t, clock: clock, be: apitest.Fixture(clock.Now), tok: map[tokens.Role]string{}}
	if m, ok := o.Backend.(*apitest.Memory); ok {
		e.be = m
	}
	e.tokens = filepath.Join(t.TempDir(), "tokens.yaml")
	for name, role := range map[string]tokens.Role{"vera": tokens.Viewer, "alice": tokens.Operator, "root": tokens.Admin} {
		tok, err := tokens.Add(e.tokens, name, role, clock.Now(), nil)
		if err != nil {
			t.Fatal(err)
		}
		e.tok[role] = tok
	}
	o.Backend, o.TokensFile, o.Clock = e.be, e.tokens, clock
	srv, err := api.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	e.url, e.handler = ts.URL, srv
	return e
}

// do sends a request with an optional bearer token and returns the status
// and body.
func (e *env) do(method, path, token, body string) (int, string) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	// The server writes compact JSON; indent it so that tests read
	// `"key": value`.
	var ind bytes.Buffer
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && json.Indent(&ind, b, "", "  ") == nil {
		return resp.StatusCode, ind.String()
	}
	return resp.StatusCode, string(b)
}

func (e *env) client(role tokens.Role) *api.Client {
	e.t.Helper()
	c, err := api.NewClient(e.url, e.tok[role], nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
