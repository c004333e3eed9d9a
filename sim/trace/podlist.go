package trace

import (
	"errors"
	"strconv"
	"strings"
)

// SkipPodNeverRan is why a pod-list row is skipped when its pod never ran.
const SkipPodNeverRan = "pods that never ran (scheduled_time empty, or deleted as it was scheduled)"

// podList parses a Kubernetes pod list as Alibaba's GPU cluster trace
// (cluster-trace-gpu-v2023, openb_pod_list_*.csv) publishes it:
// creation_time, scheduled_time and deletion_time in seconds from the
// trace's start, and num_gpu, with other columns (cpu_milli, gpu_milli,
// qos, pod_phase…) ignored. A pod is submitted at its creation and runs
// from its scheduling to its deletion, whatever its phase (a pod still
// running when the trace was cut is deleted at its end). A GPU-sharing
// pod (num_gpu 1 with gpu_milli below 1000) counts as a whole GPU: the
// simulator rents and places whole GPUs. CPU-only pods and pods that
// never ran are skipped and counted in Trace.Skipped.
func (p *parser) podList() (*Trace, error) {
	cc, cs, cd, cg, cm := p.col("creation_time"), p.col("scheduled_time"), p.col("deletion_time"), p.col("num_gpu"), p.col("gpu_milli")
	tr := &Trace{Format: FormatPodList, Start: DefaultEpoch}
	var cpu, never int
	err := p.rows(func(line int, rec []string) error {
		created, err := p.seconds(line, p.header[cc], rec[cc], false)
		if err != nil {
			return err
		}
		g, err := p.count(line, p.header[cg], rec[cg], 0)
		if err != nil {
			return err
		}
		if strings.TrimSpace(rec[cs]) == "" {
			never++
			return nil
		}
		sched, err := p.seconds(line, p.header[cs], rec[cs], false)
		if err != nil {
			return err
		}
		deleted, err := p.seconds(line, p.header[cd], rec[cd], false)
		if err != nil {
			return err
		}
		if deleted < sched {
			return p.bad(line, p.header[cd], rec[cd], "a deletion_time at or after scheduled_time ("+strings.TrimSpace(rec[cs])+")", errors.New("before the pod was scheduled"))
		}
		switch {
		case g == 0:
			cpu++
			return nil
		case deleted == sched:
			never++
			return nil
		}
		j := Job{Submit: created, Duration: deleted - sched, GPUs: g}
		if err := p.add(tr, line, j); err != nil {
			return err
		}
		if cm >= 0 && g == 1 {
			// A GPU-sharing pod asks for gpu_milli thousandths of its one GPU.
			if milli, err := strconv.ParseFloat(strings.TrimSpace(rec[cm]), 64); err == nil && milli > 0 && milli < 1000 {
				tr.share(j, milli/1000)
			}
		}
		return nil
	})
	tr.skip(Skip{cpu, SkipNoGPUs}, Skip{never, SkipPodNeverRan})
	return tr, err
}
