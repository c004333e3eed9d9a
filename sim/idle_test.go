package sim

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// countingPolicy wraps burstOnce and counts its evaluations.
func countingPolicy(calls *int) Policy {
	return Policy{Name: "counting", New: func() DecideFunc {
		return func(pool *policy.Pool, snap policy.Snapshot, insts []policy.Instance, sp policy.Spend, now time.Time) policy.Plan {
			*calls++
			return burstOnce(pool, snap, insts, sp, now)
		}
	}}
}

// TestIdleTimeIsSkipped: two jobs nine years apart cost a handful of
// evaluations, not one per 30 s of the gap; with a schedule, the
// evaluations while its floor holds still run.
func TestIdleTimeIsSkipped(t *testing.T) {
	const year = 365 * 24 * time.Hour
	for _, tt := range []struct {
		name      string
		gap       time.Duration
		schedules []policy.Schedule
		min, max  int
	}{
		// Ticks at 0, 30 and 60 s (the first job ends at 60 s), then one at
		// the second submit, 30 and 60 s after it.
		{"nine idle years", 9 * year, nil, 4, 8},
		// A weekday floor holds 9:00-10:00: every evaluation while it holds
		// runs (120 an hour, 15 weekdays in three weeks), the rest of the
		// gap is skipped (60480 evaluations without skipping).
		{"three weeks with a schedule", 21 * 24 * time.Hour, []policy.Schedule{{Cron: "0 9 * * 1-5", GPUs: 4, Duration: policy.Duration(time.Hour)}},
			15 * 120, 15*120 + 8},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := &trace.Trace{Name: "gap", Start: trace.DefaultEpoch, Jobs: []trace.Job{
				{Submit: 0, Duration: time.Minute, GPUs: 2}, {Submit: tt.gap, Duration: time.Minute, GPUs: 2}}}
			pool := &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
				Offerings: []policy.Offering{offering4}, Schedules: tt.schedules}
			calls := 0
			res, err := Run(context.Background(), Options{Pool: pool, Trace: tr, Policy: countingPolicy(&calls),
				Floors: func(p *policy.Pool, now time.Time) []policy.Floor { return policy.ScheduleFloors(*p, now) }})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d evaluations", calls)
			if calls < tt.min || calls > tt.max {
				t.Errorf("%d evaluations, want %d to %d", calls, tt.min, tt.max)
			}
			if res.WaitMaxS != 0 || res.JobsUnstarted != 0 {
				t.Errorf("result %+v: both jobs should start on arrival", res)
			}
		})
	}
}

// TestIdleYearsAllPolicies runs the four real policies on two jobs nine
// years apart: it finishes (the simulator jumps over the gap) with both jobs
// started on arrival.
func TestIdleYearsAllPolicies(t *testing.T) {
	cfg, err := config.Load(filepath.Join("..", "configs", "examples", "backtest.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tr := &trace.Trace{Name: "gap", Start: trace.DefaultEpoch, Jobs: []trace.Job{
		{Submit: 0, Duration: time.Hour, GPUs: 8}, {Submit: 9 * 365 * 24 * time.Hour, Duration: time.Hour, GPUs: 8}}}
	pool := cfg.Pools[0].Policy
	pool.Schedules = nil
	rep, err := Backtest{Pool: pool, Trace: tr, Policies: []Policy{Spillway(), OnPremOnly(), Threshold(), PerJob()}}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if r.JobsUnstarted != 0 {
			t.Errorf("%s: %d jobs never started", r.Policy, r.JobsUnstarted)
		}
	}
}

// TestBacklogGivenUp: jobs that would queue for centuries on a small pool,
// or for years behind a budget far below their demand, are given up once
// they have queued as long again as the trace's submissions span (at least
// backlogLimit) plus its longest job (plus the budget's period) after the
// last submission: the run ends, they count unstarted, and the result says
// why, instead of evaluating every interval for years (the budget case took
// over a minute for 2,000 jobs) or failing with ErrHorizon.
func TestBacklogGivenUp(t *testing.T) {
	centuries := &trace.Trace{Name: "long", Start: trace.DefaultEpoch}
	for range 40 {
		centuries.Jobs = append(centuries.Jobs, trace.Job{Duration: trace.MaxSpan - time.Hour, GPUs: 8})
	}
	eight := policy.Offering{Name: "eight", Provider: "p", Region: "r", InstanceType: "x8", GPUs: 8, PricePerHour: 24,
		Boot: policy.Duration(3 * time.Minute), Billing: policy.BillingPerSecond}
	budgeted := &policy.Pool{Name: "b", Interval: policy.Duration(30 * time.Second), Offerings: []policy.Offering{eight},
		Limits:  policy.Limits{Budget: &policy.Budget{Amount: 2000, Period: policy.PeriodMonth}},
		ScaleIn: policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}, DrainTimeout: policy.Duration(48 * time.Hour)}}
	days := &trace.Trace{Name: "days", Start: trace.DefaultEpoch}
	for range 50 {
		days.Jobs = append(days.Jobs, trace.Job{Duration: 24 * time.Hour, GPUs: 8})
	}
	for _, tt := range []struct {
		name      string
		pool      *policy.Pool
		tr        *trace.Trace
		pol       Policy
		unstarted int
		until     time.Duration // the deadline: submissions' span (0) → backlogLimit, + longest job (+ period)
	}{
		{"40 ten-year jobs on one node", &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}}, centuries, OnPremOnly(),
			38, backlogLimit + trace.MaxSpan - time.Hour},
		{"50 one-day jobs behind a $2,000 monthly budget", budgeted, days, Spillway(),
			-1, backlogLimit + 24*time.Hour + 31*24*time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var c workCounts
			got, err := Run(context.Background(), Options{Pool: tt.pool, Trace: tt.tr, Policy: tt.pol, counts: &c})
			if err != nil {
				t.Fatal(err)
			}
			// The budget case queued its jobs for 16 months, an
			// evaluation every 30 s: 1.4 million of them. Now the
			// evaluations stop a day (the running job) after the deadline.
			if most := int64((tt.until + 24*time.Hour) / (30 * time.Second)); tt.pol.Name != PolicyOnPremOnly && c.evals > most {
				t.Errorf("%d evaluations, want at most one per interval until a day after the deadline (%d)", c.evals, most)
			}
			if tt.unstarted >= 0 && got.JobsUnstarted != tt.unstarted || got.JobsUnstarted == 0 {
				t.Errorf("%d jobs unstarted, want %d: %+v", got.JobsUnstarted, tt.unstarted, got)
			}
			at := trace.DefaultEpoch.Add(tt.until).UTC().Format(time.DateTime)
			if !strings.Contains(got.Stopped, "still queued at "+at+", when the run gave up on queued jobs") {
				t.Errorf("Stopped = %q, want the jobs given up at %s", got.Stopped, at)
			}
			if max := got.WaitMaxS; max < tt.until.Seconds() {
				t.Errorf("max wait %.0fs, want at least the %.0fs the given-up jobs queued", max, tt.until.Seconds())
			}
			if len(got.BudgetPeriods) > 0 {
				for _, bp := range got.BudgetPeriods {
					if bp.SpendUSD > bp.BudgetUSD {
						t.Errorf("period %s spent $%.2f of $%.2f", bp.Start, bp.SpendUSD, bp.BudgetUSD)
					}
				}
			}
		})
	}
}

// TestIdleSpellsTeachTheThreshold: one-hour jobs come every three hours,
// each on an instance of its own. Until the spillway policy has seen
// policy.MinIdleSpells idle spells, an idle instance is kept for the
// ski-rental break-even (its 3-minute boot); once the spells show that no
// job comes back within it, it is released at the next evaluation. The
// report splits the GPU-hours paid and not used into booting and idle.
func TestIdleSpellsTeachTheThreshold(t *testing.T) {
	const jobs = 30
	one := policy.Offering{Name: "one", Provider: "p", Region: "r", InstanceType: "x1", GPUs: 1, PricePerHour: 3,
		Boot: policy.Duration(3 * time.Minute), Billing: policy.BillingPerSecond}
	// A job holds the one on-prem GPU for the whole trace.
	tr := &trace.Trace{Name: "sparse", Start: trace.DefaultEpoch, Jobs: []trace.Job{{Submit: 0, Duration: 1000 * time.Hour, GPUs: 1}}}
	for i := range jobs {
		tr.Jobs = append(tr.Jobs, trace.Job{Submit: time.Hour + time.Duration(i)*3*time.Hour, Duration: time.Hour, GPUs: 1})
	}
	pool := &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 1}, Interval: policy.Duration(30 * time.Second),
		Offerings: []policy.Offering{one}, ScaleIn: policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}}}
	res, err := Run(context.Background(), Options{Pool: pool, Trace: tr, Policy: Spillway()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Launches != jobs {
		t.Fatalf("%d launches, want one per job (%d)", res.Launches, jobs)
	}
	if want := jobs * 3.0 / 60; math.Abs(res.BootGPUHours-want) > 1e-9 {
		t.Errorf("boot GPU-hours %.4f, want %d boots of 3m = %.4f", res.BootGPUHours, jobs, want)
	}
	// Kept for the break-even, every spell would idle at least 3 minutes:
	// 1.5 GPU-hours. Learned, the first spells do (until MinIdleSpells
	// have resolved: a released spell resolves an hour on, when no launch
	// came) and the rest end within an evaluation and the minute after.
	kept := jobs * 3.0 / 60
	learned := float64(policy.MinIdleSpells+1)*(3.5/60) + float64(jobs-policy.MinIdleSpells-1)*(1.5/60)
	t.Logf("idle GPU-hours %.3f (break-even throughout: at least %.3f)", res.IdleGPUHours, kept)
	if res.IdleGPUHours > learned || res.IdleGPUHours <= 0 {
		t.Errorf("idle GPU-hours %.3f, want above 0 and at most %.3f (kept for the break-even throughout: %.3f)", res.IdleGPUHours, learned, kept)
	}
	if over := res.PaidGPUHours - res.UsedGPUHours - res.BootGPUHours - res.IdleGPUHours; math.Abs(over) > 1e-6 {
		t.Errorf("paid %.4f - used %.4f - boot %.4f - idle %.4f = %.6f, want 0 (one job per instance, nothing part-idle)",
			res.PaidGPUHours, res.UsedGPUHours, res.BootGPUHours, res.IdleGPUHours, over)
	}
}

// TestFloorIdleIsCounted: a schedule floor holds an 8-GPU instance idle
// for its hour; the report counts those GPU-hours as held for the floor,
// and a baseline, which keeps no floor, holds none.
func TestFloorIdleIsCounted(t *testing.T) {
	eight := policy.Offering{Name: "eight", Provider: "p", Region: "r", InstanceType: "x8", GPUs: 8, PricePerHour: 8,
		Boot: policy.Duration(3 * time.Minute), Billing: policy.BillingPerSecond}
	pool := &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
		Offerings: []policy.Offering{eight}, ScaleIn: policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}},
		Schedules: []policy.Schedule{{Name: "peak", Cron: "0 9 * * *", GPUs: 8, Duration: policy.Duration(time.Hour)}}}
	// One short job at 09:30 on the first day, on-prem: nothing else runs.
	tr := &trace.Trace{Name: "floor", Start: trace.DefaultEpoch, Jobs: []trace.Job{{Submit: 9*time.Hour + 30*time.Minute, Duration: time.Minute, GPUs: 1}}}
	floors := func(p *policy.Pool, now time.Time) []policy.Floor { return policy.ScheduleFloors(*p, now) }
	for _, tt := range []struct {
		policy   Policy
		min, max float64
	}{
		// The floor launches at 09:00; the instance is up at 09:03 and
		// held idle until 10:00 (counted per 30 s evaluation).
		{Spillway(), 8 * 56.0 / 60, 8 * 58.0 / 60},
		{Admitted(PerJob()), 0, 0},
	} {
		res, err := Run(context.Background(), Options{Pool: pool, Trace: tr, Policy: tt.policy, Floors: floors})
		if err != nil {
			t.Fatal(err)
		}
		if res.FloorIdleGPUHours < tt.min || res.FloorIdleGPUHours > tt.max || res.FloorIdleGPUHours > res.IdleGPUHours+1e-9 {
			t.Errorf("%s: %.3f GPU-h idle for floors (of %.3f idle), want %.3f to %.3f", tt.policy.Name, res.FloorIdleGPUHours, res.IdleGPUHours, tt.min, tt.max)
		}
	}
}
