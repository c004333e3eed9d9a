package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spillway-io/spillway/signals/httpclient"
)

// DefaultServer is where the CLI looks for the server when told nothing.
const DefaultServer = "http://127.0.0.1:8700"

// maxResponse bounds a response body the client reads.
const maxResponse = 64 << 20

// maxPages bounds how many pages the client follows for one listing.
const maxPages = 1000

// Paging is how the client reads a listing: pages of at most Size items
// (1 to 1000), at most Pages of them. A zero field keeps its default, 1000.
type Paging struct{ Size, Pages int }

type pagingKey struct{}

// WithPaging returns ctx under which the client reads listings as p says.
func WithPaging(ctx context.Context, p Paging) context.Context {
	return context.WithValue(ctx, pagingKey{}, p)
}

// TruncatedError is a listing the client stopped reading at its page cap
// while the server had more: the items read come with it.
type TruncatedError struct {
	Path  string // the listing's endpoint, /v1/instances
	Pages int    // the cap it stopped at
	Items int    // the items read
}

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("GET %s: stopped after %d pages (%d items) with more to read", e.Path, e.Pages, e.Items)
}

// Client calls the API. Errors are *Error for an answer from the server
// (its Status says which), and *UnreachableError when no answer came.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
}

// UnreachableError is a request that got no HTTP answer.
type UnreachableError struct {
	Server string
	Err    error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the Spillway server at %s: %v", e.Server, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// NewClient returns a client for the server at base (http:// or https://)
// sending token as a bearer token (none when empty). hc nil is an
// http.Client with a 30 s timeout.
func NewClient(base, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server %q is not a URL such as %s: give --server or SPILLWAY_SERVER as http(s)://HOST:PORT", base, DefaultServer)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return &Client{base: u, token: token, hc: hc}, nil
}

// Server is the base URL the client calls.
func (c *Client) Server() string { return c.base.String() }

// do calls path, which is escaped (an item's name in it through
// url.PathEscape), below the base URL.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	return c.doWith(ctx, method, path, q, nil, in, out)
}

// doWith is do with extra request headers.
func (c *Client) doWith(ctx context.Context, method, path string, q url.Values, h http.Header, in, out any) error {
	u := *c.base
	u.RawPath = c.base.EscapedPath() + path
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return fmt.Errorf("building the URL of %s: %w", path, err)
	}
	u.Path = p
	u.RawQuery = q.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("building request: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	for k, vs := range h {
		req.Header[k] = vs
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return &UnreachableError{Server: c.base.String(), Err: err}
	}
	defer resp.Body.Close()
	// Sized by its Content-Length, and refused unread when that is past
	// the bound (io.ReadAll took twice the answer's size).
	data, err := httpclient.ReadBody(resp.Body, resp.ContentLength, maxResponse)
	if tl := (*httpclient.TooLargeError)(nil); errors.As(err, &tl) {
		return fmt.Errorf("%s %s: the answer is over %d bytes", method, path, maxResponse)
	}
	if err != nil {
		return &UnreachableError{Server: c.base.String(), Err: fmt.Errorf("reading the answer: %w", err)}
	}
	if resp.StatusCode >= 300 {
		var eb errorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error != nil && eb.Error.Message != "" {
			eb.Error.Status = resp.StatusCode
			return eb.Error
		}
		hint := ""
		if c.base.Scheme == "http" && resp.StatusCode == http.StatusBadRequest {
			// What an HTTPS listener answers a plain-HTTP request.
			hint = fmt.Sprintf(" (if it serves HTTPS, use https://%s)", c.base.Host)
		}
		return &Error{Status: resp.StatusCode, Code: "http_" + strconv.Itoa(resp.StatusCode),
			Message: fmt.Sprintf("%s %s answered %s without a Spillway error body: is %s a Spillway server?%s", method, path, resp.Status, c.base, hint)}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: the answer is not what this client expects (%v): are the client and server versions compatible?", method, path, err)
		}
	}
	return nil
}

// Status is GET /v1/status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	return s, c.do(ctx, http.MethodGet, "/v1/status", nil, nil, &s)
}

// Pool is GET /v1/pools/{name}.
func (c *Client) Pool(ctx context.Context, name string) (PoolDetail, error) {
	var d PoolDetail
	return d, c.do(ctx, http.MethodGet, "/v1/pools/"+url.PathEscape(name), nil, nil, &d)
}

// all follows a listing's pages until it ends or max items are read
// (max <= 0: no bound other than the page cap). Cut at the page cap, it
// returns the items read and a *TruncatedError. A window the first page
// set with since= is asked for again, as the time the server answered,
// with each later page.
func all[T any](ctx context.Context, c *Client, path string, q url.Values, max int) ([]T, error) {
	pg, _ := ctx.Value(pagingKey{}).(Paging)
	if pg.Pages <= 0 {
		pg.Pages = maxPages
	}
	if n, err := strconv.Atoi(q.Get("limit")); err == nil && pg.Size > 0 && pg.Size < n {
		q.Set("limit", strconv.Itoa(pg.Size))
	}
	var out []T
	for page := 1; ; page++ {
		var p Page[T]
		if err := c.do(ctx, http.MethodGet, path, q, nil, &p); err != nil {
			return nil, err
		}
		out = append(out, p.Items...)
		if p.Next == "" || (max > 0 && len(out) >= max) {
			break
		}
		if page == pg.Pages {
			return out, &TruncatedError{Path: path, Pages: page, Items: len(out)}
		}
		q.Set("cursor", p.Next)
		if !p.Since.IsZero() {
			q.Set("since", p.Since.UTC().Format(time.RFC3339Nano))
		}
	}
	if max > 0 && len(out) > max {
		out = out[:max]
	}
	return out, nil
}

// Instances lists every burst instance (of one pool when pool is set);
// cut at the page cap, the instances read and a *TruncatedError.
func (c *Client) Instances(ctx context.Context, pool string) ([]Instance, error) {
	q := url.Values{"limit": {strconv.Itoa(maxLimit)}}
	if pool != "" {
		q.Set("pool", pool)
	}
	return all[Instance](ctx, c, "/v1/instances", q, 0)
}

// DecisionsQuery selects decisions: Since is a duration back from the
// server's now ("1h"), fixed when the first page is read, or an RFC 3339
// time; Limit bounds how many (newest first).
type DecisionsQuery struct {
	Pool  string
	Since string
	Limit int
}

// Decisions lists decisions, newest first; cut at the page cap, the
// decisions read and a *TruncatedError.
func (c *Client) Decisions(ctx context.Context, dq DecisionsQuery) ([]Decision, error) {
	lim := dq.Limit
	if lim <= 0 {
		lim = defaultLimit
	}
	q := url.Values{"limit": {strconv.Itoa(min(lim, maxLimit))}}
	if dq.Pool != "" {
		q.Set("pool", dq.Pool)
	}
	if dq.Since != "" {
		q.Set("since", dq.Since)
	}
	return all[Decision](ctx, c, "/v1/decisions", q, lim)
}

// Bursts lists manual bursts; ended ones too when all is set. Cut at the
// page cap, it returns the bursts read and a *TruncatedError.
func (c *Client) Bursts(ctx context.Context, pool string, withEnded bool) ([]Burst, error) {
	q := url.Values{"limit": {strconv.Itoa(maxLimit)}}
	if pool != "" {
		q.Set("pool", pool)
	}
	if withEnded {
		q.Set("all", "true")
	}
	return all[Burst](ctx, c, "/v1/bursts", q, 0)
}

// Burst is GET /v1/bursts/{id}.
func (c *Client) Burst(ctx context.Context, id string) (Burst, error) {
	var b Burst
	return b, c.do(ctx, http.MethodGet, "/v1/bursts/"+url.PathEscape(id), nil, nil, &b)
}

// CreateBurst is POST /v1/bursts, with r.IdempotencyKey as its
// Idempotency-Key header when set: the returned burst is Replayed when an
// earlier request with the key created it.
func (c *Client) CreateBurst(ctx context.Context, r CreateBurstRequest) (Burst, error) {
	var b Burst
	var h http.Header
	if r.IdempotencyKey != "" {
		h = http.Header{"Idempotency-Key": {r.IdempotencyKey}}
	}
	return b, c.doWith(ctx, http.MethodPost, "/v1/bursts", nil, h, r, &b)
}

// CancelBurst is DELETE /v1/bursts/{id}.
func (c *Client) CancelBurst(ctx context.Context, id string) (Burst, error) {
	var b Burst
	return b, c.do(ctx, http.MethodDelete, "/v1/bursts/"+url.PathEscape(id), nil, nil, &b)
}

// Audit lists the newest audit rows (admin only); cut at the page cap,
// the rows read and a *TruncatedError.
func (c *Client) Audit(ctx context.Context, limit int) ([]AuditEntry, error) {
	q := url.Values{"limit": {strconv.Itoa(min(max(limit, 1), maxLimit))}}
	return all[AuditEntry](ctx, c, "/v1/audit", q, max(limit, 1))
}
