package policy

import (
	"fmt"
)

// CloudHolds says why no burst capacity the pool may ever hold can run a
// job of gpus GPUs, or "" when some offering can: as one instance, or as
// whole instances of one offering of at least span.min_gpus GPUs when the
// job is larger than it (with whole_jobs, only the largest offering). It looks at the limits alone,
// with nothing else running: max_gpus, max_cost_per_hour, and the budget,
// which must cover the instances' commitment (see Decide) within one
// period (a soft budget: at the period's last evaluation, where a launch
// commits least). Stock-outs and quotas pass; they do not last.
func CloudHolds(pool *Pool, gpus int) string {
	ok, o, k, limit := decHolds(pool, gpus, nil)
	if ok {
		return ""
	}
	if o == nil {
		if limit == "" {
			return "the pool has no offering to rent"
		}
		if pool.WholeJobs {
			return fmt.Sprintf("no offering holds %d GPUs whole (whole_jobs)", gpus)
		}
		return fmt.Sprintf("no offering holds %d GPUs, and a job spans only instances of at least %d GPUs (span.min_gpus)", gpus, pool.SpanMin())
	}
	lim := &pool.Limits
	switch limit {
	case LimitMaxGPUs:
		return fmt.Sprintf("it needs %d × %d GPUs of %s, more than max_gpus %d", k, o.GPUs, decOfferingName(o), lim.MaxGPUs)
	case LimitMaxCostPerHour:
		return fmt.Sprintf("it needs %d × %s at $%.2f/h, more than max_cost_per_hour $%.2f", k, decOfferingName(o), float64(k)*o.PricePerHour, lim.MaxCostPerHour)
	}
	if lim.Budget.Soft() {
		return fmt.Sprintf("%d × %s commit $%.2f even when launched at the period's last evaluation, more than the $%.2f %s soft budget",
			k, decOfferingName(o), float64(k)*decBilled(o, decHoldSpan(pool)), lim.Budget.Amount, decPeriod(lim.Budget.Period))
	}
	return fmt.Sprintf("%d × %s commit $%.2f (until drain_timeout after the next evaluation), more than the $%.2f %s budget",
		k, decOfferingName(o), float64(k)*decBilled(o, decHoldSpan(pool)), lim.Budget.Amount, decPeriod(lim.Budget.Period))
}

// decHoldSpan is the shortest a launch can be committed for, at most a
// period. With a hard budget it is kept until the next evaluation and
// drained until drain_timeout. With a soft one it is counted until the
// period's end (or until max_lifetime and drain_timeout end it), which is
// shortest for a launch at the period's last evaluation: one interval.
func decHoldSpan(pool *Pool) int64 {
	iv := pool.Interval.D()
	if iv <= 0 {
		iv = decDefaultInterval
	}
	slack := decSlack(pool, int64(iv))
	drain := decForever
	if t := int64(pool.ScaleIn.DrainTimeout); t > 0 {
		drain = decAddSpan(decAddSpan(decRoundUp(t, int64(iv)), slack), slack)
	}
	keep := decAddSpan(decAddSpan(int64(iv), slack), drain)
	b := pool.Limits.Budget
	if b.Soft() {
		keep = min(decAddSpan(int64(iv), slack), decAddSpan(decSoftLife(int64(pool.ScaleIn.MaxLifetime), 0, int64(iv), drain), slack))
	}
	if b != nil {
		keep = min(keep, decPeriodLen(b.Period))
	}
	return keep
}

// CloudHoldsWithin reports whether some offering holds a job of gpus
// GPUs as CloudHolds judges it, counting only the offerings that keep
// accepts for n instances of it (keep is asked only of those the limits
// allow): the backtest's provider quotas, which must hold the same
// offering the limits allow.
func CloudHoldsWithin(pool *Pool, gpus int, keep func(o *Offering, n int) bool) bool {
	ok, _, _, _ := decHolds(pool, gpus, keep)
	return ok
}

// decHolds does CloudHolds' work without words: ok, or the last offering
// tried, the instances it needed and the limit it broke ("" with no
// offering at all, "whole" when none holds the job whole). keep, when
// set, passes over the offerings it refuses (CloudHoldsWithin).
func decHolds(pool *Pool, gpus int, keep func(o *Offering, n int) bool) (ok bool, last *Offering, k int, limit string) {
	if pool == nil || gpus <= 0 {
		return true, nil, 0, ""
	}
	maxG := 0
	for i := range pool.Offerings {
		maxG = max(maxG, pool.Offerings[i].GPUs)
	}
	if maxG <= 0 {
		return false, nil, 0, ""
	}
	lim := &pool.Limits
	span := int64(0)
	if lim.Budget != nil {
		span = decHoldSpan(pool)
	}
	limit = "whole"
	for i := range pool.Offerings {
		o := &pool.Offerings[i]
		g := o.GPUs
		if g <= 0 || !Serves(pool.WholeJobs, pool.SpanMin(), g, gpus, maxG) {
			continue
		}
		n := (gpus + g - 1) / g
		switch {
		case lim.MaxGPUs > 0 && n*g > lim.MaxGPUs:
			last, k, limit = o, n, LimitMaxGPUs
		case lim.MaxCostPerHour > 0 && float64(n)*o.PricePerHour > lim.MaxCostPerHour:
			last, k, limit = o, n, LimitMaxCostPerHour
		case lim.Budget != nil && float64(n)*decBilled(o, span) > lim.Budget.Amount:
			last, k, limit = o, n, LimitBudget
		case keep == nil || keep(o, n):
			return true, nil, 0, ""
		}
	}
	return false, last, k, limit
}

// decFit remembers, per job size, whether burst capacity can hold it.
type decFit struct {
	size  int
	holds bool
}

// decFitList is how many sizes cloudHolds remembers in a list, searched
// in order; past it, in a map, so that a queue of thousands of sizes costs
// a lookup each, not a search of the others.
const decFitList = 16

// cloudHolds is CloudHolds, remembered per job size for one decision.
func (mk *decMarket) cloudHolds(e *decEnv, size int) bool {
	if mk.fitMap != nil {
		if h, ok := mk.fitMap[size]; ok {
			return h
		}
	} else {
		for _, f := range mk.fits {
			if f.size == size {
				return f.holds
			}
		}
	}
	h, _, _, _ := decHolds(e.pool, size, nil)
	switch {
	case mk.fitMap != nil:
		mk.fitMap[size] = h
	case len(mk.fits) < decFitList:
		mk.fits = append(mk.fits, decFit{size: size, holds: h})
	default:
		mk.fitMap = make(map[int]bool, 2*decFitList)
		for _, f := range mk.fits {
			mk.fitMap[f.size] = f.holds
		}
		mk.fitMap[size] = h
	}
	return h
}

// noteUnheld notes the pending jobs that burst capacity cannot hold: those
// larger than on-prem too can never run; the others wait for on-prem.
func noteUnheld(e *decEnv, p *decPlan, mk *decMarket) {
	never, neverMax, wait, waitMax := 0, 0, 0, 0
	count := func(s, n int) {
		if s <= 0 || n <= 0 || mk.cloudHolds(e, s) {
			return
		}
		if s > e.snap.OnPremGPUs {
			never += n
			neverMax = max(neverMax, s)
		} else {
			wait += n
			waitMax = max(waitMax, s)
		}
	}
	if len(e.snap.PendingBySize) > 0 {
		for _, ps := range e.snap.PendingBySize {
			count(ps.GPUs, len(ps.Submitted))
		}
	} else {
		for _, s := range e.snap.PendingJobGPUs {
			count(s, 1)
		}
	}
	p.unservable, p.unservableGPUs = never, neverMax
	if p.quiet {
		return
	}
	if never > 0 {
		p.note(fmt.Sprintf("never served: %s, largest %d GPUs, %s neither the %d on-prem GPUs nor what the pool may rent (%s); not launched for",
			counted(never, "pending job"), neverMax, agree(never, "fits", "fit"), e.snap.OnPremGPUs, CloudHolds(e.pool, neverMax)))
	}
	if wait > 0 {
		p.note(fmt.Sprintf("%s, largest %d GPUs, %s for on-prem: no burst capacity the pool may rent holds %s (%s)",
			counted(wait, "pending job"), waitMax, agree(wait, "waits", "wait"), agree(wait, "it", "them"), CloudHolds(e.pool, waitMax)))
	}
}
