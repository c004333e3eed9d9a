// Package http reads queue demand from a JSON document served over HTTP:
// GET a URL and take pending jobs, pending GPUs, the oldest wait, the
// per-job GPU requests and the per-job waits from field paths.
package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	nethttp "net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/httpclient"
)

// Config says where the document is and which fields to read.
type Config struct {
	// Name identifies the source; "http:<host>" when empty.
	Name string `yaml:"name,omitempty"`
	// URL is fetched with GET.
	URL string `yaml:"url"`
	// Headers are sent with every request. ${VAR} in a value is replaced
	// by the environment variable VAR when the source is built, e.g.
	// Authorization: "Bearer ${QUEUE_TOKEN}".
	Headers map[string]string `yaml:"headers,omitempty"`
	// Field paths: at least one of PendingJobs, PendingGPUs and JobGPUs.
	// With only PendingGPUs set, PendingJobs reads 0: the document does
	// not say how many jobs wait.
	PendingJobs       string `yaml:"pending_jobs,omitempty"`
	PendingGPUs       string `yaml:"pending_gpus,omitempty"`
	OldestWaitSeconds string `yaml:"oldest_wait_seconds,omitempty"`
	// JobGPUs is the path of an array holding each pending job's GPU
	// request in queue order; it also gives pending jobs and GPUs when
	// their paths are not set.
	JobGPUs string `yaml:"job_gpus,omitempty"`
	// JobWaitSeconds is the path of an array holding how long each job of
	// JobGPUs has waited, in seconds (same order and length); it needs
	// JobGPUs, and gives the oldest wait when OldestWaitSeconds is not set.
	JobWaitSeconds string `yaml:"job_wait_seconds,omitempty"`
	// GPUsPerJob, when set, is what every pending job asks: pending_jobs
	// becomes that many jobs of GPUsPerJob GPUs (without it, pending_gpus
	// ⌈GPUs / GPUsPerJob⌉ jobs), so that the engine packs whole jobs
	// instead of reading one-GPU ones (signals.SameSizeJobs).
	GPUsPerJob int `yaml:"gpus_per_job,omitempty"`
	// JobCPUs and JobMemoryGiB are paths of arrays holding each job of
	// JobGPUs' CPUs and memory in GiB (same order and length; they need
	// JobGPUs). With the pool's shapes, a job counts as the smallest shape
	// that holds it (signals.FitJobs).
	JobCPUs      string `yaml:"job_cpus,omitempty"`
	JobMemoryGiB string `yaml:"job_memory_gib,omitempty"`
	// Shapes are the pool's instances' GPUs, vCPUs and memory (from its
	// offerings, not the config's http: section).
	Shapes []policy.Shape `yaml:"-"`
}

// MaxBody is the most of a response the source reads: room for
// signals.MaxListedJobs jobs, each with its GPUs, wait, CPUs and memory
// written at their longest and indented, 75 MiB (8 MiB held 2^20 jobs'
// GPUs, but not their waits too).
const MaxBody = 128 << 20

// MaxValues bounds the JSON values and keys a body may hold, counted
// before it is decoded: room for four per-job lists of
// signals.MaxListedJobs numbers and as many values around them. A decoded
// value takes some 40 bytes: MaxBody of "0," would have taken 3 GiB.
const MaxValues = 5 * signals.MaxListedJobs

// Option changes a Source.
type Option func(*Source)

// WithNow injects the clock used for reading times.
func WithNow(now func() time.Time) Option { return func(s *Source) { s.now = now } }

// WithClient sets the HTTP client (by default one of the source's own);
// its redirects are followed within the URL's host only, whatever its own
// CheckRedirect (httpclient.Confine).
func WithClient(c *nethttp.Client) Option { return func(s *Source) { s.client = c } }

// WithLookupEnv injects the environment lookup used for ${VAR} in headers.
func WithLookupEnv(f func(string) (string, bool)) Option {
	return func(s *Source) { s.lookupEnv = f }
}

// Source reads one URL.
type Source struct {
	name      string
	url       string
	header    nethttp.Header
	jobs      *Path
	gpus      *Path
	wait      *Path
	jobGPUs   *Path
	jobWaits  *Path
	jobCPUs   *Path
	jobMem    *Path
	shapes    []policy.Shape
	perJob    int // gpus_per_job
	client    *nethttp.Client
	now       func() time.Time
	lookupEnv func(string) (string, bool)
}

var _ signals.DemandSource = (*Source)(nil)

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// New checks cfg, compiles its field paths and returns a Source.
func New(cfg Config, opts ...Option) (*Source, error) {
	s := &Source{name: cfg.Name, url: cfg.URL, header: nethttp.Header{}, perJob: cfg.GPUsPerJob, shapes: cfg.Shapes, now: time.Now, lookupEnv: os.LookupEnv}
	for _, o := range opts {
		o(s)
	}
	var problems []string
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		problems = append(problems, fmt.Sprintf("url %q is not an http:// or https:// URL", cfg.URL))
	} else if s.name == "" {
		s.name = "http:" + u.Host
	}
	if s.name == "" {
		s.name = "http"
	}
	compile := func(field, text string) *Path {
		if text == "" {
			return nil
		}
		p, err := ParsePath(text)
		if err != nil {
			problems = append(problems, field+": "+err.Error())
			return nil
		}
		return &p
	}
	s.jobs = compile("pending_jobs", cfg.PendingJobs)
	s.gpus = compile("pending_gpus", cfg.PendingGPUs)
	s.wait = compile("oldest_wait_seconds", cfg.OldestWaitSeconds)
	s.jobGPUs = compile("job_gpus", cfg.JobGPUs)
	s.jobWaits = compile("job_wait_seconds", cfg.JobWaitSeconds)
	s.jobCPUs = compile("job_cpus", cfg.JobCPUs)
	s.jobMem = compile("job_memory_gib", cfg.JobMemoryGiB)
	for _, f := range []struct{ name, path, what string }{
		{"job_wait_seconds", cfg.JobWaitSeconds, "each wait"},
		{"job_cpus", cfg.JobCPUs, "each CPU count"},
		{"job_memory_gib", cfg.JobMemoryGiB, "each memory size"},
	} {
		if f.path != "" && cfg.JobGPUs == "" {
			problems = append(problems, fmt.Sprintf("%s is set without job_gpus (%s belongs to a job of job_gpus: set both)", f.name, f.what))
		}
	}
	if cfg.PendingJobs == "" && cfg.PendingGPUs == "" && cfg.JobGPUs == "" {
		problems = append(problems, "none of pending_jobs, pending_gpus, job_gpus is set (want at least one field path)")
	}
	switch {
	case cfg.GPUsPerJob < 0 || cfg.GPUsPerJob > signals.MaxJobGPUs:
		problems = append(problems, fmt.Sprintf("gpus_per_job %d is out of range (want 1 to %d, or 0 when jobs ask different numbers)", cfg.GPUsPerJob, signals.MaxJobGPUs))
	case cfg.GPUsPerJob > 0 && cfg.JobGPUs != "":
		problems = append(problems, "gpus_per_job is set with job_gpus, which gives each job's GPUs: drop gpus_per_job")
	case cfg.GPUsPerJob > 0 && cfg.PendingJobs != "" && cfg.PendingGPUs != "":
		problems = append(problems, "gpus_per_job is set with both pending_jobs and pending_gpus: with gpus_per_job, pending_jobs gives the GPUs too; drop pending_gpus")
	}
	for k, v := range cfg.Headers {
		var missing []string
		v = envRef.ReplaceAllStringFunc(v, func(ref string) string {
			name := envRef.FindStringSubmatch(ref)[1]
			val, ok := s.lookupEnv(name)
			if !ok {
				missing = append(missing, name)
			}
			return val
		})
		if len(missing) > 0 {
			problems = append(problems, fmt.Sprintf("header %s uses %s, not set in the environment", k, strings.Join(missing, ", ")))
		}
		if msg := badHeader(k, v, cfg.Headers[k]); msg != "" {
			problems = append(problems, msg)
		}
		s.header.Set(k, v)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("http source %q: %s", s.name, strings.Join(problems, "; "))
	}
	if s.header.Get("Accept") == "" {
		s.header.Set("Accept", "application/json")
	}
	if s.client == nil {
		s.client = &nethttp.Client{Transport: nethttp.DefaultTransport.(*nethttp.Transport).Clone()}
	}
	// A redirect to another host would take the headers (a credential)
	// there, and pass its answer off as the url's.
	s.client = httpclient.Confine(s.client)
	return s, nil
}

// badHeader says what is wrong with a header net/http would refuse to
// send (every read then failed, "invalid header field value"), "" when
// nothing is; written is the value as configured, before ${VAR}s.
func badHeader(name, value, written string) string {
	if name == "" || strings.IndexFunc(name, func(r rune) bool { return !isTokenChar(r) }) >= 0 {
		return fmt.Sprintf("header name %q is not valid: want letters, digits and !#$%%&'*+-.^_`|~ only, such as Authorization", signals.Shorten(name, 60))
	}
	i := strings.IndexFunc(value, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f })
	if i < 0 {
		return ""
	}
	msg := fmt.Sprintf("header %s's value holds the control character %q at byte %d, which no request may carry", name, value[i], i)
	if refs := envRef.FindAllString(written, -1); len(refs) > 0 && !strings.ContainsAny(written, "\r\n") {
		msg += fmt.Sprintf(" (from %s: a secret made from a file keeps its last line break; remove it, e.g. with tr -d '\\n')", strings.Join(refs, ", "))
	}
	return msg
}

// isTokenChar reports whether r may be in a header name (RFC 9110 §5.6.2).
func isTokenChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r < 0x80 && strings.ContainsRune("!#$%&'*+-.^_`|~", r)
}

// Name identifies the source.
func (s *Source) Name() string { return s.name }

// Close closes idle connections.
func (s *Source) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// Error is a failed read.
type Error struct {
	Source string
	URL    string
	// Status is the HTTP status code, when the server answered.
	Status int
	Err    error
	// permanent marks failures that a retry within the same read cannot fix.
	permanent bool
	// retryAfter is how long a 429 or 503 answer asked to be left alone
	// (its Retry-After), when it said.
	retryAfter    time.Duration
	hasRetryAfter bool
}

func (e *Error) Error() string {
	return fmt.Sprintf("http source %q: GET %s: %v", e.Source, e.URL, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether retrying cannot help: a 4xx answer other than
// 408 and 429, or a document without the configured fields.
func (e *Error) Permanent() bool { return e.permanent }

// RetryAfter is how long, from the answer, a 429 or 503 answer asked not to
// be asked again (its Retry-After header, in seconds or as a date); false
// when it did not say, or said something that is neither.
func (e *Error) RetryAfter() (time.Duration, bool) { return e.retryAfter, e.hasRetryAfter }

// Demand GETs the URL once and reads the configured fields.
func (s *Source) Demand(ctx context.Context) (signals.Demand, error) {
	fail := func(status int, permanent bool, err error) (signals.Demand, error) {
		return signals.Demand{}, &Error{Source: s.name, URL: s.url, Status: status, Err: err, permanent: permanent}
	}
	req, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, s.url, nil)
	if err != nil {
		return fail(0, true, err)
	}
	req.Header = s.header.Clone()
	start := s.now()
	resp, err := s.client.Do(req)
	if err != nil {
		return fail(0, false, noAnswer(ctx, start, err))
	}
	defer resp.Body.Close()
	body, err := httpclient.ReadBody(resp.Body, resp.ContentLength, MaxBody)
	var tooLarge *httpclient.TooLargeError
	if err != nil && !errors.As(err, &tooLarge) {
		return fail(resp.StatusCode, false, fmt.Errorf("reading the body: %w", httpclient.Stopped(ctx, resp, len(body), start, s.now(), err)))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		c := resp.StatusCode
		permanent := c >= 400 && c < 500 && c != nethttp.StatusRequestTimeout && c != nethttp.StatusTooManyRequests
		e := &Error{Source: s.name, URL: s.url, Status: c, permanent: permanent,
			Err: fmt.Errorf("answered %s (want 2xx): %q", resp.Status, signals.Shorten(strings.TrimSpace(string(body)), 200))}
		if e.retryAfter, e.hasRetryAfter = httpclient.RetryAfter(resp, s.now()); e.hasRetryAfter {
			e.Err = fmt.Errorf("%w, asking to be retried after %s", e.Err, e.retryAfter)
		}
		return signals.Demand{}, e
	}
	if tooLarge != nil {
		return fail(resp.StatusCode, true, err)
	}
	// A byte order mark, as Windows tools write one before UTF-8 JSON, is
	// no part of the document (RFC 8259 §8.1 lets a reader ignore it): it
	// failed every read, "invalid character 'ï'".
	body = bytes.TrimPrefix(body, []byte("\ufeff"))
	if n := signals.JSONValues(body, MaxValues); n > MaxValues {
		return fail(resp.StatusCode, true, fmt.Errorf("body holds more than %d JSON values and keys, the most this source decodes (room for %d jobs' GPUs, waits, CPUs and memory)", MaxValues, signals.MaxListedJobs))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return fail(resp.StatusCode, false, fmt.Errorf("body is not JSON (%v): %q", err, signals.Shorten(strings.TrimSpace(string(body)), 200)))
	}
	// One document, as the command source reads one object: what follows
	// it (a second document, a log line) is not read past.
	if at := dec.InputOffset(); len(strings.TrimSpace(string(body[at:]))) > 0 {
		return fail(resp.StatusCode, false, fmt.Errorf("body has more after the JSON document at byte %d (want one JSON value): %q", at, signals.Shorten(strings.TrimSpace(string(body[at:])), 100)))
	}
	if err := signals.DuplicateKeyOn(body, s.reads); err != nil {
		return fail(resp.StatusCode, true, fmt.Errorf("body: %w", err))
	}
	d, err := s.read(doc)
	if err != nil {
		return fail(resp.StatusCode, true, err)
	}
	d.Source, d.Time = s.name, s.now()
	return d, nil
}

// noAnswer is err, a request that got no answer, saying when the read's
// deadline was when that is why: Go's words, 'Get "…": context deadline
// exceeded', say neither that no status line came nor how long it was
// waited for.
func noAnswer(ctx context.Context, start time.Time, err error) error {
	dl, ok := ctx.Deadline()
	if !ok || !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("no answer (not even its status line) before the read's deadline, %s after the request: %w", dl.Sub(start).Round(time.Millisecond), err)
}

// perJob reads the array at p, one value per job of job_gpus (what, in
// the singular and plural, says what a value is), each converted by conv,
// whose error follows "element i" after sep.
func perJob[T any](doc any, name string, p, jobGPUs *Path, jobs int, what [2]string, sep string, conv func(float64) (T, error)) ([]T, error) {
	v, err := p.lookup(doc)
	if err != nil {
		return nil, fmt.Errorf("%s (field path %s): %w", name, p, err)
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s (field path %s) is %s, want an array of numbers", name, p, describe(v))
	}
	if len(arr) != jobs {
		return nil, fmt.Errorf("%s (field path %s) has %d %s for %d jobs in job_gpus (field path %s); want one %s per job, in the same order",
			name, p, len(arr), what[1], jobs, jobGPUs, what[0])
	}
	out := make([]T, len(arr))
	for i, x := range arr {
		f, err := number(x)
		if err != nil {
			return nil, fmt.Errorf("%s (field path %s) element %d %w", name, p, i, err)
		}
		if out[i], err = conv(f); err != nil {
			return nil, fmt.Errorf("%s (field path %s) element %d%s%w", name, p, i, sep, err)
		}
	}
	return out, nil
}

// reads reports whether the value at path (as signals.KeyPath writes it)
// is a configured field's, or holds one.
func (s *Source) reads(path string) bool {
	for _, p := range []*Path{s.jobs, s.gpus, s.wait, s.jobGPUs, s.jobWaits, s.jobCPUs, s.jobMem} {
		if p != nil && slices.Contains(p.keyPaths(), path) {
			return true
		}
	}
	return false
}

func (s *Source) read(doc any) (signals.Demand, error) {
	var d signals.Demand
	field := func(name string, p *Path) (any, error) {
		v, err := p.lookup(doc)
		if err != nil {
			return nil, fmt.Errorf("%s (field path %s): %w", name, p, err)
		}
		return v, nil
	}
	if s.jobGPUs != nil {
		v, err := field("job_gpus", s.jobGPUs)
		if err != nil {
			return d, err
		}
		arr, ok := v.([]any)
		if !ok {
			return d, fmt.Errorf("job_gpus (field path %s) is %s, want an array of numbers", s.jobGPUs, describe(v))
		}
		if err := signals.ListLength(len(arr)); err != nil {
			return d, fmt.Errorf("job_gpus (field path %s) %w", s.jobGPUs, err)
		}
		d.JobGPUs = make([]int, len(arr))
		for i, x := range arr {
			n, err := count(x)
			if err != nil {
				return d, fmt.Errorf("job_gpus (field path %s) element %d %w", s.jobGPUs, i, err)
			}
			if n > signals.MaxJobGPUs {
				return d, fmt.Errorf("job_gpus (field path %s) element %d is %d GPUs, want at most %d for a job", s.jobGPUs, i, n, signals.MaxJobGPUs)
			}
			d.JobGPUs[i] = n
			d.PendingGPUs += n
		}
		d.PendingJobs, d.PendingGPUsKnown = len(arr), true
	}
	if s.jobWaits != nil {
		waits, err := perJob(doc, "job_wait_seconds", s.jobWaits, s.jobGPUs, len(d.JobGPUs), [2]string{"wait", "waits"}, ": ", signals.WaitSeconds)
		if err != nil {
			return d, err
		}
		d.JobWaits = waits
		if s.wait == nil {
			for _, w := range waits {
				d.OldestWait = max(d.OldestWait, w)
			}
			d.OldestWaitKnown = true
		}
	}
	if s.jobs != nil {
		v, err := field("pending_jobs", s.jobs)
		if err != nil {
			return d, err
		}
		if d.PendingJobs, err = count(v); err != nil {
			return d, fmt.Errorf("pending_jobs (field path %s) %w", s.jobs, err)
		}
	}
	if s.gpus != nil {
		v, err := field("pending_gpus", s.gpus)
		if err != nil {
			return d, err
		}
		if d.PendingGPUs, err = count(v); err != nil {
			return d, fmt.Errorf("pending_gpus (field path %s) %w", s.gpus, err)
		}
		d.PendingGPUsKnown = true
	}
	if s.wait != nil {
		v, err := field("oldest_wait_seconds", s.wait)
		if err != nil {
			return d, err
		}
		sec, err := number(v)
		if err != nil {
			return d, fmt.Errorf("oldest_wait_seconds (field path %s) %w", s.wait, err)
		}
		wait, err := signals.WaitSeconds(sec)
		if err != nil {
			return d, fmt.Errorf("oldest_wait_seconds (field path %s): %w", s.wait, err)
		}
		d.OldestWait, d.OldestWaitKnown = wait, true
	}
	if s.jobGPUs != nil {
		// Counts read beside the list (set apart from it, a total kept
		// elsewhere) must be the list's.
		var jobs, gpus *int
		if s.jobs != nil {
			jobs = &d.PendingJobs
		}
		if s.gpus != nil {
			gpus = &d.PendingGPUs
		}
		if err := signals.ListAgrees(d.JobGPUs, jobs, gpus); err != nil {
			return d, fmt.Errorf("job_gpus (field path %s): %w", s.jobGPUs, err)
		}
	}
	var cpus []int
	var mem []int64
	var err error
	if s.jobCPUs != nil {
		if cpus, err = perJob(doc, "job_cpus", s.jobCPUs, s.jobGPUs, len(d.JobGPUs), [2]string{"CPU count", "CPU counts"}, " ", signals.Count); err != nil {
			return d, err
		}
	}
	if s.jobMem != nil {
		if mem, err = perJob(doc, "job_memory_gib", s.jobMem, s.jobGPUs, len(d.JobGPUs), [2]string{"memory size", "memory sizes"}, " ", signals.MemoryMiB); err != nil {
			return d, err
		}
	}
	signals.FitJobs(&d, s.shapes, cpus, mem)
	return signals.SameSizeJobs(d, s.perJob), nil
}
