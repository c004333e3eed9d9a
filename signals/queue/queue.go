// Package queue reads queue demand for the policy. Each demand source lives in
// its own package (slurm, redis, http, command, prometheus) and makes exactly
// one read per Demand call; this package wraps any of them with a per-call
// timeout and retries with capped exponential backoff, and builds the slurm,
// redis, http and command sources from configuration.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/signals"
)

// Clock is the time the wrapper sees: when a reading was taken and how
// long to wait between attempts. k8s.io/utils/clock's clocks (the real
// one by default, and clock/testing's fakes) satisfy it.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

// Defaults for Wrap, in one place.
const (
	DefaultTimeout   = 5 * time.Second
	DefaultAttempts  = 3
	DefaultBaseDelay = 200 * time.Millisecond
	DefaultMaxDelay  = 2 * time.Second
)

type options struct {
	timeout   time.Duration
	attempts  int
	baseDelay time.Duration
	maxDelay  time.Duration
	clock     Clock
	jitter    func() float64
	logger    *slog.Logger
}

func defaultOptions() options {
	return options{
		timeout:   DefaultTimeout,
		attempts:  DefaultAttempts,
		baseDelay: DefaultBaseDelay,
		maxDelay:  DefaultMaxDelay,
		clock:     clock.RealClock{},
		jitter:    rand.Float64,
		logger:    slog.New(slog.DiscardHandler),
	}
}

// Option changes how Wrap reads a source.
type Option func(*options)

// WithTimeout bounds each attempt; zero or negative means no per-attempt bound
// beyond the caller's context.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithAttempts sets how many times a read is tried in total (at least 1).
func WithAttempts(n int) Option {
	return func(o *options) {
		if n < 1 {
			n = 1
		}
		o.attempts = n
	}
}

// WithBackoff sets the delay before the first retry and its cap; the delay
// doubles after each failed attempt up to max.
func WithBackoff(base, max time.Duration) Option {
	return func(o *options) { o.baseDelay, o.maxDelay = base, max }
}

// WithClock injects the clock used for reading times and backoff waits.
func WithClock(c Clock) Option { return func(o *options) { o.clock = c } }

// WithJitter injects the random source for backoff jitter: a function
// returning a value in [0, 1). The default is math/rand/v2's Float64.
func WithJitter(f func() float64) Option { return func(o *options) { o.jitter = f } }

// WithLogger sets the logger for retried failures (silent by default).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Source is a DemandSource read with a per-attempt timeout and retries.
type Source struct {
	src  signals.DemandSource
	opts options

	mu sync.Mutex
	// held is the failure of a source that asked not to be read again
	// before held.RetryAt; nil when none did.
	held *Error
}

var _ signals.DemandSource = (*Source)(nil)

// Wrap returns src read with a per-attempt timeout and retries with capped
// exponential backoff and jitter.
func Wrap(src signals.DemandSource, opts ...Option) *Source {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	o.logger = o.logger.With("source", src.Name())
	return &Source{src: src, opts: o}
}

// Name is the wrapped source's name.
func (s *Source) Name() string { return s.src.Name() }

// Unwrap returns the wrapped source.
func (s *Source) Unwrap() signals.DemandSource { return s.src }

// permanent is implemented by errors that retrying cannot fix (a bad field
// path, a non-numeric value, a 4xx answer). Source packages mark such errors.
type permanent interface{ Permanent() bool }

// IsPermanent reports whether err says that retrying the read cannot help.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p) && p.Permanent()
}

// retryAfter is implemented by errors that say how long the source asked
// not to be read again (an HTTP answer's Retry-After).
type retryAfter interface {
	RetryAfter() (time.Duration, bool)
}

// askedToWait is how long err says the source asked not to be read again.
func askedToWait(err error) (time.Duration, bool) {
	var r retryAfter
	if errors.As(err, &r) {
		return r.RetryAfter()
	}
	return 0, false
}

// Error is a read that failed after every attempt. Its message is the last
// attempt's error (which names the source and the cause) and how many
// attempts were made.
type Error struct {
	// Source is the source's name.
	Source string
	// Attempts is how many reads were tried: 0 when the source had asked
	// not to be read again before RetryAt, still to come.
	Attempts int
	// Timeout is the per-attempt bound, when the last attempt hit it.
	Timeout time.Duration
	// RetryAt, when set, is when the source asked to be read again: past
	// the read's deadline, so it was not retried (or, with Attempts 0,
	// still to come, so it was not read).
	RetryAt time.Time
	// Err is the last attempt's error.
	Err error
}

func (e *Error) Error() string {
	msg := e.Err.Error()
	if e.Timeout > 0 {
		msg += fmt.Sprintf(" (attempt timed out after %s)", e.Timeout)
	}
	at := e.RetryAt.Format(time.RFC3339)
	switch {
	case e.Attempts == 0:
		return fmt.Sprintf("%s (not read again before %s, as it asked)", msg, at)
	case !e.RetryAt.IsZero():
		msg += fmt.Sprintf(" (not retried: it asked to be retried at %s, past this read's deadline)", at)
	}
	if e.Attempts == 1 {
		return msg
	}
	return fmt.Sprintf("%s (gave up after %d attempts)", msg, e.Attempts)
}

// Unwrap returns the last attempt's error.
func (e *Error) Unwrap() error { return e.Err }

// Demand reads the wrapped source. A failed attempt is retried after a
// backoff unless the error is permanent or ctx is done. A source that asked
// not to be read again for a while (an HTTP 429 or 503 with Retry-After) is
// not, neither in this read nor in later ones: where that is past ctx's
// deadline, the read fails at once, saying when it asked to be retried.
// The reading's Source and Time are filled in when the source left them
// empty.
func (s *Source) Demand(ctx context.Context) (signals.Demand, error) {
	s.mu.Lock()
	held := s.held
	s.mu.Unlock()
	if held != nil && s.opts.clock.Now().Before(held.RetryAt) {
		return signals.Demand{}, &Error{Source: held.Source, RetryAt: held.RetryAt, Err: held.Err}
	}
	var last error
	attempt := 0
	for attempt < s.opts.attempts {
		attempt++
		d, err, timedOut := s.once(ctx)
		if err == nil {
			if d.Source == "" {
				d.Source = s.src.Name()
			}
			if d.Time.IsZero() {
				d.Time = s.opts.clock.Now()
			}
			return d, nil
		}
		e := &Error{Source: s.src.Name(), Attempts: attempt, Err: err}
		if timedOut {
			e.Timeout = s.opts.timeout
		}
		last = e
		if ctx.Err() != nil || IsPermanent(err) {
			break
		}
		delay := s.delay(attempt)
		if wait, asked := askedToWait(err); asked {
			at := s.opts.clock.Now().Add(wait)
			s.mu.Lock()
			s.held = &Error{Source: e.Source, RetryAt: at, Err: err}
			s.mu.Unlock()
			delay = max(delay, wait)
			if dl, ok := ctx.Deadline(); ok && attempt < s.opts.attempts && delay >= time.Until(dl) {
				e.RetryAt = at
				break
			}
		}
		if attempt == s.opts.attempts {
			break
		}
		s.opts.logger.Debug("demand read failed; retrying", "attempt", attempt, "retry_in", delay, "err", err)
		select {
		case <-ctx.Done():
			return signals.Demand{}, last
		case <-s.opts.clock.After(delay):
		}
	}
	return signals.Demand{}, last
}

func (s *Source) once(ctx context.Context) (signals.Demand, error, bool) {
	if s.opts.timeout <= 0 {
		d, err := s.src.Demand(ctx)
		return d, err, false
	}
	actx, cancel := context.WithTimeout(ctx, s.opts.timeout)
	defer cancel()
	d, err := s.src.Demand(actx)
	timedOut := err != nil && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded)
	return d, err, timedOut
}

// delay is the wait after the given failed attempt (1-based): base·2^(n-1)
// capped at max, then "equal jitter": half of it fixed, half drawn at random,
// so that many servers retrying one queue spread out.
func (s *Source) delay(attempt int) time.Duration {
	d := s.opts.baseDelay
	for i := 1; i < attempt && d < s.opts.maxDelay; i++ {
		d *= 2
	}
	if d > s.opts.maxDelay {
		d = s.opts.maxDelay
	}
	if d <= 0 {
		return 0
	}
	half := d / 2
	return half + time.Duration(s.opts.jitter()*float64(d-half))
}
