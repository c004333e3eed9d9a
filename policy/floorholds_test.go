package policy

import (
	"maps"
	"reflect"
	"testing"
	"time"
)

// TestFloorHolds: each active floor holds the instances launched for it
// and, when those fall short, keeps instances of no active floor (queue
// demand's, an ended floor's), busy or booting ones first, then the
// cheapest, then the last by ID (the order scale-in keeps them in); what
// no active floor needs is held by none.
func TestFloorHolds(t *testing.T) {
	now := dtT0
	p4d, g6e := dtP4d(), dtG6e()
	inst := func(id string, o Offering, state InstanceState, busy int, floor string) Instance {
		in := dtInst(id, o, state, now.Add(-time.Hour), busy)
		in.Floor = floor
		return in
	}
	manual := func(owner string, gpus int) Floor {
		return Floor{Kind: FloorManual, Owner: owner, GPUs: gpus, Until: now.Add(time.Hour)}
	}
	for _, tt := range []struct {
		name   string
		floors []Floor
		inst   []Instance
		want   map[string]string
	}{
		{
			name:   "a burst keeps an instance launched for queue demand",
			floors: []Floor{manual("b-1", 8)},
			inst:   []Instance{inst("i-queue", p4d, StateRunning, 0, "")},
			want:   map[string]string{"i-queue": "b-1"},
		},
		{
			name:   "its own instances first, then only what it lacks",
			floors: []Floor{manual("b-1", 12)},
			inst:   []Instance{inst("i-own", p4d, StateRunning, 0, "b-1"), inst("i-q1", g6e, StateRunning, 0, ""), inst("i-q2", g6e, StateRunning, 0, "")},
			want:   map[string]string{"i-own": "b-1", "i-q2": "b-1"},
		},
		{
			name:   "busy before idle, then the cheapest",
			floors: []Floor{manual("b-1", 8)},
			inst:   []Instance{inst("i-cheap", g6e, StateRunning, 0, ""), inst("i-busy", p4d, StateRunning, 3, "")},
			want:   map[string]string{"i-busy": "b-1"},
		},
		{
			name:   "the cheapest idle one (g6e at $10.49 an hour against p4d at $21.96)",
			floors: []Floor{manual("b-1", 4)},
			inst:   []Instance{inst("i-p4d", p4d, StateRunning, 0, ""), inst("i-g6e", g6e, StateRunning, 0, "")},
			want:   map[string]string{"i-g6e": "b-1"},
		},
		{
			name:   "floors in order share what no floor launched",
			floors: []Floor{{Kind: FloorSchedule, Owner: "weekday", GPUs: 8, Until: now.Add(time.Hour)}, manual("b-1", 8)},
			inst:   []Instance{inst("i-a", p4d, StateRunning, 0, ""), inst("i-b", p4d, StateRunning, 0, ""), inst("i-c", p4d, StateRunning, 0, "")},
			want:   map[string]string{"i-c": "weekday", "i-b": "b-1"},
		},
		{
			name:   "an ended floor's instance is kept by an active one",
			floors: []Floor{manual("b-1", 8), {Kind: FloorManual, Owner: "b-old", GPUs: 8, Until: now}},
			inst:   []Instance{inst("i-old", p4d, StateRunning, 0, "b-old")},
			want:   map[string]string{"i-old": "b-1"},
		},
		{
			name:   "a draining instance is held by none",
			floors: []Floor{manual("b-1", 8)},
			inst:   []Instance{inst("i-draining", p4d, StateDraining, 0, "b-1"), inst("i-booting", p4d, StateBooting, 0, "b-1")},
			want:   map[string]string{"i-booting": "b-1"},
		},
		{
			name: "no active floor holds nothing",
			inst: []Instance{inst("i-queue", p4d, StateRunning, 0, "")},
			want: map[string]string{},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := FloorHolds(tt.floors, tt.inst, now); !maps.Equal(got, tt.want) {
				t.Errorf("FloorHolds = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestFloorHoldsAgreesWithDecide: an instance FloorHolds says a floor
// keeps is one Decide keeps for it, launching nothing more: the manual
// burst that found an idle instance launched for queue demand holds it.
func TestFloorHoldsAgreesWithDecide(t *testing.T) {
	now := dtT0
	perSec := dtP4d()
	perSec.Billing = BillingPerSecond
	floors := []Floor{{Kind: FloorManual, Owner: "b-1", GPUs: 8, Until: now.Add(time.Hour)}}
	inst := []Instance{
		dtIdle(dtInst("i-queue", perSec, StateRunning, now.Add(-2*time.Hour), 0), now.Add(-time.Hour)),
		dtIdle(dtInst("i-spare", perSec, StateRunning, now.Add(-2*time.Hour), 0), now.Add(-time.Hour)),
	}
	inst[1].Offering.PricePerHour++ // the dearer one goes
	p := Decide(dtPool(perSec), Snapshot{Time: now, Floors: floors}, inst, Spend{}, now)
	if len(p.Launches) != 0 || !reflect.DeepEqual(dtIDs(p.Drains), []string{"i-spare"}) {
		t.Fatalf("Decide launched %+v and drained %v, want nothing launched and only i-spare drained", p.Launches, dtIDs(p.Drains))
	}
	want := map[string]string{"i-queue": "b-1"}
	if got := FloorHolds(floors, inst, now); !maps.Equal(got, want) {
		t.Errorf("FloorHolds = %v, want %v: the instance Decide keeps for the floor", got, want)
	}
}

// TestFloorHoldsKeepsWhatScaleInKeeps: of idle instances no floor
// launched, the ones FloorHolds gives a floor are the ones scale-in keeps
// for it, which drains the costliest instance first (by its price, not
// per GPU) and, between equal prices, the first by ID.
func TestFloorHoldsKeepsWhatScaleInKeeps(t *testing.T) {
	now := dtT0
	perSec := func(o Offering) Offering { o.Billing = BillingPerSecond; return o }
	big := perSec(dtP4d()) // $21.96 for 8 GPUs: $2.75 per GPU
	small := perSec(dtG6e())
	small.PricePerHour = 12 // $12 for 4 GPUs: $3 per GPU, cheaper in all
	idle := func(id string, o Offering) Instance {
		return dtIdle(dtInst(id, o, StateRunning, now.Add(-2*time.Hour), 0), now.Add(-time.Hour))
	}
	for _, tt := range []struct {
		name   string
		floorG int
		inst   []Instance
		offs   []Offering
		kept   string
	}{
		{"the cheaper in all, dearer per GPU", 4, []Instance{idle("i-big", big), idle("i-small", small)}, []Offering{big, small}, "i-small"},
		{"equal prices: the last by ID", 8, []Instance{idle("i-a", big), idle("i-b", big)}, []Offering{big}, "i-b"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			floors := []Floor{{Kind: FloorManual, Owner: "b-1", GPUs: tt.floorG, Until: now.Add(time.Hour)}}
			p := Decide(dtPool(tt.offs...), Snapshot{Time: now, Floors: floors}, tt.inst, Spend{}, now)
			drained := map[string]bool{}
			for _, id := range dtIDs(p.Drains) {
				drained[id] = true
			}
			if len(p.Launches) != 0 || len(drained) != len(tt.inst)-1 || drained[tt.kept] {
				t.Fatalf("Decide launched %+v and drained %v, want nothing launched and all but %s drained", p.Launches, dtIDs(p.Drains), tt.kept)
			}
			want := map[string]string{tt.kept: "b-1"}
			if got := FloorHolds(floors, tt.inst, now); !maps.Equal(got, want) {
				t.Errorf("FloorHolds = %v, want %v: the instance Decide keeps for the floor", got, want)
			}
		})
	}
}

// TestFloorHoldsCountsAFloorsSurplus: floors keep capacity together, as
// scale-in and the floors stage count it: what a floor launched beyond its
// GPUs (a whole instance for a part of it) covers another floor, which
// then keeps no instance launched for queue demand; scale-in drains it.
func TestFloorHoldsCountsAFloorsSurplus(t *testing.T) {
	now := dtT0
	perSec := dtP4d()
	perSec.Billing = BillingPerSecond
	idle := func(id, floor string) Instance {
		in := dtIdle(dtInst(id, perSec, StateRunning, now.Add(-2*time.Hour), 0), now.Add(-time.Hour))
		in.Floor = floor
		return in
	}
	floors := []Floor{
		{Kind: FloorManual, Owner: "b-1", GPUs: 6, Until: now.Add(time.Hour)},
		{Kind: FloorManual, Owner: "b-2", GPUs: 2, Until: now.Add(time.Hour)},
	}
	inst := []Instance{idle("i-b1", "b-1"), idle("i-queue", "")}
	p := Decide(dtPool(perSec), Snapshot{Time: now, Floors: floors}, inst, Spend{}, now)
	if len(p.Launches) != 0 || !reflect.DeepEqual(dtIDs(p.Drains), []string{"i-queue"}) {
		t.Fatalf("Decide launched %+v and drained %v, want nothing launched and i-queue drained", p.Launches, dtIDs(p.Drains))
	}
	want := map[string]string{"i-b1": "b-1"}
	if got := FloorHolds(floors, inst, now); !maps.Equal(got, want) {
		t.Errorf("FloorHolds = %v, want %v: b-1's 2 GPUs beyond its 6 cover b-2, and Decide drains i-queue", got, want)
	}
}
