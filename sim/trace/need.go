package trace

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// A job's CPUs and memory, where a trace gives them (Job.CPUs, Job.MemMiB):
// counts beyond what an int32 holds are kept as its largest value, which no
// instance holds either.
const maxNeed = math.MaxInt32

// need parses a job's CPUs or memory: a non-negative number times scale
// (the unit it is counted in, e.g. 1/100 of a core or 1024 MiB), rounded
// up. Empty, NaN and N/A say nothing: 0.
func (p *parser) need(line int, col, s string, scale float64, want string) (int32, error) {
	v := strings.TrimSpace(s)
	if v == "" || strings.EqualFold(v, "nan") || strings.EqualFold(v, "n/a") {
		return 0, nil
	}
	f, err := parseDecimal(v)
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange):
		return 0, p.bad(line, col, s, want, notNumber(err))
	case err == nil && math.IsInf(f, 0):
		return 0, p.bad(line, col, s, want, errNotFinite)
	case f != f || f < 0 || math.IsInf(f, 1):
		// Infinity (or a number past float64's range, read as one) is
		// no request a scheduler takes; a finite count past an int32's
		// is kept as its largest.
		return 0, p.bad(line, col, s, want, errors.New("out of range"))
	}
	return saturate(f * scale), nil
}

// needCol is a trace's column of CPUs or memory: its name, the CPUs or
// MiB one of its units is, what it holds (for messages), and where it is
// in a file's header (parser.at; -1: absent).
type needCol struct {
	name  string
	scale float64
	want  string
	idx   int
}

// at is c as found in the file's header.
func (p *parser) at(c needCol) needCol {
	c.idx = p.col(c.name)
	return c
}

// The CPU and memory columns of the formats that have them.
var (
	podCPU     = needCol{"cpu_milli", 0.001, "thousandths of a CPU the pod asks for, 0 or more", -1}
	podMem     = needCol{"memory_mib", 1, "MiB of memory the pod asks for, 0 or more", -1}
	logCPU     = needCol{"cpu_num", 1, "the CPUs the job asks for, 0 or more", -1}
	logMem     = needCol{"mem_per_pod_gb", 1024, "GB of memory the job asks for on each node, 0 or more", -1}
	genericCPU = needCol{"cpus", 1, "the CPUs the job asks for, 0 or more", -1}
	genericMem = needCol{"memory_gib", 1024, "GiB of memory the job asks for, 0 or more", -1}
	paiCPU     = needCol{"plan_cpu", 0.01, "plan_cpu as a percentage of one CPU core (600 is six cores), 0 or more", -1}
	paiMem     = needCol{"plan_mem", 1024, "plan_mem in GB, 0 or more", -1}
)

// needs is the CPUs and memory (MiB) a row asks for in the columns cpu
// and mem (found with parser.at; either may be absent).
func (p *parser) needs(line int, rec []string, cpu, mem needCol) (cpus, memMiB int32, err error) {
	if cpu.idx >= 0 {
		if cpus, err = p.need(line, cpu.name, rec[cpu.idx], cpu.scale, cpu.want); err != nil {
			return 0, 0, err
		}
	}
	if mem.idx >= 0 {
		if memMiB, err = p.need(line, mem.name, rec[mem.idx], mem.scale, mem.want); err != nil {
			return 0, 0, err
		}
	}
	return cpus, memMiB, nil
}

// saturate is f rounded up, at most maxNeed.
func saturate(f float64) int32 {
	if f >= maxNeed {
		return maxNeed
	}
	return int32(math.Ceil(f))
}

// times is a × b, at most maxNeed: a per-node or per-instance need times
// the job's nodes or instances.
func times(a int32, b int) int32 { return saturate(float64(a) * float64(b)) }

// tresMiB parses a TRES mem value: a number with an optional unit (K, M,
// G, T or P; M when none), in MiB.
func tresMiB(v string) (int32, bool) {
	v = strings.TrimSpace(v)
	scale := 1.0
	if n := len(v); n > 0 {
		if k := strings.IndexByte("KMGTP", v[n-1]&^0x20); k >= 0 {
			scale = math.Pow(1024, float64(k-1))
			v = v[:n-1]
		}
	}
	f, err := parseDecimal(v)
	if (err != nil && !errors.Is(err, strconv.ErrRange)) || f != f || f < 0 || v == "" || v[0] < '0' || v[0] > '9' {
		return 0, false
	}
	return saturate(f * scale), true
}
