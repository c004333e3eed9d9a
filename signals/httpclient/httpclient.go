// Package httpclient holds what the signal sources that GET over HTTP (the
// agents baseline, the http demand source, the Prometheus client) share:
// a redirect is followed only within the scheme, host and port a source
// was pointed at, so that its configured headers (a ${VAR} credential) go
// nowhere else and its reading comes from where it says; an answer is
// read up to a size, past which the read fails naming it; and a 429 or
// 503 answer's Retry-After is read one way, within one cap.
package httpclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spillway-io/spillway/signals"
)

// MaxRedirects bounds the redirects followed within a host, as net/http's
// default policy does.
const MaxRedirects = 10

// RedirectError is a redirect refused: to another scheme, host or port
// than the request's first URL (From), or one past MaxRedirects.
type RedirectError struct {
	// From is the URL the source asked, To where it was sent, both
	// without a password and cut short.
	From, To string
	// TooMany marks a redirect past MaxRedirects within the host.
	TooMany bool
}

func (e *RedirectError) Error() string {
	if e.TooMany {
		return fmt.Sprintf("stopped after %d redirects (from %s, the last to %s)", MaxRedirects, e.From, e.To)
	}
	return fmt.Sprintf("redirected from %s to %s, another scheme, host or port: refused (a source follows redirects within its url's host only, so that its headers go nowhere else); set the url to where the answer is", e.From, e.To)
}

// CheckRedirect is an http.Client's CheckRedirect that refuses (with a
// *RedirectError) a redirect away from the first request's scheme, host
// and port, and one past MaxRedirects.
func CheckRedirect(req *http.Request, via []*http.Request) error {
	if len(via) == 0 {
		return nil
	}
	first := via[0].URL
	e := &RedirectError{From: show(first), To: show(req.URL)}
	if !sameOrigin(first, req.URL) {
		return e
	}
	if len(via) >= MaxRedirects {
		e.TooMany = true
		return e
	}
	return nil
}

// IsRedirect reports whether err is (or wraps) a refused redirect.
func IsRedirect(err error) bool {
	var re *RedirectError
	return errors.As(err, &re)
}

// Confine returns a copy of c (of http.Client's zero value when nil) whose
// redirects CheckRedirect checks, whatever c's own policy.
func Confine(c *http.Client) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	}
	out.CheckRedirect = CheckRedirect
	return &out
}

// sameOrigin reports whether a and b have one scheme, host and port (a
// port left out being the scheme's own).
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}

// show is u for a message: its password hidden, a hostile length cut short.
func show(u *url.URL) string { return signals.Shorten(u.Redacted(), 200) }

// TooLargeError is an answer longer than the most a source reads of one.
type TooLargeError struct {
	Max int64
	// Announced is the length the answer's Content-Length gave, when it
	// gave one past Max (else 0): the body was not read.
	Announced int64
}

func (e *TooLargeError) Error() string {
	if e.Announced > 0 {
		return fmt.Sprintf("body is larger than %d bytes: its Content-Length is %d", e.Max, e.Announced)
	}
	return fmt.Sprintf("body is larger than %d bytes", e.Max)
}

// Quoted is the most of an answer past the limit that ReadBody returns:
// what an error shows of it is far shorter.
const Quoted = 4 << 10

// maxChunk bounds a piece of an answer read at once, and so what the last
// piece holds unused.
const maxChunk = 8 << 20

// ReadBody reads r to its end, up to max bytes, size being the length its
// answer announced (http.Response.ContentLength: -1 when unknown). Past
// them, it returns at most the first Quoted bytes and a *TooLargeError
// naming the limit, having read one byte more, or (whatever arrives of
// those bytes) none more when size is past max: an answer cut short is
// never passed off as whole.
//
// What it allocates stays near what it reads: an answer of an unknown
// size is read in pieces, joined once at its end; one past max is never
// joined (io.ReadAll's pieces and its joining took twice max: 268 MB at
// the http source's 128 MiB). An announced size is a claim, not bytes:
// its answer is read into pieces until a trustAfter-th of it has
// arrived, and only then into one buffer of its size (one buffer of it
// at once held 128 MiB for an answer that announced as much and sent 10
// bytes, each poll, until the read's deadline).
func ReadBody(r io.Reader, size, max int64) ([]byte, error) {
	if size > max {
		// What arrives of its start is for a message; a failure to read
		// it says less than the length does.
		b, _ := io.ReadAll(io.LimitReader(r, min(Quoted, max)))
		return b, &TooLargeError{Max: max, Announced: size}
	}
	var chunks [][]byte
	var n int64
	var err error
	if size < 0 {
		chunks, n, err = readChunks(r, 512, max+1)
	} else {
		chunks, n, err = readAnnounced(r, size, max+1)
	}
	if err != nil {
		return join(chunks, n), err
	}
	if n > max {
		return join(chunks, min(n, Quoted, max)), &TooLargeError{Max: max}
	}
	return join(chunks, n), nil
}

// firstPiece is the most an answer of a known size is given before any of
// it arrives; trustAfter the share of its size (one trustAfter-th) that
// must arrive before the rest is given at once: what it holds unused is
// at most trustAfter times what arrived, and an answer that is what it
// announced allocates about 1 + 1/trustAfter times its size.
const (
	firstPiece = 64 << 10
	trustAfter = 16
)

// readAnnounced is readChunks for an answer that announced size bytes
// (size < limit): pieces from firstPiece up to a trustAfter-th of size+1,
// then one piece holding them and room for the rest and a byte more (to
// see the end), then pieces again should it go on past that.
func readAnnounced(r io.Reader, size, limit int64) ([][]byte, int64, error) {
	whole := size + 1
	early := min(whole, max(firstPiece, whole/trustAfter))
	chunks, n, err := readChunks(r, min(whole, firstPiece), early)
	if err != nil || n < early {
		return chunks, n, err // ended (or failed) early
	}
	if n < whole {
		buf := make([]byte, 0, whole)
		for _, c := range chunks {
			buf = append(buf, c...)
		}
		buf, end, err := fill(r, buf)
		n, chunks = int64(len(buf)), [][]byte{buf}
		if end || err != nil {
			return chunks, n, err
		}
	}
	more, m, err := readChunks(r, 512, limit-n)
	return append(chunks, more...), n + m, err
}

// readChunks reads r to its end or to limit bytes, into pieces that start
// at first bytes and double up to maxChunk, none past limit. It returns
// the pieces, each full but the last, and how many bytes they hold.
func readChunks(r io.Reader, first, limit int64) ([][]byte, int64, error) {
	var chunks [][]byte
	var n int64
	next := min(first, limit)
	for n < limit {
		c, end, err := fill(r, make([]byte, 0, min(next, limit-n)))
		chunks = append(chunks, c)
		n += int64(len(c))
		if end || err != nil {
			return chunks, n, err
		}
		next = min(max(2*int64(cap(c)), 512), maxChunk)
	}
	return chunks, n, nil
}

// fill reads r into c up to its capacity; end is r's end reached (io.EOF,
// which is no error).
func fill(r io.Reader, c []byte) ([]byte, bool, error) {
	for len(c) < cap(c) {
		m, err := r.Read(c[len(c):cap(c)])
		c = c[:len(c)+m]
		if err == io.EOF {
			return c, true, nil
		}
		if err != nil {
			return c, false, err
		}
	}
	return c, false, nil
}

// join is the first n bytes of chunks in one slice: the first chunk
// itself when it holds them.
func join(chunks [][]byte, n int64) []byte {
	if len(chunks) == 0 {
		return nil
	}
	if int64(len(chunks[0])) >= n {
		return chunks[0][:n]
	}
	out := make([]byte, 0, n)
	for _, c := range chunks {
		out = append(out, c[:min(int64(len(c)), n-int64(len(out)))]...)
	}
	return out
}

// StoppedError is a body whose read stopped before its end: a server
// that sends an answer slowly (a drip of bytes, a proxy buffering) fails
// at the read's deadline, and "context deadline exceeded" alone says
// neither how much arrived nor when the deadline was.
type StoppedError struct {
	// Read is how many bytes of the body arrived, of Size (its
	// Content-Length; -1 when it gave none).
	Read int
	Size int64
	// Took is how long after the request was sent the read stopped, and
	// Deadline when its deadline was (0 when it had none).
	Took, Deadline time.Duration
	Err            error
}

func (e *StoppedError) Error() string {
	of := ""
	if e.Size >= 0 {
		of = fmt.Sprintf(" of the %d its Content-Length announced", e.Size)
	}
	got := fmt.Sprintf("%d bytes of the body%s had arrived when the read stopped, %s after the request", e.Read, of, e.Took.Round(time.Millisecond))
	switch {
	case errors.Is(e.Err, context.DeadlineExceeded) && e.Deadline > 0:
		return fmt.Sprintf("%s: the rest did not come before the read's deadline, %s after the request (%v)", got, e.Deadline.Round(time.Millisecond), e.Err)
	case errors.Is(e.Err, context.Canceled):
		return fmt.Sprintf("%s: the read was cancelled (%v)", got, e.Err)
	}
	return fmt.Sprintf("%s: %v", got, e.Err)
}

// Unwrap returns the cause.
func (e *StoppedError) Unwrap() error { return e.Err }

// Stopped is the read of resp's body failed with err, n bytes in, at now,
// as a *StoppedError, the request having been sent at start under ctx.
func Stopped(ctx context.Context, resp *http.Response, n int, start, now time.Time, err error) error {
	e := &StoppedError{Read: n, Size: resp.ContentLength, Took: now.Sub(start), Err: err}
	if dl, ok := ctx.Deadline(); ok {
		e.Deadline = dl.Sub(start)
	}
	return e
}

// MaxRetryAfter bounds what a Retry-After is read as: far past any read's
// deadline, yet short enough that a proxy asking for a day (while the
// pool holds, neither launching nor scaling in, on a failed signal) is
// asked again within minutes, once.
const MaxRetryAfter = 10 * time.Minute

// RetryAfter is how long an answer asked not to be asked again, at now:
// its Retry-After header when its status is 429 or 503 and the header is
// delay-seconds or an HTTP-date (RFC 9110 §10.2.3), a date already past
// being 0 and a wait past MaxRetryAfter being MaxRetryAfter. It is false
// for another status, and for a header that is absent or neither.
func RetryAfter(resp *http.Response, now time.Time) (time.Duration, bool) {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0, false
	}
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if strings.Trim(v, "0123456789") == "" {
		sec, err := strconv.ParseUint(v, 10, 64)
		if err != nil || sec > uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true // only digits: too many of them
		}
		return time.Duration(sec) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), MaxRetryAfter), true
}
