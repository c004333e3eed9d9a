package policy

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"
)

// TestAdmit holds a baseline's plan to the pool's hard rules.
func TestAdmit(t *testing.T) {
	now := dtT0
	one := func(o Offering) Launch { return Launch{Offering: o, Count: 1, Reason: "resume for a job"} }
	for _, tt := range []struct {
		name  string
		pool  *Pool
		snap  Snapshot
		inst  []Instance
		spend Spend
		plan  Plan
		want  map[string]int
		check func(t *testing.T, p Plan)
	}{
		{
			name: "launches of one offering merge and are cut by max_gpus",
			pool: withLimits(dtPool(dtP4d()), Limits{MaxGPUs: 16}),
			plan: Plan{Launches: []Launch{one(dtP4d()), one(dtP4d()), one(dtP4d())}},
			want: map[string]int{"p4d": 2},
			check: func(t *testing.T, p Plan) {
				if len(p.Launches) != 1 || !reflect.DeepEqual(p.BoundBy, []string{LimitMaxGPUs}) {
					t.Errorf("launches %+v, bound by %v: want one merged launch, max_gpus bound", p.Launches, p.BoundBy)
				}
			},
		},
		{
			name: "the budget cuts launches as it cuts the engine's (each commits until drain_timeout after the next tick: $3.84)",
			pool: withLimits(dtPool(dtP4d()), Limits{Budget: &Budget{Amount: 100, Period: PeriodMonth}}),
			plan: Plan{Launches: []Launch{one(dtP4d()), one(dtP4d()), one(dtP4d())}},
			// 90 + 2 × 3.843 fits, + 3 does not.
			spend: Spend{Accrued: 90},
			want:  map[string]int{"p4d": 2},
		},
		{
			name: "an offering in the capacity cache is not launched",
			pool: dtPool(dtP4d(), dtG6e()),
			snap: Snapshot{Unavailable: map[OfferingKey]time.Time{dtP4d().Key(): now.Add(time.Minute)}},
			plan: Plan{Launches: []Launch{one(dtP4d()), one(dtG6e())}},
			want: map[string]int{"g6e": 1},
		},
		{
			name: "the plan's drains are kept; a drain past drain_timeout is ended",
			pool: dtPool(dtP4d()),
			inst: []Instance{
				dtIdle(dtInst("i-idle", dtP4d(), StateRunning, now.Add(-time.Hour), 0), now.Add(-time.Hour)),
				func() Instance {
					in := dtInst("i-old", dtP4d(), StateDraining, now.Add(-2*time.Hour), 8)
					in.DrainStartedAt = now.Add(-time.Hour)
					return in
				}(),
			},
			plan: Plan{Drains: []Action{{InstanceID: "i-idle", Reason: "idle for SuspendTime"}}},
			check: func(t *testing.T, p Plan) {
				if got := dtIDs(p.Drains); !reflect.DeepEqual(got, []string{"i-idle"}) {
					t.Errorf("drains %v, want [i-idle]", got)
				}
				if got := dtIDs(p.Terminates); !reflect.DeepEqual(got, []string{"i-old"}) {
					t.Errorf("terminates %v, want [i-old] (drain_timeout 10m passed)", got)
				}
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.snap.Time = now
			p := Admit(tt.pool, tt.snap, tt.inst, tt.spend, now, tt.plan)
			// AdmitWithoutNotes plans the same, without Admit's notes.
			quiet := AdmitWithoutNotes(tt.pool, tt.snap, tt.inst, tt.spend, now, tt.plan)
			if want := withNotes(p, tt.plan.Notes); !reflect.DeepEqual(quiet, want) {
				t.Errorf("AdmitWithoutNotes = %+v, want Admit's plan without its notes %+v", quiet, want)
			}
			if tt.want != nil {
				dtWantLaunch(tt.want)(t, p)
			}
			if tt.check != nil {
				tt.check(t, p)
			}
		})
	}
}

func withLimits(p *Pool, l Limits) *Pool { p.Limits = l; return p }

// withNotes is p with notes n.
func withNotes(p Plan, n []string) Plan { p.Notes = n; return p }

// TestAdmitWithoutNotesFormatsNone: a launch cut by a limit at every
// evaluation (a simulated baseline while max_gpus binds) costs Admit a
// formatted note each time; AdmitWithoutNotes, whose caller drops them,
// formats none.
func TestAdmitWithoutNotesFormatsNone(t *testing.T) {
	now := dtT0
	pool := withLimits(dtPool(dtP4d()), Limits{MaxGPUs: 16})
	one := Launch{Offering: dtP4d(), Count: 1, Reason: "resume for a job"}
	plan := Plan{Launches: []Launch{one, one, one}}
	snap := Snapshot{Time: now}
	if p := Admit(pool, snap, nil, Spend{}, now, plan); len(p.Notes) == 0 {
		t.Fatalf("Admit wrote no note for a launch cut by max_gpus: the case does not cut")
	}
	noisy := testing.AllocsPerRun(50, func() { Admit(pool, snap, nil, Spend{}, now, plan) })
	quiet := testing.AllocsPerRun(50, func() { AdmitWithoutNotes(pool, snap, nil, Spend{}, now, plan) })
	// Admit's note is a fmt.Sprintf of four values (two of them boxed)
	// and the notes slice: at least 3 allocations more.
	if quiet > noisy-3 {
		t.Errorf("AdmitWithoutNotes allocates %.0f times an evaluation, Admit %.0f: the cut's note is still formatted", quiet, noisy)
	}
}

// A baseline's plan that drains an instance or two of a large fleet (per
// job's suspend, karpenter's consolidation: at most evaluations of a
// deep queue) finds them without building an index of the fleet: a map
// of every instance for each such plan was a tenth of a million-job
// backtest's allocations. A plan naming more finds them as well, and
// the last instance of an ID is the one named either way.
func TestAdmitFindsNamedInstances(t *testing.T) {
	now := dtT0
	pool := dtPool(dtP4d())
	var fleet []Instance
	for i := range 64 {
		fleet = append(fleet, dtInst(fmt.Sprintf("i-%02d", i), dtP4d(), StateRunning, now.Add(-time.Hour), 8))
	}
	idle := func(ids ...string) []Instance {
		inst := slices.Clone(fleet)
		for i := range inst {
			if slices.Contains(ids, inst[i].ID) {
				inst[i] = dtIdle(dtInst(inst[i].ID, dtP4d(), StateRunning, now.Add(-time.Hour), 0), now.Add(-30*time.Minute))
			}
		}
		return inst
	}
	drains := func(ids ...string) Plan {
		var p Plan
		for _, id := range ids {
			p.Drains = append(p.Drains, Action{InstanceID: id, Reason: "idle for SuspendTime"})
		}
		return p
	}
	draining := dtInst("i-07", dtP4d(), StateDraining, now.Add(-time.Hour), 8)
	draining.DrainStartedAt = now.Add(-time.Minute)
	snap := Snapshot{Time: now}
	for _, tc := range []struct {
		name string
		inst []Instance
		plan Plan
		want []string
	}{
		{name: "one", inst: idle("i-07"), plan: drains("i-07"), want: []string{"i-07"}},
		{name: "one unknown", inst: idle("i-07"), plan: drains("i-99"), want: nil},
		{name: "four", inst: idle("i-01", "i-02", "i-03", "i-63"), plan: drains("i-63", "i-01", "i-02", "i-03"), want: []string{"i-63", "i-01", "i-02", "i-03"}},
		{name: "six", inst: idle("i-01", "i-02", "i-03", "i-04", "i-05", "i-63"), plan: drains("i-01", "i-02", "i-03", "i-04", "i-05", "i-63"),
			want: []string{"i-01", "i-02", "i-03", "i-04", "i-05", "i-63"}},
		// The last i-07 drains already: the drain named is not planned
		// again, where the first would be drained.
		{name: "an ID twice in the fleet: the last", inst: append(idle("i-07"), draining), plan: drains("i-07"), want: nil},
		{name: "an ID twice in the fleet, six named: the last", inst: append(idle("i-01", "i-02", "i-03", "i-04", "i-05", "i-07"), draining),
			plan: drains("i-01", "i-02", "i-03", "i-04", "i-05", "i-07"), want: []string{"i-01", "i-02", "i-03", "i-04", "i-05"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := AdmitWithoutNotes(pool, snap, tc.inst, Spend{}, now, tc.plan)
			if got := dtIDs(p.Drains); !slices.Equal(got, tc.want) {
				t.Errorf("drains %v, want %v", got, tc.want)
			}
		})
	}
	inst := idle("i-07")
	none := testing.AllocsPerRun(50, func() { AdmitWithoutNotes(pool, snap, inst, Spend{}, now, Plan{}) })
	one := testing.AllocsPerRun(50, func() { AdmitWithoutNotes(pool, snap, inst, Spend{}, now, drains("i-07")) })
	t.Logf("%.0f allocations without a drain, %.0f with one", none, one)
	if one > none+3 {
		t.Errorf("a plan draining one of 64 instances allocates %.0f times, one draining none %.0f: want at most 3 more (the plan named and the drain admitted)", one, none)
	}
}
