package queue

import (
	"context"
	"sync"

	"github.com/spillway-io/spillway/signals"
)

// Baseline is a baseline source held to the rule Source holds a demand
// source to: one that answered 429 or 503 with a Retry-After (a
// promapi.BusyError) is not asked again before the time it named; a read
// before then fails at once with an *Error of no attempts saying when. It
// does not retry within a read: the next tick reads it again. The
// Prometheus baseline had no such hold and was asked every tick.
type Baseline struct {
	src   signals.BaselineSource
	clock Clock

	mu   sync.Mutex
	held *Error // nil when the source has not asked to wait
}

var _ signals.BaselineSource = (*Baseline)(nil)

// HoldBaseline returns src held off as its answers ask.
func HoldBaseline(src signals.BaselineSource, c Clock) *Baseline {
	return &Baseline{src: src, clock: c}
}

// Name is the wrapped source's name.
func (b *Baseline) Name() string { return b.src.Name() }

// Unwrap returns the wrapped source.
func (b *Baseline) Unwrap() signals.BaselineSource { return b.src }

// Baseline reads the wrapped source unless it asked not to be read yet.
func (b *Baseline) Baseline(ctx context.Context) (signals.Baseline, error) {
	b.mu.Lock()
	held := b.held
	b.mu.Unlock()
	if held != nil && b.clock.Now().Before(held.RetryAt) {
		return signals.Baseline{}, &Error{Source: held.Source, RetryAt: held.RetryAt, Err: held.Err}
	}
	base, err := b.src.Baseline(ctx)
	var next *Error
	if wait, asked := askedToWait(err); asked && err != nil {
		next = &Error{Source: b.src.Name(), RetryAt: b.clock.Now().Add(wait), Err: err}
	}
	b.mu.Lock()
	b.held = next
	b.mu.Unlock()
	return base, err
}
