package sim

import "slices"

// onprem is the pool's on-prem GPUs as nodes of equal size. Fully free
// nodes are only counted; a node gets an entry of its own while a job runs
// on it, so memory follows the running jobs, not the cluster's size.
type onprem struct {
	nodeGPUs int
	nodes    int // all nodes
	full     int // fully free nodes without an entry
	free     int // free GPUs over all nodes
	busy     int // busy GPUs
	// used holds the nodes that run work: their free GPUs and their place
	// in byFree. spare lists entries to reuse.
	used   []usedNode
	spare  []int32
	byFree [][]int32 // node entries by free GPUs, 0 … nodeGPUs-1
}

type usedNode struct {
	free int32
	pos  int32 // index in byFree[free]
}

// maxNodeGPUs bounds gpus_per_node in the simulator (byFree is per level).
const maxNodeGPUs = 1 << 16

func newOnprem(nodes, nodeGPUs int) onprem {
	return onprem{nodeGPUs: nodeGPUs, nodes: nodes, full: nodes, free: nodes * nodeGPUs,
		byFree: make([][]int32, nodeGPUs)}
}

func (o *onprem) total() int { return o.nodes * o.nodeGPUs }

// freeFor is the free GPUs on nodes that have at least need free.
func (o *onprem) freeFor(need int) int {
	n := o.full * o.nodeGPUs
	for f := max(need, 1); f < o.nodeGPUs; f++ {
		n += f * len(o.byFree[f])
	}
	return n
}

func (o *onprem) unlink(id int32) {
	u := &o.used[id]
	b := o.byFree[u.free]
	last := b[len(b)-1]
	b[u.pos] = last
	o.used[last].pos = u.pos
	o.byFree[u.free] = b[:len(b)-1]
}

func (o *onprem) link(id int32) {
	u := &o.used[id]
	u.pos = int32(len(o.byFree[u.free]))
	o.byFree[u.free] = append(o.byFree[u.free], id)
}

// take gives a fully free node an entry.
func (o *onprem) take() int32 {
	o.full--
	var id int32
	if n := len(o.spare); n > 0 {
		id = o.spare[n-1]
		o.spare = o.spare[:n-1]
	} else {
		id = int32(len(o.used))
		o.used = append(o.used, usedNode{})
	}
	o.used[id] = usedNode{free: int32(o.nodeGPUs)}
	return id
}

// use takes g GPUs of node entry id (linked unless just taken).
func (o *onprem) use(id int32, g int, linked bool) {
	if linked {
		o.unlink(id)
	}
	o.used[id].free -= int32(g)
	o.free -= g
	o.busy += g
	o.link(id)
}

// place finds room for a job of g GPUs: the fullest node that holds it
// (best fit), or whole free nodes for a job larger than a node. It
// returns the parts, in into's array when it has room (a run's entry
// freed by an earlier job: no allocation a job), or nil.
func (o *onprem) place(g int, into []part) []part {
	if g <= o.nodeGPUs {
		for f := g; f < o.nodeGPUs; f++ {
			if b := o.byFree[f]; len(b) > 0 {
				id := b[len(b)-1]
				o.use(id, g, true)
				return append(into[:0], part{idx: id, gpus: int32(g)})
			}
		}
		if o.full == 0 {
			return nil
		}
		id := o.take()
		o.use(id, g, false)
		return append(into[:0], part{idx: id, gpus: int32(g)})
	}
	need := (g + o.nodeGPUs - 1) / o.nodeGPUs
	if o.full < need {
		return nil
	}
	parts := slices.Grow(into[:0], need)
	for range need {
		id := o.take()
		o.use(id, o.nodeGPUs, false)
		parts = append(parts, part{idx: id, gpus: int32(o.nodeGPUs)})
	}
	return parts
}

// release gives back g GPUs of node entry id; a node that becomes fully
// free loses its entry.
func (o *onprem) release(id int32, g int) {
	o.unlink(id)
	o.used[id].free += int32(g)
	o.free += g
	o.busy -= g
	if int(o.used[id].free) == o.nodeGPUs {
		o.full++
		o.spare = append(o.spare, id)
		return
	}
	o.link(id)
}
