package trace

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// PAIJobTable is the name of the table of Alibaba PAI's trace of 2020 that
// holds its jobs' submit times: LoadWith takes it from beside a task
// table (Options.PAIJobTable), also gzipped or as its published tarball.
const PAIJobTable = "pai_job_table.csv"

// paiJobColumns is the header published beside pai_job_table.csv.
var paiJobColumns = []string{"job_name", "inst_id", "user", "status", "start_time", "end_time"}

// paiKey is a job name's key in a paiSubmits map: its 64-bit FNV-1a hash,
// so that a million jobs take a few tens of MB rather than their names'.
func paiKey(name string) uint64 {
	name = strings.TrimSpace(name)
	h := uint64(14695981039346656037) // FNV-1a's offset basis and prime
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	return h
}

// paiSubmits maps PAI jobs (paiKey of job_name) to their submit times.
type paiSubmits map[uint64]time.Duration

// loadPAIJobs reads PAI's job table at path (headerless as published, or
// with its header): each job's start_time, "timestamp of job submission
// time" in the trace's README, for at most maxJobs jobs (the task table's
// job limit). A job without one (0 or empty) is left out.
func loadPAIJobs(path string, maxJobs int) (paiSubmits, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open PAI job table: %w", err)
	}
	defer f.Close()
	// Its tarball holds the table alone, which is no trace: it is
	// picked as a job table.
	name, r, _, err := decompressAs(filepath.Base(path), f, "", paiJobsHead)
	if err != nil {
		return nil, asExpansion(err)
	}
	lim := &recordLimiter{r: bufio.NewReaderSize(r, 1<<16), max: MaxRecordBytes}
	jobs, err := readPAIJobs(name, lim, maxJobs)
	if lim.err != nil && errors.Is(err, errRecordTooLong) {
		return nil, lim.tooLong(name)
	}
	return jobs, asExpansion(err)
}

// paiJobsHead reports whether a file starting with head is PAI's job
// table, headerless or with its header.
func paiJobsHead(head []byte) bool {
	line, _, _ := bytes.Cut(head, []byte{'\n'})
	cr := csv.NewReader(bytes.NewReader(line))
	cr.FieldsPerRecord = -1
	rec, err := cr.Read()
	return err == nil && (hasColumns(loose(rec), "job_name", "start_time") || paiTable(rec) == "job")
}

// readPAIJobs is loadPAIJobs on r, holding at most maxJobs jobs.
func readPAIJobs(name string, r io.Reader, maxJobs int) (paiSubmits, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	p := &parser{name: name, cr: cr, maxJobs: maxJobs}
	rec, err := cr.Read()
	switch {
	case err == io.EOF:
		return nil, &Error{File: name, Line: 1, Err: errors.New("empty file"), Want: "PAI's job table (" + strings.Join(paiJobColumns, ",") + ")"}
	case err != nil:
		return nil, csvError(name, 0, err)
	}
	if h := loose(rec); hasColumns(h, "job_name", "start_time") {
		p.header = h
	} else if paiTable(rec) == "job" {
		p.header, p.first = paiJobColumns, slices.Clone(rec)
	} else {
		return nil, &Error{File: name, Line: 1, Value: strings.Join(rec, ","), Err: ErrUnknownFormat,
			Want: "PAI's job table, headerless or with its header (" + strings.Join(paiJobColumns, ",") + ")"}
	}
	cn, cs := p.col("job_name"), p.col("start_time")
	jobs := paiSubmits{}
	err = p.rows(func(line int, rec []string) error {
		at, ok, err := p.paiTime(line, p.header[cs], rec[cs])
		if err != nil || !ok {
			return err
		}
		if len(jobs) >= p.maxJobs {
			return &Error{File: name, Line: line, Err: ErrTooManyJobs, Want: fmt.Sprintf("at most %d jobs", p.maxJobs)}
		}
		jobs[paiKey(rec[cn])] = at
		return nil
	})
	return jobs, err
}
