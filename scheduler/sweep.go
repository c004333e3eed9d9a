package scheduler

import (
	"context"
	"errors"
	"fmt"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/state"
)

// Sweep ends instances carrying this cluster's tag that no state row and no
// intent of a configured pool claims, once they are older than the sweep
// grace. Instances of another cluster, or without Spillway's tags, are never
// listed by providers and so never touched.
func (s *Scheduler) Sweep(ctx context.Context) error {
	cctx, cancel := s.callCtx(ctx)
	defer cancel()
	now := s.clock.Now()
	rows, err := s.opts.Store.Instances(cctx, state.InstanceFilter{})
	if err != nil {
		return fmt.Errorf("sweep: instances: %w", err)
	}
	claimed := make(map[string]state.Instance, len(rows))
	for _, r := range rows {
		claimed[r.Provider+"/"+r.ID] = r
	}
	intents, err := s.opts.Store.Intents(cctx, state.IntentFilter{})
	if err != nil {
		return fmt.Errorf("sweep: intents: %w", err)
	}
	known := make(map[string]bool, len(intents))
	for _, in := range intents {
		if _, ok := s.pools[in.Pool]; ok {
			known[in.ID] = true
		}
	}
	var errs []error
	if !s.opts.DryRun {
		for _, name := range sortedKeys(s.opts.Providers) {
			if r, ok := s.opts.Providers[name].(reconciler); ok {
				if err := r.Reconcile(cctx); err != nil {
					errs = append(errs, fmt.Errorf("sweep: reconcile %s: %w", name, err))
				}
			}
		}
	}
	for _, name := range sortedKeys(s.opts.Providers) {
		insts, err := s.opts.Providers[name].List(cctx, providers.ListFilter{Cluster: s.opts.Cluster})
		if err != nil {
			errs = append(errs, fmt.Errorf("sweep: list %s: %w", name, err))
			continue
		}
		var strays []string
		for _, in := range insts {
			if in.State == providers.StateShuttingDown || in.State == providers.StateTerminated {
				continue
			}
			if r, ok := claimed[name+"/"+in.ID]; ok && (r.State != state.InstanceEnded || now.Sub(r.EndedAt) < s.opts.SweepGrace) {
				continue
			}
			if known[in.Tags[providers.TagIntent]] {
				continue // its pool adopts it
			}
			if in.LaunchTime.IsZero() || now.Sub(in.LaunchTime) < s.opts.SweepGrace {
				continue
			}
			strays = append(strays, in.ID)
		}
		if len(strays) == 0 {
			continue
		}
		if s.opts.DryRun {
			s.log.Warn("would sweep instances no state row claims (dry run)", "provider", name, "instances", strays)
			continue
		}
		if err := s.opts.Providers[name].Terminate(cctx, strays); err != nil {
			errs = append(errs, fmt.Errorf("sweep: terminate %v on %s: %w", strays, name, err))
			continue
		}
		for _, id := range strays {
			s.log.Warn("swept an instance no state row claims", "provider", name, "instance", id, "grace", s.opts.SweepGrace)
		}
		s.metrics.swept.WithLabelValues(name).Add(float64(len(strays)))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}

// reconciler is a provider that repairs its own state (Terraform: bursts
// whose last apply failed or was interrupted); the sweeper calls it first.
type reconciler interface {
	Reconcile(ctx context.Context) error
}
