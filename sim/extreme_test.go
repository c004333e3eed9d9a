package sim

import (
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// The property test at the edges: TestSimInvariants' cases with the cloud
// model, the pool's speed and checkpoint settings and every baseline knob
// pushed to the ends of the ranges config validation and --baseline-opt
// accept (config/bounds.go, config/simulate.go, ParseBaselineKnob): boots
// of a year, a p95 of 30 days, spot reclaimed every minute, offerings a
// million times slower or a thousand times faster, checkpoints every
// minute, Slurm suspending at once or resuming for a month. Every run
// must keep checkResult's invariants, end (the case's deadline), and give
// the same report as a backtest.
//
//	go test ./sim -run TestSimInvariantsExtreme                      # the lean run
//	SPILLWAY_SIM_EXTREME_N=300 go test ./sim -run TestSimInvariantsExtreme -timeout 2h -v
//	SPILLWAY_SIM_EXTREME_SEED=1234 go test ./sim -run TestSimInvariantsExtreme -v

// policiesWith is every policy, the baselines with knobs k.
func policiesWith(k BaselineKnobs) []Policy {
	pols := make([]Policy, 0, len(PolicyNames))
	for _, n := range PolicyNames {
		p, err := PolicyWith(n, k)
		if err != nil {
			panic(err) // PolicyNames lists only known policies
		}
		pols = append(pols, p)
	}
	return pols
}

// drawExtreme is drawCase(seed) with, from a stream of its own, some of
// its values moved to the bounds the config allows.
func drawExtreme(seed uint64) fuzzCase {
	c := drawCase(seed)
	// As --max-memory bounds a run: threshold.target at its least
	// without max_gpus sizes a fleet ten times the demand.
	c.maxInstances = 200_000
	r := fuzzRand{rand.New(rand.NewPCG(seed, 0xe8e8))}
	const year = 366 * 24 * time.Hour // config's MaxDuration
	month := 30 * 24 * time.Hour      // config's MaxBaselineDuration
	pool := c.pool
	pool.Offerings = append([]policy.Offering(nil), pool.Offerings...)
	for i := range pool.Offerings {
		o := &pool.Offerings[i]
		if r.chance(0.3) {
			o.Performance = []float64{1e-9, 1e-6, 1e-3, 0.01, 1000}[r.pick(5)] // config's MinFloat to MaxPerformance
		}
		if r.chance(0.3) {
			o.Boot = policy.Duration([]time.Duration{0, time.Nanosecond, time.Second, 3 * 24 * time.Hour, 30 * 24 * time.Hour, year}[r.pick(6)])
		}
		if r.chance(0.1) {
			o.PricePerHour = []float64{0.0001, 100_000}[r.pick(2)]
		}
	}
	if r.chance(0.3) {
		pool.CheckpointInterval = policy.Duration([]time.Duration{time.Minute, 7 * 24 * time.Hour}[r.pick(2)])
	}
	if r.chance(0.2) {
		pool.Span.Slowdown = []float64{1, 10}[r.pick(2)]
		pool.Span.MinGPUs = []int{1, 1024}[r.pick(2)]
	}
	if r.chance(0.2) {
		pool.ScaleIn.DrainTimeout = policy.Duration([]time.Duration{time.Second, year}[r.pick(2)])
	}
	if r.chance(0.2) {
		pool.WaitTarget = policy.Duration([]time.Duration{0, time.Nanosecond, year}[r.pick(3)])
	}
	// Intervals of 1s (sim.MinInterval) are valid too, but a run that
	// the backlog deadline keeps going for a month of simulated time is
	// then millions of evaluations where a checkpoint_interval turns the
	// steady skip off (a minute of wall time): the lean run stays at 10s.
	if r.chance(0.2) {
		pool.Interval = policy.Duration([]time.Duration{10 * time.Second, time.Hour}[r.pick(2)])
		pool.StaleAfter = policy.Duration(max(2*time.Minute, pool.Interval.D()))
	}
	// max_lifetime above the slowest boot, as the config requires, or
	// left out where no duration the config accepts is.
	longest := time.Duration(0)
	for _, o := range pool.Offerings {
		longest = max(longest, o.Boot.D())
	}
	if life := pool.ScaleIn.MaxLifetime.D(); life > 0 && life <= longest {
		pool.ScaleIn.MaxLifetime = 0
		if 2*longest+time.Minute <= year {
			pool.ScaleIn.MaxLifetime = policy.Duration(2*longest + time.Minute)
		}
	}
	// Schedules over max_gpus are refused by the config.
	if m := pool.Limits.MaxGPUs; m > 0 {
		for i := range pool.Schedules {
			pool.Schedules[i].GPUs = min(pool.Schedules[i].GPUs, m)
		}
	}
	c.pool = pool

	if r.chance(0.7) {
		cl := DefaultCloud(r.Uint64())
		if c.cloud != nil {
			cp := *c.cloud
			cl = &cp
		}
		if r.chance(0.5) {
			cl.BootP95 = []float64{1, 10}[r.pick(2)]
		}
		if r.chance(0.4) {
			cl.SpotMeanLife = []time.Duration{time.Minute, year}[r.pick(2)]
			cl.SpotNotice = []time.Duration{0, time.Nanosecond, time.Hour}[r.pick(3)]
			cl.SpotProtection = []time.Duration{0, 6 * time.Hour}[r.pick(2)]
		}
		if r.chance(0.3) {
			cl.MeanInStock = []time.Duration{time.Minute, year}[r.pick(2)]
			cl.MeanOutOfStock = []time.Duration{0, time.Minute, year}[r.pick(3)]
		}
		if r.chance(0.2) {
			cl.CapacityTTL = []time.Duration{time.Second, 24 * time.Hour}[r.pick(2)]
		}
		if r.chance(0.2) {
			cl.Quota = map[string]int{}
			for _, o := range pool.Offerings {
				cl.Quota[o.Provider] = []int{1, 1 << 20}[r.pick(2)]
			}
			cl.QuotaTTL = []time.Duration{time.Second, 24 * time.Hour}[r.pick(2)]
		}
		if r.chance(0.2) {
			// A schedule: out of stock from the start for a year, or in
			// many short windows.
			cl.Stock = map[string]StockModel{}
			for _, o := range pool.Offerings {
				if r.chance(0.5) {
					var ws []Window
					if r.chance(0.5) {
						ws = []Window{{From: 0, Until: year}}
					} else {
						for k := range 1000 { // config's MaxStockWindows
							ws = append(ws, Window{From: time.Duration(k) * 2 * time.Minute, Until: time.Duration(k)*2*time.Minute + time.Minute})
						}
					}
					cl.Stock[policyOfferingName(o)] = StockModel{OutOfStock: ws}
				}
			}
		}
		c.cloud = cl
	}

	// Every knob at an end of its range, now and then.
	k := &c.knobs
	if r.chance(0.3) {
		k.ThresholdTarget = []float64{MinThresholdTarget, 1}[r.pick(2)]
	}
	if r.chance(0.3) {
		k.ThresholdCooldown, k.ThresholdCooldownSet = []time.Duration{0, month}[r.pick(2)], true
	}
	if r.chance(0.3) {
		k.ThresholdInterval = []time.Duration{10 * time.Second, month}[r.pick(2)]
	}
	if r.chance(0.4) {
		k.PerJobSuspend, k.PerJobSuspendSet = []time.Duration{0, time.Nanosecond, month}[r.pick(3)], true
	}
	if r.chance(0.3) {
		k.PerJobResumeRate = []int{1, 100_000}[r.pick(2)]
	}
	if r.chance(0.3) {
		k.PerJobResumeTimeout = []time.Duration{time.Second, month}[r.pick(2)]
	}
	if r.chance(0.3) {
		k.PerJobICETimeout, k.PerJobICETimeoutSet = []time.Duration{0, month}[r.pick(2)], true
	}
	if r.chance(0.4) {
		k.KarpenterConsolidateAfter, k.KarpenterConsolidateAfterSet = []time.Duration{0, month}[r.pick(2)], true
	}
	if r.chance(0.3) {
		k.KarpenterConsolidation = []string{KarpenterWhenEmpty, KarpenterWhenEmptyOrUnderutilized}[r.pick(2)]
	}
	k.KarpenterEvict = r.chance(0.3)
	k.KarpenterSpotToSpot = r.chance(0.3)
	if r.chance(0.3) {
		k.KarpenterRegistrationTTL = []time.Duration{time.Second, month}[r.pick(2)]
	}
	return c
}

// TestSimInvariantsExtreme runs drawExtreme's cases through runCase: the
// invariants of TestSimInvariants at the edges of every range.
func TestSimInvariantsExtreme(t *testing.T) {
	n, first := uint64(6), uint64(0)
	if testing.Short() || raceBuild {
		n = 3
	}
	env := func(name string) (uint64, bool) {
		v := os.Getenv(name)
		if v == "" {
			return 0, false
		}
		x, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want a whole number", name, v)
		}
		return x, true
	}
	if x, ok := env("SPILLWAY_SIM_EXTREME_N"); ok && x > 0 {
		n = x
	}
	if x, ok := env("SPILLWAY_SIM_EXTREME_FIRST"); ok {
		first = x
	}
	_, one := env("SPILLWAY_SIM_EXTREME_SEED")
	if one {
		first, _ = env("SPILLWAY_SIM_EXTREME_SEED")
		n = 1
	}
	setFuzzDeadline(t)
	var tally fuzzTally
	failed := 0
	for seed := first; seed < first+n; seed++ {
		c := drawExtreme(seed)
		began := time.Now()
		bad := runCase(t, c, &tally)
		if took := time.Since(began); one || took > 5*time.Second {
			t.Logf("case %d took %s", seed, took.Round(time.Millisecond))
		}
		if len(bad) > 0 {
			failed++
			t.Errorf("%s\n%s", strings.Join(bad[:min(len(bad), 6)], "\n"), c)
			if failed >= 20 {
				t.Fatalf("stopping after %d failing cases", failed)
			}
		}
	}
	t.Logf("%d cases, %d runs: %d launched, limits bound (budget %d, max_gpus %d, max_cost_per_hour %d), failed launches in %d, spot reclaims in %d, kills in %d, never served in %d, unstarted in %d, horizon %d, soft budget periods with launches %d",
		n, tally.runs, tally.launched, tally.budgetBound, tally.maxGPUsBound, tally.costBound, tally.failed, tally.interrupted, tally.killed, tally.neverServed, tally.unstarted, tally.horizon, tally.softPeriods)
}
