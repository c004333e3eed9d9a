package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/state"
)

// Sweep ends instances carrying this cluster's tag that no state row and no
// intent of a configured pool claims, once they are older than the sweep
// grace. Instances of another cluster, or without Spillway's tags, are never
// listed by providers and so never touched.
func (s *Scheduler) Sweep(ctx context.Context) error {
	ctx, _, ok := s.acting(ctx)
	if !ok {
		return nil // a follower: the leader sweeps
	}
	cctx := detached(ctx) // each call bounds itself: one that hangs delays the sweep, not fails it
	now := s.clock.Now()
	// An ended row claims its instance for the sweep grace after its end
	// and no longer: the rows ended before are not read (a long-lived
	// server holds the retention's worth of them).
	rows, err := s.opts.Store.Instances(cctx, state.InstanceFilter{Live: true, EndedSince: now.Add(-s.opts.SweepGrace)})
	if err != nil {
		return fmt.Errorf("sweep: instances: %w", err)
	}
	// Rows claim their instances for their pools; the open row of a pool the
	// config no longer has claims nothing (no pool ticks, drains or ends
	// it): its instance is swept sweep_grace after this server first saw it
	// so, and its row ended.
	claimed := make(map[string]state.Instance, len(rows))
	orphans := make(map[string]state.Instance)
	for _, r := range rows {
		key := r.Provider + "/" + r.ID
		if _, ok := s.pools[r.Pool]; !ok && r.State != state.InstanceEnded {
			orphans[key] = r
			continue
		}
		claimed[key] = r
	}
	if s.orphaned == nil {
		s.orphaned = map[string]time.Time{}
	}
	for key := range s.orphaned {
		if _, ok := orphans[key]; !ok {
			delete(s.orphaned, key)
		}
	}
	for key, r := range orphans {
		if _, ok := s.orphaned[key]; !ok {
			s.orphaned[key] = now
			s.log.Warn("an instance's pool is no longer in the config: no pool drains it; it is terminated, without a drain, after the sweep grace unless the pool comes back",
				"pool", r.Pool, "provider", r.Provider, "instance", r.ID, "grace", s.opts.SweepGrace)
		}
	}
	var known map[string]bool // intents of configured pools, read when first needed
	isKnown := func(id string) (bool, error) {
		if id == "" {
			return false, nil
		}
		if known == nil {
			intents, err := s.opts.Store.Intents(cctx, state.IntentFilter{})
			if err != nil {
				return false, fmt.Errorf("sweep: intents: %w", err)
			}
			known = make(map[string]bool, len(intents))
			for _, in := range intents {
				if _, ok := s.pools[in.Pool]; ok {
					known[in.ID] = true
				}
			}
		}
		return known[id], nil
	}
	var errs []error
	if !s.opts.DryRun {
		for _, name := range sortedKeys(s.opts.Providers) {
			if ctx.Err() != nil {
				// Shut down: the reconcile in flight finished, no further
				// one starts (each may take its provider's call timeout).
				break
			}
			if r, ok := s.opts.Providers[name].(reconciler); ok {
				// A repair may apply (create or destroy): it is a mutating
				// call, bounded by this server's term like a launch, so a
				// deposed leader's repair is cut off when its term ends.
				rctx, rcancel, _, acting := s.actingCtx(cctx, name)
				if !acting {
					rcancel()
					errs = append(errs, fmt.Errorf("sweep: reconcile %s: %s", name, notLeading))
					break
				}
				err := r.Reconcile(rctx)
				rcancel()
				if err != nil {
					errs = append(errs, fmt.Errorf("sweep: reconcile %s: %w", name, err))
				}
			}
		}
	}
	for _, name := range sortedKeys(s.opts.Providers) {
		// The list ends at once on shutdown, and then nothing is swept.
		lctx, lcancel := s.callCtx(ctx, name)
		insts, err := s.opts.Providers[name].List(lctx, providers.ListFilter{Cluster: s.opts.Cluster})
		lcancel()
		if ctx.Err() != nil {
			return errors.Join(append(errs, fmt.Errorf("sweep: stopped: %w", ctx.Err()))...)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("sweep: list %s: %w", name, err))
			continue
		}
		var strays []string
		seen := map[string]bool{}
		for _, in := range insts {
			if in.State == providers.StateShuttingDown || in.State == providers.StateTerminated {
				continue
			}
			if r, ok := claimed[name+"/"+in.ID]; ok && (r.State != state.InstanceEnded || now.Sub(r.EndedAt) < s.opts.SweepGrace) {
				continue
			}
			if since, ok := s.orphaned[name+"/"+in.ID]; ok && now.Sub(since) < s.opts.SweepGrace {
				continue
			}
			if now.Sub(s.strangerSince(name, in, now, seen)) < s.opts.SweepGrace {
				continue
			}
			ours, err := isKnown(in.Tags[providers.TagIntent])
			if err != nil {
				return err
			}
			if ours {
				continue // its pool adopts it
			}
			strays = append(strays, in.ID)
		}
		s.forgetStrangers(name, seen)
		if len(strays) == 0 {
			continue
		}
		if s.opts.DryRun {
			s.log.Warn("would sweep instances no state row claims (dry run)", "provider", name, "instances", strays)
			continue
		}
		tctx, tcancel, _, ok := s.actingCtx(cctx, name)
		if !ok {
			return errors.Join(append(errs, fmt.Errorf("sweep: %s", notLeading))...)
		}
		err = s.opts.Providers[name].Terminate(tctx, strays)
		tcancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("sweep: terminate %v on %s: %w", strays, name, err))
		}
		// A partial failure ended some: their rows are ended now, or the
		// next sweep, which no longer lists them, would leave them open
		// for ever; the rest are swept again next time.
		ended := providers.Ended(strays, err)
		for _, id := range ended {
			s.log.Warn("swept an instance no state row claims", "provider", name, "instance", id, "grace", s.opts.SweepGrace)
			r, ok := orphans[name+"/"+id]
			if !ok {
				continue
			}
			r.State, r.EndedAt, r.UpdatedAt = state.InstanceEnded, now, now
			r.EndReason = fmt.Sprintf("swept: its pool %q is no longer in the config", r.Pool)
			if err := s.opts.Store.PutInstance(cctx, r); err != nil {
				errs = append(errs, fmt.Errorf("sweep: record instance %s: %w", id, err))
			}
		}
		s.metrics.swept.WithLabelValues(name).Add(float64(len(ended)))
	}
	if err := s.prune(cctx, now); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// prune deletes history older than the retention, at most once an hour.
func (s *Scheduler) prune(ctx context.Context, now time.Time) error {
	if s.opts.Retention <= 0 || s.opts.DryRun || now.Sub(s.prunedAt) < time.Hour {
		return nil
	}
	s.prunedAt = now
	n, err := s.opts.Store.Prune(ctx, now.Add(-s.opts.Retention))
	if err != nil {
		return fmt.Errorf("prune state: %w", err)
	}
	if n != (state.Pruned{}) {
		s.log.Info("pruned old history", "before", now.Add(-s.opts.Retention), "decisions", n.Decisions, "audit", n.Audit,
			"intents", n.Intents, "instances", n.Instances, "floors", n.Floors, "idle_gaps", n.IdleGaps, "holds", n.Holds, "unavailable", n.Unavailable, "spend", n.Spend)
	}
	return nil
}

// reconciler is a provider that repairs its own state (Terraform: bursts
// whose last apply failed or was interrupted); the sweeper calls it first.
type reconciler interface {
	Reconcile(ctx context.Context) error
}

// strangerSince is when stranger in, listed by provider name, is taken
// as launched for the sweep grace: its launch time, or, when the cloud
// gives none or one ahead of now (a wrong clock), when the sweeper first
// listed it. Taken at the cloud's word, such a stranger was never old
// enough to sweep: it ran and billed for ever, or until that time.
func (s *Scheduler) strangerSince(name string, in providers.Instance, now time.Time, seen map[string]bool) time.Time {
	if !in.LaunchTime.IsZero() && !in.LaunchTime.After(now) {
		return in.LaunchTime
	}
	key := name + "/" + in.ID
	seen[key] = true
	if s.strangers == nil {
		s.strangers = map[string]time.Time{}
	}
	if _, ok := s.strangers[key]; !ok {
		s.strangers[key] = now
	}
	return s.strangers[key]
}

// forgetStrangers drops what strangerSince holds of provider name's
// instances this sweep did not take for strangers without a launch time.
func (s *Scheduler) forgetStrangers(name string, seen map[string]bool) {
	for key := range s.strangers {
		if strings.HasPrefix(key, name+"/") && !seen[key] {
			delete(s.strangers, key)
		}
	}
}
