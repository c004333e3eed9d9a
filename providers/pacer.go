package providers

import (
	"context"
	"fmt"

	"golang.org/x/time/rate"
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
}

// NewPacer returns a Pacer with one full token bucket per entry of buckets.
// Entries with a non-positive Burst or Rate are left unpaced.
func NewPacer(buckets map[string]Bucket) *Pacer {
	p := &Pacer{limiters: make(map[string]*rate.Limiter, len(buckets))}
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
		if err := l.WaitN(ctx, take); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("waiting for %d %s tokens: %w", take, bucket, ctx.Err())
			}
			return fmt.Errorf("waiting for %d %s tokens: %w (%w)", take, bucket, context.DeadlineExceeded, err)
		}
		n -= take
	}
	return nil
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
