package policy

// Stage 3 of Decide, floors: schedules and manual bursts keep burst capacity
// at no less than their GPUs.

import (
	"fmt"
	"slices"
	"time"
)

// launchFloors launches what active floors need beyond the burst capacity
// held, floor by floor in the snapshot's order, each on its pinned offering
// or the cheapest per GPU-hour available. It returns the fleet with the
// launches (and their free slots) and the plan with them and its notes.
func launchFloors(e *decEnv, fl decFleet, p decPlan, mk *decMarket) (decFleet, decPlan) {
	if !e.floorsShort(&fl) {
		return fl, p
	}
	deficit := e.floorGPUs - fl.capacity
	first := len(p.launches)                                // the launches before are earlier stages'
	shared := ownedCapacity(e, &fl, p.launches[first:], "") // capacity no active floor owns covers floors in order
	for fi := range e.snap.Floors {
		if deficit <= 0 {
			break
		}
		f := &e.snap.Floors[fi]
		if !e.floorActive(f) || f.GPUs <= 0 {
			continue
		}
		own := 0
		if f.Owner != "" {
			own = ownedCapacity(e, &fl, p.launches[first:], f.Owner)
		}
		need := f.GPUs - own
		if need > 0 && shared > 0 {
			c := min(shared, need)
			shared -= c
			need -= c
		}
		need = min(need, deficit)
		if need <= 0 {
			continue
		}
		o := floorOffer(e, mk, f)
		if o == nil {
			if p.quiet {
				continue
			}
			why := fmt.Sprintf("floor %q (%s) wants %s: no offering can be launched%s", f.Owner, f.Kind, counted(need, "more burst GPU"), decSkipped(mk.offers(e)))
			p.note(why)
			p.waits = append(p.waits, FloorWait{Owner: f.Owner, GPUs: need, Why: why})
			continue
		}
		want := (need + o.o.GPUs - 1) / o.o.GPUs
		k, limit, bound := allowedBy(e, &fl, &p, o, want)
		instead := ""
		if k == 0 {
			// A limit leaves no room for one more of the cheapest (an
			// 8-GPU instance where max_gpus leaves 4): another offering
			// that fits holds the floor, as the queue's launches do.
			if alt, wa, ka := floorFallback(e, mk, &fl, &p, f, o, need); alt != nil {
				if !p.quiet {
					instead = "; not the cheaper " + o.name() + ": " + limit
				}
				o, want, k, limit, bound = alt, wa, ka, "", ""
			}
		}
		if k < want && !p.quiet {
			why := fmt.Sprintf("floor %q wants %s (%d × %s): launching %d; limit %s", f.Owner, counted(need, "more burst GPU"), want, o.name(), k, limit)
			p.note(why)
			p.waits = append(p.waits, FloorWait{Owner: f.Owner, GPUs: max(need-k*o.o.GPUs, 0), Limit: bound, Why: why})
		}
		if k == 0 {
			continue
		}
		reason := ""
		if !p.quiet {
			until := "no end"
			if !f.Until.IsZero() {
				until = "until " + e.fmtTime(f.Until)
			}
			why := ""
			if f.Reason != "" {
				why = ": " + f.Reason
			}
			reason = fmt.Sprintf("floor %q (%s%s) keeps %s %s; floors total %d, %d held, %d owned by this floor; chose %s at $%.2f per GPU-hour%s",
				f.Owner, f.Kind, why, counted(f.GPUs, "burst GPU"), until, e.floorGPUs, fl.capacity, own, o.name(), o.o.PricePerHour/(float64(o.o.GPUs)*o.perf), instead+decSkipped(mk.offers(e)))
		}
		fl.launch(e, &p, o, k, f.Owner, reason)
		fl.slots = decAddSlot(fl.slots, o.o.GPUs, decBootFull, k)
		deficit -= k * o.o.GPUs
	}
	return fl, p
}

// floorsShort reports whether active floors want more burst capacity than
// the fleet holds: what sets launchFloors off.
func (e *decEnv) floorsShort(fl *decFleet) bool { return e.floorGPUs > fl.capacity }

// ownedCapacity is the burst capacity held by instances launched for
// owner, or with owner "", by instances of no active floor, counting the
// floors' launches so far (launched).
func ownedCapacity(e *decEnv, fl *decFleet, launched []Launch, owner string) int {
	n := 0
	for i := range e.inst {
		in := &e.inst[i]
		if fl.flag(i) != 0 || in.State == StateDraining || in.State == StateTerminating {
			continue
		}
		if owner == "" {
			if in.Floor != "" && e.floorOwnerActive(in.Floor) {
				continue
			}
		} else if in.Floor != owner {
			continue
		}
		n += decHeld(in)
	}
	for _, l := range launched {
		if l.Floor == owner {
			n += l.Count * l.Offering.GPUs
		}
	}
	return n
}

// floorOffer picks a floor's offering: its pinned one when available, else
// the cheapest per GPU-hour (performance weighted) available.
func floorOffer(e *decEnv, mk *decMarket, f *Floor) *decOffer {
	offs := mk.offers(e)
	var best decScore
	for i := range offs {
		o := &offs[i]
		if o.skip != "" {
			continue
		}
		if f.Offering != "" && f.Offering != o.o.Name && f.Offering != o.name() {
			continue
		}
		s := decScore{o: o, score: o.o.PricePerHour / (float64(o.o.GPUs) * o.perf)}
		if best.o == nil || decLess(&s, &best) {
			best = s
		}
	}
	return best.o
}

// floorFallback returns the cheapest offering for floor f, other than
// best, of which the limits let one or more instances launch toward need
// GPUs, with how many to launch of the ones wanted; nil when none.
func floorFallback(e *decEnv, mk *decMarket, fl *decFleet, p *decPlan, f *Floor, best *decOffer, need int) (*decOffer, int, int) {
	offs := mk.offers(e)
	var alt decScore
	want, k := 0, 0
	for i := range offs {
		o := &offs[i]
		if o == best || o.skip != "" || (f.Offering != "" && f.Offering != o.o.Name && f.Offering != o.name()) {
			continue
		}
		s := decScore{o: o, score: o.o.PricePerHour / (float64(o.o.GPUs) * o.perf)}
		if alt.o != nil && !decLess(&s, &alt) {
			continue
		}
		w := (need + o.o.GPUs - 1) / o.o.GPUs
		if n, _, _ := allowedBy(e, fl, p, o, min(w, 1)); n > 0 {
			alt, want = s, w
		}
	}
	if alt.o == nil {
		return nil, 0, 0
	}
	k, _, _ = allowedBy(e, fl, p, alt.o, want)
	return alt.o, want, k
}

func (e *decEnv) floorActive(f *Floor) bool {
	return f.Until.IsZero() || f.Until.After(e.now)
}

// floorOwnerActive reports whether owner has an active floor.
func (e *decEnv) floorOwnerActive(owner string) bool {
	if owner == "" {
		return false
	}
	for i := range e.snap.Floors {
		if f := &e.snap.Floors[i]; f.Owner == owner && e.floorActive(f) && f.GPUs > 0 {
			return true
		}
	}
	return false
}

// FloorHolds says which active floor holds each instance, by the floor's
// Owner, counting capacity as launchFloors does: a floor holds the
// instances launched for it (Instance.Floor is its owner), and the
// instances of no active floor (launched for queue demand, or for a floor
// that has ended) cover the floors in their order, each floor keeping them
// until its own GPUs and those it keeps reach its GPUs, and the floors
// together keep no more than they lack beyond what they launched (one
// floor's surplus, a whole instance launched for part of one, covers
// another). They are taken in
// the order scale-in keeps them: booting or busy ones first (idleness
// never drains them), then the cheapest by price per hour, then the last
// by ID (scale-in drains the costliest first, then the first by ID).
// An instance holds its GPUs but those unhealthy and not busy
// (Instance.UnhealthyGPUs); one all of whose GPUs are so, draining and
// terminating instances are held by none, and an instance absent from the
// map is held by no active floor. Like Decide, it is pure;
// now is the evaluation time.
func FloorHolds(floors []Floor, inst []Instance, now time.Time) map[string]string {
	active := func(f *Floor) bool { return f.GPUs > 0 && (f.Until.IsZero() || f.Until.After(now)) }
	own := map[string]int{} // active floor owner → GPUs launched for it
	for i := range floors {
		if f := &floors[i]; active(f) && f.Owner != "" {
			own[f.Owner] = 0
		}
	}
	out := map[string]string{}
	var shared []*Instance
	for i := range inst {
		in := &inst[i]
		if in.State == StateDraining || in.State == StateTerminating || decHeld(in) == 0 {
			continue
		}
		if n, ok := own[in.Floor]; ok {
			own[in.Floor] = n + decHeld(in)
			out[in.ID] = in.Floor
			continue
		}
		shared = append(shared, in)
	}
	kept := func(in *Instance) bool { return in.State == StateBooting || in.BusyGPUs > 0 }
	slices.SortFunc(shared, func(a, b *Instance) int {
		if ka, kb := kept(a), kept(b); ka != kb {
			if ka {
				return -1
			}
			return 1
		}
		return drainFirst(b, a)
	})
	// What the active floors lack together: what one launched beyond its
	// GPUs covers another, as scale-in and launchFloors count capacity.
	short := 0
	for i := range floors {
		if f := &floors[i]; active(f) {
			short += f.GPUs
		}
	}
	for _, n := range own {
		short -= n
	}
	for i := range floors {
		f := &floors[i]
		if !active(f) {
			continue
		}
		for need := min(f.GPUs-own[f.Owner], short); need > 0 && len(shared) > 0; shared = shared[1:] {
			if f.Owner != "" {
				out[shared[0].ID] = f.Owner
			}
			g := decHeld(shared[0])
			need, short = need-g, short-g
		}
	}
	return out
}
