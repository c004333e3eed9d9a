package trace

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Skip counts rows of a trace that are not GPU jobs the simulator replays,
// and why: they are left out, not refused, because a scheduler's job log
// holds them as a matter of course.
type Skip struct {
	Rows int    `json:"rows"`
	Why  string `json:"why"`
}

// Why a job-log row is skipped, as the report says it.
const (
	SkipNoGPUs   = "CPU-only jobs (0 GPUs)"
	SkipNeverRan = "jobs that never ran (duration 0 or empty)"
)

// jobLog parses a scheduler's job log, as SenseTime's Helios
// cluster_log.csv and Shanghai AI Lab's Acme trace_*.csv publish Slurm's:
// submit_time as "YYYY-MM-DD HH:MM:SS", duration (seconds from start to
// end) and gpu_num, with other columns (user, vc, state, queue…)
// ignored; or a scheduling simulator's job list in the Tiresias layout
// (job_id,num_gpu,submit_time,iterations,model_name,duration,interval),
// whose submit_time is seconds from the start; or a job list with
// gpu_request per worker and worker_num, as Alibaba's spot GPU trace of
// 2026 (job_info_df.csv) has it, each job on gpu_request × worker_num
// GPUs. A fractional GPU count (a
// share of a GPU, as PAI's simulator lists them) runs on whole GPUs,
// rounded up, and is counted in Trace.Shared. Jobs of every end state
// are replayed, since each held its GPUs for its duration. CPU-only jobs
// (no GPUs) and jobs that never ran (duration 0 or empty: cancelled while
// queued) are skipped and counted in Trace.Skipped.
func (p *parser) jobLog() (*Trace, error) {
	cs, cd, cg := p.col("submit_time"), p.col("duration"), p.col("gpu_num")
	if cg < 0 {
		cg = p.col("num_gpu")
	}
	cw := -1 // worker_num, when GPUs are requested per worker
	if cg < 0 {
		cg, cw = p.col("gpu_request"), p.col("worker_num")
	}
	need := logNeed{p.at(logCPU), p.at(logMem), p.col("node_num")}
	tr := &Trace{Format: FormatJobLog}
	var d dated
	var cpu, never int
	seconds := -1 // whether submit_time holds seconds (1) or dates (0), from the first row
	err := p.rows(func(line int, rec []string) error {
		at, secs, err := p.submitTime(line, rec[cs], seconds)
		if err != nil {
			return err
		}
		seconds = secs
		g, asked, err := p.fraction(line, p.header[cg], rec[cg])
		if err != nil {
			return err
		}
		if cw >= 0 && g > 0 {
			w, err := p.count(line, p.header[cw], rec[cw], "workers", 1)
			if err != nil {
				return err
			}
			if int64(g)*int64(w) > MaxGPUs {
				return p.bad(line, p.header[cw], rec[cw], fmt.Sprintf("worker_num × gpu_request (%s) at most %d GPUs", strings.TrimSpace(rec[cg]), MaxGPUs), errors.New("out of range"))
			}
			g, asked = g*w, asked*float64(w)
		}
		var dur time.Duration
		if strings.TrimSpace(rec[cd]) != "" {
			if dur, err = p.seconds(line, "duration", rec[cd], true); err != nil {
				return err
			}
		}
		switch {
		case g == 0:
			cpu++
			return nil
		case dur <= 0:
			never++
			return nil
		}
		j := Job{Duration: dur, GPUs: g}
		if j.CPUs, j.MemMiB, err = p.jobLogNeed(line, rec, need); err != nil {
			return err
		}
		if p.repeat(rec) {
			return nil
		}
		return d.addShared(p, tr, line, at, j, asked)
	})
	d.done(tr, Skip{cpu, SkipNoGPUs}, Skip{never, SkipNeverRan})
	return tr, err
}

// logNeed is where a job log holds what a job asks for besides GPUs:
// cpu_num (Helios, Acme: the job's, as gpu_num is), and mem_per_pod_GB
// (Acme: each node's) with node_num.
type logNeed struct {
	cpu, mem needCol
	nodes    int // node_num's column, -1: absent
}

// jobLogNeed is the CPUs and memory a job log's row asks for in all,
// where the log has them.
func (p *parser) jobLogNeed(line int, rec []string, n logNeed) (cpus, memMiB int32, err error) {
	if cpus, memMiB, err = p.needs(line, rec, n.cpu, n.mem); err != nil || memMiB == 0 || n.nodes < 0 {
		return cpus, memMiB, err
	}
	nodes := 1
	if t := strings.TrimSpace(rec[n.nodes]); t != "" && !strings.EqualFold(t, "nan") {
		if nodes, err = p.count(line, "node_num", rec[n.nodes], "nodes", 1); err != nil {
			return 0, 0, err
		}
	}
	return cpus, times(memMiB, nodes), nil
}

// dated collects the jobs of a trace whose submits are date-times: each
// offset is from the first job kept (normalise then shifts them to the
// earliest submit and moves Start along).
type dated struct{ first time.Time }

// add adds job j submitted at at (j.Submit is set from it).
func (d *dated) add(p *parser, tr *Trace, line int, at time.Time, j Job) error {
	return d.addShared(p, tr, line, at, j, float64(j.GPUs))
}

// addShared is add for a job that asked for only asked of its GPUs (Trace.Shared).
func (d *dated) addShared(p *parser, tr *Trace, line int, at time.Time, j Job, asked float64) error {
	if d.first.IsZero() {
		d.first = at
	}
	// Dates are within MinDate..MaxDate, so the offset cannot saturate.
	j.Submit = at.Sub(d.first)
	if err := p.add(tr, line, j); err != nil {
		return err
	}
	tr.share(j, asked)
	return nil
}

// done starts tr at the first job kept (DefaultEpoch when none was) and
// counts the skips that left rows out.
func (d *dated) done(tr *Trace, skips ...Skip) {
	tr.Start = d.first
	if d.first.IsZero() {
		tr.Start = DefaultEpoch
	}
	tr.skip(skips...)
}

// skip counts in tr.Skipped the skips that left rows out.
func (tr *Trace) skip(skips ...Skip) {
	for _, s := range skips {
		if s.Rows > 0 {
			tr.Skipped = append(tr.Skipped, s)
		}
	}
}

// submitTime reads a job log's submit_time: a date-time, or seconds from
// the trace's start (DefaultEpoch) or Unix times (submitSeconds), as the
// file's first row has it
// (seconds: 1 for seconds, 0 for dates, -1 on the first row); it returns
// the kind it read.
func (p *parser) submitTime(line int, s string, seconds int) (time.Time, int, error) {
	isNumber := false
	if _, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil || errors.Is(err, strconv.ErrRange) {
		isNumber = true
	}
	switch {
	case seconds == 1 || (seconds == -1 && isNumber):
		d, err := p.submitSeconds(line, "submit_time", s)
		return p.submitBase().Add(d), 1, err
	case isNumber:
		return time.Time{}, 0, p.bad(line, "submit_time", s, wantDate+", as the rows above", errors.New("not a date-time"))
	}
	at, err := p.date(line, "submit_time", s)
	return at, 0, err
}

// SkippedText says what skips counts, for a report: the rows in all and
// "2 CPU-only jobs (0 GPUs), 1 job that never ran (…)".
func SkippedText(skips []Skip) (rows int, text string) {
	parts := make([]string, len(skips))
	for i, s := range skips {
		rows += s.Rows
		why := s.Why
		if s.Rows == 1 {
			// The reasons name what they count in the plural.
			for _, pl := range [][2]string{{"jobs ", "job "}, {"rows ", "row "}, {"steps ", "step "}, {"pods ", "pod "}, {"tasks ", "task "}} {
				why = strings.Replace(why, pl[0], pl[1], 1)
			}
		}
		parts[i] = fmt.Sprintf("%d %s", s.Rows, why)
	}
	return rows, strings.Join(parts, ", ")
}
