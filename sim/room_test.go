package sim

import (
	"math/rand/v2"
	"testing"
)

// TestRoomIndexFindsBestFit: after random changes of room (some recorded,
// some only made stale, as an instance that stops running is), best
// answers what a walk over the instances answers: the fewest free GPUs
// that hold g, the oldest of those; and compact keeps the answers.
func TestRoomIndexFindsBestFit(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var idx roomIndex
	var room []int // each instance's room; -1 when it cannot take work
	roomOf := func(ii int32) int { return room[ii] }
	for step := range 50_000 {
		switch op := r.IntN(10); {
		case op == 0 || len(room) == 0:
			room = append(room, -1)
		case op < 5:
			i := r.IntN(len(room))
			room[i] = r.IntN(10)
			idx.set(i, room[i])
		case op == 5:
			room[r.IntN(len(room))] = -1 // stops running: not recorded
		case op == 6:
			idx.compact(len(room)/8, roomOf)
		default:
			g := 1 + r.IntN(8)
			want := -1
			for i, v := range room {
				if v >= g && (want < 0 || v < room[want]) {
					want = i
				}
			}
			if got := idx.best(g, roomOf); got != want {
				t.Fatalf("step %d: best(%d) over %d instances = %d, want %d", step, g, len(room), got, want)
			}
		}
	}
	if len(room) < 1000 {
		t.Fatalf("only %d instances: growth not exercised", len(room))
	}
}

// TestRoomIndexCompactsRepeats: an instance whose room goes back and forth
// (a job starts and ends on it, again and again) has an entry for each
// time it had a room, all current; compact keeps one per instance and
// room, so the entries follow the fleet, not its history (they once grew
// to 170,000 for 800 instances, and every placement compacted them all).
func TestRoomIndexCompactsRepeats(t *testing.T) {
	var idx roomIndex
	room := make([]int, 100)
	roomOf := func(ii int32) int { return room[ii] }
	for range 50 {
		for i := range room {
			room[i] = 8
			idx.set(i, 8)
			room[i] = 7
			idx.set(i, 7)
			room[i] = 8
			idx.set(i, 8)
		}
	}
	idx.compact(len(room), roomOf)
	if idx.entries > len(room) {
		t.Errorf("%d entries after compacting %d instances: repeats kept", idx.entries, len(room))
	}
	if got := idx.best(8, roomOf); got != 0 {
		t.Errorf("best(8) = %d, want 0 (the oldest with 8 free)", got)
	}
}
