package httpclient

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRedirects: a redirect within the host is followed, up to
// MaxRedirects; one to another port or host is refused, naming both URLs,
// and the other host is never asked.
func TestRedirects(t *testing.T) {
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		io.WriteString(w, "other")
	}))
	defer other.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "here") })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/q", http.StatusFound)
	})
	mux.HandleFunc("/away-later", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/away", http.StatusFound) })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := Confine(&http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()})
	defer c.CloseIdleConnections()

	tests := []struct {
		path string
		body string // the answer read; "" for a refused redirect
		want string // in the error
	}{
		{"/ok", "here", ""},
		{"/moved", "here", ""},
		{"/away", "", "redirected from " + srv.URL + "/away to " + other.URL + "/q, another scheme, host or port: refused"},
		{"/away-later", "", "redirected from " + srv.URL + "/away-later to " + other.URL + "/q"},
		{"/loop", "", "stopped after 10 redirects"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := c.Get(srv.URL + tt.path)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != tt.body {
					t.Errorf("read %q, want %q", b, tt.body)
				}
				return
			}
			if err == nil {
				resp.Body.Close()
			}
			var re *RedirectError
			if !errors.As(err, &re) || !IsRedirect(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want a *RedirectError containing %q", err, tt.want)
			}
		})
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the other host was asked %d times, want never", n)
	}
}

func TestSameOrigin(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"http://queue.example/a", "http://queue.example/b?x=1", true},
		{"http://queue.example/a", "http://QUEUE.example:80/b", true},
		{"https://queue.example/a", "https://queue.example:443/b", true},
		{"http://queue.example/a", "https://queue.example/a", false},
		{"http://queue.example:8080/a", "http://queue.example:8081/a", false},
		{"http://queue.example/a", "http://queue.example.evil/a", false},
		{"http://[::1]:9/a", "http://[::1]:9/b", true},
		{"http://user:pw@queue.example/a", "http://queue.example/b", true},
	}
	for _, tt := range tests {
		a, _ := url.Parse(tt.a)
		b, _ := url.Parse(tt.b)
		if got := sameOrigin(a, b); got != tt.same {
			t.Errorf("sameOrigin(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.same)
		}
	}
}

// TestRedirectErrorIsShort: a hostile Location is cut short, and a
// password in a URL is not shown.
func TestRedirectErrorIsShort(t *testing.T) {
	from, _ := url.Parse("http://user:secret@queue.example/q")
	to, _ := url.Parse("http://elsewhere.example/" + strings.Repeat("x", 100000))
	err := CheckRedirect(&http.Request{URL: to}, []*http.Request{{URL: from}})
	if err == nil || len(err.Error()) > 1000 || strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "xxx…") {
		t.Errorf("error %.2000v: want one under 1000 bytes, cut short, without the password", err)
	}
}

func TestReadBody(t *testing.T) {
	const max = 1000
	for _, tt := range []struct {
		name   string
		size   int
		tooBig bool
	}{
		{"empty", 0, false},
		{"exactly the limit", max, false},
		{"a byte over", max + 1, true},
		{"far over", 100 * max, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ReadBody(strings.NewReader(strings.Repeat("x", tt.size)), -1, max)
			var tl *TooLargeError
			switch {
			case tt.tooBig && (!errors.As(err, &tl) || err.Error() != "body is larger than 1000 bytes" || len(b) != max):
				t.Errorf("read %d bytes, error %v; want the first %d and the limit named", len(b), err, max)
			case !tt.tooBig && (err != nil || len(b) != tt.size):
				t.Errorf("read %d bytes, error %v; want all %d", len(b), err, tt.size)
			}
		})
	}
}

// endless is a reader of 'x' without end that allocates nothing, counting
// what it gave.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	e.n += int64(len(p))
	return len(p), nil
}

// allocated is the bytes f allocates (runtime.MemStats.TotalAlloc).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestReadBodyAllocatesNearWhatItReads: io.ReadAll's pieces and the slice
// it joins them into took twice the limit for an answer past it (268 MB at
// the http source's 128 MiB), and twice an answer of a known size.
func TestReadBodyAllocatesNearWhatItReads(t *testing.T) {
	const max = 32 << 20
	for _, tt := range []struct {
		name     string
		size     int64 // announced; -1 when unknown
		body     io.Reader
		want     int64 // bytes returned
		tooLarge bool
		most     uint64 // bytes allocated
	}{
		{"past the limit, of unknown size", -1, &endless{}, Quoted, true, max + max/8},
		{"of a known size, the limit", max, io.LimitReader(&endless{}, max), max, false, max + max/8},
		{"announced past the limit", 2 * max, &endless{}, Quoted, true, 1 << 20},
		// An announced size is a claim: 10 bytes of an answer that
		// announced the limit took the limit (32 MiB).
		{"announced and not sent", max, cutShort("0123456789"), 10, false, 1 << 20},
		{"announced and a 16th sent", max, io.LimitReader(&endless{}, max/16), max / 16, false, 2*max/16 + max + 1<<20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b []byte
			var err error
			got := allocated(func() { b, err = ReadBody(tt.body, tt.size, max) })
			var tl *TooLargeError
			if int64(len(b)) != tt.want || errors.As(err, &tl) != tt.tooLarge || (err != nil && !tt.tooLarge && !errors.Is(err, io.ErrUnexpectedEOF)) {
				t.Errorf("read %d bytes, error %v; want %d, too large %v", len(b), err, tt.want, tt.tooLarge)
			}
			t.Logf("allocated %d bytes", got)
			if got > tt.most {
				t.Errorf("allocated %d bytes reading at most %d; want at most %d", got, max+1, tt.most)
			}
		})
	}
}

// cutShort is a body that ends early as net/http's does when fewer bytes
// come than its Content-Length: s, then io.ErrUnexpectedEOF.
func cutShort(s string) io.Reader {
	return io.MultiReader(strings.NewReader(s), iotest.ErrReader(io.ErrUnexpectedEOF))
}

// TestReadBodyOfAFalseContentLength: a real server's answer announcing
// 100 MB (within the limit) and sending 10 bytes had ReadBody allocate
// the 100 MB before the first byte; what it allocates now is a piece of
// 64 KiB, and the body is said to be cut short.
func TestReadBodyOfAFalseContentLength(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "100000000")
		w.Write([]byte("0123456789"))
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b []byte
	got := allocated(func() { b, err = ReadBody(resp.Body, resp.ContentLength, 128<<20) })
	t.Logf("allocated %d bytes", got)
	if string(b) != "0123456789" || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("read %q, error %v; want the 10 bytes sent, cut short", b, err)
	}
	if got > 1<<20 {
		t.Errorf("allocated %d bytes for 10 sent; want at most 1 MiB", got)
	}
}
