package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/state"
)

// Elector keeps one server's side of a leader lease: it takes the lease
// when it is free, renews it every renew interval, and says at every moment
// whether this server may act (Acting, Term). A leader that cannot renew
// stops acting on its own, a fifth of the TTL before its term could end by
// the database's clock: the term ends at (database's time of the renewal) +
// TTL, and the elector counts from the moment before it sent the renewal,
// on the monotonic clock, so it always stops first.
type Elector struct {
	lease *Lease
	renew time.Duration
	clock clock.WithTicker
	log   *slog.Logger

	mu      sync.Mutex
	epoch   int64
	leading bool
	until   time.Time // acting until (monotonic)
	err     error     // the last lease call's failure; nil once one succeeds
	cause   error     // the last failure not cut by its own deadline (cutError)
	ended   TermEnd   // how the last term ended; zero before one did
	// takerAsked: the term after ended was looked up (learnTaker).
	takerAsked bool
	onLead     func(epoch int64)
}

// TermEnd says how a term of this server ended, for an operator asking a
// server that no longer leads why (the lease block of /readyz).
type TermEnd struct {
	Epoch int64
	At    time.Time // on the elector's clock
	Why   string    // what ended it, in words
	Err   error     // the renewals' failure when they failed (Why says it)
	By    string    // the holder that took the lease, when one did
}

// cutError is a lease call that ran out of time (its deadline, the end of
// the term it renews) after the call before it failed for a reason of its
// own: that reason is still why, and errors.Is and errors.As find it. A
// renewal that cannot be answered in the time its term has left said only
// "context deadline exceeded", and Err named no cause at the very moment
// the term ended, when a caller asks it why.
type cutError struct{ err, cause error }

func (e *cutError) Error() string {
	return e.err.Error() + "; the lease call before it failed: " + e.cause.Error()
}

func (e *cutError) Unwrap() []error { return []error{e.err, e.cause} }

// OnLead sets f to be called (on the elector's goroutine: it must not
// block) each time this server begins a term, e.g. to act at once rather
// than at its next tick.
func (e *Elector) OnLead(f func(epoch int64)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.onLead = f
}

// NewElector returns an elector renewing l every renew (less than half the
// TTL). A nil clock is the wall clock; a nil logger is silent.
func NewElector(l *Lease, renew time.Duration, c clock.WithTicker, log *slog.Logger) *Elector {
	if c == nil {
		c = clock.RealClock{}
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Elector{lease: l, renew: renew, clock: c, log: log.WithGroup("lease")}
}

// Acting reports whether this server holds the lease now, and its epoch.
func (e *Elector) Acting() (epoch int64, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.leading && e.clock.Now().Before(e.until) {
		return e.epoch, true
	}
	return 0, false
}

// Term reports whether this server holds the lease now, its epoch, and
// the moment it stops acting unless it renews first, on the process's own
// clock (time.Now, monotonic), as its callers use it: in context deadlines
// and against time.Now. The elector counts its term on its injected clock;
// handed on as that clock read it, a clock that is not time.Now (skewed,
// or a fake one) made the end off by as much: 30s ahead, a leader's calls
// bounded by its term outlived it by 30s; 30s behind, a server that took
// the lease found every call's deadline already passed.
func (e *Elector) Term() (epoch int64, until time.Time, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock.Now()
	if e.leading && now.Before(e.until) {
		return e.epoch, time.Now().Add(e.until.Sub(now)), true
	}
	return 0, time.Time{}, false
}

// Err is why the last call on the lease failed (a *ReadOnlyError while
// the database takes no writes: errors.Is(err, state.ErrNoWrites)), nil
// once a call succeeds: what a caller whose term ended may say of why. A
// call that only ran out of time after one that failed otherwise says
// both (the cause kept).
func (e *Elector) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// LastTerm says how this server's last term ended; ok is false while it
// leads, or when it never led.
func (e *Elector) LastTerm() (TermEnd, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.leading && e.clock.Now().Before(e.until):
		return TermEnd{}, false
	case e.leading: // over; the next step steps down
		return e.ranOut(e.epoch, e.until), true
	}
	return e.ended, !e.ended.At.IsZero()
}

// ranOut is the end of the term at epoch, which ran out at until before
// a renewal landed: the renewals' failure (Err) is why. e.mu is held.
func (e *Elector) ranOut(epoch int64, until time.Time) TermEnd {
	end := TermEnd{Epoch: epoch, At: until, Why: "the term ran out before it could be renewed", Err: e.err}
	if e.err != nil {
		end.Why = "its renewals failed until the term ran out: " + e.err.Error()
	}
	return end
}

// failed notes the outcome of a call on the lease made on ctx (Err): a
// call cut by ctx's deadline after another failure keeps that one as its
// cause.
func (e *Elector) failed(ctx context.Context, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case err == nil:
		e.err, e.cause = nil, nil
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil && e.cause != nil:
		e.err = &cutError{err: err, cause: e.cause}
	default:
		e.err, e.cause = err, err
	}
}

// Holder is this server's name on the lease.
func (e *Elector) Holder() string { return e.lease.holder }

// Info reads the lease from the database (who leads, at which epoch).
func (e *Elector) Info(ctx context.Context) (LeaseInfo, error) { return e.lease.Info(ctx) }

// margin is how long before its computed end a term stops acting.
func (e *Elector) margin() time.Duration { return e.lease.ttl / 5 }

// Step runs one round: renew the term held, or try to take the lease.
func (e *Elector) Step(ctx context.Context) {
	e.mu.Lock()
	leading, epoch, until := e.leading, e.epoch, e.until
	e.mu.Unlock()
	start := e.clock.Now()
	if leading {
		if !start.Before(until) {
			e.mu.Lock()
			end := e.ranOut(epoch, until)
			e.mu.Unlock()
			e.stepDown(end)
		} else {
			// No renewal may outlive the term it renews.
			rctx, cancel := context.WithTimeout(ctx, until.Sub(start))
			ok, err := e.lease.Renew(rctx, epoch)
			e.failed(rctx, err)
			cancel()
			switch {
			case errors.Is(err, state.ErrSchemaTooNew):
				// A newer binary migrated the database: hand over to it at
				// once rather than write into a schema this one does not know.
				e.stepDown(TermEnd{Epoch: epoch, Why: err.Error(), Err: err})
				e.releaseTerm(ctx, epoch)
			case err != nil:
				e.log.Warn("could not renew the lease; acting until the term would end", "epoch", epoch, "err", err)
				return
			case !ok:
				e.stepDown(e.lost(ctx, epoch))
			default:
				e.mu.Lock()
				e.until = start.Add(e.lease.ttl - e.margin())
				e.mu.Unlock()
				return
			}
		}
	}
	actx, cancel := context.WithTimeout(ctx, e.lease.ttl)
	epoch, ok, err := e.lease.Acquire(actx)
	e.failed(actx, err)
	cancel()
	if err != nil {
		e.log.Warn("could not try the lease", "err", err)
		return
	}
	if !ok {
		e.learnTaker(ctx)
		return
	}
	e.mu.Lock()
	e.leading, e.epoch, e.until = true, epoch, start.Add(e.lease.ttl-e.margin())
	onLead := e.onLead
	e.mu.Unlock()
	e.log.Info("took the lease: this server leads", "holder", e.lease.holder, "epoch", epoch)
	if onLead != nil {
		onLead(epoch)
	}
}

func (e *Elector) stepDown(end TermEnd) {
	if end.At.IsZero() {
		end.At = e.clock.Now()
	}
	e.mu.Lock()
	e.leading = false
	e.ended, e.takerAsked = end, false
	e.mu.Unlock()
	e.log.Warn("stopped leading", "holder", e.lease.holder, "epoch", end.Epoch, "why", end.Why)
}

// learnTaker names, in the last term's end, the server that took the
// lease after it, when the end did not say (its renewals failed, so no
// renewal read who held the lease next): once another server holds the
// lease (Acquire refused), the term after this server's is recorded. It
// asks once per term ended.
func (e *Elector) learnTaker(ctx context.Context) {
	e.mu.Lock()
	end, asked := e.ended, e.takerAsked
	e.takerAsked = true
	e.mu.Unlock()
	if end.Epoch == 0 || end.By != "" || asked {
		return
	}
	tctx, cancel := context.WithTimeout(ctx, e.lease.ttl/2)
	defer cancel()
	t, ok, err := e.lease.TermAt(tctx, end.Epoch+1)
	if err != nil {
		e.log.Warn("could not read who took the lease after this server's term", "epoch", end.Epoch, "err", err)
		e.mu.Lock()
		e.takerAsked = false // the next round asks again
		e.mu.Unlock()
		return
	}
	if !ok || t.Holder == e.lease.holder {
		return
	}
	e.mu.Lock()
	if e.ended.Epoch == end.Epoch && e.ended.By == "" {
		e.ended.By = t.Holder
	}
	e.mu.Unlock()
}

// lost is the end of the term at epoch, which a renewal found over in the
// database: taken by another server (who, read from the lease), or
// expired there before the renewal came.
func (e *Elector) lost(ctx context.Context, epoch int64) TermEnd {
	end := TermEnd{Epoch: epoch, Why: "the lease was lost: it expired in the database before it was renewed"}
	ictx, cancel := context.WithTimeout(ctx, e.lease.ttl/2)
	defer cancel()
	li, err := e.lease.Info(ictx)
	if err == nil && li.Live && li.Holder != e.lease.holder && li.Epoch > epoch {
		end.By = li.Holder
		end.Why = fmt.Sprintf("the lease was lost to %s (epoch %d)", li.Holder, li.Epoch)
	}
	return end
}

// Run steps at once and then every renew interval until ctx ends; then it
// releases a term it holds, so a follower takes over at once.
func (e *Elector) Run(ctx context.Context) {
	t := e.clock.NewTicker(e.renew)
	defer t.Stop()
	for {
		e.Step(ctx)
		select {
		case <-ctx.Done():
			e.release()
			return
		case <-t.C():
		}
	}
}

func (e *Elector) release() {
	e.mu.Lock()
	leading, epoch := e.leading, e.epoch
	e.leading = false
	e.mu.Unlock()
	if !leading {
		return
	}
	e.releaseTerm(context.Background(), epoch)
}

// releaseTerm ends the term at epoch in the database, so a follower takes
// over at once.
func (e *Elector) releaseTerm(ctx context.Context, epoch int64) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := e.lease.Release(ctx, epoch); err != nil {
		e.log.Warn("could not release the lease; followers wait for it to expire", "epoch", epoch, "err", err)
		return
	}
	e.log.Info("released the lease", "holder", e.lease.holder, "epoch", epoch)
}
