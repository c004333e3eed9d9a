package policy

// Packing jobs into free GPUs and new instances: the arithmetic the overflow
// and the offering choice share.

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
