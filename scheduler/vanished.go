package scheduler

import (
	"cmp"
	"slices"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/state"
)

// vanishedHold is how long after its row was ended as vanished a booting
// instance the cloud never listed stays counted by the pool's budget and
// limits: a cloud that lists fresh instances later than listGrace (its
// eventual consistency) still runs and bills them, and lists them later;
// adopt then tracks them again (revived). Meanwhile the instance counts
// as booting (heldInstances): capacity for the demand it was launched
// for, so no replacement is launched for it before its hold ends, and its
// cost so far and what it commits, so the budget admits no launch on
// money the instance is spending. An instance the
// cloud lists ended is counted at once; one never listed within the hold
// is counted as vanished then (the vanished metric, the spot tracker's
// lives and exposure), so one listed late is counted in neither.
const vanishedHold = listGrace

// holdsVanished reports whether r, ended as vanished now, is held for
// vanishedHold: it was booting and the cloud did not list it (a listing
// lag beyond listGrace looks so). One the cloud lists ended, or that had
// run (joined, listed before), is gone.
func holdsVanished(r *state.Instance, listed bool) bool {
	return !listed && r.State == state.InstanceBooting
}

// holdVanished keeps r, just ended as vanished, for vanishedHold.
func (pr *poolRun) holdVanished(r state.Instance) {
	if pr.vanished == nil {
		pr.vanished = map[string]state.Instance{}
	}
	pr.vanished[r.ID] = r
}

// settleVanished ends the hold of each held row whose instance the cloud
// lists again (adopt tracked it again: counted as nothing) or whose hold
// is over (counted as vanished now).
func (s *Scheduler) settleVanished(t *tick) {
	for _, r := range sortedHeld(t.pr.vanished) { // oldest first: the spot tracker decays forward only
		id := r.ID
		if _, live := t.rows[id]; live {
			delete(t.pr.vanished, id)
			continue
		}
		ci, listed := t.cloud[id]
		if listed && ci.Provider == r.Provider || t.now.Sub(r.EndedAt) >= vanishedHold || t.now.Before(r.EndedAt) {
			s.countVanished(t.pr, &r)
			delete(t.pr.vanished, id)
		}
	}
}

// countVanished counts a row ended as vanished: the metric, and its life
// in the spot tracker.
func (s *Scheduler) countVanished(pr *poolRun, r *state.Instance) {
	s.metrics.vanished.WithLabelValues(r.Pool).Inc()
	o := s.rowOffering(pr, r)
	pr.spot.Ended(&o, r.LaunchedAt, r.EndedAt, !r.ReclaimedAt.IsZero())
}

// heldRows is the rows held after they vanished, in id order, each as
// the budget counts it: still running, so its cost accrues to now.
func (t *tick) heldRows() []*state.Instance {
	if len(t.pr.vanished) == 0 {
		return nil
	}
	out := make([]*state.Instance, 0, len(t.pr.vanished))
	for _, r := range sortedHeld(t.pr.vanished) {
		if _, live := t.rows[r.ID]; live {
			continue
		}
		r.State, r.EndedAt = state.InstanceTerminating, time.Time{}
		out = append(out, &r)
	}
	return out
}

// heldInstances is the policy's view of the held rows: booting, as they
// were when the cloud did not list them, so that each counts toward
// max_gpus, max_cost_per_hour and the budget (as an instance kept now)
// and as capacity serving the demand it was launched for, as a pending
// intent does, until its hold ends. A cloud that lists fresh instances
// later than listGrace still boots them: taken for no capacity, the held
// pair was launched again for the same queued jobs, and the pool paid
// for both pairs until the idle one was scaled in. One that is really
// gone is replaced once its hold ends, vanishedHold later. Their ids
// name no row, and they are held (policy.Instance.Held): no plan ends
// one, and a budget or a limit that must end instances neither counts on
// ending them nor says it ended them (its note said "ended 2 idle
// instance(s)" for two held rows it could not end).
func (s *Scheduler) heldInstances(t *tick) []policy.Instance {
	var out []policy.Instance
	for _, r := range sortedHeld(t.pr.vanished) {
		if _, live := t.rows[r.ID]; live {
			continue
		}
		out = append(out, policy.Instance{
			ID: heldID(r.ID), Offering: s.rowOffering(t.pr, &r), State: policy.StateBooting,
			LaunchedAt: r.LaunchedAt, Floor: floorOwner(r.Floor), Held: true,
		})
	}
	return out
}

// heldID is the policy's id of the held row of instance id.
func heldID(id string) string { return heldPrefix + id }

// Prefixes of the ids of the policy's stand-ins that no row holds: a held
// row's (heldID) and a pending intent's instances' (pendingInstances).
const (
	heldPrefix    = "vanished/"
	pendingPrefix = "intent/"
)

// sortedHeld is the held rows, in the order they vanished.
func sortedHeld(m map[string]state.Instance) []state.Instance {
	out := make([]state.Instance, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b state.Instance) int { return cmp.Or(a.EndedAt.Compare(b.EndedAt), cmp.Compare(a.ID, b.ID)) })
	return out
}

// seedVanished holds again, after a restart or at a new term, the rows in
// rows ended as vanished within vanishedHold before now that were never
// joined and ended within 2 listGraces of their launch (those a listing
// lag may have taken for vanished). seedSpot leaves them to
// settleVanished.
func (pr *poolRun) seedVanished(rows []state.Instance, now time.Time) {
	pr.vanished = nil
	for _, r := range rows {
		if r.State == state.InstanceEnded && r.EndReason == vanishedReason && r.JoinedAt.IsZero() &&
			now.Sub(r.EndedAt) < vanishedHold && !now.Before(r.EndedAt) && r.EndedAt.Sub(r.LaunchedAt) < 2*listGrace {
			pr.holdVanished(r)
		}
	}
}
