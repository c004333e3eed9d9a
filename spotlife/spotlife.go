// Package spotlife learns how often each spot offering's instances are
// reclaimed, so that a policy weighs spot by the work it delivers after
// reclaims (Snapshot.SpotReclaims) rather than by its list price alone.
//
// The rate is reclaim notices per instance-hour of exposure: the hours the
// offering's instances lived, those still running included. Both decay
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

// Tracker estimates spot reclaim rates per offering.
type Tracker struct {
	tau  float64 // decay time constant, hours
	past map[policy.OfferingKey]*acc
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
	if dt := now.Sub(a.at).Hours(); dt > 0 {
		f := math.Exp(-dt / t.tau)
		a.reclaims *= f
		a.hours *= f
		a.at = now
	}
	return a
}

// exposure is the decayed exposure, at end, of an instance that lived from
// launched to end: the integral of e^-(end-s)/tau over its life.
func (t *Tracker) exposure(launched, end time.Time) float64 {
	life := end.Sub(launched).Hours()
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

// Ended records that an instance of spot offering k, launched at
// launched, ended at now: its life joins the offering's exposure.
func (t *Tracker) Ended(k policy.OfferingKey, launched, now time.Time) {
	if t == nil {
		return
	}
	t.decayed(k, now).hours += t.exposure(launched, now)
}

// Rates returns, per spot offering seen, its reclaims per instance-hour at
// now, counting the exposure of the live instances (their Offering and
// LaunchedAt) with the past: (reclaims + PriorRate·PriorHours) / (hours +
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
		out[in.Offering.Key()] += t.exposure(in.LaunchedAt, now)
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
