package scheduler

import (
	"context"
	"fmt"
	"time"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/state"
)

// A server clock stepped back (an NTP correction of a clock that ran
// ahead, or a leader whose clock is behind the last one's) leaves the
// live rows with the times it wrote while ahead. The ledger billed an
// instance launched then from its intent's (later) time, the cloud from
// its own launch: after a step back of an hour it added nothing for an
// hour. A drain begun then ended drain_timeout after a time still ahead,
// the policy taking it as begun now: up to the step late.

// clockStep is how far the clock stepped back since the pool's last
// tick (lastNow); 0 when it did not.
func (t *tick) clockStep() time.Duration {
	if t.pr.lastNow.IsZero() {
		return 0
	}
	return max(t.pr.lastNow.Sub(t.now), 0)
}

// seedLastNow sets the pool's last tick, for a process's first tick (a
// restart, a new term), at the latest time its state records: its last
// decision, or a row's last write. A step back across the restart is
// seen from them, short by the real time since (up to a heartbeat, and
// the downtime).
func (s *Scheduler) seedLastNow(ctx context.Context, pr *poolRun, rows []state.Instance) error {
	ds, err := s.opts.Store.Decisions(ctx, state.DecisionFilter{Pool: pr.spec.Policy.Name, Limit: 1})
	if err != nil {
		return fmt.Errorf("read the last decision: %w", err)
	}
	for _, d := range ds {
		pr.lastNow = later(pr.lastNow, d.Time)
	}
	for i := range rows {
		pr.lastNow = later(pr.lastNow, rows[i].UpdatedAt)
	}
	pr.lastNow = pr.lastNow.Round(0)
	return nil
}

// unstep moves the times the live rows recorded while the clock ran
// ahead back by the step seen, and logs the step once. A row's launch
// takes the cloud's launch time when it lies within the step and a
// tick's slack before the recorded one (the cloud bills from it; the
// step seen leaves out the real time between the two ticks); other
// times after now move back by the step, none past now.
func (s *Scheduler) unstep(t *tick) {
	step := t.clockStep()
	last := t.pr.lastNow
	t.pr.lastNow = t.now.Round(0) // the wall clock: a monotonic reading never steps back
	if step <= 0 {
		return
	}
	t.pr.stepFrom, t.pr.stepBy = last, step
	s.log.Warn("server clock stepped back: the live instances' times recorded while it ran ahead are moved back by the step",
		"pool", t.pr.spec.Policy.Name, "step", step.Round(time.Second), "now", t.now)
	slack := t.pr.stepSlack()
	for _, r := range t.rows {
		ci, seen := t.cloud[r.ID]
		unstepRow(r, ci, seen, step, slack, t.now)
	}
}

// stepSlack is how much earlier than a recorded time less the step seen
// a cloud's launch time is taken: the real time between the last tick
// before the step and the one that saw it, which the step seen leaves
// out (a tick's interval, and a minute).
func (pr *poolRun) stepSlack() time.Duration { return pr.spec.Policy.Interval.D() + time.Minute }

// written is when intent in was written, as a bound below which a
// launch time the cloud gives is not believed (launchedAt): its
// CreatedAt, less the last step back seen and its slack when it was
// written before that step, while the clock ran ahead. An instance
// launched for such an intent and recorded after the step (its answer
// lost, adopted once listed) was recorded launched at the intent's
// time, still ahead: it billed nothing, and could not time out joining,
// until the clock caught up.
func (pr *poolRun) written(in state.Intent) time.Time {
	if pr.stepBy > 0 && !in.CreatedAt.After(pr.stepFrom) {
		return in.CreatedAt.Add(-pr.stepBy - pr.stepSlack())
	}
	return in.CreatedAt
}

// unstepRow moves r's times back by step (see unstep).
func unstepRow(r *state.Instance, ci providers.Instance, seen bool, step, slack time.Duration, now time.Time) {
	back := func(at *time.Time) {
		if at.After(now) {
			*at = earlier(at.Add(-step), now)
		}
	}
	cloud := ci.LaunchTime
	if seen && !cloud.IsZero() && cloud.Before(r.LaunchedAt) && !cloud.After(now) && !cloud.Before(r.LaunchedAt.Add(-step-slack)) {
		r.LaunchedAt = cloud
	}
	for _, at := range []*time.Time{&r.LaunchedAt, &r.JoinedAt, &r.IdleSince, &r.DrainStartedAt, &r.DrainHookAt, &r.ReclaimedAt, &r.RanUntil, &r.UpdatedAt} {
		back(at)
	}
}

// later is the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// earlier is the earlier of a and b.
func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
