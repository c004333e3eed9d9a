package scheduler

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/state"
)

// probeFanOut bounds concurrent agent probes of one tick.
const probeFanOut = 32

// observe lists the pool's instances in each of its providers, adopts the
// ones a known intent launched but no row records (a crash between the
// launch and its record), and brings every live row up to date with the
// cloud and its agent: vanished instances end, booting ones join or time
// out, spot interruption notices drain at once. The lists and the probes
// run on read, which a shutdown cancels, each with its own deadline; the
// rest on ctx.
func (s *Scheduler) observe(ctx, read context.Context, t *tick, snap *policy.Snapshot) error {
	pool := t.pr.spec.Policy.Name
	listed := map[string]bool{}
	list := func(name string) {
		listed[name] = true
		lctx, cancel := s.callCtx(read, name)
		insts, err := s.opts.Providers[name].List(lctx, providers.ListFilter{Cluster: s.opts.Cluster, Pool: pool})
		cancel()
		if err != nil {
			why := fmt.Sprintf("provider %s: listing instances failed: %v", name, err)
			t.listFail[name] = why
			snap.Stale = append(snap.Stale, why)
			s.log.Warn("list failed", "pool", pool, "provider", name, "err", err)
			return
		}
		for _, in := range insts {
			in.Provider = name // the provider entry that listed it, whatever the backend reports
			if was, ok := t.cloud[in.ID]; ok && was.Provider == name && liveliness(was.State) >= liveliness(in.State) {
				continue // listed twice: the livelier state stands (liveliness)
			}
			t.cloud[in.ID] = in
		}
	}
	for _, name := range t.pr.providers() {
		list(name)
	}
	var live []state.Instance
	if !t.unread() {
		var err error
		live, err = s.opts.Store.Instances(ctx, state.InstanceFilter{Pool: pool, Live: true})
		if err != nil && !t.readFailed("reading the instances of pool "+pool, err) {
			return fmt.Errorf("instances of pool %s: %w", pool, err)
		}
	}
	if t.unread() {
		live = t.pr.mem.recalledRows()
	}
	// Live instances on a provider none of the pool's offerings uses any
	// more (an offering removed from the config) are still the pool's: list
	// that provider too, so they are drained and ended, not taken for
	// vanished. One whose provider the config no longer has at all cannot
	// be listed or ended: its row is kept as it is, and said.
	for _, r := range live {
		if listed[r.Provider] || t.listFail[r.Provider] != "" {
			continue
		}
		if _, ok := s.opts.Providers[r.Provider]; ok {
			list(r.Provider)
			continue
		}
		why := fmt.Sprintf("provider %s is no longer in the config: its instances cannot be listed or terminated; put it back until they have ended", r.Provider)
		t.listFail[r.Provider] = why
		t.rec.Notes = append(t.rec.Notes, why)
		s.log.Warn("instances on a provider the config no longer has", "pool", pool, "provider", r.Provider, "instance", r.ID)
	}
	if err := read.Err(); err != nil {
		// Shut down while listing: conclude nothing from cut-short lists.
		return fmt.Errorf("pool %s: listing stopped: %w", pool, err)
	}
	for i := range live {
		t.rows[live[i].ID] = &live[i]
		t.orig[live[i].ID] = live[i]
	}
	t.overlayUnwritten()
	s.unstep(t)
	if err := s.adopt(ctx, t); err != nil {
		return err
	}

	var joins, stopped []*state.Instance
	cleared := false
	for _, r := range sortedRows(t.rows) {
		if _, failed := t.listFail[r.Provider]; failed {
			continue
		}
		ci, seen := t.cloud[r.ID]
		halted := ci.State == providers.StateStopped || ci.State == providers.StateStopping
		if seen && r.State != state.InstanceTerminating && (ci.State == providers.StateStopped || halted && !endAsked(r)) {
			// Stopped outside Spillway (by hand, in the console): it
			// runs nothing, yet it is not gone and bills (its disks;
			// on ECS its compute too, unless StopCharging) until it is
			// terminated, which is done now, without a drain. Its row
			// ends once the cloud shows it ending, its cost counted
			// until the terminate. A dry run, which terminates
			// nothing and sees it stopped at every tick, says once that
			// it would. A row whose end was asked (a terminate the
			// cloud refused, by a server that stopped before its next
			// tick cleared the reason) is stopped by hand once the
			// cloud lists it Stopped: Stopping, it may be the release
			// asked, which ECS lists alike (ended as asked, below).
			if !s.opts.DryRun || s.first(t, r.ID, stoppedEvent) {
				stopped = append(stopped, r)
			}
			continue
		}
		if seen && !halted {
			delete(t.pr.counted, instEvent{r.ID, stoppedEvent}) // started again: a next stop is said again
		}
		gone := !seen || ci.State == providers.StateTerminated || ci.State == providers.StateShuttingDown || halted
		if gone {
			if !seen && r.State != state.InstanceTerminating && t.now.Sub(r.LaunchedAt) < listGrace {
				// Not listed yet, even one whose terminate was asked:
				// the cloud refuses to end an instance it does not know
				// yet (EC2's and ECS's NotFound while their listing
				// lags), and ended as asked at the next tick its row
				// was gone while the instance ran on, billed and
				// counted nowhere until its listing made it a stranger.
				continue
			}
			if err := s.endRow(ctx, t, r); err != nil {
				return err
			}
			continue
		}
		if endAsked(r) && (ci.State == providers.StateRunning || ci.State == providers.StatePending) {
			// Its terminate failed and the cloud did not act: the
			// policy decides again, and a later end (a reclaim) is
			// not taken for the one asked.
			r.EndReason, cleared = "", true
		}
		r.PrivateIP, r.Zone = cmp.Or(ci.PrivateIP, r.PrivateIP), cmp.Or(ci.Zone, r.Zone)
		s.unknownState(t, r, ci.State)
		switch r.State {
		case state.InstanceTerminating:
			s.stillRunning(t, r, ci.State)
			s.reterminate(ctx, t, r)
			continue
		case state.InstanceBooting, state.InstanceRunning, state.InstanceDraining:
		default:
			continue
		}
		if ci.State == providers.StateRunning {
			joins = append(joins, r)
		}
	}
	if cleared {
		// Written before anything else the tick does (its probes, its
		// terminate calls) and not with the tick's other changes at its
		// end: a server that stopped meanwhile left the reason on the row,
		// and the next one ended the instance, once gone or stopped by
		// hand, with the reason of the terminate the cloud had refused (no
		// terminate of the stopped instance, no vanished instance counted).
		if err := s.flush(ctx, t); err != nil {
			return err
		}
	}
	// Ended together, in one call per provider (terminateAll): the
	// instances stopped outside Spillway and those past their join
	// timeout.
	var ends []instEnd
	if len(stopped) > 0 {
		if s.opts.DryRun {
			s.log.Warn("instances stopped outside Spillway: a server not in dry run would terminate them", "pool", pool, "instances", rowIDs(stopped))
		} else {
			s.log.Warn("instances stopped outside Spillway: terminating them", "pool", pool, "instances", rowIDs(stopped))
		}
		for _, r := range stopped {
			ends = append(ends, instEnd{row: r, reason: stoppedReason})
		}
	}
	s.probe(read, t, joins)

	for _, r := range sortedRows(t.rows) {
		ci, seen := t.cloud[r.ID]
		if !seen || r.State == state.InstanceEnded || r.State == state.InstanceTerminating || ci.State == providers.StateStopped || ci.State == providers.StateStopping {
			continue // a stopped one whose terminate failed is terminated again next tick
		}
		if r.State == state.InstanceBooting && t.now.Sub(r.LaunchedAt) >= t.pr.spec.JoinTimeout {
			ends = append(ends, instEnd{row: r, reason: s.joinTimedOut(t, r)})
			continue
		}
		if overLaunched(r, ci) {
			// Recorded by adopt, or by a launch's answer, past its
			// intent's count; ended again at each tick its terminate
			// failed. A dry run, which ends nothing, says so once, and
			// counts it as billing, not as capacity, as a server not in
			// dry run would once its terminate failed (policyInstances).
			if t.pastCount == nil {
				t.pastCount = map[string]bool{}
			}
			t.pastCount[r.ID] = true
			if !s.opts.DryRun || s.first(t, r.ID, overLaunchedEvent) {
				ends = append(ends, instEnd{row: r, reason: overLaunchedReason})
			}
			continue
		}
		if why, ok := notItsOffering(r, ci); ok && (r.State == state.InstanceBooting || r.State == state.InstanceRunning) {
			// Counted as the offering it was launched as, it would be
			// room for the queue it may not have and bill at a price
			// it no longer has (a larger type, or on-demand for spot,
			// past the budget).
			s.notItsOfferingFirst(t, r, ci, why)
			if r.State == state.InstanceBooting {
				ends = append(ends, instEnd{row: r, reason: why}) // no job yet
			} else {
				s.drain(ctx, t, r, why)
			}
			continue
		}
		if b, ok := t.broken[r.ID]; ok && r.State == state.InstanceBooting {
			// It has no job: ended at once, not billed until its
			// join timeout.
			ends = append(ends, instEnd{row: r, reason: s.brokenAtBoot(t, r, b)})
			continue
		}
		if b, ok := t.broken[r.ID]; ok && r.State == state.InstanceRunning {
			// Kept, it would be money for nothing until max_lifetime,
			// and taken for capacity the queue could use.
			s.drain(ctx, t, r, b.why)
			if r.State == state.InstanceDraining {
				s.metrics.broken.WithLabelValues(r.Pool, r.Offering, b.cause).Inc()
			}
		}
		if ci.InterruptionNotice != nil && (r.State == state.InstanceBooting || r.State == state.InstanceRunning || r.State == state.InstanceDraining) {
			s.interrupted(ctx, t, r, *ci.InterruptionNotice)
		}
	}
	s.terminateAll(ctx, t, ends)
	for e := range t.pr.counted {
		if _, live := t.rows[e.id]; !live {
			delete(t.pr.counted, e)
		}
	}
	for id := range t.pr.termFailed {
		if _, live := t.rows[id]; !live {
			delete(t.pr.termFailed, id)
		}
	}
	s.settleVanished(t)
	return s.flush(ctx, t)
}

// liveliness ranks the states an instance listed twice in one listing
// may be given (a cloud's listing caught mid-change, two pages of an
// inconsistent read): the livelier stands. Taken in the last, a running
// instance listed terminated too was ended as vanished while it ran,
// and the tick launched its replacement past max_gpus; taken running,
// an instance that has ended is ended at the next listing, a tick late.
func liveliness(s providers.State) int {
	switch s {
	case providers.StateRunning:
		return 5
	case providers.StatePending:
		return 4
	case providers.StateUnknown:
		return 3
	case providers.StateStopping, providers.StateStopped:
		return 2
	case providers.StateShuttingDown:
		return 1
	}
	return 0 // terminated
}

// notItsOffering reports why r's instance, which the cloud lists as ci,
// is not the offering it is counted as: resized, or in another market.
func notItsOffering(r *state.Instance, ci providers.Instance) (string, bool) {
	if why, ok := resized(r, ci); ok {
		return why, true
	}
	return otherMarket(r, ci)
}

// notItsOfferingFirst counts and says, once per instance, that r's
// instance, which the cloud lists as ci, is not its offering (why): a
// failed launch whose offering is skipped for the capacity TTL, as asked
// again the cloud would answer so again, each tick (a launch answered in
// the other market, or with another type; one resized by hand after it
// joined is rare, and skipping its offering for a TTL costs little). A
// booting one whose terminate fails, or any in a dry run, which ends
// nothing, is seen so again at every tick: counted at each, a single
// instance was as many failed launches, and kept its offering skipped
// for as long as it ran.
func (s *Scheduler) notItsOfferingFirst(t *tick, r *state.Instance, ci providers.Instance, why string) {
	if !s.first(t, r.ID, notItsOfferingEvent) {
		return
	}
	s.log.Warn("instance is not its offering any more: ending it", "pool", r.Pool, "instance", r.ID, "why", why)
	if _, other := otherMarket(r, ci); other {
		s.neverJoined(t, r, providers.CodeOtherMarket, causeOtherMarket, why)
		return
	}
	s.neverJoined(t, r, providers.CodeResized, causeResized, why)
}

// notItsOfferingEvent is the instEvent of an instance the cloud lists as
// another type or in another market than its offering's.
const notItsOfferingEvent = "not_its_offering"

// otherMarket reports why r's instance, which the cloud lists as ci, is
// not in its offering's market: a launch asked as spot that the cloud ran
// on-demand (or the reverse). Counted at its offering's spot price, an
// on-demand instance billed three times that past max_cost_per_hour and
// the budget, for as long as it ran; one ran as spot when on-demand was
// asked may be reclaimed under jobs the pool placed on it as lasting. It
// is drained and ended, as a resized one is.
func otherMarket(r *state.Instance, ci providers.Instance) (string, bool) {
	if ci.Market == "" || r.Market == "" || string(ci.Market) == r.Market {
		return "", false
	}
	return fmt.Sprintf("the cloud runs it as %s, its offering %s asked for %s: not counted at its offering's price and market; drained and terminated", ci.Market, r.Offering, r.Market), true
}

// resized reports why r's instance, which the cloud lists as ci, is no
// longer the offering it was launched as: its instance type was changed
// outside Spillway (stopped, modified and started again between two
// ticks, or while no server ran). Counted as its offering, its GPUs were
// room for the queue and its price the budget's, whatever it became. It is
// drained and ended, as an instance stopped outside Spillway is ended.
func resized(r *state.Instance, ci providers.Instance) (string, bool) {
	if ci.InstanceType == "" || r.InstanceType == "" || ci.InstanceType == r.InstanceType {
		return "", false
	}
	return fmt.Sprintf("instance type changed outside Spillway, from %s (offering %s) to %s: not counted as its offering's GPUs and price any more; drained and terminated", r.InstanceType, r.Offering, ci.InstanceType), true
}

// unknownState notes a live row whose instance the cloud lists in a state
// its provider does not know (providers.StateUnknown: one the cloud added
// later, a maintenance state): it exists and bills, yet nothing says it
// runs or will run jobs. The budget and the limits count it as before,
// and the policy sees none of its GPUs as room for the queue
// (policyInstances): the jobs are served elsewhere, by an instance
// launched for them, rather than wait on it (a booting one until its
// join timeout, a running one for as long as the cloud says so). It is
// said once per spell in the decisions and the log.
func (s *Scheduler) unknownState(t *tick, r *state.Instance, cs providers.State) {
	if cs != providers.StateUnknown {
		delete(t.pr.counted, instEvent{r.ID, unknownEvent})
		return
	}
	switch r.State {
	case state.InstanceBooting, state.InstanceRunning, state.InstanceDraining:
	default:
		return
	}
	if t.unknownState == nil {
		t.unknownState = map[string]bool{}
	}
	t.unknownState[r.ID] = true
	if s.first(t, r.ID, unknownEvent) {
		t.rec.Notes = append(t.rec.Notes, fmt.Sprintf("instance %s (%s, %s): the cloud lists it in a state Spillway does not know; counted as billing (budget, limits), not as capacity for the queue, until the cloud lists it running or ended", r.ID, r.Offering, r.State))
		s.log.Warn("instance in a state the provider does not know: counted as billing, not as capacity", "pool", r.Pool, "instance", r.ID, "row_state", r.State)
	}
}

// unknownEvent is the instEvent of an instance listed in a state its
// provider does not know.
const unknownEvent = "unknown_state"

// An instEvent is something that happened to an instance: a join timeout
// or a spot notice.
type instEvent struct{ id, what string }

// first reports whether what happened to instance id is seen for the first
// time, to be counted (in the metrics, the capacity cache and the spot
// rates) and noted once: a spot notice stays on a draining instance until
// the cloud ends it, and a dry run leaves every instance as it is, so the
// same event comes back at every tick.
func (s *Scheduler) first(t *tick, id, what string) bool {
	e := instEvent{id, what}
	if t.pr.counted[e] {
		return false
	}
	if t.pr.counted == nil {
		t.pr.counted = map[instEvent]bool{}
	}
	t.pr.counted[e] = true
	return true
}

// flush writes, in one transaction, the live rows this tick changed and
// the rows earlier writes left unwritten. When the write fails, they are
// kept for the next tick's, which goes on from them meanwhile.
func (s *Scheduler) flush(ctx context.Context, t *tick) error {
	var changed []state.Instance
	for _, r := range sortedRows(t.rows) {
		if orig, ok := t.orig[r.ID]; ok && sameRow(orig, *r) {
			continue
		}
		r.UpdatedAt = t.now
		changed = append(changed, *r)
		t.orig[r.ID] = *r
	}
	for _, id := range slices.Sorted(maps.Keys(t.pr.unwritten)) {
		if _, live := t.rows[id]; !live { // ended
			changed = append(changed, t.pr.unwritten[id])
		}
	}
	if len(changed) == 0 {
		return nil
	}
	err := t.rowErr // a row's write failed already this tick: not tried again
	if err == nil {
		err = s.opts.Store.PutInstances(ctx, changed)
	}
	if err != nil {
		if !kept(err) {
			return fmt.Errorf("record %d instances: %w", len(changed), err)
		}
		for _, r := range changed {
			t.keepRow(r)
		}
		t.writeFailed(fmt.Sprintf("recording %d instances", len(changed)), err)
		t.rowErr = err
		return nil
	}
	for _, r := range changed {
		delete(t.pr.unwritten, r.ID)
	}
	return nil
}

// sameRow reports whether two rows differ only in UpdatedAt.
func sameRow(a, b state.Instance) bool {
	a.UpdatedAt, b.UpdatedAt = time.Time{}, time.Time{}
	return a == b
}

// providers lists the pool's providers, sorted.
func (pr *poolRun) providers() []string {
	var out []string
	for _, o := range pr.spec.Policy.Offerings {
		if !slices.Contains(out, o.Provider) {
			out = append(out, o.Provider)
		}
	}
	slices.Sort(out)
	return out
}

// adopt records instances the cloud lists under one of this pool's intents
// that no live row holds. A tick that cannot read the state adopts none
// (it cannot tell which intents they were launched for, nor whether
// Spillway ended them): their pending intents are counted as booting
// instances until the state can be read again.
func (s *Scheduler) adopt(ctx context.Context, t *tick) error {
	if t.unread() {
		return nil
	}
	var intents map[string]state.Intent
	var ended map[string]state.Instance // ended rows by provider/id, read when first needed
	// under holds, for each intent, the instances recorded under it (its
	// rows, live or ended, and those adopted under it): no more than its
	// count are adopted (overLaunched).
	var under map[string]map[string]bool
	for _, ci := range sortedCloud(t.cloud) {
		if _, ok := t.rows[ci.ID]; ok || ci.State == providers.StateTerminated || ci.State == providers.StateShuttingDown {
			continue
		}
		if _, ok := t.pr.unwritten[ci.ID]; ok {
			continue // ended, its row not written yet
		}
		intentID := ci.Tags[providers.TagIntent]
		if intentID == "" {
			continue // the sweeper's
		}
		if intents == nil {
			all, err := s.opts.Store.Intents(ctx, state.IntentFilter{Pool: t.pr.spec.Policy.Name})
			if err != nil {
				if t.readFailed("reading the intents of pool "+t.pr.spec.Policy.Name, err) {
					return nil
				}
				return fmt.Errorf("intents of pool %s: %w", t.pr.spec.Policy.Name, err)
			}
			intents = make(map[string]state.Intent, len(all))
			for _, in := range all {
				intents[in.ID] = in
			}
		}
		in, ok := intents[intentID]
		if !ok {
			continue
		}
		if ended == nil {
			all, err := s.opts.Store.Instances(ctx, state.InstanceFilter{Pool: t.pr.spec.Policy.Name})
			if err != nil {
				if t.readFailed("reading the instances of pool "+t.pr.spec.Policy.Name, err) {
					return nil
				}
				return fmt.Errorf("instances of pool %s: %w", t.pr.spec.Policy.Name, err)
			}
			ended = map[string]state.Instance{}
			under = t.recordedIDs()
			for _, r := range all {
				if r.State == state.InstanceEnded {
					ended[r.Provider+"/"+r.ID] = r
				}
				if r.IntentID != "" {
					addUnder(under, r.IntentID, r.ID)
				}
			}
		}
		if er, ok := ended[ci.Provider+"/"+ci.ID]; ok && er.EndReason == vanishedReason && (ci.State == providers.StatePending || ci.State == providers.StateRunning) {
			// Taken for vanished while the cloud did not list it (a
			// listing lag beyond listGrace), yet it runs, perhaps jobs:
			// Spillway never asked to end it, so it is tracked again, not
			// terminated without a drain.
			r := revived(er, t.now)
			if err := s.putRow(ctx, t, &r); err != nil && !kept(err) {
				return fmt.Errorf("record instance %s listed again: %w", r.ID, err)
			}
			t.rows[r.ID] = &r
			t.rec.Notes = append(t.rec.Notes, fmt.Sprintf("instance %s, taken for vanished at %s, is listed again: tracked again (the cloud listed it more than %s after its launch)",
				r.ID, er.EndedAt.UTC().Format(time.TimeOnly), listGrace))
			s.log.Warn("instance listed again after it was taken for vanished", "pool", r.Pool, "instance", r.ID, "launched", r.LaunchedAt, "vanished", er.EndedAt)
			continue
		}
		if _, ok := ended[ci.Provider+"/"+ci.ID]; ok {
			// Spillway ended it, yet the cloud still runs it: ask again.
			if !s.opts.DryRun {
				if tctx, cancel, _, ok := s.actingCtx(ctx, ci.Provider); ok {
					if err := s.opts.Providers[ci.Provider].Terminate(tctx, []string{ci.ID}); err != nil {
						s.log.Warn("terminate of an ended instance failed", "instance", ci.ID, "err", err)
					}
					cancel()
				}
			}
			continue
		}
		r := s.newRow(t.pr, in, ci)
		if n := len(under[in.ID]); n >= in.Count {
			// Launched under the intent past its count (a cloud that
			// launched twice, another server or a script launching with
			// the intent's tag): adopted, it ran past max_gpus and the
			// budget, and left untracked it billed until the sweep. It
			// is recorded under no intent and no floor, so that it
			// fills neither, and ended at once (observe).
			r.IntentID, r.Floor = "", ""
			if err := s.putRow(ctx, t, &r); err != nil && !kept(err) {
				return fmt.Errorf("record instance %s launched past intent %s's count: %w", r.ID, in.ID, err)
			}
			t.rows[r.ID] = &r
			t.rec.Notes = append(t.rec.Notes, fmt.Sprintf("instance %s carries the tag of intent %s, which asked for %d and has %d recorded: not adopted, terminated", r.ID, in.ID, in.Count, n))
			s.log.Warn("instance launched past its intent's count: terminating it", "pool", r.Pool, "instance", r.ID, "intent", in.ID, "count", in.Count)
			continue
		}
		addUnder(under, in.ID, r.ID)
		if err := s.putRow(ctx, t, &r); err != nil && !kept(err) {
			return fmt.Errorf("record adopted instance %s: %w", r.ID, err)
		}
		t.rows[r.ID] = &r
		if in.Status == state.IntentPending {
			t.pr.markAdopted(in.ID, r.ID)
		}
		s.log.Info("adopted instance", "pool", r.Pool, "instance", r.ID, "intent", in.ID)
	}
	return nil
}

// revived is the row of an instance ended as vanished that the cloud
// lists again, in the state it had before: draining, running once joined,
// else booting.
func revived(r state.Instance, now time.Time) state.Instance {
	switch {
	case !r.DrainStartedAt.IsZero():
		r.State = state.InstanceDraining
	case !r.JoinedAt.IsZero():
		r.State = state.InstanceRunning
	default:
		r.State = state.InstanceBooting
	}
	r.EndedAt, r.EndReason, r.RanUntil, r.UpdatedAt = time.Time{}, "", time.Time{}, now
	return r
}

// newRow is the row of an instance launched for intent in.
func (s *Scheduler) newRow(pr *poolRun, in state.Intent, ci providers.Instance) state.Instance {
	o, ok := pr.intentOffering(in, ci)
	if !ok {
		s.log.Warn("instance of an offering the config no longer has, nor any of its type and market: counted at the dearest price and the most GPUs of the pool's offerings on its provider",
			"pool", in.Pool, "instance", ci.ID, "offering", in.Offering, "instance_type", ci.InstanceType, "gpus", o.GPUs, "price_per_hour", o.PricePerHour)
	}
	launched := launchedAt(ci.LaunchTime, pr.written(in), s.clock.Now())
	return state.Instance{
		ID: ci.ID, Provider: in.Provider, Pool: in.Pool, Offering: in.Offering, IntentID: in.ID, Floor: in.Floor,
		// The offering's type, as asked, whatever the cloud answered:
		// with the cloud's, the row agreed with every listing of an
		// instance launched as another type, never seen as resized,
		// and counted at its offering's GPUs and price while it ran.
		// Its market likewise: an on-demand answer to a spot ask was
		// counted at the spot price (otherMarket ends it).
		Zone: ci.Zone, InstanceType: cmp.Or(o.InstanceType, ci.InstanceType), Market: string(cmp.Or(o.Market, ci.Market)),
		PrivateIP: ci.PrivateIP, State: state.InstanceBooting, GPUs: o.GPUs, PricePerHour: o.PricePerHour,
		Billing: string(o.Billing), LaunchedAt: launched, UpdatedAt: s.clock.Now(),
	}
}

// intentOffering is the offering an instance launched for intent in is
// counted as: the intent's, or, when the config no longer has it (a
// restart with the offering renamed or removed while its launch was
// pending, its answer lost or the instance not yet listed), the pool's
// offering of the instance's provider, type and market (the dearest, when
// several are), its GPUs and price the same. Recorded with the
// zero one, an instance of a renamed offering held 0 GPUs at $0/h: it
// counted nothing toward max_gpus, max_cost_per_hour or the budget for as
// long as it ran (busy for 3h15m against an $80 budget: $106.78 billed,
// still running). When no offering is of its type and market it is
// counted conservatively (dearestOffering) and ok is false.
func (pr *poolRun) intentOffering(in state.Intent, ci providers.Instance) (o policy.Offering, ok bool) {
	if o, ok := pr.offs[in.Offering]; ok {
		return o, true
	}
	var like policy.Offering
	for _, name := range slices.Sorted(maps.Keys(pr.offs)) {
		o := pr.offs[name]
		if o.Provider == in.Provider && o.InstanceType == ci.InstanceType && (ci.Market == "" || o.Market == ci.Market) && o.PricePerHour > like.PricePerHour {
			like = o
		}
	}
	found := like.Name != ""
	if !found {
		like = pr.dearestOffering(in.Provider, ci)
	}
	like.Name = in.Offering
	return like, found
}

// dearestOffering is what an instance of provider prov no offering of
// the pool describes is counted as: the dearest price, the most GPUs and
// the dearest billing rule of the pool's offerings on prov (of all its
// offerings when none is on prov), its type and market as the cloud lists
// them. Counted at the zero Offering (0 GPUs at $0/h), an instance of an
// offering renamed to another type counted nothing toward the limits or
// the budget.
func (pr *poolRun) dearestOffering(prov string, ci providers.Instance) policy.Offering {
	o := policy.Offering{Provider: prov, InstanceType: ci.InstanceType, Market: ci.Market, Billing: policy.BillingPerSecond}
	onProv := slices.ContainsFunc(slices.Collect(maps.Values(pr.offs)), func(c policy.Offering) bool { return c.Provider == prov })
	for _, c := range pr.offs {
		if onProv && c.Provider != prov {
			continue
		}
		o.PricePerHour, o.GPUs = max(o.PricePerHour, c.PricePerHour), max(o.GPUs, c.GPUs)
		o.Billing = dearerBilling(o.Billing, c.Billing)
	}
	return o
}

// launchedAt is when an instance the cloud gives as launched at cloud,
// under an intent written at written, is recorded launched: at cloud,
// bounded to [written, now], or now when the cloud gives no time. A
// cloud's launch time years before its launch (a wrong clock) made a
// minutes-old instance one past its join timeout, terminated at the
// next tick, and the ledger billed it for the budget period so far and
// the one before; one ahead of now billed nothing until then.
func launchedAt(cloud, written, now time.Time) time.Time {
	switch {
	case cloud.IsZero() || cloud.After(now):
		return now
	case cloud.Before(written):
		return written
	}
	return cloud
}

// overLaunched reports whether live row r, whose instance the cloud lists
// as ci, was launched past its intent's count: recorded under no intent,
// the cloud lists it with an intent's tag (adopt, endPastCount).
func overLaunched(r *state.Instance, ci providers.Instance) bool {
	return r.IntentID == "" && ci.Tags[providers.TagIntent] != "" && (r.State == state.InstanceBooting || r.State == state.InstanceRunning)
}

// overLaunchedReason is the end reason of an instance the cloud listed
// under one of the pool's intents once the intent's count was recorded.
const overLaunchedReason = "launched under an intent past its count (a cloud that launched twice, or another server or script using its tag): terminated, not adopted, as it would run past the pool's limits and budget"

// overLaunchedEvent is the instEvent of an instance launched past its
// intent's count that a dry run said it would terminate.
const overLaunchedEvent = "over-launched"

// stoppedEvent is the instEvent of an instance a dry run saw stopped
// outside Spillway (and said it would terminate).
const stoppedEvent = "stopped"

// stoppedReason is the end reason of a row whose instance was stopped
// outside Spillway.
const stoppedReason = "stopped outside Spillway (by hand or by another tool): terminated, without a drain, as a stopped instance still bills"

// unrecordedEndReason is the end reason of an instance a resumed intent's
// call answered ended (terminated or shutting down) that no row held: it
// had ended outside Spillway before it was recorded.
const unrecordedEndReason = "ended outside Spillway before it was recorded"

// vanishedReason is the end reason of a row whose instance the cloud no
// longer lists (nor, listGrace after its launch, lists yet).
const vanishedReason = "vanished from the cloud (ended outside Spillway, reclaimed, or a spot interruption)"

// endRow records that a row's instance is gone, with its final spend; a
// failed write is kept for the next tick's (unwritten.go).
func (s *Scheduler) endRow(ctx context.Context, t *tick, r *state.Instance) error {
	_, listed := t.cloud[r.ID]
	hold := false
	switch {
	case r.State == state.InstanceTerminating:
		if r.RanUntil.After(r.EndedAt) {
			// Its terminate was answered and not carried out: it ran
			// on, listed running (stillRunning), until a later call
			// ended it. Its end kept at the first call understated
			// the run (the ledger, accrued at each tick, did not).
			// Read from its row: a restart or a failover in between
			// (the next server has no memory of the ticks before).
			s.log.Info("instance ran on past its first terminate call: its end is the last tick that listed it running", "pool", r.Pool, "instance", r.ID, "first_terminate", r.EndedAt, "ended", r.RanUntil)
			r.EndedAt = r.RanUntil
		}
		s.log.Info("instance terminated", "pool", r.Pool, "instance", r.ID, "reason", r.EndReason)
	case r.EndReason == unrecordedEndReason:
		// A resume's answer: never counted as capacity (call).
		r.EndedAt = t.now
		s.log.Warn("instance ended outside Spillway before it was recorded", "pool", r.Pool, "instance", r.ID, "intent", r.IntentID)
		t.rec.Notes = append(t.rec.Notes, fmt.Sprintf("instance %s, launched under intent %s, had ended outside Spillway before it was recorded: recorded ended", r.ID, r.IntentID))
	case endAsked(r):
		// Its terminate was asked and its answer lost (askEnds): ended
		// as asked, its cost counted until now.
		r.EndedAt = t.now
		s.log.Info("instance terminated; the answer to its terminate was lost", "pool", r.Pool, "instance", r.ID, "reason", r.EndReason)
		t.rec.Notes = append(t.rec.Notes, fmt.Sprintf("instance %s ended as asked (%s): the answer to its terminate was lost", r.ID, r.EndReason))
		s.metrics.terminations.WithLabelValues(r.Pool, r.Offering).Inc()
	default:
		hold = holdsVanished(r, listed)
		r.EndReason = vanishedReason
		r.EndedAt = t.now
		s.log.Warn("instance vanished", "pool", r.Pool, "instance", r.ID, "listed", listed)
		note := fmt.Sprintf("instance %s vanished from the cloud; re-planned", r.ID)
		if hold {
			note = fmt.Sprintf("instance %s vanished from the cloud (never listed, %s after its launch); still counted as booting, and its cost, for %s in case the cloud lists it late, re-planned after",
				r.ID, t.now.Sub(r.LaunchedAt).Round(time.Second), vanishedHold)
		}
		t.rec.Notes = append(t.rec.Notes, note)
	}
	if r.EndedAt.IsZero() {
		r.EndedAt = t.now
	}
	r.State, r.UpdatedAt = state.InstanceEnded, t.now
	if hold {
		t.pr.holdVanished(*r) // counted once its hold ends unlisted (settleVanished)
	} else {
		if r.EndReason == vanishedReason {
			s.metrics.vanished.WithLabelValues(r.Pool).Inc()
		}
		o := s.rowOffering(t.pr, r)
		t.pr.spot.Ended(&o, r.LaunchedAt, r.EndedAt, !r.ReclaimedAt.IsZero())
	}
	if err := s.accrue(ctx, t, r); err != nil {
		return err
	}
	if err := s.putRow(ctx, t, r); err != nil && !kept(err) {
		return fmt.Errorf("record instance %s: %w", r.ID, err)
	}
	delete(t.rows, r.ID)
	return nil
}

// reterminateAfter is how long after its terminate call an instance the
// cloud still lists running or pending is taken for one the cloud did not
// end: asked again (reterminate), and counted as running (stillRunning).
const reterminateAfter = time.Minute

// stillRunning counts a terminating row whose instance the cloud lists
// running or pending reterminateAfter after its terminate call as one
// whose terminate failed (tick.endFailed): the cloud answered the call
// but did not act (a terminate answered success, the instance running on
// for minutes). Counted as terminating, none of its GPUs or price counted
// against max_gpus and max_cost_per_hour while it ran and billed, and the
// pool launched its replacement past them. It is said once.
func (s *Scheduler) stillRunning(t *tick, r *state.Instance, cs providers.State) {
	if cs != providers.StateRunning && cs != providers.StatePending || t.now.Sub(r.EndedAt) < reterminateAfter {
		delete(t.pr.counted, instEvent{r.ID, stillRunningEvent})
		return
	}
	if t.endFailed == nil {
		t.endFailed = map[string]bool{}
	}
	t.endFailed[r.ID] = true
	r.RanUntil = t.now // written with the tick's rows (flush)
	if s.first(t, r.ID, stillRunningEvent) {
		t.rec.Notes = append(t.rec.Notes, fmt.Sprintf("instance %s: the cloud still lists it %s %s after its terminate call was answered: counted as running (limits, budget) until it ends, its terminate asked again at every tick",
			r.ID, cs, t.now.Sub(r.EndedAt).Round(time.Second)))
		s.log.Warn("instance still running after its terminate was answered: counted as running, asked again", "pool", r.Pool, "instance", r.ID, "since", r.EndedAt)
	}
}

// stillRunningEvent is the instEvent of an instance the cloud lists
// running after its terminate was answered (stillRunning).
const stillRunningEvent = "still_running"

// reterminate asks again to end an instance Spillway is terminating that
// the cloud still runs (the earlier call failed or was lost).
func (s *Scheduler) reterminate(ctx context.Context, t *tick, r *state.Instance) {
	if s.opts.DryRun || t.now.Sub(r.EndedAt) < reterminateAfter {
		return
	}
	tctx, cancel, _, ok := s.actingCtx(ctx, r.Provider)
	if !ok {
		return
	}
	defer cancel()
	prov, ok := s.opts.Providers[r.Provider]
	if !ok {
		return // its provider left the config: observe says so
	}
	err := prov.Terminate(tctx, []string{r.ID})
	if err == nil {
		delete(t.pr.termFailed, r.ID)
		return
	}
	s.terminateFailed(t.pr, r.Provider, []*state.Instance{r}, nil, err)
}

// joinTimedOut says why an instance whose agent never answered is ended
// (observe ends it): a failed launch
// whose offering is penalised like a stock-out, unless an instance of the
// same offering (in the same zone) launched with it or after it has joined:
// the offering delivers, and this was one slow or broken instance. Skipping
// the offering then would put the next launches, perhaps a whole burst for
// a large job, on a dearer one for their whole lives.
func (s *Scheduler) joinTimedOut(t *tick, r *state.Instance) string {
	why := fmt.Sprintf("never joined: no answer from its agent within join_timeout %s of launch", t.pr.spec.JoinTimeout)
	if said, ok := t.notReady[r.ID]; ok {
		// The instance runs and so does its agent: its GPUs do not (a
		// driver that never loaded), which is as useless to the pool.
		why = fmt.Sprintf("never joined: its agent answers but cannot read the GPUs (%s) after join_timeout %s of launch", said, t.pr.spec.JoinTimeout)
	}
	if s.first(t, r.ID, "join_timeout") {
		if sib := joinedSibling(t.rows, r); sib != nil {
			s.metrics.launchFailures.WithLabelValues(r.Pool, r.Offering, "join_timeout").Inc()
			t.rec.Notes = append(t.rec.Notes, fmt.Sprintf("instance %s: %s; offering %s not skipped: %s, launched with it or after, joined", r.ID, why, r.Offering, sib.ID))
		} else {
			s.neverJoined(t, r, providers.CodeJoinTimeout, "join_timeout", why)
		}
	}
	return why
}

// uncountedEvent is the instEvent of an instance whose agent counts
// fewer GPUs than its offering's.
const uncountedEvent = "uncounted_gpus"

// overcountedEvent is the instEvent of an instance whose agent lists
// more GPUs than its offering's.
const overcountedEvent = "overcounted_gpus"

// overcounted warns, once per instance, that r's agent lists more GPUs
// than r's offering has (read): a config whose offering states too few
// gpus, or an agent_url reaching another machine's agent. Its GPUs
// busy, unknown and unhealthy are counted up to the offering's alone:
// before, 16 listed busy of a p4d's 8 read cloud_busy 16 of 8, and the
// instance 16/8 GPUs busy in spillway instances.
func (s *Scheduler) overcounted(t *tick, r *state.Instance, read agentReading) {
	if read.gpus <= r.GPUs || !s.first(t, r.ID, overcountedEvent) {
		return
	}
	s.log.Warn("the instance's agent lists more GPUs than its offering's: only the offering's are counted (busy, unknown, unhealthy); check the offering's gpus, or that join.agent_url reaches this instance's agent",
		"pool", r.Pool, "instance", r.ID, "offering", r.Offering, "gpus", r.GPUs, "listed", read.gpus)
}

// brokenWhy is why an instance's agent says it can take no job, and the
// cause it is counted under in spillway_broken_instances_total.
type brokenWhy struct{ why, cause string }

// The causes of spillway_broken_instances_total.
const (
	// causeUnhealthy: every GPU unhealthy and none busy.
	causeUnhealthy = "gpus_unhealthy"
	// causeWedged: the agent answers 503 with wedged_since.
	causeWedged = "driver_wedged"
	// causeUncounted: the agent counts none of its GPUs.
	causeUncounted = "no_gpu_counted"
)

// setBroken records why instance id can take no job this tick.
func (t *tick) setBroken(id string, b brokenWhy) {
	if t.broken == nil {
		t.broken = map[string]brokenWhy{}
	}
	t.broken[id] = b
}

// brokenAtBoot says why a booting instance whose agent says it can take
// no job (b: its driver wedged) is ended at once, rather than billed to
// its join timeout, and counts it, once, as a failed launch (cause
// b.cause) and in spillway_broken_instances_total; its offering is
// skipped for the capacity TTL unless a sibling joined (joinedSibling),
// as for a join timeout.
func (s *Scheduler) brokenAtBoot(t *tick, r *state.Instance, b brokenWhy) string {
	why := "never joined: " + b.why
	if !s.first(t, r.ID, "broken_at_boot") {
		return why
	}
	s.metrics.broken.WithLabelValues(r.Pool, r.Offering, b.cause).Inc()
	s.log.Warn("booting instance's agent says it can take no job: ending it", "pool", r.Pool, "instance", r.ID, "why", b.why)
	if sib := joinedSibling(t.rows, r); sib != nil {
		s.metrics.launchFailures.WithLabelValues(r.Pool, r.Offering, b.cause).Inc()
		t.rec.Notes = append(t.rec.Notes, fmt.Sprintf("instance %s: %s; offering %s not skipped: %s, launched with it or after, joined", r.ID, why, r.Offering, sib.ID))
	} else {
		s.neverJoined(t, r, providers.CodeJoinTimeout, b.cause, why)
	}
	return why
}

// joinedSibling is a live instance of r's pool and offering, in its zone
// when both name one, launched no earlier than r, that has joined (the
// first by ID), or nil.
func joinedSibling(rows map[string]*state.Instance, r *state.Instance) *state.Instance {
	var sib *state.Instance
	for _, o := range rows {
		if o.ID == r.ID || o.Pool != r.Pool || o.Offering != r.Offering || o.JoinedAt.IsZero() || o.LaunchedAt.Before(r.LaunchedAt) {
			continue
		}
		if o.Zone != "" && r.Zone != "" && o.Zone != r.Zone {
			continue
		}
		if sib == nil || o.ID < sib.ID {
			sib = o
		}
	}
	return sib
}

// neverJoined counts an instance that ended, or will, before it joined as a
// failed launch (cause, in launch_failures_total), and skips its offering
// for the capacity TTL as after a stock-out (code names it in the cache).
func (s *Scheduler) neverJoined(t *tick, r *state.Instance, code, cause, why string) {
	o := s.rowOffering(t.pr, r)
	s.cache.Record(&providers.CapacityError{Provider: r.Provider, Zone: r.Zone, InstanceType: r.InstanceType, Code: code, Err: errors.New(why)}, o.Key())
	s.metrics.launchFailures.WithLabelValues(r.Pool, r.Offering, cause).Inc()
	t.rec.Notes = append(t.rec.Notes, fmt.Sprintf("instance %s: %s; offering %s skipped for the capacity TTL", r.ID, why, r.Offering))
}

// interrupted drains an instance the cloud reclaims at `at` (unless it is
// draining already) and counts the notice, once however many ticks see it
// before the cloud ends the instance. The row keeps when the notice was
// first seen (ReclaimedAt, stored by flush), so that the spot rates count
// it once across restarts and leaders too. One reclaimed
// before it joined delivered nothing: a failed launch, whose offering is
// skipped for the capacity TTL as after a join timeout, so that a spot pool
// that reclaims instances before they boot is not launched into again and
// again. One reclaimed after it joined and ran is the price of spot, which
// the policy weighs when it rents spot: skipping the offering then would put
// the replacement on a dearer one for its whole life.
func (s *Scheduler) interrupted(ctx context.Context, t *tick, r *state.Instance, at time.Time) {
	why := fmt.Sprintf("spot interruption notice: the cloud reclaims it at %s", at.UTC().Format(time.RFC3339))
	if s.first(t, r.ID, "interruption") {
		s.metrics.interruptions.WithLabelValues(r.Pool, r.Offering).Inc()
		if r.ReclaimedAt.IsZero() { // else a server before this one saw it (seed)
			r.ReclaimedAt = t.now
			t.pr.spot.Reclaimed(s.rowOffering(t.pr, r).Key(), t.now)
		}
		if r.State == state.InstanceBooting {
			s.neverJoined(t, r, providers.CodeSpotInterruption, "reclaimed_booting", why+", before it joined")
		}
	}
	if r.State != state.InstanceDraining {
		s.drain(ctx, t, r, why)
	}
}

// agentGPUs is the part of an agent's /v1/gpus body the scheduler reads.
type agentGPUs struct {
	// SampleTime is when the agent read its GPUs, by its clock.
	SampleTime time.Time `json:"sample_time"`
	// Error is the agent's, when its latest sample failed or is stuck.
	Error string `json:"error"`
	GPUs  []struct {
		Busy bool `json:"busy"`
		// Unknown: the agent could not read the GPU (it also says busy).
		Unknown bool `json:"unknown"`
		// Unhealthy: NVML reports the GPU's memory broken (Health why).
		Unhealthy bool   `json:"unhealthy"`
		Health    string `json:"health"`
	} `json:"gpus"`
}

// agentReading is what the scheduler takes of an agent's answer.
type agentReading struct {
	gpus, busy, unknown, unhealthy int
	// unhealthyIdle counts the unhealthy GPUs not busy: no job runs on
	// them and none can start.
	unhealthyIdle int
	// health is the first unhealthy GPU's cause.
	health string
	// sample is the answer's sample_time (zero when it gives none).
	sample time.Time
	// verdict: the agent judges its driver wedged (an error, and every
	// GPU unhealthy): a verdict of now, however old the sample it marks.
	verdict bool
}

// staleSample says why an agent's sample taken at sample is not of now
// ("" when it is, or when the answer gives no time): older than the
// pool's stale_after at the tick's now (an agent serving an answer
// cached, or its sampling stopped), or later than that past done, when
// the probes ended (its clock is off: a sample from the future would
// never grow old). Times are compared, not subtracted: a sample
// centuries away saturates time.Duration.
func staleSample(sample, now, done time.Time, staleAfter time.Duration) string {
	switch {
	case sample.IsZero():
		return ""
	case sample.Before(now.Add(-staleAfter)):
		return fmt.Sprintf("its agent's sample is %s old, more than stale_after %s: a cached answer, or its clock behind (sync it: NTP)", sampleSpan(sample, now), staleAfter)
	case sample.After(done.Add(staleAfter)):
		return fmt.Sprintf("its agent's sample is %s in the future, more than stale_after %s: its clock is ahead (sync it: NTP)", sampleSpan(sample, done), staleAfter)
	}
	return ""
}

// sampleSpan says how far sample is from t, for a message: past a year
// (a mangled time, or one far enough to saturate a Duration), the
// sample's time itself.
func sampleSpan(sample, t time.Time) string {
	const year = 365 * 24 * time.Hour
	if sample.Before(t.Add(-year)) || sample.After(t.Add(year)) {
		return "more than a year (sample_time " + sample.UTC().Format(time.RFC3339) + ")"
	}
	d := t.Sub(sample)
	return max(d, -d).Round(time.Second).String()
}

// staleEvent is the instEvent of an instance whose agent served a
// sample not of now.
const staleEvent = "stale_sample"

// unmeasured is what a stale answer (staleSample) tells of an instance
// of gpus GPUs: nothing of now, each GPU unknown, so busy (its idle timer
// neither starts nor goes on) and no room, as the agent itself serves
// GPUs it cannot read.
func unmeasured(gpus int) agentReading {
	return agentReading{gpus: gpus, busy: gpus, unknown: gpus}
}

// unknownGPUs is what the scheduler remembers of an instance whose agent
// cannot read some of its GPUs.
type unknownGPUs struct {
	gpus int
	// allSince is when every GPU of the instance was first unknown, in the
	// run of probes that goes on to now; zero while some GPU is read.
	allSince time.Time
	// warned: the scheduler has logged that allSince is UnknownAlertAfter
	// past (once per run).
	warned bool
}

// UnknownAlertAfter is how long every GPU of a burst instance may be
// unknown to its agent before the scheduler warns and counts the instance
// in spillway_burst_instances_unknown: such an instance is never idle, so
// it is never scaled in, only ended by its max lifetime or its burst's TTL.
const UnknownAlertAfter = 15 * time.Minute

// maxAgentBody bounds an agent's answer.
const maxAgentBody = 1 << 20

// probe asks each running instance's agent how many GPUs are busy, with a
// bounded fan-out. An agent that answers joins its instance; one that does
// not leaves the instance as it was (booting until join_timeout).
func (s *Scheduler) probe(ctx context.Context, t *tick, rows []*state.Instance) {
	type result struct {
		read agentReading
		err  error
	}
	results := make([]result, len(rows))
	sem := make(chan struct{}, probeFanOut)
	var wg sync.WaitGroup
	for i, r := range rows {
		if t.pr.spec.AgentURL == nil {
			results[i] = result{read: agentReading{busy: r.BusyGPUs}}
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			read, err := s.probeOne(ctx, t, r)
			results[i] = result{read, err}
		}()
	}
	wg.Wait()
	done := s.clock.Now()
	staleAfter := t.pr.spec.Policy.StaleAfter.D()
	if staleAfter <= 0 {
		staleAfter = signals.DefaultStaleAfter
	}
	before, unhealthyBefore := t.pr.unknown, t.pr.unhealthy
	t.pr.unknown, t.pr.unhealthy = map[string]unknownGPUs{}, map[string]int{}
	// An instance whose provider's listing failed is not probed this tick:
	// nothing new is known of its GPUs, so what was stays (its unhealthy
	// GPUs no room for the queue nor held for floors, its unknown ones'
	// alert timer running), as for an agent that did not answer.
	for id, u := range before {
		if r := t.rows[id]; r != nil && t.listFail[r.Provider] != "" {
			t.pr.unknown[id] = u
		}
	}
	for id, n := range unhealthyBefore {
		if r := t.rows[id]; r != nil && t.listFail[r.Provider] != "" {
			t.pr.unhealthy[id] = n
		}
	}
	for i, r := range rows {
		res := results[i]
		if res.err != nil { // no answer: nothing new is known
			if prev, ok := before[r.ID]; ok {
				t.pr.unknown[r.ID] = prev
			}
			if n, ok := unhealthyBefore[r.ID]; ok {
				t.pr.unhealthy[r.ID] = n
			}
		}
		if res.err != nil {
			var nr *agentNotReadyError
			switch {
			case errors.As(res.err, &nr) && !nr.wedgedSince.IsZero() && (r.State == state.InstanceRunning || r.State == state.InstanceBooting):
				// Its previous reading kept, a running one would be
				// billed and counted as capacity for as long as it
				// runs; a booting one, billed until its join timeout.
				t.setBroken(r.ID, brokenWhy{why: wedgedWhy(nr), cause: causeWedged})
			case r.State == state.InstanceBooting && errors.As(res.err, &nr):
				if t.notReady == nil {
					t.notReady = map[string]string{}
				}
				t.notReady[r.ID] = nr.said
				s.log.Debug("agent answers without its GPUs", "instance", r.ID, "err", res.err)
			case r.State != state.InstanceBooting:
				s.log.Debug("agent did not answer", "instance", r.ID, "err", res.err)
			}
			continue
		}
		if r.State == state.InstanceBooting {
			r.State, r.JoinedAt = state.InstanceRunning, t.now
			t.pr.boots.Observe(s.rowOffering(t.pr, r).Key(), t.now.Sub(r.LaunchedAt))
			s.metrics.joins.WithLabelValues(r.Pool, r.Offering).Observe(t.now.Sub(r.LaunchedAt).Seconds())
			s.log.Info("instance joined", "pool", r.Pool, "instance", r.ID, "after", t.now.Sub(r.LaunchedAt).Round(time.Second))
		}
		if why := staleSample(res.read.sample, t.now, done, staleAfter); why != "" && !res.read.verdict {
			if s.first(t, r.ID, staleEvent) {
				s.log.Warn("the instance's agent serves a sample not of now: its GPUs count unknown (busy, no room) until it serves one of now", "pool", r.Pool, "instance", r.ID, "why", why,
					"sample_time", res.read.sample, "now", t.now)
			}
			res.read = unmeasured(r.GPUs)
		}
		s.overcounted(t, r, res.read)
		if res.read.unknown > 0 {
			// An unknown GPU counts as busy: the instance's idle timer
			// does not start (nor go on) on what nobody measured.
			u := unknownGPUs{gpus: min(res.read.unknown, r.GPUs)}
			if res.read.unknown == res.read.gpus {
				prev := before[r.ID]
				u.allSince, u.warned = prev.allSince, prev.warned
				if u.allSince.IsZero() {
					u.allSince = t.now
				}
				if !u.warned && t.now.Sub(u.allSince) >= UnknownAlertAfter {
					u.warned = true
					s.log.Warn("no GPU of the instance can be read by its agent: it is kept as busy, never scaled in; look at its agent's /healthz",
						"pool", r.Pool, "instance", r.ID, "gpus", u.gpus, "since", u.allSince, "for", t.now.Sub(u.allSince).Round(time.Second))
				}
			}
			t.pr.unknown[r.ID] = u
		}
		// The GPUs of its offering its agent does not count (fallen off
		// the bus before the driver loaded) are no room, as unhealthy.
		uncounted := max(r.GPUs-res.read.gpus, 0)
		if uncounted > 0 && s.first(t, r.ID, uncountedEvent) {
			s.log.Warn("the instance's agent counts fewer GPUs than its offering's: those it does not count are no room for the queue; check its driver (nvidia-smi), or the offering's gpus",
				"pool", r.Pool, "instance", r.ID, "offering", r.Offering, "gpus", r.GPUs, "counted", res.read.gpus)
		}
		if n := min(res.read.unhealthyIdle+uncounted, max(r.GPUs-res.read.busy, 0)); n > 0 {
			t.pr.unhealthy[r.ID] = n
		}
		switch {
		case r.State != state.InstanceRunning:
		case res.read.gpus == 0 && r.GPUs > 0:
			t.setBroken(r.ID, brokenWhy{why: fmt.Sprintf("its agent counts no GPU of its %d (NVML's DeviceGetCount answers 0: the driver sees none): it can take no job", r.GPUs), cause: causeUncounted})
		case res.read.gpus > 0 && res.read.unhealthy == res.read.gpus && res.read.busy == 0:
			t.setBroken(r.ID, brokenWhy{why: fmt.Sprintf("every GPU unhealthy and none busy: it can take no job (%s)", res.read.health), cause: causeUnhealthy})
		}
		// An agent listing more GPUs than the instance's offering has
		// (overcounted) counts at most the offering's busy: the instance
		// is billed and counted as capacity for those alone.
		r.BusyGPUs = min(res.read.busy, r.GPUs)
		switch {
		case r.BusyGPUs > 0:
			if !r.IdleSince.IsZero() {
				t.pr.idle.Reused(s.rowOffering(t.pr, r).Key(), t.now.Sub(r.IdleSince))
			}
			r.IdleSince = time.Time{}
		case r.IdleSince.IsZero():
			r.IdleSince = t.now
		}
	}
}

func (s *Scheduler) probeOne(ctx context.Context, t *tick, r *state.Instance) (agentReading, error) {
	base, err := t.pr.spec.AgentURL(s.info(t.pr, r))
	if err != nil {
		return agentReading{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.ProbeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/v1/gpus", nil)
	if err != nil {
		return agentReading{}, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return agentReading{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return agentReading{}, notReady(base, resp)
	}
	var body agentGPUs
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAgentBody)).Decode(&body); err != nil {
		return agentReading{}, fmt.Errorf("agent %s: %w", base, err)
	}
	read := agentReading{gpus: len(body.GPUs), sample: body.SampleTime}
	for _, g := range body.GPUs {
		if g.Busy || g.Unknown {
			read.busy++
		}
		if g.Unknown {
			read.unknown++
		}
		if g.Unhealthy {
			read.unhealthy++
			if !g.Busy && !g.Unknown {
				read.unhealthyIdle++
			}
			if read.health == "" {
				read.health = shorten(g.Health)
			}
		}
	}
	read.verdict = body.Error != "" && read.gpus > 0 && read.unhealthy == read.gpus
	return read, nil
}

// agentNotReadyError is an agent's answer without its GPUs: a status other
// than 200, such as the 503 of an agent whose NVML is not ready (the
// driver not loaded) or whose sample failed, with the error it gave.
type agentNotReadyError struct {
	agent string
	said  string // the status and the agent's error, if it gave one
	// wedgedSince is the agent's verdict that its driver wedged before
	// it could open any GPU (its 503's wedged_since, nvml.NoSample), and
	// since when; zero when it says nothing of it.
	wedgedSince time.Time
}

func (e *agentNotReadyError) Error() string { return "agent " + e.agent + ": " + e.said }

// maxAgentError bounds what is read and kept of an agent's error answer.
const maxAgentError = 512

// notReady reads an agent's answer other than 200.
func notReady(base string, resp *http.Response) error {
	said := resp.Status
	var body struct {
		Error       string    `json:"error"`
		WedgedSince time.Time `json:"wedged_since"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxAgentBody))
	if json.Unmarshal(b, &body) != nil {
		return &agentNotReadyError{agent: base, said: said}
	}
	if body.Error != "" {
		said += ": " + shorten(body.Error)
	}
	e := &agentNotReadyError{agent: base, said: said}
	if resp.StatusCode == http.StatusServiceUnavailable {
		e.wedgedSince = body.WedgedSince
	}
	return e
}

// wedgedWhy says why a running instance whose agent judges its driver
// wedged (e.wedgedSince) is drained: no GPU of it can be read nor take
// a job until it is rebooted.
func wedgedWhy(e *agentNotReadyError) string {
	return fmt.Sprintf("its agent says the GPU driver is wedged since %s: no GPU can be read, it can take no job (%s)",
		e.wedgedSince.UTC().Format(time.RFC3339), e.said)
}

// shorten bounds a message an agent gave to maxAgentError bytes.
func shorten(msg string) string {
	msg = strings.ToValidUTF8(msg, "?")
	if len(msg) > maxAgentError {
		msg = strings.ToValidUTF8(msg[:maxAgentError], "") + "…"
	}
	return msg
}

// info is what hooks and templates see of an instance.
func (s *Scheduler) info(pr *poolRun, r *state.Instance) config.InstanceFields {
	o := s.rowOffering(pr, r)
	return config.InstanceFields{
		ID: r.ID, Name: r.ID, PrivateIP: r.PrivateIP, Zone: r.Zone, InstanceType: r.InstanceType,
		Provider: r.Provider, Region: o.Region, Pool: r.Pool, Cluster: s.opts.Cluster, Burst: r.Floor,
	}
}

func sortedRows(m map[string]*state.Instance) []*state.Instance {
	out := make([]*state.Instance, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *state.Instance) int {
		return cmp.Or(a.LaunchedAt.Compare(b.LaunchedAt), cmp.Compare(a.ID, b.ID))
	})
	return out
}

func sortedCloud(m map[string]providers.Instance) []providers.Instance {
	out := make([]providers.Instance, 0, len(m))
	for _, in := range m {
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b providers.Instance) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
