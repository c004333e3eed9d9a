package policy

import (
	"reflect"
	"testing"
	"time"
)

// TestSoftBudget shows what a soft budget changes: a launch commits its
// cost until the period's end (or until max_lifetime and drain_timeout end
// it), and nothing running is cut for money; the same cases in hard mode
// show the difference.
func TestSoftBudget(t *testing.T) {
	now := dtT0 // Monday 10:00 UTC: the day ends 14 h later
	soft := func(amount float64, period BudgetPeriod) Limits {
		return Limits{Budget: &Budget{Amount: amount, Period: period, Mode: BudgetSoft}}
	}
	hard := func(amount float64, period BudgetPeriod) Limits {
		return Limits{Budget: &Budget{Amount: amount, Period: period, Mode: BudgetHard}}
	}
	lifetime := func(p *Pool) *Pool { p.ScaleIn.MaxLifetime = Duration(2 * time.Hour); return p }
	busy := []Instance{dtInst("i-busy", dtP4d(), StateRunning, now.Add(-time.Hour), 8)}
	noCuts := func(t *testing.T, p Plan) {
		t.Helper()
		if len(p.Drains) != 0 || len(p.Terminates) != 0 || len(p.Launches) != 0 {
			t.Errorf("soft: want no drain, termination or launch, got %+v", p)
		}
	}
	for _, c := range []dtCase{
		{
			// 3 p4d wanted; each commits $21.96 × 14 h = $307.44 until the
			// day's end: 50 + 2 × 307.44 fits in 700, 3 do not.
			name:  "soft: a launch commits its cost until the period's end",
			pool:  withLimits(dtPool(dtP4d()), soft(700, PeriodDay)),
			snap:  dtBusySnap(time.Hour, 8, 8, 8),
			spend: Spend{Accrued: 50},
			now:   now,
			check: func(t *testing.T, p Plan) {
				dtWantLaunch(map[string]int{"p4d": 2})(t, p)
				if !reflect.DeepEqual(p.BoundBy, []string{LimitBudget}) {
					t.Errorf("BoundBy = %v, want [budget]", p.BoundBy)
				}
				dtHasNote(t, p, "cut from 3 to 2 instances by limit soft budget $700.00 per day (committed $50.00 this day")
				dtHasNote(t, p, "one more p4d commits $307.44")
			},
		},
		{
			name:  "hard: the same launch commits until drain_timeout after the next evaluation",
			pool:  withLimits(dtPool(dtP4d()), hard(700, PeriodDay)),
			snap:  dtBusySnap(time.Hour, 8, 8, 8),
			spend: Spend{Accrued: 50},
			now:   now,
			check: dtWantLaunch(map[string]int{"p4d": 3}),
		},
		{
			// the running p4d, 1h30m old: until max_lifetime in 30 m, then
			// drain_timeout 10 m: $14.64; each launch: 2h10m, $47.58.
			// 50 + 14.64 + 2 × 47.58 = 159.8 fits in 180, 3 do not.
			name:  "soft: max_lifetime and drain_timeout bound how long a launch is counted",
			pool:  withLimits(lifetime(dtPool(dtP4d())), soft(180, PeriodDay)),
			snap:  dtBusySnap(time.Hour, 8, 8, 8),
			inst:  []Instance{dtInst("i-busy", dtP4d(), StateRunning, now.Add(-3*time.Hour/2), 8)},
			spend: Spend{Accrued: 50},
			now:   now,
			check: func(t *testing.T, p Plan) {
				dtWantLaunch(map[string]int{"p4d": 2})(t, p)
				dtHasNote(t, p, "(committed $64.64 this day")
				dtHasNote(t, p, "one more p4d commits $47.58")
			},
		},
		{
			// at 23:50 a launch commits 10 minutes: $3.66 each.
			name:  "soft: late in the period a launch commits less",
			pool:  withLimits(dtPool(dtP4d()), soft(10, PeriodDay)),
			snap:  dtBusySnap(time.Hour, 8, 8, 8),
			spend: Spend{Accrued: 2},
			now:   now.Add(13*time.Hour + 50*time.Minute),
			check: dtWantLaunch(map[string]int{"p4d": 2}),
		},
		{
			name:  "soft: over the budget, a busy instance keeps running and nothing is launched",
			pool:  withLimits(dtPool(dtP4d()), soft(100, PeriodMonth)),
			snap:  dtBusySnap(time.Hour, 8),
			inst:  busy,
			spend: Spend{Accrued: 96.2},
			now:   now,
			check: func(t *testing.T, p Plan) {
				noCuts(t, p)
				if !reflect.DeepEqual(p.BoundBy, []string{LimitBudget}) {
					t.Errorf("BoundBy = %v, want [budget]: the soft budget held a launch", p.BoundBy)
				}
				dtHasNote(t, p, "no launch fits the limits: p4d: limit soft budget $100.00 per month (committed $")
			},
		},
		{
			name:  "hard: over the budget, the same busy instance is drained early",
			pool:  withLimits(dtPool(dtP4d()), hard(100, PeriodMonth)),
			snap:  dtBusySnap(time.Hour, 8),
			inst:  busy,
			spend: Spend{Accrued: 96.2},
			now:   now,
			check: func(t *testing.T, p Plan) {
				if got := dtIDs(p.Drains); !reflect.DeepEqual(got, []string{"i-busy"}) {
					t.Errorf("drains = %v, want [i-busy]", got)
				}
			},
		},
		{
			name: "soft: over the budget, idle instances are not ended for money (only by scale-in)",
			pool: withLimits(dtPool(dtP4d(), dtG6e()), soft(100, PeriodMonth)),
			snap: dtBusySnap(time.Hour),
			inst: []Instance{
				dtIdle(dtInst("i-cheap", dtG6e(), StateRunning, now.Add(-time.Hour), 0), now.Add(-time.Minute)),
				dtIdle(dtInst("i-dear", dtP4d(), StateRunning, now.Add(-time.Hour), 0), now.Add(-time.Minute)),
			},
			spend: Spend{Accrued: 92},
			now:   now,
			check: noCuts,
		},
		{
			// the drain ends at the first evaluation 10 m after it began
			// (5 m ago): 5 m more, $1.83; 98 + 1.83 leaves no room for a
			// launch ($307.44 to the day's end).
			name: "soft: a draining instance counts until its drain_timeout",
			pool: withLimits(dtPool(dtP4d()), soft(100.5, PeriodDay)),
			snap: dtBusySnap(time.Hour, 8),
			inst: []Instance{func() Instance {
				in := dtInst("i-drain", dtP4d(), StateDraining, now.Add(-time.Hour), 8)
				in.DrainStartedAt = now.Add(-5 * time.Minute)
				return in
			}()},
			spend: Spend{Accrued: 98},
			now:   now,
			check: func(t *testing.T, p Plan) {
				noCuts(t, p)
				dtHasNote(t, p, "soft budget $100.50 per day (committed $99.83 this day")
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := Decide(c.pool, c.snap, c.inst, c.spend, c.now)
			c.check(t, p)
		})
	}
}

// TestAdmitSoftBudget holds a baseline's plan to a soft budget: its
// launches are cut as the engine's are, and nothing running is cut.
func TestAdmitSoftBudget(t *testing.T) {
	now := dtT0
	one := Launch{Offering: dtP4d(), Count: 1, Reason: "resume for a job"}
	pool := withLimits(dtPool(dtP4d()), Limits{Budget: &Budget{Amount: 700, Period: PeriodDay, Mode: BudgetSoft}})
	p := Admit(pool, Snapshot{Time: now}, nil, Spend{Accrued: 50}, now, Plan{Launches: []Launch{one, one, one}})
	dtWantLaunch(map[string]int{"p4d": 2})(t, p)
	if !reflect.DeepEqual(p.BoundBy, []string{LimitBudget}) {
		t.Errorf("BoundBy = %v, want [budget]", p.BoundBy)
	}

	busy := []Instance{dtInst("i-busy", dtP4d(), StateRunning, now.Add(-time.Hour), 8)}
	pool.Limits.Budget.Amount = 100
	p = Admit(pool, Snapshot{Time: now}, busy, Spend{Accrued: 96.2}, now, Plan{Launches: []Launch{one}})
	if len(p.Launches) != 0 || len(p.Drains) != 0 || len(p.Terminates) != 0 {
		t.Errorf("soft, over budget: want nothing launched and nothing cut, got %+v", p)
	}
}

// TestCloudHoldsSoftBudget: with a soft budget a job can be served when
// its instances fit the budget at the period's last evaluation.
func TestCloudHoldsSoftBudget(t *testing.T) {
	pool := withLimits(dtPool(dtP4d()), Limits{Budget: &Budget{Amount: 5, Period: PeriodMonth, Mode: BudgetSoft}})
	// 2 p4d for 30 s, billed a minute each: $0.73.
	if why := CloudHolds(pool, 16); why != "" {
		t.Errorf("CloudHolds(16) = %q, want it held", why)
	}
	// 20 p4d: $7.32.
	if why, want := CloudHolds(pool, 160), "20 × p4d commit $7.32 even when launched at the period's last evaluation, more than the $5.00 month soft budget"; why != want {
		t.Errorf("CloudHolds(160) = %q, want %q", why, want)
	}
	pool.Limits.Budget.Mode = BudgetHard
	if why := CloudHolds(pool, 16); why == "" {
		t.Error("hard: CloudHolds(16) held, want the budget to refuse it ($7.69)")
	}
}
