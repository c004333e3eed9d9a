package trace

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SkipPodNeverRan is why a pod-list row is skipped when its pod never ran.
const SkipPodNeverRan = "pods that never ran (scheduled_time empty, or deleted as it was scheduled)"

// podList parses a Kubernetes pod list as Alibaba's GPU cluster traces
// publish it (cluster-trace-gpu-v2023 openb_pod_list_*.csv, with num_gpu;
// cluster-trace-gpu-v2025 disaggregated_DLRM_trace.csv, with
// gpu_request): creation_time, scheduled_time and deletion_time in
// seconds from the trace's start, with other columns (cpu_milli,
// gpu_milli, qos, pod_phase, role…) ignored. A pod is submitted at its
// creation and runs from its scheduling to its deletion, whatever its
// phase. A pod that existed before the trace began (creation_time empty,
// and scheduled_time empty when it was scheduled before too) is submitted
// and scheduled at the trace's start, and one still running at its end
// (deletion_time empty) is deleted at the last time the trace records, as
// the 2023 trace deletes its pods still running. A GPU-sharing pod
// (num_gpu 1 with gpu_milli below 1000) counts as a whole GPU: the
// simulator rents and places whole GPUs. CPU-only pods and pods that
// never ran are skipped and counted in Trace.Skipped.
func (p *parser) podList() (*Trace, error) {
	cc, cs, cd, cg, cm := p.col("creation_time"), p.col("scheduled_time"), p.col("deletion_time"), p.col("num_gpu"), p.col("gpu_milli")
	if cg < 0 {
		cg = p.col("gpu_request")
	}
	cpuCol, memCol := p.at(podCPU), p.at(podMem)
	tr := &Trace{Format: FormatPodList, Start: DefaultEpoch}
	var cpu, never int
	var last time.Duration // the latest time the rows kept (by --where too) record
	// open are the jobs of pods still running at the trace's end, whose
	// run ends at last: their index, scheduling and GPUs asked for.
	type openPod struct {
		i     int
		sched time.Duration
		asked float64
	}
	var open []openPod
	empty := func(s string) bool { s = strings.TrimSpace(s); return s == "" || strings.EqualFold(s, "nan") }
	err := p.rows(func(line int, rec []string) error {
		var created, sched, deleted time.Duration
		before := empty(rec[cc]) // the pod existed before the trace began
		if !before {
			var err error
			if created, err = p.seconds(line, p.header[cc], rec[cc], false); err != nil {
				return err
			}
		}
		g, err := p.count(line, p.header[cg], rec[cg], "GPUs", 0)
		if err != nil {
			return err
		}
		switch {
		case empty(rec[cs]) && !before:
			never++
			return nil
		case !empty(rec[cs]):
			if sched, err = p.seconds(line, p.header[cs], rec[cs], false); err != nil {
				return err
			}
		}
		running := empty(rec[cd])
		if !running {
			if deleted, err = p.seconds(line, p.header[cd], rec[cd], false); err != nil {
				return err
			}
			if deleted < sched {
				return p.bad(line, p.header[cd], rec[cd], "a deletion_time at or after scheduled_time ("+strings.TrimSpace(rec[cs])+")", errors.New("before the pod was scheduled"))
			}
		}
		last = max(last, created, sched, deleted)
		switch {
		case g == 0:
			cpu++
			return nil
		case !running && deleted == sched:
			never++
			return nil
		}
		asked := float64(g)
		if cm >= 0 && g == 1 {
			// A GPU-sharing pod asks for gpu_milli thousandths of its one GPU.
			if milli, err := strconv.ParseFloat(strings.TrimSpace(rec[cm]), 64); err == nil && milli > 0 && milli < 1000 {
				asked = milli / 1000
			}
		}
		j := Job{Submit: created, Duration: deleted - sched, GPUs: g}
		if j.CPUs, j.MemMiB, err = p.needs(line, rec, cpuCol, memCol); err != nil {
			return err
		}
		if p.repeat(rec) {
			return nil
		}
		if err := p.add(tr, line, j); err != nil {
			return err
		}
		if running {
			open = append(open, openPod{len(tr.Jobs) - 1, sched, asked})
			return nil
		}
		tr.share(j, asked)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The pods still running end at the last time the trace records; one
	// scheduled then never ran within it, and is dropped (marked with no
	// GPUs, which no kept job has, and removed in one pass).
	gone := false
	for _, o := range open {
		if last <= o.sched {
			tr.Jobs[o.i].GPUs = 0
			gone = true
			never++
			continue
		}
		tr.Jobs[o.i].Duration = last - o.sched
		tr.share(tr.Jobs[o.i], o.asked)
	}
	if gone {
		tr.Jobs = slices.DeleteFunc(tr.Jobs, func(j Job) bool { return j.GPUs == 0 })
	}
	tr.skip(Skip{cpu, SkipNoGPUs}, Skip{never, SkipPodNeverRan})
	return tr, nil
}
