package scheduler

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/state"
)

// Hold-backs after provider errors that say nothing about capacity.
const (
	// invalidHold: an invalid request or credentials error blocks the
	// provider this long; the pool is reported misconfigured meanwhile.
	invalidHold = 5 * time.Minute
	// maxThrottleHold caps the back-off after throttling.
	maxThrottleHold = 2 * time.Minute
)

// newIntentID returns a unique, time-ordered intent id; the client token is
// derived from it, so a resumed intent sends the same token.
func (s *Scheduler) newIntentID(now time.Time) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102t150405") + "-" + hex.EncodeToString(b[:])
}

// clientToken is the provider's idempotency token of an intent (at most 64
// characters).
func clientToken(intentID string) string { return "spw-" + intentID }

// resumeIntents finds every intent of the pool that a crash or a lost
// answer left pending, and those to call again with the same client token
// (t.resumes; execResumes calls them after the tick's first ends): the
// provider returns the instances it already launched instead of new ones.
// The pending intents are kept in t.pending, counted as committed
// capacity; a dry run resumes none but counts them too. An intent
// whose call timed out is not called again until its back-off ends
// (backOff), so a launch that hangs does not cost every tick its call
// timeout; it stays committed meanwhile. An intent whose floor has gone
// (floorGone: a cancelled burst) is not called again: what an earlier
// attempt launched is adopted through its spillway:intent tag (observe),
// and the intent is failed once such an instance would be listed. No
// resume starts once stop (the tick's context) has ended: the server is
// shutting down; nor while the pool's last tick found the state taking no
// writes (the intent stays committed meanwhile); nor, for an intent this
// process found rather than wrote, before the cloud would list what
// another process's calls launched for it (resumeAfter).
func (s *Scheduler) resumeIntents(stop, ctx context.Context, t *tick) error {
	pool := t.pr.spec.Policy.Name
	pending, err := s.opts.Store.Intents(ctx, state.IntentFilter{Pool: pool, Status: state.IntentPending})
	if err != nil {
		if !t.readFailed("reading the pending intents of pool "+pool, err) {
			return fmt.Errorf("pending intents of pool %s: %w", pool, err)
		}
		s.recallPending(t)
		return nil
	}
	// Those resolved elsewhere (another leader, or abandoned) are dropped.
	keepPending(t.pr.backoff, pending)
	keepPending(t.pr.adopted, pending)
	keepPending(t.pr.resumeAt, pending)
	keepPending(t.pr.launchFailed, pending)
	if err := s.recallAdopted(ctx, t, pending); err != nil {
		return err
	}
	for _, in := range pending {
		_, known := t.pr.offs[in.Offering]
		if s.opts.DryRun {
			if known && t.now.Sub(in.CreatedAt) <= intentMaxAge {
				t.pending[in.ID] = in // counted, neither resumed nor finished
			}
			continue
		}
		// An intent not resumed whose end cannot be written is neither
		// called nor counted: the next tick writes its end.
		if t.now.Sub(in.CreatedAt) > intentMaxAge {
			msg := fmt.Sprintf("abandoned: still pending %s after it was written", intentMaxAge)
			if err := s.finishNotResumed(ctx, t, in, msg); err != nil {
				return err
			}
			continue
		}
		if !known {
			if err := s.notResumed(ctx, t, in, fmt.Sprintf("offering %q is no longer in the pool's config", in.Offering)); err != nil {
				return err
			}
			continue
		}
		if t.unread() {
			t.pending[in.ID] = in
			t.holdResume(in, heldUnread(in))
			continue
		}
		why, err := s.floorGone(ctx, t, in.Floor)
		if err != nil {
			return fmt.Errorf("intent %s: %w", in.ID, err)
		}
		if t.unread() { // its floor could not be read
			t.pending[in.ID] = in
			t.holdResume(in, heldUnread(in))
			continue
		}
		if why != "" {
			if err := s.notResumed(ctx, t, in, why); err != nil {
				return err
			}
			continue
		}
		t.pending[in.ID] = in
		if stop.Err() != nil {
			continue
		}
		if t.pr.unwritable != "" {
			// What it launched could not be recorded: it waits, counted.
			t.holdResume(in, fmt.Sprintf("intent %s (%d× %s): resume held back while the state takes no writes; counted as booting meanwhile", in.ID, in.Count, in.Offering))
			continue
		}
		if b, ok := t.pr.backoff[in.ID]; ok && t.now.Before(b.until) {
			t.holdResume(in, fmt.Sprintf("intent %s (%d× %s): resume held back until %s: its last %d call(s) timed out; counted as booting meanwhile",
				in.ID, in.Count, in.Offering, b.until.UTC().Format(time.TimeOnly), b.n))
			continue
		}
		if until := t.pr.resumeAfter(in.ID, t.now); t.now.Before(until) {
			t.holdResume(in, fmt.Sprintf("intent %s (%d× %s): resume held back until %s: it was found pending, and what an earlier process's calls launched may not be listed yet (up to %s); counted as booting meanwhile",
				in.ID, in.Count, in.Offering, until.UTC().Format(time.TimeOnly), providers.ConsistencyWindow))
			continue
		}
		t.resumes = append(t.resumes, in) // called after the tick's ends (execResumes)
	}
	return nil
}

// recallAdopted marks as adopted under each pending intent the instances
// the state records under it, ended ones included (recordedUnder): what
// this process adopted is kept in memory, and a restart, or a new term
// after another server led, forgot it. A restarted server then counted an
// adopted instance that had ended as one its intent might still launch:
// booting capacity, its cost counted from the intent's writing, so new
// demand launched nothing until the intent's resume, 2 minutes after the
// restart (providers.ConsistencyWindow), and the resume, which the cloud
// answers with the ended instance, recorded it booting again (call). The
// rows are those live or ended since the oldest pending intent was
// written: none launched under it ended before. A read that fails leaves
// what is remembered.
func (s *Scheduler) recallAdopted(ctx context.Context, t *tick, pending []state.Intent) error {
	if len(pending) == 0 {
		return nil
	}
	oldest := slices.MinFunc(pending, func(a, b state.Intent) int { return a.CreatedAt.Compare(b.CreatedAt) }).CreatedAt
	rows, err := s.opts.Store.Instances(ctx, state.InstanceFilter{Pool: t.pr.spec.Policy.Name, Live: true, EndedSince: oldest})
	if err != nil {
		if t.readFailed("reading the instances of pool "+t.pr.spec.Policy.Name, err) {
			return nil
		}
		return fmt.Errorf("instances of pool %s: %w", t.pr.spec.Policy.Name, err)
	}
	for _, r := range rows {
		if r.IntentID != "" && slices.ContainsFunc(pending, func(in state.Intent) bool { return in.ID == r.IntentID }) {
			t.pr.markAdopted(r.IntentID, r.ID)
		}
	}
	return nil
}

// execResumes calls the pending intents resumeIntents found due, with
// their client tokens, after the tick's first drains and terminations and
// before its new launches: a resumed call may take the tick's whole
// deadline (a hung provider), and the ends the budget counts on must not
// wait for it. No resume starts once stop has ended.
func (s *Scheduler) execResumes(stop, ctx context.Context, t *tick) {
	resumes := t.resumes
	t.resumes = nil
	for _, in := range resumes {
		if stop.Err() != nil {
			return // each stays pending, counted as booting
		}
		if _, ok := t.pending[in.ID]; !ok {
			continue
		}
		if why := s.resumePastLimits(t, in); why != "" {
			msg := "not resumed: " + why + " (an instance an earlier attempt launched is adopted through its " + providers.TagIntent + " tag)"
			if err := s.finishNotResumed(ctx, t, in, msg); err == nil {
				delete(t.pending, in.ID)
			}
			t.rec.Notes = append(t.rec.Notes, fmt.Sprintf("intent %s (%d× %s): %s", in.ID, in.Count, in.Offering, msg))
			s.log.Warn("intent not resumed", "pool", in.Pool, "intent", in.ID, "why", why)
			continue
		}
		s.log.Info("resuming intent", "pool", in.Pool, "intent", in.ID, "offering", in.Offering, "count", in.Count)
		lr := s.call(ctx, t, in)
		lr.Reason = "resumed: " + in.Reason
		t.rec.Launches = append(t.rec.Launches, lr)
	}
}

// notResumed keeps pending intent in, which is not to be called (why),
// counted as booting and not called while an instance an earlier attempt
// launched may not be listed yet (listGrace after it was written), and
// finishes it after. Finished at once, what it launched counted nothing
// toward the limits and the budget until listed and adopted. (A clock
// behind the intent's says nothing of that: finished.)
func (s *Scheduler) notResumed(ctx context.Context, t *tick, in state.Intent, why string) error {
	if age := t.now.Sub(in.CreatedAt); age >= 0 && age < listGrace {
		t.pending[in.ID] = in
		t.rec.Notes = append(t.rec.Notes, fmt.Sprintf("intent %s (%d× %s): not resumed: %s; counted as booting until an instance an earlier attempt launched would be listed", in.ID, in.Count, in.Offering, why))
		return nil
	}
	msg := fmt.Sprintf("not resumed: %s (an instance an earlier attempt launched is adopted through its %s tag)", why, providers.TagIntent)
	if err := s.finishNotResumed(ctx, t, in, msg); err != nil {
		return err
	}
	delete(t.pr.backoff, in.ID)
	t.rec.Notes = append(t.rec.Notes, fmt.Sprintf("intent %s (%d× %s): %s", in.ID, in.Count, in.Offering, msg))
	s.log.Info("intent not resumed", "pool", in.Pool, "intent", in.ID, "why", why)
	return nil
}

// resumePastLimits says why pending intent in, written by a process
// before this one, is not to be called: its instances not recorded yet,
// beside the pool's live rows and what its other pending intents may
// still launch, would be past max_gpus or max_cost_per_hour. The config
// may have lowered them across the restart (a restart is how a config is
// applied); called as written, its launch
// went past the pool's hard limits, and the next tick ended the excess,
// billed. Such an intent was held out a providers.ConsistencyWindow
// (resumeAfter): what its earlier calls launched is listed, and recorded
// under it, by then. The rows are counted as the limits count them
// (rowOffering). "" for one this process wrote or called, or within the
// limits.
func (s *Scheduler) resumePastLimits(t *tick, in state.Intent) string {
	if at, ok := t.pr.resumeAt[in.ID]; !ok || at.IsZero() {
		return ""
	}
	recorded := t.recordedUnder()
	n := in.Count - recorded[in.ID]
	if _, ok := t.pr.offs[in.Offering]; !ok || n <= 0 {
		return "" // the call only answers what is recorded
	}
	gpus, cost := t.pr.pendingCommitted(t.pending, recorded)
	for _, r := range t.rows {
		ro := s.rowOffering(t.pr, r)
		gpus, cost = gpus+ro.GPUs, cost+ro.PricePerHour
	}
	lim := t.pr.spec.Policy.Limits
	switch {
	case lim.MaxGPUs > 0 && gpus > lim.MaxGPUs:
		return fmt.Sprintf("its %d instance(s) not recorded, with what the pool's live and pending instances hold, would put it at %d burst GPUs, past max_gpus %d", n, gpus, lim.MaxGPUs)
	case lim.MaxCostPerHour > 0 && cost > lim.MaxCostPerHour:
		return fmt.Sprintf("its %d instance(s) not recorded, with what the pool's live and pending instances hold, would put its burst at $%.2f/h, past max_cost_per_hour $%.2f", n, cost, lim.MaxCostPerHour)
	}
	return ""
}

// pendingCommitted is the GPUs and cost per hour of the instances the
// pending intents may still launch (their counts less those recorded),
// as the policy counts them (pendingInstances): a resume checked against
// the live rows and itself only let two intents of a restart together
// pass the limits when the first's answer was lost.
func (pr *poolRun) pendingCommitted(pending map[string]state.Intent, recorded map[string]int) (gpus int, cost float64) {
	for _, in := range pending {
		if n := in.Count - recorded[in.ID]; n > 0 {
			o, _ := pr.intentOffering(in, providers.Instance{})
			gpus, cost = gpus+n*o.GPUs, cost+float64(n)*o.PricePerHour
		}
	}
	return gpus, cost
}

// resumeAfter is when this process may first call a pending intent it
// found (written, or last called, by the process that led before a
// restart or a failover): providers.ConsistencyWindow after it first found
// it. Each provider looks for the instances earlier calls of an intent
// launched before it launches again (EC2 by client token, ECS by the
// intent's tag), and remembers where its own calls went; a cloud may not
// list fresh instances for up to that window, and the dead process's
// memory of where its calls went died with it. Resumed sooner, a launch
// that had fallen through a stocked-out subnet to the next one could land
// in the first again once its stock came back, and launch the intent's
// count twice. Meanwhile the intent is counted as booting, and what it
// launched is adopted as soon as it is listed. An intent this process
// wrote and called (calledHere) may be resumed at once: its provider
// remembers where its calls went; so may one whose write this process
// saw fail, and so never called, which the database had committed.
func (pr *poolRun) resumeAfter(id string, now time.Time) time.Time {
	if at, ok := pr.resumeAt[id]; ok {
		return at
	}
	if pr.resumeAt == nil {
		pr.resumeAt = map[string]time.Time{}
	}
	pr.resumeAt[id] = now.Add(providers.ConsistencyWindow)
	return pr.resumeAt[id]
}

// calledHere records that this process calls intent id, or knows that
// no call of it was made (see resumeAfter).
func (pr *poolRun) calledHere(id string) {
	if pr.resumeAt == nil {
		pr.resumeAt = map[string]time.Time{}
	}
	pr.resumeAt[id] = time.Time{}
}

// recallPending counts the pending intents the pool's last tick left as
// committed, for a tick that cannot read them: none is resumed (nothing is
// launched while the state cannot be read) or finished.
func (s *Scheduler) recallPending(t *tick) {
	for _, in := range t.pr.mem.recalledPending() {
		if _, known := t.pr.offs[in.Offering]; !known || t.now.Sub(in.CreatedAt) > intentMaxAge {
			continue
		}
		t.pending[in.ID] = in
		if !s.opts.DryRun {
			t.rec.Notes = append(t.rec.Notes, heldUnread(in))
		}
	}
}

// heldUnread is the note of a pending intent not resumed because the
// state cannot be read.
// holdResume notes that the pending intent in is not called this tick,
// and why (note): it stays counted as booting, and its floor, which the
// policy takes as served by it, waits on it (resumeWaits).
func (t *tick) holdResume(in state.Intent, note string) {
	t.rec.Notes = append(t.rec.Notes, note)
	t.heldResumes = append(t.heldResumes, heldResume{intent: in, why: note})
}

// heldResume is a pending intent not called this tick, and why.
type heldResume struct {
	intent state.Intent
	why    string
}

func heldUnread(in state.Intent) string {
	return fmt.Sprintf("intent %s (%d× %s): resume held back while the state cannot be read; counted as booting meanwhile", in.ID, in.Count, in.Offering)
}

// finishNotResumed writes that intent in failed with msg. A write the
// state does not take is noted, and the next tick tries again.
func (s *Scheduler) finishNotResumed(ctx context.Context, t *tick, in state.Intent, msg string) error {
	err := s.opts.Store.FinishIntent(ctx, in.ID, state.IntentFailed, nil, msg, t.now)
	if kept(err) {
		t.writeFailed("finishing intent "+in.ID, err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("finish intent %s: %w", in.ID, err)
	}
	return nil
}

// floorGone says why the floor of id no longer wants what was launched or
// planned for it: a manual burst cancelled, or a floor past its end. ""
// for no floor, or one that still holds (or whose row is gone).
func (s *Scheduler) floorGone(ctx context.Context, t *tick, id string) (string, error) {
	if id == "" {
		return "", nil
	}
	now := t.now
	fl, found, err := s.floorRow(ctx, t, id)
	if err != nil || !found {
		return "", err
	}
	switch {
	case cancelled(fl):
		return fmt.Sprintf("the floor it was written for, %s, was %s", fl.ID, fl.EndReason), nil
	case !fl.EndedAt.IsZero():
		return fmt.Sprintf("the floor it was written for, %s, ended at %s", fl.ID, fl.EndedAt.UTC().Format(time.RFC3339)), nil
	case !fl.Until.IsZero() && !now.Before(fl.Until):
		return fmt.Sprintf("the floor it was written for, %s, ended at %s", fl.ID, fl.Until.UTC().Format(time.RFC3339)), nil
	}
	return "", nil
}

// execLaunches writes an intent for each launch, then calls the provider.
// It reports whether a capacity or quota failure calls for deciding again
// (not once the tick's deadline has held a launch back).
func (s *Scheduler) execLaunches(stop, ctx context.Context, t *tick, launches []policy.Launch) (redecide bool) {
	held := false
	defer func() { redecide = redecide && !held }()
	for _, l := range launches {
		lr := LaunchRecord{Offering: l.Offering.Name, Count: l.Count, Floor: l.Floor, Reason: l.Reason}
		if s.opts.DryRun {
			lr.Outcome = "dry run: not launched"
			t.rec.Launches = append(t.rec.Launches, lr)
			continue
		}
		if stop.Err() != nil {
			lr.Outcome = shuttingDown
			t.rec.Launches = append(t.rec.Launches, lr)
			continue
		}
		if s.pastDeadline(t, l.Offering.Provider) {
			// The tick's calls have used the slack its budget counts on:
			// no intent is written, the next tick decides again.
			lr.Outcome = s.heldDeadline(t)
			t.rec.Launches = append(t.rec.Launches, lr)
			held = true
			continue
		}
		// A burst cancelled while this tick ran (its earlier calls may
		// each take a call timeout) launches nothing more.
		why, err := "", error(nil)
		if !t.unread() {
			why, err = s.floorGone(ctx, t, t.floorID(l.Floor))
		}
		if t.unread() {
			lr.Outcome = notReadable
			t.rec.Launches = append(t.rec.Launches, lr)
			continue
		}
		if err != nil || why != "" {
			lr.Outcome = "not launched: " + why
			if err != nil {
				lr.Outcome, lr.Error = "not launched", fmt.Sprintf("reading its floor failed: %v", err)
			}
			t.rec.Launches = append(t.rec.Launches, lr)
			continue
		}
		in := state.Intent{
			ID: s.newIntentID(t.now), Pool: t.pr.spec.Policy.Name, Provider: l.Offering.Provider, Offering: l.Offering.Name,
			Count: l.Count, Floor: t.floorID(l.Floor), Reason: l.Reason, Status: state.IntentPending, CreatedAt: t.now, UpdatedAt: t.now,
		}
		in.ClientToken = clientToken(in.ID)
		in.Epoch = t.pr.epoch
		if req, err := s.launchRequest(t.pr, in); err == nil {
			in.Params = requestDigest(req)
		}
		if err := s.opts.Store.CreateIntent(ctx, in); err != nil {
			lr.Outcome, lr.Error = "not launched", fmt.Sprintf("writing the intent failed: %v", err)
			t.rec.Launches = append(t.rec.Launches, lr)
			// A write can fail after the database committed it (a
			// COMMIT whose answer the term's end or a dropped
			// connection cut off): found pending at the next tick, it
			// was taken for one an earlier process had called and held
			// back providers.ConsistencyWindow, counted as booting,
			// nothing launched for its demand meanwhile. No call of it
			// was made: this process may call it at once (resumeAfter;
			// another server leading meanwhile makes it wait).
			t.pr.calledHere(in.ID)
			continue
		}
		t.pending[in.ID] = in
		t.pr.calledHere(in.ID)
		res := s.call(ctx, t, in)
		res.Reason = l.Reason
		t.rec.Launches = append(t.rec.Launches, res)
		if res.Cause == causeCapacity || res.Cause == causeQuota {
			redecide = true
		}
		if n := len(res.Instances); n > 0 && n < l.Count && res.Error == "" {
			// Fewer than asked (the call's MinCount is 1: EC2 gave what
			// the first zone with stock had): decided again now, the
			// launched ones counted, so the shortfall is asked of
			// another zone, then of the next offering, in this tick and
			// not a tick's length later.
			t.rec.Notes = append(t.rec.Notes, fmt.Sprintf("offering %s launched %d of %d: the shortfall decided again in the same tick", l.Offering.Name, n, l.Count))
			redecide = true
		}
	}
	return redecide
}

// floorID maps a policy floor owner back to the floor's id.
func (t *tick) floorID(owner string) string {
	if owner == "" {
		return ""
	}
	if id, ok := t.scheduleIDs[owner]; ok {
		return id
	}
	return owner
}

// Failure causes, as metrics labels and decision records say them.
const (
	causeCapacity  = "capacity"
	causeQuota     = "quota"
	causeThrottled = "throttled"
	causeInvalid   = "invalid"
	causeTransient = "transient"
	// causeChanged: a pending intent whose config changed, not retried.
	causeChanged = "config_changed"
	// causeOtherMarket: an instance the cloud ran in the other market
	// than its offering's (otherMarket).
	causeOtherMarket = "other_market"
	// causeResized: an instance the cloud ran as another type than its
	// offering's (resized).
	causeResized = "resized"
)

// shuttingDown is the outcome of a step a tick did not start because the
// server is shutting down: the calls in flight finish, no further one
// starts (each may take its provider's whole call timeout); the next
// tick, of this server or the next leader, decides again.
const shuttingDown = "held: the server is shutting down; the next tick decides again"

// notReadable is the outcome of a launch a tick did not make because a
// read of the state failed in it: a launch decided on what was last read
// could duplicate one the state would show, or overspend a budget it
// would show spent.
const notReadable = "held: the state cannot be read; nothing is launched until it can"

// call launches an intent's instances with its client token and records
// the outcome. A transient failure leaves the intent pending, to be resumed
// with the same token.
func (s *Scheduler) call(ctx context.Context, t *tick, in state.Intent) LaunchRecord {
	lr := LaunchRecord{Offering: in.Offering, Count: in.Count, Floor: in.Floor, Intent: in.ID}
	o := t.pr.offs[in.Offering]
	prov := s.opts.Providers[in.Provider]
	if b, ok := s.blocked(in.Provider, t.now); ok {
		lr.Outcome, lr.Cause = "held: provider blocked ("+b.why+"); the intent is resumed later", causeThrottled
		return lr
	}
	req, err := s.launchRequest(t.pr, in)
	if err != nil {
		return s.failIntent(ctx, t, in, lr, causeInvalid, err)
	}
	if in.Params != "" && requestDigest(req) != in.Params {
		// The config changed since the first attempt: repeating it is
		// impossible, and a changed request under its token would be
		// refused as invalid. What the first attempt launched is adopted
		// through its spillway:intent tag.
		return s.failIntent(ctx, t, in, lr, causeChanged, fmt.Errorf(
			"the launch parameters the config gives offering %q (instance type, zone, market, user data) changed since the intent's first attempt; not retried under its client token", in.Offering))
	}
	if s.pastDeadline(t, in.Provider) {
		lr.Outcome = s.heldDeadline(t) + "; the intent is resumed then, with the same client token"
		return lr
	}
	lctx, cancel, epoch, ok := s.actingCtx(ctx, in.Provider)
	defer cancel()
	if !ok {
		lr.Outcome = notLeading
		return lr
	}
	lctx, dcancel := s.tickDeadlineCtx(lctx, t)
	defer dcancel()
	if s.opts.Leader != nil {
		// The epoch of the term that wrote the intent, so a resume by a
		// later term sends the first attempt's request again; an intent
		// stored without one (before epochs were kept) takes this term's.
		req.Tags[TagEpoch] = epochTag(cmp.Or(in.Epoch, epoch))
	}
	s.metrics.launchCalls.WithLabelValues(in.Pool, in.Offering).Inc()
	insts, err := prov.Launch(lctx, req)
	if err != nil && cutByTick(lctx, err) {
		// Cut off by the tick's deadline, after at least half its call
		// timeout (pastDeadline): backed off as a call that timed out (a
		// call that hangs would otherwise hold every tick to its
		// deadline); the intent stays pending, counted as booting, and a
		// later tick resumes it first, with the same client token.
		hold := s.backOff(t, in)
		s.metrics.launchFailures.WithLabelValues(in.Pool, in.Offering, causeTransient).Inc()
		lr.Cause, lr.Error = causeTransient, err.Error()
		lr.Outcome = fmt.Sprintf("cut off at the tick's deadline (%s after its evaluation): the intent is resumed with the same client token after %s", t.pr.callSlack, hold)
		if _, id := s.launchDeadline(t); id != "" {
			lr.Outcome = fmt.Sprintf("cut off at the end of instance %s's drain_timeout, which the next tick must be there to terminate: the intent is resumed with the same client token after %s", id, hold)
		}
		s.log.Warn("launch cut off at the tick's deadline, will resume", "pool", in.Pool, "intent", in.ID, "after", hold, "err", err)
		return lr
	}
	if err != nil {
		return s.launchFailed(ctx, t, in, lr, o, err, callTimedOut(lctx, err))
	}
	insts = uniqueInstances(insts)
	insts, foreign := s.othersInstances(ctx, t, in, insts)
	if len(foreign) > 0 {
		s.sayOthers(t, in, foreign)
	}
	insts, extra := t.capAnswer(in, insts)
	s.cache.Record(nil, o.Key())
	for range insts {
		t.pr.idle.Launched(o.Key(), t.now)
	}
	ids := make([]string, 0, len(insts))
	for _, ci := range insts {
		r := s.newRow(t.pr, in, ci)
		r.LaunchedAt = launchedAt(ci.LaunchTime, t.pr.written(in), t.now)
		if old, ok := t.rows[r.ID]; ok {
			r = *old // resumed: already recorded
		} else if old, ok := t.pr.unwritten[r.ID]; ok {
			r = old // resumed: recorded in memory, not yet written
		} else if t.pr.adopted[in.ID][r.ID] {
			// Adopted under the intent and ended since: the cloud
			// answers the resume with the instances its earlier call
			// launched, this one among them, which was recorded booting
			// again (its end reason lost, ended as vanished at the next
			// tick and held as capacity two minutes more).
			ids = append(ids, r.ID)
			continue
		} else if ci.State == providers.StateTerminated || ci.State == providers.StateShuttingDown {
			// Ended outside Spillway before it was ever recorded (the
			// earlier call's answer lost, the instance terminated by
			// hand since): recorded ended at once. Recorded booting, it
			// was held as capacity, its cost counted, until the next
			// tick ended it as vanished.
			r.EndReason = unrecordedEndReason
			if err := s.endRow(ctx, t, &r); err != nil {
				lr.Error = joinMsg(lr.Error, err.Error())
			}
			ids = append(ids, r.ID)
			continue
		}
		if err := s.putRow(ctx, t, &r); err != nil {
			if !kept(err) {
				// The intent stays pending: the next tick adopts or resumes.
				lr.Outcome, lr.Error = "launched, not recorded", err.Error()
				return lr
			}
			lr.Error = joinMsg(lr.Error, "recording the instance failed (kept in memory, written when the state takes writes): "+err.Error())
		}
		t.rows[r.ID] = &r
		ids = append(ids, r.ID)
	}
	delete(t.pending, in.ID) // its instances are rows now
	delete(t.pr.backoff, in.ID)
	if err := s.opts.Store.FinishIntent(ctx, in.ID, state.IntentDone, ids, "", s.clock.Now()); err != nil {
		lr.Error = fmt.Sprintf("finishing the intent failed: %v", err)
	}
	if err := s.endPastCount(ctx, t, in, extra); err != nil {
		lr.Error = joinMsg(lr.Error, err.Error())
	}
	s.metrics.launches.WithLabelValues(in.Pool, in.Offering).Add(float64(len(ids)))
	lr.Instances, lr.Outcome = ids, fmt.Sprintf("launched %d", len(ids))
	s.log.Info("launched", "pool", in.Pool, "offering", in.Offering, "instances", ids, "intent", in.ID)
	return lr
}

// othersInstances splits a launch answer for intent in into the instances
// no other pool's row holds and those another pool's row does, by pool.
// Rows are keyed by provider and id, and capAnswer sees only this pool's:
// an answer naming another pool's instance (a cloud's answer gone wrong, a
// client token that collided with another pool's launch) was recorded
// under this pool, over that pool's row, and, past the intent's count,
// terminated. The state is read once, for the answer's ids only, when it
// names an instance this pool holds no row of; a read that fails leaves the answer whole,
// checked against this pool's rows only, as before, and says so.
func (s *Scheduler) othersInstances(ctx context.Context, t *tick, in state.Intent, insts []providers.Instance) (own []providers.Instance, foreign map[string][]string) {
	fresh := slices.ContainsFunc(insts, func(ci providers.Instance) bool {
		_, held := t.rows[ci.ID]
		_, unwritten := t.pr.unwritten[ci.ID]
		return !held && !unwritten
	})
	if !fresh {
		return insts, nil
	}
	ids := make([]string, len(insts))
	for i, ci := range insts {
		ids[i] = ci.ID
	}
	rows, err := s.opts.Store.Instances(ctx, state.InstanceFilter{Provider: in.Provider, IDs: ids})
	if err != nil {
		s.log.Warn("reading the state's rows of the launch's instances failed: checked against the pool's own rows only", "pool", in.Pool, "intent", in.ID, "err", err)
		return insts, nil
	}
	pools := map[string]string{}
	for _, r := range rows {
		if r.Pool != in.Pool {
			pools[r.ID] = r.Pool
		}
	}
	for _, ci := range insts {
		if p, ok := pools[ci.ID]; ok {
			if foreign == nil {
				foreign = map[string][]string{}
			}
			foreign[p] = append(foreign[p], ci.ID)
			continue
		}
		own = append(own, ci)
	}
	return own, foreign
}

// sayOthers says, in the decision's notes and the log, that the launch of
// intent in was answered with the instances of other pools in foreign,
// which are left as their rows hold them.
func (s *Scheduler) sayOthers(t *tick, in state.Intent, foreign map[string][]string) {
	var parts []string
	for _, p := range slices.Sorted(maps.Keys(foreign)) {
		parts = append(parts, fmt.Sprintf("%s of pool %s", strings.Join(foreign[p], ", "), p))
	}
	msg := fmt.Sprintf("the launch of intent %s was answered with instances already recorded under another pool (%s): not taken over, their rows left as they are",
		in.ID, strings.Join(parts, "; "))
	t.rec.Notes = append(t.rec.Notes, msg)
	s.log.Warn("launch answered with another pool's instances: not taken over", "pool", in.Pool, "intent", in.ID, "others", foreign)
}

// capAnswer splits a launch answer for intent in into the instances taken
// under it, in the answer's order, and those past its count. Adoption
// takes no more than an intent's count (adopt); an answer naming more (a
// cloud that launched twice, a provider's resume merging what it finds
// under the intent's tag) was recorded whole under the intent, every
// instance managed and billed, past max_gpus and the budget. What is
// already recorded under the intent (its live rows, and those adopted
// under it, ended or not) counts first; the answer's others are taken in
// its order while the count has room. An answered instance another
// intent's row, or no intent's, already holds is neither taken nor
// extra: its row stands as it is.
func (t *tick) capAnswer(in state.Intent, insts []providers.Instance) (taken, extra []providers.Instance) {
	under := maps.Clone(t.recordedIDs()[in.ID])
	if under == nil {
		under = map[string]bool{}
	}
	for _, ci := range insts {
		if r, ok := t.rows[ci.ID]; ok && r.IntentID != in.ID {
			continue
		}
		if under[ci.ID] {
			taken = append(taken, ci)
			continue
		}
		if len(under) < in.Count {
			under[ci.ID] = true
			taken = append(taken, ci)
			continue
		}
		extra = append(extra, ci)
	}
	return taken, extra
}

// endPastCount records the instances a launch answer for intent in named
// past its count (capAnswer) under no intent and no floor, so that they
// fill neither, and terminates them at once, without a drain (no job
// reached them), as adopt and observe do with one listed past its count;
// a terminate refused is asked again at each next tick (observe). One
// the answer gives as already ended is left alone.
func (s *Scheduler) endPastCount(ctx context.Context, t *tick, in state.Intent, extra []providers.Instance) error {
	var ends []instEnd
	var errs []error
	for _, ci := range extra {
		if ci.State == providers.StateTerminated || ci.State == providers.StateShuttingDown {
			continue
		}
		r := s.newRow(t.pr, in, ci)
		r.IntentID, r.Floor = "", ""
		if err := s.putRow(ctx, t, &r); err != nil && !kept(err) {
			errs = append(errs, fmt.Errorf("recording instance %s, launched past intent %s's count: %w", r.ID, in.ID, err))
		}
		t.rows[r.ID] = &r
		ends = append(ends, instEnd{row: &r, reason: overLaunchedReason})
	}
	if len(ends) == 0 {
		return errors.Join(errs...)
	}
	ids := make([]string, len(ends))
	for i, e := range ends {
		ids[i] = e.row.ID
	}
	t.rec.Notes = append(t.rec.Notes, fmt.Sprintf("the launch of intent %s, which asked for %d, was answered with %d more (%s): not taken under it, terminated",
		in.ID, in.Count, len(ids), strings.Join(ids, ", ")))
	s.log.Warn("launch answered with instances past its intent's count: terminating them", "pool", in.Pool, "intent", in.ID, "count", in.Count, "instances", ids)
	s.terminateAll(ctx, t, ends)
	return errors.Join(errs...)
}

// uniqueInstances is insts without the repeats of an instance named
// earlier in it (the first place kept, in the livelier state named, as
// in a listing: liveliness). A launch whose answer named its one
// instance twice (a cloud's answer, or a provider's merge of a resumed
// launch with the instances it remembers) was recorded "launched 2", its
// intent done with the id twice and spillway_launched_instances_total
// counting 2, for one instance; named terminated and then running, it
// was recorded ended, and launched again at each next tick.
func uniqueInstances(insts []providers.Instance) []providers.Instance {
	at := make(map[string]int, len(insts))
	out := make([]providers.Instance, 0, len(insts))
	for _, ci := range insts {
		i, ok := at[ci.ID]
		switch {
		case !ok:
			at[ci.ID] = len(out)
			out = append(out, ci)
		case liveliness(ci.State) > liveliness(out[i].State):
			out[i] = ci
		}
	}
	return out
}

// launchRequest is the provider request of an intent, built from the
// intent and the pool's config only (nothing from the clock or the acting
// term), so every attempt of the intent sends the same parameters under its
// client token. The caller adds the spillway:epoch tag.
func (s *Scheduler) launchRequest(pr *poolRun, in state.Intent) (providers.LaunchRequest, error) {
	o := pr.offs[in.Offering]
	req := providers.LaunchRequest{
		Offering: o, Count: in.Count, MinCount: 1, ClientToken: in.ClientToken,
		Tags: map[string]string{
			providers.TagCluster: s.opts.Cluster, providers.TagPool: in.Pool,
			providers.TagBurst: in.Floor, providers.TagIntent: in.ID,
		},
	}
	if in.Floor == "" {
		delete(req.Tags, providers.TagBurst)
	}
	if pr.spec.UserData != nil {
		ud, err := pr.spec.UserData(config.InstanceFields{
			Cluster: s.opts.Cluster, Pool: in.Pool, Provider: in.Provider, Region: o.Region, Zone: o.Zone,
			InstanceType: o.InstanceType, Burst: in.Floor,
		})
		if err != nil {
			return providers.LaunchRequest{}, fmt.Errorf("user_data: %w", err)
		}
		req.UserData = ud
	}
	return req, nil
}

// requestDigest hashes what a launch request takes from the config, so a
// resume can tell whether it would still send its first attempt's request.
func requestDigest(req providers.LaunchRequest) string {
	h := sha256.New()
	o := req.Offering
	fmt.Fprintf(h, "%q %q %q %q %q %d\n", o.Provider, o.Region, o.Zone, o.InstanceType, o.Market, o.GPUs)
	fmt.Fprintf(h, "%d %d %q\n", req.Count, req.MinCount, req.ClientToken)
	for _, k := range slices.Sorted(maps.Keys(req.Tags)) {
		fmt.Fprintf(h, "%q=%q\n", k, req.Tags[k])
	}
	fmt.Fprintf(h, "%q\n", req.UserData)
	return hex.EncodeToString(h.Sum(nil))
}

// keepPending drops from m the intents not in pending.
func keepPending[V any](m map[string]V, pending []state.Intent) {
	maps.DeleteFunc(m, func(id string, _ V) bool {
		return !slices.ContainsFunc(pending, func(in state.Intent) bool { return in.ID == id })
	})
}

// launchFailed sorts a launch error by what the scheduler does next.
// timedOut: the call ran out of its call timeout (it hangs, or its answer
// is lost), which backs the intent off.
func (s *Scheduler) launchFailed(ctx context.Context, t *tick, in state.Intent, lr LaunchRecord, o policy.Offering, err error, timedOut bool) LaunchRecord {
	var te *providers.ThrottledError
	switch {
	case providers.IsCapacity(err):
		s.cache.Record(err, o.Key())
		return s.failIntent(ctx, t, in, lr, causeCapacity, err)
	case providers.IsQuota(err):
		s.cache.Record(err, o.Key())
		return s.failIntent(ctx, t, in, lr, causeQuota, err)
	case errors.As(err, &te):
		hold := min(max(te.RetryAfter, time.Second), maxThrottleHold)
		s.block(in.Provider, block{until: t.now.Add(hold), why: fmt.Sprintf("throttled, backing off %s", hold)})
		s.metrics.launchFailures.WithLabelValues(in.Pool, in.Offering, causeThrottled).Inc()
		lr.Cause, lr.Error, lr.Outcome = causeThrottled, err.Error(), "throttled: the intent is resumed after "+hold.String()
		return lr
	case providers.IsInvalid(err):
		s.block(in.Provider, block{until: t.now.Add(invalidHold), invalid: true,
			why: "provider " + in.Provider + " refused the request as invalid (fix the config or credentials): " + err.Error()})
		s.log.Error("pool misconfigured", "pool", in.Pool, "provider", in.Provider, "err", err)
		return s.failIntent(ctx, t, in, lr, causeInvalid, err)
	case timedOut:
		hold := s.backOff(t, in)
		s.metrics.launchFailures.WithLabelValues(in.Pool, in.Offering, causeTransient).Inc()
		lr.Cause, lr.Error = causeTransient, err.Error()
		lr.Outcome = "timed out: the intent is resumed with the same client token after " + hold.String()
		s.log.Warn("launch timed out, will resume", "pool", in.Pool, "intent", in.ID, "after", hold, "err", err)
		return lr
	default:
		s.metrics.launchFailures.WithLabelValues(in.Pool, in.Offering, causeTransient).Inc()
		lr.Cause, lr.Error, lr.Outcome = causeTransient, err.Error(), "failed for now: the intent is resumed with the same client token"
		s.resumeFailed(t.pr, in, err)
		return lr
	}
}

// resumeFailed logs a launch of intent in that failed for now, to be
// resumed at the next tick: once per kind of failure (failureKey), at
// debug when it fails alike again. A failure that lasts (a Terraform
// burst held while its state is lost, until an operator restores it)
// fails alike at every tick, and a warning at every tick drowned the rest.
func (s *Scheduler) resumeFailed(pr *poolRun, in state.Intent, err error) {
	key := failureKey(err)
	if pr.launchFailed[in.ID] == key {
		s.log.Debug("launch failed again, will resume", "pool", in.Pool, "intent", in.ID, "err", err)
		return
	}
	if pr.launchFailed == nil {
		pr.launchFailed = map[string]string{}
	}
	pr.launchFailed[in.ID] = key
	s.log.Warn("launch failed, will resume; retried at every tick, logged again only if it fails otherwise", "pool", in.Pool, "intent", in.ID, "err", err)
}

// Back-off of an intent whose launch call timed out: its provider's call
// timeout (at least a tick) after the first, doubling after each next, at
// most maxResumeHold.
const maxResumeHold = 10 * time.Minute

// resumeBackoff is when an intent whose call timed out is called again.
type resumeBackoff struct {
	n     int // calls timed out in a row
	until time.Time
}

// backOff holds an intent whose launch timed out out of the next resumes
// and returns for how long.
func (s *Scheduler) backOff(t *tick, in state.Intent) time.Duration {
	b := t.pr.backoff[in.ID]
	b.n++
	hold := max(s.callTimeout(in.Provider), s.opts.Tick)
	for i := 1; i < b.n && hold < maxResumeHold; i++ {
		hold *= 2
	}
	hold = min(hold, maxResumeHold)
	// From the call's end, not the tick's evaluation: a call cut off at
	// the tick's deadline ended a whole slack after it, and the next
	// tick, coming at once, would call the hung provider again.
	b.until = s.clock.Now().Add(hold)
	if t.pr.backoff == nil {
		t.pr.backoff = map[string]resumeBackoff{}
	}
	t.pr.backoff[in.ID] = b
	return hold
}

func (s *Scheduler) failIntent(ctx context.Context, t *tick, in state.Intent, lr LaunchRecord, cause string, err error) LaunchRecord {
	s.metrics.launchFailures.WithLabelValues(in.Pool, in.Offering, cause).Inc()
	lr.Cause, lr.Error, lr.Outcome = cause, err.Error(), "failed ("+cause+")"
	delete(t.pending, in.ID)
	delete(t.pr.backoff, in.ID)
	if ferr := s.opts.Store.FinishIntent(ctx, in.ID, state.IntentFailed, nil, err.Error(), t.now); ferr != nil {
		lr.Error += "; finishing the intent failed: " + ferr.Error()
	}
	s.log.Warn("launch failed", "pool", in.Pool, "offering", in.Offering, "cause", cause, "err", err)
	return lr
}

// execDrains drains each planned instance: the hook runs once, then the
// instance counts as draining until its agent reports no busy GPU or
// drain_timeout passes, when the policy terminates it. The hooks of a
// tick's drains run at once (drainAll).
func (s *Scheduler) execDrains(stop, ctx context.Context, t *tick, drains []policy.Action) {
	var jobs []instEnd
	for _, a := range drains {
		r, ok := t.rows[a.InstanceID]
		if !ok || r.State == state.InstanceDraining || r.State == state.InstanceTerminating || slices.ContainsFunc(jobs, func(e instEnd) bool { return e.row == r }) {
			continue
		}
		if stop.Err() != nil {
			t.rec.Drains = append(t.rec.Drains, ActionRecord{Instance: r.ID, Reason: a.Reason, Outcome: shuttingDown})
			continue
		}
		jobs = append(jobs, instEnd{row: r, reason: a.Reason})
	}
	s.drainAll(ctx, t, jobs)
}

// drain drains instance r for reason.
func (s *Scheduler) drain(ctx context.Context, t *tick, r *state.Instance, reason string) {
	s.drainAll(ctx, t, []instEnd{{row: r, reason: reason}})
}

// hookFanOut bounds the drain hooks one tick runs at once.
const hookFanOut = 16

// hookCap is the longest a tick's drain hooks may hold it, all of them
// (what a tick's length counts for its hooks, config.TickLength),
// whatever drain.timeout and the server's call_timeout say: each hook's
// context ends then, and a hook that outlives its context (a Go hook that
// ignores it, an HTTP server that never answers on a transport without a
// deadline) is left running while the tick goes on, its drain recorded
// with the error. The config refuses a longer drain.timeout.
const hookCap = config.MaxDrainHookTimeout

// errHookCap is the cause of a drain hook cut off at hookCap.
var errHookCap = fmt.Errorf("the drain hook ran past the %s a tick gives it", hookCap)

// waitHooks waits for the hooks of wg until until on the scheduler's
// clock, and no longer.
func (s *Scheduler) waitHooks(wg *sync.WaitGroup, until time.Time) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	rem := until.Sub(s.clock.Now())
	if rem <= 0 {
		return
	}
	select {
	case <-done:
	case <-s.clock.After(rem):
	}
}

// drainAll drains each instance of drains: it runs the pool's drain hook
// for each not yet hooked, the hooks at once (at most hookFanOut), each
// bounded by its own timeout, then records each as draining since the
// evaluation, in order. Run one after another, the hooks of a tick that
// drained several instances (a budget draining the busy ones) added up,
// and held its ends and the next evaluation that much later than the
// slack a hard budget counts.
func (s *Scheduler) drainAll(ctx context.Context, t *tick, drains []instEnd) {
	if len(drains) == 0 {
		return
	}
	if s.opts.DryRun {
		for _, d := range drains {
			t.rec.Drains = append(t.rec.Drains, ActionRecord{Instance: d.row.ID, Reason: d.reason, Outcome: "dry run: not drained"})
		}
		return
	}
	type hookRun struct {
		skipped string // why the drain was not made ("" when it was)
		hooked  bool
		done    bool // the hook returned before the wait ended
		err     error
	}
	runs := make([]hookRun, len(drains))
	// The hooks end by hookCap on the scheduler's clock, whatever they
	// do with their context: the tick goes on without one still running.
	until := s.clock.Now().Add(hookCap)
	var mu sync.Mutex // guards runs against hooks that outlive the wait
	sem := make(chan struct{}, hookFanOut)
	var wg sync.WaitGroup
	for i, d := range drains {
		hctx, cancel, _, ok := s.actingCtx(ctx, "")
		if !ok {
			cancel()
			runs[i].skipped = notLeading
			continue
		}
		if t.pr.spec.Drain == nil || !d.row.DrainHookAt.IsZero() {
			cancel()
			continue
		}
		runs[i].hooked = true
		info := s.info(t.pr, d.row)
		hctx, hcancel := context.WithTimeoutCause(hctx, hookCap, errHookCap)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cancel()
			defer hcancel()
			sem <- struct{}{}
			defer func() { <-sem }()
			running := s.hookRunning(t.pr, d.row.ID)
			err := t.pr.spec.Drain(hctx, info)
			running()
			mu.Lock()
			runs[i].err, runs[i].done = err, true
			mu.Unlock()
		}()
	}
	s.waitHooks(&wg, until)
	mu.Lock()
	defer mu.Unlock()
	for i := range runs {
		if runs[i].hooked && !runs[i].done {
			runs[i].err = fmt.Errorf("%w: still running %s after it started; the drain goes on without it", errHookCap, hookCap)
		}
	}
	for i, d := range drains {
		r, run := d.row, runs[i]
		ar := ActionRecord{Instance: r.ID, Reason: d.reason}
		if run.skipped != "" {
			ar.Outcome = run.skipped
			t.rec.Drains = append(t.rec.Drains, ar)
			continue
		}
		r.State, r.DrainStartedAt, r.UpdatedAt = state.InstanceDraining, t.now, t.now
		ar.Outcome = "draining"
		if run.hooked {
			if err := run.err; err != nil {
				ar.Error = "drain hook: " + err.Error()
				s.metrics.hookFailures.WithLabelValues(r.Pool).Inc()
				s.log.Warn("drain hook failed", "pool", r.Pool, "instance", r.ID, "err", err)
			}
			r.DrainHookAt = t.now
		}
		if err := s.putRow(ctx, t, r); err != nil {
			ar.Error = joinMsg(ar.Error, "recording the drain failed (kept in memory, written when the state takes writes): "+err.Error())
		}
		t.rec.Drains = append(t.rec.Drains, ar)
		s.log.Info("draining", "pool", r.Pool, "instance", r.ID, "reason", d.reason)
	}
}

// execTerminates ends drained instances: one terminate call per provider,
// the providers' calls made at once (terminateAll).
func (s *Scheduler) execTerminates(stop, ctx context.Context, t *tick, terms []policy.Action) {
	var ends []instEnd
	for _, a := range terms {
		r, ok := t.rows[a.InstanceID]
		if !ok || r.State == state.InstanceTerminating || t.endTried[r.ID] || slices.ContainsFunc(ends, func(e instEnd) bool { return e.row == r }) {
			// One whose terminate call failed this tick is asked again
			// at the next, not by this tick's next round (decided
			// again after a capacity failure): the retry held the
			// round's launches, the fallback offering's among them,
			// a call's time later, past the tick's deadline.
			continue
		}
		if stop.Err() != nil {
			t.rec.Terminates = append(t.rec.Terminates, ActionRecord{Instance: r.ID, Reason: a.Reason, Outcome: shuttingDown})
			continue
		}
		ends = append(ends, instEnd{row: r, reason: a.Reason})
	}
	s.terminateAll(ctx, t, ends)
}

// instEnd is an instance a tick drains or ends, and why.
type instEnd struct {
	row    *state.Instance
	reason string
}

// termCall is one terminate call: the instances of one provider a tick
// ends, and what came of it.
type termCall struct {
	provider string
	rows     []*state.Instance
	// skipped says why the call was not made ("" when it was), err what
	// it returned, endedAt when it returned.
	skipped string
	err     error
	endedAt time.Time
}

// terminateAll asks each instance's provider to end it, one call per
// provider, the calls made at once, each bounded by its provider's call
// timeout; then it records, in the order of ends, each instance whose
// call succeeded as terminating, its row ended when the call returned.
// The budget counts each end at most the tick's slack (one call_timeout)
// after the evaluation: calls made one after another (one per reason and
// provider, and one per instance ended at its join timeout) added up, so
// that with calls taking 9 of their 10 minutes the second one's instance
// billed 18 minutes past the evaluation that ended it.
func (s *Scheduler) terminateAll(ctx context.Context, t *tick, ends []instEnd) {
	var calls []*termCall
	byProvider := map[string]*termCall{}
	for _, e := range ends {
		if t.endTried == nil {
			t.endTried = map[string]bool{}
		}
		t.endTried[e.row.ID] = true
		c, ok := byProvider[e.row.Provider]
		if !ok {
			c = &termCall{provider: e.row.Provider}
			byProvider[c.provider] = c
			calls = append(calls, c)
		}
		c.rows = append(c.rows, e.row)
	}
	var wg sync.WaitGroup
	for _, c := range calls {
		if s.opts.DryRun {
			c.skipped = "dry run: not terminated"
			continue
		}
		tctx, cancel, _, ok := s.actingCtx(ctx, c.provider)
		if !ok {
			c.skipped = notLeading
			continue
		}
		prov, known := s.opts.Providers[c.provider]
		if !known {
			cancel()
			c.err = fmt.Errorf("provider %s is no longer in the config: put it back to end its instances", c.provider)
			c.endedAt = s.clock.Now()
			continue
		}
		if err := s.askEnds(ctx, t, c.rows, ends); err != nil {
			cancel()
			c.skipped = notLeading
			s.log.Warn("the terminate's record was refused as no longer the leader's: not calling it; the leader decides again", "pool", t.pr.spec.Policy.Name, "provider", c.provider, "instances", rowIDs(c.rows), "err", err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cancel()
			c.err = prov.Terminate(tctx, rowIDs(c.rows))
			// The bill runs until the call reached the cloud, at the
			// latest when it returned: a call that took most of its
			// call timeout ended its instances that much after the
			// evaluation, and the budget's ledger counts each one
			// until its EndedAt.
			c.endedAt = s.clock.Now()
		}()
	}
	wg.Wait()
	ended := map[*state.Instance]bool{}
	for _, c := range calls {
		ids := rowIDs(c.rows)
		// A partial failure ended some: record those as terminating, or
		// the next tick would find them gone and count them as vanished.
		for _, id := range providers.Ended(ids, c.err) {
			if i := slices.Index(ids, id); i >= 0 {
				ended[c.rows[i]] = true
			}
		}
		if c.skipped == "" && c.err != nil {
			s.terminateFailed(t.pr, c.provider, c.rows, ended, c.err)
		}
	}
	for _, e := range ends {
		r, c := e.row, byProvider[e.row.Provider]
		ar := ActionRecord{Instance: r.ID, Reason: e.reason}
		switch {
		case c.skipped != "":
			ar.Outcome = c.skipped
			t.rec.Terminates = append(t.rec.Terminates, ar)
			continue
		case !ended[r]:
			ar.Outcome, ar.Error = notTerminated, c.err.Error()
			t.rec.Terminates = append(t.rec.Terminates, ar)
			if t.endFailed == nil {
				t.endFailed = map[string]bool{}
			}
			t.endFailed[r.ID] = true
			continue
		}
		if !r.IdleSince.IsZero() && (r.DrainStartedAt.IsZero() || !r.IdleSince.After(r.DrainStartedAt)) {
			// Released while idle: keeping it would have saved the next
			// launch of its offering.
			t.pr.idle.Released(s.rowOffering(t.pr, r).Key(), r.IdleSince, t.now)
		}
		r.State, r.EndedAt, r.EndReason, r.UpdatedAt = state.InstanceTerminating, c.endedAt, e.reason, c.endedAt
		ar.Outcome = "terminating"
		if perr := s.putRow(ctx, t, r); perr != nil {
			ar.Error = "recording the termination failed (kept in memory, written when the state takes writes): " + perr.Error()
		}
		s.metrics.terminations.WithLabelValues(r.Pool, r.Offering).Inc()
		t.rec.Terminates = append(t.rec.Terminates, ar)
		s.log.Info("terminating", "pool", r.Pool, "instance", r.ID, "reason", e.reason)
	}
}

// notTerminated is the outcome of a terminate the cloud did not carry
// out.
const notTerminated = "not terminated: retried next tick"

// askEnds writes, before the terminate call, that each of rows was asked
// to end and why (its EndReason, its State unchanged): the write-ahead
// record of a terminate, as an intent is a launch's. A call whose answer
// is lost (cut off at its call timeout, a dropped connection, a 5xx after
// the cloud acted), or a server that crashes between the call and its
// record, left a row the next tick found gone and ended as vanished, and
// an ECS instance listed Stopping after its delete was taken, after a
// restart, for one stopped outside Spillway and deleted again with that
// reason. A row so asked ends with the reason asked (endRow) once the
// cloud shows it gone or stopping (Stopped, it is stopped by hand and
// terminated: observe). A failed write is kept for the next tick's
// (unwritten.go), and the call is made anyway, within the term
// (actingCtx): an instance not ended bills, and no other server may act
// before the term ends. But a write refused as a deposed leader's
// (deposed: the database's fence says another server took the lease, or
// it expired; or the term ended during the write) says this server no
// longer leads whatever its own clock says: the call, made anyway, raced
// the new leader, which read no reason on the row and may be draining,
// keeping or ending it itself. Then no row is changed, and the error is
// returned: the caller makes no call, and the leader decides again.
func (s *Scheduler) askEnds(ctx context.Context, t *tick, rows []*state.Instance, ends []instEnd) error {
	for _, r := range rows {
		i := slices.IndexFunc(ends, func(e instEnd) bool { return e.row == r })
		if i < 0 || r.EndReason == ends[i].reason {
			continue
		}
		reason, at := r.EndReason, r.UpdatedAt
		kept, unsaved := t.pr.unwritten[r.ID]
		r.EndReason, r.UpdatedAt = ends[i].reason, t.now
		err := s.putRow(ctx, t, r)
		if err == nil {
			continue
		}
		if deposed(err) {
			// Undone in memory too: no terminate was asked. (The
			// first failed write of a tick: rows before it were
			// written, each asked of the next leader's state, which
			// clears the reason of one the cloud still runs.)
			r.EndReason, r.UpdatedAt = reason, at
			if unsaved {
				t.pr.unwritten[r.ID] = kept
			} else {
				delete(t.pr.unwritten, r.ID)
			}
			return fmt.Errorf("recording the terminate of instance %s: %w", r.ID, err)
		}
		s.log.Warn("recording a terminate before its call failed; calling anyway", "pool", r.Pool, "instance", r.ID, "err", err)
	}
	return nil
}

// deposed reports whether a state write failed because this server no
// longer leads: fenced by the database (another server took the lease, or
// it expired), or given up at the end of its term. A write that failed
// otherwise (a full disk, a database taking no writes, which no other
// server could take the lease in either) says nothing of who leads.
func deposed(err error) bool {
	return errors.Is(err, state.ErrFenced) || errors.Is(err, errTermOver)
}

// endAsked reports whether r's end was asked of its cloud (askEnds) and
// its answer not recorded: a live row, not terminating, with a reason.
func endAsked(r *state.Instance) bool {
	return r.EndReason != "" && r.State != state.InstanceTerminating && r.State != state.InstanceEnded
}

// terminateFailed logs and counts a terminate call to provider that did
// not end the instances of rows (those not in ended). Each failed instance
// counts in spillway_terminate_failures_total and its decision's record;
// the log says each instance's failure once per error (failureKey): a
// permanent refusal (Terraform's prevent_destroy, a provider's refusal to
// end a protected instance) fails alike at every tick, and a warning at
// every tick for ever drowned the rest. A repeat is logged at debug.
func (s *Scheduler) terminateFailed(pr *poolRun, provider string, rows []*state.Instance, ended map[*state.Instance]bool, err error) {
	key := failureKey(err)
	var fresh, again []string
	for _, r := range rows {
		if ended[r] {
			delete(pr.termFailed, r.ID)
			continue
		}
		s.metrics.terminateFailures.WithLabelValues(pr.spec.Policy.Name, provider).Inc()
		if pr.termFailed[r.ID] == key {
			again = append(again, r.ID)
			continue
		}
		if pr.termFailed == nil {
			pr.termFailed = map[string]string{}
		}
		pr.termFailed[r.ID] = key
		fresh = append(fresh, r.ID)
	}
	if len(fresh) > 0 {
		s.log.Warn("terminate failed; retried at every tick, logged again only if it fails otherwise", "pool", pr.spec.Policy.Name, "provider", provider, "instances", fresh, "err", err)
	}
	if len(again) > 0 {
		s.log.Debug("terminate failed again", "pool", pr.spec.Policy.Name, "provider", provider, "instances", again, "err", err)
	}
}

// failureKey tells one failure of a call from another of a different
// kind: the typed error's kind and code, or, for an error of no known
// type, its message. Two answers of the same refusal differ in request
// ids and times, not in kind.
func failureKey(err error) string {
	var (
		inv *providers.InvalidError
		tr  *providers.TransientError
		thr *providers.ThrottledError
		nf  *providers.NotFoundError
		qe  *providers.QuotaError
		ce  *providers.CapacityError
	)
	switch {
	case errors.As(err, &inv):
		return "invalid/" + inv.Code
	case errors.As(err, &thr):
		return "throttled"
	case errors.As(err, &nf):
		return "not found"
	case errors.As(err, &qe):
		return "quota"
	case errors.As(err, &ce):
		return "capacity/" + ce.Code
	case errors.As(err, &tr):
		return "transient/" + tr.Code
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	}
	return err.Error()
}

// rowIDs is the ids of rows.
func rowIDs(rows []*state.Instance) []string {
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	return ids
}

func joinMsg(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// errTickDeadline is the cause of a launch call cut off by its tick's
// deadline (tick.deadline).
var errTickDeadline = errors.New("the tick's launch calls took longer than the slack its budget counts")

// pastDeadline reports whether a launch call to provider must not start
// now: less than half its call timeout is left before its deadline
// (launchDeadline; a call with less would most likely be cut off, and a
// Terraform apply cut off leaves work for the next one to redo).
func (s *Scheduler) pastDeadline(t *tick, provider string) bool {
	dl, _ := s.launchDeadline(t)
	return !dl.IsZero() && dl.Sub(s.clock.Now()) < s.callTimeout(provider)/2
}

// launchDeadline is when t's launch calls must end, on the scheduler's
// clock (zero: never): the tick's deadline, or, when sooner, the end of
// the drain_timeout of an instance left draining, which the next tick
// must be there to terminate. A launch call holds the tick, and the ends
// the budget counts on (drain_timeout after the drain began, and the
// tick slack for the call that ends it) would wait for it: a launch
// resumed into a provider that hangs held the next tick's termination of
// a drained instance a whole call_timeout late, and its terminate call
// took another, past what the budget had counted. byEnd is the instance
// whose drain_timeout binds ("" when the tick's deadline does).
func (s *Scheduler) launchDeadline(t *tick) (dl time.Time, byEnd string) {
	dl = t.deadline
	to := t.pr.spec.Policy.ScaleIn.DrainTimeout.D()
	if to <= 0 {
		return dl, ""
	}
	for _, r := range sortedRows(t.rows) {
		if r.State != state.InstanceDraining || r.DrainStartedAt.IsZero() {
			continue
		}
		if due := r.DrainStartedAt.Add(to); dl.IsZero() || due.Before(dl) {
			dl, byEnd = due, r.ID
		}
	}
	return dl, byEnd
}

// tickDeadlineCtx bounds a launch call's ctx by what is left before its
// deadline (launchDeadline; measured on the scheduler's clock, applied on
// the wall clock, as the call timeouts are).
func (s *Scheduler) tickDeadlineCtx(ctx context.Context, t *tick) (context.Context, context.CancelFunc) {
	dl, _ := s.launchDeadline(t)
	if dl.IsZero() {
		return ctx, func() {}
	}
	at := time.Now().Add(dl.Sub(s.clock.Now()))
	dctx, cancel := context.WithDeadlineCause(ctx, at, errTickDeadline)
	return context.WithValue(dctx, tickDeadlineKey{}, at), cancel
}

// tickDeadlineKey holds, in a launch call's context, the deadline its
// tick's deadline set (an earlier one may bound it).
type tickDeadlineKey struct{}

// cutByTick reports whether a launch call on ctx (tickDeadlineCtx) that
// failed with err was cut off by its tick's deadline, as callTimedOut
// tells a call timeout: ctx ended by it, or the provider gave up ahead of
// it with an error wrapping context.DeadlineExceeded while the tick's was
// ctx's deadline. A capacity or quota answer is the cloud's, not a cut.
func cutByTick(ctx context.Context, err error) bool {
	if providers.IsCapacity(err) || providers.IsQuota(err) {
		return false
	}
	if ctx.Err() != nil {
		return errors.Is(context.Cause(ctx), errTickDeadline)
	}
	dl, ok := ctx.Deadline()
	own, set := ctx.Value(tickDeadlineKey{}).(time.Time)
	return ok && set && errors.Is(err, context.DeadlineExceeded) && !dl.Before(own)
}

// heldDeadline is the outcome of a launch a tick did not call because its
// deadline was (nearly) there.
func (s *Scheduler) heldDeadline(t *tick) string {
	if dl, id := s.launchDeadline(t); id != "" {
		return fmt.Sprintf("held: instance %s's drain_timeout ends at %s, and a launch call now could hold the tick past it, delaying its termination beyond what the budget counts; the next tick decides again",
			id, dl.UTC().Format(time.TimeOnly))
	}
	return fmt.Sprintf("held: the tick's launch calls used the %s a tick gives them (the pool's longest call_timeout); the next tick decides again", t.pr.callSlack)
}
