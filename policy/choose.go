package policy

// Stage 5 of Decide, offering choice: the pool's offerings weighed by price
// per useful GPU-hour for the overflow, within the wait target and the
// limits.

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
)

// chooseOfferings launches for the overflow in rounds: each launches the
// best offering for the jobs it takes, then goes on with the jobs left
// (with whole_jobs, a job spans instances only when no available offering
// holds it). It returns the fleet with the launches and the plan with them
// and its notes; nothing when the overflow is not to be launched for. The
// overflow is only read: the rounds spend a copy of its job counts.
func chooseOfferings(e *decEnv, fl decFleet, p decPlan, mk *decMarket, ov decOverflow) (decFleet, decPlan) {
	if !ov.launch {
		return fl, p
	}
	demand := ""
	if !p.quiet {
		demand = ov.text()
	}
	var buf [8]decJob // the due jobs left, by size: on the stack for most queues
	left := append(buf[:0], ov.jobs...)
	for round := 0; ; round++ {
		launched, done := launchRound(e, &fl, &p, mk, left, ov.young, demand, round == 0)
		if done || !launched {
			return fl, p
		}
	}
}

// launchRound scores the available offerings on the pending jobs each can
// take (younger jobs count as useful GPUs of the launch they would share),
// launches the best one that the wait target and the limits allow, and
// marks the jobs it serves as handled. It reports whether it launched, and
// whether no job is left.
func launchRound(e *decEnv, fl *decFleet, p *decPlan, mk *decMarket, jobs, young []decJob, demand string, first bool) (launched, done bool) {
	left := 0
	for _, j := range jobs {
		left += j.n
	}
	if left == 0 {
		return false, true
	}
	offs := mk.offers(e)
	maxG := 0
	for i := range offs {
		if offs[i].skip == "" {
			maxG = max(maxG, offs[i].o.GPUs)
		}
	}
	// The round's scratch, on the stack for most pools.
	var binBuf [8]decSlot
	var scoreBuf [8]decScore
	var servBuf [8]decJob
	var rankBuf [8]int
	bins := binBuf[:0]
	sc := scoreBuf[:0] // the offerings this round can launch, scored, in offs' order
	for i := range offs {
		o := &offs[i]
		if o.skip != "" {
			continue
		}
		served := servBuf[:0]
		spanning := 0 // GPUs of served jobs larger than one instance
		for _, j := range jobs {
			if j.n > 0 && Serves(e.pool.WholeJobs, e.pool.SpanMin(), o.o.GPUs, j.size, maxG) {
				served = append(served, j)
				if j.size > o.o.GPUs {
					spanning += j.size * j.n
				}
			}
		}
		s := decScore{o: o}
		s.n, s.used, bins = decPackNew(served, o.o.GPUs, bins)
		if s.n <= 0 || s.used <= 0 {
			continue
		}
		// Younger jobs queued behind will share what the due ones leave
		// free: they count as useful GPUs, not as a reason to launch more.
		for _, j := range young {
			if j.n > 0 && j.size <= o.o.GPUs {
				var rest int
				rest, bins = decPlace(bins, j.size, j.n)
				s.young += (j.n - rest) * j.size
			}
		}
		s.used += s.young
		// A job spanning instances runs span.slowdown times longer: its
		// GPUs do that much less useful work an hour.
		useful := float64(s.used)
		if sd := e.pool.SpanSlowdown(); sd > 1 && spanning > 0 {
			useful -= float64(spanning) * (1 - 1/sd)
		}
		s.score = float64(s.n) * o.o.PricePerHour / (useful * o.perf)
		sc = append(sc, s)
	}
	rank := decRank(sc, rankBuf[:0])
	if len(rank) == 0 {
		if first && !p.quiet {
			p.note("holding queue overflow: " + demand + "; no offering can be launched" + decSkipped(offs))
		}
		return false, false
	}
	wait := e.pool.WaitTarget.D()
	var limits []string
	for r, si := range rank {
		s := &sc[si]
		o := s.o
		boot := o.boot
		// The next chance to launch is one interval away: hold only when
		// launching then would still start the oldest job in time.
		if e.snap.OldestWait+e.interval+boot <= wait {
			if r == 0 {
				if first && !p.quiet {
					p.note(fmt.Sprintf("holding queue overflow: %s; oldest waited %s + next evaluation %s + boot %s of %s <= wait target %s: on-prem may still take it",
						demand, decFmtDur(e.snap.OldestWait), decFmtDur(e.interval), o.bootText(), o.name(), decFmtDur(wait)))
				}
				return false, false
			}
			continue
		}
		k, limit := allowed(e, fl, p, o, s.n)
		if k == 0 {
			if !p.quiet {
				limits = append(limits, fmt.Sprintf("%s: limit %s", o.name(), limit))
			}
			continue
		}
		if k < s.n {
			// Cut by a limit: launch only what can run a job. Instances
			// for a job that spans them are waste until all are up, and
			// are let go idle before the rest could come.
			if need, size := decSpanShort(e, fl, jobs, o, k, maxG); need > 0 {
				if p.quiet {
					continue
				}
				limits = append(limits, fmt.Sprintf("%s: limit %s allows %d more; with the %d whole ones free or booting, too few for the %d-GPU job it would take, which spans %d",
					o.name(), limit, k, decWholeFree(fl, o.o.GPUs), size, need))
				continue
			}
		}
		reason := ""
		if !p.quiet {
			cut := ""
			if k < s.n {
				cut = fmt.Sprintf("; cut from %d to %d by limit %s", s.n, k, limit)
				p.note(fmt.Sprintf("launch of %s cut from %d to %s by limit %s", o.name(), s.n, counted(k, "instance"), limit))
			}
			passed := ""
			if len(limits) > 0 {
				passed = " (passed over " + strings.Join(limits, "; ") + ")"
			}
			reason = fmt.Sprintf("queue overflow: %s; oldest waited %s + next evaluation %s + boot %s > wait target %s; chose %s at $%.2f per useful GPU-hour (%d × %s, $%.2f/h each, for %s of jobs)%s%s%s",
				demand, decFmtDur(e.snap.OldestWait), decFmtDur(e.interval), o.bootText(), decFmtDur(wait), o.name(), s.score, s.n, counted(o.o.GPUs, "GPU"), o.o.PricePerHour, counted(s.used, "GPU"), decSkipped(offs)+decSpotNote(s, sc), passed, cut)
		}
		fl.launch(e, p, o, k, "", reason)
		for k := range jobs {
			if Serves(e.pool.WholeJobs, e.pool.SpanMin(), o.o.GPUs, jobs[k].size, maxG) {
				jobs[k].n = 0
			}
		}
		return true, false
	}
	if len(limits) > 0 {
		p.note("holding queue overflow: " + demand + "; no launch fits the limits: " + strings.Join(limits, "; "))
	}
	return false, false
}

// decSpanShort reports whether a launch of o cut by a limit to k new
// instances would buy only waste: every pending job o would take spans
// instances, and each needs more than k with the whole free instances of
// its size the fleet holds (idle or booting). It returns how many
// instances the job needing fewest spans, and its GPUs; 0 when the k
// instances can run a job.
func decSpanShort(e *decEnv, fl *decFleet, jobs []decJob, o *decOffer, k, maxG int) (need, size int) {
	g := o.o.GPUs
	have := k + decWholeFree(fl, g)
	for _, j := range jobs {
		if j.n <= 0 || !Serves(e.pool.WholeJobs, e.pool.SpanMin(), g, j.size, maxG) {
			continue
		}
		if j.size <= g {
			return 0, 0 // a job it holds whole
		}
		n := (j.size + g - 1) / g
		if n <= have {
			return 0, 0
		}
		if need == 0 || n < need {
			need, size = n, j.size
		}
	}
	return need, size
}

// decWholeFree is how many instances of g GPUs the fleet holds with every
// GPU free, up or booting.
func decWholeFree(fl *decFleet, g int) int {
	return decSlotCount(fl.slots, g, decReadyFull) + decSlotCount(fl.slots, g, decBootFull)
}

// decOffer is one of the pool's offerings as the engine weighs it this tick.
type decOffer struct {
	o    Offering
	idx  int       // position in the pool's offerings: the last tie-break
	perf float64   // useful work per GPU-hour: the performance factor (1 when unset) less what spot reclaims lose
	unit decCommit // committed cost of one launch: kept until the next evaluation, then drained until drain_timeout
	skip string    // why it cannot be launched now ("" when it can)
	boot time.Duration
	seen bool // boot is the observed one (Snapshot.Boot), not Offering.Boot
	// rate and lost: a spot offering's reclaims per instance-hour past its
	// protection (Snapshot.SpotReclaims) and the share of its GPU-hours
	// they lose (SpotLoss, on the hours SpotExposed); 0 when unknown.
	rate, lost float64
	// last: spot for jobs that do not checkpoint (Pool.SpotLastResort),
	// ranked after every other offering.
	last bool
}

// decScore is an offering as one choice weighs it (a round of the
// offering choice, or a floor's): the instances the jobs need of it, the
// GPUs they use and its price per useful GPU-hour. Choices keep their
// scores to themselves; the weighed offerings are only read.
type decScore struct {
	o       *decOffer
	n, used int
	young   int     // GPUs of younger queued jobs that would share the launch (part of used)
	score   float64 // price per useful GPU-hour
}

// name is how reasons call the offering.
func (o *decOffer) name() string { return decOfferingName(&o.o) }

// bootText is how reasons give the offering's boot time, marked when
// observed.
func (o *decOffer) bootText() string {
	if o.seen {
		return decFmtDur(o.boot) + " (observed)"
	}
	return decFmtDur(o.boot)
}

// decOfferingName is the offering's Name or, when unset,
// provider/region[/zone]/instance_type/market.
func decOfferingName(o *Offering) string {
	if o.Name != "" {
		return o.Name
	}
	var b strings.Builder
	b.WriteString(o.Provider)
	b.WriteByte('/')
	b.WriteString(o.Region)
	if o.Zone != "" {
		b.WriteByte('/')
		b.WriteString(o.Zone)
	}
	b.WriteByte('/')
	b.WriteString(o.InstanceType)
	b.WriteByte('/')
	if o.Market == "" {
		b.WriteString(string(MarketOnDemand))
	} else {
		b.WriteString(string(o.Market))
	}
	return b.String()
}

// decMarket is the pool's offerings as one decision weighs them (weighed
// when the floors, the overflow or the offering choice first needs them,
// then only read), with the overflow's memo of what burst capacity can
// hold per job size and the storage of the jobs it returns.
type decMarket struct {
	offs     []decOffer
	pooled   *[]decOffer  // where offs came from (decOfferSlices)
	fits     []decFit     // per pending job size: whether burst capacity can hold it
	fitMap   map[int]bool // the same past decFitList sizes (a queue of many sizes)
	jobBuf   [8]decJob    // the overflow's due jobs (decOverflow.jobs)
	youngBuf [8]decJob    // the overflow's younger jobs (decOverflow.young)
}

// decOfferSlices recycles the offerings' working slice between
// decisions: weighing them is the one allocation of a busy decision. A
// decision puts its slice back when it returns (release); nothing of it
// outlives the decision (plans copy the Offering values).
var decOfferSlices = sync.Pool{New: func() any { return new([]decOffer) }}

// getOffers takes a slice for n offerings from the pool.
func (mk *decMarket) getOffers(n int) []decOffer {
	p := decOfferSlices.Get().(*[]decOffer)
	if cap(*p) < n {
		*p = make([]decOffer, 0, n)
	}
	mk.pooled = p
	return (*p)[:0]
}

// release hands the market's working slice back for the next decision.
func (mk *decMarket) release() {
	if mk.pooled == nil {
		return
	}
	offs := mk.offs[:cap(mk.offs)]
	clear(offs) // a pooled slice keeps no strings alive
	*mk.pooled = offs[:0]
	decOfferSlices.Put(mk.pooled)
	mk.offs, mk.pooled = nil, nil
}

// offers weighs the pool's offerings once per decision: which can be
// launched now (not out of stock, not blocked by a quota), their
// performance factor and committed cost per launch.
func (mk *decMarket) offers(e *decEnv) []decOffer {
	if mk.offs != nil {
		return mk.offs
	}
	mk.offs = mk.getOffers(len(e.pool.Offerings))
	for i := range e.pool.Offerings {
		o := e.pool.Offerings[i]
		if o.GPUs <= 0 || o.PricePerHour < 0 {
			continue
		}
		if o.Market == "" {
			o.Market = MarketOnDemand
		}
		perf := o.Performance
		if !(perf > 0) {
			perf = 1
		}
		off := decOffer{o: o, idx: i, perf: perf, last: e.pool.SpotLastResort(o)}
		off.boot, off.seen = e.bootOf(&e.pool.Offerings[i])
		if o.Market == MarketSpot && !off.last {
			// Its jobs checkpoint: a reclaim loses the work since the
			// last checkpoint and a boot, less useful work per GPU-hour.
			if rate, ok := decLookup(e.snap.SpotReclaims, &e.pool.Offerings[i]); ok {
				// Only the hours past the offering's protection are
				// exposed to reclaims.
				off.rate = rate
				off.lost = SpotLoss(rate, e.pool.CheckpointInterval.D(), off.boot) * SpotExposed(o.SpotProtection.D(), e.snap.BurstLife)
				off.perf *= 1 - off.lost
			}
		}
		if e.pool.Limits.Budget != nil {
			off.unit = e.commitOf(&o, 0, e.launchSpan())
		}
		off.skip = e.unavailable(&e.pool.Offerings[i])
		mk.offs = append(mk.offs, off)
	}
	return mk.offs
}

// skipped explains an offering in the capacity cache until until: out of
// stock, or the failure the cache names.
func (e *decEnv) skipped(k OfferingKey, until time.Time) string {
	if e.quiet {
		return decQuietSkip
	}
	if why := e.snap.UnavailableWhy[k]; why != "" {
		return "skipped until " + e.fmtTime(until) + ": " + why
	}
	return "out of stock until " + e.fmtTime(until)
}

// unavailable says why an offering cannot be launched now: a capacity
// failure still within its TTL, or a quota block on its provider or region.
func (e *decEnv) unavailable(o *Offering) string {
	if until, ok := e.snap.Unavailable[o.Key()]; ok && until.After(e.now) {
		return e.skipped(o.Key(), until)
	}
	if len(e.snap.Unavailable) > 0 && o.Market == "" {
		k := o.Key()
		k.Market = MarketOnDemand
		if until, ok := e.snap.Unavailable[k]; ok && until.After(e.now) {
			return e.skipped(k, until)
		}
	}
	if until, ok := e.snap.Unused[o.Key()]; ok && until.After(e.now) {
		if e.quiet {
			return decQuietSkip
		}
		return "left unused by the queue until " + e.fmtTime(until)
	}
	if len(e.snap.Blocked) == 0 {
		return ""
	}
	if until, ok := e.snap.Blocked[o.Provider]; ok && until.After(e.now) {
		if e.quiet {
			return decQuietSkip
		}
		return "provider " + o.Provider + " blocked by quota until " + e.fmtTime(until)
	}
	var buf [128]byte
	key := append(append(append(buf[:0], o.Provider...), '/'), o.Region...)
	if until, ok := e.snap.Blocked[string(key)]; ok && until.After(e.now) {
		if e.quiet {
			return decQuietSkip
		}
		return "region " + string(key) + " blocked by quota until " + e.fmtTime(until)
	}
	return ""
}

// decQuietSkip is why an offering is skipped when no one reads why
// (decEnv.quiet).
const decQuietSkip = "unavailable"

// decSkipped lists unavailable offerings for a reason: "(a skipped: out of
// stock until 10:42:00; b skipped: ...)", or "" when none was skipped.
func decSkipped(offs []decOffer) string {
	var b strings.Builder
	for i := range offs {
		if offs[i].skip == "" {
			continue
		}
		if b.Len() == 0 {
			b.WriteString(" (")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(offs[i].name())
		b.WriteString(" skipped: ")
		b.WriteString(offs[i].skip)
	}
	if b.Len() > 0 {
		b.WriteByte(')')
	}
	return b.String()
}

// decSpotNote says why spot was passed over, or taken as a last resort,
// for a pool whose jobs do not checkpoint (Pool.SpotLastResort), and what
// reclaims cost the spot offering chosen, or one passed over for them.
func decSpotNote(chosen *decScore, sc []decScore) string {
	if chosen.o.last {
		return "; spot as a last resort: no other offering can take these jobs, which do not checkpoint (a reclaim loses their runs)"
	}
	for i := range sc {
		if s := &sc[i]; s.o.last && s.score >= 0 && s.score < chosen.score {
			return fmt.Sprintf("; passed over %s at $%.2f: the pool's jobs do not checkpoint (checkpoint_interval unset), so a reclaim loses their runs", s.o.name(), s.score)
		}
	}
	for i := range sc {
		if s := &sc[i]; s.o.lost > 0 && s.score > chosen.score && s.score*(1-s.o.lost) < chosen.score {
			return fmt.Sprintf("; passed over %s at $%.2f ($%.2f before its reclaims: %s)", s.o.name(), s.score, s.score*(1-s.o.lost), decReclaims(s.o))
		}
	}
	if chosen.o.lost >= 0.01 {
		return "; its price counts its reclaims: " + decReclaims(chosen.o)
	}
	return ""
}

// decReclaims says how often a spot offering is reclaimed and what that
// loses.
func decReclaims(o *decOffer) string {
	every := time.Duration(min(float64(time.Hour)/o.rate, float64(1e5*time.Hour))).Round(time.Minute)
	after := ""
	if p := o.o.SpotProtection.D(); p > 0 {
		after = " past its " + decFmtDur(p) + " protection"
	}
	return fmt.Sprintf("one per instance every %s%s, losing %.1f%% of its GPU-hours", decFmtDur(every), after, 100*o.lost)
}

// decLess puts spot offerings of a pool whose jobs do not checkpoint last
// (Pool.SpotLastResort), then orders offerings by price per useful
// GPU-hour, then smaller
// instances (at an equal price per useful GPU-hour a smaller shape is
// released GPU by GPU as jobs end, where a large one stays paid for while
// any job is left on it; and the younger jobs that made a larger shape look
// as well used may yet start on-prem), then faster boot (observed, when the
// snapshot has it), then fewer instances, then their order in the config.
func decLess(a, b *decScore) bool {
	if a.o.last != b.o.last {
		return b.o.last
	}
	if !decSameScore(a.score, b.score) {
		return a.score < b.score
	}
	if a.o.o.GPUs != b.o.o.GPUs {
		return a.o.o.GPUs < b.o.o.GPUs
	}
	if a.o.boot != b.o.boot {
		return a.o.boot < b.o.boot
	}
	if a.n != b.n {
		return a.n < b.n
	}
	return a.o.idx < b.o.idx
}

// decSameScore reports whether two prices per useful GPU-hour are equal
// but for float rounding: 11 × $3.06 ÷ 11 GPUs is not exactly $3.06, and an
// offering must not win a tie on the last bit.
func decSameScore(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*max(math.Abs(a), math.Abs(b))
}

// decRank returns the scored offerings' indices in sc, best first.
func decRank(sc []decScore, dst []int) []int {
	dst = dst[:0]
	for i := range sc {
		if sc[i].score < 0 {
			continue
		}
		j := len(dst)
		dst = append(dst, i)
		for j > 0 && decLess(&sc[i], &sc[dst[j-1]]) {
			dst[j] = dst[j-1]
			j--
		}
		dst[j] = i
	}
	return dst
}

// bootOf is the boot time to plan with for offering o: the observed one
// (Snapshot.Boot) when the snapshot has it, else Offering.Boot; seen says
// which. Never negative.
func (e *decEnv) bootOf(o *Offering) (boot time.Duration, seen bool) {
	return decLookupBoot(e.snap.Boot, o)
}

// decLookupBoot is o's entry in an observed-boot map (Snapshot.Boot or
// BootMean), else Offering.Boot; seen says which.
func decLookupBoot(boots map[OfferingKey]time.Duration, o *Offering) (boot time.Duration, seen bool) {
	if b, ok := decLookup(boots, o); ok {
		return max(b, 0), true
	}
	return decBoot(o), false
}

// decLookup is o's entry in a map by offering key. Instances and
// observations carry the market defaulted, the pool's offerings may not:
// the defaulted key is looked up first.
func decLookup[V any](m map[OfferingKey]V, o *Offering) (V, bool) {
	var v V
	if len(m) == 0 {
		return v, false
	}
	k := o.Key()
	if k.Market == "" {
		k.Market = MarketOnDemand
	}
	v, ok := m[k]
	if !ok && o.Market == "" {
		k.Market = ""
		v, ok = m[k]
	}
	return v, ok
}

// decBoot is an offering's boot time, never negative.
func decBoot(o *Offering) time.Duration {
	if b := o.Boot.D(); b > 0 {
		return b
	}
	return 0
}
