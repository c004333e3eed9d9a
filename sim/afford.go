package sim

// Jobs a hard budget never pays a whole cloud run of.

import (
	"fmt"
	"math"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// budgetCap bounds what one cloud run of a job may cost under a hard
// budget: the budget's amount per period, which the period's spend never
// passes, so that a run costing more is drained and cut (its work lost,
// unless it saved a checkpoint) before it finishes, and is launched again
// the next period to be cut again. A launch timed so that the run
// straddles a period's end could finish one costing up to twice the
// amount, but no policy times its launches so (nor does the server): such
// a job is run on the cloud by none, as one that outlasts every instance
// is (lifeWindow).
type budgetCap struct {
	amount float64
	// rateOf remembers, per cloud size, the least a run of a job of that
	// size costs per hour of its reference duration (0: some run saves a
	// checkpoint within what a period pays, or no offering takes it).
	rateOf map[int]float64
}

// newBudgetCap is the pool's budgetCap; ok is false without a hard budget.
func newBudgetCap(pool *policy.Pool) (bc budgetCap, ok bool) {
	b := pool.Limits.Budget
	if b == nil || b.Soft() || b.Amount <= 0 {
		return budgetCap{}, false
	}
	return budgetCap{amount: b.Amount, rateOf: map[int]float64{}}, true
}

// outpays reports whether every cloud run of a job of g GPUs (its cloud
// size) lasting d in reference time costs more than the amount.
func (bc *budgetCap) outpays(pool *policy.Pool, g int, d time.Duration) bool {
	r := bc.rate(pool, g)
	return r > 0 && d.Hours()*r > bc.amount
}

// rate is the least a run of a job of g GPUs costs per hour of its
// reference duration, over the offerings that take it within the pool's
// limits (policy.CloudHoldsWithin): the gang's price over the offering's
// performance. 0 when one of them saves a checkpoint (the pool's
// checkpoint_interval) before its run has cost the amount: each period's
// run then keeps some work, and the job finishes in the end.
func (bc *budgetCap) rate(pool *policy.Pool, g int) float64 {
	if r, ok := bc.rateOf[g]; ok {
		return r
	}
	best := math.Inf(1)
	ck := pool.CheckpointInterval.D().Hours()
	policy.CloudHoldsWithin(pool, g, func(o *policy.Offering, n int) bool {
		perHour := float64(n) * o.PricePerHour
		if ck > 0 && ck*perHour < bc.amount {
			best = 0
		}
		best = min(best, perHour/offeringPerf(*o))
		return false // see every offering
	})
	if math.IsInf(best, 1) {
		best = 0 // none takes it: the limits' own rule (unservable)
	}
	bc.rateOf[g] = best
	return best
}

// CloudUnaffordable says which of a trace's jobs no cloud run of can
// finish within a hard budget (budgetCap), as a note for the report (""
// when none, or no hard budget): the backtest queues them for on-prem
// alone, as it does jobs that outlast every instance (those the note of
// CloudUnfinishable names are not counted again).
func CloudUnaffordable(pool *policy.Pool, tr *trace.Trace) string {
	u := countUnpaid(pool, tr)
	if u.jobs == 0 {
		return ""
	}
	n, nowhere, bc := u.jobs, u.nowhere, u.cap
	return fmt.Sprintf("%s of the trace's %d (%.0f%% of its GPU-hours) %s more on the cloud than the hard budget's $%.2f a %s even on the offering where %s least, and the pool declares %s: "+
		"the budget drains and cuts such a run before it finishes, every period, each run paid for and lost (a launch timed to straddle a period's end could finish one costing up to twice the amount; no policy, nor the server, times launches so), "+
		"so the backtest shows them to no policy as demand and runs none on the cloud; %s",
		Counted(n, "job", "jobs"), len(tr.Jobs), 100*u.gpuHours/max(u.allGPUHours, 1e-9), plural(n, "costs", "cost"), bc.amount, pool.Limits.Budget.Period,
		plural(n, "its run costs", "their runs cost"), affordCheckpoint(pool, n), onPremFinishes(n, nowhere, pool.OnPrem.GPUs()))
}

// unpaid counts a trace's jobs no cloud run of which a hard budget pays
// (budgetCap), leaving out those that outlast every instance
// (CloudUnfinishable's) and those no instance's CPUs or memory hold.
type unpaid struct {
	cap                   budgetCap
	jobs, nowhere         int // nowhere: of jobs, those larger than on-prem
	gpuHours, allGPUHours float64
}

// countUnpaid is the pool's unpaid jobs of tr (none without a hard budget).
func countUnpaid(pool *policy.Pool, tr *trace.Trace) unpaid {
	bc, ok := newBudgetCap(pool)
	if !ok {
		return unpaid{}
	}
	u := unpaid{cap: bc}
	lw, lwOK := newLifeWindow(pool)
	shapes := policy.Shapes(pool.Offerings)
	for i := range tr.Jobs {
		j := &tr.Jobs[i]
		gh := float64(j.GPUs) * j.Duration.Hours()
		u.allGPUHours += gh
		c, why := cloudShape(shapes, j)
		if why != "" || (lwOK && lw.outlasts(j.Duration)) || !bc.outpays(pool, c, j.Duration) {
			continue
		}
		u.jobs++
		u.gpuHours += gh
		if j.GPUs > pool.OnPrem.GPUs() {
			u.nowhere++
		}
	}
	return u
}

// affordCheckpoint is what the note says of the pool's checkpoints: none,
// or one too far apart to save work within what a period pays.
func affordCheckpoint(pool *policy.Pool, n int) string {
	if pool.CheckpointInterval <= 0 {
		return "no checkpoint_interval"
	}
	return fmt.Sprintf("a checkpoint_interval of %s, longer than %s run%s until %s cost the amount", humanSeconds(pool.CheckpointInterval.D().Seconds()),
		plural(n, "its", "their"), plural(n, "", "s"), plural(n, "it has", "they have"))
}

// onPremFinishes says who finishes jobs the cloud cannot: on-prem, and
// none for the nowhere of them larger than its gpus.
func onPremFinishes(n, nowhere, gpus int) string {
	switch {
	case nowhere == 0:
		return "only on-prem finishes " + plural(n, "it", "them")
	case nowhere == 1 && n == 1:
		return fmt.Sprintf("it is larger than on-prem's %d GPUs too, so it runs nowhere: the backtest counts it as never served", gpus)
	case nowhere == 1:
		return fmt.Sprintf("only on-prem finishes them, and the one larger than its %d GPUs runs nowhere: the backtest counts it as never served", gpus)
	}
	return fmt.Sprintf("only on-prem finishes them, and the %d larger than its %d GPUs run nowhere: the backtest counts them as never served", nowhere, gpus)
}

// plural is one when n is 1, else many.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// outpays reports whether no cloud run of job j fits the pool's hard
// budget (budgetCap.outpays).
func (s *state) outpays(j int) bool {
	return s.capOK && s.cap.outpays(s.pool, s.cloudSize(j), s.jobs[j].Duration)
}

// cloudless reports whether every cloud run of job j would be cut before
// it finishes: it outlasts every instance (lifeWindow), or costs more
// than a hard budget pays in a period (budgetCap).
func (s *state) cloudless(j int) bool {
	return (s.lifeOK && s.life.outlasts(s.jobs[j].Duration)) || s.outpays(j)
}
