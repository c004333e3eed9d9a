package sim

import "github.com/spillway-io/spillway/policy"

// roomIndex finds the first instance, in launch order, with room for a
// job: a max segment tree over instance indices whose leaves hold at least
// the free GPUs of each running instance (-1 for the others). Placing a
// job costs O(log instances) instead of a walk over every live instance.
//
// A leaf may be higher than its instance's room (it is raised when room
// grows, and corrected when a lookup finds it stale), never lower, so the
// first instance whose leaf says it fits is checked and, if stale, fixed.
type roomIndex struct {
	leaves int     // a power of two; t[leaves+i] is instance i's leaf
	t      []int32 // t[k] = max(t[2k], t[2k+1])
}

// roomOf is an instance's room: its free GPUs while running, else -1.
func roomOf(in *instance) int32 {
	if in.state == policy.StateRunning {
		return int32(in.free)
	}
	return -1
}

// grow makes room for instances 0..n-1; new leaves hold -1.
func (r *roomIndex) grow(n int) {
	if n <= r.leaves {
		return
	}
	leaves := max(64, r.leaves)
	for leaves < n {
		leaves *= 2
	}
	t := make([]int32, 2*leaves)
	for i := range t {
		t[i] = -1
	}
	if r.leaves > 0 {
		copy(t[leaves:], r.t[r.leaves:])
		for k := leaves - 1; k >= 1; k-- {
			t[k] = max(t[2*k], t[2*k+1])
		}
	}
	r.leaves, r.t = leaves, t
}

// set sets instance i's leaf to v.
func (r *roomIndex) set(i int, v int32) {
	k := r.leaves + i
	r.t[k] = v
	for k > 1 {
		k /= 2
		m := max(r.t[2*k], r.t[2*k+1])
		if r.t[k] == m {
			return
		}
		r.t[k] = m
	}
}

// first is the lowest instance index whose leaf is at least g, or -1.
func (r *roomIndex) first(g int32) int {
	if r.leaves == 0 || r.t[1] < g {
		return -1
	}
	k := 1
	for k < r.leaves {
		k *= 2
		if r.t[k] < g {
			k++
		}
	}
	return k - r.leaves
}
