package sim

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// PolicyKarpenter names the Karpenter-style baseline.
const PolicyKarpenter = "karpenter"

// KarpenterConsolidateAfter is how long a node stays empty before it is
// removed (Karpenter's consolidateAfter; its WhenEmpty policy).
const KarpenterConsolidateAfter = 30 * time.Second

// Karpenter is a provisioner in the style of Karpenter: every evaluation
// (its batch window) it takes the pending jobs that free capacity on the
// nodes it holds (running or booting) cannot take, and bin-packs them,
// largest first, onto new nodes, opening each on the offering with the
// lowest price per GPU that holds the job and is not in the capacity cache
// (its ICE cache: an offering that failed for capacity is skipped, and the
// next cheapest taken). A job larger than every offering spans whole nodes
// of the largest of at least policy.SpanMinGPUs GPUs. A node empty for
// KarpenterConsolidateAfter is removed. Replacing under-used nodes with
// cheaper ones is not modelled: it would evict running GPU jobs, which are
// commonly marked do-not-disrupt. Its plans go through policy.Admit.
func Karpenter() Policy {
	return Policy{Name: PolicyKarpenter, IdleWithoutWork: true, New: func() DecideFunc {
		var freeBuf []int // reused between ticks
		var availBuf []policy.Offering
		return func(pool *policy.Pool, snap policy.Snapshot, insts []policy.Instance, _ policy.Spend, now time.Time) policy.Plan {
			plan := policy.Plan{Pool: pool.Name, Time: now}
			free := freeBuf[:0] // free GPUs of held nodes, then of new ones
			defer func() { freeBuf = free[:0] }()
			for _, in := range insts {
				switch in.State {
				case policy.StateRunning, policy.StateBooting:
				default:
					continue
				}
				if in.State == policy.StateRunning && in.BusyGPUs == 0 && !in.IdleSince.IsZero() && now.Sub(in.IdleSince) >= KarpenterConsolidateAfter {
					plan.Drains = append(plan.Drains, policy.Action{InstanceID: in.ID, Reason: "empty for consolidateAfter"})
					continue
				}
				free = append(free, in.Offering.GPUs-max(0, in.BusyGPUs))
			}
			avail := availBuf[:0]
			defer func() { availBuf = avail[:0] }()
			for _, o := range pool.Offerings {
				if until, ok := snap.Unavailable[o.Key()]; (!ok || !until.After(now)) && o.GPUs > 0 {
					avail = append(avail, o)
				}
			}
			if len(avail) == 0 {
				return plan
			}
			// Pending jobs by size, largest first: on-prem's free GPUs,
			// then free GPUs on held and new nodes, then new nodes.
			sizes := slices.Clone(snap.PendingBySize)
			slices.SortFunc(sizes, func(a, b policy.PendingSize) int { return cmp.Compare(b.GPUs, a.GPUs) })
			onprem := max(0, snap.OnPremFreeGPUs)
			largest := slices.MaxFunc(avail, func(a, b policy.Offering) int { return cmp.Compare(a.GPUs, b.GPUs) })
			counts := map[string]int{}
			var order []policy.Offering
			nodes := 0
			for _, ps := range sizes {
				g, n := ps.GPUs, len(ps.Submitted)
				if g <= 0 || n == 0 {
					continue
				}
				k := min(n, onprem/g)
				onprem -= k * g
				n -= k
				for f := range free {
					if n == 0 {
						break
					}
					k := min(n, free[f]/g)
					free[f] -= k * g
					n -= k
				}
				if n == 0 || nodes >= 4096 { // a batch bound, as Karpenter bounds a scheduling round
					continue
				}
				off, per, ok := karpenterPick(avail, largest, g, pool.WholeJobs)
				if !ok {
					continue // no offering holds it
				}
				var add int
				if per == 1 {
					fit := off.GPUs / g
					add = (n + fit - 1) / fit
					if rest := n % fit; rest > 0 {
						free = append(free, off.GPUs-rest*g)
					}
				} else {
					add = n * per
				}
				key := off.Name + "/" + off.InstanceType
				if counts[key] == 0 {
					order = append(order, off)
				}
				counts[key] += add
				nodes += add
			}
			for _, off := range order {
				n := counts[off.Name+"/"+off.InstanceType]
				plan.Launches = append(plan.Launches, policy.Launch{Offering: off, Count: n,
					Reason: fmt.Sprintf("bin-packed pending jobs onto %d new node(s)", n)})
			}
			return plan
		}
	}}
}

// karpenterPick is the offering a new node for a job of g GPUs is opened
// on: the lowest price per GPU among those holding it, or whole nodes of
// the largest (of at least SpanMinGPUs GPUs, without whole_jobs unless no
// offering holds it).
func karpenterPick(avail []policy.Offering, largest policy.Offering, g int, whole bool) (policy.Offering, int, bool) {
	var best policy.Offering
	ok := false
	for _, o := range avail {
		if o.GPUs >= g && (!ok || o.PricePerHour/float64(o.GPUs) < best.PricePerHour/float64(best.GPUs)) {
			best, ok = o, true
		}
	}
	if ok {
		return best, 1, true
	}
	if largest.GPUs < policy.SpanMinGPUs {
		return policy.Offering{}, 0, false
	}
	_ = whole // larger than every offering: spanning the largest is the only way, whole_jobs or not
	return largest, (g + largest.GPUs - 1) / largest.GPUs, true
}
