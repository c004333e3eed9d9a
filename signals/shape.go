package signals

import "github.com/spillway-io/spillway/policy"

// FitJobs counts the jobs of d.JobGPUs on the pool's shapes, given each
// one's CPUs and memory in MiB (cpus and memMiB, each nil or as long as
// JobGPUs; 0: the job does not say), as policy.FitShape does: a job counted as more
// GPUs adds them to PendingGPUs and counts in Larger; a job no shape holds
// is dropped, with its wait, from the lists and from PendingJobs and
// PendingGPUs, and counted in LeftOut; with each job's wait known, the
// oldest wait is then the oldest of the jobs kept. Smallest is the fewest
// GPUs a kept job asks for itself.
func FitJobs(d *Demand, shapes []policy.Shape, cpus []int, memMiB []int64) {
	if len(shapes) == 0 || (cpus == nil && memMiB == nil) {
		return
	}
	waits := len(d.JobWaits) == len(d.JobGPUs)
	kept := 0
	for i, g := range d.JobGPUs {
		var c int
		var m int64
		if i < len(cpus) {
			c = cpus[i]
		}
		if i < len(memMiB) {
			m = memMiB[i]
		}
		counted, why := policy.FitShape(shapes, g, c, m)
		if why != "" {
			d.AddLeftOut(why)
			d.PendingJobs = max(d.PendingJobs-1, 0)
			d.PendingGPUs = max(d.PendingGPUs-g, 0)
			continue
		}
		if counted > g {
			d.Larger++
			d.PendingGPUs += counted - g
		}
		if d.Smallest == 0 || g < d.Smallest {
			d.Smallest = g
		}
		d.JobGPUs[kept] = counted
		if waits {
			d.JobWaits[kept] = d.JobWaits[i]
		}
		kept++
	}
	dropped := kept < len(d.JobGPUs)
	d.JobGPUs = d.JobGPUs[:kept]
	if !waits {
		return
	}
	d.JobWaits = d.JobWaits[:kept]
	if dropped {
		d.OldestWait = 0
		for _, w := range d.JobWaits {
			d.OldestWait = max(d.OldestWait, w)
		}
		d.OldestWaitKnown = d.OldestWaitKnown && kept > 0
	}
}
