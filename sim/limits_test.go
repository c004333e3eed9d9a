package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// limitCase is a random trace and pool for the limits property test.
type limitCase struct {
	pool policy.Pool
	tr   *trace.Trace
}

func (c limitCase) String() string {
	return fmt.Sprintf("pool %+v limits %+v budget %+v scale_in %+v; trace start %s, %d jobs",
		c.pool.Offerings, c.pool.Limits, *c.pool.Limits.Budget, c.pool.ScaleIn, c.tr.Start, len(c.tr.Jobs))
}

func randomLimitCase(seed uint64) limitCase {
	r := rand.New(rand.NewPCG(seed, 0x5b1d))
	pick := func(n int) int { return r.IntN(n) }
	billings := []policy.Billing{policy.BillingPerSecondMin60, policy.BillingPerSecond, policy.BillingHourly}
	var offs []policy.Offering
	for k := range 1 + pick(3) {
		g := []int{1, 2, 4, 8}[pick(4)]
		offs = append(offs, policy.Offering{
			Name: fmt.Sprintf("o%d", k), Provider: []string{"aws", "ali"}[pick(2)], Region: "r", InstanceType: fmt.Sprintf("t%d", k),
			GPUs: g, PricePerHour: float64(g) * (0.5 + 4*r.Float64()), Boot: policy.Duration(time.Duration(pick(6)) * time.Minute),
			Billing: billings[pick(3)],
		})
	}
	periods := []policy.BudgetPeriod{policy.PeriodDay, policy.PeriodWeek, policy.PeriodMonth}
	pool := policy.Pool{
		Name:       "fuzz",
		OnPrem:     policy.OnPrem{Nodes: pick(4), GPUsPerNode: 8},
		WaitTarget: policy.Duration(time.Duration(pick(21)) * time.Minute),
		Interval:   policy.Duration([]time.Duration{30 * time.Second, time.Minute, 5 * time.Minute}[pick(3)]),
		WholeJobs:  pick(2) == 0,
		Offerings:  offs,
		Limits:     policy.Limits{Budget: &policy.Budget{Amount: float64(20 + pick(3000)), Period: periods[pick(3)]}},
		ScaleIn: policy.ScaleIn{Idle: policy.IdleSetting{Auto: true},
			DrainTimeout: policy.Duration([]time.Duration{0, 10 * time.Minute, 2 * time.Hour, 168 * time.Hour}[pick(4)])},
	}
	if pick(2) == 0 {
		pool.Limits.MaxGPUs = 8 + pick(120)
	}
	if pick(2) == 0 {
		pool.Limits.MaxCostPerHour = float64(10 + pick(300))
	}
	if pick(3) == 0 {
		pool.ScaleIn.MaxLifetime = policy.Duration(time.Duration(1+pick(48)) * time.Hour)
	}
	span := time.Duration(1+pick(4)) * 24 * time.Hour
	tr := &trace.Trace{Name: fmt.Sprintf("random-%d", seed), Start: time.Date(2026, time.Month(1+pick(12)), 1+pick(28), pick(24), 0, 0, 0, time.UTC)}
	n := 30 + pick(150)
	for range n {
		d := time.Duration(60+r.ExpFloat64()*float64([]time.Duration{10 * time.Minute, 2 * time.Hour, 12 * time.Hour}[pick(3)]/time.Second)) * time.Second
		tr.Jobs = append(tr.Jobs, trace.Job{Submit: time.Duration(r.Int64N(int64(span))), Duration: d,
			GPUs: []int{1, 1, 2, 4, 8, 8, 16, 32, 3000}[pick(9)]})
	}
	sortJobs(tr.Jobs)
	return limitCase{pool: pool, tr: tr}
}

func sortJobs(jobs []trace.Job) {
	for i := 1; i < len(jobs); i++ {
		for k := i; k > 0 && jobs[k].Submit < jobs[k-1].Submit; k-- {
			jobs[k], jobs[k-1] = jobs[k-1], jobs[k]
		}
	}
	if len(jobs) > 0 {
		first := jobs[0].Submit
		for i := range jobs {
			jobs[i].Submit -= first
		}
	}
}

// TestHardLimitsHold runs the spillway policy on random traces and pools
// (budgets by day, week and month, every billing rule, drain timeouts from
// none to a week, max_gpus and max_cost_per_hour, unservable jobs) and
// checks that no budget period's spend exceeds its amount and the burst
// never holds more than max_gpus or max_cost_per_hour. It also checks that
// the cases test something: budgets bind, spend comes close to them, and
// jobs are killed by a drain timeout somewhere.
func TestHardLimitsHold(t *testing.T) {
	runs := 48
	if testing.Short() || raceBuild {
		runs = 16
	}
	bound, close, killed := 0, 0, 0
	for seed := range uint64(runs) {
		c := randomLimitCase(seed)
		pool := c.pool
		res, err := Run(context.Background(), Options{Pool: &pool, Trace: c.tr, Policy: Spillway()})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		for _, bp := range res.BudgetPeriods {
			if bp.SpendUSD > bp.BudgetUSD {
				t.Errorf("seed %d: period %s–%s spent $%v of a $%.2f budget\n%s", seed, bp.Start, bp.End, bp.SpendUSD, bp.BudgetUSD, c)
			}
			if bp.SpendUSD > 0.8*bp.BudgetUSD {
				close++
			}
		}
		checkPeaks(t, seed, pool, res, c)
		if res.LimitBoundHours[policy.LimitBudget] > 0 {
			bound++
		}
		if res.JobsKilled > 0 {
			killed++
		}
	}
	t.Logf("%d runs: budget bound in %d, %d periods spent over 80%% of the budget, jobs killed in %d", runs, bound, close, killed)
	if bound < runs/4 || close == 0 || killed == 0 {
		t.Errorf("the random cases do not exercise the limits: budget bound in %d of %d runs, %d periods over 80%% spent, kills in %d runs", bound, runs, close, killed)
	}
}

// TestTinyBudgetHolds is the first case: the backtest config with a
// $1,000 monthly budget on the default trace (two months) once billed
// about $88,000. Every month must now stay within $1,000, and the report
// must say that the budget bound.
func TestTinyBudgetHolds(t *testing.T) {
	pool := backtestPool(t)
	pool.Limits.Budget = &policy.Budget{Amount: 1000, Period: policy.PeriodMonth}
	tr := loadBundled(t, "itp/cluster02.csv")
	res, err := Run(context.Background(), Options{Pool: &pool, Trace: tr, Policy: Spillway()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.BudgetPeriods) < 2 {
		t.Fatalf("budget periods %+v: want the trace's months", res.BudgetPeriods)
	}
	total := 0.0
	for _, bp := range res.BudgetPeriods {
		total += bp.SpendUSD
		if bp.SpendUSD > bp.BudgetUSD {
			t.Errorf("%s: spent $%.2f of a $%.2f budget", bp.Start.Format("2006-01"), bp.SpendUSD, bp.BudgetUSD)
		}
	}
	if !near(total, res.CloudCostUSD) && total-res.CloudCostUSD > 1e-6 {
		t.Errorf("periods add up to $%.2f, the run billed $%.2f", total, res.CloudCostUSD)
	}
	if res.CloudCostUSD <= 0 || res.LimitBoundHours[policy.LimitBudget] <= 0 {
		t.Errorf("cost $%.2f, budget bound %.1f h: want some spend and the budget binding", res.CloudCostUSD, res.LimitBoundHours[policy.LimitBudget])
	}
	t.Logf("spent $%.2f over %d periods; budget bound %.0f h; %d kills, %.0f GPU-h lost; p95 wait %.0fs",
		res.CloudCostUSD, len(res.BudgetPeriods), res.LimitBoundHours[policy.LimitBudget], res.JobsKilled, res.GPUHoursLost, res.WaitP95S)
}

// TestUnservableJobNotRented is the second case: one 2,200-GPU job,
// more than on-prem plus max_gpus, once made 452,608 launches. It must be
// counted as never served, with why, left out of the waits, and rent
// nothing for itself.
func TestUnservableJobNotRented(t *testing.T) {
	pool := backtestPool(t)
	tr := &trace.Trace{Name: "huge", Start: trace.DefaultEpoch, Jobs: []trace.Job{
		{Submit: 0, Duration: time.Hour, GPUs: 2200},
		{Submit: time.Minute, Duration: time.Hour, GPUs: 8},
	}}
	for _, p := range []Policy{Spillway(), PerJob(), Threshold()} {
		res, err := Run(context.Background(), Options{Pool: &pool, Trace: tr, Policy: p})
		if err != nil {
			t.Fatal(err)
		}
		if res.JobsNeverServed != 1 || res.NeverServedGPUs != 2200 || res.JobsUnstarted != 0 || res.Stopped != "" {
			t.Errorf("%s: never served %d (largest %d), unstarted %d, stopped %q: want 1 (2200), 0, none (the run gave up on no servable job)",
				p.Name, res.JobsNeverServed, res.NeverServedGPUs, res.JobsUnstarted, res.Stopped)
		}
		if want := "larger than the 88 on-prem GPUs, and it needs 2200 × 1 GPUs of aws-east/us-east-1/p3.2xlarge/on-demand, more than max_gpus 2048"; p.Name == PolicySpillway && !strings.Contains(res.NeverServedWhy, "more than max_gpus 2048") {
			t.Errorf("why %q, want like %q", res.NeverServedWhy, want)
		}
		if res.WaitMaxS != 0 {
			t.Errorf("%s: max wait %.0fs: the unservable job must be left out, the 8-GPU one fits on-prem at once", p.Name, res.WaitMaxS)
		}
		if p.Name == PolicySpillway && (res.Launches != 0 || res.CloudCostUSD != 0) {
			t.Errorf("spillway launched %d instances for $%.2f for a job that can never run", res.Launches, res.CloudCostUSD)
		}
		t.Logf("%s: %d launches, $%.2f", p.Name, res.Launches, res.CloudCostUSD)
	}
}

// TestHugeOnPremMemory runs a pool of 10^11 on-prem GPUs: memory must not
// follow the on-prem size (it once allocated a byte per GPU and died).
func TestHugeOnPremMemory(t *testing.T) {
	pool := WithOnPremGPUs(backtestPool(t), 100_000_000_000)
	tr := &trace.Trace{Name: "small", Start: trace.DefaultEpoch, Jobs: []trace.Job{
		{Submit: 0, Duration: time.Hour, GPUs: 2200}, {Submit: time.Minute, Duration: time.Hour, GPUs: 3},
	}}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res, err := Run(context.Background(), Options{Pool: &pool, Trace: tr, Policy: Spillway()})
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Errorf("allocated %d MiB for 2 jobs on 10^11 on-prem GPUs", grew>>20)
	}
	if res.WaitMaxS != 0 || res.Launches != 0 || res.JobsNeverServed != 0 {
		t.Errorf("both jobs fit on-prem at once: %+v", res)
	}
}

// softLaunchCheck checks one plan of the spillway policy under a soft
// budget, from the policy's inputs alone: nothing is drained or ended for
// money, and when the plan launches, the period's spend if every instance
// (those running and those launched) ran until the latest moment the
// policy could end it, capped at the period's end, stays within the
// amount. An instance's latest end is: now when terminating; for a
// draining one, the first evaluation at or after its drain_timeout (the
// period's end without one); for any other, with max_lifetime and
// drain_timeout both set, drained at the first evaluation at or after
// max_lifetime and ended at the first after drain_timeout; else the
// period's end.
func softLaunchCheck(pool *policy.Pool, insts []policy.Instance, spend policy.Spend, now time.Time, p policy.Plan) []string {
	var bad []string
	for _, a := range append(append([]policy.Action{}, p.Drains...), p.Terminates...) {
		if strings.HasPrefix(a.Reason, "budget") {
			bad = append(bad, fmt.Sprintf("%s cut for money under a soft budget: %s", a.InstanceID, a.Reason))
		}
	}
	if len(p.Launches) == 0 {
		return bad
	}
	iv := pool.Interval.D()
	up := func(d time.Duration) time.Duration {
		if d <= 0 {
			return 0
		}
		return (d + iv - 1) / iv * iv
	}
	dt, life := pool.ScaleIn.DrainTimeout.D(), pool.ScaleIn.MaxLifetime.D()
	end := func(in policy.Instance) time.Time {
		switch {
		case in.State == policy.StateTerminating:
			return now
		case dt <= 0:
			return spend.PeriodEnd
		case in.State == policy.StateDraining:
			return now.Add(up(in.DrainStartedAt.Add(dt).Sub(now)))
		case life > 0:
			return now.Add(up(in.LaunchedAt.Add(life).Sub(now)) + up(dt))
		}
		return spend.PeriodEnd
	}
	// What ended instances were billed in the period: what the policy was
	// told, less the live ones' prorated share.
	worst := spend.Accrued
	for _, in := range insts {
		from := in.LaunchedAt
		if from.Before(spend.PeriodStart) {
			from = spend.PeriodStart
		}
		worst -= in.Offering.PricePerHour * now.Sub(from).Hours()
	}
	for _, in := range insts {
		e := end(in)
		if e.After(spend.PeriodEnd) {
			e = spend.PeriodEnd
		}
		worst += policy.PeriodCost(in.Offering, in.LaunchedAt, e, spend.PeriodStart)
	}
	for _, l := range p.Launches {
		e := end(policy.Instance{Offering: l.Offering, State: policy.StateBooting, LaunchedAt: now})
		if e.After(spend.PeriodEnd) {
			e = spend.PeriodEnd
		}
		worst += float64(l.Count) * policy.BilledCost(l.Offering, now, e)
	}
	if b := pool.Limits.Budget; worst > b.Amount*(1+1e-9)+1e-6 {
		bad = append(bad, fmt.Sprintf("at %s: launching %+v, the period's spend could reach $%.4f of a $%.2f soft budget ($%.4f accrued, %d instances)",
			now, p.Launches, worst, b.Amount, spend.Accrued, len(insts)))
	}
	return bad
}

// TestSoftBudgetHolds runs the spillway policy with soft budgets on the
// random traces and pools of TestHardLimitsHold and checks every plan
// (softLaunchCheck), and then each budget period: one in which anything
// was launched never spends more than its amount (only work running
// before it began may carry a period over). max_gpus and
// max_cost_per_hour hold as in hard mode. It also checks that the cases
// test something: the soft budget holds launches back, and spend comes
// close to it.
func TestSoftBudgetHolds(t *testing.T) {
	runs := 32
	if testing.Short() || raceBuild {
		runs = 12
	}
	bound, close, launchedPeriods := 0, 0, 0
	for seed := range uint64(runs) {
		c := randomLimitCase(seed)
		pool := c.pool
		pool.Limits.Budget.Mode = policy.BudgetSoft
		var bad []string
		var launchedAt []time.Time
		p := Policy{Name: PolicySpillway, IdleWithoutWork: true, New: func() DecideFunc {
			return func(pool *policy.Pool, snap policy.Snapshot, insts []policy.Instance, spend policy.Spend, now time.Time) policy.Plan {
				plan := policy.Decide(pool, snap, insts, spend, now)
				bad = append(bad, softLaunchCheck(pool, insts, spend, now, plan)...)
				if len(plan.Launches) > 0 {
					launchedAt = append(launchedAt, now)
				}
				return plan
			}
		}}
		res, err := Run(context.Background(), Options{Pool: &pool, Trace: c.tr, Policy: p})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		for _, b := range bad[:min(len(bad), 3)] {
			t.Errorf("seed %d: %s\n%s", seed, b, c)
		}
		for _, bp := range res.BudgetPeriods {
			launched := false
			for _, at := range launchedAt {
				if !at.Before(bp.Start) && at.Before(bp.End) {
					launched = true
				}
			}
			if !launched {
				continue
			}
			launchedPeriods++
			if bp.SpendUSD > bp.BudgetUSD*(1+1e-9)+1e-6 {
				t.Errorf("seed %d: period %s–%s with launches spent $%.4f of a $%.2f soft budget\n%s", seed, bp.Start, bp.End, bp.SpendUSD, bp.BudgetUSD, c)
			}
			if bp.SpendUSD > 0.8*bp.BudgetUSD {
				close++
			}
		}
		checkPeaks(t, seed, pool, res, c)
		if res.LimitBoundHours[policy.LimitBudget] > 0 {
			bound++
		}
	}
	t.Logf("%d runs: soft budget bound in %d, %d periods with launches, %d of them over 80%% of the budget", runs, bound, launchedPeriods, close)
	if bound < runs/4 || close == 0 {
		t.Errorf("the random cases do not exercise the soft budget: bound in %d of %d runs, %d periods with launches over 80%% spent", bound, runs, close)
	}
}

// checkPeaks fails when a run held more burst GPUs than max_gpus or paid
// more an hour than max_cost_per_hour.
func checkPeaks(t *testing.T, seed uint64, pool policy.Pool, res Result, c fmt.Stringer) {
	t.Helper()
	if m := pool.Limits.MaxGPUs; m > 0 && res.PeakCloudGPUs > m {
		t.Errorf("seed %d: %d burst GPUs held, max_gpus %d\n%s", seed, res.PeakCloudGPUs, m, c)
	}
	if m := pool.Limits.MaxCostPerHour; m > 0 && res.PeakCostPerHour > m+1e-9 {
		t.Errorf("seed %d: burst at $%.4f/h, max_cost_per_hour $%.2f\n%s", seed, res.PeakCostPerHour, m, c)
	}
}

// TestBoundHoursCountTimeOnce: an evaluation that binds counts the
// interval after it once, however often the policy is asked again at the
// same instant (after each failed launch). Ten offerings are out of stock
// and max_gpus lets one of two jobs run at a time: the first evaluation
// binds, and its launch fails ten times before the eleventh offering
// takes it. Each re-ask counted another interval: bound hours came to
// more than the run lasted on a long trace.
func TestBoundHoursCountTimeOnce(t *testing.T) {
	c := DefaultCloud(3)
	c.SpotMeanLife, c.BootP95 = 0, 1
	c.CapacityTTL = time.Minute
	c.Stock = map[string]StockModel{}
	pool := cloudPool("")
	pool.Limits.MaxGPUs = 8
	dear := pool.Offerings[1]
	pool.Offerings = nil
	for k := range 10 {
		o := dear
		o.Name, o.InstanceType, o.PricePerHour = fmt.Sprintf("out%d", k), fmt.Sprintf("t%d", k), float64(k+1)
		pool.Offerings = append(pool.Offerings, o)
		c.Stock[o.Name] = StockModel{MeanInStock: time.Nanosecond, MeanOutOfStock: 1e6 * time.Hour}
	}
	pool.Offerings = append(pool.Offerings, dear)
	tr := &trace.Trace{Name: "c", Start: trace.DefaultEpoch, Jobs: []trace.Job{
		{Submit: 0, Duration: 2 * time.Hour, GPUs: 8}, {Submit: 0, Duration: 2 * time.Hour, GPUs: 8}}}
	res, err := Run(t.Context(), Options{Pool: pool, Trace: tr, Policy: Spillway(), Cloud: c})
	if err != nil {
		t.Fatal(err)
	}
	// The second job waits for the first, bound all along: 2h, a boot
	// (3m) and less than an interval (30s) on either side.
	bound := time.Duration(res.LimitBoundHours[policy.LimitMaxGPUs] * float64(time.Hour))
	if bound < 2*time.Hour || bound > 2*time.Hour+4*time.Minute || res.FailedLaunches["capacity"] != 10 {
		t.Errorf("max_gpus bound for %s, %d capacity failures: want 10 failures and 2h to 2h4m bound",
			bound, res.FailedLaunches["capacity"])
	}
}
