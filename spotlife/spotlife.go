// Package spotlife learns how often each spot offering's instances are
// reclaimed, so that a policy weighs spot by the work it delivers after
// reclaims (Snapshot.SpotReclaims) rather than by its list price alone.
//
// The rate is reclaim notices per instance-hour of exposure: the hours the
// offering's instances lived past its protection (Offering.SpotProtection,
// Alibaba's first hour, in which the cloud reclaims nothing), those still
// running included. Counting protected hours would dilute the rate an
// instance meets once its protection ends: a hundred Alibaba instances
// living 45 minutes each, never reclaimed, would pull it to under a third
// of the prior (one reclaim in 560 hours, TestProtectedHoursAreNotExposure).
// Both decay
// with a time constant (a spot market changes over days), and a prior
// worth PriorHours of exposure at PriorRate keeps the first reclaim from
// deciding it: before anything is seen the rate is PriorRate, one reclaim
// a week (the realistic cloud's default, sim.DefaultCloud); reclaims seen
// raise it, hours without lower it. A Tracker is not safe for concurrent use: the
// scheduler keeps one per pool, used by the pool's tick, and the
// simulator one per run.
package spotlife

import (
	"math"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// Defaults: a week's memory, and a prior of one reclaim a week (a
// pessimistic assumption inside AWS Spot Instance Advisor's open-ended
// ">20% a month" band, docs/backtest.md) worth a day of one instance's
// exposure.
const (
	DefaultDecay = 7 * 24 * time.Hour
	PriorRate    = 1.0 / (7 * 24)
	PriorHours   = 24.0
)

// Tracker estimates spot reclaim rates per offering, and how long the
// pool's instances live.
type Tracker struct {
	tau  float64 // decay time constant, hours
	past map[policy.OfferingKey]*acc
	life lives
}

// lives is the decayed count and whole lives, in hours, of the pool's
// ended instances, every market's, as of at (Life).
type lives struct {
	n, hours float64
	at       time.Time
}

// acc is an offering's decayed reclaims and the decayed exposure of its
// ended instances, as of at.
type acc struct {
	reclaims, hours float64
	at              time.Time
}

// New returns a Tracker with DefaultDecay.
func New() *Tracker { return &Tracker{tau: DefaultDecay.Hours(), past: map[policy.OfferingKey]*acc{}} }

// decayed returns k's accumulator brought to now (created when absent).
func (t *Tracker) decayed(k policy.OfferingKey, now time.Time) *acc {
	a := t.past[k]
	if a == nil {
		a = &acc{at: now}
		t.past[k] = a
		return a
	}
	f := t.decay(&a.at, now)
	a.reclaims *= f
	a.hours *= f
	return a
}

// decay is the factor by which what was counted at *at has decayed by
// now, and moves *at to now (1 when now is not later).
func (t *Tracker) decay(at *time.Time, now time.Time) float64 {
	dt := now.Sub(*at).Hours()
	if !(dt > 0) {
		return 1
	}
	*at = now
	return math.Exp(-dt / t.tau)
}

// decayedLives returns the pool's lives brought to now.
func (t *Tracker) decayedLives(now time.Time) *lives {
	l := &t.life
	if l.at.IsZero() {
		l.at = now
	}
	f := t.decay(&l.at, now)
	l.n *= f
	l.hours *= f
	return l
}

// exposure is the decayed exposure, at end, of an instance that lived from
// launched to end with protection after launch in which it could not be
// reclaimed: the integral of e^-(end-s)/tau over its life past the
// protection.
func (t *Tracker) exposure(launched, end time.Time, protection time.Duration) float64 {
	life := end.Sub(launched.Add(max(protection, 0))).Hours()
	if life <= 0 {
		return 0
	}
	return t.tau * -math.Expm1(-life/t.tau)
}

// Reclaimed records a reclaim notice at now to an instance of spot
// offering k. Nothing happens on a nil Tracker.
func (t *Tracker) Reclaimed(k policy.OfferingKey, now time.Time) {
	if t == nil {
		return
	}
	t.decayed(k, now).reclaims++
}

// Ended records that an instance of offering o, launched at launched,
// ended at now, reclaimed by its cloud or not: for a spot offering, its
// life past the offering's protection (SpotProtection) joins the
// offering's exposure; unless reclaimed, its life joins the pool's lives
// (Life). A reclaim cut a life short of the use it was launched for, and
// counting it would make reclaims look as if they left little to reclaim.
func (t *Tracker) Ended(o *policy.Offering, launched, now time.Time, reclaimed bool) {
	if t == nil {
		return
	}
	if !reclaimed {
		l := t.decayedLives(now)
		l.n++
		l.hours += max(now.Sub(launched).Hours(), 0)
	}
	if o.Market == policy.MarketSpot {
		t.decayed(o.Key(), now).hours += t.exposure(launched, now, o.SpotProtection.D())
	}
}

// Life is the mean life of the pool's recent instances that were not
// reclaimed, at now, decayed like the rates: how long a launch is used,
// which the policy weighs an offering's protection against
// (Snapshot.BurstLife). 0 until one has ended.
func (t *Tracker) Life(now time.Time) time.Duration {
	if t == nil {
		return 0
	}
	l := t.decayedLives(now)
	if !(l.n > 0) {
		return 0
	}
	return time.Duration(l.hours / l.n * float64(time.Hour))
}

// Rates returns, per spot offering seen, its reclaims per instance-hour of
// exposure (past the protection) at now, counting the exposure of the
// live instances (their Offering, its SpotProtection, and LaunchedAt) with
// the past: (reclaims + PriorRate·PriorHours) / (hours +
// PriorHours). An
// offering neither seen nor live is absent (the caller's prior applies);
// nil when none.
func (t *Tracker) Rates(now time.Time, live []policy.Instance) map[policy.OfferingKey]float64 {
	if t == nil {
		return nil
	}
	// out holds the live exposure first, then the rates.
	var out map[policy.OfferingKey]float64
	for i := range live {
		in := &live[i]
		if in.Offering.Market != policy.MarketSpot {
			continue
		}
		if out == nil {
			out = make(map[policy.OfferingKey]float64, len(t.past)+1)
		}
		out[in.Offering.Key()] += t.exposure(in.LaunchedAt, now, in.Offering.SpotProtection.D())
	}
	if out == nil {
		if len(t.past) == 0 {
			return nil
		}
		out = make(map[policy.OfferingKey]float64, len(t.past))
	}
	for k, h := range out {
		if _, seen := t.past[k]; !seen {
			out[k] = PriorRate * PriorHours / (h + PriorHours)
		}
	}
	for k := range t.past {
		a := t.decayed(k, now)
		out[k] = (a.reclaims + PriorRate*PriorHours) / (a.hours + out[k] + PriorHours)
	}
	return out
}
