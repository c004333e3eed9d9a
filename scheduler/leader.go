package scheduler

import (
	"context"
	"strconv"
	"time"
)

// Leader says whether this server may act (launch, drain, terminate,
// sweep) now, and under which epoch of the leader lease. Several servers
// sharing one database each run a scheduler; only the one whose Leader
// answers ok acts, the others stay idle until they take the lease. The
// state store the scheduler writes through is fenced by the same lease (a
// write of a deposed leader fails in the database), so Acting is the fast
// path and the fence the guarantee.
//
// Term must turn ok false on its own, before the lease can expire, when
// the lease cannot be renewed; until is the latest moment this term may act
// unless renewed. Every mutating call runs under a context that ends then,
// so a call held back (a client-side rate limit, a loaded machine) is
// abandoned rather than sent after another server began to act.
type Leader interface {
	Term() (epoch int64, until time.Time, ok bool)
}

// LeaderPools is what a Leader may also say, for a follower's count of
// the instances of pools the leader's config lacks: the pools of the
// leader's config, as it recorded them with its term (ok false when none
// leads, it recorded none, or that cannot be read now).
type LeaderPools interface {
	LeaderPools(ctx context.Context) (pools []string, ok bool)
}

// TagEpoch is the tag of every launch made under a leader lease: the epoch
// of the term that wrote the launch's intent. A resumed intent carries that
// epoch too, not the resuming term's: a retry under the same client token
// must repeat the first request's parameters, or the cloud refuses it
// (IdempotentParameterMismatch).
const TagEpoch = "spillway:epoch"

// acting reports whether this scheduler may act now (always, without a
// Leader) and its epoch (0 without a Leader); when it does, ctx is marked
// so that the state calls made on it end with the term (withTerm).
func (s *Scheduler) acting(ctx context.Context) (_ context.Context, epoch int64, ok bool) {
	if s.opts.Leader == nil {
		return ctx, 0, true
	}
	epoch, until, ok := s.opts.Leader.Term()
	if !ok {
		return ctx, 0, false
	}
	return withTerm(ctx, s.opts.Leader, until), epoch, true
}

// actingCtx is ctx bounded to provider's call timeout (callCtx; "" for a
// drain hook: CallTimeout) and by the end of this server's term as it
// stands now (a renewal during the call does not extend it), for one
// mutating call; ok is false when it does not act now.
func (s *Scheduler) actingCtx(ctx context.Context, provider string) (_ context.Context, cancel context.CancelFunc, epoch int64, ok bool) {
	if s.opts.Leader == nil {
		cctx, ccancel := s.callCtx(ctx, provider)
		return cctx, ccancel, 0, true
	}
	epoch, until, ok := s.opts.Leader.Term()
	if !ok {
		return ctx, func() {}, 0, false
	}
	cctx, ccancel := s.callCtx(ctx, provider)
	dctx, dcancel := context.WithDeadline(cctx, until)
	return dctx, func() { dcancel(); ccancel() }, epoch, true
}

// epochTag is the value of TagEpoch for epoch.
func epochTag(epoch int64) string { return strconv.FormatInt(epoch, 10) }

// notLeading is the outcome of a step skipped because the server stopped
// leading in the middle of a tick.
const notLeading = "held: this server no longer leads; the leader takes it over"
