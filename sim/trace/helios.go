package trace

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// helios derives a job stream from a Helios per-minute sequence file, which
// counts GPUs but does not list jobs.
//
// Demand at minute i is running_gpu_num + pending_gpu_num: the GPUs that
// would be in use if every job had started on arrival. When the file splits
// the counts by job size (…_noless_8 and …_less_8 columns), each class is
// derived separately so large jobs stay large. Per class:
//   - an increase of k GPUs from one minute to the next submits one k-GPU job;
//   - a decrease of k GPUs ends the most recently submitted jobs (last in,
//     first out); when the last job is larger than what remains of the
//     decrease, it ends and a job with its surplus GPUs is submitted in the
//     same minute, so demand follows the file exactly;
//   - jobs still running after the last row end one minute after it.
//
// The stream's on-arrival demand equals the file's demand minute by minute;
// individual job sizes and durations are a reconstruction, not observations.
func (p *parser) helios() (*Trace, error) {
	ct := p.col("time")
	type class struct{ cols []int }
	var classes []class
	if c := []int{p.col("running_gpu_num_noless_8"), p.col("pending_gpu_num_noless_8"),
		p.col("running_gpu_num_less_8"), p.col("pending_gpu_num_less_8")}; c[0] >= 0 && c[1] >= 0 && c[2] >= 0 && c[3] >= 0 {
		classes = []class{{cols: c[:2]}, {cols: c[2:]}}
	} else {
		classes = []class{{cols: []int{p.col("running_gpu_num"), p.col("pending_gpu_num")}}}
	}
	type active struct {
		submit time.Duration
		gpus   int
	}
	stacks := make([][]active, len(classes))
	levels := make([]int, len(classes))
	tr := &Trace{Format: FormatHelios}
	var first, prev time.Time
	row := make([]int, len(classes))
	err := p.rows(func(line int, rec []string) error {
		at, err := p.date(line, "time", rec[ct])
		if err != nil {
			return err
		}
		if !first.IsZero() && !at.After(prev) {
			return p.bad(line, "time", rec[ct], "rows in increasing time order", errors.New("not after the previous row"))
		} else if !first.IsZero() && at.Sub(first) >= MaxSpan {
			return p.bad(line, "time", rec[ct], fmt.Sprintf("rows within %v of the first (%s)", MaxSpan, first.Format(time.DateTime)), ErrSpan)
		}
		// The whole row is read before any of it is taken: a row with
		// NaN in a count (a minute the export had no sample for) is
		// skipped (rows' skipUnusable), and the levels of the row before
		// hold until the next.
		for ci, c := range classes {
			level := 0
			for _, col := range c.cols {
				n, err := p.count(line, p.header[col], rec[col], "GPUs", 0)
				if err != nil {
					return err
				}
				level += n // at most len(c.cols) × MaxGPUs: no overflow
			}
			if level > MaxGPUs {
				names := make([]string, len(c.cols))
				for i, col := range c.cols {
					names[i] = p.header[col]
				}
				return p.bad(line, strings.Join(names, "+"), strconv.Itoa(level), fmt.Sprintf("a demand of at most %d GPUs", MaxGPUs), errors.New("out of range"))
			}
			row[ci] = level
		}
		if first.IsZero() {
			first = at
		}
		prev = at
		now := at.Sub(first)
		for ci, level := range row {
			delta := level - levels[ci]
			levels[ci] = level
			st := stacks[ci]
			if delta > 0 {
				st = append(st, active{submit: now, gpus: delta})
			}
			// The stack holds exactly the previous level's GPUs, so a
			// decrease never pops more than it holds.
			for r := -delta; r > 0; {
				top := st[len(st)-1]
				st = st[:len(st)-1]
				if err := p.add(tr, line, Job{Submit: top.submit, Duration: now - top.submit, GPUs: top.gpus}); err != nil {
					return err
				}
				if top.gpus > r {
					st = append(st, active{submit: now, gpus: top.gpus - r})
				}
				r -= top.gpus
			}
			stacks[ci] = st
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	end := prev.Sub(first) + time.Minute
	for _, st := range stacks {
		for _, a := range st {
			if err := p.add(tr, 0, Job{Submit: a.submit, Duration: end - a.submit, GPUs: a.gpus}); err != nil {
				return nil, err
			}
		}
	}
	tr.Start = first
	tr.Notes = append(tr.Notes, heliosNote)
	return tr, nil
}

// heliosNote tells a report's reader that a Helios sequence's jobs are
// made up: its "9749 jobs" were read as the cluster's jobs.
const heliosNote = "a Helios sequence counts GPUs per minute and lists no jobs: its jobs are reconstructed so that their demand follows the file's running and pending GPUs (an increase of k GPUs submits a k-GPU job, a decrease ends the newest), and their number, sizes, durations and waits are not observations"
