package policy

import (
	"strings"
	"time"
)

// Slot classes, in the order a pending job is placed into free GPUs of the
// same size: GPUs left free beside busy ones, fully idle ready instances,
// fully free booting instances.
const (
	decPartial uint8 = iota
	decReadyFull
	decBootFull
)

// decSlot counts n instances (or bins) with free GPUs each of one class.
// For the full classes free is also the instance's GPU count.
type decSlot struct {
	free  int
	class uint8
	n     int
}

// decJob counts n pending jobs that each request size GPUs.
type decJob struct {
	size, n int
}

// decAddSlot adds n slots of free GPUs of class to slots.
func decAddSlot(slots []decSlot, free int, class uint8, n int) []decSlot {
	if free <= 0 || n <= 0 {
		return slots
	}
	for i := range slots {
		if slots[i].free == free && slots[i].class == class {
			slots[i].n += n
			return slots
		}
	}
	return append(slots, decSlot{free: free, class: class, n: n})
}

// decTakeSlot removes one slot of free GPUs of class, if there is one.
func decTakeSlot(slots []decSlot, free int, class uint8) bool {
	for i := range slots {
		if slots[i].free == free && slots[i].class == class {
			if slots[i].n > 0 {
				slots[i].n--
				return true
			}
			return false
		}
	}
	return false
}

// decSlotCount is how many slots of free GPUs of class remain.
func decSlotCount(slots []decSlot, free int, class uint8) int {
	for i := range slots {
		if slots[i].free == free && slots[i].class == class {
			return slots[i].n
		}
	}
	return 0
}

// decPlace packs c jobs of s GPUs, each inside one slot, best fit: the
// smallest free slot that holds a job first (then by class), as many jobs
// per slot as fit. It returns the jobs left unplaced and the updated slots.
func decPlace(slots []decSlot, s, c int) (int, []decSlot) {
	for c > 0 {
		bi := -1
		for i := range slots {
			e := &slots[i]
			if e.n <= 0 || e.free < s {
				continue
			}
			if bi < 0 || e.free < slots[bi].free || (e.free == slots[bi].free && e.class < slots[bi].class) {
				bi = i
			}
		}
		if bi < 0 {
			break
		}
		e := slots[bi]
		k := e.free / s
		m := (c + k - 1) / k
		if m > e.n {
			m = e.n
		}
		placed := m * k
		if placed > c {
			placed = c
		}
		c -= placed
		slots[bi].n -= m
		last := placed - (m-1)*k
		if m > 1 {
			slots = decAddSlot(slots, e.free-k*s, decPartial, m-1)
		}
		slots = decAddSlot(slots, e.free-last*s, decPartial, 1)
	}
	return c, slots
}

// decPlaceWhole places c jobs of s GPUs that span instances onto whole free
// instances smaller than s, of at least spanMin GPUs: each job takes
// ceil(s/G) free instances of G GPUs (the G that wastes least, then the larger), ready ones before
// booting ones. It returns the jobs left unplaced.
func decPlaceWhole(slots []decSlot, s, c, spanMin int) int {
	for c > 0 {
		bestG, bestK, bestWaste, bestAvail := 0, 0, 0, 0
		for i := range slots {
			e := &slots[i]
			if e.class == decPartial || e.n <= 0 || e.free >= s || e.free < spanMin {
				continue
			}
			g := e.free
			avail := decSlotCount(slots, g, decReadyFull) + decSlotCount(slots, g, decBootFull)
			k := (s + g - 1) / g
			if avail < k {
				continue
			}
			waste := k*g - s
			if bestG == 0 || waste < bestWaste || (waste == bestWaste && g > bestG) {
				bestG, bestK, bestWaste, bestAvail = g, k, waste, avail
			}
		}
		if bestG == 0 {
			break
		}
		jobs := bestAvail / bestK
		if jobs > c {
			jobs = c
		}
		c -= jobs
		need := jobs * bestK
		for _, class := range [2]uint8{decReadyFull, decBootFull} {
			for i := range slots {
				if slots[i].free == bestG && slots[i].class == class {
					t := min(need, slots[i].n)
					slots[i].n -= t
					need -= t
				}
			}
		}
	}
	return c
}

// decPackNew packs jobs into new instances of g GPUs, first fit decreasing
// (jobs arrive largest first): a job larger than g takes ceil(size/g) whole
// instances, smaller ones share instances. It returns the instances needed
// and the GPUs the jobs use. scratch is reused for the open bins.
func decPackNew(jobs []decJob, g int, scratch []decSlot) (n, used int, _ []decSlot) {
	bins := scratch[:0]
	for _, j := range jobs {
		if j.n <= 0 {
			continue
		}
		used += j.size * j.n
		if j.size > g {
			n += j.n * ((j.size + g - 1) / g)
			continue
		}
		c := j.n
		c, bins = decPlace(bins, j.size, c)
		if c == 0 {
			continue
		}
		k := g / j.size
		n += (c + k - 1) / k
		full := c / k
		if full > 0 {
			bins = decAddSlot(bins, g-k*j.size, decPartial, full)
		}
		if r := c - full*k; r > 0 {
			bins = decAddSlot(bins, g-r*j.size, decPartial, 1)
		}
	}
	return n, used, bins
}

// decOffer is one of the pool's offerings as the engine weighs it this tick.
type decOffer struct {
	o    Offering
	idx  int       // position in the pool's offerings: the last tie-break
	perf float64   // performance factor, 1 when unset
	unit decCommit // committed cost of one launch: kept until the next evaluation, then drained until drain_timeout
	skip string    // why it cannot be launched now ("" when it can)
	boot time.Duration
	seen bool // boot is the observed one (Snapshot.Boot), not Offering.Boot

	// per choice
	n, used int
	young   int     // GPUs of younger queued jobs that would share the launch (part of used)
	score   float64 // price per useful GPU-hour
}

// name is how reasons call the offering.
func (o *decOffer) name() string { return decOfferingName(&o.o) }

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

// offers weighs the pool's offerings once per decision: which can be
// launched now (not out of stock, not blocked by a quota), their
// performance factor and committed cost per launch.
func (d *decider) offers() []decOffer {
	if d.offs != nil {
		return d.offs
	}
	d.offs = make([]decOffer, 0, len(d.pool.Offerings))
	for i := range d.pool.Offerings {
		o := d.pool.Offerings[i]
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
		off := decOffer{o: o, idx: i, perf: perf}
		off.boot, off.seen = d.bootOf(&d.pool.Offerings[i])
		if d.pool.Limits.Budget != nil {
			off.unit = d.commitOf(&o, 0, d.launchSpan())
		}
		off.skip = d.unavailable(&d.pool.Offerings[i])
		d.offs = append(d.offs, off)
	}
	return d.offs
}

// unavailable says why an offering cannot be launched now: a capacity
// failure still within its TTL, or a quota block on its provider or region.
func (d *decider) unavailable(o *Offering) string {
	if until, ok := d.snap.Unavailable[o.Key()]; ok && until.After(d.now) {
		return "out of stock until " + d.fmtTime(until)
	}
	if len(d.snap.Unavailable) > 0 && o.Market == "" {
		k := o.Key()
		k.Market = MarketOnDemand
		if until, ok := d.snap.Unavailable[k]; ok && until.After(d.now) {
			return "out of stock until " + d.fmtTime(until)
		}
	}
	if len(d.snap.Blocked) == 0 {
		return ""
	}
	if until, ok := d.snap.Blocked[o.Provider]; ok && until.After(d.now) {
		return "provider " + o.Provider + " blocked by quota until " + d.fmtTime(until)
	}
	var buf [128]byte
	key := append(append(append(buf[:0], o.Provider...), '/'), o.Region...)
	if until, ok := d.snap.Blocked[string(key)]; ok && until.After(d.now) {
		return "region " + string(key) + " blocked by quota until " + d.fmtTime(until)
	}
	return ""
}

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

// decLess orders offerings by price per useful GPU-hour, then smaller
// instances (at an equal price per useful GPU-hour a smaller shape is
// released GPU by GPU as jobs end, where a large one stays paid for while
// any job is left on it; and the younger jobs that made a larger shape look
// as well used may yet start on-prem), then faster boot (observed, when the
// snapshot has it), then fewer instances, then their order in the config.
func decLess(a, b *decOffer) bool {
	if a.score != b.score {
		return a.score < b.score
	}
	if a.o.GPUs != b.o.GPUs {
		return a.o.GPUs < b.o.GPUs
	}
	if a.boot != b.boot {
		return a.boot < b.boot
	}
	if a.n != b.n {
		return a.n < b.n
	}
	return a.idx < b.idx
}

// decRank returns the available offerings' indices in offs, best first.
func decRank(offs []decOffer, dst []int) []int {
	dst = dst[:0]
	for i := range offs {
		if offs[i].skip != "" || offs[i].score < 0 {
			continue
		}
		j := len(dst)
		dst = append(dst, i)
		for j > 0 && decLess(&offs[i], &offs[dst[j-1]]) {
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
func (d *decider) bootOf(o *Offering) (boot time.Duration, seen bool) {
	if len(d.snap.Boot) > 0 {
		k := o.Key()
		b, ok := d.snap.Boot[k]
		if !ok && k.Market == "" {
			k.Market = MarketOnDemand
			b, ok = d.snap.Boot[k]
		}
		if ok {
			return max(b, 0), true
		}
	}
	return decBoot(o), false
}

// decBoot is an offering's boot time, never negative.
func decBoot(o *Offering) time.Duration {
	if b := o.Boot.D(); b > 0 {
		return b
	}
	return 0
}
