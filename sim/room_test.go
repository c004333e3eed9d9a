package sim

import (
	"math/rand/v2"
	"testing"
)

// TestRoomIndexFindsFirstFit: after random growth and leaf changes, first
// answers what a walk over the leaves in order answers.
func TestRoomIndexFindsFirstFit(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var idx roomIndex
	var leaves []int32
	for step := range 20_000 {
		switch op := r.IntN(10); {
		case op == 0 || len(leaves) == 0:
			leaves = append(leaves, -1)
			idx.grow(len(leaves))
		case op < 6:
			i := r.IntN(len(leaves))
			leaves[i] = int32(r.IntN(10)) - 1
			idx.set(i, leaves[i])
		default:
			g := int32(1 + r.IntN(8))
			want := -1
			for i, v := range leaves {
				if v >= g {
					want = i
					break
				}
			}
			if got := idx.first(g); got != want {
				t.Fatalf("step %d: first(%d) over %d leaves = %d, want %d", step, g, len(leaves), got, want)
			}
		}
	}
	if len(leaves) < 1000 {
		t.Fatalf("only %d leaves: growth not exercised", len(leaves))
	}
}
