// Package promapi builds the Prometheus query client the signal sources
// use: client_golang's API reading at most MaxBody of an answer
// (httpclient.ReadBody). client_golang decodes an answer held whole in
// memory, so a query that matches far more series than meant, or a URL
// that points at something other than Prometheus, would otherwise take the
// server's memory with it.
package promapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
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
// url's host only (httpclient.CheckRedirect), refusing a query's answer
// that holds no number to read (checked, numbered), and failing a 429 or
// 503 answer that says when to ask again with a *BusyError (throttled),
// its Retry-After read at now (time.Now when nil).
func New(url string, client *http.Client, now func() time.Time) (v1.API, error) {
	return newWith(url, client, now, MaxBody)
}

// newWith is New reading at most max of each answer.
func newWith(url string, client *http.Client, now func() time.Time, max int64) (v1.API, error) {
	rt := api.DefaultRoundTripper
	if client != nil && client.Transport != nil {
		rt = client.Transport
	}
	if now == nil {
		now = time.Now
	}
	hc := &http.Client{Transport: rt, CheckRedirect: httpclient.CheckRedirect}
	c, err := api.NewClient(api.Config{Address: url, Client: hc})
	if err != nil {
		return nil, err
	}
	return checked{v1.NewAPI(numbered{throttled{bounded{c, hc, max}, now}})}, nil
}

// bounded is an api.Client reading an answer with httpclient.ReadBody, up
// to max, failing past it with ErrTooLarge (wrapped). client_golang's own
// Do reads into a bytes.Buffer, which doubles as it fills: an answer of
// 16 MiB took 96 MB, and one past a limit of 32 MiB 128 MB, each read (a
// gigabyte at MaxBody).
type bounded struct {
	api.Client // its URL
	hc         *http.Client
	max        int64
}

func (c bounded) Do(ctx context.Context, req *http.Request) (*http.Response, []byte, error) {
	resp, err := c.hc.Do(req.WithContext(ctx))
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := httpclient.ReadBody(resp.Body, resp.ContentLength, c.max)
	var tl *httpclient.TooLargeError
	switch {
	case ctx.Err() != nil:
		return resp, nil, ctx.Err() // as client_golang's Do
	case errors.As(err, &tl):
		return resp, nil, tooLarge(c.max)
	}
	return resp, body, err
}

// BusyError is an answer of 429 or 503 whose Retry-After says when to ask
// again (httpclient.RetryAfter). A source wrapped by signals/queue is
// not asked again before then.
type BusyError struct {
	// Status is the answer's status line, e.g. "429 Too Many Requests".
	Status string
	// Body is the start of the answer's body, cut short.
	Body string
	// After is how long the answer asked to be left alone.
	After time.Duration
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("answered %s (want 2xx): %q, asking to be retried after %s", e.Status, e.Body, e.After)
}

// RetryAfter is how long the answer asked not to be asked again.
func (e *BusyError) RetryAfter() (time.Duration, bool) { return e.After, true }

// throttled is an api.Client that fails an answer of 429 or 503 with a
// Retry-After with a *BusyError, which carries the wait: client_golang's
// own error for it keeps only the status code. One without a Retry-After
// (or with one that reads as neither seconds nor a date) is left to
// client_golang to report.
type throttled struct {
	api.Client
	now func() time.Time
}

func (c throttled) Do(ctx context.Context, req *http.Request) (*http.Response, []byte, error) {
	resp, body, err := c.Client.Do(ctx, req)
	if err != nil {
		return resp, body, err
	}
	if wait, asked := httpclient.RetryAfter(resp, c.now()); asked {
		return resp, body, &BusyError{Status: resp.Status, Body: signals.Shorten(strings.TrimSpace(string(body)), 200), After: wait}
	}
	return resp, body, nil
}

// ErrPartial is returned (wrapped) by a query whose answer says it is
// partial: VictoriaMetrics' "isPartial": true, when a storage node did not
// answer. Its series are some of the query's only: a sum of pending jobs
// read low (nothing rented for the rest), a GPU left out of the baseline.
var ErrPartial = errors.New(`the answer is partial ("isPartial": true: a storage node did not answer, and its series are missing); the next read asks again`)

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
	warnings, infos = v1.Warnings(fewNotes(warnings)), v1.Infos(fewNotes(infos))
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
	case model.Matrix:
		for i, ss := range r {
			if ss == nil {
				return nil, warnings, infos, fmt.Errorf("%w: series %d of %d is null", ErrNoNumber, i, len(r))
			}
		}
	}
	return v, warnings, infos, nil
}

// MaxNotes bounds the warnings, and the infos, Query returns of one
// answer, and MaxNoteLen each one's length: the sources log each one,
// every tick, and an answer may hold millions.
const (
	MaxNotes   = 10
	MaxNoteLen = 500
)

// fewNotes is notes cut to MaxNotes of MaxNoteLen bytes at most, the last
// one saying how many more there were.
func fewNotes(notes []string) []string {
	if len(notes) == 0 {
		return notes
	}
	out := make([]string, 0, min(len(notes), MaxNotes))
	for _, n := range notes[:min(len(notes), MaxNotes)] {
		out = append(out, signals.Shorten(n, MaxNoteLen))
	}
	if more := len(notes) - MaxNotes; more > 0 {
		out[MaxNotes-1] = fmt.Sprintf("… and %d more", more+1)
	}
	return out
}

// numbered is an api.Client that refuses a query's answer (instant or
// range) in which a point is not [timestamp, "number"]. client_golang
// decodes a vector's sample with encoding/json, which reads a value of
// [1], [], [1,null], null or none at all as 0 without an error: a queue
// of 0 jobs, or a job of 0 GPUs. It costs a second decoding of the
// answer, which is bounded by MaxBody as the first one is. An answer
// that is not a successful query's is left to client_golang to report.
type numbered struct{ api.Client }

func (c numbered) Do(ctx context.Context, req *http.Request) (*http.Response, []byte, error) {
	resp, body, err := c.Client.Do(ctx, req)
	if err != nil || resp.StatusCode/100 != 2 || !(strings.HasSuffix(req.URL.Path, "/api/v1/query") || strings.HasSuffix(req.URL.Path, "/api/v1/query_range")) {
		return resp, body, err
	}
	if err := pointsHaveNumbers(body); err != nil {
		return resp, body, err
	}
	return resp, body, nil
}

// pointsHaveNumbers returns ErrPartial for a successful query's answer
// that says it is partial, ErrNoNumber (wrapped) for the first point of
// one that holds no number; nil for any other
// answer, whose problems client_golang reports (null samples and native
// histograms are checked's).
func pointsHaveNumbers(body []byte) error {
	var a struct {
		Status    string `json:"status"`
		IsPartial bool   `json:"isPartial"`
		Data      *struct {
			Type   string          `json:"resultType"`
			Result json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &a) != nil || a.Status != "success" {
		return nil
	}
	if a.IsPartial {
		return ErrPartial
	}
	if a.Data == nil {
		return nil
	}
	switch a.Data.Type {
	case "scalar":
		if err := point(a.Data.Result); err != nil {
			return fmt.Errorf("%w: the scalar %v", ErrNoNumber, err)
		}
	case "vector":
		var samples []*struct {
			Value     json.RawMessage `json:"value"`
			Histogram json.RawMessage `json:"histogram"`
		}
		if json.Unmarshal(a.Data.Result, &samples) != nil {
			return nil
		}
		for i, s := range samples {
			if s == nil || (len(s.Histogram) > 0 && string(s.Histogram) != "null") {
				continue
			}
			if err := point(s.Value); err != nil {
				return fmt.Errorf("%w: sample %d of %d (series %s): its value %v", ErrNoNumber, i, len(samples), seriesOf(a.Data.Result, i), err)
			}
		}
	case "matrix":
		var streams []*struct {
			Metric json.RawMessage   `json:"metric"`
			Values []json.RawMessage `json:"values"`
		}
		if json.Unmarshal(a.Data.Result, &streams) != nil {
			return nil
		}
		for i, s := range streams {
			if s == nil {
				continue
			}
			for j, v := range s.Values {
				if err := point(v); err != nil {
					return fmt.Errorf("%w: point %d of series %d (%s): %v", ErrNoNumber, j, i, signals.Shorten(string(s.Metric), 200), err)
				}
			}
		}
	}
	return nil
}

// seriesOf is the labels of the i-th sample of a vector, decoded only to
// name a sample that has no number.
func seriesOf(result json.RawMessage, i int) string {
	var samples []struct {
		Metric json.RawMessage `json:"metric"`
	}
	if json.Unmarshal(result, &samples) != nil || i >= len(samples) {
		return "?"
	}
	return signals.Shorten(string(samples[i].Metric), 200)
}

// point checks that raw is [timestamp, "number"], as Prometheus writes a
// point, the number a float in a string ("NaN" and "±Inf" included: the
// sources bound what they read).
func point(raw json.RawMessage) error {
	var p []json.RawMessage
	var num string
	if len(raw) == 0 {
		return errors.New(`is missing: want [timestamp, "number"]`)
	}
	if err := json.Unmarshal(raw, &p); err != nil || len(p) != 2 || !bytes.HasPrefix(p[1], []byte(`"`)) || json.Unmarshal(p[1], &num) != nil {
		return fmt.Errorf(`is %s: want [timestamp, "number"]`, signals.Shorten(string(raw), 100))
	}
	// Go's own syntax (0x1p4, 1_000), which client_golang reads, is no
	// number Prometheus writes.
	if _, err := signals.ParseDecimal(num); err != nil {
		return fmt.Errorf(`is %s: %q is not a number`, signals.Shorten(string(raw), 100), signals.Shorten(num, 40))
	}
	return nil
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
