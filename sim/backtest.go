package sim

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// Spillway is the pool's own policy: policy.Decide (without the notes and
// reasons it would format for no reader: policy.DecideWithoutNotes) on the pool's interval,
// with schedule floors from policy.ScheduleFloors, and the server's join
// timeout (the pool's default, policy.Pool.DefaultJoinTimeout): an
// instance not up by then is ended and its offering skipped for the
// capacity TTL.
func Spillway() Policy { return SpillwayWith(BaselineKnobs{}) }

// SpillwayWith is Spillway with k.JoinTimeout, the pool's join.timeout.
func SpillwayWith(k BaselineKnobs) Policy {
	join := func(pool *policy.Pool) time.Duration {
		if k.JoinTimeout > 0 {
			return k.JoinTimeout
		}
		return pool.DefaultJoinTimeout()
	}
	return withDecider(Policy{Name: PolicySpillway, IdleWithoutWork: true, KeepsFloors: true, QuietWhileBusy: true,
		JoinTimeout: join, JoinTimeoutSkips: true, LearnsSpot: true},
		func() Decider { return pure(engineDecide) })
}

// Admitted holds a baseline's plans to the pool's hard rules
// (policy.Admit): the same limits, budget, drain_timeout and max_lifetime
// that bind the spillway policy. The server's capacity cache is not one of
// them: each baseline keeps its own memory of capacity errors (per-job its
// node types set DOWN, karpenter its 3-minute ICE cache, threshold none),
// so Admit is not shown the snapshot's Unavailable and does not drop their
// launches for it; a launch into a stock-out fails at the simulated cloud
// and is counted.
//
// A baseline sees the offerings its operator would list: a pool whose jobs
// do not checkpoint leaves its spot offerings out (policy.SpotLastResort)
// unless it has nothing else, as a Karpenter NodePool launches on-demand
// unless spot is listed and a Slurm operator defines no spot node type for
// jobs a reclaim would throw away.
func Admitted(p Policy) Policy {
	if p.New == nil {
		return p
	}
	if inner := p.NewDecider; inner != nil {
		return withDecider(p, func() Decider { return &admitted{inner: inner()} })
	}
	// A policy without a Decider (a test's stand-in) is wrapped for its
	// Decide alone: it is never forked.
	newFn := p.New
	p.New = func() DecideFunc { return (&admitted{inner: pure(newFn())}).Decide }
	return p
}

// operatorOfferings is pool without the spot offerings a pool whose jobs
// do not checkpoint rents only as a last resort, unless nothing else is
// left; pool itself when there are none.
func operatorOfferings(pool *policy.Pool) *policy.Pool {
	var keep []policy.Offering
	for _, o := range pool.Offerings {
		if !pool.SpotLastResort(o) {
			keep = append(keep, o)
		}
	}
	if len(keep) == len(pool.Offerings) || len(keep) == 0 {
		return pool
	}
	cp := *pool
	cp.Offerings = keep
	return &cp
}

// PolicyNames lists every policy a backtest can run, in report order.
var PolicyNames = []string{PolicySpillway, PolicyOnPremOnly, PolicyThreshold, PolicyPerJob, PolicyKarpenter}

// PolicyByName returns the named policy, baselines with their default knobs.
func PolicyByName(name string) (Policy, error) { return PolicyWith(name, BaselineKnobs{}) }

// PolicyWith returns the named policy with knobs k.
func PolicyWith(name string, k BaselineKnobs) (Policy, error) {
	switch name {
	case PolicySpillway:
		return SpillwayWith(k), nil
	case PolicyOnPremOnly:
		return OnPremOnly(), nil
	case PolicyThreshold:
		return Admitted(ThresholdWith(k)), nil
	case PolicyPerJob:
		return Admitted(PerJobWith(k)), nil
	case PolicyKarpenter:
		return Admitted(KarpenterWith(k)), nil
	}
	return Policy{}, fmt.Errorf("unknown policy %q (want one of %s)", name, strings.Join(PolicyNames, ", "))
}

// WithOnPremGPUs returns a copy of pool whose on-prem size is gpus, rounded
// up to whole nodes of the pool's gpus_per_node (8 when unset).
func WithOnPremGPUs(pool policy.Pool, gpus int) policy.Pool {
	if pool.OnPrem.GPUsPerNode <= 0 {
		pool.OnPrem.GPUsPerNode = 8
	}
	pool.OnPrem.Nodes = (max(0, gpus) + pool.OnPrem.GPUsPerNode - 1) / pool.OnPrem.GPUsPerNode
	return pool
}

// Report is a backtest of several policies on one trace and pool.
type Report struct {
	Trace       TraceInfo `json:"trace"`
	Pool        string    `json:"pool"`
	OnPremGPUs  int       `json:"onprem_gpus"`
	WaitTargetS float64   `json:"wait_target_s"`
	// Notes say what the pool's rules mean for this trace, whatever the
	// policy (see CloudUnfinishable).
	Notes   []string `json:"notes,omitempty"`
	Results []Result `json:"results"`
}

// TraceInfo describes the trace a report ran on.
type TraceInfo struct {
	Name  string  `json:"name"`
	Jobs  int     `json:"jobs"`
	SpanS float64 `json:"span_s"`
	// Skipped counts the rows left out as not GPU work (a job log's
	// CPU-only jobs and jobs that never ran), by why.
	Skipped []trace.Skip `json:"skipped,omitempty"`
}

// Backtest options.
type Backtest struct {
	Pool     policy.Pool
	Trace    *trace.Trace
	Policies []Policy
	// Timeline records plot samples in every result.
	Timeline bool
	// Cloud is the cloud model every policy runs against (nil: ideal).
	Cloud *Cloud
	// Progress, when set, receives the mean fraction done over all runs.
	Progress func(done float64)
	// MaxInstances bounds each run's launches (Options.MaxInstances).
	MaxInstances int
	// LimitCosts runs each policy again, for each limit that bound it
	// (Result.LimitBoundHours), with that limit lifted, and reports the
	// difference in Result.WithoutLimit.
	LimitCosts bool

	// progress, set by Run when Progress is, reports one more run's
	// fraction done (slot -1 adds the run).
	progress func(slot *int, f float64)
}

// Run simulates every policy on the trace, concurrently; results come in
// the order of b.Policies and do not depend on scheduling.
func (b Backtest) Run(ctx context.Context) (Report, error) {
	rep := Report{
		Trace:       TraceInfo{Name: b.Trace.Name, Jobs: len(b.Trace.Jobs), SpanS: b.Trace.Span().Seconds(), Skipped: b.Trace.Skipped},
		Pool:        b.Pool.Name,
		OnPremGPUs:  b.Pool.OnPrem.GPUs(),
		WaitTargetS: b.Pool.WaitTarget.D().Seconds(),
		Results:     make([]Result, len(b.Policies)),
	}
	rep.Notes = TraceNotes(&b.Pool, b.Trace)
	if n := QuotaShort(&b.Pool, b.Cloud, b.Trace); n != "" {
		rep.Notes = append(rep.Notes, n)
	}
	var mu sync.Mutex
	done := make([]float64, len(b.Policies))
	// report sends the mean fraction done over every run so far: the
	// policies', then also the runs without a binding limit, each added
	// (at 0) when it starts.
	report := func() {
		sum := 0.0
		for _, d := range done {
			sum += d
		}
		b.Progress(sum / float64(len(done)))
	}
	if b.Progress != nil {
		b.progress = func(slot *int, f float64) {
			mu.Lock()
			defer mu.Unlock()
			if *slot < 0 {
				*slot = len(done)
				done = append(done, 0)
			}
			done[*slot] = f
			report()
		}
	}
	errs := make([]error, len(b.Policies))
	var wg sync.WaitGroup
	for i, p := range b.Policies {
		if p.Name == PolicySpillway && engineDecide == nil {
			return Report{}, fmt.Errorf("sim: the spillway policy engine is not available")
		}
		pool := b.Pool
		o := Options{Pool: &pool, Trace: b.Trace, Policy: p, Timeline: b.Timeline, Cloud: b.Cloud, MaxInstances: b.MaxInstances,
			Floors: scheduleFloors}
		if b.Progress != nil {
			o.Progress = func(f float64) {
				mu.Lock()
				defer mu.Unlock()
				done[i] = f
				report()
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep.Results[i], errs[i] = Run(ctx, o)
			if errs[i] == nil && b.LimitCosts && p.New != nil { // a policy that never rents meets no limit
				errs[i] = b.limitCosts(ctx, p, &rep.Results[i])
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return Report{}, fmt.Errorf("policy %s: %w", b.Policies[i].Name, err)
		}
	}
	markDominated(rep.Results)
	return rep, nil
}

// limitCosts runs p once more per limit that bound res, with that limit
// lifted, concurrently, and records each run in res.WithoutLimit. A limit
// binds when it held back a launch or ended capacity (LimitBoundHours), or
// when it keeps jobs of the trace off the cloud altogether: no instance
// that holds one fits under it (policy.CloudHolds), or, for a hard budget,
// no whole run of one is paid within a period (countUnpaid), so no policy
// ever launches for them and they wait for on-prem, or are never served.
func (b Backtest) limitCosts(ctx context.Context, p Policy, res *Result) error {
	limits := make([]string, 0, len(res.LimitBoundHours))
	for l := range res.LimitBoundHours {
		limits = append(limits, l)
	}
	keptOff := b.keptOffCloud()
	unpaidJobs := countUnpaid(&b.Pool, b.Trace).jobs
	for _, l := range slices.Sorted(maps.Keys(keptOff)) {
		if !slices.Contains(limits, l) {
			limits = append(limits, l)
		}
	}
	if unpaidJobs > 0 && !slices.Contains(limits, policy.LimitBudget) {
		limits = append(limits, policy.LimitBudget)
	}
	if len(limits) == 0 {
		return nil
	}
	slices.Sort(limits)
	out := make([]LimitCost, len(limits))
	errs := make([]error, len(limits))
	pools := make([]*policy.Pool, len(limits))
	for k, l := range limits {
		if pool, ok := liftLimit(b.Pool, l); ok {
			pools[k] = &pool
		} else {
			out[k].Error = fmt.Sprintf("unknown limit %q", l)
		}
	}
	// The runs go at once and share the policy's bound on instances, as a
	// sweep's runs share theirs: each with the whole of it, three of them
	// could hold three times the instances' part of --max-memory.
	maxInstances := b.MaxInstances
	if n := len(pools) - countNil(pools); maxInstances > 0 && n > 1 {
		maxInstances = max(maxInstances/n, 1)
	}
	var wg sync.WaitGroup
	for k, l := range limits {
		if pools[k] == nil {
			continue
		}
		pool := pools[k]
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := Options{Pool: pool, Trace: b.Trace, Policy: p, Cloud: b.Cloud, MaxInstances: maxInstances,
				Floors: scheduleFloors}
			if b.progress != nil {
				slot := -1
				b.progress(&slot, 0)
				o.Progress = func(f float64) { b.progress(&slot, f) }
			}
			r, err := Run(ctx, o)
			switch {
			case errors.Is(err, ErrTooManyInstances) || errors.Is(err, ErrHorizon):
				out[k].Error = err.Error()
			case err != nil:
				errs[k] = fmt.Errorf("without %s: %w", l, err)
			default:
				out[k] = LimitCost{CloudCostUSD: r.CloudCostUSD, WaitP95S: r.WaitP95S, WaitP99S: r.WaitP99S, JobsKilled: r.JobsKilled,
					GPUHoursLost: r.GPUHoursLost, JobsUnstarted: r.JobsUnstarted, JobsNeverServed: r.JobsNeverServed}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	res.WithoutLimit = make(map[string]LimitCost, len(limits))
	for k, l := range limits {
		out[k].BoundHours = res.LimitBoundHours[l]
		out[k].KeptOffCloudGPUs = keptOff[l]
		if l == policy.LimitBudget {
			out[k].UnpaidJobs = unpaidJobs
		}
		res.WithoutLimit[l] = out[k]
	}
	return nil
}

// countNil is how many of ps are nil.
func countNil(ps []*policy.Pool) int {
	n := 0
	for _, p := range ps {
		if p == nil {
			n++
		}
	}
	return n
}

// keptOffCloud is, per limit of the pool, the smallest job size of the
// trace that the cloud can hold without that limit but not with it (none:
// the limit keeps no job off the cloud).
func (b Backtest) keptOffCloud() map[string]int {
	sizes := map[int]bool{}
	for _, j := range b.Trace.Jobs {
		sizes[j.GPUs] = true
	}
	out := map[string]int{}
	for _, g := range slices.Sorted(maps.Keys(sizes)) {
		if policy.CloudHolds(&b.Pool, g) == "" {
			continue
		}
		for _, l := range []string{policy.LimitBudget, policy.LimitMaxGPUs, policy.LimitMaxCostPerHour} {
			if _, seen := out[l]; seen {
				continue
			}
			if lifted, ok := liftLimit(b.Pool, l); ok && policy.CloudHolds(&lifted, g) == "" {
				out[l] = g
			}
		}
	}
	return out
}

// liftLimit is pool without the named hard limit.
func liftLimit(pool policy.Pool, limit string) (policy.Pool, bool) {
	switch limit {
	case policy.LimitBudget:
		pool.Limits.Budget = nil
	case policy.LimitMaxGPUs:
		pool.Limits.MaxGPUs = 0
	case policy.LimitMaxCostPerHour:
		pool.Limits.MaxCostPerHour = 0
	default:
		return pool, false
	}
	return pool, true
}

// markDominated sets each result's DominatedBy: the policies that cost
// less and wait no longer at p95, or cost no more and wait less, and
// leave no more jobs unstarted or never served. A job that never started
// waits only until the run ended (a lower bound), and one never served is
// left out of the waits, so a policy that leaves jobs unserved
// (onprem-only with jobs larger than on-prem) dominates none that serves
// them, however short its waits look. Nor does one that never serves more
// jobs than r: its waits leave out jobs whose waits r's count (served, or
// unstarted until the run ended), so its p95 is not r's measured on the
// same jobs (a spillway run that rented nothing, its launches refused for
// quota, was said dominated by onprem-only, the same run, for the lower
// bounds its unstarted jobs add to its waits).
func markDominated(rs []Result) {
	for i := range rs {
		r := &rs[i]
		r.DominatedBy = []string{}
		for _, q := range rs {
			if q.Policy == r.Policy || q.JobsUnstarted+q.JobsNeverServed > r.JobsUnstarted+r.JobsNeverServed || q.JobsNeverServed > r.JobsNeverServed {
				continue
			}
			if (q.CloudCostUSD < r.CloudCostUSD && q.WaitP95S <= r.WaitP95S) ||
				(q.CloudCostUSD <= r.CloudCostUSD && q.WaitP95S < r.WaitP95S) {
				r.DominatedBy = append(r.DominatedBy, q.Policy)
			}
		}
	}
}
