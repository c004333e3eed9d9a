package trace

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Why a Slurm accounting row is skipped, beside SkipNoGPUs.
const (
	SkipStep    = "job steps (a JobID with a dot, such as 123.batch: the job's own row holds the GPUs)"
	SkipRunning = "jobs still running when the log was written (End Unknown)"
	SkipNoStart = "jobs that never ran (Start Unknown or None, State PENDING, or no elapsed time)"
	// SkipNoSubmit is why a job that ran is skipped when neither its
	// Submit nor its Start gives a time (a log without a Start column).
	SkipNoSubmit = "jobs with no submit time (Submit Unknown or None, and no Start column to take instead)"
	// SkipDuplicate is why a row that repeats one above is skipped:
	// exports of overlapping periods each list the jobs that ran across
	// their boundary.
	SkipDuplicate = "rows repeating a job above (the same JobID and Start: exports of overlapping periods, concatenated)"
	// SkipNoGPUTRES replaces SkipNoGPUs when no row's TRES names a GPU
	// at all: the cluster does not account GPUs, rather than running none.
	SkipNoGPUTRES = "jobs without GPUs in their TRES (no row names gres/gpu: Slurm records GPUs there only when slurm.conf's AccountingStorageTRES lists gres/gpu)"
)

// wantTRES says what a TRES column holds, for messages.
const wantTRES = "Slurm TRES such as billing=8,cpu=8,gres/gpu=2,mem=64G,node=1, with gres/gpu (or gres/gpu:TYPE) a whole number of GPUs"

// sacct parses Slurm's accounting log as `sacct --parsable2` writes it
// (fields separated by '|'), e.g.
//
//	sacct --allusers --parsable2 --starttime 2024-01-01 --endtime 2024-03-01 \
//	  --format JobID,Partition,Submit,Eligible,Start,End,Elapsed,AllocTRES,State
//
// JobID, Submit, Elapsed (or ElapsedRaw, in seconds) and AllocTRES (or
// ReqTRES) are read; Start, End, State, Cluster and Eligible when present.
// A job held until after its Submit (a dependency, --begin) is submitted
// at its Eligible time, noted, as it was no demand before. Submit is a
// date-time in the cluster's local time (see Options.Zone), or Unix
// seconds (SLURM_TIME_FORMAT=%s); the GPUs are
// the TRES's gres/gpu count, or the sum of its typed gres/gpu:TYPE counts,
// or for a job on shares of a GPU (gres/shard, gres/mps) one whole GPU on
// each of its nodes, noted.
// Rows of job steps (JobID 123.batch, 123.0, 123.extern) are skipped: the
// job's own row holds their GPUs. So are jobs that never ran (Start Unknown
// or None, State PENDING, or no elapsed time), jobs still running when the
// log was written (End Unknown), and CPU-only jobs; Trace.Skipped counts
// them. A heterogeneous job's components (JobID 123+0, 123+1, one row
// each, listed one after the other) start together: they are read as one
// job on their GPUs, CPUs and memory together (the job is CPU-only only
// when none of them has GPUs), noted. A job whose Submit is Unknown or None is submitted at its Start
// (a note counts them), or skipped without a Start column; a row that
// repeats a job kept above (its JobID, Cluster and Start), as exports of
// overlapping periods concatenated do, is skipped and counted. Jobs of
// every end state are replayed for their elapsed time, since each held
// its GPUs for as long.
func (p *parser) sacct() (*Trace, error) {
	cid, cs, ce := p.col("jobid"), p.col("submit"), p.col("elapsedraw")
	raw := ce >= 0
	if !raw {
		ce = p.col("elapsed")
	}
	ct := p.col("alloctres")
	if ct < 0 {
		ct = p.col("reqtres")
	}
	cstart, cend, cstate, ccluster, celig := p.col("start"), p.col("end"), p.col("state"), p.col("cluster"), p.col("eligible")
	tr := &Trace{Format: FormatSacct}
	var d dated
	var steps, never, running, cpu, nosubmit, started, dups, shared, held int
	named := false // whether any row's TRES names gres/gpu
	// seen holds a key of each job kept (runKey), to tell a row that
	// repeats one above.
	seen := map[uint64]struct{}{}
	// het is the last heterogeneous job read, under its key (runKey of
	// its JobID without the offset), for its later components to join:
	// sacct lists a job's components one after the other. hetJobs and
	// hetParts count those kept with more than one component, and their
	// components.
	var het *hetJob
	var hetKey uint64
	var hetJobs, hetParts int
	// A heterogeneous job is one job: --where keeps it whole, all its
	// components and their steps, when any of its components passes,
	// and else leaves it out whole.
	p.group = func(rec []string) (string, bool) {
		id, _, step := strings.Cut(rec[cid], ".")
		base, ok := hetComponent(id)
		if !ok {
			return "", false
		}
		return base, !step
	}
	p.step = func(rec []string) bool { return strings.Contains(rec[cid], ".") }
	err := p.rows(func(line int, rec []string) error {
		if p.step(rec) {
			steps++
			return nil
		}
		// sacct writes Unknown (None in newer releases) for a submit
		// time its database lacks; such a job that ran is submitted as
		// it started (below).
		var at time.Time
		unsubmitted := unknownTime(rec[cs])
		var err error
		if !unsubmitted {
			if at, err = p.sacctTime(line, p.header[cs], rec[cs]); err != nil {
				return err
			}
		}
		var dur time.Duration
		if raw {
			dur, err = p.seconds(line, p.header[ce], rec[ce], true)
		} else {
			dur, err = p.elapsed(line, p.header[ce], rec[ce])
		}
		if err != nil {
			return err
		}
		state := strings.ToUpper(strings.TrimSpace(field(rec, cstate)))
		switch {
		case dur <= 0, cstart >= 0 && unknownTime(rec[cstart]), strings.HasPrefix(state, "PENDING"):
			never++
			return nil
		case cend >= 0 && unknownTime(rec[cend]), cend < 0 && stillRunning(state):
			running++
			return nil
		}
		j, gpu, err := p.tres(line, p.header[ct], rec[ct])
		if err != nil {
			return err
		}
		named = named || gpu
		onShares := j.GPUs == 0 && j.shares > 0
		if onShares {
			// A share of one GPU on each of its nodes (Slurm allocates a
			// job's shards, and its MPS, from one GPU a node).
			j.GPUs = j.nodes
		}
		// A heterogeneous job's components (123+0, 123+1) start
		// together: each after the first joins it, whether it or the
		// first has GPUs (a CPU launcher beside GPU workers).
		base, isHet := hetComponent(rec[cid])
		if j.GPUs == 0 && !isHet {
			cpu++
			return nil
		}
		if unsubmitted && cstart < 0 {
			nosubmit++
			return nil
		}
		// A row repeating one above is left out before it is counted in
		// any note; only kept jobs' keys are held, at most the job limit.
		key := runKey(rec[cid], field(rec, ccluster), field(rec, cstart), rec[cs], rec[ce])
		if _, ok := seen[key]; ok {
			dups++
			return nil
		}
		var hk uint64
		if isHet {
			// Its components share a Submit and a Start (or, without a
			// Start column, their elapsed time).
			elapsed := ""
			if cstart < 0 {
				elapsed = rec[ce]
			}
			hk = runKey(base, field(rec, ccluster), field(rec, cstart), rec[cs], elapsed)
			if h := het; h != nil && hk == hetKey {
				if err := h.join(p, line, p.header[ct], rec[ct], j, onShares, dur); err != nil {
					return err
				}
				switch {
				case h.at >= 0:
					// Kept above: it takes this component's needs too.
					seen[key] = struct{}{}
					tr.Jobs[h.at].GPUs, tr.Jobs[h.at].CPUs, tr.Jobs[h.at].MemMiB, tr.Jobs[h.at].Duration = h.j.GPUs, h.j.CPUs, h.j.MemMiB, h.dur
					if h.parts == 2 {
						hetJobs, hetParts = hetJobs+1, hetParts+1 // its first component
					}
					hetParts++
				case h.j.GPUs > 0:
					// Its components above had no GPUs, and were counted
					// as a CPU-only job.
					seen[key], seen[h.key] = struct{}{}, struct{}{}
					cpu--
					h.at = len(tr.Jobs)
					hetJobs, hetParts = hetJobs+1, hetParts+h.parts
					return h.add(p, tr, &d, line, &shared, &started, &held)
				}
				return nil
			}
		}
		if unsubmitted {
			if at, err = p.sacctTime(line, p.header[cstart], rec[cstart]); err != nil {
				return err
			}
		}
		// A job held (a dependency, --begin, a hold) is demand only once
		// it is eligible to run, at most at its start.
		isHeld := false
		if celig >= 0 && !unknownTime(rec[celig]) {
			e, err := p.sacctTime(line, p.header[celig], rec[celig])
			if err != nil {
				return err
			}
			if cstart >= 0 {
				s, err := p.sacctTime(line, p.header[cstart], rec[cstart])
				if err != nil {
					return err
				}
				e = minTime(e, s)
			}
			if e.After(at) {
				at, isHeld = e, true
			}
		}
		h := &hetJob{j: j, dur: dur, submit: at, shares: onShares, unsubmitted: unsubmitted, held: isHeld, parts: 1, at: -1, key: key}
		if isHet {
			het, hetKey = h, hk
			if j.GPUs == 0 {
				// CPU-only unless a later component has GPUs (its key
				// is held only then, as only kept jobs' keys are).
				cpu++
				return nil
			}
			h.at = len(tr.Jobs)
		}
		seen[key] = struct{}{}
		return h.add(p, tr, &d, line, &shared, &started, &held)
	})
	noGPUs := SkipNoGPUs
	if !named {
		noGPUs = SkipNoGPUTRES
	}
	d.done(tr, Skip{steps, SkipStep}, Skip{cpu, noGPUs}, Skip{never, SkipNoStart}, Skip{running, SkipRunning},
		Skip{nosubmit, SkipNoSubmit}, Skip{dups, SkipDuplicate})
	if hetJobs > 0 {
		tr.Notes = append(tr.Notes, fmt.Sprintf("%s (JobID 123+0, 123+1, …: %d components in all) each replayed as one job on its components' GPUs, CPUs and memory together, as Slurm starts a heterogeneous job's components together",
			plural(hetJobs, "heterogeneous job", "heterogeneous jobs"), hetParts))
	}
	if shared > 0 {
		tr.Notes = append(tr.Notes, fmt.Sprintf("%s ran on shares of a GPU (gres/shard or gres/mps, no gres/gpu): each is replayed on one whole GPU a node, as the simulator rents and places whole GPUs, which overstates their demand by as much as they shared",
			plural(shared, "job", "jobs")))
	}
	if held > 0 {
		tr.Notes = append(tr.Notes, fmt.Sprintf("%s eligible to run only after their Submit (held by a dependency, --begin or a hold): each is submitted at its Eligible time, as it was no demand before",
			plural(held, "job", "jobs")))
	}
	if started > 0 {
		tr.Notes = append(tr.Notes, fmt.Sprintf("%s with Submit Unknown or None: each is submitted at its Start, and its wait in Slurm's queue is not known",
			plural(started, "job", "jobs")))
	}
	return tr, err
}

// hetJob is a heterogeneous job as its components are read: their needs
// together, and the first one's submit, elapsed time and notes.
type hetJob struct {
	j      tresJob
	dur    time.Duration
	submit time.Time
	// shares, unsubmitted and held are the notes the job is counted in.
	shares, unsubmitted, held bool
	// parts counts its components read; at is its index in Trace.Jobs,
	// -1 while none of them has GPUs.
	parts, at int
	// key is its first component's runKey, held once the job is kept.
	key uint64
}

// join adds a later component's needs (from TRES s, at line) to h: its
// GPUs (more than MaxGPUs in all is refused), CPUs, memory and nodes,
// and its elapsed time where it ran longer.
func (h *hetJob) join(p *parser, line int, col, s string, c tresJob, onShares bool, dur time.Duration) error {
	if h.j.GPUs+c.GPUs > MaxGPUs {
		return p.bad(line, col, s, wantTRES+fmt.Sprintf(", at most %d GPUs in all of a heterogeneous job's components", MaxGPUs),
			fmt.Errorf("its components add up to %d GPUs", h.j.GPUs+c.GPUs))
	}
	h.j.GPUs += c.GPUs
	h.j.CPUs = saturate(float64(h.j.CPUs) + float64(c.CPUs))
	h.j.MemMiB = saturate(float64(h.j.MemMiB) + float64(c.MemMiB))
	h.j.nodes = min(h.j.nodes+c.nodes, MaxGPUs)
	h.shares = h.shares || onShares
	h.dur = max(h.dur, dur)
	h.parts++
	return nil
}

// add appends h's job to tr, counting it in the notes it is in.
func (h *hetJob) add(p *parser, tr *Trace, d *dated, line int, shared, started, held *int) error {
	if h.shares {
		*shared++
	}
	if h.unsubmitted {
		*started++
	}
	if h.held {
		*held++
	}
	j := h.j.Job
	j.Duration = h.dur
	return d.add(p, tr, line, h.submit, j)
}

// hetComponent splits a heterogeneous job's component JobID, as sacct
// writes it ("123+1": the job 123's component at offset 1), into the
// job's ID; het is false for any other JobID.
func hetComponent(jobID string) (base string, het bool) {
	id, offset, ok := strings.Cut(strings.TrimSpace(jobID), "+")
	if !ok || id == "" || offset == "" || strings.Trim(offset, "0123456789") != "" {
		return "", false
	}
	return id, true
}

// minTime is the earlier of a and b.
func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// plural is n and the noun for it: "1 job", "2 jobs".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// runKey identifies one run of a job in a sacct log: its JobID on its
// cluster, and its Start (a requeued job, listed once a run with
// --duplicates, starts again), or its Submit and elapsed time in a log
// without a Start column. It is a 64-bit FNV-1a hash (paiKey), so that
// ten million jobs take tens of MB rather than their IDs'.
func runKey(jobID, cluster, start, submit, elapsed string) uint64 {
	return paiKey(strings.Join([]string{strings.TrimSpace(jobID), strings.TrimSpace(cluster), strings.TrimSpace(start), strings.TrimSpace(submit), strings.TrimSpace(elapsed)}, "\x00"))
}

// wantSacctTime says what a sacct time holds, for messages.
var wantSacctTime = fmt.Sprintf("a time as YYYY-MM-DDTHH:MM:SS, as sacct writes it by default (in the cluster's zone: see --trace-zone), or in Unix seconds (SLURM_TIME_FORMAT=%%s), from %s to %s",
	MinDate.Format(time.DateOnly), MaxDate.Format(time.DateOnly))

// sacctTime parses a sacct time: a date-time in the trace's zone, or Unix
// seconds, as sacct writes them with SLURM_TIME_FORMAT=%s.
func (p *parser) sacctTime(line int, col, s string) (time.Time, error) {
	v := strings.TrimSpace(s)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && v != "" && v[0] >= '0' && v[0] <= '9' {
		if n >= MaxDate.Unix() {
			return time.Time{}, p.bad(line, col, s, wantSacctTime, errors.New("out of range"))
		}
		return time.Unix(n, 0).UTC(), nil
	}
	return p.dateWant(line, col, s, wantSacctTime)
}

// field is rec[i], or "" when the column is absent (i < 0).
func field(rec []string, i int) string {
	if i < 0 {
		return ""
	}
	return rec[i]
}

// unknownTime reports whether a Start or End holds no time: sacct writes
// Unknown (None in newer releases) for a job not started or not ended.
func unknownTime(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "unknown", "none":
		return true
	}
	return false
}

// stillRunning reports whether a job State (upper-cased) is one of a job
// not yet ended, for logs without an End column.
func stillRunning(state string) bool {
	for _, s := range []string{"RUNNING", "SUSPENDED", "CONFIGURING", "COMPLETING", "RESIZING", "REQUEUED", "STAGE_OUT", "SIGNALING"} {
		if strings.HasPrefix(state, s) {
			return true
		}
	}
	return false
}

// elapsed parses Slurm's elapsed time, [days-][hours:]minutes:seconds with
// an optional fraction of a second, within MaxSpan.
func (p *parser) elapsed(line int, col, s string) (time.Duration, error) {
	const want = "an elapsed time as [days-]hours:minutes:seconds, e.g. 1-02:03:04 or 00:05:00, or ElapsedRaw in seconds"
	v := strings.TrimSpace(s)
	var days int64
	if d, rest, ok := strings.Cut(v, "-"); ok {
		n, err := strconv.ParseInt(d, 10, 64)
		if err != nil || n < 0 || d == "" || d[0] < '0' || d[0] > '9' {
			return 0, p.bad(line, col, s, want, errors.New("not an elapsed time"))
		}
		if n > int64(maxSeconds/86400) {
			return 0, p.bad(line, col, s, want, errors.New("out of range"))
		}
		days, v = n, rest
	}
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, p.bad(line, col, s, want, errors.New("not an elapsed time"))
	}
	secs, frac, _ := strings.Cut(parts[len(parts)-1], ".")
	parts[len(parts)-1] = secs
	var total int64
	for i, part := range parts {
		n, err := strconv.ParseInt(part, 10, 64)
		// Hours may exceed 23 only without days; minutes and seconds are
		// two digits below 60.
		if err != nil || n < 0 || part == "" || part[0] < '0' || part[0] > '9' || (i > 0 && (len(part) != 2 || n > 59)) || len(part) > 9 {
			return 0, p.bad(line, col, s, want, errors.New("not an elapsed time"))
		}
		total = total*60 + n
	}
	total += days * 86400
	if float64(total) > maxSeconds {
		return 0, p.bad(line, col, s, want, errors.New("out of range"))
	}
	d := time.Duration(total) * time.Second
	if frac != "" {
		f, err := strconv.ParseFloat("0."+frac, 64)
		if err != nil || strings.ContainsAny(frac, "+-eE") {
			return 0, p.bad(line, col, s, want, errors.New("not an elapsed time"))
		}
		d += time.Duration(f*1e3+0.5) * time.Millisecond
	}
	return d, nil
}

// tresJob is the job a TRES list asks for, with its shares of GPUs
// (gres/shard, gres/mps) and its nodes.
type tresJob struct {
	Job
	// shares is the sum of its gres/shard and gres/mps counts; nodes its
	// node count (1 when the TRES gives none).
	shares int64
	nodes  int
}

// tres is the job a TRES list ("billing=8,cpu=8,gres/gpu=2,mem=64G,
// node=1") asks for: its GPUs, gres/gpu, else the sum of its
// gres/gpu:TYPE entries, else 0, its cpu and mem, and its shares of GPUs
// (gres/shard and gres/mps, typed or not) and nodes; named says whether it
// names gres/gpu (or a share of one) at all.
func (p *parser) tres(line int, col, s string) (j tresJob, named bool, err error) {
	total, typed := -1, 0
	j.nodes = 1
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			return tresJob{}, false, p.bad(line, col, s, wantTRES, fmt.Errorf("%q is not name=count", item))
		}
		k = strings.ToLower(k)
		switch {
		case k == "cpu":
			c, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || c < 0 {
				return tresJob{}, false, p.bad(line, col, s, wantTRES, fmt.Errorf("cpu: %q is not a whole number of CPUs", v))
			}
			j.CPUs = saturate(float64(c))
			continue
		case k == "mem":
			m, ok := tresMiB(v)
			if !ok {
				return tresJob{}, false, p.bad(line, col, s, wantTRES, fmt.Errorf("mem: %q is not an amount of memory such as 64G or 512M", v))
			}
			j.MemMiB = m
			continue
		case k == "node":
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 1 || n > MaxGPUs {
				return tresJob{}, false, p.bad(line, col, s, wantTRES, fmt.Errorf("node: %q is not a whole number of nodes from 1 to %d", v, MaxGPUs))
			}
			j.nodes = n
			continue
		case k == "gres/shard" || k == "gres/mps" || strings.HasPrefix(k, "gres/shard:") || strings.HasPrefix(k, "gres/mps:"):
			c, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || c < 0 {
				return tresJob{}, false, p.bad(line, col, s, wantTRES, fmt.Errorf("%s: %q is not a whole number of shares", k, v))
			}
			if c > 0 {
				j.shares, named = min(j.shares+c, math.MaxInt32), true
			}
			continue
		case k != "gres/gpu" && !strings.HasPrefix(k, "gres/gpu:"):
			continue
		}
		c, err := strconv.Atoi(v)
		if err != nil || c < 0 || c > MaxGPUs {
			return tresJob{}, false, p.bad(line, col, s, wantTRES, fmt.Errorf("%s: %q is not a whole number of GPUs from 0 to %d", k, v, MaxGPUs))
		}
		named = true
		if k == "gres/gpu" {
			total = c
		} else if typed += c; typed > MaxGPUs {
			return tresJob{}, false, p.bad(line, col, s, wantTRES, fmt.Errorf("the gres/gpu:TYPE counts add up to more than %d GPUs", MaxGPUs))
		}
	}
	j.GPUs = typed
	if total >= 0 {
		j.GPUs, named = total, true
	}
	return j, named, nil
}
