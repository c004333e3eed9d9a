// Package promapi builds the Prometheus query client the signal sources
// use: client_golang's API over a transport that reads at most MaxBody of
// an answer. client_golang reads a whole answer into memory before it
// decodes it, so a query that matches far more series than meant, or a URL
// that points at something other than Prometheus, would otherwise take the
// server's memory with it.
package promapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/httpclient"
)

// MaxBody is the most of an answer read, after any gzip is undone: room
// for a vector of signals.MaxListedJobs (2^20) pending jobs' samples at
// about 250 bytes each, far more than a queue or a site's GPUs make.
const MaxBody = 256 << 20

// ErrTooLarge is returned (wrapped) by a read past MaxBody.
var ErrTooLarge = errors.New("answer too large")

// New returns the query API of the Prometheus at url, over client's
// transport (client_golang's default when client or its Transport is nil),
// reading at most MaxBody of each answer, following redirects within
// url's host only (httpclient.CheckRedirect), and refusing an instant
// query's answer that holds no number to read (Checked).
func New(url string, client *http.Client) (v1.API, error) { return newWith(url, client, MaxBody) }

// newWith is New reading at most max of each answer.
func newWith(url string, client *http.Client, max int64) (v1.API, error) {
	rt := api.DefaultRoundTripper
	if client != nil && client.Transport != nil {
		rt = client.Transport
	}
	c, err := api.NewClient(api.Config{Address: url, Client: &http.Client{Transport: Limit(rt, max), CheckRedirect: httpclient.CheckRedirect}})
	if err != nil {
		return nil, err
	}
	return checked{v1.NewAPI(c)}, nil
}

// ErrNoNumber is returned (wrapped) by Query for an answer that holds no
// number to read.
var ErrNoNumber = errors.New("answer holds no number")

// checked is an API whose Query refuses what client_golang decodes from
// an answer but holds no number: no result at all (`{"status":
// "success"}`, `null`: something other than Prometheus), a null sample
// in a vector, and a native histogram's sample, whose Value reads 0. A
// source would otherwise dereference nil, or read 0 as a valid count.
type checked struct{ v1.API }

func (c checked) Query(ctx context.Context, query string, ts time.Time, opts ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	v, warnings, infos, err := c.API.Query(ctx, query, ts, opts...)
	if err != nil {
		return v, warnings, infos, err
	}
	switch r := v.(type) {
	case nil:
		return nil, warnings, infos, fmt.Errorf("%w: the answer has no result (check that the url is Prometheus's)", ErrNoNumber)
	case model.Vector:
		for i, smp := range r {
			switch {
			case smp == nil:
				return nil, warnings, infos, fmt.Errorf("%w: sample %d of %d is null", ErrNoNumber, i, len(r))
			case smp.Histogram != nil:
				return nil, warnings, infos, fmt.Errorf("%w: series %s is a native histogram, not a number (read one of its numbers, e.g. histogram_count(...) or histogram_sum(...))", ErrNoNumber, signals.Shorten(smp.Metric.String(), 200))
			}
		}
	}
	return v, warnings, infos, nil
}

// Limit wraps rt so that reading an answer's body past max bytes fails with
// ErrTooLarge; an answer whose Content-Length says it is longer fails at
// once, unread.
func Limit(rt http.RoundTripper, max int64) http.RoundTripper {
	return limited{rt: rt, max: max}
}

type limited struct {
	rt  http.RoundTripper
	max int64
}

func (l limited) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > l.max {
		resp.Body.Close()
		return nil, tooLarge(l.max)
	}
	resp.Body = &capped{rc: resp.Body, left: l.max, max: l.max}
	return resp, nil
}

func tooLarge(max int64) error {
	return fmt.Errorf("%w: longer than %d bytes (narrow the query, or check that the url is Prometheus's)", ErrTooLarge, max)
}

// capped reads at most max bytes of rc; a byte past them is an error.
type capped struct {
	rc        io.ReadCloser
	left, max int64
}

func (c *capped) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// An answer of exactly max bytes is whole: only a byte more is
		// too much.
		var one [1]byte
		n, err := c.rc.Read(one[:])
		if n > 0 {
			return 0, tooLarge(c.max)
		}
		return 0, err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *capped) Close() error { return c.rc.Close() }
