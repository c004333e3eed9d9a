package sim

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// PolicyKarpenter names the Karpenter-style baseline.
const PolicyKarpenter = "karpenter"

// KarpenterICETTL is how long Karpenter skips an offering after a capacity
// error (its unavailable-offerings cache, 3 minutes).
const KarpenterICETTL = 3 * time.Minute

// KarpenterRegistrationTTL is how long Karpenter waits for a node to
// register before it deletes the NodeClaim and provisions again (its
// liveness controller's registrationTimeout, 15 minutes). It caches no
// capacity error for it.
const KarpenterRegistrationTTL = 15 * time.Minute

// KarpenterConsolidateAfter is how long a node's pods must be unchanged
// (for an empty node: how long it stays empty) before consolidation
// considers it (Karpenter's consolidateAfter).
const KarpenterConsolidateAfter = 30 * time.Second

// Karpenter's consolidationPolicy values: remove empty nodes only, or also
// remove or replace under-used ones.
const (
	KarpenterWhenEmpty                = "WhenEmpty"
	KarpenterWhenEmptyOrUnderutilized = "WhenEmptyOrUnderutilized"
)

// Karpenter is a provisioner in the style of Karpenter: every evaluation
// (its batch window) it takes the pending jobs that free capacity on the
// nodes it holds (running or booting) cannot take, and bin-packs them,
// largest first, onto new nodes, opening each on the offering with the
// lowest price per GPU that holds the job and is not in its ICE cache (an
// offering that failed for capacity is skipped for 3 minutes, Karpenter's
// unavailable-offerings TTL, and the next cheapest taken); the jobs left over after full nodes go on one node
// of the cheapest offering that holds them. A job larger than every offering spans whole nodes
// of the offering with the lowest price per GPU among those it may span
// (at least span.min_gpus GPUs; with whole_jobs, the largest) whose nodes
// for it stay within max_gpus and max_cost_per_hour.
//
// Consolidation follows Karpenter's disruption controller
// (karpenter.sh/docs/concepts/disruption/): a node empty for
// consolidateAfter is removed; with consolidationPolicy
// WhenEmptyOrUnderutilized (the default) a node whose jobs have not
// changed for consolidateAfter is removed when its jobs fit in free room on
// another node, or replaced by one cheaper node that holds them (single-node
// consolidation: the replacement is launched first, and the node is ended
// only once the replacement is ready and still has room for its jobs; if
// not, the replacement is abandoned), at most 10% of the nodes (at least
// one) in flight at once, its default disruption budget, and only in
// evaluations that launch nothing for pending jobs (so that a new node is
// known to be a replacement). Ending a node
// evicts its jobs: they are requeued and placed again. Simulated jobs
// restart from zero unless the pool declares checkpoint_interval, so by
// default running jobs count as karpenter.sh/do-not-disrupt (the
// annotation Karpenter's docs give for work that must not be interrupted)
// and only nodes that hold no work are consolidated, unless the pool
// checkpoints or KarpenterEvict is set (karpenter.evict=true), in which
// case the evicted work is counted in jobs_killed and gpu_hours_lost. A
// spot node is replaced by a spot node only with the SpotToSpotConsolidation
// feature gate (karpenter.spot_to_spot=true, off by default as in
// Karpenter) and at least 15 cheaper spot instance types on offer, the
// rule Karpenter's docs give for single-node spot consolidation. Its
// plans go through policy.Admit.
func Karpenter() Policy { return KarpenterWith(BaselineKnobs{}) }

// KarpenterWith is Karpenter with its knobs set.
func KarpenterWith(kn BaselineKnobs) Policy {
	kn = kn.withDefaults()
	// Without eviction it consolidates only nodes that hold no work (the
	// simulator skips nothing for pools that checkpoint, where it may
	// replace busy ones too).
	newKarpenter := func() *karpenter {
		return &karpenter{k: kn, busy: map[string]busySince{}, replacing: map[string]*replacement{}, byID: map[string]int{}, ended: map[string]bool{},
			seen: map[policy.OfferingKey]time.Time{}, ice: map[policy.OfferingKey]time.Time{}, holds: cloudHolds{}}
	}
	p := Policy{Name: PolicyKarpenter, IdleWithoutWork: true, QuietWhileBusy: !kn.KarpenterEvict, NoIdleGaps: true,
		JoinTimeout: func(*policy.Pool) time.Duration { return kn.KarpenterRegistrationTTL }}
	// A Decider with eviction too: a replacement the pool's rules cut is
	// forgotten at the next evaluation (trackReplacements) before any is
	// planned, so a copy evaluated later remembers what the evaluations
	// between would have left (TestSteadySkipIsExact).
	return withDecider(p, func() Decider { return newKarpenter() })
}

// karpenterLaunchReason is the reason of every launch karpenter plans,
// the nodes' number being the launch's Count: a plan is made at every
// evaluation, and its reasons are shown nowhere in a backtest, so none is
// formatted (a Sprintf a launch was 6% of a run at a 1 s interval).
const karpenterLaunchReason = "bin-packed pending jobs onto new nodes"

// karpenter is the baseline's memory between evaluations.
type karpenter struct {
	k BaselineKnobs
	// busy is each node's busy GPUs and since when they are unchanged.
	busy map[string]busySince
	// replacing maps a node being replaced to its replacement.
	replacing map[string]*replacement
	// byID and ended are reused between calls: instance ID → index, and
	// the nodes the plan ends.
	byID  map[string]int
	ended map[string]bool
	// seen is the capacity errors already taken into ice, its ICE cache:
	// offering → when it may be tried again.
	seen map[policy.OfferingKey]time.Time
	ice  map[policy.OfferingKey]time.Time
	// holds says which job sizes some capacity the pool may rent can run.
	holds cloudHolds
	// Scratch reused between calls (nothing of it outlives a call).
	freeBuf  []nodeRoom
	spanBuf  []spanRoom
	availBuf []policy.Offering
	sizesBuf []policy.PendingSize
	// counts and order are the nodes a plan opens per offering, and the
	// offerings in the order first opened.
	counts map[nodeKind]int
	order  []policy.Offering
}

// nodeKind is an offering as karpenter counts the nodes it opens: by name
// and instance type.
type nodeKind struct{ name, instanceType string }

// nominated reports whether an empty node of gpus GPUs may be meant for a
// pending job: one it holds, or one larger that spans nodes of its size.
// Karpenter does not disrupt a node nominated for a pending pod (its
// disruption candidates leave out nodes "nominated for a pending pod"), so
// the first nodes up for a job that spans several are not removed while
// the others boot.
func nominated(pool *policy.Pool, holds cloudHolds, pending []policy.PendingSize, gpus int) bool {
	maxG := -1 // the largest offering, for whole_jobs (found when needed)
	for _, ps := range pending {
		if len(ps.Submitted) == 0 || ps.GPUs <= 0 || !holds.ok(pool, ps.GPUs) {
			continue // a job nothing may hold is nominated to no node
		}
		if ps.GPUs <= gpus {
			return true
		}
		if gpus < pool.SpanMin() {
			continue
		}
		if !pool.WholeJobs {
			return true
		}
		// With whole_jobs, a job spans only when larger than every
		// offering, and then nodes of the largest.
		if maxG < 0 {
			maxG = 0
			for _, o := range pool.Offerings {
				maxG = max(maxG, o.GPUs)
			}
		}
		if gpus == maxG && ps.GPUs > maxG {
			return true
		}
	}
	return false
}

// heldForJob reports whether an idle node may still wait for the rest of
// the nodes of a job it is nominated for: for at most ttl since it became
// idle (Slurm's ResumeTimeout; Karpenter holds a nomination only while the
// pending pods would schedule, which a job that spans nodes never does
// until all are up). A node held longer is let go: its job's other nodes
// did not come (a limit or the budget held them back), and it would be
// paid for, idle, until they do.
func heldForJob(now time.Time, in *policy.Instance, ttl time.Duration) bool {
	return in.IdleSince.IsZero() || now.Sub(in.IdleSince) < ttl
}

// nodeRoom is a node's free GPUs, its size and its offering, as the
// provisioner packs pending jobs.
type nodeRoom struct {
	free, gpus int
	name       string
}

// takeSpan gives a job of g GPUs, larger than a node, whole free nodes of
// one offering of at least spanMin GPUs each, when enough are free; it
// reports whether it did. It tries offerings in the order of their first
// whole free node; one with too few free nodes is counted once (a later
// node of it would count a part of the same ones), so a call is linear in
// the fleet.
func takeSpan(room []nodeRoom, g, spanMin int) bool {
	var tried [4]nodeRoom // offerings with too few, on the stack for most pools
	failed := tried[:0]
	for i := range room {
		r := room[i]
		if r.free != r.gpus || r.gpus >= g || r.gpus < spanMin ||
			slices.ContainsFunc(failed, func(f nodeRoom) bool { return f.name == r.name && f.gpus == r.gpus }) {
			continue
		}
		need, have := (g+r.gpus-1)/r.gpus, 0
		for j := i; j < len(room) && have < need; j++ {
			if room[j].name == r.name && room[j].gpus == r.gpus && room[j].free == room[j].gpus {
				have++
			}
		}
		if have < need {
			failed = append(failed, r)
			continue
		}
		for j := i; j < len(room) && need > 0; j++ {
			if room[j].name == r.name && room[j].gpus == r.gpus && room[j].free == room[j].gpus {
				room[j].free = 0
				need--
			}
		}
		return true
	}
	return false
}

// spanRoom counts the whole free nodes of one offering (by name and
// size) of at least the pool's span.min_gpus GPUs.
type spanRoom struct {
	name        string
	gpus, whole int
}

// countSpans counts room's whole free nodes per offering that a job may
// span, into a slice reused between calls.
func (kp *karpenter) countSpans(room []nodeRoom, spanMin int) []spanRoom {
	spans := kp.spanBuf[:0]
	for _, r := range room {
		if r.free != r.gpus || r.gpus < spanMin || r.gpus <= 0 {
			continue
		}
		i := slices.IndexFunc(spans, func(s spanRoom) bool { return s.name == r.name && s.gpus == r.gpus })
		if i < 0 {
			spans = append(spans, spanRoom{name: r.name, gpus: r.gpus})
			i = len(spans) - 1
		}
		spans[i].whole++
	}
	kp.spanBuf = spans
	return spans
}

// mayTakeSpan reports whether takeSpan could give a job of g GPUs whole
// free nodes by spans' counts (at least the nodes there are): false when
// no offering smaller than g has enough of them.
func mayTakeSpan(spans []spanRoom, g int) bool {
	for _, s := range spans {
		if s.gpus < g && s.whole >= (g+s.gpus-1)/s.gpus {
			return true
		}
	}
	return false
}

type busySince struct {
	gpus  int
	since time.Time
}

type replacement struct {
	off   policy.Offering
	at    time.Time // when the replacement was launched
	newID string    // the replacement, once seen
}

func (kp *karpenter) Decide(pool *policy.Pool, snap policy.Snapshot, insts []policy.Instance, _ policy.Spend, now time.Time) policy.Plan {
	plan := policy.Plan{Pool: pool.Name, Time: now}
	// A capacity error since the last call puts its offering in the ICE
	// cache for KarpenterICETTL.
	for key, until := range snap.Unavailable {
		key = keyOf(key)
		if prev, ok := kp.seen[key]; !ok || !prev.Equal(until) {
			kp.seen[key] = until
			kp.ice[key] = now.Add(KarpenterICETTL)
		}
	}
	for key, until := range kp.ice {
		if !until.After(now) {
			delete(kp.ice, key)
		}
	}
	ended := kp.ended // ended by this plan
	clear(ended)
	var targets map[string]bool
	// Nodes with work are consolidated only when their work may move;
	// otherwise there is nothing to follow between evaluations.
	movable := kp.k.KarpenterConsolidation == KarpenterWhenEmptyOrUnderutilized && (pool.CheckpointInterval > 0 || kp.k.KarpenterEvict)
	if movable || len(kp.replacing) > 0 {
		byID := kp.byID
		clear(byID)
		for i := range insts {
			in := &insts[i]
			byID[in.ID] = i
			if b, ok := kp.busy[in.ID]; !ok || b.gpus != in.BusyGPUs {
				kp.busy[in.ID] = busySince{gpus: in.BusyGPUs, since: now}
			}
		}
		// busy now holds every node in insts: it holds others (nodes
		// gone since) only when it is larger.
		if len(kp.busy) > len(byID) {
			for id := range kp.busy {
				if _, ok := byID[id]; !ok {
					delete(kp.busy, id)
				}
			}
		}
		targets = kp.trackReplacements(&plan, insts, byID, now, ended)
	}

	free := kp.freeBuf[:0] // room on held nodes, then on new ones
	defer func() { kp.freeBuf = free[:0] }()
	for i := range insts {
		in := &insts[i] // Instance is large: not copied per node
		switch in.State {
		case policy.StateRunning, policy.StateBooting:
		default:
			continue
		}
		if ended[in.ID] {
			continue
		}
		if in.State == policy.StateRunning && in.BusyGPUs == 0 && !in.IdleSince.IsZero() && now.Sub(in.IdleSince) >= kp.k.KarpenterConsolidateAfter && !targets[in.ID] &&
			!(heldForJob(now, in, PerJobResumeTimeout) && nominated(pool, kp.holds, snap.PendingBySize, in.Offering.GPUs)) {
			plan.Drains = append(plan.Drains, policy.Action{InstanceID: in.ID, Reason: "empty for consolidateAfter"})
			ended[in.ID] = true
			continue
		}
		if targets[in.ID] {
			continue // its room is for the jobs of the node it replaces
		}
		free = append(free, nodeRoom{free: in.Offering.GPUs - max(0, in.BusyGPUs), gpus: in.Offering.GPUs, name: in.Offering.Name})
	}
	avail := kp.availBuf[:0]
	defer func() { kp.availBuf = avail[:0] }()
	for _, o := range pool.Offerings {
		if _, cached := kp.ice[keyOf(o.Key())]; !cached && o.GPUs > 0 {
			avail = append(avail, o)
		}
	}
	if len(avail) == 0 {
		return plan
	}
	// Pending jobs by size, largest first: on-prem's free GPUs,
	// then free GPUs on held and new nodes, then new nodes.
	sizes := append(kp.sizesBuf[:0], snap.PendingBySize...)
	defer func() { clear(sizes); kp.sizesBuf = sizes[:0] }()
	slices.SortFunc(sizes, func(a, b policy.PendingSize) int { return cmp.Compare(b.GPUs, a.GPUs) })
	onprem := max(0, snap.OnPremFreeGPUs)
	if kp.counts == nil {
		kp.counts = map[nodeKind]int{}
	}
	counts := kp.counts
	clear(counts)
	order := kp.order[:0]
	defer func() { clear(order); kp.order = order[:0] }()
	nodes := 0
	// Bounds on the room that lets the loops below skip a size that fits
	// nowhere, so that a queue of thousands of sizes does not walk the
	// fleet for each: the most free GPUs on a node, and the whole free
	// nodes per offering that a job may span. Room only shrinks, so they
	// stay bounds until recounted.
	maxFree := 0
	for _, r := range free {
		maxFree = max(maxFree, r.free)
	}
	spans := kp.countSpans(free, pool.SpanMin())
	for _, ps := range sizes {
		g, n := ps.GPUs, len(ps.Submitted)
		if g <= 0 || n == 0 || !kp.holds.ok(pool, g) {
			// Karpenter launches nothing for a pod no NodePool can hold
			// within its limits: it stays pending.
			continue
		}
		k := min(n, onprem/g)
		onprem -= k * g
		n -= k
		for f := 0; f < len(free) && g <= maxFree; f++ {
			if n == 0 {
				break
			}
			k := min(n, free[f].free/g)
			free[f].free -= k * g
			n -= k
		}
		// A job larger than a node spans whole free nodes of one
		// offering, held or booting, as the simulator places it: each
		// such job takes them before new nodes are opened for it.
		for n > 0 && mayTakeSpan(spans, g) && takeSpan(free, g, pool.SpanMin()) {
			n--
			spans = kp.countSpans(free, pool.SpanMin())
		}
		if n == 0 || nodes >= 4096 { // a batch bound, as Karpenter bounds a scheduling round
			continue
		}
		off, per, ok := karpenterPick(pool, avail, g)
		if !ok {
			continue // no offering holds it
		}
		add := func(off policy.Offering, k int) {
			key := nodeKind{off.Name, off.InstanceType}
			if counts[key] == 0 {
				order = append(order, off)
			}
			counts[key] += k
			nodes += k
		}
		if per > 1 {
			add(off, n*per)
			continue
		}
		// Full nodes of the best price per GPU; the jobs left over go on
		// one node of the cheapest offering that holds them, as Karpenter
		// launches a node claim as the cheapest instance type its pods
		// fit.
		fit := off.GPUs / g
		if full := n / fit; full > 0 {
			add(off, full)
		}
		if rest := n % fit; rest > 0 {
			last := off
			for _, o := range avail {
				if o.GPUs >= rest*g && o.PricePerHour < last.PricePerHour {
					last = o
				}
			}
			add(last, 1)
			free = append(free, nodeRoom{free: last.GPUs - rest*g, gpus: last.GPUs, name: last.Name})
			maxFree = max(maxFree, last.GPUs-rest*g)
		}
	}
	plan.Launches = slices.Grow(plan.Launches, len(order))
	for _, off := range order {
		n := counts[nodeKind{off.Name, off.InstanceType}]
		plan.Launches = append(plan.Launches, policy.Launch{Offering: off, Count: n, Reason: karpenterLaunchReason})
	}
	if len(plan.Launches) == 0 && movable {
		kp.consolidate(&plan, pool, insts, avail, targets, ended, now)
	}
	return plan
}

// trackReplacements follows the replacements in flight: it finds each
// one's new node, ends the replaced node once its replacement is ready
// and has room for its jobs, and abandons those whose replacement failed,
// vanished or has no room left. It returns the replacement nodes.
func (kp *karpenter) trackReplacements(plan *policy.Plan, insts []policy.Instance, byID map[string]int, now time.Time, ended map[string]bool) map[string]bool {
	targets := map[string]bool{}
	claimed := map[string]bool{}
	for _, r := range kp.replacing {
		if r.newID != "" {
			claimed[r.newID] = true
		}
	}
	for _, oldID := range slices.Sorted(maps.Keys(kp.replacing)) {
		r := kp.replacing[oldID]
		oi, ok := byID[oldID]
		if !ok || insts[oi].State != policy.StateRunning {
			delete(kp.replacing, oldID) // ended or drained meanwhile
			continue
		}
		if r.newID == "" {
			for i := range insts {
				if in := &insts[i]; !claimed[in.ID] && in.LaunchedAt.Equal(r.at) && in.Offering.Name == r.off.Name && in.Offering.InstanceType == r.off.InstanceType {
					r.newID = in.ID
					claimed[in.ID] = true
					break
				}
			}
		}
		if r.newID == "" {
			if _, failed := kp.ice[keyOf(r.off.Key())]; failed || now.After(r.at) {
				delete(kp.replacing, oldID) // its launch failed or was not admitted
			}
			continue
		}
		ni, ok := byID[r.newID]
		if !ok || insts[ni].State == policy.StateDraining || insts[ni].State == policy.StateTerminating {
			delete(kp.replacing, oldID)
			continue
		}
		nw := &insts[ni]
		if nw.State != policy.StateRunning {
			targets[r.newID] = true
			continue
		}
		delete(kp.replacing, oldID)
		if old := &insts[oi]; old.BusyGPUs <= nw.Offering.GPUs-nw.BusyGPUs {
			// Its room is for the evicted jobs, placed after this plan.
			targets[r.newID] = true
			plan.Terminates = append(plan.Terminates, policy.Action{InstanceID: oldID,
				Reason: fmt.Sprintf("consolidation: replaced by cheaper %s, now ready", nw.Offering.Name)})
			ended[oldID] = true
		}
	}
	return targets
}

// consolidate plans single-node consolidation: under-used nodes whose
// jobs may move are removed (their jobs fit elsewhere) or replaced by a
// cheaper node, largest saving first, within the disruption budget.
func (kp *karpenter) consolidate(plan *policy.Plan, pool *policy.Pool, insts []policy.Instance, avail []policy.Offering, targets, ended map[string]bool, now time.Time) {
	live := 0
	for i := range insts {
		if s := insts[i].State; s == policy.StateRunning || s == policy.StateBooting {
			live++
		}
	}
	budget := max(1, live/10) - len(kp.replacing)
	var cands []int
	for i := range insts {
		in := &insts[i]
		if in.State != policy.StateRunning || in.BusyGPUs <= 0 || in.BusyGPUs >= in.Offering.GPUs || ended[in.ID] || targets[in.ID] {
			continue
		}
		if _, busy := kp.replacing[in.ID]; busy || now.Sub(kp.busy[in.ID].since) < kp.k.KarpenterConsolidateAfter {
			continue
		}
		cands = append(cands, i)
	}
	// Largest saving first: the dearest nodes.
	slices.SortStableFunc(cands, func(a, b int) int {
		return cmp.Compare(insts[b].Offering.PricePerHour, insts[a].Offering.PricePerHour)
	})
	room := map[string]int{} // free GPUs other nodes can still give
	for i := range insts {
		if in := &insts[i]; in.State == policy.StateRunning && !ended[in.ID] && !targets[in.ID] {
			room[in.ID] = in.Offering.GPUs - in.BusyGPUs
		}
	}
	keep := map[string]bool{} // nodes that take moved jobs stay
	if len(cands) > karpenterMaxCandidates {
		cands = cands[:karpenterMaxCandidates]
	}
	for _, i := range cands {
		if budget <= 0 {
			return
		}
		in := &insts[i]
		if keep[in.ID] {
			continue
		}
		// Deletion: another node has room for its jobs.
		moved := false
		for j := range insts {
			other := &insts[j]
			if j == i || room[other.ID] < in.BusyGPUs || ended[other.ID] {
				continue
			}
			if _, cand := kp.replacing[other.ID]; cand {
				continue
			}
			room[other.ID] -= in.BusyGPUs
			keep[other.ID] = true
			delete(room, in.ID)
			plan.Terminates = append(plan.Terminates, policy.Action{InstanceID: in.ID,
				Reason: fmt.Sprintf("consolidation: its %d busy GPUs fit on %s", in.BusyGPUs, other.ID)})
			ended[in.ID] = true
			moved = true
			break
		}
		if moved {
			budget--
			continue
		}
		// Replacement: the cheapest node that holds its jobs, if cheaper;
		// spot by spot only under Karpenter's spot-to-spot rule.
		spotToSpot := in.Offering.Market == policy.MarketSpot && kp.k.KarpenterSpotToSpot &&
			cheaperSpotTypes(avail, in) >= KarpenterSpotToSpotMinTypes
		var best policy.Offering
		found := false
		for _, o := range avail {
			if in.Offering.Market == policy.MarketSpot && o.Market == policy.MarketSpot && !spotToSpot {
				continue
			}
			if o.GPUs >= in.BusyGPUs && o.PricePerHour < in.Offering.PricePerHour && (!found || o.PricePerHour < best.PricePerHour) {
				best, found = o, true
			}
		}
		if !found {
			continue
		}
		delete(room, in.ID)
		kp.replacing[in.ID] = &replacement{off: best, at: now}
		plan.Launches = append(plan.Launches, policy.Launch{Offering: best, Count: 1,
			Reason: fmt.Sprintf("consolidation: replace %s (%d of %d GPUs busy, $%.2f/h) with %s ($%.2f/h)",
				in.ID, in.BusyGPUs, in.Offering.GPUs, in.Offering.PricePerHour, best.Name, best.PricePerHour)})
		budget--
	}
}

// KarpenterSpotToSpotMinTypes is how many cheaper spot instance types
// Karpenter requires before it replaces a spot node by a spot node in
// single-node consolidation (karpenter.sh/docs/concepts/disruption/, spot
// consolidation: a replacement must not race to the cheapest, most
// interrupted spot pool).
const KarpenterSpotToSpotMinTypes = 15

// cheaperSpotTypes counts the spot instance types among avail that hold
// in's busy GPUs at a lower price.
func cheaperSpotTypes(avail []policy.Offering, in *policy.Instance) int {
	types := map[string]bool{}
	for _, o := range avail {
		if o.Market == policy.MarketSpot && o.GPUs >= in.BusyGPUs && o.PricePerHour < in.Offering.PricePerHour {
			types[o.Provider+"/"+o.InstanceType] = true
		}
	}
	return len(types)
}

// karpenterMaxCandidates bounds the nodes one evaluation considers for
// consolidation, as Karpenter bounds the time of a consolidation pass; the
// rest wait for the next evaluation.
const karpenterMaxCandidates = 100

// karpenterPick is the offering a new node for a job of g GPUs is opened
// on, and how many nodes the job takes: the lowest price per GPU among
// those holding it; for a job larger than every offering, the lowest price
// per GPU among those whose nodes it may span (at least the pool's
// span.min_gpus GPUs; with whole_jobs, the largest size only) and whose
// nodes for it stay within max_gpus and max_cost_per_hour, as Karpenter
// leaves out instance types that would pass a NodePool's limits.
func karpenterPick(pool *policy.Pool, avail []policy.Offering, g int) (policy.Offering, int, bool) {
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
	maxG := 0
	for _, o := range avail {
		maxG = max(maxG, o.GPUs)
	}
	per := 0
	for _, o := range avail {
		if o.GPUs < pool.SpanMin() || (pool.WholeJobs && o.GPUs != maxG) {
			continue
		}
		n := (g + o.GPUs - 1) / o.GPUs
		if l := pool.Limits; (l.MaxGPUs > 0 && n*o.GPUs > l.MaxGPUs) || (l.MaxCostPerHour > 0 && float64(n)*o.PricePerHour > l.MaxCostPerHour) {
			continue
		}
		if !ok || o.PricePerHour/float64(o.GPUs) < best.PricePerHour/float64(best.GPUs) {
			best, per, ok = o, n, true
		}
	}
	return best, per, ok
}
