package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/scheduler"
	"github.com/spillway-io/spillway/state"
	"github.com/spillway-io/spillway/state/postgres"
)

// backend gives the operator API its view of the scheduler and its state.
type backend struct {
	cluster string
	sched   *scheduler.Scheduler
	store   state.Store
	clock   clock.PassiveClock
	// elector, with several servers on PostgreSQL, says who leads.
	elector *postgres.Elector
}

var _ api.Backend = (*backend)(nil)

func (b *backend) Status(ctx context.Context) (api.Status, error) {
	lease := b.leaseOf(ctx)
	out := api.Status{Cluster: b.cluster, Time: b.clock.Now(), DryRun: b.sched.DryRun(), Pools: []api.PoolSummary{}, Leader: lease.get(ctx)}
	for _, name := range b.sched.Pools() {
		d, err := b.pool(ctx, name, lease)
		if err != nil {
			return api.Status{}, err
		}
		ps := api.PoolSummary{
			Name: name, OnPremTotal: d.Snapshot.OnPremTotal, OnPremBusy: d.Snapshot.OnPremBusy, OnPremUnhealthy: d.Snapshot.OnPremUnhealthy,
			IdleAllocated: d.Snapshot.IdleAllocated, PendingJobs: d.Snapshot.PendingJobs, PendingGPUs: d.Snapshot.PendingGPUs,
			OldestWait: d.Snapshot.OldestWait, Spend: d.Spend.Accrued, Budget: d.Spend.Budget, Floors: len(d.Floors), ActiveFloors: d.Floors,
			Held: d.Snapshot.Held, Stale: d.Snapshot.Stale,
			Evaluated: d.Snapshot.Time, Interval: d.Snapshot.Interval, Error: d.Snapshot.Error,
			TickLength: d.Snapshot.TickLength, Waiting: d.Snapshot.Waiting, WaitingSince: d.Snapshot.WaitingSince,
		}
		countInstances(&ps, d.Instances)
		out.Pools = append(out.Pools, ps)
	}
	if err := b.unconfigured(ctx, &out, lease); err != nil {
		return api.Status{}, err
	}
	return out, nil
}

// countInstances sets ps's counts of ins: those terminating apart from
// the burst capacity (Instances, CloudGPUs), and the draining ones.
func countInstances(ps *api.PoolSummary, ins []api.Instance) {
	for _, in := range ins {
		switch in.State {
		case state.InstanceTerminating:
			ps.Terminating++
			ps.TerminatingGPUs += in.GPUs
			continue
		case state.InstanceDraining:
			ps.Draining = append(ps.Draining, in) // the API bounds them
		}
		ps.Instances++
		ps.CloudGPUs += in.GPUs
	}
}

// unconfigured sets st's instances of pools this server's config lacks,
// which the sweeper keeps and which bill with no pool to drain or end
// them. On a follower the leader's config counts: when the leader
// recorded its pools with its term, the follower lists the open rows of
// pools it lacks, and says those no row records are the leader's to
// name; else it says only the leader knows.
func (b *backend) unconfigured(ctx context.Context, st *api.Status, lease *leaseRead) error {
	if b.elector != nil {
		if _, leads := b.elector.Acting(); !leads {
			li := lease.get(ctx)
			if li.Error != "" || li.Holder == "" || li.Holder == li.This || li.Pools == nil {
				st.UnconfiguredUnknown = onlyTheLeaderLacks(li)
				return nil
			}
			lacks := func(pool string) bool { return !slices.Contains(li.Pools, pool) }
			if err := b.unconfiguredRows(ctx, st, lacks, nil); err != nil {
				return err
			}
			st.UnconfiguredUnknown = theLeaderLacks(li, len(st.Unconfigured) > 0)
			return nil
		}
	}
	lacks := func(pool string) bool { _, ok := b.sched.PoolSpec(pool); return !ok }
	var kept []api.UnconfiguredInstance
	for _, k := range b.sched.KeptForIntents() {
		kept = append(kept, apiKeptForIntent(k))
	}
	return b.unconfiguredRows(ctx, st, lacks, kept)
}

// unconfiguredRows sets st's instances of the open rows of pools lacks
// says the config lacks, and kept, launched first first, bounded.
func (b *backend) unconfiguredRows(ctx context.Context, st *api.Status, lacks func(pool string) bool, kept []api.UnconfiguredInstance) error {
	rows, err := b.store.Instances(ctx, state.InstanceFilter{Live: true})
	if err != nil {
		return err
	}
	all := kept
	for _, r := range rows {
		if lacks(r.Pool) {
			all = append(all, apiUnconfigured(r, st.Time))
		}
	}
	slices.SortStableFunc(all, func(a, b api.UnconfiguredInstance) int { return a.Since.Compare(b.Since) })
	if len(all) > api.StatusUnconfigured {
		st.UnconfiguredOmitted = len(all) - api.StatusUnconfigured
		all = all[:api.StatusUnconfigured]
	}
	st.Unconfigured = append(st.Unconfigured, all...)
	return nil
}

// noRow is the state of an unconfigured instance no row records, which
// the sweeper keeps as an intent of its pool claims it.
const noRow = "no row"

// apiKeptForIntent is an instance kept for an intent of a pool the config
// lacks, no row recording it: its price, in the config that lacks the
// pool, is unknown (0), and so its cost.
func apiKeptForIntent(k scheduler.KeptForIntent) api.UnconfiguredInstance {
	return api.UnconfiguredInstance{Pool: k.Pool, Provider: k.Provider, ID: k.ID, Offering: k.Offering, State: noRow, Since: k.Since}
}

// apiUnconfigured is an open row of a pool the config lacks, with what it
// has cost by now, billed by the rule and price the row recorded at its
// launch (the config that lacks the pool has neither).
func apiUnconfigured(r state.Instance, now time.Time) api.UnconfiguredInstance {
	return api.UnconfiguredInstance{
		Pool: r.Pool, Provider: r.Provider, ID: r.ID, Offering: r.Offering, State: r.State,
		Since: r.LaunchedAt, PricePerHour: r.PricePerHour,
		CostSoFar: policy.BilledCost(policy.Offering{PricePerHour: r.PricePerHour, Billing: policy.Billing(r.Billing)}, r.LaunchedAt, now),
	}
}

// onlyTheLeaderLacks is a follower's Status.UnconfiguredUnknown: the
// pools the leader's config lacks are the leader's to name.
func onlyTheLeaderLacks(li *api.LeaderInfo) string {
	what := "only the leader's config says which instances belong to no pool it has (kept, billing, with no pool to drain or end them)"
	switch {
	case li.Error != "":
		return fmt.Sprintf("this server (%s) does not lead: %s, and the database could not say which server leads (%s)", li.This, what, li.Error)
	case li.Holder == "":
		return fmt.Sprintf("this server (%s) does not lead, and no server holds the lease now (a failover): %s; ask again once one does", li.This, what)
	}
	return fmt.Sprintf("this server (%s) does not lead: %s; ask the leader, %s", li.This, what, li.Holder)
}

// theLeaderLacks is a follower's Status.UnconfiguredUnknown when the
// leader recorded its pools: the follower lists the open rows of pools the
// leader's config lacks (listed says it found some); those kept for a
// launch that no row records are known to the leader's sweeper only.
func theLeaderLacks(li *api.LeaderInfo, listed bool) string {
	what := "no open row is of a pool the leader's (" + li.Holder + ") config lacks, as it recorded them with its term"
	if listed {
		what = "listed are the open rows of pools the leader's (" + li.Holder + ") config lacks, as it recorded them with its term: its sweeper keeps them, and no pool of it drains or ends them"
	}
	return fmt.Sprintf("this server (%s) does not lead: %s; an instance the sweeper keeps for a launch of such a pool that no row records is the leader's to name: ask the leader, %s", li.This, what, li.Holder)
}

func (b *backend) Pool(ctx context.Context, name string) (api.PoolDetail, error) {
	return b.pool(ctx, name, b.leaseOf(ctx))
}

// leaseRead reads who leads at most once, when first asked, for one
// request: each read is a query of the lease, of up to a second
// (leaderInfo), which a request was making for each pool.
type leaseRead struct {
	el   *postgres.Elector
	mu   sync.Mutex
	done bool
	info *api.LeaderInfo
}

func (l *leaseRead) get(ctx context.Context) *api.LeaderInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.info, l.done = leaderInfo(ctx, l.el), true
	}
	return l.info
}

// leaseReadKey marks a request's context with its leaseRead.
type leaseReadKey struct{}

// oneLeaseRead gives each request h serves one leaseRead (on its
// context), so that a request calling the backend several times (the
// status page: the status, then each pool's detail) reads who leads once,
// not once per pool with floors. Nothing without an elector.
func oneLeaseRead(el *postgres.Elector, h http.Handler) http.Handler {
	if el == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), leaseReadKey{}, &leaseRead{el: el})))
	})
}

// leaseOf is the request's leaseRead (oneLeaseRead), or one of its own
// for a call made outside a request.
func (b *backend) leaseOf(ctx context.Context) *leaseRead {
	if l, ok := ctx.Value(leaseReadKey{}).(*leaseRead); ok {
		return l
	}
	return &leaseRead{el: b.elector}
}

// pool is Pool, reading who leads through lease.
func (b *backend) pool(ctx context.Context, name string, lease *leaseRead) (api.PoolDetail, error) {
	pool, ok := b.sched.PoolSpec(name)
	if !ok {
		return api.PoolDetail{}, fmt.Errorf("pool %q: %w", name, api.ErrNotFound)
	}
	st, _ := b.sched.LastStatus(name)
	snap := st.Snapshot
	d := api.PoolDetail{
		Name: name,
		Snapshot: api.Snapshot{
			Time: st.Time, Interval: api.Duration(pool.Interval.D()), Error: st.Err, OnPremTotal: snap.OnPremGPUs, OnPremBusy: snap.OnPremBusyGPUs, IdleAllocated: snap.IdleAllocatedGPUs,
			OnPremUnhealthy: snap.OnPremUnhealthyGPUs,
			PendingJobs:     snap.PendingJobs, PendingGPUs: snap.PendingGPUs, OldestWait: api.Duration(snap.OldestWait), Stale: snap.Stale,
			Held: heldOf(&pool, snap.Unused, st.Unavailable, st.Time), LeftOut: snap.LeftOut, CountedLarger: snap.Larger,
		},
		Spend:     api.Spend{PeriodStart: st.Spend.PeriodStart, PeriodEnd: st.Spend.PeriodEnd, Accrued: st.Spend.Accrued},
		Manual:    api.ManualLimits{MaxGPUs: pool.Manual.MaxGPUs, MaxTTL: api.Duration(pool.Manual.MaxTTL.D())},
		Floors:    []api.Floor{},
		Instances: []api.Instance{},
	}
	if bud := pool.Limits.Budget; bud != nil {
		d.Spend.Budget = bud.Amount
	}
	// A tick waiting on its cloud calls delays the next evaluation by up to
	// its length: figures that old are not out of date yet.
	d.Snapshot.TickLength = api.Duration(pool.TickSlack.D())
	if p, since, ok := b.sched.Waiting(name); ok {
		d.Snapshot.Waiting, d.Snapshot.WaitingSince = p, since
	}
	follows, err := b.followerView(ctx, &pool, &d, lease)
	if err != nil {
		return api.PoolDetail{}, err
	}
	if !follows {
		if err := b.leaderFloors(ctx, snap.Floors, &d, lease); err != nil {
			return api.PoolDetail{}, err
		}
	}
	if (st.Err != "" || st.Time.IsZero()) && !follows {
		// No tick has shown the spend (a failed tick's status holds
		// none): $0 of the budget in year 1 read as nothing spent.
		if err := b.storedSpend(ctx, &pool, &d); err != nil {
			return api.PoolDetail{}, err
		}
	}
	rows, err := b.store.Instances(ctx, state.InstanceFilter{Pool: name, Live: true})
	if err != nil {
		return api.PoolDetail{}, err
	}
	held, err := b.sched.Holders(ctx, rows, b.clock.Now())
	if err != nil {
		return api.PoolDetail{}, err
	}
	hooks := b.sched.DrainHooks(name)
	for _, r := range rows {
		in := apiInstance(b.sched, r, held[r.ID], hooks)
		d.Instances = append(d.Instances, in)
		d.Spend.PerHour += in.PricePerHour
	}
	if !st.Time.IsZero() {
		d.LastPlan = apiPlan(st.Plan, st.Time)
		if st.Misconfigured != "" {
			d.LastPlan.Notes = append([]string{"misconfigured: " + st.Misconfigured}, d.LastPlan.Notes...)
		}
		if st.StateErr != "" {
			d.LastPlan.Notes = append([]string{"state not writable: " + st.StateErr}, d.LastPlan.Notes...)
		}
		if st.ReadErr != "" {
			d.LastPlan.Notes = append([]string{"state not readable: " + st.ReadErr}, d.LastPlan.Notes...)
		}
		if st.Err != "" {
			d.LastPlan.Notes = append([]string{"last evaluation failed: " + st.Err}, d.LastPlan.Notes...)
		}
	}
	return d, nil
}

// leaderFloors sets d's floors from this server's last evaluation of the
// pool, with what each waits for.
func (b *backend) leaderFloors(ctx context.Context, floors []policy.Floor, d *api.PoolDetail, lease *leaseRead) error {
	var waits floorWaits
	if len(floors) > 0 {
		waits = b.waitsOf(ctx, d.Name, lease)
	}
	for _, f := range floors {
		af := api.Floor{Kind: string(f.Kind), Owner: f.Owner, Reason: f.Reason, GPUs: f.GPUs, Until: f.Until, Offering: f.Offering}
		if w, ok := waits.waits[f.Owner]; ok {
			burst := ""
			if f.Kind == policy.FloorManual {
				burst = f.Owner
			}
			af.Waiting, af.HeldBy = listedWaiting(w.Why, burst), heldBy(w)
		}
		af.WaitingUnknown = waits.follower
		if f.Kind == policy.FloorManual {
			// The policy knows a burst by its ID; its owner is the
			// principal who opened it, as on its instances.
			af.Burst, af.Owner = f.Owner, ""
			switch fl, err := b.store.Floor(ctx, f.Owner); {
			case err == nil:
				af.Owner = fl.Owner
			case !errors.Is(err, state.ErrNotFound):
				return err
			}
		}
		d.Floors = append(d.Floors, af)
	}
	return nil
}

// heldUnused is why an offering the queue left unused is held.
const heldUnused = "left unused by the queue"

// heldOf lists what is held out of the pool's launches at at, by offering
// name (the key's own name for one the config no longer has), provider or
// region, and why: the pool's offerings left unused by its queue, and what
// the capacity cache and the providers' back-offs hold (the leader's last
// tick's, or a follower's read of what the leader stored).
func heldOf(pool *policy.Pool, unused map[policy.OfferingKey]time.Time, us []state.Unavailable, at time.Time) []api.Held {
	var out []api.Held
	for k, until := range unused {
		if until.After(at) {
			out = append(out, api.Held{What: pool.OfferingName(k), Why: heldUnused, Until: until})
		}
	}
	for _, u := range us {
		if !u.Until.After(at) {
			continue
		}
		what := providers.BlockKey(u.Provider, u.Region)
		if u.Kind == state.UnavailableOffering {
			what = pool.OfferingName(u.OfferingKey())
		}
		out = append(out, api.Held{What: what, Why: unavailableWhy(&u), Until: u.Until})
	}
	slices.SortFunc(out, func(a, b api.Held) int {
		return cmp.Or(strings.Compare(a.What, b.What), strings.Compare(a.Why, b.Why), a.Until.Compare(b.Until))
	})
	return out
}

// unavailableWhy says why u is held: an offering out of stock or after a
// launch that delivered nothing, a quota error, or a provider's back-off.
func unavailableWhy(u *state.Unavailable) string {
	switch {
	case u.Kind == state.UnavailableOffering && u.Why == "":
		return "out of stock"
	case u.Kind == state.UnavailableOffering:
		return "failed launch: " + u.Why
	case u.Why != "":
		return u.Why
	case u.Kind == state.UnavailableQuota:
		return "quota exceeded"
	default:
		return u.Kind
	}
}

func apiPlan(p policy.Plan, at time.Time) *api.Plan {
	out := &api.Plan{Time: at, Actions: []api.Action{}, Notes: p.Notes}
	for _, l := range p.Launches {
		out.Actions = append(out.Actions, api.Action{Kind: "launch", Offering: l.Offering.Name, Count: l.Count, Reason: l.Reason})
	}
	for _, a := range p.Drains {
		out.Actions = append(out.Actions, api.Action{Kind: "drain", Instances: []string{a.InstanceID}, Reason: a.Reason})
	}
	for _, a := range p.Terminates {
		out.Actions = append(out.Actions, api.Action{Kind: "terminate", Instances: []string{a.InstanceID}, Reason: a.Reason})
	}
	return out
}

// apiInstance is row r as the API shows it, held by the floor h; hooks
// are the drain hooks running in its pool (Scheduler.DrainHooks). Its
// price is the one the ledger and the budget count (Scheduler.RowOffering:
// the higher of its launch's and the config's), not the one recorded at
// the launch, which a price raised at a restart left below what the
// budget counted.
func apiInstance(sched *scheduler.Scheduler, r state.Instance, h scheduler.Holder, hooks map[string]time.Time) api.Instance {
	in := api.Instance{
		ID: r.ID, Pool: r.Pool, Provider: r.Provider, Offering: r.Offering, InstanceType: r.InstanceType, Zone: r.Zone,
		Spot: r.Market == string(policy.MarketSpot), GPUs: r.GPUs, BusyGPUs: r.BusyGPUs, State: r.State,
		LaunchedAt: r.LaunchedAt, PricePerHour: sched.RowOffering(r).PricePerHour, Floor: h.Owner, Burst: h.Burst,
	}
	if r.State == state.InstanceDraining {
		in.DrainingSince = r.DrainStartedAt
		if !r.DrainHookAt.IsZero() {
			in.DrainHook, in.DrainHookSince = api.DrainHookDone, r.DrainHookAt
		}
	}
	// The row reads draining once its hook has returned: while the hook
	// runs (up to a minute a tick, longer past it) it is draining too.
	if since, ok := hooks[r.ID]; ok && r.State != state.InstanceTerminating && r.State != state.InstanceEnded {
		in.State, in.DrainHook, in.DrainHookSince = state.InstanceDraining, api.DrainHookRunning, since
		if in.DrainingSince.IsZero() {
			in.DrainingSince = since
		}
	}
	return in
}

func (b *backend) ManualLimits(_ context.Context, pool string) (api.ManualLimits, error) {
	p, ok := b.sched.PoolSpec(pool)
	if !ok {
		return api.ManualLimits{}, fmt.Errorf("pool %q: %w", pool, api.ErrNotFound)
	}
	return api.ManualLimits{MaxGPUs: p.Manual.MaxGPUs, MaxTTL: api.Duration(p.Manual.MaxTTL.D())}, nil
}

func (b *backend) Timeline(_ context.Context, pool string, since time.Time) ([]api.TimelinePoint, error) {
	samples, ok := b.sched.Timeline(pool, since)
	if !ok {
		return nil, fmt.Errorf("pool %q: %w", pool, api.ErrNotFound)
	}
	out := make([]api.TimelinePoint, len(samples))
	for i, s := range samples {
		out[i] = api.TimelinePoint{Time: s.Time, OnPremBusy: s.OnPremBusy, CloudGPUs: s.CloudGPUs, QueuedGPUs: s.QueuedGPUs, Spend: s.Spend}
	}
	return out, nil
}

func (b *backend) Instances(ctx context.Context, q api.InstanceQuery) ([]api.Instance, error) {
	rows, err := b.store.Instances(ctx, state.InstanceFilter{Pool: q.Pool, Live: true})
	if err != nil {
		return nil, err
	}
	kept := b.keptInstances(q.Pool)
	if err := b.knownPool(q.Pool, len(rows)+len(kept)); err != nil {
		return nil, err
	}
	held, err := b.sched.Holders(ctx, rows, b.clock.Now())
	if err != nil {
		return nil, err
	}
	all := kept
	for _, r := range rows {
		all = append(all, apiInstance(b.sched, r, held[r.ID], b.sched.DrainHooks(r.Pool)))
	}
	slices.SortFunc(all, func(a, b api.Instance) int { return cmp.Compare(a.ID, b.ID) })
	out := []api.Instance{}
	for _, in := range all {
		if in.ID <= q.After {
			continue
		}
		if q.Limit > 0 && len(out) >= q.Limit {
			break
		}
		out = append(out, in)
	}
	return out, nil
}

// keptInstances are the instances of pool ("" for all) the sweeper keeps
// for an intent of a pool the config lacks, no row recording them, as
// /v1/status's unconfigured lists them: state "no row", type and price
// unknown. A follower, whose sweeper does not run, has none.
func (b *backend) keptInstances(pool string) []api.Instance {
	if b.elector != nil {
		if _, leads := b.elector.Acting(); !leads {
			return nil
		}
	}
	var out []api.Instance
	for _, k := range b.sched.KeptForIntents() {
		if pool == "" || k.Pool == pool {
			out = append(out, api.Instance{ID: k.ID, Pool: k.Pool, Provider: k.Provider, Offering: k.Offering, State: noRow, LaunchedAt: k.Since})
		}
	}
	return out
}

// knownPool is ErrNotFound for a list filtered on a pool the config does
// not have when no row names it either: most likely a mistyped name, which
// an empty list would hide. The rows of a pool since removed from the
// config are still listed.
func (b *backend) knownPool(pool string, rows int) error {
	if pool == "" || rows > 0 {
		return nil
	}
	if _, ok := b.sched.PoolSpec(pool); ok {
		return nil
	}
	return fmt.Errorf("pool %q: %w", pool, api.ErrNotFound)
}

func (b *backend) Decisions(ctx context.Context, q api.DecisionQuery) ([]api.Decision, error) {
	ds, err := b.store.Decisions(ctx, state.DecisionFilter{Pool: q.Pool, Since: q.Since, BeforeID: q.Before, Limit: q.Limit})
	if err != nil {
		return nil, err
	}
	rows := len(ds)
	if rows == 0 && q.Pool != "" && (!q.Since.IsZero() || q.Before != 0) {
		// An empty page of a filtered list says nothing of the pool:
		// look for any row of it.
		anyRow, err := b.store.Decisions(ctx, state.DecisionFilter{Pool: q.Pool, Limit: 1})
		if err != nil {
			return nil, err
		}
		rows = len(anyRow)
	}
	if err := b.knownPool(q.Pool, rows); err != nil {
		return nil, err
	}
	out := make([]api.Decision, 0, len(ds))
	for _, d := range ds {
		out = append(out, apiDecision(d))
	}
	return out, nil
}

// apiDecision folds a stored decision into one API row: its kind, what it
// touched, and every reason.
func apiDecision(d state.Decision) api.Decision {
	out := api.Decision{ID: d.ID, Pool: d.Pool, Time: d.Time, Kind: "hold", Reason: d.Summary}
	var rec scheduler.Decision
	if err := json.Unmarshal(d.Plan, &rec); err != nil {
		return out
	}
	var kinds, reasons []string
	add := func(kind, reason string) {
		if !slices.Contains(kinds, kind) {
			kinds = append(kinds, kind)
		}
		if reason != "" && !slices.Contains(reasons, reason) {
			reasons = append(reasons, reason)
		}
	}
	// The offering and count are what launched: a launch that failed and
	// fell back to another offering in the same tick is two records, and
	// only the second launched. A dry run launches nothing: its are what
	// it would have launched. When every launch failed, the offering is
	// the first one tried and the count is left out (the reason says what
	// failed).
	var launched []string
	for _, l := range rec.Launches {
		switch {
		case len(l.Instances) > 0:
			if !slices.Contains(launched, l.Offering) {
				launched = append(launched, l.Offering)
			}
			out.Count += len(l.Instances)
		case d.DryRun:
			if !slices.Contains(launched, l.Offering) {
				launched = append(launched, l.Offering)
			}
			out.Count += l.Count
		}
		out.Instances = append(out.Instances, l.Instances...)
		add("launch", l.Reason+" → "+l.Outcome)
	}
	if out.Offering = strings.Join(launched, ", "); out.Offering == "" && len(rec.Launches) > 0 {
		out.Offering = rec.Launches[0].Offering
	}
	for _, a := range rec.Drains {
		out.Instances = append(out.Instances, a.Instance)
		add("drain", a.Reason)
	}
	for _, a := range rec.Terminates {
		out.Instances = append(out.Instances, a.Instance)
		add("terminate", a.Reason)
	}
	if len(kinds) > 0 {
		out.Kind = strings.Join(kinds, "+")
		out.Reason = strings.Join(reasons, "; ")
	} else if len(rec.Notes) > 0 {
		out.Reason = strings.Join(rec.Notes, "; ")
	}
	if d.DryRun {
		out.Reason = "dry run: " + out.Reason
	}
	return out
}

func (b *backend) Bursts(ctx context.Context, q api.BurstQuery) ([]api.Burst, error) {
	// The page is read from the store, not the whole history: an active
	// burst is open (not ended), and every burst of all=true is listed.
	f := state.FloorFilter{Pool: q.Pool, Kind: state.FloorManual, ByID: true, AfterID: q.After}
	if q.All {
		f.Limit = q.Limit
	} else {
		f.Open = true
	}
	fls, err := b.store.Floors(ctx, f)
	if err != nil {
		return nil, err
	}
	rows := len(fls)
	if rows == 0 && q.Pool != "" && (!q.All || q.After != "") {
		// An empty page of a filtered list says nothing of the pool:
		// look for any burst of it.
		anyRow, err := b.store.Floors(ctx, state.FloorFilter{Pool: q.Pool, Kind: state.FloorManual, Limit: 1})
		if err != nil {
			return nil, err
		}
		rows = len(anyRow)
	}
	if err := b.knownPool(q.Pool, rows); err != nil {
		return nil, err
	}
	now := b.clock.Now()
	counts, err := b.burstInstances(ctx, now)
	if err != nil {
		return nil, err
	}
	out := []api.Burst{}
	waits := map[string]floorWaits{}
	lease := b.leaseOf(ctx)
	for _, f := range fls {
		if f.ID <= q.After {
			continue
		}
		bu := apiBurst(f, now, counts)
		if !q.All && bu.State != "active" {
			continue
		}
		if bu.State == "active" {
			fw, ok := waits[bu.Pool]
			if !ok {
				fw = b.waitsOf(ctx, bu.Pool, lease)
				waits[bu.Pool] = fw
			}
			fw.wait(&bu)
			bu.Waiting = listedWaiting(bu.Waiting, bu.ID)
		}
		if q.Limit > 0 && len(out) >= q.Limit {
			break
		}
		out = append(out, bu)
	}
	return out, nil
}

// heldByNoOffering is Burst.HeldBy when no offering could be launched for
// a floor (out of stock, held after a failed launch, quota).
const heldByNoOffering = "no_offering"

// heldByNoPool is Burst.HeldBy for a burst whose pool the config no longer
// has.
const heldByNoPool = "no_pool"

// floorWaits is what a pool's last evaluation left its floors waiting
// for, by floor owner, and when it ran.
type floorWaits struct {
	at    time.Time
	waits map[string]policy.FloorWait
	// gone: the pool is not in this server's config, so no tick
	// launches for its floors (removed or renamed since they opened).
	gone string
	// follower: this server does not lead, so it does not know what its
	// floors wait for; it says so, naming the leader (Burst.WaitingUnknown).
	follower string
}

// waitsOf is what this server's last evaluation of pool left its floors
// waiting for: the plan's own Waits, written with its notes. None when
// that evaluation failed, or when this server does not lead (a follower
// evaluates nothing, and one that lost its term holds an old plan): it
// then says who does (follower).
func (b *backend) waitsOf(ctx context.Context, pool string, lease *leaseRead) floorWaits {
	if _, ok := b.sched.PoolSpec(pool); !ok {
		return floorWaits{gone: pool}
	}
	if b.elector != nil {
		if _, leads := b.elector.Acting(); !leads {
			return floorWaits{follower: onlyTheLeaderKnows(lease.get(ctx), pool, "the burst")}
		}
	}
	st, ok := b.sched.LastStatus(pool)
	if !ok || st.Err != "" || st.Time.IsZero() || len(st.Plan.Waits) == 0 {
		return floorWaits{}
	}
	out := floorWaits{at: st.Time, waits: make(map[string]policy.FloorWait, len(st.Plan.Waits))}
	for _, w := range st.Plan.Waits {
		out.waits[w.Owner] = w
	}
	return out
}

// onlyTheLeaderKnows is a follower's Burst.WaitingUnknown (floor: "the
// burst") and Floor.WaitingUnknown: who knows what floor waits for, as
// the lease says.
func onlyTheLeaderKnows(li *api.LeaderInfo, pool, floor string) string {
	what := "only the leader evaluates the pool and knows what " + floor + " waits for"
	switch {
	case li.Error == "" && li.Holder != "" && li.Pools != nil && !slices.Contains(li.Pools, pool):
		return fmt.Sprintf("this server (%s) does not lead, and the leader, %s, runs a config without pool %s: no server evaluates the pool or launches for %s until one whose config has it leads (roll the config out to every server)", li.This, li.Holder, pool, floor)
	case li.Error != "":
		return fmt.Sprintf("this server (%s) does not lead: %s, and the database could not say which server leads (%s)", li.This, what, li.Error)
	case li.Holder == "":
		return fmt.Sprintf("this server (%s) does not lead, and no server holds the lease now (a failover): %s; ask again once one does (spillway status names it)", li.This, what)
	}
	return fmt.Sprintf("this server (%s) does not lead: %s; ask the leader, %s", li.This, what, li.Holder)
}

// wait sets bu's Waiting from its pool's waits, while it is active.
func (fw floorWaits) wait(bu *api.Burst) {
	if fw.follower != "" && bu.State == "active" {
		bu.WaitingUnknown = fw.follower
		return
	}
	if fw.gone != "" && bu.State == "active" {
		bu.Waiting = fmt.Sprintf("pool %q is not in this server's config (removed or renamed since the burst was opened): nothing launches for it; end it with spillway burst cancel %s", fw.gone, bu.ID)
		bu.HeldBy = heldByNoPool
		return
	}
	w, ok := fw.waits[bu.ID]
	if !ok || bu.State != "active" || fw.at.Before(bu.CreatedAt) {
		return
	}
	bu.Waiting, bu.HeldBy, bu.WaitingAt = w.Why, heldBy(w), fw.at
}

// maxListedWaiting bounds, in runes, a waiting shown in a listing (the
// pool's floors in /v1/status, /v1/pools and the page; GET /v1/bursts): a
// note that names every offering skipped grows with the pool's offerings
// (60 out of stock: about 5 kB), repeated for each floor of each pool at
// every poll. GET /v1/bursts/{id} says it whole.
const maxListedWaiting = 300

// listedWaiting is why, cut to maxListedWaiting runes for a listing,
// saying where it is whole.
func listedWaiting(why, burst string) string {
	r := []rune(why)
	if len(r) <= maxListedWaiting {
		return why
	}
	whole := "the pool's decisions say it whole"
	if burst != "" {
		whole = "GET /v1/bursts/" + burst + " says it whole"
	}
	return string(r[:maxListedWaiting]) + "… (" + whole + ")"
}

func heldBy(w policy.FloorWait) string {
	if w.Limit == "" {
		return heldByNoOffering
	}
	return w.Limit
}

// burstCounts is, by burst id, the live instances each manual burst holds
// and the GPUs its launches in flight may still add.
type burstCounts struct {
	instances, pendingGPUs map[string]int
}

// burstInstances counts, by burst id, the live instances each manual burst
// holds at now (launched for it, or kept by it while it is active) and the
// GPUs of its pending launches, not yet recorded as instances.
func (b *backend) burstInstances(ctx context.Context, now time.Time) (burstCounts, error) {
	rows, err := b.store.Instances(ctx, state.InstanceFilter{Live: true})
	if err != nil {
		return burstCounts{}, err
	}
	held, err := b.sched.Holders(ctx, rows, now)
	if err != nil {
		return burstCounts{}, err
	}
	pending, err := b.sched.PendingGPUs(ctx, rows, now)
	if err != nil {
		return burstCounts{}, err
	}
	out := burstCounts{instances: map[string]int{}, pendingGPUs: pending}
	for _, h := range held {
		if h.Burst != "" {
			out.instances[h.Burst]++
		}
	}
	return out, nil
}

func apiBurst(f state.Floor, now time.Time, c burstCounts) api.Burst {
	bu := api.Burst{
		ID: f.ID, Pool: f.Pool, GPUs: f.GPUs, Offering: f.Offering, Reason: f.Reason, Owner: f.Owner,
		CreatedAt: f.CreatedAt, Until: f.Until, State: "active", EndedAt: f.EndedAt,
		Instances: c.instances[f.ID], LaunchingGPUs: c.pendingGPUs[f.ID],
	}
	switch {
	case strings.HasPrefix(f.EndReason, "cancelled by "):
		bu.State, bu.CancelledBy = "cancelled", strings.TrimPrefix(f.EndReason, "cancelled by ")
	case !f.EndedAt.IsZero() || (!f.Until.IsZero() && !now.Before(f.Until)):
		bu.State = "ended"
		if bu.EndedAt.IsZero() {
			bu.EndedAt = f.Until
		}
	}
	return bu
}

func (b *backend) CreateBurst(ctx context.Context, r api.CreateBurstRequest, principal string) (api.Burst, error) {
	f, err := b.sched.CreateBurst(ctx, scheduler.BurstRequest{
		Pool: r.Pool, GPUs: r.GPUs, For: time.Duration(r.For), Reason: r.Reason, Offering: r.Offering, Principal: principal,
		// The API has bound an operator by the manual limits, and lets an
		// admin past them (api.Backend.CreateBurst).
		ManualChecked:  true,
		IdempotencyKey: r.IdempotencyKey, RequestDigest: idemDigest(r),
	})
	var le *scheduler.LimitError
	var re *scheduler.RequestError
	switch {
	case errors.Is(err, scheduler.ErrUnknownPool):
		// The kind goes last: the API answers with the message without it.
		return api.Burst{}, fmt.Errorf("%v: %w", err, api.ErrNotFound)
	case errors.As(err, &le), errors.As(err, &re):
		return api.Burst{}, fmt.Errorf("%v: %w", err, api.ErrInvalid)
	case errors.Is(err, state.ErrExists) && r.IdempotencyKey != "":
		return api.Burst{}, fmt.Errorf("%v: %w", err, api.ErrKeyUsed)
	case err != nil:
		return api.Burst{}, err
	}
	return apiBurst(f, b.clock.Now(), burstCounts{}), nil
}

// idemDigest is the digest stored with a burst that has an idempotency key.
func idemDigest(r api.CreateBurstRequest) string {
	if r.IdempotencyKey == "" {
		return ""
	}
	return r.Digest()
}

func (b *backend) Burst(ctx context.Context, id string) (api.Burst, error) {
	f, err := b.store.Floor(ctx, id)
	if errors.Is(err, state.ErrNotFound) || (err == nil && f.Kind != state.FloorManual) {
		return api.Burst{}, fmt.Errorf("burst %q: %w", id, api.ErrNotFound)
	}
	if err != nil {
		return api.Burst{}, err
	}
	now := b.clock.Now()
	counts, err := b.burstInstances(ctx, now)
	if err != nil {
		return api.Burst{}, err
	}
	bu := apiBurst(f, now, counts)
	if bu.State == "active" {
		b.waitsOf(ctx, bu.Pool, b.leaseOf(ctx)).wait(&bu)
	}
	return bu, nil
}

func (b *backend) BurstByKey(ctx context.Context, principal, key string) (api.Burst, string, error) {
	f, err := b.store.FloorByKey(ctx, principal, key)
	if errors.Is(err, state.ErrNotFound) {
		return api.Burst{}, "", fmt.Errorf("burst with key %q: %w", key, api.ErrNotFound)
	}
	if err != nil {
		return api.Burst{}, "", err
	}
	now := b.clock.Now()
	counts, err := b.burstInstances(ctx, now)
	if err != nil {
		return api.Burst{}, "", err
	}
	bu := apiBurst(f, now, counts)
	if bu.State == "active" {
		b.waitsOf(ctx, bu.Pool, b.leaseOf(ctx)).wait(&bu)
	}
	return bu, f.RequestDigest, nil
}

func (b *backend) CancelBurst(ctx context.Context, id, principal string) (api.Burst, error) {
	f, err := b.store.Floor(ctx, id)
	if errors.Is(err, state.ErrNotFound) || (err == nil && f.Kind != state.FloorManual) {
		return api.Burst{}, fmt.Errorf("burst %q: %w", id, api.ErrNotFound)
	}
	if err != nil {
		return api.Burst{}, err
	}
	now := b.clock.Now()
	if bu := apiBurst(f, now, burstCounts{}); bu.State != "active" {
		return api.Burst{}, fmt.Errorf("burst %s is already %s: %w", id, bu.State, api.ErrConflict)
	}
	f, err = b.sched.CancelBurst(ctx, id, principal)
	if errors.Is(err, scheduler.ErrBurstEnded) && f.ID != "" {
		// Another caller (or the burst's time) ended it since the check.
		return api.Burst{}, fmt.Errorf("burst %s is already %s: %w", id, apiBurst(f, now, burstCounts{}).State, api.ErrConflict)
	}
	if err != nil {
		return api.Burst{}, err
	}
	now = b.clock.Now() // it holds what it launched, no longer what it kept
	counts, err := b.burstInstances(ctx, now)
	if err != nil {
		return api.Burst{}, err
	}
	return apiBurst(f, now, counts), nil
}

func (b *backend) AddAudit(ctx context.Context, e api.AuditEntry) (api.AuditEntry, error) {
	id, err := b.store.AddAudit(ctx, state.AuditEntry{
		Time: e.Time, Principal: e.Principal, Role: e.Role, Source: e.Source, Action: e.Method + " " + e.Path,
		Request: e.Request, Outcome: e.Outcome, Status: e.Status,
	})
	if err != nil {
		return api.AuditEntry{}, err
	}
	e.ID = id
	return e, nil
}

func (b *backend) Audit(ctx context.Context, q api.AuditQuery) ([]api.AuditEntry, error) {
	rows, err := b.store.Audit(ctx, state.AuditFilter{BeforeID: q.Before, Limit: q.Limit})
	if err != nil {
		return nil, err
	}
	out := make([]api.AuditEntry, len(rows))
	for i, r := range rows {
		method, path, _ := strings.Cut(r.Action, " ")
		out[i] = api.AuditEntry{
			ID: r.ID, Time: r.Time, Principal: r.Principal, Role: r.Role, Source: r.Source, Method: method, Path: path,
			Request: r.Request, Status: r.Status, Outcome: r.Outcome,
		}
	}
	return out, nil
}
