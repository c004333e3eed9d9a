package slurm

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// need is what a pending job asks of each node it runs on: CPUs and
// memory (0 when it does not say).
type need struct {
	nodes  int
	cpus   int
	memMiB int64
}

// jobNeed reads a job's CPUs and memory per node from squeue's tres-alloc
// (for a pending job, its request: cpu=N,mem=M summed over its nodes) and
// MinMemory. Memory counts only when the job asked for it (MinMemory not
// 0): without --mem or --mem-per-cpu, Slurm writes the on-prem node's whole
// memory into the TRES, which says nothing of what the job needs. A field
// squeue does not fill (an older Slurm, N/A) or that does not read as a
// number reads as no need: the job then counts by its GPUs alone, as
// before shapes were matched, rather than failing the whole read.
func jobNeed(f []string) need {
	n := need{nodes: 1}
	if len(f) <= fTRES {
		return n
	}
	if nodes, err := leadingInt(f[fNodes]); err == nil && nodes > 1 {
		n.nodes = nodes
	}
	var cpus, mem string
	for item := range strings.SplitSeq(strings.TrimSpace(f[fTRES]), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(item), "=")
		switch k {
		case "cpu":
			cpus = v
		case "mem":
			mem = v
		}
	}
	if c, err := atoi(cpus); err == nil && c > 0 {
		n.cpus = c/n.nodes + min(c%n.nodes, 1)
	}
	minMem := strings.TrimSpace(f[fMinMemory])
	if minMem == "" || minMem == "0" || minMem == "N/A" {
		return n
	}
	if mem == "" {
		mem = minMem // no memory in the TRES: MinMemory, per node (or per CPU: the least it can be)
	}
	if m, err := parseMiB(mem); err == nil {
		n.memMiB = m/int64(n.nodes) + min(m%int64(n.nodes), 1)
	}
	return n
}

// maxMiB bounds a memory figure: a pebibyte.
const maxMiB = 1 << 30

// parseMiB reads a Slurm memory size, a number with an optional unit
// K, M (the default), G, T or P (powers of 1024), in MiB rounded up.
func parseMiB(s string) (int64, error) {
	s = strings.TrimSpace(s)
	scale := 1.0
	if s != "" {
		switch s[len(s)-1] {
		case 'K', 'k':
			scale = 1.0 / 1024
		case 'M', 'm':
		case 'G', 'g':
			scale = 1024
		case 'T', 't':
			scale = 1024 * 1024
		case 'P', 'p':
			scale = 1024 * 1024 * 1024
		default:
			scale = 0
		}
		if scale != 0 {
			s = s[:len(s)-1]
		} else {
			scale = 1
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || math.IsNaN(v) || v*scale > maxMiB {
		return 0, fmt.Errorf("not a memory size (want a number of MiB, or with a unit K, M, G, T or P, up to %d MiB)", maxMiB)
	}
	return int64(math.Ceil(v * scale)), nil
}
