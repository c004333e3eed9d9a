package providers

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/utils/clock"
)

// Bucket is a token bucket as clouds publish their API throttling limits:
// it holds at most Burst tokens and refills at Rate tokens per second.
type Bucket struct {
	Burst int
	Rate  float64
}

// Pacer keeps a provider's calls under its cloud's published request
// buckets, client side, so that a burst of launches is slowed down before
// the cloud starts refusing it. Each named bucket is an independent token
// bucket; a provider decides which bucket (an action class, or a resource
// count such as instances launched) each call draws from. A nil *Pacer
// paces nothing. Pacer is safe for concurrent use.
type Pacer struct {
	limiters map[string]*rate.Limiter
	clock    clock.Clock
}

// PacerOption changes a Pacer.
type PacerOption func(*Pacer)

// WithPacerClock sets the clock buckets refill by and waits are timed on
// (clock.RealClock{} by default); tests pass a fake one.
func WithPacerClock(c clock.Clock) PacerOption { return func(p *Pacer) { p.clock = c } }

// NewPacer returns a Pacer with one full token bucket per entry of buckets.
// Entries with a non-positive Burst or Rate are left unpaced.
func NewPacer(buckets map[string]Bucket, opts ...PacerOption) *Pacer {
	p := &Pacer{limiters: make(map[string]*rate.Limiter, len(buckets)), clock: clock.RealClock{}}
	for _, o := range opts {
		o(p)
	}
	for name, b := range buckets {
		if b.Burst <= 0 || b.Rate <= 0 {
			continue
		}
		p.limiters[name] = rate.NewLimiter(rate.Limit(b.Rate), b.Burst)
	}
	return p
}

// Wait blocks until n tokens have been taken from the named bucket or ctx
// ends, whichever comes first. A request larger than the bucket is served
// in bucket-sized instalments. Buckets that were not configured are not
// paced. It returns ctx's error (wrapped) when ctx ends first, or when ctx's
// deadline would pass before the tokens are available.
func (p *Pacer) Wait(ctx context.Context, bucket string, n int) error {
	if p == nil {
		return nil
	}
	l, ok := p.limiters[bucket]
	if !ok {
		return nil
	}
	for n > 0 {
		take := min(n, l.Burst())
		if err := p.take(ctx, l, bucket, take); err != nil {
			return err
		}
		n -= take
	}
	return nil
}

// take waits on the pacer's clock until n (at most the burst) tokens of l
// are available, and takes them.
func (p *Pacer) take(ctx context.Context, l *rate.Limiter, bucket string, n int) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("waiting for %d %s tokens: %w", n, bucket, err)
	}
	now := p.clock.Now()
	r := l.ReserveN(now, n)
	if !r.OK() {
		return fmt.Errorf("waiting for %d %s tokens: more than the bucket's burst of %d", n, bucket, l.Burst())
	}
	delay := r.DelayFrom(now)
	if delay <= 0 {
		return nil
	}
	// A context's deadline is wall time, whatever clock paces.
	if dl, ok := ctx.Deadline(); ok && delay > time.Until(dl) {
		r.CancelAt(now)
		return fmt.Errorf("waiting for %d %s tokens: %w (they are %s away, past the deadline)", n, bucket, context.DeadlineExceeded, delay)
	}
	t := p.clock.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		r.CancelAt(p.clock.Now())
		return fmt.Errorf("waiting for %d %s tokens: %w", n, bucket, ctx.Err())
	}
}

// Buckets returns the buckets the pacer enforces.
func (p *Pacer) Buckets() map[string]Bucket {
	if p == nil {
		return nil
	}
	out := make(map[string]Bucket, len(p.limiters))
	for name, l := range p.limiters {
		out[name] = Bucket{Burst: l.Burst(), Rate: float64(l.Limit())}
	}
	return out
}
