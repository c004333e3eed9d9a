package sim

import (
	"fmt"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// CloudUnfinishable says which of a trace's jobs no cloud run can finish
// under the pool's rules, as a note for the report ("" when none): with
// scale_in.max_lifetime and a drain_timeout, an instance ends at most
// their sum after its launch, so a job that runs longer even on the
// fastest offering, and that saves no checkpoint within that time, is
// killed on every cloud run and starts over. Only on-prem can finish it.
// The policies do not know job lengths, so they launch for it as for any
// job; the note tells the reader why the report then shows runs killed.
func CloudUnfinishable(pool *policy.Pool, tr *trace.Trace) string {
	life, drain := pool.ScaleIn.MaxLifetime.D(), pool.ScaleIn.DrainTimeout.D()
	if life <= 0 || drain <= 0 || len(pool.Offerings) == 0 {
		return "" // no limit, or drains wait for the jobs
	}
	window := life + drain
	if ck := pool.CheckpointInterval.D(); ck > 0 && ck < window {
		return "" // each run saves some work: the job gets there
	}
	perf := 0.0
	for _, o := range pool.Offerings {
		perf = max(perf, offeringPerf(o))
	}
	n := 0
	var long, all float64
	for _, j := range tr.Jobs {
		gh := float64(j.GPUs) * j.Duration.Hours()
		all += gh
		if float64(j.Duration)/perf > float64(window) {
			n++
			long += gh
		}
	}
	if n == 0 {
		return ""
	}
	ck := "no checkpoint_interval"
	if pool.CheckpointInterval > 0 {
		ck = "a checkpoint_interval of " + humanSeconds(pool.CheckpointInterval.D().Seconds()) + ", longer than that"
	}
	return fmt.Sprintf("%s of the trace's %d (%.0f%% of its GPU-hours) run longer than scale_in.max_lifetime + drain_timeout (%s) even on the fastest offering, and the pool declares %s: "+
		"a cloud instance always ends before such a job finishes, so every cloud run of one is killed and lost; only on-prem finishes them",
		counted(n, "job", "jobs"), len(tr.Jobs), 100*long/max(all, 1e-9), humanSeconds(window.Seconds()), ck)
}
