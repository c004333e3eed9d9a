package sim

// Jobs' shapes: the GPUs a job takes on a cloud instance when the trace
// gives its CPUs or memory, as the server's demand sources count it.

import (
	"fmt"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// cloudShape is the GPUs job j takes on a cloud instance: its GPUs, or,
// when the trace gives its CPUs or memory, the GPUs of the smallest
// instance the pool rents that holds them (policy.FitShape; the instance's
// other GPUs stay idle beside it). 0 when none holds them with its GPUs,
// and why: it runs on-prem only, and no policy is shown it.
func cloudShape(shapes []policy.Shape, j *trace.Job) (gpus int, why string) {
	if shapes == nil || (j.CPUs == 0 && j.MemMiB == 0) {
		return j.GPUs, ""
	}
	g, why := policy.FitShape(shapes, j.GPUs, int(j.CPUs), int64(j.MemMiB))
	if why != "" {
		return 0, why
	}
	return g, ""
}

// cloudSize is cloudShape for job j of the run.
func (s *state) cloudSize(j int) int {
	g, _ := cloudShape(s.shapes, &s.jobs[j])
	return g
}

// CloudShapes says how many of a trace's jobs ask for more CPUs or memory
// than the smallest instance with their GPUs has, and what that adds, as
// a note for the report ("" when none do): on the cloud each takes the
// GPUs of the smallest instance that holds it, the rest of which idle
// beside it, and a job no instance holds runs on-prem only. When the
// trace gives CPUs or memory but no offering's vCPUs or memory is known,
// it says that they are not used.
func CloudShapes(pool *policy.Pool, tr *trace.Trace) string {
	shapes := policy.Shapes(pool.Offerings)
	if shapes == nil {
		for i := range tr.Jobs {
			if tr.Jobs[i].CPUs > 0 || tr.Jobs[i].MemMiB > 0 {
				return "the trace gives jobs' CPUs or memory, but no offering's vcpus or memory_gib is known (the catalog lacks their instance types): jobs take instances by their GPUs alone; set vcpus and memory_gib on the offerings to match jobs to shapes"
			}
		}
		return ""
	}
	larger, none := 0, 0
	var added float64
	why := ""
	for i := range tr.Jobs {
		j := &tr.Jobs[i]
		switch g, w := cloudShape(shapes, j); {
		case w != "":
			none++
			why = w
		case g > j.GPUs:
			larger++
			added += float64(g-j.GPUs) * j.Duration.Hours()
		}
	}
	var out string
	if larger > 0 {
		out = fmt.Sprintf("%s of the trace's %d ask for more CPUs or memory than the smallest instance with their GPUs has: on the cloud each takes the GPUs of the smallest instance that holds it (%s GPU-hours more if all ran there, idle beside them), as the server counts such jobs",
			Counted(larger, "job", "jobs"), len(tr.Jobs), gpuHours(added))
	}
	if none > 0 {
		if out != "" {
			out += "; "
		}
		them := "they run on-prem only, and no policy launches for them"
		if none == 1 {
			them = "it runs on-prem only, and no policy launches for it"
		}
		out += fmt.Sprintf("%s no instance the pool rents holds (the last one %s): %s", Counted(none, "job", "jobs"), why, them)
	}
	return out
}
