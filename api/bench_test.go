package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/api/apitest"
	"github.com/spillway-io/spillway/api/tokens"
)

// benchServer serves the Large fixture (5,000 instances, 100,000 decisions)
// on loopback and returns its URL and a viewer token.
func benchServer(b *testing.B) (string, string) {
	b.Helper()
	clock := &fakeClock{t: apitest.FixtureTime}
	file := filepath.Join(b.TempDir(), "tokens.yaml")
	tok, err := tokens.Add(file, "bench", tokens.Viewer, clock.Now(), nil)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := api.NewServer(api.Options{Backend: apitest.Large(clock.Now, 5000, 100000), TokensFile: file, Clock: clock})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	b.Cleanup(ts.Close)
	return ts.URL, tok
}

func benchGet(b *testing.B, url, tok string, cookie *http.Cookie) {
	b.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	var n int64
	for b.Loop() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.ReportMetric(float64(n), "resp-bytes")
}

// BenchmarkGetPool is GET /v1/pools/{pool} over HTTP on loopback with 5,000
// instances and 100,000 decisions stored: authentication (a stat of the
// tokens file and a constant-time compare), the backend, JSON encoding.
func BenchmarkGetPool(b *testing.B) {
	url, tok := benchServer(b)
	benchGet(b, url+"/v1/pools/big", tok, nil)
}

// BenchmarkGetDecisionsPage is one page (100) of GET /v1/decisions from the
// same store.
func BenchmarkGetDecisionsPage(b *testing.B) {
	url, tok := benchServer(b)
	benchGet(b, url+"/v1/decisions?pool=big&limit=100", tok, nil)
}

// BenchmarkPageRender is GET / (the status page) with a session cookie,
// over the same store: the page shows 50 of the 5,000 instances, grouped
// counts of all, 10 decisions and a 6-hour SVG timeline.
func BenchmarkPageRender(b *testing.B) {
	url, tok := benchServer(b)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(url+"/login", map[string][]string{"token": {tok}})
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		cookie = ck
	}
	if cookie == nil {
		b.Fatalf("login: %d, no cookie", resp.StatusCode)
	}
	benchGet(b, url+"/", "", cookie)
}
