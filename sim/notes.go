package sim

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// TraceNotes are the notes a report gives on a trace under a pool's rules,
// whatever the policy: how it was read (Trace.Notes), SharedGPUs',
// CloudShapes', CloudUnfinishable's and CloudUnaffordable's.
func TraceNotes(pool *policy.Pool, tr *trace.Trace) []string {
	notes := slices.Clone(tr.Notes)
	for _, n := range []string{SharedGPUs(tr), CloudShapes(pool, tr), CloudUnfinishable(pool, tr), CloudUnaffordable(pool, tr)} {
		if n != "" {
			notes = append(notes, n)
		}
	}
	return notes
}

// SharedGPUs says how many of a trace's jobs asked for part of a GPU and
// what running them on whole GPUs adds to the demand, as a note for the
// report ("" when none did): GPU sharing has no counterpart in the
// simulator, which rents and places whole GPUs, so every policy serves
// more GPU-hours than the trace's jobs asked for.
func SharedGPUs(tr *trace.Trace) string {
	if tr.Shared == 0 {
		return ""
	}
	var all float64
	for _, j := range tr.Jobs {
		all += float64(j.GPUs) * j.Duration.Hours()
	}
	asked := "asked"
	if tr.Shared == 1 {
		asked = "asks"
	}
	return fmt.Sprintf("%s of the trace's %d %s for part of a GPU (GPU sharing); the simulator rents and places whole GPUs, so each runs on whole ones, rounded up: "+
		"that adds %s GPU-hours (%.1f%% of the %s replayed) to what every policy serves",
		Counted(tr.Shared, "job", "jobs"), len(tr.Jobs), asked, gpuHours(tr.SharedGPUHours), 100*tr.SharedGPUHours/max(all, 1e-9), gpuHours(all))
}

// gpuHours is a GPU-hour figure to a whole hour, or to two decimals below one.
func gpuHours(h float64) string {
	if h < 1 {
		return fmt.Sprintf("%.2f", h)
	}
	return fmt.Sprintf("%.0f", h)
}

// CloudUnfinishable says which of a trace's jobs no cloud run can finish
// under the pool's rules, as a note for the report ("" when none): with
// scale_in.max_lifetime and a drain_timeout, an instance ends at most
// their sum after its launch, so a job that runs longer even on the
// fastest offering, and that saves no checkpoint within that time, is
// killed on every cloud run and starts over. Only on-prem can finish it:
// the backtest queues it for on-prem alone (state.queueFor), so that no
// policy rents for it, and the note tells the reader so.
func CloudUnfinishable(pool *policy.Pool, tr *trace.Trace) string {
	lw, ok := newLifeWindow(pool)
	if !ok {
		return ""
	}
	window := lw.window
	n, nowhere := 0, 0
	var long, all float64
	for _, j := range tr.Jobs {
		gh := float64(j.GPUs) * j.Duration.Hours()
		all += gh
		if lw.outlasts(j.Duration) {
			n++
			long += gh
			if j.GPUs > pool.OnPrem.GPUs() {
				nowhere++
			}
		}
	}
	if n == 0 {
		return ""
	}
	ck := "no checkpoint_interval"
	if pool.CheckpointInterval > 0 {
		ck = "a checkpoint_interval of " + humanSeconds(pool.CheckpointInterval.D().Seconds()) + ", longer than that"
	}
	onprem := "only on-prem finishes them"
	if nowhere > 0 {
		if nowhere > 1 {
			onprem = fmt.Sprintf("only on-prem finishes them, and the %d larger than its %d GPUs can run nowhere: the backtest counts them as never served", nowhere, pool.OnPrem.GPUs())
		} else {
			onprem = fmt.Sprintf("only on-prem finishes them, and the one larger than its %d GPUs can run nowhere: the backtest counts it as never served", pool.OnPrem.GPUs())
		}
	}
	run := "run"
	if n == 1 {
		run = "runs"
	}
	return fmt.Sprintf("%s of the trace's %d (%.0f%% of its GPU-hours) %s longer than scale_in.max_lifetime + drain_timeout (%s) even on the fastest offering, and the pool declares %s: "+
		"a cloud instance always ends before such a job finishes, so the backtest shows them to no policy as demand and runs none on the cloud (each run would be killed and lost); %s",
		Counted(n, "job", "jobs"), len(tr.Jobs), 100*long/max(all, 1e-9), run, humanSeconds(window.Seconds()), ck, onprem)
}

// lifeWindow is the longest a cloud run of a job can last under a pool's
// rules: scale_in.max_lifetime + drain_timeout from the launch, at the
// speed of the fastest offering that such a job is run on. A spot
// offering of a pool whose jobs do not checkpoint is not one
// (policy.Pool.SpotLastResort: every policy rents the others first, and
// the baselines never list it), unless the pool has only such offerings:
// a job that only it would finish in time is run on the others, each run
// killed and paid for.
type lifeWindow struct {
	window time.Duration
	perf   float64
}

// newLifeWindow is the pool's lifeWindow; ok is false when a cloud run is
// not bounded (no max_lifetime, or drains that wait for their jobs) or
// when each run saves some work (a checkpoint_interval within the window),
// so that every job can finish on the cloud in the end.
func newLifeWindow(pool *policy.Pool) (lw lifeWindow, ok bool) {
	life, drain := pool.ScaleIn.MaxLifetime.D(), pool.ScaleIn.DrainTimeout.D()
	if life <= 0 || drain <= 0 || len(pool.Offerings) == 0 {
		return lifeWindow{}, false
	}
	lw.window = life + drain
	if ck := pool.CheckpointInterval.D(); ck > 0 && ck < lw.window {
		return lifeWindow{}, false
	}
	for _, o := range operatorOfferings(pool).Offerings {
		lw.perf = max(lw.perf, offeringPerf(o))
	}
	return lw, true
}

// outlasts reports whether a job of duration d runs longer than the
// window even on the fastest offering.
func (lw lifeWindow) outlasts(d time.Duration) bool {
	return float64(d)/lw.perf > float64(lw.window)
}

// QuotaShort says which of a trace's jobs no offering can hold within its
// provider's quota (Cloud.Quota, per provider and per provider/region)
// and the pool's limits at once, as a note for the report ("" when none,
// or no quotas): a job spans instances of one offering only, so one that
// needs more of an offering's GPUs than its quota allows, on every
// offering the limits allow, runs only on-prem, and a policy that rents
// for it holds instances that wait, idle, for a gang the quota never
// completes (the policies are shown such jobs as demand: a server learns
// quotas from the providers' refusals). Jobs are sized as on the cloud
// (cloudShape: CPUs and memory can take a larger instance), as the
// never-served rule sizes them. Those larger than on-prem too never
// start: the backtest counts them as never served (runsNowhere).
func QuotaShort(pool *policy.Pool, cloud *Cloud, tr *trace.Trace) string {
	if cloud == nil || len(cloud.Quota) == 0 || len(pool.Offerings) == 0 {
		return ""
	}
	shapes := policy.Shapes(pool.Offerings)
	lw, lwOK := newLifeWindow(pool)
	bc, bcOK := newBudgetCap(pool)
	short := map[int]bool{}
	n, largest, nowhere := 0, 0, 0
	limits := false
	for i := range tr.Jobs {
		j := &tr.Jobs[i]
		c, why := cloudShape(shapes, j)
		if j.GPUs <= 0 || why != "" || policy.CloudHolds(pool, c) != "" ||
			(lwOK && lw.outlasts(j.Duration)) || (bcOK && bc.outpays(pool, c, j.Duration)) {
			continue // never served, or on-prem's alone, shown to no policy: the other notes say so
		}
		s, ok := short[c]
		if !ok {
			s = !quotaHolds(pool, cloud.Quota, c)
			short[c] = s
		}
		if !s {
			continue
		}
		n++
		if c > largest {
			largest, limits = c, quotaHoldsUnlimited(pool, cloud.Quota, c)
		}
		if j.GPUs > pool.OnPrem.GPUs() {
			nowhere++
		}
	}
	if n == 0 {
		return ""
	}
	where := "only on-prem runs them"
	if n == 1 {
		where = "only on-prem runs it"
	}
	switch {
	case nowhere == 1 && n == 1:
		where = fmt.Sprintf("it is larger than on-prem's %d GPUs too, so it runs nowhere: the backtest counts it as never served", pool.OnPrem.GPUs())
	case nowhere == 1:
		where += fmt.Sprintf(", and the one larger than its %d GPUs runs nowhere: the backtest counts it as never served", pool.OnPrem.GPUs())
	case nowhere > 1:
		where += fmt.Sprintf(", and the %d larger than its %d GPUs run nowhere: the backtest counts them as never served", nowhere, pool.OnPrem.GPUs())
	}
	them := "them"
	if n == 1 {
		them = "it"
	}
	return fmt.Sprintf("no provider's quota holds %d GPUs of one offering%s (simulate.cloud.quota: %s): %s of the trace's %d, up to %d GPUs, cannot run on the cloud: %s; "+
		"a policy that rents for %s holds instances idle, waiting for a gang the quota never completes (see its GPU-hours paid and not used)",
		largest, allowedBy(limits), quotaList(cloud.Quota), Counted(n, "job", "jobs"), len(tr.Jobs), largest, where, them)
}

// allowedBy is what a quota note adds when some offering's quota would
// hold the job but not one the pool's limits allow.
func allowedBy(limits bool) string {
	if limits {
		return " that the pool's limits allow"
	}
	return ""
}

// quotaHolds reports whether some offering that takes a job of g GPUs
// within the pool's limits (policy.CloudHoldsWithin, as policy.CloudHolds
// judges it: whole, or spanning instances of at least span.min_gpus, the
// largest only with whole_jobs) has the instances it needs within its
// provider's and region's quotas.
func quotaHolds(pool *policy.Pool, quota map[string]int, g int) bool {
	return policy.CloudHoldsWithin(pool, g, func(o *policy.Offering, n int) bool {
		for _, key := range [2]string{o.Provider, o.Provider + "/" + o.Region} {
			if q, ok := quota[key]; ok && n*o.GPUs > q {
				return false
			}
		}
		return true
	})
}

// quotaHoldsUnlimited is quotaHolds without the pool's limits: whether
// the quotas alone hold a job of g GPUs on some offering.
func quotaHoldsUnlimited(pool *policy.Pool, quota map[string]int, g int) bool {
	p := *pool
	p.Limits = policy.Limits{}
	return quotaHolds(&p, quota, g)
}

// quotaList is the quotas as "aws-east 24, ali-hz 16", sorted by key.
func quotaList(quota map[string]int) string {
	keys := slices.Sorted(maps.Keys(quota))
	items := make([]string, len(keys))
	for i, k := range keys {
		items[i] = fmt.Sprintf("%s %d", k, quota[k])
	}
	return strings.Join(items, ", ")
}
