package api_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/api/apitest"
)

// counted matches what an audit row says of the 401s it stands for beside
// its own: a source's calls since its last row, or a summary's.
var counted = regexp.MustCompile(`\(and (\d+) more unauthenticated calls? from|^(\d+) unauthenticated calls? from`)

// TestUnauthenticatedAuditOverManyAddresses: a client without a token that
// holds many addresses (a /64 of IPv6, a /48 of /64s, a botnet of IPv4
// addresses) adds at most one 401 row per source a minute, and 60 in all
// beside one summary row,
// and the audit log still counts each of its calls and names where they
// came from: 10,000 such calls a minute used to leave 10,000 rows.
func TestUnauthenticatedAuditOverManyAddresses(t *testing.T) {
	for _, tc := range []struct {
		name string
		addr func(i int) string // the source of the i-th call
		// rows is how many rows a minute of 10,000 calls leaves,
		// summary what the next minute's summary row names.
		rows    int
		summary []string
	}{
		{"one IPv6 /64, a new address each call", func(i int) string { return fmt.Sprintf("[2001:db8:1:2::%x]:4000", i+1) }, 1, nil},
		{"a /48, a new /64 each call", func(i int) string { return fmt.Sprintf("[2001:db8:1:%x::1]:4000", i) }, 60,
			[]string{"9940 unauthenticated calls from more than 4096 sources (IPv4 addresses, IPv6 /64s) from 2026-11-29T09:00:01Z to 2026-11-29T09:00:10Z",
				"and more than 4091 others (9935)", "of those over the limit: creating a burst (9940)"}},
		{"100 IPv6 /64s", func(i int) string { return fmt.Sprintf("[2001:db8:1:%x::%x]:4000", i%100, i) }, 60,
			[]string{"4000 unauthenticated calls from 40 sources", "most from 2001:db8:1:3c::/64 (100), 2001:db8:1:3d::/64 (100), ", "and 35 others (3500)"}},
		{"100 IPv4 addresses", func(i int) string { return fmt.Sprintf("10.0.0.%d:%d", i%100, 1024+i) }, 60,
			[]string{"4000 unauthenticated calls from 40 sources", "most from 10.0.0.60 (100), 10.0.0.61 (100), "}},
		{"100 IPv4 addresses as IPv6", func(i int) string { return fmt.Sprintf("[::ffff:10.0.0.%d]:%d", i%100, 1024+i) }, 60,
			[]string{"4000 unauthenticated calls from 40 sources", "most from 10.0.0.60 (100), 10.0.0.61 (100), "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{t: apitest.FixtureTime}
			be := apitest.Fixture(clock.Now)
			srv, err := api.NewServer(api.Options{Backend: be, Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			call := func(addr string) {
				r := httptest.NewRequest("POST", "/v1/bursts", strings.NewReader(`{"pool":"training","gpus":1,"for":"1h","reason":"x"}`))
				r.RemoteAddr = addr
				w := httptest.NewRecorder()
				srv.ServeHTTP(w, r)
				if w.Code != http.StatusUnauthorized {
					t.Fatalf("POST /v1/bursts from %s without a token: %d, want 401", addr, w.Code)
				}
			}
			const calls = 10000
			for i := range calls {
				if i%1000 == 0 {
					clock.Advance(time.Second) // the minute's calls over 10 seconds
				}
				call(tc.addr(i))
			}
			if rows := be.AuditRows(); len(rows) != tc.rows {
				t.Fatalf("%d calls in a minute left %d audit rows, want %d", calls, len(rows), tc.rows)
			}
			// A minute later, one more call from each source recorded:
			// their rows count what was not, with the summary.
			clock.Advance(time.Minute)
			for i := range tc.rows {
				call(tc.addr(i))
			}
			rows := be.AuditRows()
			if len(rows) > 2*tc.rows+1 {
				t.Fatalf("the next minute's %d calls left %d rows, want at most %d", tc.rows, len(rows)-tc.rows, tc.rows+1)
			}
			total := 0
			var summary string
			for _, r := range rows {
				total++
				if m := counted.FindStringSubmatch(r.Outcome); m != nil {
					n, _ := strconv.Atoi(m[1] + m[2])
					total += n
					if m[2] != "" {
						total-- // a summary row is no call of its own
						summary = r.Outcome
					}
				}
			}
			if total != calls+tc.rows {
				t.Errorf("the audit log accounts for %d unauthenticated calls, want %d", total, calls+tc.rows)
			}
			for _, want := range tc.summary {
				if !strings.Contains(summary, want) {
					t.Errorf("summary row %q\nwant it to say %q", summary, want)
				}
			}
			if len(tc.summary) == 0 && summary != "" {
				t.Errorf("a summary row %q, want none", summary)
			}
		})
	}
}

// bodyRead signals once its request's handler first reads the body.
type bodyRead struct {
	io.ReadCloser
	once sync.Once
	read chan<- struct{}
}

func (b *bodyRead) Read(p []byte) (int, error) {
	b.once.Do(func() { b.read <- struct{}{} })
	return b.ReadCloser.Read(p)
}

// waitRead waits for a bodyRead's signal, failing with what if none comes
// in 20 s.
func waitRead(t *testing.T, read <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-read:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s in 20 s", what)
	}
}

// TestFlushAuditCountsRequestsStillServed: a stopping server flushes the
// 401s it only counted once its HTTP server has shut down; a request still
// being served then (a login whose form comes slowly outlives the 5 s
// grace: http.Server.Close cuts its connection without waiting for its
// handler) was refused after the flush, and its count lost. FlushAudit
// now waits for such requests, and the summary row counts it.
func TestFlushAuditCountsRequestsStillServed(t *testing.T) {
	clock := &fakeClock{t: apitest.FixtureTime}
	be := apitest.Fixture(clock.Now)
	srv, err := api.NewServer(api.Options{Backend: be, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	read := make(chan struct{}, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = &bodyRead{ReadCloser: r.Body, read: read}
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	// The source's first 401 has a row of its own; its next is counted.
	resp, err := http.PostForm(ts.URL+"/login", url.Values{"token": {"spw_wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a login with an unknown token: %d, want 401", resp.StatusCode)
	}
	waitRead(t, read, "the refused login's handler did not read its form")
	rows := len(be.AuditRows())

	c, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /login HTTP/1.1\r\nHost: spillway\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ntoken=spw_")
	waitRead(t, read, "the slow login's handler did not read its form")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	flushed := make(chan struct{})
	go func() {
		srv.FlushAudit(ctx)
		close(flushed)
	}()
	select {
	case <-flushed:
		t.Fatal("FlushAudit returned while a login was being served, want it to wait for the login")
	case <-time.After(300 * time.Millisecond): // a FlushAudit that waits cannot fail this
	}
	c.Close() // as http.Server.Close does
	select {
	case <-flushed:
	case <-ctx.Done():
		t.Fatal("FlushAudit did not return in 20 s once the login was refused")
	}
	got := be.AuditRows()
	if len(got) != rows+1 || !strings.HasPrefix(got[len(got)-1].Outcome, "1 unauthenticated call from 1 source (") ||
		!strings.HasSuffix(got[len(got)-1].Outcome, "written as the server stopped") {
		t.Fatalf("audit rows after the flush: %d, the last %+v\nwant %d, the last a summary counting the login refused", len(got), got[len(got)-1], rows+1)
	}
}
