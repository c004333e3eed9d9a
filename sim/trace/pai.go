package trace

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Why a PAI task-table row is skipped, as the report says it.
const (
	SkipTaskNoGPUs   = "CPU-only tasks (plan_gpu 0 or empty)"
	SkipTaskNeverRan = "tasks that never started (start_time 0 or empty, or no instances)"
	SkipTaskRunning  = "tasks still running when the trace was cut (end_time 0 or empty)"
	SkipTaskNoTime   = "tasks with no run time (end_time not after start_time)"
)

// paiTaskColumns is the header Alibaba publishes beside pai_task_table.csv
// (pai_task_table.header); the table itself has none.
var paiTaskColumns = []string{"job_name", "task_name", "inst_num", "status", "start_time", "end_time", "plan_cpu", "plan_mem", "plan_gpu", "gpu_type"}

// paiStatuses are the states the PAI tables record.
var paiStatuses = []string{"Terminated", "Failed", "Running", "Waiting"}

// paiTable recognises a headerless row of Alibaba's PAI trace of 2020
// (cluster-trace-gpu-v2020) by its number of fields and where its status
// (Terminated, Failed, Running or Waiting) stands: "task" for
// pai_task_table, "job" or "instance" for the tables that hold no GPU
// counts, "" for none. Empty fields at the row's end (a comma ending
// every row, as a spreadsheet or a script joining fields writes it) are
// no columns, as under a header (parser.fit).
func paiTable(rec []string) string {
	status := func(s string) bool { return slices.Contains(paiStatuses, strings.TrimSpace(s)) }
	// n fields, and any past them empty (the last of the n may be
	// empty: a CPU task's gpu_type is).
	fields := func(n int) bool { return len(rec) >= n && blank(rec[n:]) }
	switch {
	case fields(len(paiTaskColumns)) && status(rec[3]):
		return "task"
	case fields(6) && status(rec[3]):
		return "job"
	case fields(9) && status(rec[5]):
		return "instance"
	}
	return ""
}

// paiTask parses Alibaba PAI's task table of 2020 (pai_task_table.csv,
// with or without the header published beside it). A task is a gang of
// inst_num instances, each asking for plan_gpu percent of a GPU; it is
// replayed as a job that runs from its start_time to its end_time on
// inst_num × ⌈plan_gpu/100⌉ GPUs: a task sharing a GPU counts as a whole
// one, as the simulator rents and places whole GPUs. The table holds no
// submit time. With PAI's job table (p.paiJobs), each task is submitted
// as long before its start as its job waited from its submit to its first
// task's start (the trace's README measures the wait so), and the report
// notes how many tasks' jobs it found; without, or for a job not in it, a
// task is submitted as it started, so PAI's own queueing is not in the
// arrivals. Times are seconds from an undisclosed origin; offset 0 is
// 1970-01-01 UTC, at which Shanghai's clock shows each time's original
// time of day and weekday (the trace's README). CPU-only tasks, tasks
// that never started or had not ended, and tasks with no run time are
// skipped and counted in Trace.Skipped.
func (p *parser) paiTask() (*Trace, error) {
	cj, cn, cs, ce, cg := p.col("job_name"), p.col("inst_num"), p.col("start_time"), p.col("end_time"), p.col("plan_gpu")
	cpuCol, memCol := p.at(paiCPU), p.at(paiMem)
	tr := &Trace{Format: FormatPAITask}
	var submits paiSubmits
	if p.paiJobs != "" && cj >= 0 {
		var err error
		if submits, err = loadPAIJobs(p.paiJobs, p.maxJobs); err != nil {
			return nil, fmt.Errorf("the job table read for %s's submits: %w", p.name, err)
		}
	}
	// With the job table: each kept task's job, and each job's first
	// task start.
	var keys []uint64
	first := map[uint64]time.Duration{}
	var d dated
	var cpu, never, running, notime int
	err := p.rows(func(line int, rec []string) error {
		g, asked, err := p.paiGPUs(line, rec[cn], rec[cg])
		if err != nil {
			return err
		}
		start, started, err := p.paiTime(line, p.header[cs], rec[cs])
		if err != nil {
			return err
		}
		end, ended, err := p.paiTime(line, p.header[ce], rec[ce])
		if err != nil {
			return err
		}
		var key uint64
		if submits != nil && started {
			// Only the jobs the job table holds (at most the job limit):
			// a task table's other jobs, CPU-only ones too, are as many
			// as its rows.
			key = paiKey(rec[cj])
			if _, known := submits[key]; known {
				if f, ok := first[key]; !ok || start < f {
					first[key] = start
				}
			}
		}
		switch {
		case g == 0:
			cpu++
		case g < 0 || !started:
			never++
		case !ended:
			running++
		case end <= start:
			notime++
		default:
			j := Job{Duration: end - start, GPUs: g}
			if j.CPUs, j.MemMiB, err = p.paiNeed(line, rec, cn, cpuCol, memCol); err != nil {
				return err
			}
			if p.repeat(rec) {
				return nil
			}
			if submits != nil {
				keys = append(keys, key)
			}
			return d.addShared(p, tr, line, time.Unix(0, 0).UTC().Add(start), j, asked)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	d.done(tr, Skip{cpu, SkipTaskNoGPUs}, Skip{never, SkipTaskNeverRan}, Skip{running, SkipTaskRunning}, Skip{notime, SkipTaskNoTime})
	if submits != nil && len(tr.Jobs) > 0 {
		found := 0
		var waited time.Duration
		for i, key := range keys {
			sub, ok := submits[key]
			if f := first[key]; ok && sub <= f {
				tr.Jobs[i].Submit -= f - sub
				waited += f - sub
				found++
			}
		}
		mean := time.Duration(0)
		if found > 0 {
			mean = waited / time.Duration(found)
		}
		note := fmt.Sprintf("submits from %s: %d of the %d tasks are submitted as long before their start as their job waited for its first task to start (a mean of %s)",
			filepath.Base(p.paiJobs), found, len(tr.Jobs), mean.Round(time.Second))
		if n := len(tr.Jobs) - found; n > 0 {
			note += fmt.Sprintf("; the other %d, whose job it lacks or gives a submit after its first task's start, as they started", n)
		}
		tr.Notes = append(tr.Notes, note)
	}
	return tr, nil
}

// paiTime reads a PAI time in seconds; 0 or empty is none (the trace's
// analysis reads a 0 start_time as a task that never started).
func (p *parser) paiTime(line int, col, s string) (time.Duration, bool, error) {
	if t := strings.TrimSpace(s); t == "" || strings.EqualFold(t, "nan") {
		return 0, false, nil
	}
	d, err := p.seconds(line, col, s, false)
	return d, d > 0, err
}

// paiNeed is the CPUs and memory a task asks for in all: inst_num
// (column cn) times each instance's plan_cpu (percent of a core) and
// plan_mem (GB), where the table has them.
func (p *parser) paiNeed(line int, rec []string, cn int, cpu, mem needCol) (cpus, memMiB int32, err error) {
	if cpus, memMiB, err = p.needs(line, rec, cpu, mem); err != nil || (cpus == 0 && memMiB == 0) {
		return cpus, memMiB, err
	}
	n, err := p.count(line, "inst_num", rec[cn], "instances", 1)
	if err != nil {
		return 0, 0, err
	}
	return times(cpus, n), times(memMiB, n), nil
}

// paiGPUs is the GPUs a task holds at once, inst_num × ⌈plan_gpu/100⌉ (0
// for a CPU-only task, -1 for one with no instances), and the GPUs it
// asked for, inst_num × plan_gpu/100.
func (p *parser) paiGPUs(line int, inst, plan string) (int, float64, error) {
	n := 0
	if t := strings.TrimSpace(inst); t != "" && !strings.EqualFold(t, "nan") {
		var err error
		if n, err = p.count(line, "inst_num", inst, "instances", 0); err != nil {
			return 0, 0, err
		}
	}
	if t := strings.TrimSpace(plan); t == "" || strings.EqualFold(t, "nan") {
		return 0, 0, nil
	}
	want := fmt.Sprintf("plan_gpu as a percentage of one GPU (50 is half a GPU, 800 eight), from 0 to %d", MaxGPUs*100)
	f, err := parseDecimal(strings.TrimSpace(plan))
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange):
		return 0, 0, p.bad(line, "plan_gpu", plan, want, notNumber(err))
	case err == nil && math.IsInf(f, 0):
		return 0, 0, p.bad(line, "plan_gpu", plan, want, errNotFinite)
	case err != nil || f != f || f < 0 || f > MaxGPUs*100:
		return 0, 0, p.bad(line, "plan_gpu", plan, want, errors.New("out of range"))
	case f == 0:
		return 0, 0, nil
	case n == 0:
		return -1, 0, nil
	}
	g := int64(math.Ceil(f/100)) * int64(n)
	if g > MaxGPUs {
		return 0, 0, p.bad(line, "inst_num", inst, fmt.Sprintf("inst_num × ⌈plan_gpu/100⌉ (%s) at most %d GPUs", strings.TrimSpace(plan), MaxGPUs), errors.New("out of range"))
	}
	return int(g), float64(n) * f / 100, nil
}
