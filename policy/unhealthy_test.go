package policy

import (
	"strings"
	"testing"
	"time"
)

// TestUnhealthyGPUsAreNoRoom: an idle p4d (8 GPUs), idle for an hour past
// its threshold, some of whose GPUs are unhealthy (Instance.UnhealthyGPUs:
// they can take no job), beside a job waiting two hours. Before, its
// unhealthy GPUs counted as room: an 8-GPU job was placed on it and
// nothing launched, and, idle past UnusedAfter, the instance was drained
// as "unused" and p4d held out of launches for an hour, as if the
// scheduler would not start the job there. Now only its healthy GPUs are
// room: the 8-GPU job has a p4d launched and the instance is released as
// idle; a job that fits its healthy GPUs is placed on them, as on any
// idle instance. Its idle drain's reason said "all 8 GPUs idle" of GPUs
// some (or all) of which were unhealthy; it says how many are each.
func TestUnhealthyGPUsAreNoRoom(t *testing.T) {
	now := dtT0
	p4d := dtP4d()
	for _, c := range []struct {
		name      string
		unhealthy int
		job       int
		launches  int    // p4d instances launched
		drain     string // the instance's drain reason starts so
		unused    bool   // p4d held out as unused
	}{
		{"healthy, an 8-GPU job", 0, 8, 0, "unused", true},
		{"2 unhealthy, an 8-GPU job", 2, 8, 1, "idle: 6 of its 8 GPUs idle and 2 unhealthy, none busy, for 1h", false},
		{"2 unhealthy, a 6-GPU job", 2, 6, 0, "unused", true},
		{"8 unhealthy, a 1-GPU job", 8, 1, 1, "idle: none of its 8 GPUs busy, all unhealthy, for 1h", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := dtIdle(dtInst("i-1", p4d, StateRunning, now.Add(-3*time.Hour), 0), now.Add(-time.Hour))
			in.UnhealthyGPUs = c.unhealthy
			p := Decide(dtPool(p4d), dtBusySnap(2*time.Hour, c.job), []Instance{in}, Spend{}, now)
			if got := dtLaunched(p)["p4d"]; got != c.launches {
				t.Errorf("%d p4d launched for a %d-GPU job beside an idle p4d with %d GPUs unhealthy, want %d", got, c.job, c.unhealthy, c.launches)
			}
			if len(p.Drains) != 1 || !strings.HasPrefix(p.Drains[0].Reason, c.drain) {
				t.Errorf("drains %+v, want i-1 drained as %s", p.Drains, c.drain)
			}
			if unused := len(p.Unused) > 0; unused != c.unused {
				t.Errorf("Unused = %v, want p4d held out: %v", p.Unused, c.unused)
			}
		})
	}
}

// TestUnhealthyGPUsHoldNoFloor: a manual burst of 8 GPUs held by the p4d
// (8 GPUs) launched for it, running and idle, some of whose GPUs are
// unhealthy and not busy (they can take no job). Before, the floor counted
// the instance whole as held capacity and launched nothing, so a floor of
// 8 GPUs held 6 (or none) that could run a job, for as long as the burst
// lasted. Now only its healthy GPUs hold the floor: what they lack is
// launched for it.
func TestUnhealthyGPUsHoldNoFloor(t *testing.T) {
	now := dtT0
	p4d := dtP4d()
	floors := []Floor{{Kind: FloorManual, Owner: "b-1", GPUs: 8, Until: now.Add(time.Hour)}}
	for _, c := range []struct {
		name      string
		unhealthy int
		launches  int    // p4d instances launched for b-1
		holder    string // FloorHolds' holder of i-1
	}{
		{"healthy", 0, 0, "b-1"},
		{"2 unhealthy", 2, 1, "b-1"},
		{"8 unhealthy", 8, 1, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := dtIdle(dtInst("i-1", p4d, StateRunning, now.Add(-time.Hour), 0), now.Add(-time.Minute))
			in.Floor, in.UnhealthyGPUs = "b-1", c.unhealthy
			p := Decide(dtPool(p4d), Snapshot{Time: now, Floors: floors}, []Instance{in}, Spend{}, now)
			if got := dtLaunched(p)["p4d"]; got != c.launches {
				t.Errorf("%d p4d launched for a floor of 8 GPUs held by a p4d with %d unhealthy, want %d (launches %+v, notes %q)", got, c.unhealthy, c.launches, p.Launches, p.Notes)
			}
			for _, l := range p.Launches {
				if l.Floor != "b-1" {
					t.Errorf("launch %+v is for floor %q, want b-1", l, l.Floor)
				}
			}
			if got := FloorHolds(floors, []Instance{in}, now)["i-1"]; got != c.holder {
				t.Errorf("FloorHolds says i-1 is held by %q, want %q", got, c.holder)
			}
		})
	}
}

// TestAllUnhealthyIsNotKeptForAFloor: a floor of 8 GPUs that max_gpus (8)
// keeps from launching more, beside an idle p4d past its threshold all of
// whose GPUs are unhealthy. It holds nothing the floor can use: it is
// released as idle, not kept for the floor (before, it was, billed for
// GPUs no job could run on until the floor ended).
func TestAllUnhealthyIsNotKeptForAFloor(t *testing.T) {
	now := dtT0
	p4d := dtP4d()
	pool := dtPool(p4d)
	pool.Limits.MaxGPUs = 8
	floors := []Floor{{Kind: FloorManual, Owner: "b-1", GPUs: 8, Until: now.Add(time.Hour)}}
	in := dtIdle(dtInst("i-1", p4d, StateRunning, now.Add(-3*time.Hour), 0), now.Add(-time.Hour))
	in.Floor, in.UnhealthyGPUs = "b-1", 8
	p := Decide(pool, Snapshot{Time: now, Floors: floors}, []Instance{in}, Spend{}, now)
	if len(p.Drains) != 1 || !strings.HasPrefix(p.Drains[0].Reason, "idle: none of its 8 GPUs busy, all unhealthy") {
		t.Errorf("drains %+v (notes %q); want i-1, all of whose GPUs are unhealthy, released as idle", p.Drains, p.Notes)
	}
}
