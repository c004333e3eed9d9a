package signals

import (
	"fmt"
	"strings"
)

// Shape is what one instance the pool rents offers a job on one node: its
// GPUs, vCPUs and memory (VCPUs or MemMiB 0: unknown, no limit). A demand
// source that knows each job's CPUs and memory counts a job as the
// smallest shape that holds it (Fit).
type Shape struct {
	GPUs   int
	VCPUs  int
	MemMiB int64
}

// Fit is the GPUs a one-node job of gpus GPUs, needing cpus CPUs and
// memMiB of memory (0: it does not say), counts as on the pool's shapes:
// the fewest GPUs of a shape that holds its GPUs, CPUs and memory, so that
// the instance launched for it can start it. It is gpus when the smallest
// shape for its GPUs holds its CPUs and memory too (a 2-GPU job beside a
// 4-GPU shape still counts as 2, to share it with another), when no shape is
// known, when nothing is asked beyond GPUs, and for a job larger than
// every shape (it spans instances: the policy decides). When a shape
// holds its GPUs but none its CPUs or memory, why says what it asks beyond
// every shape: no instance the pool rents could start it.
func Fit(shapes []Shape, gpus, cpus int, memMiB int64) (counted int, why string) {
	if len(shapes) == 0 || (cpus <= 0 && memMiB <= 0) {
		return gpus, ""
	}
	best, smallest := 0, 0 // the fewest GPUs of a shape that holds it all, and its GPUs alone
	var maxCPUs int
	var maxMem int64
	for _, s := range shapes {
		if s.GPUs < gpus {
			continue
		}
		if smallest == 0 || s.GPUs < smallest {
			smallest = s.GPUs
		}
		cpuOK := s.VCPUs == 0 || s.VCPUs >= cpus
		memOK := s.MemMiB == 0 || s.MemMiB >= memMiB
		if cpuOK && memOK {
			if best == 0 || s.GPUs < best {
				best = s.GPUs
			}
			continue
		}
		maxCPUs = max(maxCPUs, s.VCPUs)
		maxMem = max(maxMem, s.MemMiB)
	}
	switch {
	case smallest == 0, best == smallest:
		// Larger than every shape, or the smallest shape for its GPUs
		// holds it: it counts by its GPUs, packed with others as they fit.
		return gpus, ""
	case best > 0:
		return best, ""
	}
	var asks []string
	if cpus > maxCPUs && maxCPUs > 0 {
		asks = append(asks, fmt.Sprintf("%d CPUs", cpus))
	}
	if memMiB > maxMem && maxMem > 0 {
		asks = append(asks, fmt.Sprintf("%s of memory", gib(memMiB)))
	}
	if len(asks) == 0 { // each shape lacks one or the other
		asks = []string{fmt.Sprintf("%d CPUs and %s of memory", cpus, gib(memMiB))}
	}
	return gpus, "asking for " + strings.Join(asks, " and ") + " on one node, more than any instance the pool rents with its GPUs has"
}

// gib writes MiB as GiB, to one decimal when not whole.
func gib(mib int64) string {
	if mib%1024 == 0 {
		return fmt.Sprintf("%d GiB", mib/1024)
	}
	return fmt.Sprintf("%.1f GiB", float64(mib)/1024)
}

// FitJobs counts the jobs of d.JobGPUs on the pool's shapes, given each
// one's CPUs and memory in MiB (cpus and memMiB, each nil or as long as
// JobGPUs; 0: the job does not say), as Fit does: a job counted as more
// GPUs adds them to PendingGPUs and counts in Larger; a job no shape holds
// is dropped, with its wait, from the lists and from PendingJobs and
// PendingGPUs, and counted in LeftOut; with each job's wait known, the
// oldest wait is then the oldest of the jobs kept.
func FitJobs(d *Demand, shapes []Shape, cpus []int, memMiB []int64) {
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
		counted, why := Fit(shapes, g, c, m)
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
