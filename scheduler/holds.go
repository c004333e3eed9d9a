package scheduler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/state"
)

// holdUnused holds out of the pool's launches, for policy.UnusedHold, the
// offerings whose instances the plan drains because the queue leaves them
// idle. Each hold is stored, so that a restart or the next leader keeps it
// and followers show it (saveHolds, at the tick's end).
func (s *Scheduler) holdUnused(t *tick, keys []policy.OfferingKey) {
	pr := t.pr
	for _, k := range keys {
		until := t.now.Add(policy.UnusedHold)
		if cur, ok := pr.unused[k]; !ok || until.After(cur) {
			pr.unused[k] = until
		}
		name := pr.spec.Policy.OfferingName(k)
		reason := fmt.Sprintf("offering %s left unused by the queue: not launched until %s", name, until.UTC().Format(time.RFC3339))
		pr.unsavedHolds = append(pr.unsavedHolds, state.Hold{Pool: pr.spec.Policy.Name, Provider: k.Provider, Region: k.Region,
			Zone: k.Zone, InstanceType: k.InstanceType, Market: string(k.Market), At: t.now, Until: until, Reason: reason})
		s.metrics.unused.WithLabelValues(pr.spec.Policy.Name, name).Inc()
		t.rec.Notes = append(t.rec.Notes, reason)
		s.log.Warn("offering left unused by the queue: pending jobs that seem to fit its instances do not start there", "pool", pr.spec.Policy.Name,
			"offering", name, "held_until", until)
	}
}

// saveHolds stores the holds not stored yet. A hold the store refuses as
// invalid is dropped (it never would be stored); another failure keeps the
// rest, the newest maxUnsavedHolds, for the next tick.
func (s *Scheduler) saveHolds(ctx context.Context, t *tick) {
	pr := t.pr
	if n := len(pr.unsavedHolds) - maxUnsavedHolds; n > 0 {
		pr.unsavedHolds = slices.Delete(pr.unsavedHolds, 0, n)
	}
	for len(pr.unsavedHolds) > 0 {
		h := pr.unsavedHolds[0]
		switch err := s.opts.Store.PutHold(ctx, h); {
		case errors.Is(err, state.ErrInvalid):
			s.log.Warn("hold not stored: the store refused it", "pool", h.Pool, "provider", h.Provider, "instance_type", h.InstanceType, "err", err)
		case err != nil:
			s.log.Warn("storing a hold failed; retried at the next tick", "pool", h.Pool, "provider", h.Provider, "instance_type", h.InstanceType, "err", err)
			return
		}
		pr.unsavedHolds = pr.unsavedHolds[1:]
	}
	pr.unsavedHolds = nil
}

// maxUnsavedHolds bounds the holds a failing store leaves for later.
const maxUnsavedHolds = 256

// seedHolds reads back the pool's holds still live at now, with those this
// server has not stored yet.
func (s *Scheduler) seedHolds(ctx context.Context, pr *poolRun, now time.Time) error {
	hs, err := s.opts.Store.Holds(ctx, pr.spec.Policy.Name, now)
	if err != nil {
		return fmt.Errorf("read the offerings held out of launches: %w", err)
	}
	pr.unused = make(map[policy.OfferingKey]time.Time, len(hs))
	for _, h := range append(hs, pr.unsavedHolds...) {
		k := h.Key()
		if cur, ok := pr.unused[k]; !ok || h.Until.After(cur) {
			pr.unused[k] = h.Until
		}
	}
	return nil
}

// liveHolds is a copy of the pool's holds not lapsed at now, for the
// snapshot (which the API reads while the next tick runs); it forgets the
// lapsed ones.
func (pr *poolRun) liveHolds(now time.Time) map[policy.OfferingKey]time.Time {
	out := make(map[policy.OfferingKey]time.Time, len(pr.unused))
	for k, until := range pr.unused {
		if !now.Before(until) {
			delete(pr.unused, k)
			continue
		}
		out[k] = until
	}
	return out
}
