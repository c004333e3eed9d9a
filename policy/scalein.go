package policy

// Stage 6 of Decide, scale-in: idle instances past their threshold (the
// ski-rental break-even by default) drained when their billing lets them go.

import (
	"cmp"
	"fmt"
	"math"
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
	if pool != nil && !pool.ScaleIn.Idle.IsAuto() {
		return max(pool.ScaleIn.Idle.Duration, 0)
	}
	return decBoot(&o)
}

// idleThreshold is IdleThreshold with what the pool observed. With
// scale_in.idle auto, the ski-rental break-even is the observed mean boot
// time (Snapshot.BootMean) when the snapshot has it: what booting a
// replacement costs on average. Once the offering has MinIdleSpells idle
// spells (Snapshot.IdleGaps), the threshold is the one at most that
// break-even that would have cost least over them (LearnedIdle); spells
// is then how many, else 0.
//
// An offering's threshold is worked out once a decision (an instance is
// checked at every evaluation, and learning weighs every spell).
func (e *decEnv) idleThreshold(o *Offering) (threshold time.Duration, spells int) {
	if !e.pool.ScaleIn.Idle.IsAuto() {
		return max(e.pool.ScaleIn.Idle.Duration, 0), 0
	}
	k := o.Key()
	for _, m := range e.idleMemo[:e.idleMemos] {
		if m.key == k && m.boot == o.Boot {
			return m.threshold, m.spells
		}
	}
	threshold, spells = e.learnIdle(o)
	if e.idleMemos < len(e.idleMemo) {
		e.idleMemo[e.idleMemos] = decIdleMemo{key: k, boot: o.Boot, threshold: threshold, spells: spells}
		e.idleMemos++
	}
	return threshold, spells
}

// decIdleMemo is one offering's idle threshold in a decision (by its key
// and configured boot, all it depends on).
type decIdleMemo struct {
	key       OfferingKey
	boot      Duration
	threshold time.Duration
	spells    int
}

// learnIdle is idleThreshold for scale_in.idle auto, worked out.
func (e *decEnv) learnIdle(o *Offering) (threshold time.Duration, spells int) {
	b, _ := decLookupBoot(e.snap.BootMean, o)
	if len(e.snap.IdleGaps) > 0 {
		gaps, _ := decLookup(e.snap.IdleGaps, o)
		if c, ok := LearnedIdle(gaps, b); ok {
			return c, len(gaps)
		}
	}
	return b, 0
}

// IdleGapNever is an idle spell that no job came for (Snapshot.IdleGaps).
const IdleGapNever time.Duration = -1

// MinIdleSpells is how many idle spells of an offering scale_in.idle auto
// needs before it learns its threshold from them (LearnedIdle); until then
// the threshold is the ski-rental break-even.
const MinIdleSpells = 10

// LearnedIdle is the idle threshold c, between 0 and the ski-rental
// break-even b, that would have cost least over the idle spells gaps
// (Snapshot.IdleGaps, any order). Under c, a spell whose job came after g
// costs min(g, c) of idling, plus b for booting a replacement when the job
// came after the release (g > c); a spell no job came for
// (IdleGapNever, or any negative gap) costs c. Ties go to the longer
// threshold: a job starts at once on a kept instance. Every gap at or past
// b counts as one no threshold up to b keeps the instance for. ok is false,
// and c is b, with fewer than MinIdleSpells gaps.
//
// The fixed break-even b bounds the cost within twice the optimum whatever
// the future brings; the learned c is the best threshold for the future the
// pool has seen, the distribution-aware ski-rental.
func LearnedIdle(gaps []time.Duration, b time.Duration) (c time.Duration, ok bool) {
	if len(gaps) < MinIdleSpells {
		return b, false
	}
	b = max(b, 0)
	if !slices.IsSorted(gaps) {
		gaps = slices.Sorted(slices.Values(gaps))
	}
	never := 0
	for never < len(gaps) && gaps[never] < 0 {
		never++
	}
	fin := gaps[never:]
	best, bestCost := time.Duration(0), math.Inf(1)
	sum, i := 0.0, 0 // sum of the gaps up to the candidate, i how many
	try := func(c time.Duration) {
		for i < len(fin) && fin[i] <= c {
			sum += float64(fin[i])
			i++
		}
		later := len(fin) - i
		cost := sum + float64(c)*float64(later+never) + float64(b)*float64(later)
		if cost <= bestCost {
			best, bestCost = c, cost
		}
	}
	try(0)
	for _, g := range fin {
		if g >= b {
			break
		}
		try(g)
	}
	try(b)
	return best, true
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
func (e *decEnv) idleDue(in *Instance, launched time.Time) bool {
	since := decIdleSince(in)
	if since.IsZero() || since.After(e.now) {
		return false
	}
	if th, _ := e.idleThreshold(&in.Offering); e.now.Sub(since) < th {
		return false
	}
	return e.releaseOK(&in.Offering, launched)
}

// releaseOK applies the billing rule to a release decided now: the instance
// is drained now and terminated at the next evaluation, so
//   - an hourly instance is released only when its paid hour ends after the
//     next evaluation but no later than the one after (it is kept while its
//     remaining time is paid for, and let go just before the next hour
//     starts); with evaluations 30 minutes or more apart, at any time;
//   - a per-second-min-60s instance is released only when the next
//     evaluation comes after its first 60 billed seconds.
func (e *decEnv) releaseOK(o *Offering, launched time.Time) bool {
	switch o.Billing {
	case BillingPerSecond:
		return true
	case BillingHourly:
		if 2*e.interval >= time.Hour {
			return true
		}
		left := decHourEnd(launched, e.now).Sub(e.now)
		return left > e.interval && left <= 2*e.interval
	default:
		return !e.next.Before(launched.Add(minBilled60))
	}
}

// releaseWhy describes the billing rule that let a release happen.
func (e *decEnv) releaseWhy(t decText, o *Offering, launched time.Time) decText {
	switch o.Billing {
	case BillingPerSecond:
		return t.s("per-second billing")
	case BillingHourly:
		if 2*e.interval >= time.Hour {
			return t.s("hourly billing, evaluated every ").dur(e.interval)
		}
		end := decHourEnd(launched, e.now)
		return t.s("hourly billing: paid hour ends at ").at(e.now, end).s(", ").dur(end.Sub(e.now)).
			s(" from now; released just before the next hour starts")
	default:
		return t.s("per-second billing: its 60 s minimum has passed by the next evaluation")
	}
}

// drainFirst orders instances as scale-in drains them, of those alike as
// to floors: the costliest by its price per hour first, then the first by
// ID. FloorHolds keeps them in the reverse order.
func drainFirst(x, y *Instance) int {
	if c := cmp.Compare(y.Offering.PricePerHour, x.Offering.PricePerHour); c != 0 {
		return c
	}
	return strings.Compare(x.ID, y.ID)
}

// scaleIn drains idle instances that have idled past their threshold and
// whose billing lets them go, unless pending work needs them or the pool
// would fall below its floors. Instances of no active floor go first, then
// the costliest. Never on stale signals. It returns the plan with the
// drains and its notes; the fleet after them is of no further use.
func scaleIn(e *decEnv, fl decFleet, p decPlan, cands []int) decPlan {
	if e.stale || len(cands) == 0 {
		return p
	}
	slices.SortFunc(cands, func(a, b int) int {
		x, y := &e.inst[a], &e.inst[b]
		fx, fy := e.floorOwnerActive(x.Floor), e.floorOwnerActive(y.Floor)
		if fx != fy {
			if fx {
				return 1
			}
			return -1
		}
		return drainFirst(x, y)
	})
	keptForWork, keptForFloor := 0, 0
	// The scheduler starts a job on a node that fits it within seconds: an
	// instance idle for evaluations past its threshold while the queue
	// waited all along is one it does not use.
	unusedAfter := max(2*e.interval, UnusedAfter)
	var waits decWaitsUpTo
	for _, i := range cands {
		if fl.flag(i) != 0 {
			continue
		}
		in := &e.inst[i]
		// One whose every GPU is unhealthy holds nothing a floor can use.
		floorNeeds := e.floorGPUs > 0 && decHeld(in) > 0 && fl.capacity-decHeld(in) < e.floorGPUs
		// Its slot (its GPUs free and healthy) taken: jobs were placed on it.
		if free, class := decSlotOf(in); free > 0 && decSlotCount(fl.slots, free, class) <= 0 {
			th, _ := e.idleThreshold(&in.Offering)
			past := e.now.Sub(decIdleSince(in)) - th
			// Only a job it could start alone counts: one larger waits
			// for the other instances it spans, as it should.
			if past <= unusedAfter || floorNeeds || waits.longest(e.snap, e.now, free) <= past {
				keptForWork++
				continue
			}
			why := ""
			if !p.quiet {
				why = unusedReason(in, th, past, waits.longest(e.snap, e.now, free))
			}
			fl.drain(e, &p, i, why)
			if k := in.Offering.Key(); !slices.Contains(p.unused, k) {
				p.unused = append(p.unused, k)
			}
			continue
		}
		if floorNeeds {
			keptForFloor++
			continue
		}
		fl.drain(e, &p, i, idleReason(e, &fl, &p, in))
	}
	if keptForWork > 0 {
		if !p.quiet {
			p.note(fmt.Sprintf("scale-in: kept %s past %s threshold: pending jobs fit on %s",
				counted(keptForWork, "idle instance"), agree(keptForWork, "its", "their"), agree(keptForWork, "it", "them")))
		}
	}
	if keptForFloor > 0 {
		if !p.quiet {
			p.note(fmt.Sprintf("scale-in: kept %s past %s threshold: floors need %s, %d held",
				counted(keptForFloor, "idle instance"), agree(keptForFloor, "its", "their"), counted(e.floorGPUs, "burst GPU"), fl.capacity))
		}
	}
	return p
}

// decWaitsUpTo memoizes, per instance size, the longest a pending job that
// size could start alone has waited.
type decWaitsUpTo struct {
	n    int
	memo [4]struct {
		gpus int
		wait time.Duration
	}
}

// longest is how long the oldest pending job of at most gpus GPUs has
// waited; jobs of unknown size are one-GPU jobs, as the overflow reads
// them, and jobs of unknown wait have waited the queue's oldest wait.
func (w *decWaitsUpTo) longest(snap *Snapshot, now time.Time, gpus int) time.Duration {
	for k := range w.n {
		if w.memo[k].gpus == gpus {
			return w.memo[k].wait
		}
	}
	var out time.Duration
	switch {
	case len(snap.PendingBySize) > 0:
		for _, ps := range snap.PendingBySize {
			if ps.GPUs > 0 && ps.GPUs <= gpus && len(ps.Submitted) > 0 {
				out = max(out, now.Sub(ps.Submitted[0]))
			}
		}
	case len(snap.PendingJobGPUs) > 0:
		waits := snap.PendingJobWaits
		for k, size := range snap.PendingJobGPUs {
			if size <= 0 || size > gpus {
				continue
			}
			if len(waits) != len(snap.PendingJobGPUs) {
				out = snap.OldestWait
				break
			}
			out = max(out, waits[k])
		}
	case snap.PendingGPUs > 0 || snap.PendingJobs > 0:
		out = snap.OldestWait
	}
	if w.n < len(w.memo) {
		w.memo[w.n].gpus, w.memo[w.n].wait = gpus, out
		w.n++
	}
	return out
}

// unusedReason explains the drain of an instance the queue does not use.
func unusedReason(in *Instance, threshold, past, oldest time.Duration) string {
	return fmt.Sprintf("unused: idle %s past its threshold %s while pending jobs that fit it waited (the oldest %s): "+
		"the scheduler does not start them there, so they ask for what the instance lacks (CPUs, memory, a partition or a feature) "+
		"or more GPUs than the queue reports (a source that gives no job sizes is read as one-GPU jobs); "+
		"%s is not launched for %s, so the next launch tries another offering",
		decFmtDur(past), decFmtDur(threshold), decFmtDur(oldest), decOfferingName(&in.Offering), decFmtDur(UnusedHold))
}

// idleReason explains an idle drain with its numbers, or is "" for a
// plan whose reasons no one reads (DecideWithoutNotes): the simulator
// drains idle instances at most evaluations, and the reason, formatted
// and copied each time, was a tenth of a million-job run's allocations.
func idleReason(e *decEnv, fl *decFleet, p *decPlan, in *Instance) string {
	if p.quiet {
		return ""
	}
	g := decGPUs(&in.Offering)
	since := decIdleSince(in)
	th, spells := e.idleThreshold(&in.Offering)
	t := p.text()
	// Its GPUs unhealthy and not busy are no idle GPUs: no job can run on them.
	switch bad := min(max(in.UnhealthyGPUs, 0), g); {
	case bad == 0:
		t = t.s("idle: all ").n(g).s(" GPUs idle for ")
	case bad == g:
		t = t.s("idle: none of its ").n(g).s(" GPUs busy, all unhealthy, for ")
	default:
		t = t.s("idle: ").n(g - bad).s(" of its ").n(g).s(" GPUs idle and ").n(bad).s(" unhealthy, none busy, for ")
	}
	t = t.dur(e.now.Sub(since)).s(" since ").at(e.now, since).s(" >= threshold ").dur(th)
	if e.pool.ScaleIn.Idle.IsAuto() {
		t = t.s(" (auto: ")
		if spells > 0 {
			t = t.s("what would have cost least over the last ").n(spells).s(" idle spells of ").s(decOfferingName(&in.Offering)).s(", at most the ")
		}
		t = t.s("ski-rental break-even = ")
		b, seen := decLookupBoot(e.snap.BootMean, &in.Offering)
		if seen {
			t = t.s("observed mean ")
		}
		t = t.s("boot time of ").s(decOfferingName(&in.Offering))
		if spells > 0 {
			t = t.s(" ").dur(b)
		}
		t = t.s("); ")
	} else {
		t = t.s(" (scale_in.idle); ")
	}
	t = e.releaseWhy(t, &in.Offering, decLaunchedAt(in, e.now))
	t = t.s("; no pending job needs it; ").n(fl.capacity - decHeld(in)).s(" burst GPUs stay for floors of ").n(e.floorGPUs)
	if in.Floor != "" && !e.floorOwnerActive(in.Floor) {
		t = t.s("; its floor ").q(in.Floor).s(" has ended")
	}
	return p.str(t)
}
