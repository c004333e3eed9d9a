package sim

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

func TestWriteTable(t *testing.T) {
	rep := Report{
		Trace: TraceInfo{Name: "t.csv", Jobs: 4, SpanS: 3 * 86400}, Pool: "p", OnPremGPUs: 8, WaitTargetS: 600,
		Results: []Result{
			{Policy: PolicySpillway, CloudCostUSD: 1234.5, PaidGPUHours: 110, UsedGPUHours: 90, GPUHoursLost: 12, Efficiency: 0.9, WaitP50S: 0, WaitP95S: 590, WaitP99S: 3700, WaitMaxS: 200000, JobsOnCloud: 3, Launches: 2,
				JobsKilled: 1, CostByProvider: map[string]float64{"aws": 1000, "ali": 234.5}, CostByOffering: map[string]float64{"a": 1000, "b": 234.5},
				BudgetPeriods:   []BudgetPeriod{{Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), BudgetUSD: 2000, SpendUSD: 1234.5}},
				LimitBoundHours: map[string]float64{"budget": 2.5},
				WithoutLimit:    map[string]LimitCost{"budget": {BoundHours: 2.5, CloudCostUSD: 1500, WaitP95S: 120, WaitP99S: 600, GPUHoursLost: 2}},
				FailedLaunches:  map[string]int{"capacity": 3, "quota": 1, "not_up": 2},
				BootGPUHours:    2, IdleGPUHours: 5, FloorIdleGPUHours: 4, DominatedBy: []string{PolicyPerJob}},
			{Policy: PolicyPerJob, CloudCostUSD: 1000, PaidGPUHours: 90, UsedGPUHours: 85, Efficiency: 0.95, WaitP95S: 500, Launches: 4,
				FailedLaunches: map[string]int{"not_up": 1}},
			{Policy: PolicyOnPremOnly, Efficiency: 1, WaitP95S: 7200, JobsUnstarted: 1, JobsNeverServed: 2, NeverServedGPUs: 2200, NeverServedWhy: "larger than the 8 on-prem GPUs, and the pool has no offering to rent",
				DominatedBy: []string{"x"}},
		},
	}
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"trace t.csv: 4 jobs over 3.0 days; pool p: 8 on-prem GPUs, wait target 10m00s",
		"onprem-only",
		"2h00m!", // p95 above target is marked
		"onprem-only: 1 job never started (larger than any capacity the policy provides, or held back by a limit until the run ended); the wait counts until the run ended, a lower bound.",
		"spillway: 1 job run was killed before it finished (spot reclaims, drains cut short by scale_in.drain_timeout, evictions) and requeued; 12 GPU-hours of work lost.",
		// Per-job's ResumeTimeout was named for every policy's not_up.
		"spillway: 2 launches, 2 of them failed: 2 not_up (ended while still booting: cut for a budget or limit); and 4 launches refused, not among them: 3 capacity (offering out of stock, skipped for the capacity cache's TTL); 1 quota (over the account's quota, the provider or region blocked for a while).",
		"per-job: 4 launches, 1 of them failed: 1 not_up (ended while still booting: not up within ResumeTimeout, which marks the node DOWN, or cut for a budget or limit).",
		"spillway: 20 GPU-h paid and not used: 2 booting, 5 on whole idle instances (4 of them held for schedule floors, which the baselines do not keep), 12 of killed runs' work (lost GPU-h), 1 idle beside jobs on part-used instances.",
		"onprem-only: never served: 2 jobs, largest 2200 GPUs, because it is larger than the 8 on-prem GPUs, and the pool has no offering to rent; left out of the wait percentiles.",
		"spillway: cost by provider: aws $1,000; ali $234.50.",
		"spillway: cost by offering: a $1,000; b $234.50.",
		"spillway: spend per budget period: 2026-01-01 $1,234 of $2,000 (62%).",
		"spillway: limit budget bound for 2h30m of evaluations (held back launches or ended capacity); without it p95 wait would have been 2m00s (vs 9m50s), p99 10m00s (vs 1h01m), 1 fewer job run killed / 10 GPU-h fewer lost, at $265.50 more ($1,500 in all).",
		"onprem-only is dominated by x: cheaper and no slower at p95, or as cheap and faster, with no more jobs left unserved nor never served.",
		"spillway is dominated by per-job ($1,000, 19.0% cheaper, p95 8m20s against 9m50s): cheaper and no slower at p95",
		"One run (one seed) decides who dominates: --sweep wait_target=10m0s --seeds 5 compares the policies seed by seed.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if got, want := strings.Fields(lineWith(out, "spillway ")), strings.Fields("spillway 1,234 110 90 12 0.90 0s 9m50s 1h01m 2d07h 3 2"); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("spillway row %q, want %q", got, want)
	}
	// Efficiency of a policy that paid nothing shows as "-", not 1.00.
	if line := lineWith(out, "onprem-only "); !strings.Contains(line, " - ") {
		t.Errorf("onprem-only efficiency not shown as -: %q", line)
	}
}

func lineWith(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, prefix) {
			return l
		}
	}
	return ""
}

func TestWritePlot(t *testing.T) {
	pool := &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 2}, Offerings: []policy.Offering{offering4}}
	res, err := Run(context.Background(), Options{Pool: pool, Trace: loadTestTrace(t, "burst.csv"), Timeline: true,
		Policy: Policy{Name: "stand-in", Interval: 30 * time.Second, New: func() DecideFunc { return burstOnce }}})
	if err != nil {
		t.Fatal(err)
	}
	tl := res.Timeline
	if tl == nil || len(tl.Samples) < 10 {
		t.Fatalf("timeline %+v: want samples every minute of the 600 s run", tl)
	}
	// The instance is up (booting or running) from 30 to 390 s; B queues
	// 10-90 s; the final sample carries the whole bill.
	var sawCloud, sawQueue bool
	for _, s := range tl.Samples {
		sawCloud = sawCloud || s.CloudGPUs == 4
		sawQueue = sawQueue || s.QueuedGPUs == 4
	}
	if last := tl.Samples[len(tl.Samples)-1]; !sawCloud || !sawQueue || !near(last.CostUSD, 0.36) {
		t.Errorf("samples miss the burst: cloud %v queue %v final cost %v", sawCloud, sawQueue, last.CostUSD)
	}
	if got := tl.Providers; len(got) != 1 || got[0] != "p" || !near(tl.Samples[len(tl.Samples)-1].ProviderCost[0], 0.36) {
		t.Errorf("providers %v, final cost by provider %v; want p at $0.36", got, tl.Samples[len(tl.Samples)-1].ProviderCost)
	}
	if err := WritePlot(io.Discard, Report{Results: []Result{{Policy: "x"}}}); err == nil {
		t.Error("WritePlot without a timeline: want an error")
	}
}

// TestWritePlotEveryPolicy: the plot has a panel per policy, each with the
// GPU series and a cumulative cost line per provider (and their total),
// and the final cost per provider is what the run billed each.
func TestWritePlotEveryPolicy(t *testing.T) {
	offQ := offering4
	offQ.Name, offQ.Provider, offQ.InstanceType, offQ.PricePerHour = "four-q", "q", "y4", 7.2
	pool := policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 2}, Interval: policy.Duration(30 * time.Second),
		Offerings: []policy.Offering{offering4, offQ}}
	both := Policy{Name: "both", New: func() DecideFunc {
		return func(pool *policy.Pool, snap policy.Snapshot, insts []policy.Instance, sp policy.Spend, now time.Time) policy.Plan {
			plan := burstOnce(pool, snap, insts, sp, now)
			if len(plan.Launches) > 0 {
				plan.Launches = append(plan.Launches, policy.Launch{Offering: offQ, Count: 1, Reason: "test"})
			}
			return plan
		}
	}}
	rep, err := Backtest{Pool: pool, Trace: loadTestTrace(t, "burst.csv"), Timeline: true,
		Policies: []Policy{both, Admitted(PerJob()), OnPremOnly()}}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		last := r.Timeline.Samples[len(r.Timeline.Samples)-1]
		sum := 0.0
		for k, p := range r.Timeline.Providers {
			sum += last.ProviderCost[k]
			if !near(last.ProviderCost[k], r.CostByProvider[p]) {
				t.Errorf("%s: final cost of %s %v, billed %v", r.Policy, p, last.ProviderCost[k], r.CostByProvider[p])
			}
		}
		if !near(sum, r.CloudCostUSD) || !near(last.CostUSD, r.CloudCostUSD) {
			t.Errorf("%s: providers' costs sum to %v, total %v, billed %v", r.Policy, sum, last.CostUSD, r.CloudCostUSD)
		}
	}
	if c := rep.Results[0].CostByProvider; c["p"] <= 0 || c["q"] <= 0 {
		t.Fatalf("the stand-in billed %v: want both providers", c)
	}
	var b bytes.Buffer
	if err := WritePlot(&b, rep); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(&b)
	series := map[string]int{} // policy|series → polylines
	panels := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("plot is not well-formed XML: %v", err)
		}
		el, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		attr := map[string]string{}
		for _, a := range el.Attr {
			attr[a.Name.Local] = a.Value
		}
		switch el.Name.Local {
		case "g":
			if attr["data-panel"] != "" {
				panels++
			}
		case "polyline":
			if n := len(strings.Fields(attr["points"])); attr["data-policy"] == "both" && n != len(rep.Results[0].Timeline.Samples) {
				t.Errorf("%s %s: %d points, want one per sample", attr["data-policy"], attr["data-series"], n)
			}
			series[attr["data-policy"]+"|"+attr["data-series"]+"|"+attr["data-provider"]]++
		}
	}
	if panels != 3 {
		t.Errorf("%d panels, want one per policy (3)", panels)
	}
	for _, pol := range []string{"both", PolicyPerJob, PolicyOnPremOnly} {
		for _, s := range []string{"on-prem busy GPUs|", "cloud GPUs|", "queued GPUs|", "cost p|p", "cost q|q", "total cost|"} {
			if series[pol+"|"+s] != 1 {
				t.Errorf("policy %s: %d polylines of series %q, want 1", pol, series[pol+"|"+s], s)
			}
		}
	}
	if len(series) != 3*6 {
		t.Errorf("%d series, want 18: %v", len(series), series)
	}
}

func TestTerminateWithoutDrainRequeues(t *testing.T) {
	// Ticks every 10 s. B (4 GPUs, at 10 s) does not fit on-prem; the tick
	// at 10 launches an instance, ready at 70, and B runs on it from 70.
	// The tick at 180 (170 s after launch) terminates it with B on it: B is
	// killed and queued again; the tick at 190 launches a new instance,
	// ready at 250, where B runs 250-550; the tick at 550 drains it. B's
	// wait is the time it was queued, 10-70 and 180-250: 130 s (its killed
	// run is lost work, not waiting). Billed 10-180 and 190-550: 530 s ×
	// $0.001.
	pool := &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 2}, Offerings: []policy.Offering{offering4}}
	got, err := Run(context.Background(), Options{Pool: pool, Trace: loadTestTrace(t, "burst.csv"),
		Policy: Policy{Name: "rude", Interval: 10 * time.Second, New: func() DecideFunc {
			killed := false
			return func(pool *policy.Pool, snap policy.Snapshot, insts []policy.Instance, sp policy.Spend, now time.Time) policy.Plan {
				plan := burstOnce(pool, snap, insts, sp, now)
				if !killed && len(insts) == 1 && insts[0].BusyGPUs > 0 && now.Sub(insts[0].LaunchedAt) >= 170*time.Second {
					killed = true
					plan.Terminates = append(plan.Terminates, policy.Action{InstanceID: insts[0].ID, Reason: "test"})
				}
				return plan
			}
		}}})
	if err != nil {
		t.Fatal(err)
	}
	if got.JobsKilled != 1 || got.Launches != 2 || got.WaitMaxS != 130 || !near(got.CloudCostUSD, 0.53) || got.JobsOnCloud != 1 || got.JobsUnstarted != 0 {
		t.Errorf("got %+v", got)
	}
}

func TestBudgetPeriod(t *testing.T) {
	at := time.Date(2024, 5, 15, 13, 0, 0, 0, time.UTC) // a Wednesday
	for _, tt := range []struct {
		period     policy.BudgetPeriod
		start, end time.Time
	}{
		{policy.PeriodDay, time.Date(2024, 5, 15, 0, 0, 0, 0, time.UTC), time.Date(2024, 5, 16, 0, 0, 0, 0, time.UTC)},
		{policy.PeriodWeek, time.Date(2024, 5, 13, 0, 0, 0, 0, time.UTC), time.Date(2024, 5, 20, 0, 0, 0, 0, time.UTC)},
		{policy.PeriodMonth, time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)},
	} {
		pool := &policy.Pool{Limits: policy.Limits{Budget: &policy.Budget{Amount: 1, Period: tt.period}}}
		if s, e := pool.BudgetPeriod(at); !s.Equal(tt.start) || !e.Equal(tt.end) {
			t.Errorf("%s: got %s-%s, want %s-%s", tt.period, s, e, tt.start, tt.end)
		}
	}
}

// TestSpendAcrossPeriods checks the Spend the policy sees: an instance
// running over a day boundary counts only its billing inside the day.
func TestSpendAcrossPeriods(t *testing.T) {
	// The trace starts at 23:50; job A (4 GPUs, 1000 s) cannot run on the
	// 2-GPU node, so the tick at 23:50 launches a 4-GPU instance ($3.60/h).
	// Ticks every 5 minutes: at 23:55 the day's spend is $0.30; at 00:00
	// a new day starts with $0; at 00:10 it is 10 minutes' worth, $0.60,
	// not the 20 minutes billed so far.
	tr := loadTestTrace(t, "headroom.csv")
	tr.Start = time.Date(2024, 1, 1, 23, 50, 0, 0, time.UTC)
	tr.Jobs[0].GPUs = 4
	pool := &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 2}, Offerings: []policy.Offering{offering4},
		Limits: policy.Limits{Budget: &policy.Budget{Amount: 100, Period: policy.PeriodDay}}}
	var seen []policy.Spend
	_, err := Run(context.Background(), Options{Pool: pool, Trace: tr, Policy: Policy{Name: "watch", Interval: 5 * time.Minute, New: func() DecideFunc {
		return func(pool *policy.Pool, snap policy.Snapshot, insts []policy.Instance, sp policy.Spend, now time.Time) policy.Plan {
			seen = append(seen, sp)
			return burstOnce(pool, snap, insts, sp, now)
		}
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) < 5 {
		t.Fatalf("saw %d ticks", len(seen))
	}
	day1, day2 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	for i, want := range []struct {
		start   time.Time
		accrued float64
	}{{day1, 0}, {day1, 0.3}, {day2, 0}, {day2, 0.3}, {day2, 0.6}} {
		if got := seen[i]; !got.PeriodStart.Equal(want.start) || !got.PeriodEnd.Equal(want.start.AddDate(0, 0, 1)) || !near(got.Accrued, want.accrued) {
			t.Errorf("tick %d: got %+v, want $%.2f in the day from %s", i, got, want.accrued, want.start)
		}
	}
}

// TestWritePlotClipsAQueueThatNeverDrains: the queue of a policy that never
// rents sets no axis; it is clipped at the top with its peak noted, so the
// panels of the policies that rent stay readable.
func TestWritePlotClipsAQueueThatNeverDrains(t *testing.T) {
	tl := func(queue, cloud int, cost float64) *Timeline {
		return &Timeline{Providers: []string{"p"}, Samples: []Sample{
			{At: 0, OnPremBusy: 8, ProviderCost: []float64{0}},
			{At: time.Hour, OnPremBusy: 8, CloudGPUs: cloud, QueuedGPUs: queue, CostUSD: cost, ProviderCost: []float64{cost}},
		}}
	}
	rep := Report{Trace: TraceInfo{Name: "t"}, OnPremGPUs: 8, Results: []Result{
		{Policy: "spillway", Launches: 2, CloudCostUSD: 50, Timeline: tl(12, 16, 50)},
		{Policy: "onprem-only", Timeline: tl(5000, 0, 0)},
	}}
	var b bytes.Buffer
	if err := WritePlot(&b, rep); err != nil {
		t.Fatal(err)
	}
	svg := b.String()
	if !strings.Contains(svg, `data-clipped="5000"`) || strings.Count(svg, "data-clipped=") != 1 {
		t.Errorf("want onprem-only's queue (peak 5000) clipped and noted, and nothing else:\n%s", lineWith(svg, "clipped"))
	}
	if strings.Contains(svg, ">5000<") || strings.Contains(svg, ">4000<") {
		t.Error("the GPU axis runs to onprem-only's queue; want it set by the policy that rents")
	}
}

// TestBudgetPeriodsLine: up to a year of monthly periods are listed one by
// one; more (daily budgets, long traces) are summed up in one short line.
// A soft budget's periods that went over are followed by why.
func TestBudgetPeriodsLine(t *testing.T) {
	const softWhy = " A soft budget (budget.mode: soft) goes OVER by design: it admits no launch beyond what remains, but never cuts running work for money, " +
		"so instances that run on past a period's end bill on into the next, over its amount if need be."
	soft := func(ps []BudgetPeriod) []BudgetPeriod {
		for k := range ps {
			ps[k].Soft = true
		}
		return ps
	}
	day := func(k int) time.Time { return time.Date(2026, 1, 1+k, 0, 0, 0, 0, time.UTC) }
	periods := func(n int, spend func(k int) float64) []BudgetPeriod {
		ps := make([]BudgetPeriod, n)
		for k := range ps {
			ps[k] = BudgetPeriod{Start: day(k), End: day(k + 1), BudgetUSD: 100, SpendUSD: spend(k)}
		}
		return ps
	}
	for _, tc := range []struct {
		name    string
		periods []BudgetPeriod
		want    string
	}{
		{"one", periods(1, func(int) float64 { return 62 }),
			"\np: spend per budget period: 2026-01-01 $62.00 of $100.00 (62%)."},
		{"twelve listed", periods(12, func(k int) float64 { return float64(k) }),
			"\np: spend per budget period: 2026-01-01 $0.00 of $100.00 (0%); 2026-01-02 $1.00 of $100.00 (1%); 2026-01-03 $2.00 of $100.00 (2%); " +
				"2026-01-04 $3.00 of $100.00 (3%); 2026-01-05 $4.00 of $100.00 (4%); 2026-01-06 $5.00 of $100.00 (5%); 2026-01-07 $6.00 of $100.00 (6%); " +
				"2026-01-08 $7.00 of $100.00 (7%); 2026-01-09 $8.00 of $100.00 (8%); 2026-01-10 $9.00 of $100.00 (9%); 2026-01-11 $10.00 of $100.00 (10%); " +
				"2026-01-12 $11.00 of $100.00 (11%)."},
		{"an over listed", periods(2, func(k int) float64 { return 100.5 * float64(k) }),
			"\np: spend per budget period: 2026-01-01 $0.00 of $100.00 (0%); 2026-01-02 $100.50 of $100.00 (100% OVER)."},
		{"a soft over listed", soft(periods(2, func(k int) float64 { return 100.5 * float64(k) })),
			"\np: spend per budget period: 2026-01-01 $0.00 of $100.00 (0%); 2026-01-02 $100.50 of $100.00 (100% OVER)." + softWhy},
		{"a soft within listed", soft(periods(1, func(int) float64 { return 62 })),
			"\np: spend per budget period: 2026-01-01 $62.00 of $100.00 (62%)."},
		{"thirteen summed up", periods(13, func(k int) float64 { return []float64{10, 96, 99, 20, 100, 5, 101, 0, 0, 0, 0, 0, 3}[k] }),
			"\np: spend per budget period: 13 periods from 2026-01-01 to 2026-01-14; the highest $101.00 of $100.00 (101% OVER) from 2026-01-07; " +
				"3 reached 95% of their budget without going over, 1 went over; --json lists each (budget_periods)."},
		{"a soft over summed up", soft(periods(13, func(k int) float64 { return []float64{10, 96, 99, 20, 100, 5, 101, 0, 0, 0, 0, 0, 3}[k] })),
			"\np: spend per budget period: 13 periods from 2026-01-01 to 2026-01-14; the highest $101.00 of $100.00 (101% OVER) from 2026-01-07; " +
				"3 reached 95% of their budget without going over, 1 went over; --json lists each (budget_periods)." + softWhy},
		// Thirteen periods spent whole: the first is named, not the one a
		// rounding error puts a billionth of a dollar higher.
		{"ties to the cent", periods(13, func(k int) float64 { return 100 + 1e-9*float64(k%3-1) }),
			"\np: spend per budget period: 13 periods from 2026-01-01 to 2026-01-14; the highest $100.00 of $100.00 (100%) from 2026-01-01; " +
				"13 reached 95% of their budget without going over, 0 went over; --json lists each (budget_periods)."},
		{"ten years of days", periods(3653, func(k int) float64 { return float64(k % 50) }),
			"\np: spend per budget period: 3653 periods from 2026-01-01 to 2036-01-02; the highest $49.00 of $100.00 (49%) from 2026-02-19; " +
				"0 reached 95% of their budget without going over, 0 went over; --json lists each (budget_periods)."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			writeBudgetPeriods(&b, "p", tc.periods)
			if b.String() != tc.want {
				t.Errorf("got\n%q\nwant\n%q", b.String(), tc.want)
			}
		})
	}
}

// TestReportSkippedRows: the table's first line says which rows of a job
// log were left out and why; a trace without such rows says nothing.
func TestReportSkippedRows(t *testing.T) {
	for _, tt := range []struct {
		skipped []trace.Skip
		want    string
	}{
		{nil, "trace t.csv: 4 jobs over 3.0 days; pool p:"},
		{[]trace.Skip{{Rows: 3, Why: trace.SkipNoGPUs}, {Rows: 1, Why: trace.SkipNeverRan}},
			"trace t.csv: 4 jobs over 3.0 days (4 rows skipped: 3 CPU-only jobs (0 GPUs), 1 job that never ran (duration 0 or empty)); pool p:"},
		{[]trace.Skip{{Rows: 1, Why: trace.SkipNoGPUs}},
			"trace t.csv: 4 jobs over 3.0 days (1 row skipped: 1 CPU-only job (0 GPUs)); pool p:"},
		{[]trace.Skip{{Rows: 1, Why: "rows outside vc=a"}, {Rows: 2, Why: trace.SkipNeverRan}},
			"trace t.csv: 4 jobs over 3.0 days (3 rows skipped: 1 row outside vc=a, 2 jobs that never ran (duration 0 or empty)); pool p:"},
	} {
		rep := Report{Trace: TraceInfo{Name: "t.csv", Jobs: 4, SpanS: 3 * 86400, Skipped: tt.skipped}, Pool: "p", OnPremGPUs: 8}
		var b bytes.Buffer
		if err := rep.WriteTable(&b); err != nil {
			t.Fatal(err)
		}
		if first, _, _ := strings.Cut(b.String(), "\n"); !strings.HasPrefix(first, tt.want) {
			t.Errorf("first line\n got %s\nwant %s…", first, tt.want)
		}
	}
}

func TestCounted(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{{0, "0 jobs"}, {1, "1 job"}, {2, "2 jobs"}, {5778, "5778 jobs"}} {
		if got := Counted(tc.n, "job", "jobs"); got != tc.want {
			t.Errorf("Counted(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// TestWritePlotHeadings: the timeline's title counts its panels in the
// singular for one policy ("1 policies" before), and a panel of a run
// that paid nothing shows its efficiency as "-", as the table does, not
// the 1.00 the JSON carries.
func TestWritePlotHeadings(t *testing.T) {
	tl := &Timeline{Providers: []string{"p"}, Samples: []Sample{{At: time.Minute, ProviderCost: []float64{0}}}}
	paid := &Timeline{Providers: []string{"p"}, Samples: []Sample{{At: time.Minute, CloudGPUs: 4, CostUSD: 10, ProviderCost: []float64{10}}}}
	for _, tt := range []struct {
		name    string
		results []Result
		want    []string
	}{
		{"one policy", []Result{{Policy: "karpenter", CloudCostUSD: 10, Efficiency: 0.97, Timeline: paid}},
			[]string{"1 policy on t.csv", "karpenter: cloud cost $10 · efficiency 0.97 · wait p95 0s"}},
		{"two policies, one paid nothing", []Result{{Policy: "onprem-only", Efficiency: 1, Timeline: tl}, {Policy: "per-job", CloudCostUSD: 10, Efficiency: 0.5, Timeline: paid}},
			[]string{"2 policies on t.csv", "onprem-only: cloud cost $0 · efficiency - · wait p95 0s", "per-job: cloud cost $10 · efficiency 0.50"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WritePlot(&buf, Report{Trace: TraceInfo{Name: "t.csv"}, OnPremGPUs: 8, Results: tt.results}); err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.want {
				if !strings.Contains(buf.String(), want) {
					t.Errorf("plot lacks %q:\n%s", want, buf.String())
				}
			}
		})
	}
}

// TestReportListsEndInAFullStop: the report's lists (launches by cause,
// cost by provider or offering, spend per period) are items between
// semicolons that end in a full stop, as a sentence does, not in a
// semicolon left hanging.
func TestReportListsEndInAFullStop(t *testing.T) {
	for _, tc := range []struct {
		name   string
		failed map[string]int
		want   string
	}{
		{"failed only", map[string]int{"not_up": 1, "join_timeout": 2},
			"\np: 5 launches, 3 of them failed: 2 join_timeout (" + failureCause("join_timeout", "p") + "); 1 not_up (" + failureCause("not_up", "p") + ")."},
		{"refused only", map[string]int{"capacity": 3},
			"\np: 5 launches; 3 launches refused, not among them: 3 capacity (" + failureCause("capacity", "p") + ")."},
		{"both", map[string]int{"not_up": 1, "quota": 1},
			"\np: 5 launches, 1 of them failed: 1 not_up (" + failureCause("not_up", "p") + "); and 1 launch refused, not among them: 1 quota (" + failureCause("quota", "p") + ")."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			writeFailedLaunches(&b, Result{Policy: "p", Launches: 5, FailedLaunches: tc.failed})
			if b.String() != tc.want {
				t.Errorf("got\n%q\nwant\n%q", b.String(), tc.want)
			}
		})
	}
	var b strings.Builder
	writeSplit(&b, "p: cost by provider", map[string]float64{"ali": 234.5, "aws": 1000})
	if want := "\np: cost by provider: aws $1,000; ali $234.50."; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

// TestDominanceSaysATinyMargin: a policy cheaper by less than 0.05% was
// said "0.0% cheaper" (threshold dominated by spillway, $171,997 against
// $172,048), which reads as "as cheap"; it says the dollars.
func TestDominanceSaysATinyMargin(t *testing.T) {
	for _, tt := range []struct {
		res, by float64
		want    string
	}{
		{172048, 171997, "$171,997, $51.00 cheaper, under 0.1%, p95 1m00s against 2m00s"},
		{1000, 810, "$810.00, 19.0% cheaper, p95 1m00s against 2m00s"},
		{1000, 1000, "$1,000, as cheap, p95 1m00s against 2m00s"},
	} {
		res, by := Result{CloudCostUSD: tt.res, WaitP95S: 120}, Result{CloudCostUSD: tt.by, WaitP95S: 60}
		if got := dominance(&res, &by); got != tt.want {
			t.Errorf("$%g against $%g: got %q, want %q", tt.by, tt.res, got, tt.want)
		}
	}
}

// TestPlotTimeLabels: the timeline's time axis of a trace under two hours
// (10-minute ticks) was labelled "0.16666666666666666h",
// "0.3333333333333333h", …; its ticks read as hours and minutes.
func TestPlotTimeLabels(t *testing.T) {
	for _, tt := range []struct {
		t, step time.Duration
		want    string
	}{
		{0, 10 * time.Minute, "0h"},
		{10 * time.Minute, 10 * time.Minute, "10m"},
		{time.Hour, 10 * time.Minute, "1h"},
		{70 * time.Minute, 10 * time.Minute, "1h10m"},
		{90 * time.Minute, 30 * time.Minute, "1h30m"},
		{6 * time.Hour, 3 * time.Hour, "6h"},
		{48 * time.Hour, 24 * time.Hour, "day 2"},
	} {
		if got := timeLabel(tt.t, tt.step); got != tt.want {
			t.Errorf("timeLabel(%s, step %s) = %q, want %q", tt.t, tt.step, got, tt.want)
		}
	}
}
