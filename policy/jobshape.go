package policy

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Shape is what one instance the pool rents offers a job on one node: its
// GPUs, vCPUs and memory (VCPUs or MemMiB 0: unknown, no limit). A demand
// source that knows each job's CPUs and memory counts a job as the
// smallest shape that holds it (FitShape).
type Shape struct {
	GPUs   int
	VCPUs  int
	MemMiB int64
}

// FitShape is the GPUs a one-node job of gpus GPUs, needing cpus CPUs and
// memMiB of memory (0: it does not say), counts as on the pool's shapes:
// the fewest GPUs of a shape that holds its GPUs, CPUs and memory, so that
// the instance launched for it can start it. It is gpus when the smallest
// shape for its GPUs holds its CPUs and memory too (a 2-GPU job beside a
// 4-GPU shape still counts as 2, to share it with another), when no shape is
// known, when nothing is asked beyond GPUs, and for a job larger than
// every shape (it spans instances: the policy decides). When a shape
// holds its GPUs but none its CPUs or memory, why says what it asks beyond
// every shape: no instance the pool rents could start it.
func FitShape(shapes []Shape, gpus, cpus int, memMiB int64) (counted int, why string) {
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
		asks = append(asks, fmt.Sprintf("%s of memory", shapeGiB(memMiB)))
	}
	if len(asks) == 0 { // each shape lacks one or the other
		asks = []string{fmt.Sprintf("%d CPUs and %s of memory", cpus, shapeGiB(memMiB))}
	}
	return gpus, "asking for " + strings.Join(asks, " and ") + " on one node, more than any instance the pool rents with its GPUs has"
}

// shapeGiB writes MiB as GiB, to one decimal when not whole.
func shapeGiB(mib int64) string {
	if mib%1024 == 0 {
		return fmt.Sprintf("%d GiB", mib/1024)
	}
	return fmt.Sprintf("%.1f GiB", float64(mib)/1024)
}

// Shapes are the distinct GPUs, vCPUs and memory of the offerings, for a
// demand source to match jobs' CPUs and memory to; nil when no offering's
// vCPUs or memory is known.
func Shapes(offs []Offering) []Shape {
	var out []Shape
	known := false
	for _, o := range offs {
		s := Shape{GPUs: o.GPUs, VCPUs: o.VCPUs, MemMiB: int64(math.Ceil(o.MemoryGiB * 1024))}
		known = known || s.VCPUs > 0 || s.MemMiB > 0
		if o.GPUs > 0 && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if !known {
		return nil
	}
	return out
}
