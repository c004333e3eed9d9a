package scheduler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/state"
)

// Sweep ends instances carrying this cluster's tag that no state row and no
// intent claims, once they are older than the sweep grace; a row or intent
// of a pool this server's config lacks claims its instance too (it is kept,
// and said). Instances of another cluster, or without Spillway's tags, are never
// listed by providers and so never touched.
func (s *Scheduler) Sweep(ctx context.Context) error {
	ctx, _, ok := s.acting(ctx)
	if !ok {
		// A follower: the leader sweeps, and its ticks alone read the
		// pools' figures.
		s.metrics.forgetPoolFigures()
		return s.countLeaderLacks(ctx)
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
	// Rows claim their instances, whatever their pool: the open row of a
	// pool this server's config lacks (removed from it, or another
	// server's config has it, mid-rollout) still claims its instance. No
	// pool of this server ticks, drains or ends it, and ending it here
	// would be without a drain, while jobs may run on it: it is kept,
	// said at WARN once and counted in spillway_unconfigured_pool_instances,
	// until a config with its pool drains and ends it.
	claimed := make(map[string]state.Instance, len(rows))
	unconfigured := make(map[string]state.Instance)
	for _, r := range rows {
		key := r.Provider + "/" + r.ID
		claimed[key] = r
		if _, ok := s.pools[r.Pool]; !ok && r.State != state.InstanceEnded {
			unconfigured[key] = r
		}
	}
	// Said once the listings show which of them still run: one ended
	// outside Spillway is ended here (endUnlisted), not said as kept.
	defer func() { s.sayUnconfigured(unconfigured) }()
	intentOnly := map[string]bool{} // the instances kept for an intent of a pool not configured
	listed := map[string]bool{}     // the providers listed: what the others keep is not known
	// Run first: sayUnconfigured counts what it keeps.
	defer s.forgetUnconfigured(intentOnly, listed)
	var intents map[string]state.Intent // by id, read when first needed
	intentOf := func(id string) (state.Intent, error) {
		if id == "" {
			return state.Intent{}, nil
		}
		if intents == nil {
			all, err := s.opts.Store.Intents(cctx, state.IntentFilter{})
			if err != nil {
				return state.Intent{}, fmt.Errorf("sweep: intents: %w", err)
			}
			intents = make(map[string]state.Intent, len(all))
			for _, in := range all {
				intents[in.ID] = in
			}
		}
		return intents[id], nil
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
		listed[name] = true
		var strays []string
		sg, err := s.loadSightings(cctx, name)
		if err != nil {
			errs = append(errs, err)
		}
		running := make(map[string]bool, len(insts))
		for _, in := range insts {
			if in.State == providers.StateShuttingDown || in.State == providers.StateTerminated {
				continue
			}
			running[in.ID] = true
			if r, ok := claimed[name+"/"+in.ID]; ok && (r.State != state.InstanceEnded || now.Sub(r.EndedAt) < s.opts.SweepGrace) {
				continue
			}
			since, err := s.strangerSince(cctx, sg, in, now)
			if err != nil {
				errs = append(errs, err)
			}
			intent, err := intentOf(in.Tags[providers.TagIntent])
			if err != nil {
				return err
			}
			if intent.Pool != "" {
				// Its pool adopts it; one this server's config lacks is
				// another server's, or an operator's, to end with a drain:
				// said, and listed in status, from its first sweep.
				s.sayUnconfiguredIntent(KeptForIntent{Pool: intent.Pool, Provider: name, ID: in.ID, Offering: intent.Offering, Since: since}, intentOnly)
				continue
			}
			if now.Sub(since) < s.opts.SweepGrace {
				continue
			}
			strays = append(strays, in.ID)
		}
		errs = append(errs, s.forgetStrangers(cctx, sg)...)
		errs = append(errs, s.endUnlisted(cctx, name, running, unconfigured, now)...)
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
		}
		s.metrics.swept.WithLabelValues(name).Add(float64(len(ended)))
	}
	if err := s.prune(cctx, now); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// sayUnconfigured logs, once each, the open rows of pools this server's
// config lacks, which it keeps, and counts them by pool, with the
// instances kept for an intent of such a pool that no row records
// (KeptForIntents, as forgetUnconfigured left them): status lists both.
func (s *Scheduler) sayUnconfigured(rows map[string]state.Instance) {
	if s.unconfigured == nil {
		s.unconfigured = map[string]bool{}
	}
	for key := range s.unconfigured {
		if _, ok := rows[key]; !ok && !strings.HasPrefix(key, "intent/") {
			delete(s.unconfigured, key)
		}
	}
	s.metrics.unconfigured.Reset()
	for _, k := range s.KeptForIntents() {
		s.metrics.unconfigured.WithLabelValues(k.Pool).Inc()
	}
	for key, r := range rows {
		s.metrics.unconfigured.WithLabelValues(r.Pool).Inc()
		if s.unconfigured[key] {
			continue
		}
		s.unconfigured[key] = true
		s.log.Warn("an instance's pool is not in this server's config: no pool here drains or ends it, and it is kept, not swept; "+
			"put the pool back (a config with it drains and ends its instances as usual) or end it by hand",
			"pool", r.Pool, "provider", r.Provider, "instance", r.ID, "state", r.State)
	}
}

// countLeaderLacks sets, on a follower, spillway_unconfigured_pool_instances
// to the open rows of pools the leader's config lacks (as it recorded
// them with its term): what the leader's sweeper keeps and counts, and
// what this server's status lists. When the leader's pools are not known
// (none leads, it recorded none, the database did not answer) it counts
// none, rather than what this server counted when it last led.
func (s *Scheduler) countLeaderLacks(ctx context.Context) error {
	counts, err := s.leaderLacks(ctx)
	s.metrics.unconfigured.Reset()
	for pool, n := range counts {
		s.metrics.unconfigured.WithLabelValues(pool).Set(float64(n))
	}
	return err
}

// leaderLacks counts, by pool, the open rows of pools the leader's config
// lacks; none when the leader's pools are not known.
func (s *Scheduler) leaderLacks(ctx context.Context) (map[string]int, error) {
	lp, ok := s.opts.Leader.(LeaderPools)
	if !ok {
		return nil, nil
	}
	pools, ok := lp.LeaderPools(ctx)
	if !ok {
		return nil, nil
	}
	rows, err := s.opts.Store.Instances(ctx, state.InstanceFilter{Live: true})
	if err != nil {
		return nil, fmt.Errorf("counting the instances of pools the leader's config lacks: %w", err)
	}
	counts := map[string]int{}
	for _, r := range rows {
		if r.State != state.InstanceEnded && !slices.Contains(pools, r.Pool) {
			counts[r.Pool]++
		}
	}
	return counts, nil
}

// endUnlisted ends the rows of unconfigured, open rows of pools this
// server's config lacks, whose instances on provider name the cloud no
// longer lists running (running: those it lists not ended), once listGrace
// after their launch, as a pool's tick ends its own (endRow): ended
// outside Spillway (by hand, in the console), no pool here would ever end
// them, and their open rows billed for ever in status and were counted in
// spillway_unconfigured_pool_instances. Each ended one leaves
// unconfigured; a row whose write fails stays in it, ended again at the
// next sweep.
func (s *Scheduler) endUnlisted(ctx context.Context, name string, running map[string]bool, unconfigured map[string]state.Instance, now time.Time) []error {
	var errs []error
	for _, key := range sortedKeys(unconfigured) {
		r := unconfigured[key]
		if r.Provider != name || running[r.ID] || r.State != state.InstanceTerminating && now.Sub(r.LaunchedAt) < listGrace {
			continue
		}
		endedUnlisted(&r, now)
		if err := s.opts.Store.PutInstance(ctx, r); err != nil {
			errs = append(errs, fmt.Errorf("sweep: end instance %s of pool %s, no longer listed: %w", r.ID, r.Pool, err))
			continue
		}
		delete(unconfigured, key)
		if r.EndReason == vanishedReason {
			s.metrics.vanished.WithLabelValues(r.Pool).Inc()
		}
		s.log.Warn("instance of a pool not in this server's config is no longer listed by the cloud: its row is ended",
			"pool", r.Pool, "provider", r.Provider, "instance", r.ID, "reason", r.EndReason, "ended", r.EndedAt)
	}
	return errs
}

// endedUnlisted is r ended at now, unlisted: as asked, when its terminate
// was (its end kept, or the last time it was listed running past it), or
// vanished (endRow).
func endedUnlisted(r *state.Instance, now time.Time) {
	switch {
	case r.State == state.InstanceTerminating && r.RanUntil.After(r.EndedAt):
		r.EndedAt = r.RanUntil
	case r.State == state.InstanceTerminating && !r.EndedAt.IsZero():
	default:
		r.EndReason, r.EndedAt = vanishedReason, now
	}
	r.State, r.UpdatedAt = state.InstanceEnded, now
}

// KeptForIntent is an instance the sweeper keeps, with no row, as an
// intent of a pool this server's config lacks claims it: no pool here
// adopts, drains or ends it.
type KeptForIntent struct {
	Pool, Provider, ID string
	// Offering is its intent's; Since its launch (as the sweeper takes
	// it: the cloud's launch time, or when it first listed it).
	Offering string
	Since    time.Time
}

// KeptForIntents lists the instances the last sweeps kept for an intent
// of a pool this server's config lacks, launched first first.
func (s *Scheduler) KeptForIntents() []KeptForIntent {
	s.kmu.Lock()
	defer s.kmu.Unlock()
	out := make([]KeptForIntent, 0, len(s.keptForIntents))
	for _, k := range s.keptForIntents {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b KeptForIntent) int {
		return cmp.Or(a.Since.Compare(b.Since), cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// sayUnconfiguredIntent logs, once, instance k the sweeper keeps as an
// intent of a pool claims it, a pool this server's config lacks, and
// holds it for KeptForIntents.
func (s *Scheduler) sayUnconfiguredIntent(k KeptForIntent, seen map[string]bool) {
	if _, ok := s.pools[k.Pool]; ok {
		return
	}
	key := "intent/" + k.Provider + "/" + k.ID
	seen[key] = true
	s.kmu.Lock()
	if s.keptForIntents == nil {
		s.keptForIntents = map[string]KeptForIntent{}
	}
	s.keptForIntents[key] = k
	s.kmu.Unlock()
	if s.unconfigured == nil {
		s.unconfigured = map[string]bool{}
	}
	if s.unconfigured[key] {
		return
	}
	s.unconfigured[key] = true
	s.log.Warn("an instance launched for a pool not in this server's config has no row: no pool here adopts, drains or ends it, and it is kept, not swept; "+
		"put the pool back (a config with it adopts, drains and ends it) or end it by hand",
		"pool", k.Pool, "provider", k.Provider, "instance", k.ID)
}

// forgetUnconfigured drops the instances kept for an intent only that
// this sweep, on a provider it listed, did not see so (adopted, ended,
// or not listed): those of a provider whose list failed, or was not
// reached, are kept as they were (forgotten, they left status and were
// warned of again at the next list).
func (s *Scheduler) forgetUnconfigured(seen, listed map[string]bool) {
	gone := func(key string) bool {
		rest, ok := strings.CutPrefix(key, "intent/")
		provider, _, _ := strings.Cut(rest, "/")
		return ok && listed[provider] && !seen[key]
	}
	for key := range s.unconfigured {
		if gone(key) {
			delete(s.unconfigured, key)
		}
	}
	s.kmu.Lock()
	defer s.kmu.Unlock()
	for key := range s.keptForIntents {
		if gone(key) {
			delete(s.keptForIntents, key)
		}
	}
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
			"intents", n.Intents, "instances", n.Instances, "floors", n.Floors, "idle_gaps", n.IdleGaps, "holds", n.Holds, "unavailable", n.Unavailable, "sightings", n.Sightings, "spend", n.Spend)
	}
	return nil
}

// reconciler is a provider that repairs its own state (Terraform: bursts
// whose last apply failed or was interrupted); the sweeper calls it first.
type reconciler interface {
	Reconcile(ctx context.Context) error
}

// sightings are the strangers of one provider without a usable launch
// time, as one sweep takes them (strangerSince): those stored, first
// sighting by id, and those this sweep listed.
type sightings struct {
	provider string
	stored   map[string]time.Time
	seen     map[string]bool
}

// loadSightings reads provider name's stored sightings. A failed read
// leaves them empty: what this server holds in memory is used, and each
// stranger is noted again (the store keeps the first).
func (s *Scheduler) loadSightings(ctx context.Context, name string) (*sightings, error) {
	sg := &sightings{provider: name, stored: map[string]time.Time{}, seen: map[string]bool{}}
	gs, err := s.opts.Store.Sightings(ctx, name)
	if err != nil {
		return sg, fmt.Errorf("sweep: first sightings of strangers on %s: %w", name, err)
	}
	for _, g := range gs {
		sg.stored[g.ID] = g.At
	}
	return sg, nil
}

// strangerSince is when stranger in, listed by sg's provider, is taken
// as launched for the sweep grace: its launch time, or, when the cloud
// gives none or one ahead of now (a wrong clock), when a sweeper first
// listed it. Taken at the cloud's word, such a stranger was never old
// enough to sweep: it ran and billed for ever, or until that time. The
// first sighting is stored: held in memory only, a server restarting more
// often than the sweep grace (a crash loop), or leaders failing over,
// never swept it. A failed write is returned; the sighting held in
// memory stands, and is written again next sweep.
func (s *Scheduler) strangerSince(ctx context.Context, sg *sightings, in providers.Instance, now time.Time) (time.Time, error) {
	if !in.LaunchTime.IsZero() && !in.LaunchTime.After(now) {
		return in.LaunchTime, nil
	}
	key := sg.provider + "/" + in.ID
	sg.seen[in.ID] = true
	if s.strangers == nil {
		s.strangers = map[string]time.Time{}
	}
	first, held := s.strangers[key]
	if !held {
		first = now
	}
	stored, ok := sg.stored[in.ID]
	if ok && !stored.After(first) {
		s.strangers[key] = stored
		return stored, nil
	}
	s.strangers[key] = first
	if err := s.opts.Store.NoteSighting(ctx, state.Sighting{Provider: sg.provider, ID: in.ID, At: first}); err != nil {
		return first, fmt.Errorf("sweep: store the first sighting of stranger %s on %s: %w", in.ID, sg.provider, err)
	}
	sg.stored[in.ID] = first
	return first, nil
}

// forgetStrangers drops what is held and stored of sg's provider's
// instances this sweep did not take for strangers without a launch time
// (swept, claimed, or given one); a failed delete is retried next sweep.
func (s *Scheduler) forgetStrangers(ctx context.Context, sg *sightings) []error {
	for key := range s.strangers {
		if id, ok := strings.CutPrefix(key, sg.provider+"/"); ok && !sg.seen[id] {
			delete(s.strangers, key)
		}
	}
	var errs []error
	for _, id := range sortedKeys(sg.stored) {
		if sg.seen[id] {
			continue
		}
		if err := s.opts.Store.DeleteSighting(ctx, sg.provider, id); err != nil {
			errs = append(errs, fmt.Errorf("sweep: forget the sighting of %s on %s: %w", id, sg.provider, err))
		}
	}
	return errs
}
