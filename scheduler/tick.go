package scheduler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spillway-io/spillway/boottime"
	"github.com/spillway-io/spillway/idlegap"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/spotlife"
	"github.com/spillway-io/spillway/state"
)

// tick is the working set of one pool's tick: what the cloud listed, the
// pool's live rows, and what was done, for the decision record.
type tick struct {
	pr       *poolRun
	now      time.Time
	cloud    map[string]providers.Instance // by instance id
	listFail map[string]string             // provider → why its list failed
	leader   Leader                        // the server's, nil without one (nowrites.go)
	rows     map[string]*state.Instance    // live rows by instance id
	orig     map[string]state.Instance     // rows as last written, to write only changes
	rec      Decision
	// notReady says, for each booting instance whose agent answered this
	// tick's probe without its GPUs (503: NVML not ready), what it said.
	notReady map[string]string
	// endTried holds the instances a terminate call was made for (or
	// skipped) this tick: the tick's later rounds do not ask again
	// (execTerminates).
	endTried map[string]bool
	// endFailed holds the live instances whose terminate call this tick
	// failed: billing, not capacity, and not to be ended, in the policy's
	// view for the rest of the tick (policyInstances).
	endFailed map[string]bool
	// unknownState holds the live rows whose instance the cloud lists in
	// a state its provider does not know: no room for the queue
	// (unknownState).
	unknownState map[string]bool
	// pastCount holds the live rows launched past their intent's count
	// (overLaunched) that the tick found not yet ending: billing, not
	// capacity, in the policy's view (policyInstances).
	pastCount map[string]bool
	// broken says, for each running instance whose agent reports every
	// GPU unhealthy and none busy, or its driver wedged, why it is
	// drained this tick; for a booting one whose agent says its driver
	// wedged, why it is ended.
	broken map[string]brokenWhy
	// pending holds the pool's intents still pending after this tick's
	// resumes and launches, by id: committed capacity the policy sees as
	// booting instances until they resolve (pendingInstances).
	pending map[string]state.Intent
	// scheduleIDs maps a schedule's name to its current firing's floor id.
	scheduleIDs map[string]string
	// writeErr says why a write to the state failed this tick (the first
	// one); the tick went on from memory (unwritten.go).
	writeErr string
	// readErr says why a read of the state failed this tick (the first
	// one); the tick went on from what it recalled (unread.go).
	readErr string
	// rowErr is the first failure of a write of instance rows this tick:
	// the tick's other rows are kept without trying (putRow).
	rowErr error
	// resumes are the pending intents due to be called again, called
	// after the tick's first ends (execResumes).
	resumes []state.Intent
	// heldResumes are the pending intents held back from a call this tick
	// (a timed-out call's back-off, the wait before resuming one found
	// pending, a state not read or not written), and why (holdResume).
	heldResumes []heldResume
	// deadline (on the scheduler's clock) ends the tick's launch calls:
	// its evaluation (now) plus the pool's longest call_timeout
	// (callSlack), within the pool's TickSlack, the most a hard budget
	// counts the next evaluation late. A launch call starts only
	// while half its call timeout is left before it, and is cut off at
	// it, or sooner at the end of a draining instance's drain_timeout
	// (launchDeadline); ends (drains, terminations) are never held by
	// it. Zero: none.
	deadline time.Time
}

// Tick runs one evaluation of a pool: observe, floors, spend, decide,
// execute, record. Ticks of one pool are serialised; pools tick
// independently.
func (s *Scheduler) Tick(ctx context.Context, pool string) error {
	pr, ok := s.pools[pool]
	if !ok {
		return fmt.Errorf("tick: no pool %q", pool)
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	ctx = context.WithValue(ctx, tickPoolKey{}, pr) // its calls are the pool's (Waiting)
	ctx, epoch, ok := s.acting(ctx)
	if !ok {
		return nil // a follower: the leader ticks
	}
	if epoch != pr.epoch {
		s.newTerm(pr, epoch)
	}
	began := s.clock.Now()
	defer func() { s.metrics.tickSeconds.WithLabelValues(pool).Observe(s.clock.Since(began).Seconds()) }()
	s.metrics.ticks.WithLabelValues(pool).Inc()

	snap := pr.spec.Snapshot(ctx)
	// Mutating cloud calls and state calls run detached from a shutdown,
	// each bounded on its own; read-only calls (the cloud's list, agent
	// probes) run on ctx and end at once on shutdown.
	cctx := detached(ctx)
	now := s.clock.Now()
	t := &tick{pr: pr, leader: s.opts.Leader, now: now, cloud: map[string]providers.Instance{}, listFail: map[string]string{}, rows: map[string]*state.Instance{}, orig: map[string]state.Instance{}, pending: map[string]state.Intent{}}
	t.rec = Decision{Pool: pool, Time: now, DryRun: s.opts.DryRun}
	if slack := pr.callSlack; slack > 0 {
		t.deadline = now.Add(slack)
	}

	if err := s.resumeIntents(ctx, cctx, t); err != nil {
		return s.tickFailed(t, err)
	}
	if !pr.seeded {
		if err := s.seed(cctx, pr); err != nil {
			return s.tickFailed(t, err)
		}
	}
	if err := s.observe(cctx, ctx, t, &snap); err != nil {
		return s.tickFailed(t, err)
	}
	if err := ctx.Err(); err != nil {
		// Shut down while observing: decide nothing on a cut-short view.
		return fmt.Errorf("pool %s: tick stopped before deciding: %w", pool, err)
	}
	floors, err := s.floors(cctx, t)
	if err != nil {
		return s.tickFailed(t, err)
	}
	snap.Floors = append(snap.Floors, floors...)
	if err := s.drainCancelled(cctx, t); err != nil {
		return s.tickFailed(t, err)
	}
	spend, err := s.spend(cctx, t)
	if err != nil {
		return s.tickFailed(t, err)
	}

	var plan policy.Plan
	for round := 0; ; round++ {
		snap.Unavailable, snap.Blocked = s.cache.Snapshot(now)
		snap.UnavailableWhy = s.cache.Causes(now)
		snap.Unused = pr.liveHolds(now)
		snap.Boot, snap.BootMean = pr.boots.Estimates(), pr.boots.Means()
		snap.IdleGaps = pr.idle.Gaps(now)
		s.addBlocks(&snap, now)
		insts := s.policyInstances(t)
		snap.SpotReclaims, snap.BurstLife = pr.spot.Rates(now, insts), pr.spot.Life(now)
		plan = policy.Decide(&pr.spec.Policy, snap, insts, spend, now)
		if round == 0 {
			t.rec.Notes = append(t.rec.Notes, plan.Notes...)
			t.rec.Waste = plan.Waste
		}
		s.holdUnused(t, plan.Unused)
		// Shut down meanwhile: the calls in flight finish, no further one
		// starts (each may take its provider's whole call timeout).
		s.execDrains(ctx, cctx, t, plan.Drains)
		failed := len(t.endFailed)
		s.execTerminates(ctx, cctx, t, plan.Terminates)
		if round == 0 {
			s.execResumes(ctx, cctx, t)
		}
		if n := len(t.endFailed) - failed; n > 0 && len(plan.Launches) > 0 && !s.opts.DryRun {
			// The plan's launches counted the instances it ended as gone
			// (their GPUs, cost and commitment freed for the launches):
			// made as planned beside instances that still run, they held
			// the pool past max_gpus, max_cost_per_hour or a hard budget.
			// Decided again, the policy sees those instances kept.
			t.rec.Notes = append(t.rec.Notes, fmt.Sprintf("decided again in the same tick: the terminate of %d instance(s) failed, and the plan's launches counted them ended", n))
			if round+1 >= maxRedecide || ctx.Err() != nil {
				break
			}
			continue
		}
		retry := s.execLaunches(ctx, cctx, t, plan.Launches)
		if !retry || round+1 >= maxRedecide || s.opts.DryRun || ctx.Err() != nil {
			break
		}
		t.rec.Notes = append(t.rec.Notes, "decided again in the same tick after a capacity or quota failure, or a launch of fewer instances than asked")
	}
	s.saveIdleGaps(cctx, t)
	s.saveHolds(cctx, t)
	held := s.saveUnavailable(cctx, now)
	t.rec.Snapshot = summarise(snap)
	t.rec.Spend = spend.Accrued
	if b := pr.spec.Policy.Limits.Budget; b != nil {
		t.rec.Budget = b.Amount
	}
	if t.readErr != "" {
		t.rec.Notes = append(t.rec.Notes, readNote(t.readErr))
	}
	if t.writeErr != "" {
		t.rec.Notes = append(t.rec.Notes, stateNote(t.writeErr))
	}
	err = s.record(cctx, t)
	pr.unwritable = t.writeErr
	t.remember()
	if t.readErr == "" {
		pr.mem.known = true
	} else {
		s.log.Error("state not readable; the tick went on from what it last read", "pool", pool, "err", t.readErr)
	}
	if t.writeErr != "" {
		s.log.Error("state not writable; the tick went on from memory", "pool", pool, "err", t.writeErr)
	}
	s.observeMetrics(t, snap, spend)
	pr.publish(Status{Pool: pool, Time: now, Snapshot: snap, Plan: s.shownPlan(t, plan), Spend: spend, Misconfigured: s.misconfigured(pr, now), Unavailable: held,
		StateErr: t.writeErr, ReadErr: t.readErr}, t.rows)
	return err
}

// shownPlan is plan as the pool's status shows it: without the drains
// and terminations of the policy's stand-ins for what no live row holds
// (a row held after it vanished, a pending intent's instances), which
// the tick did not and could not make, and with a note for each held
// row, so that an operator sees why capacity no instance row shows is
// counted (the jobs it was launched for wait on it, not on a new launch).
func (s *Scheduler) shownPlan(t *tick, plan policy.Plan) policy.Plan {
	stand := func(a policy.Action) bool { return standIn(a.InstanceID) }
	if slices.ContainsFunc(plan.Drains, stand) || slices.ContainsFunc(plan.Terminates, stand) {
		plan.Drains = slices.DeleteFunc(slices.Clone(plan.Drains), stand)
		plan.Terminates = slices.DeleteFunc(slices.Clone(plan.Terminates), stand)
	}
	plan.Waits = s.resumeWaits(t, plan.Waits)
	for _, r := range sortedHeld(t.pr.vanished) {
		if _, live := t.rows[r.ID]; live {
			continue
		}
		plan.Notes = append(slices.Clone(plan.Notes), fmt.Sprintf("instance %s (%s, launched at %s) vanished unlisted at %s: counted as booting, capacity for its jobs and its cost, until %s in case the cloud lists it late; replaced only then",
			r.ID, r.Offering, r.LaunchedAt.UTC().Format(time.TimeOnly), r.EndedAt.UTC().Format(time.TimeOnly), r.EndedAt.Add(vanishedHold).UTC().Format(time.TimeOnly)))
	}
	return plan
}

// WaitLaunchHeld is a policy.FloorWait's Limit (shown as a burst's
// held_by) for a floor whose launch is committed, a pending intent the
// policy counts as booting for it, and held back from its call: the
// back-off after a call that timed out, the wait (up to
// providers.ConsistencyWindow) before resuming an intent another process
// wrote, or a state that cannot be read or written.
const WaitLaunchHeld = "launch_held"

// resumeWaits adds to waits, for each floor whose pending intent the tick
// held back from its call, a wait saying why: the policy counts the
// intent's instances as booting for the floor, and left no wait of its
// own (a manual burst with no instance and nothing said for minutes).
// A floor the policy itself left short keeps the policy's wait.
func (s *Scheduler) resumeWaits(t *tick, waits []policy.FloorWait) []policy.FloorWait {
	if len(t.heldResumes) == 0 {
		return waits
	}
	recorded := t.recordedUnder()
	out := slices.Clone(waits)
	for _, h := range t.heldResumes {
		in := h.intent
		o, ok := t.pr.offs[in.Offering]
		owner := floorOwner(in.Floor)
		if _, pending := t.pending[in.ID]; !pending || !ok || in.Floor == "" || in.Count <= recorded[in.ID] {
			continue
		}
		gpus := (in.Count - recorded[in.ID]) * o.GPUs
		if i := slices.IndexFunc(out, func(w policy.FloorWait) bool { return w.Owner == owner }); i >= 0 {
			if out[i].Limit == WaitLaunchHeld { // another held intent of the same floor
				out[i].GPUs += gpus
				out[i].Why += "; " + h.why
			}
			continue
		}
		out = append(out, policy.FloorWait{Owner: owner, GPUs: gpus, Limit: WaitLaunchHeld, Why: h.why})
	}
	return out
}

// standIn reports whether id is one of the policy's stand-ins that no row
// holds: a held row's (heldID) or a pending intent's (pendingInstances).
func standIn(id string) bool {
	return strings.HasPrefix(id, heldPrefix) || strings.HasPrefix(id, pendingPrefix)
}

func (s *Scheduler) tickFailed(t *tick, err error) error {
	t.pr.publish(Status{Pool: t.pr.spec.Policy.Name, Time: t.now, Err: t.failure("", err)}, nil)
	s.metrics.tickErrors.WithLabelValues(t.pr.spec.Policy.Name).Inc()
	return err
}

// addBlocks adds the providers held back by throttling or invalid requests.
func (s *Scheduler) addBlocks(snap *policy.Snapshot, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, b := range s.blocks {
		if now.Before(b.until) {
			if snap.Blocked == nil {
				snap.Blocked = map[string]time.Time{}
			}
			snap.Blocked[p] = b.until
		}
	}
}

func (s *Scheduler) misconfigured(pr *poolRun, now time.Time) string {
	for _, o := range pr.spec.Policy.Offerings {
		if b, ok := s.blocked(o.Provider, now); ok && b.invalid {
			return b.why
		}
	}
	return ""
}

// policyInstances gives each live row its policy state.
func (s *Scheduler) policyInstances(t *tick) []policy.Instance {
	out := make([]policy.Instance, 0, len(t.rows))
	for _, r := range sortedRows(t.rows) {
		if in, ok := s.policyInstance(t.pr, r); ok {
			// Its unhealthy GPUs are no room for the queue, nor are
			// any of an instance in a state its provider does not know.
			in.UnhealthyGPUs = t.pr.unhealthy[r.ID]
			if t.unknownState[r.ID] {
				in.UnhealthyGPUs = in.Offering.GPUs
			}
			if t.endFailed[r.ID] || t.pastCount[r.ID] && r.State != state.InstanceTerminating {
				// Its terminate failed this tick: it bills on, whatever
				// its state, until a later tick ends it. Counted
				// against the limits and the budget as kept, busy (not
				// for scale-in) and held (no plan ends it again this
				// tick, nor counts on ending it), and none of its GPUs
				// room for the queue or a floor. So is one launched
				// past its intent's count that a dry run does not end.
				in.State, in.ReadyAt = policy.StateRunning, cmp.Or(r.JoinedAt, r.LaunchedAt)
				in.BusyGPUs, in.IdleSince, in.DrainStartedAt = in.Offering.GPUs, time.Time{}, time.Time{}
				in.UnhealthyGPUs, in.Held = in.Offering.GPUs, true
			}
			out = append(out, in)
		}
	}
	out = append(out, s.heldInstances(t)...)
	return append(out, s.pendingInstances(t)...)
}

// policyInstance is the policy's view of a row of pool pr; false for an
// ended one.
func (s *Scheduler) policyInstance(pr *poolRun, r *state.Instance) (policy.Instance, bool) {
	in := policy.Instance{
		ID: r.ID, Offering: s.rowOffering(pr, r), LaunchedAt: r.LaunchedAt, BusyGPUs: r.BusyGPUs,
		IdleSince: r.IdleSince, DrainStartedAt: r.DrainStartedAt, Floor: floorOwner(r.Floor),
	}
	switch r.State {
	case state.InstanceBooting:
		in.State = policy.StateBooting
	case state.InstanceRunning:
		in.State, in.ReadyAt = policy.StateRunning, r.JoinedAt
	case state.InstanceDraining:
		in.State, in.ReadyAt = policy.StateDraining, r.JoinedAt
	case state.InstanceTerminating:
		in.State = policy.StateTerminating
	default:
		return policy.Instance{}, false
	}
	return in, true
}

// pendingInstances stands for the instances the pool's pending intents may
// still launch: each counts as a booting instance of its offering, launched
// now, less the instances already recorded under it. A pending intent is a
// commitment (the next resume may launch it at any moment), so it counts
// toward max_gpus, max_cost_per_hour and the budget, and as capacity
// serving the demand it was written for, until it is done, failed or
// abandoned. Their ids name no row, and they are held
// (policy.Instance.Held): no plan drains or terminates one. An intent
// whose offering the config no longer has counts as an adopted instance
// no offering describes does (dearestOffering): skipped, it committed
// nothing until the instances its earlier call launched were listed.
func (s *Scheduler) pendingInstances(t *tick) []policy.Instance {
	if len(t.pending) == 0 {
		return nil
	}
	recorded := t.recordedUnder()
	ins := slices.Collect(maps.Values(t.pending))
	slices.SortFunc(ins, func(a, b state.Intent) int { return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID)) })
	var out []policy.Instance
	for _, in := range ins {
		o, _ := t.pr.intentOffering(in, providers.Instance{})
		for i := recorded[in.ID]; i < in.Count; i++ {
			out = append(out, policy.Instance{
				ID: fmt.Sprintf("%s%s/%d", pendingPrefix, in.ID, i), Offering: o, State: policy.StateBooting,
				LaunchedAt: t.now, Floor: floorOwner(in.Floor), Held: true,
			})
		}
	}
	return out
}

// recordedUnder counts, for each intent, the instances recorded under it:
// its live rows, and those this process adopted for it while it is still
// pending, ended or not. An adopted instance that has ended is not
// booting: counted as booting again, a drained burst's intent held back
// new demand's launches until its resume (up to
// providers.ConsistencyWindow, or a timed-out call's back-off).
func (t *tick) recordedUnder() map[string]int {
	ids := t.recordedIDs()
	recorded := make(map[string]int, len(ids))
	for intent, set := range ids {
		recorded[intent] = len(set)
	}
	return recorded
}

// recordedIDs is, for each intent, the ids recordedUnder counts.
func (t *tick) recordedIDs() map[string]map[string]bool {
	ids := map[string]map[string]bool{}
	for _, r := range t.rows {
		if r.IntentID != "" {
			addUnder(ids, r.IntentID, r.ID)
		}
	}
	for intent, adopted := range t.pr.adopted {
		for id := range adopted {
			addUnder(ids, intent, id)
		}
	}
	return ids
}

// addUnder adds id to the instances under intent.
func addUnder(ids map[string]map[string]bool, intent, id string) {
	if ids[intent] == nil {
		ids[intent] = map[string]bool{}
	}
	ids[intent][id] = true
}

// markAdopted records that instance id was adopted under pending intent.
func (pr *poolRun) markAdopted(intent, id string) {
	if pr.adopted == nil {
		pr.adopted = map[string]map[string]bool{}
	}
	if pr.adopted[intent] == nil {
		pr.adopted[intent] = map[string]bool{}
	}
	pr.adopted[intent][id] = true
}

// floorOwner maps a row's floor id to the owner the policy knows the floor
// by: manual floors by their id, schedule floors by the schedule's name.
func floorOwner(id string) string {
	if name, ok := scheduleName(id); ok {
		return name
	}
	return id
}

// rowOffering is the row's offering from the config, or, when the config no
// longer has it, rebuilt from what the row recorded. Its price is never
// below the one the row recorded at the launch: the ledger recomputes an
// instance's cost over its whole life at this price and keeps the larger
// amount, so a price lowered since (a catalog updated, a restart with
// another price_per_hour) counted nothing more for the instance until
// the lower price had caught up with what the old one billed (after an
// hour at $32.77/h and three more at a tenth of it: $32.77 counted, not
// even $42.60), money a hard budget launched and kept instances on.
//
// Its billing rule likewise is the dearer of the config's and the one
// recorded (dearerBilling): an offering moved from hourly to per-second
// billing at a restart recomputed a 40-minute-old instance's cost at
// 40 minutes of the price, not the hour it had already billed, and
// counted nothing more for it until then.
func (s *Scheduler) rowOffering(pr *poolRun, r *state.Instance) policy.Offering {
	if o, ok := pr.offs[r.Offering]; ok {
		o.PricePerHour = max(o.PricePerHour, r.PricePerHour)
		o.Billing = dearerBilling(o.Billing, policy.Billing(r.Billing))
		return o
	}
	return recordedOffering(r)
}

// recordedOffering is row r's offering as the row recorded it.
func recordedOffering(r *state.Instance) policy.Offering {
	return policy.Offering{
		Name: r.Offering, Provider: r.Provider, Zone: r.Zone, InstanceType: r.InstanceType,
		Market: policy.Market(r.Market), GPUs: r.GPUs, PricePerHour: r.PricePerHour, Billing: policy.Billing(r.Billing),
	}
}

// billingRank orders the billing rules by what a lifetime costs under
// each: per-second never more than per-second-min-60s (also ""), never
// more than hourly.
var billingRank = map[policy.Billing]int{policy.BillingPerSecond: 0, "": 1, policy.BillingPerSecondMin60: 1, policy.BillingHourly: 2}

// dearerBilling is whichever of the rules a and b bills a lifetime more
// (a when they bill alike).
func dearerBilling(a, b policy.Billing) policy.Billing {
	if billingRank[b] > billingRank[a] {
		return b
	}
	return a
}

// RowOffering is the offering row r is counted as by the ledger, the
// limits and the budget (rowOffering), so that the API shows what they
// count; a row of a pool the config lacks is counted as it recorded.
func (s *Scheduler) RowOffering(r state.Instance) policy.Offering {
	pr, ok := s.pools[r.Pool]
	if !ok {
		return recordedOffering(&r)
	}
	return s.rowOffering(pr, &r)
}

// spend accrues every live instance's cost in the current budget period to
// the ledger and returns the pool's spend so far. The first tick in a
// period (on this server) first writes the previous period's final
// amounts: each instance's cost from the last tick before the period
// ended to its end was accrued to neither period otherwise.
func (s *Scheduler) spend(ctx context.Context, t *tick) (policy.Spend, error) {
	pool := &t.pr.spec.Policy
	start, end := pool.BudgetPeriod(t.now)
	var entries []state.SpendEntry
	closing := !t.pr.spendPeriod.Equal(start)
	// Rows held after they vanished unlisted (vanished.go) accrue as
	// running: the cloud may still bill them.
	for _, r := range append(sortedRows(t.rows), t.heldRows()...) {
		entries = s.rowEntries(entries, t.pr, r, start, end, t.now, closing)
	}
	if err := s.recordSpends(ctx, t, entries); err != nil {
		return policy.Spend{}, fmt.Errorf("spend of pool %s: %w", pool.Name, err)
	}
	t.pr.spendPeriod = start
	var acc float64
	if !t.unread() {
		var err error
		acc, err = s.opts.Store.Spend(ctx, pool.Name, start)
		if err != nil && !t.readFailed("reading the spend of pool "+pool.Name, err) {
			return policy.Spend{}, fmt.Errorf("spend of pool %s: %w", pool.Name, err)
		}
	}
	if t.unread() {
		acc = t.pr.spendRecalled(start.UnixNano(), entries)
	} else {
		// What the ledger could not take yet counts all the same.
		acc += t.pr.unspentIn(start.UnixNano())
		t.pr.spendRead(start.UnixNano(), acc, entries)
	}
	t.pr.forgetLedger(t.rows, t.pr.vanished)
	acc += s.pendingSpend(t, start, end)
	return policy.Spend{PeriodStart: start, PeriodEnd: end, Accrued: acc}, nil
}

// pendingSpend is what the instances the pool's pending intents may have
// launched, and no row records yet, cost in the budget period [start,
// end) up to now: each counted from its intent's writing (its first call
// came right after). A call whose answer was lost (cut off, timed out)
// may have launched them, and the cloud bills them from their launch; they
// are adopted, and their cost counted from their launch, only once the
// cloud lists them (and the intent's resume waits out its back-off).
// Counted from the ledger alone, the pool's spend left out up to that
// long: $0.00 counted of $8.19 billed after a lost launch answer and a
// 15-minute listing lag, money a hard budget could launch on. One
// that never reached the cloud is counted all the same until its intent
// resolves: a hard budget cannot tell them apart.
func (s *Scheduler) pendingSpend(t *tick, start, end time.Time) float64 {
	if len(t.pending) == 0 {
		return 0
	}
	return intentsSpend(t.pr, t.pending, t.recordedUnder(), t.pr.written, start, end, t.now)
}

// intentsSpend is pendingSpend's sum: what the instances of the pending
// intents beyond those recorded under each (recorded) cost in the budget
// period [start, end) up to now, each from its intent's writing (written).
func intentsSpend(pr *poolRun, pending map[string]state.Intent, recorded map[string]int, written func(state.Intent) time.Time, start, end, now time.Time) float64 {
	until := now
	if end.Before(until) {
		until = end
	}
	var sum float64
	for _, id := range slices.Sorted(maps.Keys(pending)) {
		in := pending[id]
		o, _ := pr.intentOffering(in, providers.Instance{}) // as pendingInstances counts it
		n, at := in.Count-recorded[in.ID], written(in)
		if n <= 0 || !at.Before(until) {
			continue
		}
		sum += float64(n) * policy.PeriodCost(o, at, until, start)
	}
	return sum
}

// PendingSpend is what a tick of pool at now counts in its spend for its
// pending intents (pendingSpend), from the pending intents and live rows
// the state holds: for a server whose ticks do not show the pool's spend
// (a follower, or one before its first tick), which showed the ledger
// alone, less than the leader's figure while a launch was pending.
func (s *Scheduler) PendingSpend(pool string, intents []state.Intent, rows []state.Instance, now time.Time) float64 {
	pr, ok := s.pools[pool]
	if !ok || len(intents) == 0 {
		return 0
	}
	pending := make(map[string]state.Intent, len(intents))
	for _, in := range intents {
		if in.Pool == pool && in.Status == state.IntentPending {
			pending[in.ID] = in
		}
	}
	recorded := map[string]int{}
	for _, r := range rows {
		if r.IntentID != "" && r.Pool == pool && r.State != state.InstanceEnded {
			recorded[r.IntentID]++
		}
	}
	start, end := pr.spec.Policy.BudgetPeriod(now)
	// The tick's memory of a clock step (written) is its own: from its
	// intents' writing.
	return intentsSpend(pr, pending, recorded, func(in state.Intent) time.Time { return in.CreatedAt }, start, end, now)
}

// accrue records what r cost in the current budget period, up to its end
// (or now while it runs), and, when r began before it, what r cost in the
// period before up to that period's end. A failed write is kept for the
// next tick's (recordSpends).
func (s *Scheduler) accrue(ctx context.Context, t *tick, r *state.Instance) error {
	pr, now := t.pr, t.now
	start, end := pr.spec.Policy.BudgetPeriod(now)
	var entries []state.SpendEntry
	if e, ok := s.closedPeriodEntry(pr, r, start, now); ok {
		entries = append(entries, e)
	}
	if e, ok := s.spendEntry(pr, r, start, end, now); ok {
		entries = append(entries, e)
	}
	if err := s.recordSpends(ctx, t, entries); err != nil {
		return fmt.Errorf("spend of instance %s: %w", r.ID, err)
	}
	return nil
}

// closedPeriodEntry is r's final entry in the budget period that ended at
// start (the current period's start), when r ran in it.
func (s *Scheduler) closedPeriodEntry(pr *poolRun, r *state.Instance, start, now time.Time) (state.SpendEntry, bool) {
	if !r.LaunchedAt.Before(start) {
		return state.SpendEntry{}, false
	}
	prev, _ := pr.spec.Policy.BudgetPeriod(start.Add(-time.Nanosecond))
	return s.spendEntry(pr, r, prev, start, now)
}

// seedEndedSpend owes the ledger (keepUnspent: the first tick writes it)
// what the pool's rows that ended in this budget period or the one
// before cost in them, to their ends. A row ended while no tick of its
// pool ran was accrued only up to its pool's last tick, or not at all:
// its pool out of the config while the instance ran (the sweeper ends
// its row once the cloud no longer lists it, and no pool accrues it), or
// a server that stopped between a row's end and its last accrual. The
// budget did not count that run, and the pool, back, could spend it
// again. The ledger keeps the larger amount: a row accrued to its end
// already is unchanged.
func (s *Scheduler) seedEndedSpend(pr *poolRun, rows []state.Instance, now time.Time) {
	start, end := pr.spec.Policy.BudgetPeriod(now)
	var entries []state.SpendEntry
	for i := range rows {
		r := &rows[i]
		if r.State != state.InstanceEnded || r.EndedAt.IsZero() {
			continue // a live row: each tick accrues it
		}
		entries = s.rowEntries(entries, pr, r, start, end, now, true)
	}
	pr.keepUnspent(entries)
}

// rowEntries appends to entries r's ledger entries: in the period
// [start, end), and, when closing, in the period before it.
func (s *Scheduler) rowEntries(entries []state.SpendEntry, pr *poolRun, r *state.Instance, start, end, now time.Time, closing bool) []state.SpendEntry {
	if closing {
		if e, ok := s.closedPeriodEntry(pr, r, start, now); ok {
			entries = append(entries, e)
		}
	}
	if e, ok := s.spendEntry(pr, r, start, end, now); ok {
		entries = append(entries, e)
	}
	return entries
}

// spendEntry is the ledger entry of r in the period [start, end): what r
// was billed in it up to its own end (or now while it runs).
func (s *Scheduler) spendEntry(pr *poolRun, r *state.Instance, start, end, now time.Time) (state.SpendEntry, bool) {
	until := now
	if r.State == state.InstanceEnded && !r.EndedAt.IsZero() {
		until = r.EndedAt
	}
	if end.Before(until) {
		until = end
	}
	amount := policy.PeriodCost(s.rowOffering(pr, r), r.LaunchedAt, until, start)
	if amount <= 0 {
		return state.SpendEntry{}, false
	}
	return state.SpendEntry{Pool: r.Pool, Provider: r.Provider, InstanceID: r.ID, PeriodStart: start, Amount: amount, At: now}, true
}

// record stores the tick's decision when it did something or its notes
// changed, and logs it. A decision the state does not take is lost (what
// it did is in the rows kept for writing) and noted as a failed write.
func (s *Scheduler) record(ctx context.Context, t *tick) error {
	d := &t.rec
	d.Summary = d.summary()
	pool := t.pr.spec.Policy.Name
	pr := t.pr
	fresh := !t.now.After(pr.lastRecorded.Add(heartbeat))
	if !d.acted() && d.Summary == pr.lastSummary && fresh {
		return nil
	}
	failed := t.failedEndsKey()
	if failed != "" && failed == pr.lastFailed && d.Summary == pr.lastSummary && fresh {
		// Its terminates failed as the last stored decision's did (the
		// same instances, the same kind of error): stored and logged
		// once per change and every heartbeat, the repeats counted, not
		// once per tick for as long as the cloud refuses (an hour of
		// 30-second ticks stored 120 such decisions and logged 120
		// lines). Each attempt still counts in
		// spillway_terminate_failures_total.
		if pr.repeats == 0 {
			pr.repeatSince = t.now
		}
		pr.repeats++
		return nil
	}
	if pr.repeats > 0 {
		d.Notes = append(d.Notes, fmt.Sprintf("the terminate failure last recorded was decided and failed alike at %d more tick(s) from %s to the last before this one, not recorded each time (spillway_terminate_failures_total counts every attempt)",
			pr.repeats, pr.repeatSince.UTC().Format(time.TimeOnly)))
	}
	plan, err := d.marshal()
	if err != nil {
		return err
	}
	id, err := s.opts.Store.AddDecision(ctx, state.Decision{Pool: pool, Time: t.now, DryRun: d.DryRun, Summary: d.Summary, Plan: plan})
	if kept(err) {
		t.writeFailed("recording the decision", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("record decision of pool %s: %w", pool, err)
	}
	t.pr.lastSummary, t.pr.lastRecorded = d.Summary, t.now
	pr.lastFailed, pr.repeats = failed, 0
	s.metrics.decisions.WithLabelValues(pool).Inc()
	level := slogLevel(d.acted())
	s.log.Log(ctx, level, "decision", "pool", pool, "id", id, "dry_run", d.DryRun, "summary", d.Summary)
	return nil
}

// failedEndsKey names the failures of a decision whose only actions are
// terminates that failed: each instance and its failure's kind
// (failureKey), in order. "" for any other decision.
func (t *tick) failedEndsKey() string {
	d := &t.rec
	if len(d.Launches) > 0 || len(d.Drains) > 0 || len(d.Terminates) == 0 {
		return ""
	}
	var b strings.Builder
	for _, a := range d.Terminates {
		kind, ok := t.pr.termFailed[a.Instance]
		if a.Outcome != notTerminated || !ok {
			return ""
		}
		fmt.Fprintf(&b, "%s=%s;", a.Instance, kind)
	}
	return b.String()
}

// heartbeat: an unchanged, inactive decision is still recorded this often,
// so the decisions list shows the pool is evaluated.
const heartbeat = 10 * time.Minute

// publish makes a tick's status the pool's last one and, for a tick that
// decided, appends its figures to the timeline: its cloud GPUs are the
// burst capacity's, as spillway status counts them (none terminating).
func (pr *poolRun) publish(st Status, rows map[string]*state.Instance) {
	pr.smu.Lock()
	defer pr.smu.Unlock()
	pr.last = st
	if st.Err != "" {
		return
	}
	cloud := 0
	for _, r := range rows {
		if capacity(r) {
			cloud += r.GPUs
		}
	}
	if len(pr.timeline) >= maxSamples {
		pr.timeline = append(pr.timeline[:0], pr.timeline[len(pr.timeline)-maxSamples+1:]...)
	}
	pr.timeline = append(pr.timeline, Sample{Time: st.Time, OnPremBusy: st.Snapshot.OnPremBusyGPUs, CloudGPUs: cloud,
		QueuedGPUs: st.Snapshot.PendingGPUs, Spend: st.Spend.Accrued})
}

// seed teaches the pool's trackers what was recorded before this process
// started, so a restart forgets none: the boot tracker the joins, oldest
// first, the spot tracker the reclaim notices and spot lives, the idle tracker
// the newest idle gaps of each offering, the offerings held out of
// launches as unused, and what the capacity cache and the providers'
// back-offs held out of launches (seedStoredUnavailable).
func (s *Scheduler) seed(ctx context.Context, pr *poolRun) error {
	pool := pr.spec.Policy.Name
	rows, err := s.opts.Store.Instances(ctx, state.InstanceFilter{Pool: pool})
	if err != nil {
		return fmt.Errorf("read past joins for boot times: %w", err)
	}
	slices.SortFunc(rows, func(a, b state.Instance) int { return a.JoinedAt.Compare(b.JoinedAt) })
	for i := range rows {
		if r := &rows[i]; !r.JoinedAt.IsZero() {
			pr.boots.Observe(s.rowOffering(pr, r).Key(), r.JoinedAt.Sub(r.LaunchedAt))
		}
	}
	if err := s.seedLastNow(ctx, pr, rows); err != nil {
		return err
	}
	pr.seedVanished(rows, s.clock.Now())
	s.seedEndedSpend(pr, rows, s.clock.Now())
	s.seedSpot(pr, rows)
	gaps, err := s.opts.Store.IdleGaps(ctx, pool, idlegap.DefaultWindow)
	if err != nil {
		return fmt.Errorf("read past idle gaps for scale_in.idle auto: %w", err)
	}
	rs := make([]idlegap.Resolved, len(gaps))
	for i, g := range gaps {
		rs[i] = idlegap.Resolved{Gap: g.Gap, Key: g.Key()}
	}
	pr.idle.Restore(rs)
	if err := s.seedHolds(ctx, pr, s.clock.Now()); err != nil {
		return err
	}
	if err := s.seedStoredUnavailable(ctx, s.clock.Now()); err != nil {
		return err
	}
	pr.seeded = true
	return nil
}

// seedSpot teaches the spot tracker the reclaim notices of the pool's
// spot instances in rows and the ended lives of all its instances (the
// pool's mean life, spotlife.Tracker.Life), in the order they happened
// (the tracker decays forward only). The live instances' exposure is the
// tick's to count.
func (s *Scheduler) seedSpot(pr *poolRun, rows []state.Instance) {
	type spotEvent struct {
		at, launched time.Time
		off          policy.Offering
		reclaim      bool // a reclaim notice, else an ended life
		reclaimed    bool // an ended life cut short by a reclaim
	}
	var evs []spotEvent
	for i := range rows {
		r := &rows[i]
		o := s.rowOffering(pr, r)
		if !r.ReclaimedAt.IsZero() && o.Market == policy.MarketSpot {
			evs = append(evs, spotEvent{at: r.ReclaimedAt, off: o, reclaim: true})
		}
		if _, held := pr.vanished[r.ID]; held {
			continue // counted when its hold ends (settleVanished)
		}
		if r.State == state.InstanceEnded && !r.EndedAt.IsZero() {
			evs = append(evs, spotEvent{at: r.EndedAt, launched: r.LaunchedAt, off: o, reclaimed: !r.ReclaimedAt.IsZero()})
		}
	}
	slices.SortStableFunc(evs, func(a, b spotEvent) int { return a.at.Compare(b.at) })
	for _, e := range evs {
		if e.reclaim {
			pr.spot.Reclaimed(e.off.Key(), e.at)
		} else {
			pr.spot.Ended(&e.off, e.launched, e.at, e.reclaimed)
		}
	}
}

// newTerm starts the pool's trackers afresh when this server begins a new
// leader term: another server may have led meanwhile and stored joins,
// reclaims and idle gaps this one never saw, so the next tick reads them all back
// (seed) rather than keeping what it learnt before. Gaps resolved and not
// yet stored are kept for storing, and so are spend entries not yet
// written; instance rows not yet written are dropped (the next tick reads
// the rows back and decides again).
func (s *Scheduler) newTerm(pr *poolRun, epoch int64) {
	pr.keepUnsaved(s.clock.Now())
	pr.freshTrackers()
	clear(pr.unwritten) // another server may have acted on these instances since
	pr.mem = recall{}   // and on the rows, intents and floors last read
	pr.backoff = nil    // a new term calls every pending intent again,
	if epoch != pr.epoch+1 {
		// but when another server led since this one last did (its
		// calls may have launched what is not listed yet), not before
		// what they launched would be listed (resumeAfter).
		pr.resumeAt = nil
	}
	pr.epoch = epoch
}

// freshTrackers gives the pool empty trackers, to be seeded from the state
// at its next tick.
func (pr *poolRun) freshTrackers() {
	pr.boots, pr.idle, pr.spot, pr.seeded = boottime.New(), idlegap.New(), spotlife.New(), false
	pr.idle.Keep()
}

// keepUnsaved moves the gaps the idle tracker resolved since it was last
// asked into unsaved, the gaps to store, as resolved at now.
func (pr *poolRun) keepUnsaved(now time.Time) {
	for _, r := range pr.idle.Take() {
		pr.unsaved = append(pr.unsaved, state.IdleGap{Pool: pr.spec.Policy.Name, Provider: r.Key.Provider, Region: r.Key.Region,
			Zone: r.Key.Zone, InstanceType: r.Key.InstanceType, Market: string(r.Key.Market), At: now, Gap: r.Gap})
	}
}

// saveIdleGaps stores the idle gaps the pool's tracker resolved this tick.
// A failed write fails nothing: it is logged, and the gaps (the newest
// idlegap.MaxKept) are written with the next tick's, unless the store
// refused them as invalid (they never would be stored).
func (s *Scheduler) saveIdleGaps(ctx context.Context, t *tick) {
	pr := t.pr
	pr.keepUnsaved(t.now)
	if len(pr.unsaved) == 0 {
		return
	}
	if n := len(pr.unsaved) - idlegap.MaxKept; n > 0 {
		pr.unsaved = slices.Delete(pr.unsaved, 0, n)
	}
	switch err := s.opts.Store.AddIdleGaps(ctx, pr.unsaved); {
	case errors.Is(err, state.ErrInvalid):
		s.log.Warn("idle gaps not stored: the store refused them", "pool", pr.spec.Policy.Name, "gaps", len(pr.unsaved), "err", err)
	case err != nil:
		s.log.Warn("storing idle gaps failed; retried at the next tick", "pool", pr.spec.Policy.Name, "gaps", len(pr.unsaved), "err", err)
		return
	}
	pr.unsaved = pr.unsaved[:0]
}
