package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// TestQuietSkipIsExact: the evaluations a calm run skips (skipCalmTicks)
// change nothing. Random cases (drawCase), most with the pool rules that
// act with time alone taken out and with jobs running for days, so that
// runs go quiet while busy, are run by every policy that says it is
// QuietWhileBusy, and by those that do not, with the skip and without;
// the results must be identical, and the skip must have saved
// evaluations in many of the runs.
func TestQuietSkipIsExact(t *testing.T) {
	defer func(on bool) { quietSkip = on }(quietSkip)
	n := 30
	if testing.Short() {
		n = 12
	}
	if raceBuild {
		n = 6 // a minute under -race at 12 (race_test.go)
	}
	pols := append(allPolicies(), KarpenterWith(BaselineKnobs{KarpenterEvict: true}))
	runs, saved := 0, 0
	for seed := range uint64(n) {
		c := drawCase(1_000_000 + seed)
		r := rand.New(rand.NewPCG(seed, 0x9e7))
		// Quiet while busy needs a pool whose rules do not act with time
		// alone: each is taken out of most cases, so that many keep
		// just one of them.
		if r.IntN(4) > 0 {
			c.pool.Limits.Budget = nil
		}
		if r.IntN(4) > 0 {
			c.pool.Limits.MaxGPUs, c.pool.Limits.MaxCostPerHour = 0, 0
		}
		if r.IntN(4) > 0 {
			c.pool.Schedules = nil
		}
		if r.IntN(4) > 0 {
			c.pool.ScaleIn.MaxLifetime = 0
		}
		if r.IntN(4) > 0 {
			c.pool.CheckpointInterval = 0
		}
		// Jobs that burst capacity holds, some of them for days: the
		// fleet runs them with nothing queued (jobs that can never run
		// keep a run busy, and slow, without going quiet).
		largest := 0
		for _, o := range c.pool.Offerings {
			largest = max(largest, o.GPUs)
		}
		jobs := c.tr.Jobs[:0]
		for _, j := range c.tr.Jobs {
			if j.GPUs <= largest && len(jobs) < 40 {
				if r.IntN(4) == 0 {
					j.Duration = time.Duration(1+r.IntN(20*24)) * time.Hour
				}
				jobs = append(jobs, j)
			}
		}
		if len(jobs) == 0 {
			continue
		}
		c.tr.Jobs = jobs
		if c.tr.Span() > trace.MaxSpan {
			continue
		}
		for _, p := range pols {
			runs++
			if compareSkip(t, c, p, &quietSkip) {
				saved++
				if !p.QuietWhileBusy {
					t.Errorf("case %d: %s skipped evaluations but is not QuietWhileBusy", c.seed, p.Name)
				}
			}
		}
	}

	t.Logf("%d runs, %d of them skipped evaluations", runs, saved)
	if saved < runs/10 {
		t.Errorf("only %d of %d runs skipped evaluations: the cases do not go quiet, or the skip is off", saved, runs)
	}
}

// compareSkip runs p on c with a skip (*skip) off and on; the results
// must be byte-identical JSON, timeline included. It reports whether the
// skip saved evaluations.
func compareSkip(t *testing.T, c fuzzCase, p Policy, skip *bool) bool {
	t.Helper()
	floors := func(pool *policy.Pool, now time.Time) []policy.Floor { return policy.ScheduleFloors(*pool, now) }
	var res [2]Result
	var evals [2]int64
	for k, on := range []bool{false, true} {
		*skip = on
		pool := c.pool
		var wc workCounts
		ctx, cancel := context.WithTimeout(context.Background(), fuzzDeadline)
		got, err := Run(ctx, Options{Pool: &pool, Trace: c.tr, Policy: p, Cloud: c.cloud, Floors: floors, Timeline: true, counts: &wc})
		cancel()
		if err != nil {
			got = Result{Policy: fmt.Sprintf("error: %v", err)}
		}
		res[k], evals[k] = got, wc.evals
	}
	without, _ := json.Marshal(res[0])
	with, _ := json.Marshal(res[1])
	if string(with) != string(without) {
		t.Errorf("case %d: %s: the skip changed the result (%d evaluations, against %d without it):\nwith    %s\nwithout %s\n%s", c.seed, p.Name, evals[1], evals[0], with, without, c)
	}
	return evals[1] < evals[0]
}

// TestQuietSkipRules: one 4-GPU job runs 30 days on a rented instance,
// nothing else queued. Without a rule that acts with time alone, the
// QuietWhileBusy policies evaluate a handful of times instead of once a
// minute for 30 days; with one of those rules, they evaluate as often as
// without the skip, and either way the result is the same.
func TestQuietSkipRules(t *testing.T) {
	defer func(on bool) { quietSkip = on }(quietSkip)
	tr := &trace.Trace{Name: "long", Start: trace.DefaultEpoch, Jobs: []trace.Job{{Submit: 0, Duration: 30 * 24 * time.Hour, GPUs: 4}}}
	floors := func(pool *policy.Pool, now time.Time) []policy.Floor { return policy.ScheduleFloors(*pool, now) }
	for _, tc := range []struct {
		name  string
		rule  func(p *policy.Pool)
		quiet bool
	}{
		{"no rule", func(*policy.Pool) {}, true},
		{"max_gpus and max_cost_per_hour", func(p *policy.Pool) { p.Limits.MaxGPUs, p.Limits.MaxCostPerHour = 8, 100 }, true},
		{"hard budget", func(p *policy.Pool) { p.Limits.Budget = &policy.Budget{Amount: 1000, Period: policy.PeriodWeek} }, false},
		{"soft budget", func(p *policy.Pool) {
			p.Limits.Budget = &policy.Budget{Amount: 1000, Period: policy.PeriodWeek, Mode: policy.BudgetSoft}
		}, false},
		{"max_lifetime", func(p *policy.Pool) { p.ScaleIn.MaxLifetime = policy.Duration(24 * time.Hour) }, false},
		{"schedule", func(p *policy.Pool) {
			p.Schedules = []policy.Schedule{{Name: "s", Cron: "0 8 * * *", GPUs: 4, Duration: policy.Duration(time.Hour)}}
		}, false},
		{"checkpoint", func(p *policy.Pool) { p.CheckpointInterval = policy.Duration(time.Hour) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := policy.Pool{Name: "p", WaitTarget: 0, Interval: policy.Duration(time.Minute), Offerings: []policy.Offering{offering4},
				ScaleIn: policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}, DrainTimeout: policy.Duration(2 * time.Hour)}}
			tc.rule(&pool)
			for _, p := range []Policy{Spillway(), Admitted(PerJob()), Admitted(Karpenter())} {
				var res [2]Result
				var evals [2]int64
				for k, skip := range []bool{false, true} {
					quietSkip = skip
					pool := pool
					var wc workCounts
					r, err := Run(context.Background(), Options{Pool: &pool, Trace: tr, Policy: p, Floors: floors, Timeline: true, counts: &wc})
					if err != nil {
						t.Fatalf("%s: %v", p.Name, err)
					}
					res[k], evals[k] = r, wc.evals
				}
				without, _ := json.Marshal(res[0])
				with, _ := json.Marshal(res[1])
				if string(with) != string(without) {
					t.Errorf("%s: the skip changed the result:\nwith    %s\nwithout %s", p.Name, with, without)
				}
				if tc.quiet && evals[1] > 10 || !tc.quiet && evals[1] != evals[0] {
					t.Errorf("%s: %d evaluations with the skip, %d without; want a handful only without a rule that acts with time alone", p.Name, evals[1], evals[0])
				}
			}
		})
	}
}
