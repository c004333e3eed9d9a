package sim

import "slices"

// roomIndex finds the ready instance to place a job on, best fit: among
// the running instances with room for it, the one with the fewest free
// GPUs (the oldest of those), as Slurm's select/cons_tres places a
// one-node job on the node with the least free resources that suffice
// (`_eval_nodes`, "best fit single node"), and as the simulator places
// jobs on-prem. Filling the fullest instance first leaves the emptier ones
// to empty and be let go, where first fit in launch order spreads jobs
// over every instance with room.
//
// One heap of instance indices per count of free GPUs, checked lazily:
// an entry is pushed whenever an instance's free GPUs change, and is
// stale once the instance has another count or stops running; a lookup
// drops the stale entries it meets. Placing a job costs O(largest
// instance + log instances) instead of a walk over every live instance.
type roomIndex struct {
	byFree  []idxHeap // byFree[v]: instances that had v free GPUs when pushed
	entries int       // entries in all heaps, stale ones included
}

// idxHeap is a min-heap of instance indices: the oldest first. It is typed
// rather than container/heap's, whose Push boxes each index (an allocation
// per job placed).
type idxHeap []int32

func (h *idxHeap) push(ii int32) {
	*h = append(*h, ii)
	a := *h
	for i := len(a) - 1; i > 0; {
		p := (i - 1) / 2
		if a[p] <= a[i] {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

func (h *idxHeap) pop() {
	a := *h
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	for i := 0; ; {
		m, l, r := i, 2*i+1, 2*i+2
		if l < n && a[l] < a[m] {
			m = l
		}
		if r < n && a[r] < a[m] {
			m = r
		}
		if m == i {
			break
		}
		a[m], a[i] = a[i], a[m]
		i = m
	}
	*h = a
}

// set records that instance ii has room v (its free GPUs; ≤ 0 for none).
func (r *roomIndex) set(ii int, v int) {
	if v <= 0 {
		return
	}
	for len(r.byFree) <= v {
		r.byFree = append(r.byFree, nil)
	}
	r.byFree[v].push(int32(ii))
	r.entries++
}

// best is the instance with the fewest free GPUs, at least g, that room
// says is current (room(ii) is instance ii's free GPUs while it can take
// work, else -1), or -1.
func (r *roomIndex) best(g int, room func(ii int32) int) int {
	for v := max(g, 1); v < len(r.byFree); v++ {
		h := &r.byFree[v]
		for len(*h) > 0 {
			ii := (*h)[0]
			if room(ii) == v {
				return int(ii)
			}
			h.pop()
			r.entries--
		}
	}
	return -1
}

// compact drops the stale entries when they outnumber the live instances
// (alive) by far, so that the heaps follow the fleet, not its history.
func (r *roomIndex) compact(alive int, room func(ii int32) int) {
	if r.entries < 1024 || r.entries < 4*alive {
		return
	}
	r.entries = 0
	for v := range r.byFree {
		h := r.byFree[v][:0]
		for _, ii := range r.byFree[v] {
			if room(ii) == v {
				h = append(h, ii)
			}
		}
		// A sorted slice is a min-heap. An instance whose room went
		// v → w → v has an entry for each time it had v, all current:
		// one stays, or the duplicates pile up with every change and
		// every placement compacts them all again.
		slices.Sort(h)
		h = slices.Compact(h)
		r.byFree[v] = h
		r.entries += len(h)
	}
}
