package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// IdleThreshold is how long an instance of offering o may sit fully idle
// before the pool releases it.
//
// With scale_in.idle set to a duration, it is that duration. With
// scale_in.idle: auto (or left unset), it is the ski-rental break-even:
// idling costs the offering's price per second, booting a replacement when
// work returns costs the same price for the offering's Boot time, so the
// price cancels and the threshold is the Boot time. An instance is released
// once it has idled that long: the cost of idling has then reached the cost
// of a replacement's boot, which bounds the total cost within twice the
// optimum whatever the future brings.
//
// The threshold is a duration of idleness; billing adds conditions on when
// the release may happen (see Decide): an hourly instance is kept until just
// before its paid hour ends, a per-second-min-60s one until its minimum
// billed minute has passed.
func IdleThreshold(pool *Pool, o Offering) time.Duration {
	if pool != nil && !pool.ScaleIn.Idle.Auto && pool.ScaleIn.Idle.Duration > 0 {
		return pool.ScaleIn.Idle.Duration
	}
	return decBoot(&o)
}

// idleThreshold is IdleThreshold with the observed boot time (Snapshot.Boot)
// when the snapshot has it: the ski-rental break-even of scale_in.idle auto
// is the boot a replacement would really take.
func (d *decEnv) idleThreshold(o *Offering) time.Duration {
	if !d.pool.ScaleIn.Idle.Auto && d.pool.ScaleIn.Idle.Duration > 0 {
		return d.pool.ScaleIn.Idle.Duration
	}
	b, _ := d.bootOf(o)
	return b
}

// decIdleSince is when an idle instance became fully idle: IdleSince, or
// when it became ready if the signals did not say; zero when unknown.
func decIdleSince(in *Instance) time.Time {
	if !in.IdleSince.IsZero() {
		return in.IdleSince
	}
	return in.ReadyAt
}

// idleDue reports whether a fully idle running instance has idled past its
// threshold and its billing lets it go now.
func (d *decEnv) idleDue(in *Instance, launched time.Time) bool {
	since := decIdleSince(in)
	if since.IsZero() || since.After(d.now) {
		return false
	}
	if d.now.Sub(since) < d.idleThreshold(&in.Offering) {
		return false
	}
	return d.releaseOK(&in.Offering, launched)
}

// releaseOK applies the billing rule to a release decided now: the instance
// is drained now and terminated at the next evaluation, so
//   - an hourly instance is released only when its paid hour ends after the
//     next evaluation but no later than the one after (it is kept while its
//     remaining time is paid for, and let go just before the next hour
//     starts); with evaluations 30 minutes or more apart, at any time;
//   - a per-second-min-60s instance is released only when the next
//     evaluation comes after its first 60 billed seconds.
func (d *decEnv) releaseOK(o *Offering, launched time.Time) bool {
	switch o.Billing {
	case BillingPerSecond:
		return true
	case BillingHourly:
		if 2*d.interval >= time.Hour {
			return true
		}
		left := decHourEnd(launched, d.now).Sub(d.now)
		return left > d.interval && left <= 2*d.interval
	default:
		return !d.next.Before(launched.Add(minBilled60))
	}
}

// releaseWhy describes the billing rule that let a release happen.
func (d *decEnv) releaseWhy(t decText, o *Offering, launched time.Time) decText {
	switch o.Billing {
	case BillingPerSecond:
		return t.s("per-second billing")
	case BillingHourly:
		if 2*d.interval >= time.Hour {
			return t.s("hourly billing, evaluated every ").dur(d.interval)
		}
		end := decHourEnd(launched, d.now)
		return t.s("hourly billing: paid hour ends at ").at(d.now, end).s(", ").dur(end.Sub(d.now)).
			s(" from now; released just before the next hour starts")
	default:
		return t.s("per-second billing: its 60 s minimum has passed by the next evaluation")
	}
}

// scaleIn drains idle instances that have idled past their threshold and
// whose billing lets them go, unless pending work needs them or the pool
// would fall below its floors. Instances of no active floor go first, then
// the costliest. Never on stale signals.
func (d *decider) scaleIn() {
	if d.stale || len(d.cands) == 0 {
		return
	}
	cands := d.cands
	slices.SortFunc(cands, func(a, b int) int {
		x, y := &d.inst[a], &d.inst[b]
		fx, fy := d.floorOwnerActive(x.Floor), d.floorOwnerActive(y.Floor)
		if fx != fy {
			if fx {
				return 1
			}
			return -1
		}
		if c := cmp.Compare(y.Offering.PricePerHour, x.Offering.PricePerHour); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	keptForWork, keptForFloor := 0, 0
	for _, i := range cands {
		if d.flag(i) != 0 {
			continue
		}
		in := &d.inst[i]
		g := decGPUs(&in.Offering)
		if g > 0 && decSlotCount(d.slots, g, decReadyFull) <= 0 {
			keptForWork++
			continue
		}
		if d.floorGPUs > 0 && d.capacity-g < d.floorGPUs {
			keptForFloor++
			continue
		}
		d.drain(i, d.idleReason(in))
	}
	if keptForWork > 0 {
		d.note(fmt.Sprintf("scale-in: kept %d idle instance(s) past their threshold: pending jobs fit on them", keptForWork))
	}
	if keptForFloor > 0 {
		d.note(fmt.Sprintf("scale-in: kept %d idle instance(s) past their threshold: floors need %d burst GPUs, %d held", keptForFloor, d.floorGPUs, d.capacity))
	}
}

// idleReason explains an idle drain with its numbers.
func (d *decider) idleReason(in *Instance) string {
	g := decGPUs(&in.Offering)
	since := decIdleSince(in)
	t := d.text().s("idle: all ").n(g).s(" GPUs idle for ").dur(d.now.Sub(since)).s(" since ").at(d.now, since).
		s(" >= threshold ").dur(d.idleThreshold(&in.Offering))
	if d.pool.ScaleIn.Idle.Auto || d.pool.ScaleIn.Idle.Duration <= 0 {
		t = t.s(" (auto: ski-rental break-even = ")
		if _, seen := d.bootOf(&in.Offering); seen {
			t = t.s("observed ")
		}
		t = t.s("boot time of ").s(decOfferingName(&in.Offering)).s("); ")
	} else {
		t = t.s(" (scale_in.idle); ")
	}
	t = d.releaseWhy(t, &in.Offering, decLaunchedAt(in, d.now))
	t = t.s("; no pending job needs it; ").n(d.capacity - g).s(" burst GPUs stay for floors of ").n(d.floorGPUs)
	if in.Floor != "" && !d.floorOwnerActive(in.Floor) {
		t = t.s("; its floor ").q(in.Floor).s(" has ended")
	}
	return d.str(t)
}
