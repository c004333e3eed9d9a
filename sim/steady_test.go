package sim

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// TestSteadySkipIsExact: the evaluations skipSteadyTicks skips change
// nothing. Random cases (drawCase), about half with schedules,
// max_lifetime and checkpointing each, and with jobs that run for days and
// queue behind the limits and the budget, are run by every policy with the
// skip and without; the results must be identical, timeline included, and
// the skip must have saved evaluations in many of the runs, those of pools
// with a schedule, max_lifetime or checkpointing too, only of policies
// that are Deciders. make test runs the cases the campaigns found and 15
// drawn ones (40 took a third of the package's time);
// SPILLWAY_SIM_STEADY_CASES runs more (make soak runs 1,000), from the
// seed SPILLWAY_SIM_STEADY_FIRST.
func TestSteadySkipIsExact(t *testing.T) {
	defer func(on bool) { steadySkip = on }(steadySkip)
	first, n := uint64(2_000_000), uint64(15)
	if raceBuild {
		// 44 cases take minutes of evaluations without the skip, and
		// near half an hour under -race, where they find no race: the
		// first found case and one drawn (race_test.go).
		n = 1
	}
	for _, env := range []struct {
		name string
		to   *uint64
	}{{"SPILLWAY_SIM_STEADY_CASES", &n}, {"SPILLWAY_SIM_STEADY_FIRST", &first}} {
		if v := os.Getenv(env.name); v != "" {
			x, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				t.Fatalf("%s=%q: want a whole number", env.name, v)
			}
			*env.to = x
		}
	}
	pols := append(allPolicies(), Admitted(KarpenterWith(BaselineKnobs{KarpenterEvict: true})))
	// Cases the campaigns found, each the skip's mistake until fixed: a
	// hard budget whose commitments cross the period's end (3000092),
	// per-job's DOWN node type returning while the budget runs low
	// (4000196), and threshold, evaluated with nothing queued or rented,
	// skipping past the end of the run (5000069, 5000267).
	// They were found with three pools in four drawn without each rule.
	cases := [][3]uint64{{3_000_092, 92, 3}, {4_000_196, 196, 3}, {5_000_069, 5_000_069, 3}, {5_000_267, 5_000_267, 3}}
	if raceBuild {
		cases = cases[:1]
	}
	for seed := first; seed < first+n; seed++ {
		cases = append(cases, [3]uint64{seed, seed, 2})
	}
	runs, saved, timerRuns, timerSaved := 0, 0, 0, 0
	for _, cs := range cases {
		c, ok := steadyCase(cs[0], cs[1], int(cs[2]))
		if !ok {
			continue
		}
		timers := len(c.pool.Schedules) > 0 || c.pool.ScaleIn.MaxLifetime > 0 || c.pool.CheckpointInterval > 0
		began := time.Now()
		for _, p := range pols {
			runs++
			if timers {
				timerRuns++
			}
			if compareSkip(t, c, p, &steadySkip) {
				saved++
				if timers {
					timerSaved++
				}
				if p.NewDecider == nil {
					t.Errorf("case %d: %s skipped evaluations but is not a Decider", c.seed, p.Name)
				}
			}
		}
		if took := time.Since(began); testing.Verbose() && took > 2*time.Second {
			t.Logf("case %d took %s", cs[0], took.Round(time.Millisecond))
		}
	}
	t.Logf("%d runs, %d of them skipped evaluations; with a schedule, max_lifetime or checkpointing %d runs, %d skipped", runs, saved, timerRuns, timerSaved)
	if raceBuild {
		return // too few runs to judge how often the skip works
	}
	if saved < runs/5 {
		t.Errorf("only %d of %d runs skipped evaluations: the cases do not hold steady, or the skip is off", saved, runs)
	}
	if timerSaved < timerRuns/5 {
		t.Errorf("only %d of %d runs of pools with a schedule, max_lifetime or checkpointing skipped evaluations: the skip is off for them", timerSaved, timerRuns)
	}
}

// steadyCase is drawCase(seed) with schedules, max_lifetime and
// checkpointing each taken out drop times in four and up to 40 jobs, a
// third of them running for days, so that long jobs hold the limits while
// others queue behind them; r seeds those choices. It reports false for a
// case without jobs or too long a span.
func steadyCase(seed, r uint64, drop int) (fuzzCase, bool) {
	c := drawCase(seed)
	rnd := rand.New(rand.NewPCG(r, 0x57ead))
	if rnd.IntN(4) >= 4-drop {
		c.pool.Schedules = nil
	}
	if rnd.IntN(4) >= 4-drop {
		c.pool.ScaleIn.MaxLifetime = 0
	}
	if rnd.IntN(4) >= 4-drop {
		c.pool.CheckpointInterval = 0
	}
	jobs := c.tr.Jobs[:0]
	for _, j := range c.tr.Jobs {
		if len(jobs) == 40 {
			break
		}
		if rnd.IntN(3) == 0 {
			j.Duration = time.Duration(1+rnd.IntN(20*24)) * time.Hour
		}
		jobs = append(jobs, j)
	}
	c.tr.Jobs = jobs
	return c, len(jobs) > 0 && c.tr.Span() <= trace.MaxSpan
}

// TestSteadySkipRules: sixty 16-GPU jobs that run 20 days, on 8 on-prem
// GPUs, queue behind the bundled config's limits (the monthly budget lasts
// them two weeks, so a hard budget's run goes on into February's). Under a
// hard budget (with a drain_timeout of two hours), a soft one, or max_gpus, the
// policies evaluate a small share of the intervals (threshold too, whose
// idle headroom does not keep it from skipping: IdleUnwatched); under a
// hard budget without a drain_timeout (an instance commits for ever) none
// skips. Either way the result is the one without the skip.
func TestSteadySkipRules(t *testing.T) {
	defer func(on bool) { steadySkip = on }(steadySkip)
	base, _ := benchSetup(t, "itp/cluster05.csv")
	base = WithOnPremGPUs(base, 8)
	var jobs []trace.Job
	for i := range 60 {
		jobs = append(jobs, trace.Job{Submit: time.Duration(i) * time.Minute, Duration: 20 * 24 * time.Hour, GPUs: 16})
	}
	tr := &trace.Trace{Name: "queue", Start: trace.DefaultEpoch, Jobs: jobs}
	floors := func(pool *policy.Pool, now time.Time) []policy.Floor { return policy.ScheduleFloors(*pool, now) }
	rules := []struct {
		name string
		rule func(p *policy.Pool)
		skip bool
	}{
		// The last drain_timeout of each period is evaluated interval by
		// interval under a hard budget (steadyEnd): two hours here, not
		// the bundled week.
		{"hard budget", func(p *policy.Pool) { p.ScaleIn.DrainTimeout = policy.Duration(2 * time.Hour) }, true},
		{"soft budget", func(p *policy.Pool) {
			b := *p.Limits.Budget
			b.Mode = policy.BudgetSoft
			p.Limits.Budget = &b
		}, true},
		{"max_gpus", func(p *policy.Pool) { p.Limits.Budget, p.Limits.MaxGPUs = nil, 256 }, true},
		{"hard budget without drain_timeout", func(p *policy.Pool) { p.ScaleIn.DrainTimeout = 0 }, false},
		// Rules that act with time alone end a window (steadyEnd), not
		// the skip. On-demand offerings only: a learned spot reclaim
		// rate moves with time (steadySpot).
		{"max_gpus, a schedule, max_lifetime and checkpoints", func(p *policy.Pool) {
			p.Limits.Budget, p.Limits.MaxGPUs = nil, 256
			p.Schedules = []policy.Schedule{{Name: "weekdays", Cron: "0 8 * * 1-5", GPUs: 64, Duration: policy.Duration(10 * time.Hour)}}
			p.ScaleIn.MaxLifetime = policy.Duration(10 * 24 * time.Hour)
			p.CheckpointInterval = policy.Duration(time.Hour)
			p.Offerings = slices.DeleteFunc(slices.Clone(p.Offerings), func(o policy.Offering) bool { return o.Market == policy.MarketSpot })
		}, true},
		{"hard budget and a schedule", func(p *policy.Pool) {
			p.ScaleIn.DrainTimeout = policy.Duration(2 * time.Hour)
			p.Schedules = []policy.Schedule{{Name: "mornings", Cron: "0 6 * * *", GPUs: 32, Duration: policy.Duration(2 * time.Hour)}}
		}, true},
	}
	if raceBuild {
		// Each rule evaluates every interval of weeks without the
		// skip, five policies: two minutes, ten under -race, where one
		// rule shows what races (race_test.go).
		rules = rules[:1]
	}
	for _, tc := range rules {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range []Policy{Spillway(), Admitted(PerJob()), Admitted(Karpenter()), Admitted(KarpenterWith(BaselineKnobs{KarpenterEvict: true})), Admitted(Threshold())} {
				var out [2]string
				var evals [2]int64
				for k, on := range []bool{false, true} {
					steadySkip = on
					pool := base
					tc.rule(&pool)
					var wc workCounts
					res, err := Run(context.Background(), Options{Pool: &pool, Trace: tr, Policy: p, Cloud: DefaultCloud(1), Timeline: true, counts: &wc, Floors: floors})
					if err != nil {
						t.Fatal(err)
					}
					b, _ := json.Marshal(res)
					out[k], evals[k] = string(b), wc.evals
				}
				if out[0] != out[1] {
					t.Errorf("%s: the skip changed the result:\nwith    %s\nwithout %s", p.Name, out[1], out[0])
				}
				switch skips := tc.skip && p.NewDecider != nil; {
				case skips && evals[1]*10 > evals[0]:
					t.Errorf("%s: %d evaluations with the skip, %d without: want a tenth or fewer", p.Name, evals[1], evals[0])
				case !skips && evals[1] != evals[0]:
					t.Errorf("%s: %d evaluations with the skip, %d without: want as many", p.Name, evals[1], evals[0])
				}
				t.Logf("%s: %d evaluations with the skip, %d without", p.Name, evals[1], evals[0])
			}
		})
	}
}
