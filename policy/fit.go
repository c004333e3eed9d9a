package policy

import (
	"fmt"
)

// CloudHolds says why no burst capacity the pool may ever hold can run a
// job of gpus GPUs, or "" when some offering can: as one instance, or as
// whole instances of one offering when the job is larger than it (with
// whole_jobs, only the largest offering). It looks at the limits alone,
// with nothing else running: max_gpus, max_cost_per_hour, and the budget,
// which must cover the instances' commitment (see Decide) within one
// period. Stock-outs and quotas pass; they do not last.
func CloudHolds(pool *Pool, gpus int) string {
	if pool == nil || gpus <= 0 {
		return ""
	}
	maxG := 0
	for i := range pool.Offerings {
		maxG = max(maxG, pool.Offerings[i].GPUs)
	}
	if maxG <= 0 {
		return "the pool has no offering to rent"
	}
	iv := pool.Interval.D()
	if iv <= 0 {
		iv = decDefaultInterval
	}
	keep := decForever
	if t := int64(pool.ScaleIn.DrainTimeout); t > 0 {
		keep = decAddSpan(int64(iv), decRoundUp(t, int64(iv)))
	}
	lim := &pool.Limits
	why := ""
	for i := range pool.Offerings {
		o := &pool.Offerings[i]
		g := o.GPUs
		if g <= 0 || !decServes(pool.WholeJobs, g, gpus, maxG) {
			continue
		}
		k := (gpus + g - 1) / g
		switch {
		case lim.MaxGPUs > 0 && k*g > lim.MaxGPUs:
			why = fmt.Sprintf("it needs %d × %d GPUs of %s, more than max_gpus %d", k, g, decOfferingName(o), lim.MaxGPUs)
		case lim.MaxCostPerHour > 0 && float64(k)*o.PricePerHour > lim.MaxCostPerHour:
			why = fmt.Sprintf("it needs %d × %s at $%.2f/h, more than max_cost_per_hour $%.2f", k, decOfferingName(o), float64(k)*o.PricePerHour, lim.MaxCostPerHour)
		case lim.Budget != nil && float64(k)*decBilled(o, min(keep, decPeriodLen(lim.Budget.Period))) > lim.Budget.Amount:
			why = fmt.Sprintf("%d × %s commit $%.2f (until drain_timeout after the next evaluation), more than the $%.2f %s budget",
				k, decOfferingName(o), float64(k)*decBilled(o, min(keep, decPeriodLen(lim.Budget.Period))), lim.Budget.Amount, decPeriod(lim.Budget.Period))
		default:
			return ""
		}
	}
	if why == "" {
		why = fmt.Sprintf("no offering holds %d GPUs whole (whole_jobs)", gpus)
	}
	return why
}

// decFit remembers, per job size, whether burst capacity can hold it.
type decFit struct {
	size  int
	holds bool
}

// cloudHolds is CloudHolds, remembered per job size for one decision.
func (d *decider) cloudHolds(size int) bool {
	for _, f := range d.fits {
		if f.size == size {
			return f.holds
		}
	}
	h := CloudHolds(d.pool, size) == ""
	d.fits = append(d.fits, decFit{size: size, holds: h})
	return h
}

// noteUnheld notes the pending jobs that burst capacity cannot hold: those
// larger than on-prem too can never run; the others wait for on-prem.
func (d *decider) noteUnheld() {
	never, neverMax, wait, waitMax := 0, 0, 0, 0
	sizes := d.snap.PendingJobGPUs
	for _, s := range sizes {
		if s <= 0 || d.cloudHolds(s) {
			continue
		}
		if s > d.snap.OnPremGPUs {
			never++
			neverMax = max(neverMax, s)
		} else {
			wait++
			waitMax = max(waitMax, s)
		}
	}
	d.plan.Unservable, d.plan.UnservableGPUs = never, neverMax
	if never > 0 {
		d.note(fmt.Sprintf("never served: %d pending job(s), largest %d GPUs, fit neither the %d on-prem GPUs nor what the pool may rent (%s); not launched for",
			never, neverMax, d.snap.OnPremGPUs, CloudHolds(d.pool, neverMax)))
	}
	if wait > 0 {
		d.note(fmt.Sprintf("%d pending job(s), largest %d GPUs, wait for on-prem: no burst capacity the pool may rent holds them (%s)",
			wait, waitMax, CloudHolds(d.pool, waitMax)))
	}
}
