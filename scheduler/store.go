package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spillway-io/spillway/state"
)

// boundedStore gives every call to the state its own deadline, so a slow
// cloud call earlier in a tick cannot use up the time of the state writes
// after it (the tick's own context carries no deadline; see detached). A
// call made for a leader's tick or sweep (a context withTerm marked) also
// ends with the leader's term as it stands when the call begins, as its
// cloud calls do (actingCtx): a leader cut off from its database stops
// acting when its term ends, and its tick, waiting on calls that cannot
// be answered, ends then too instead of holding the pool for the call
// timeout of each call in turn.
type boundedStore struct {
	st      state.Store
	timeout time.Duration
}

var _ state.Store = boundedStore{}

func bound[T any](b boundedStore, ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	v, err := f(ctx)
	return v, termErr(ctx, err)
}

func bound0(b boundedStore, ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := b.callCtx(ctx)
	defer cancel()
	return termErr(ctx, f(ctx))
}

// callCtx is ctx bounded to the call timeout and, for a leader's call, to
// its term (ended at once when the term is over).
func (b boundedStore) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	tb, ok := ctx.Value(termKey{}).(*termBound)
	if !ok {
		return ctx, cancel
	}
	until, _ := tb.end()
	tctx, tcancel := context.WithDeadlineCause(ctx, until, errTermOver)
	return tctx, func() { tcancel(); cancel() }
}

// termErr names the leader's term in the error of a call it ended.
func termErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && errors.Is(context.Cause(ctx), errTermOver) && !errors.Is(err, errTermOver) {
		return fmt.Errorf("%w (%w)", err, errTermOver)
	}
	return err
}

// errTermOver is the cause of a leader's state call ended by its term.
var errTermOver = errors.New("this server's leader term ended: the call was given up, the next leader reads and writes the state")

// termKey marks the context of a leader's tick or sweep (withTerm).
type termKey struct{}

// termBound is the end of a leader's term for its state calls: the end
// its tick or sweep began with, asked again of the Leader only once that
// has passed (a renewal extends it), so the calls of a healthy tick do not
// each ask.
type termBound struct {
	leader Leader
	mu     sync.Mutex
	until  time.Time
}

// end is the end of the term as it stands now; ok is false, and until
// the zero time (a deadline passed), once it is over.
func (tb *termBound) end() (until time.Time, ok bool) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if time.Now().Before(tb.until) {
		return tb.until, true
	}
	_, until, ok = tb.leader.Term()
	if !ok {
		return time.Time{}, false
	}
	tb.until = until
	return until, true
}

// withTerm marks ctx as a leader's under l's term ending at until (as the
// tick's or sweep's check found it): the state calls made on it (and on
// contexts derived from it, detached ones included) end with the term.
// Without a Leader it is ctx.
func withTerm(ctx context.Context, l Leader, until time.Time) context.Context {
	if l == nil {
		return ctx
	}
	return context.WithValue(ctx, termKey{}, &termBound{leader: l, until: until})
}

func (b boundedStore) CreateIntent(ctx context.Context, in state.Intent) error {
	return bound0(b, ctx, func(ctx context.Context) error { return b.st.CreateIntent(ctx, in) })
}

func (b boundedStore) FinishIntent(ctx context.Context, id string, status state.IntentStatus, ids []string, msg string, at time.Time) error {
	return bound0(b, ctx, func(ctx context.Context) error { return b.st.FinishIntent(ctx, id, status, ids, msg, at) })
}

func (b boundedStore) Intents(ctx context.Context, f state.IntentFilter) ([]state.Intent, error) {
	return bound(b, ctx, func(ctx context.Context) ([]state.Intent, error) { return b.st.Intents(ctx, f) })
}

func (b boundedStore) PutInstance(ctx context.Context, in state.Instance) error {
	return bound0(b, ctx, func(ctx context.Context) error { return b.st.PutInstance(ctx, in) })
}

func (b boundedStore) PutInstances(ctx context.Context, ins []state.Instance) error {
	return bound0(b, ctx, func(ctx context.Context) error { return b.st.PutInstances(ctx, ins) })
}

func (b boundedStore) Instances(ctx context.Context, f state.InstanceFilter) ([]state.Instance, error) {
	return bound(b, ctx, func(ctx context.Context) ([]state.Instance, error) { return b.st.Instances(ctx, f) })
}

func (b boundedStore) CreateFloor(ctx context.Context, fl state.Floor) error {
	return bound0(b, ctx, func(ctx context.Context) error { return b.st.CreateFloor(ctx, fl) })
}

func (b boundedStore) EndFloor(ctx context.Context, id string, at time.Time, reason string) error {
	return bound0(b, ctx, func(ctx context.Context) error { return b.st.EndFloor(ctx, id, at, reason) })
}

func (b boundedStore) SetFloorGPUs(ctx context.Context, id string, gpus int, reason string) error {
	return bound0(b, ctx, func(ctx context.Context) error { return b.st.SetFloorGPUs(ctx, id, gpus, reason) })
}

func (b boundedStore) Floor(ctx context.Context, id string) (state.Floor, error) {
	return bound(b, ctx, func(ctx context.Context) (state.Floor, error) { return b.st.Floor(ctx, id) })
}

func (b boundedStore) FloorByKey(ctx context.Context, owner, key string) (state.Floor, error) {
	return bound(b, ctx, func(ctx context.Context) (state.Floor, error) { return b.st.FloorByKey(ctx, owner, key) })
}

func (b boundedStore) Floors(ctx context.Context, f state.FloorFilter) ([]state.Floor, error) {
	return bound(b, ctx, func(ctx context.Context) ([]state.Floor, error) { return b.st.Floors(ctx, f) })
}

func (b boundedStore) AddDecision(ctx context.Context, d state.Decision) (int64, error) {
	return bound(b, ctx, func(ctx context.Context) (int64, error) { return b.st.AddDecision(ctx, d) })
}

func (b boundedStore) Decisions(ctx context.Context, f state.DecisionFilter) ([]state.Decision, error) {
	return bound(b, ctx, func(ctx context.Context) ([]state.Decision, error) { return b.st.Decisions(ctx, f) })
}

func (b boundedStore) RecordSpend(ctx context.Context, e state.SpendEntry) error {
	return bound0(b, ctx, func(ctx context.Context) error { return b.st.RecordSpend(ctx, e) })
}

func (b boundedStore) RecordSpends(ctx context.Context, es []state.SpendEntry) error {
	return bound0(b, ctx, func(ctx context.Context) error { return b.st.RecordSpends(ctx, es) })
}

func (b boundedStore) Spend(ctx context.Context, pool string, periodStart time.Time) (float64, error) {
	return bound(b, ctx, func(ctx context.Context) (float64, error) { return b.st.Spend(ctx, pool, periodStart) })
}

func (b boundedStore) AddIdleGaps(ctx context.Context, gs []state.IdleGap) error {
	return bound0(b, ctx, func(ctx context.Context) error { return b.st.AddIdleGaps(ctx, gs) })
}

func (b boundedStore) IdleGaps(ctx context.Context, pool string, perOffering int) ([]state.IdleGap, error) {
	return bound(b, ctx, func(ctx context.Context) ([]state.IdleGap, error) { return b.st.IdleGaps(ctx, pool, perOffering) })
}

func (b boundedStore) PutHold(ctx context.Context, h state.Hold) error {
	return bound0(b, ctx, func(ctx context.Context) error { return b.st.PutHold(ctx, h) })
}

func (b boundedStore) Holds(ctx context.Context, pool string, at time.Time) ([]state.Hold, error) {
	return bound(b, ctx, func(ctx context.Context) ([]state.Hold, error) { return b.st.Holds(ctx, pool, at) })
}

func (b boundedStore) PutUnavailable(ctx context.Context, u state.Unavailable) error {
	return bound0(b, ctx, func(ctx context.Context) error { return b.st.PutUnavailable(ctx, u) })
}

func (b boundedStore) Unavailable(ctx context.Context, at time.Time) ([]state.Unavailable, error) {
	return bound(b, ctx, func(ctx context.Context) ([]state.Unavailable, error) { return b.st.Unavailable(ctx, at) })
}

func (b boundedStore) DeleteUnavailable(ctx context.Context, u state.Unavailable) error {
	return bound0(b, ctx, func(ctx context.Context) error { return b.st.DeleteUnavailable(ctx, u) })
}

func (b boundedStore) NoteSighting(ctx context.Context, g state.Sighting) error {
	return bound0(b, ctx, func(ctx context.Context) error { return b.st.NoteSighting(ctx, g) })
}

func (b boundedStore) Sightings(ctx context.Context, provider string) ([]state.Sighting, error) {
	return bound(b, ctx, func(ctx context.Context) ([]state.Sighting, error) { return b.st.Sightings(ctx, provider) })
}

func (b boundedStore) DeleteSighting(ctx context.Context, provider, id string) error {
	return bound0(b, ctx, func(ctx context.Context) error { return b.st.DeleteSighting(ctx, provider, id) })
}

func (b boundedStore) AddAudit(ctx context.Context, e state.AuditEntry) (int64, error) {
	return bound(b, ctx, func(ctx context.Context) (int64, error) { return b.st.AddAudit(ctx, e) })
}

func (b boundedStore) Audit(ctx context.Context, f state.AuditFilter) ([]state.AuditEntry, error) {
	return bound(b, ctx, func(ctx context.Context) ([]state.AuditEntry, error) { return b.st.Audit(ctx, f) })
}

// Prune is bounded by the call timeout only, not by the leader's term: it
// deletes history out of the retention, which any server may do, and on a
// big table it may take longer than a term.
func (b boundedStore) Prune(ctx context.Context, before time.Time) (state.Pruned, error) {
	ctx = context.WithValue(ctx, termKey{}, nil)
	return bound(b, ctx, func(ctx context.Context) (state.Pruned, error) { return b.st.Prune(ctx, before) })
}

func (b boundedStore) Close() error { return b.st.Close() }
