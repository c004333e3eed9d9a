package trace

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func job(submit, dur float64, gpus int) Job {
	return Job{Submit: time.Duration(submit * float64(time.Second)), Duration: time.Duration(dur * float64(time.Second)), GPUs: gpus}
}

// asks is j asking for cpus CPUs and memMiB of memory besides its GPUs.
func asks(j Job, cpus, memMiB int32) Job {
	j.CPUs, j.MemMiB = cpus, memMiB
	return j
}

// asking is jobs, each asking for cpus CPUs and memMiB of memory.
func asking(jobs []Job, cpus, memMiB int32) []Job {
	for i := range jobs {
		jobs[i] = asks(jobs[i], cpus, memMiB)
	}
	return jobs
}

func TestLoad(t *testing.T) {
	tests := []struct {
		file   string
		format Format
		start  time.Time
		jobs   []Job
	}{
		// Unsorted ITP rows: sorted by submit and shifted by the first (100 s).
		{"itp.csv", FormatITP, DefaultEpoch.Add(100 * time.Second),
			[]Job{job(0, 60, 1), job(200, 10, 2), job(400, 30, 8)}},
		// Philly: the two 06:13:03 rows keep file order; 07:01:55 is 2932 s later;
		// the blank last line is skipped.
		{"philly.csv", FormatPhilly, time.Date(2017, 10, 9, 6, 13, 3, 0, time.UTC),
			[]Job{job(0, 2951, 4), job(0, 10.5, 2), job(2932, 66, 1)}},
		// Helios: +4 at 00:01 submits a 4-GPU job; +2 at 00:02 a 2-GPU job;
		// -3 at 00:03 ends the 2-GPU job (60 s) and the 4-GPU job (120 s) and
		// submits the surplus 3-GPU job, which runs until a minute after the
		// last row (00:05). Times shift by the first submit (00:01).
		{"helios.csv", FormatHelios, time.Date(2020, 5, 1, 0, 1, 0, 0, time.UTC),
			[]Job{job(0, 120, 4), job(60, 60, 2), job(120, 120, 3)}},
		// A Helios cluster_log.csv: the CPU-only rows (gpu_num 0) and the
		// jobs cancelled while queued (duration 0 or empty) are skipped;
		// every end state else replays; a fraction of a second is kept to
		// the millisecond; times shift by the earliest kept submit
		// (18:41:00.250).
		{"joblog.csv", FormatJobLog, time.Date(2020, 6, 9, 18, 41, 0, 250e6, time.UTC),
			[]Job{asks(job(0, 3600.5, 2), 16, 0), asks(job(0.75, 36848, 1), 1, 0), asks(job(26.75, 249, 4), 16, 0)}},
		// Zones: 08:00:10+08:00 is 00:00:10 UTC.
		{"joblog_zone.csv", FormatJobLog, time.Date(2023, 5, 1, 0, 0, 0, 0, time.UTC),
			[]Job{job(0, 60, 1), job(10, 100, 8)}},
		// The Tiresias layout: num_gpu, submits in seconds from the ITP
		// epoch, the CPU job and the one that never ran skipped.
		{"tiresias.csv", FormatJobLog, DefaultEpoch.Add(40 * time.Second),
			[]Job{job(0, 120.5, 1), job(60, 3600, 8)}},
		{"generic.csv", FormatGeneric, DefaultEpoch.Add(10 * time.Second),
			[]Job{job(0, 7.5, 16), job(10, 5, 1)}},
		// As a spreadsheet saves it: a byte order mark before a quoted
		// header (once refused as a bare quote), CRLF line ends, blank
		// lines, an extra column with a quoted comma, duplicate rows (two
		// jobs) and submits out of order.
		{"spreadsheet.csv", FormatGeneric, DefaultEpoch.Add(10 * time.Second),
			[]Job{job(0, 3600, 8), job(0, 3600, 8), job(90, 7200.5, 16), job(290, 60, 1)}},
		// Column names in capitals, spaced and quoted, as exports write
		// them: matched trimmed and lower-cased.
		{"header_case.csv", FormatJobLog, time.Date(2020, 6, 9, 18, 41, 0, 0, time.UTC),
			[]Job{job(0, 600, 2), job(60, 60, 1)}},
		// Tab-separated, its CPU-only row skipped.
		{"joblog_tabs.tsv", FormatJobLog, time.Date(2020, 6, 9, 18, 41, 0, 0, time.UTC),
			[]Job{job(0, 600, 4), job(60, 60.5, 1)}},
		// Semicolon-separated, as a spreadsheet saves CSV where the
		// decimal mark is a comma: an unknown format, its header one
		// field.
		{"joblog_semicolons.csv", FormatJobLog, time.Date(2020, 6, 9, 18, 41, 0, 0, time.UTC),
			[]Job{job(0, 600, 4), job(60, 60.5, 1)}},
		// Slurm's sacct --parsable2: the job steps, the CPU-only job, the
		// two that never ran and the one still running are skipped; the
		// typed gres/gpu:a100 counts when no gres/gpu is given, and is not
		// added to one that is; 1-02:00:30 is 93,630 s.
		// Alibaba's pod list of 2023: a pod runs from scheduled_time to
		// deletion_time, submitted at creation_time; the CPU-only pod, the
		// pending one and the one deleted as it was scheduled are skipped;
		// the GPU-sharing pod (gpu_milli 220) takes a whole GPU; each asks
		// for its cpu_milli (88000: 88 CPUs) and memory_mib.
		{"podlist.csv", FormatPodList, DefaultEpoch.Add(9437497 * time.Second),
			[]Job{asks(job(0, 1332357, 8), 88, 327680), asks(job(241678, 294651, 1), 4, 15258), asks(job(529561, 1512, 1), 16, 32768), asks(job(597118, 839, 8), 88, 327680)}},
		// Alibaba's spot GPU trace of 2026: a job runs on gpu_request per
		// worker × worker_num GPUs; the CPU-only job and the one that
		// never ran are skipped.
		{"spot2026.csv", FormatJobLog, DefaultEpoch,
			[]Job{job(0, 2764799, 1), job(0, 15897599, 1), job(9589663, 41060, 16), job(9589663, 71718, 94)}},
		// Alibaba's serving trace of 2025 (gpu_request): the instance that
		// existed before the trace began runs from its start, those still
		// running at its end run to the last time it records (the CPU
		// instance's deletion, 2675286 s); the CPU instances and the one
		// never scheduled are skipped.
		{"dlrm.csv", FormatPodList, DefaultEpoch,
			[]Job{job(0, 2675286, 1), job(2655214, 5, 1), job(2655901, 2675286-2655912, 1), job(2655908, 3294, 1), job(2656114, 6, 1)}},
		// Philly's raw job log (JSON): a job runs from its first attempt's
		// start to its last attempt's end (2 days 5h41m03s across the
		// retry) on the most GPUs an attempt held (16 over two servers);
		// the jobs with no whole attempt and the one still running are
		// skipped.
		{"philly_log.json", FormatPhillyLog, time.Date(2017, 10, 7, 1, 0, 0, 0, time.UTC),
			[]Job{job(0, 60, 1), job(699, 193263, 8), job(3600, 3600, 16)}},
		{"sacct.txt", FormatSacct, time.Date(2024, 3, 4, 8, 59, 30, 0, time.UTC),
			[]Job{asks(job(0, 300, 1), 2, 8<<10), asks(job(30, 3600, 2), 8, 64<<10), asks(job(90, 93630, 16), 64, 512<<10)}},
		// Alibaba PAI's task table of 2020, headerless as published: a
		// task of 8 instances of a whole GPU is an 8-GPU job; a task at
		// 50% of a GPU takes a whole one, one at 800% eight; seconds
		// count from 1970-01-01 UTC; the ps task (no GPUs), the waiting
		// one (start 0), the one with no instances, the running one (no
		// end) and the one that ended as it started are skipped. A task
		// asks for inst_num × plan_cpu/100 CPUs and × plan_mem GB.
		{"pai_task.csv", FormatPAITask, time.Unix(1739100, 0).UTC(),
			[]Job{asks(job(0, 43200, 8), 64, 480000), asks(job(62, 38, 1), 6, 30000), asks(job(900, 90.5, 8), 4, 15000)}},
		// The same with the header published beside it.
		{"pai_task_header.csv", FormatPAITask, time.Unix(1739100, 0).UTC(),
			[]Job{asks(job(0, 43200, 8), 64, 480000), asks(job(62, 38, 1), 6, 30000), asks(job(900, 90.5, 8), 4, 15000)}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			tr, err := Load(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if tr.Format != tt.format || !tr.Start.Equal(tt.start) || tr.Name != tt.file {
				t.Errorf("got format %s start %s name %s, want %s %s %s", tr.Format, tr.Start, tr.Name, tt.format, tt.start, tt.file)
			}
			if !slices.Equal(tr.Jobs, tt.jobs) {
				t.Errorf("jobs\n got %v\nwant %v", tr.Jobs, tt.jobs)
			}
			// A Helios sequence's jobs are made up, and the report
			// says so; they were counted as the cluster's own.
			if said := slices.ContainsFunc(tr.Notes, func(n string) bool { return strings.Contains(n, "jobs are reconstructed") }); said != (tt.format == FormatHelios) {
				t.Errorf("format %s: notes %q, want one saying the jobs are reconstructed only for a Helios sequence", tt.format, tr.Notes)
			}
		})
	}
}

func TestLoadBad(t *testing.T) {
	tests := []struct {
		file string
		line int
		col  string
		msg  string
	}{
		{"bad_gpus.csv", 3, "gpus", `bad_gpus.csv:3: column gpus: "two": not a whole number (want a whole number of GPUs from 1 to 1048576)`},
		{"bad_timestamp.csv", 3, "timestamp", `bad_timestamp.csv:3: column timestamp: "2017-13-09 07:01:55": not a date-time (want a time as YYYY-MM-DD HH:MM:SS (UTC, or the zone given for the trace, unless an offset such as +08:00 or a zone such as Asia/Shanghai follows) from 1970-01-01 to 2200-01-01)`},
		{"bad_negative.csv", 2, "submit_s", `bad_negative.csv:2: column submit_s: "-5": out of range (want seconds from the trace's start (0 to 315360000) or a Unix time before 2200-01-01: in seconds (315360000 to 7258118400), or in milliseconds, microseconds or nanoseconds (from 1e11, 1e14 or 1e17: March 1973 on))`},
		{"bad_helios_order.csv", 3, "time", `bad_helios_order.csv:3: column time: "2020-05-01 00:00:00": not after the previous row (want rows in increasing time order)`},
		{"bad_fields.csv", 2, "", `bad_fields.csv:2: "0,10": 2 fields (want 3 fields as in the header)`},
		// A tab-separated header over comma-separated rows said only
		// "1 fields".
		{"bad_mixed_separators.tsv", 3, "", `bad_mixed_separators.tsv:3: "60,600,1": 1 fields (want 3 fields as in the header; this row's fields are separated by commas, the header's by tabs: one separator throughout)`},
		// The row as the file has it ('|' between fields), not joined with
		// commas that its TRES field also holds.
		{"bad_sacct_fields.txt", 3, "", `bad_sacct_fields.txt:3: "2|train|2024-03-04T09:00:00|01:00:00|billing=8,cpu=8,gres/gpu=2,mem=64G,node=1|COMPLETED": 6 fields (want 5 fields as in the header)`},
		{"bad_header.csv", 1, "", `bad_header.csv:1: "start,length,gpu": unknown trace format (want a header with`},
		{"bad_philly_missing.csv", 1, "", `bad_philly_missing.csv:1: "timestamp,duration,cluster": unknown trace format (want a header with job_id,submission_time,duration,num_gpu (ITP); timestamp,duration,num_gpus (Philly);`},
		{"bad_cr_only.csv", 1, "", `bad_cr_only.csv:1: "submit_s,duration_s,gpus\r0,3600,8\r60,10,1": its lines end in a lone carriage return (CR), so the file reads as one line (want lines that end in LF or CRLF: tr '\r' '\n' < bad_cr_only.csv > jobs.csv)`},
		// A header it knows, its last column taking the next line's
		// first: "has no jobs: want at least one row after its header".
		{"bad_philly_cr.csv", 1, "", `bad_philly_cr.csv:1: "timestamp,duration,num_gpus,gpu_time,cluster\r2017-10-09 07:01:55,60,1,66.0,x\r2017-10-09 07:02:55,60,1,66.0,x": its lines end in a lone carriage return (CR)`},
		{"bad_dup_column.csv", 1, "gpus", `bad_dup_column.csv:1: column gpus: "submit_s,duration_s,gpus,gpus": the column appears more than once (want each of the generic format's columns once)`},
		// Hostile values: each is refused with its line, column, value and range.
		{"bad_helios_huge.csv", 3, "running_gpu_num", `bad_helios_huge.csv:3: column running_gpu_num: "9223372036854775807": out of range (want a whole number of GPUs from 0 to 1048576)`},
		{"bad_helios_sum.csv", 2, "running_gpu_num+pending_gpu_num", `bad_helios_sum.csv:2: column running_gpu_num+pending_gpu_num: "2097152": out of range (want a demand of at most 1048576 GPUs)`},
		{"bad_helios_span.csv", 3, "time", `bad_helios_span.csv:3: column time: "2031-01-01 00:00:00": the trace spans too long (want rows within 87600h0m0s of the first (2020-05-01 00:00:00))`},
		{"bad_duration_overflow.csv", 2, "duration_s", `bad_duration_overflow.csv:2: column duration_s: "9999999999": out of range (want a number of seconds from 0 to 315360000)`},
		{"bad_philly_years.csv", 2, "timestamp", `bad_philly_years.csv:2: column timestamp: "9999-12-31 23:59:59": out of range (want a time as YYYY-MM-DD HH:MM:SS (UTC, or the zone given for the trace, unless an offset such as +08:00 or a zone such as Asia/Shanghai follows) from 1970-01-01 to 2200-01-01)`},
		{"bad_philly_span.csv", 0, "", `bad_philly_span.csv: "6406128010 s from the first submit to the last end": the trace spans too long (want at most 315360000 s (87600h0m0s))`},
		{"bad_submit_apart.csv", 3, "submit_s", `bad_submit_apart.csv:3: column submit_s: "9e9": out of range (want seconds from the trace's start (0 to 315360000) or a Unix time before 2200-01-01: in seconds (315360000 to 7258118400), or in milliseconds, microseconds or nanoseconds (from 1e11, 1e14 or 1e17: March 1973 on))`},
		{"bad_span.csv", 0, "", `bad_span.csv: "600000000 s from the first submit to the last end": the trace spans too long (want at most 315360000 s (87600h0m0s))`},
		{"bad_gpus_float.csv", 2, "gpus", `bad_gpus_float.csv:2: column gpus: "1e300": out of range (want a whole number of GPUs from 1 to 1048576)`},
		{"bad_joblog_gpus.csv", 3, "gpu_num", `bad_joblog_gpus.csv:3: column gpu_num: "-1": out of range (want a number of GPUs from 0 to 1048576 (a fraction, a share of a GPU, runs on whole GPUs))`},
		{"bad_joblog_duration.csv", 3, "duration", `bad_joblog_duration.csv:3: column duration: "soon": not a number (want a number of seconds from 0 to 315360000)`},
		{"bad_joblog_mixed.csv", 3, "submit_time", `bad_joblog_mixed.csv:3: column submit_time: "3600": not a date-time (want a time as YYYY-MM-DD HH:MM:SS (UTC, or the zone given for the trace, unless an offset such as +08:00 or a zone such as Asia/Shanghai follows) from 1970-01-01 to 2200-01-01, as the rows above)`},
		{"bad_podlist_order.csv", 3, "deletion_time", `bad_podlist_order.csv:3: column deletion_time: "50": before the pod was scheduled (want a deletion_time at or after scheduled_time (100))`},
		{"bad_sacct_elapsed.txt", 3, "elapsed", `bad_sacct_elapsed.txt:3: column elapsed: "1:2:3": not an elapsed time (want an elapsed time as [days-]hours:minutes:seconds, e.g. 1-02:03:04 or 00:05:00, or ElapsedRaw in seconds)`},
		{"bad_sacct_tres.txt", 3, "alloctres", `bad_sacct_tres.txt:3: column alloctres: "cpu=8,gres/gpu=two": gres/gpu: "two" is not a whole number of GPUs from 0 to 1048576 (want Slurm TRES such as billing=8,cpu=8,gres/gpu=2,mem=64G,node=1, with gres/gpu (or gres/gpu:TYPE) a whole number of GPUs)`},
		{"bad_decimal_comma.csv", 3, "duration_s", `bad_decimal_comma.csv:3: column duration_s: "60,5": not a number (want a number of seconds from 0 to 315360000; the file's decimal mark is a comma: save it with a point (a spreadsheet's English locale))`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", tt.file))
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("got %v, want a *trace.Error", err)
			}
			if te.Line != tt.line || te.Column != tt.col {
				t.Errorf("got line %d column %q, want %d %q", te.Line, te.Column, tt.line, tt.col)
			}
			if !strings.HasPrefix(err.Error(), tt.msg) {
				t.Errorf("message\n got %s\nwant %s…", err, tt.msg)
			}
		})
	}
	// A UTF-16 file without its byte order mark is named as such.
	if _, err := Load(filepath.Join("testdata", "bad_utf16.csv")); !errors.Is(err, ErrUnknownFormat) ||
		!strings.HasSuffix(err.Error(), "; this is UTF-16 text without a byte order mark (a NUL byte beside each letter): save it as UTF-8, or as UTF-16 with its byte order mark, e.g. iconv -f UTF-16LE -t UTF-8 bad_utf16.csv > jobs.csv)") {
		t.Errorf("UTF-16: got %v, want ErrUnknownFormat saying it is UTF-16", err)
	}
	// sacct's log exported with --noheader was an unknown format, its
	// first job taken for a header.
	if _, err := Load(filepath.Join("testdata", "bad_sacct_noheader.txt")); !errors.Is(err, ErrUnknownFormat) ||
		!strings.HasSuffix(err.Error(), "; this looks like a row of sacct's log without its header: export without --noheader (-n), or add the --format fields as its first line, '|'-separated)") {
		t.Errorf("sacct without its header: got %v, want ErrUnknownFormat saying so", err)
	}
	if _, err := Load(filepath.Join("testdata", "bad_header.csv")); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("unknown header: got %v, want ErrUnknownFormat", err)
	}
	if _, err := Load(filepath.Join("testdata", "missing.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v, want os.ErrNotExist", err)
	}
	if _, err := Read("empty.csv", strings.NewReader("")); err == nil || !strings.Contains(err.Error(), "empty.csv:1") {
		t.Errorf("empty file: got %v", err)
	}
}

// TestNeverRan: a job of duration 0 (it failed or was cancelled before it
// started) or with an empty duration stopped the load of an ITP, Philly or
// generic trace ("out of range (want … from 0.001 …)"), where a job log,
// an sacct log, a pod list and PAI's table skip it; every format skips
// and counts it.
func TestNeverRan(t *testing.T) {
	never := Skip{2, SkipNeverRan}
	for _, tt := range []struct {
		name, data string
		want       []Job
	}{
		{"itp.csv", "job_id,submission_time,duration,num_gpu\na,0,10,1\nb,3,0,1\nc,5,,2\nd,9,0.0001,1\n", []Job{job(0, 10, 1)}},
		{"philly.csv", "timestamp,duration,num_gpus,cluster\n2017-10-09 07:00:00,0.0,1,x\n2017-10-09 07:01:00,66.0,1,x\n2017-10-09 07:02:00, ,1,x\n", []Job{job(0, 66, 1)}},
		{"generic.csv", "submit_s,duration_s,gpus\n0,0,1\n60,600,8\n120,,1\n", []Job{job(0, 600, 8)}},
		{"joblog.csv", "job_id,submit_time,duration,gpu_num\n1,2020-05-01 00:00:00,0,1\n2,2020-05-01 00:01:00,60,2\n3,2020-05-01 00:02:00,,1\n", []Job{job(0, 60, 2)}},
	} {
		tr, err := Read(tt.name, strings.NewReader(tt.data))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		wantNever := never
		if tt.name == "itp.csv" {
			wantNever.Rows = 3 // 0.0001 s is 0 to the millisecond
		}
		if !slices.Equal(tr.Jobs, tt.want) || !slices.Equal(tr.Skipped, []Skip{wantNever}) {
			t.Errorf("%s: jobs %v, skipped %v; want %v, %v", tt.name, tr.Jobs, tr.Skipped, tt.want, wantNever)
		}
	}
}

// TestUnusableRowsSkipped: a row with a negative duration, or NaN or an
// infinity in a numeric field (pandas' missing value, a script's division
// by zero), stopped the whole load ("out of range"), where a row of
// duration 0 or with no GPUs is skipped and counted; such a row is
// skipped and counted too, in every format, the report naming the first
// lines and the first row's column and value.
func TestUnusableRowsSkipped(t *testing.T) {
	for _, tt := range []struct {
		name, data string
		want       []Job
		skipped    []Skip
	}{
		{"generic.csv", "submit_s,duration_s,gpus\n0,60,1\n10,-5,1\n20,NaN,2\n30,inf,1\n40,60,NaN\n50,60,-Infinity\nnan,60,1\n60,30,2\n",
			[]Job{job(0, 60, 1), job(60, 30, 2)},
			[]Skip{{6, SkipUnusable + ` (lines 3, 4, 5, 6, 7, …; the first: column duration_s "-5")`}}},
		// Counted once: not as a job that never ran as well.
		{"itp.csv", "job_id,submission_time,duration,num_gpu\na,0,10,1\nb,3,,NaN\nc,5,0,1\n",
			[]Job{job(0, 10, 1)},
			[]Skip{{1, SkipNeverRan}, {1, SkipUnusable + ` (line 3: column num_gpu "NaN")`}}},
		// The job added before its CPUs are read is taken back.
		{"generic.csv", "submit_s,duration_s,gpus,cpus\n0,60,1,4\n10,60,1,inf\n",
			[]Job{asks(job(0, 60, 1), 4, 0)},
			[]Skip{{1, SkipUnusable + ` (line 3: column cpus "inf")`}}},
		{"philly.csv", "timestamp,duration,num_gpus,cluster\n2017-10-09 07:00:00,-60.0,1,x\n2017-10-09 07:01:00,66.0,1,x\n",
			[]Job{job(0, 66, 1)},
			[]Skip{{1, SkipUnusable + ` (line 2: column duration "-60.0")`}}},
		{"joblog.csv", "job_id,submit_time,duration,gpu_num,cpu_num\n1,2020-05-01 00:00:00,-1,1,4\n2,2020-05-01 00:01:00,60,2,4\n3,2020-05-01 00:02:00,60,inf,4\n4,2020-05-01 00:03:00,60,1,inf\n",
			[]Job{asks(job(0, 60, 2), 4, 0)},
			[]Skip{{3, SkipUnusable + ` (lines 2, 4, 5; the first: column duration "-1")`}}},
		{"sacct.txt", "JobID|Submit|ElapsedRaw|AllocTRES\n1|2024-03-04T09:00:00|-3600|gres/gpu=1\n2|2024-03-04T09:00:00|3600|gres/gpu=1\n",
			[]Job{job(0, 3600, 1)},
			[]Skip{{1, SkipUnusable + ` (line 2: column elapsedraw "-3600")`}}},
		{"pods.csv", "name,num_gpu,creation_time,scheduled_time,deletion_time\np1,1,0,0,60\np2,1,inf,10,70\np3,Infinity,0,0,60\n",
			[]Job{job(0, 60, 1)},
			[]Skip{{2, SkipUnusable + ` (lines 3, 4; the first: column creation_time "inf")`}}},
		{"tasks.csv", "a,worker,1.0,Terminated,10.0,20.0,600.0,29.3,100.0,V100\nb,worker,1.0,Terminated,10.0,20.0,600.0,29.3,inf,V100\n",
			[]Job{job(0, 10, 1)},
			[]Skip{{1, SkipUnusable + ` (line 2: column plan_gpu "inf")`}}},
		// A Helios sequence stopped at such a row; the row before holds
		// on, as for a minute the file has no row for.
		{"seq.csv", "time,running_gpu_num,pending_gpu_num\n2020-05-01 00:00:00,NaN,0\n2020-05-01 00:01:00,0,0\n2020-05-01 00:02:00,4,0\n" +
			"2020-05-01 00:03:00,nan,2\n2020-05-01 00:04:00,4,2\n2020-05-01 00:05:00,0,0\n",
			[]Job{job(0, 180, 4), job(120, 60, 2)},
			[]Skip{{2, SkipUnusable + ` (lines 2, 5; the first: column running_gpu_num "NaN")`}}},
		// By job size: the whole row is skipped, not the classes before
		// the bad value taken.
		{"seq.csv", "time,running_gpu_num,pending_gpu_num,running_gpu_num_noless_8,pending_gpu_num_noless_8,running_gpu_num_less_8,pending_gpu_num_less_8\n" +
			"2020-05-01 00:00:00,0,0,0,0,0,0\n2020-05-01 00:01:00,10,0,8,0,2,0\n2020-05-01 00:02:00,2,0,0,0,inf,0\n2020-05-01 00:03:00,0,0,0,0,0,0\n",
			[]Job{job(0, 120, 8), job(0, 120, 2)},
			[]Skip{{1, SkipUnusable + ` (line 4: column running_gpu_num_less_8 "inf")`}}},
	} {
		tr, err := Read(tt.name, strings.NewReader(tt.data))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		want := make([]Job, len(tt.want))
		for i, j := range tt.want {
			want[i] = j
			if tt.name == "tasks.csv" {
				want[i] = asks(j, 6, 30004) // 29.3 GB
			}
		}
		if !slices.Equal(tr.Jobs, want) || !slices.Equal(tr.Skipped, tt.skipped) {
			t.Errorf("%s: jobs %v, skipped %v;\nwant %v, %v", tt.name, tr.Jobs, tr.Skipped, want, tt.skipped)
		}
	}
	// A negative submit offset is no job's: refused still.
	if _, err := Read("neg.csv", strings.NewReader("submit_s,duration_s,gpus\n-5,60,1\n")); err == nil || !strings.Contains(err.Error(), `neg.csv:2: column submit_s: "-5": out of range`) {
		t.Errorf("a negative submit: got %v, want it refused", err)
	}
}

// TestLeadingEmptyLines: empty lines before the header (as some exports
// and hand edits leave) made a tab- or '|'-separated file an unknown
// format, its separator judged from the empty first line, and passed it
// over in an archive; the separator is judged from the header, and the
// header's errors name its line.
func TestLeadingEmptyLines(t *testing.T) {
	for _, tt := range []struct {
		name, data string
		format     Format
	}{
		{"jobs.tsv", "\n\nsubmit_s\tduration_s\tgpus\n0\t60\t1\n", FormatGeneric},
		{"sacct.txt", "\r\n \r\nJobID|Submit|Elapsed|AllocTRES\r\n1|2024-03-04T09:00:00|00:01:00|gres/gpu=1\r\n", FormatSacct},
		{"jobs.csv", "\n\nsubmit_s,duration_s,gpus\n0,60,1\n", FormatGeneric},
	} {
		for _, data := range [][]byte{[]byte(tt.data), gzipped(t, tarred(t, [2]string{"README", "jobs\n"}, [2]string{tt.name, tt.data}))} {
			tr, err := Read(tt.name, bytes.NewReader(data))
			if err != nil || tr.Format != tt.format || !slices.Equal(tr.Jobs, []Job{job(0, 60, 1)}) {
				t.Errorf("%s: %v (%v), want %s's one job", tt.name, tr, err, tt.format)
			}
		}
	}
	_, err := Read("odd.csv", strings.NewReader("\n\nstart,length,gpu\n0,60,1\n"))
	if te := (*Error)(nil); !errors.As(err, &te) || te.Line != 3 || !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("an unknown header after empty lines: %v, want it named at line 3", err)
	}
}

// TestConcatenated: files of one format concatenated (cat jan.txt
// feb.txt), each with its header, load as one trace: each header after
// the first was a row that stopped the load ("not a number", "not a
// date-time"), and a job that ran across two sacct exports' boundary is
// in both, replayed once.
func TestConcatenated(t *testing.T) {
	for _, tt := range []struct {
		file    string
		jobs    []Job
		skipped []Skip
	}{
		{"concat_generic.csv", []Job{job(0, 60, 1), job(10, 600, 8), job(20, 60, 2)}, []Skip{{1, SkipHeader}}},
		{"concat_sacct.txt", []Job{asks(job(0, 3600, 2), 8, 65536), asks(job(3600, 14400, 4), 8, 65536), asks(job(39600, 3600, 1), 8, 65536)},
			[]Skip{{1, SkipDuplicate}, {1, SkipHeader}}},
		// Exports whose columns are in another order (a header repeated
		// in another order) were refused at it ("submit_time": not a
		// date-time); the rows below a header are read by it.
		{"concat_reordered.csv", []Job{asks(job(0, 3600, 8), 16, 0), asks(job(600, 600, 1), 4, 0), asks(job(3600, 1200, 2), 8, 0), asks(job(5400, 60, 4), 8, 0), asks(job(7200, 30, 1), 2, 0)},
			[]Skip{{2, SkipHeader}}},
		{"concat_reordered_sacct.txt", []Job{asks(job(0, 3600, 2), 8, 0), asks(job(3600, 1800, 4), 4, 0)},
			[]Skip{{1, SkipStep}, {1, SkipNoGPUs}, {1, SkipHeader}}},
		// A file saved by a spreadsheet starts with a byte order mark,
		// which concatenating puts inside the trace: it was part of the
		// row's first field ("\ufeff20": not a number; in PAI's table, a
		// task name no row above had, so a task exported twice ran twice).
		{"concat_generic_bom.csv", []Job{job(0, 60, 1), job(10, 600, 8), job(20, 60, 2), job(30, 60, 4)}, nil},
		{"concat_pai_bom.csv", []Job{asks(job(0, 43200, 8), 64, 480000), asks(job(62, 38, 1), 6, 30000), asks(job(900, 90, 1), 4, 30000)},
			[]Skip{{1, SkipRepeat}}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			tr, err := Load(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(tr.Jobs, tt.jobs) || !slices.Equal(tr.Skipped, tt.skipped) {
				t.Errorf("jobs %v, skipped %v\nwant %v, %v", tr.Jobs, tr.Skipped, tt.jobs, tt.skipped)
			}
		})
	}
	// A spreadsheet's rows once used, exported as ",,,", stopped the
	// load at the first ("": not a number).
	tr, err := Load(filepath.Join("testdata", "spreadsheet_empty_rows.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []Job{job(0, 3600, 8), job(290, 60, 1)}; !slices.Equal(tr.Jobs, want) || !slices.Equal(tr.Skipped, []Skip{{3, SkipBlank}}) {
		t.Errorf("empty rows: jobs %v skipped %v, want %v and 3 %q", tr.Jobs, tr.Skipped, want, SkipBlank)
	}
	// --where reads its column where each header puts it.
	tr, err = LoadWith(filepath.Join("testdata", "concat_reordered.csv"), Options{Where: []Where{{Column: "vc", Values: []string{"vc1"}}}})
	if want := []Job{asks(job(0, 3600, 8), 16, 0), asks(job(3600, 1200, 2), 8, 0), asks(job(7200, 30, 1), 2, 0)}; err != nil || !slices.Equal(tr.Jobs, want) {
		t.Errorf("reordered, --where vc=vc1: %v (%v), want %v", tr, err, want)
	}
	// A header of other columns is named as such, not as a bad value.
	for _, tt := range []struct{ name, data, want string }{
		{"renamed.csv", "job_id,submit_time,duration,gpu_num\n1,2020-03-01 08:00:32,3600,8\njob_id,submit_time,duration,num_gpu\n2,2020-03-01 09:00:00,60,1\n",
			`renamed.csv:3: "job_id,submit_time,duration,num_gpu": a header whose columns differ from the first line's (files concatenated from exports with other columns?) (want files concatenated with the same columns, in any order; join others by their column names first, e.g. csvstack a.csv b.csv > jobs.csv (csvkit) or pandas.concat)`},
		{"wider.csv", "job_id,submit_time,duration,gpu_num\n1,2020-03-01 08:00:32,3600,8\njob_id,submit_time,duration,gpu_num,user\n2,2020-03-01 09:00:00,60,1,u\n",
			`wider.csv:3: "job_id,submit_time,duration,gpu_num,user": a header whose columns differ from the first line's`},
	} {
		if _, err := Read(tt.name, strings.NewReader(tt.data)); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %s…", tt.name, err, tt.want)
		}
	}
	if _, text := SkippedText([]Skip{{1, SkipHeader}}); text != "1 repeated header row (files concatenated, each with its header)" {
		t.Errorf("SkippedText: %q", text)
	}
}

// TestJobLogSkipped: the job log's rows that are not GPU work are counted
// by why; a log of nothing but such rows loads with no jobs.
func TestJobLogSkipped(t *testing.T) {
	tr, err := Load(filepath.Join("testdata", "joblog.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Skip{{2, SkipNoGPUs}, {2, SkipNeverRan}}
	if !slices.Equal(tr.Skipped, want) {
		t.Errorf("skipped %v, want %v", tr.Skipped, want)
	}
	tr, err = Read("cpu.csv", strings.NewReader("submit_time,duration,gpu_num\n2020-06-09 18:41:01,10,0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Jobs) != 0 || !slices.Equal(tr.Skipped, []Skip{{1, SkipNoGPUs}}) {
		t.Errorf("CPU-only log: %d jobs, skipped %v", len(tr.Jobs), tr.Skipped)
	}
	tr, err = Load(filepath.Join("testdata", "podlist.csv"))
	if err != nil || !slices.Equal(tr.Skipped, []Skip{{1, SkipNoGPUs}, {2, SkipPodNeverRan}}) {
		t.Errorf("pod list: skipped %v (%v), want 1 CPU-only, 2 never ran", tr.Skipped, err)
	}
	tr, err = Load(filepath.Join("testdata", "dlrm.csv"))
	if err != nil || !slices.Equal(tr.Skipped, []Skip{{2, SkipNoGPUs}, {1, SkipPodNeverRan}}) {
		t.Errorf("serving pod list: skipped %v (%v), want 2 CPU-only, 1 never ran", tr.Skipped, err)
	}
	tr, err = Load(filepath.Join("testdata", "pai_task.csv"))
	if want := []Skip{{1, SkipTaskNoGPUs}, {2, SkipTaskNeverRan}, {1, SkipTaskRunning}, {1, SkipTaskNoTime}}; err != nil || !slices.Equal(tr.Skipped, want) {
		t.Errorf("PAI task table: skipped %v (%v), want %v", tr.Skipped, err, want)
	}
	for _, f := range []string{"itp.csv", "philly.csv", "generic.csv"} {
		if tr, err := Load(filepath.Join("testdata", f)); err != nil || tr.Skipped != nil {
			t.Errorf("%s: skipped %v (%v), want none", f, tr.Skipped, err)
		}
	}
}

// TestUnixSubmits: submit times in seconds beyond any span's offset are
// Unix times, which place the trace at its real dates; a file mixing them
// with offsets is refused where it changes kind.
func TestUnixSubmits(t *testing.T) {
	june := time.Date(2020, 6, 4, 1, 36, 7, 0, time.UTC) // Unix 1591234567
	for _, tt := range []struct {
		name, data string
		start      time.Time
		jobs       []Job
	}{
		{"generic.csv", "submit_s,duration_s,gpus\n1591234667,60,1\n1591234567,3600,2\n", june, []Job{job(0, 3600, 2), job(100, 60, 1)}},
		{"itp.csv", "job_id,submission_time,duration,num_gpu\na,1591234567.5,10,8\n", june.Add(500 * time.Millisecond), []Job{job(0, 10, 8)}},
		{"tiresias.csv", "job_id,num_gpu,submit_time,duration\n1,2,1591234567,3600\n2,1,1591234627,60\n", june, []Job{job(0, 3600, 2), job(60, 60, 1)}},
		// Unix times in milliseconds (JavaScript's Date.now(), Java's
		// currentTimeMillis), microseconds and nanoseconds (pandas'
		// datetime64 as an integer) are told apart by their size; they
		// were refused ("a Unix time in milliseconds? give seconds").
		{"ms.csv", "submit_s,duration_s,gpus\n1591234667000,60,1\n1591234567000,3600,2\n", june, []Job{job(0, 3600, 2), job(100, 60, 1)}},
		{"ms-itp.csv", "job_id,submission_time,duration,num_gpu\na,1591234567500,10,8\n", june.Add(500 * time.Millisecond), []Job{job(0, 10, 8)}},
		{"us.csv", "job_id,num_gpu,submit_time,duration\n1,2,1591234567000000,3600\n2,1,1591234627250000,60\n", june, []Job{job(0, 3600, 2), job(60.25, 60, 1)}},
		{"ns.csv", "submit_s,duration_s,gpus\n1591234567000000000,60,1\n1591234568000000000,60,1\n", june, []Job{job(0, 60, 1), job(1, 60, 1)}},
		// The largest offset is still an offset from DefaultEpoch.
		{"offsets.csv", "submit_s,duration_s,gpus\n315360000,60,1\n", DefaultEpoch.Add(315360000 * time.Second), []Job{job(0, 60, 1)}},
	} {
		tr, err := Read(tt.name, strings.NewReader(tt.data))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !tr.Start.Equal(tt.start) || !slices.Equal(tr.Jobs, tt.jobs) {
			t.Errorf("%s: start %s jobs %v, want %s %v", tt.name, tr.Start, tr.Jobs, tt.start, tt.jobs)
		}
	}
	for _, tt := range []struct{ name, data, want string }{
		{"mixed.csv", "submit_s,duration_s,gpus\n0,60,1\n1591234567,60,1\n",
			`mixed.csv:3: column submit_s: "1591234567": a Unix time where the rows above give seconds from the trace's start (want seconds from the trace's start (0 to 315360000) or a Unix time before 2200-01-01: in seconds (315360000 to 7258118400), or in milliseconds, microseconds or nanoseconds (from 1e11, 1e14 or 1e17: March 1973 on), one kind in a file)`},
		{"ms.csv", "submit_s,duration_s,gpus\n1591234567000,60,1\n1591234567,60,1\n",
			`ms.csv:3: column submit_s: "1591234567": a Unix time where the rows above give Unix times in milliseconds (want`},
		{"ns.csv", "submit_s,duration_s,gpus\n1591234567000000000,60,1\n1591234567000000,60,1\n",
			`ns.csv:3: column submit_s: "1591234567000000": a Unix time in microseconds where the rows above give Unix times in nanoseconds (want`},
		// Between Unix seconds' end (2200) and milliseconds' start
		// (1e11: March 1973), a number is neither.
		{"gap.csv", "submit_s,duration_s,gpus\n50000000000,60,1\n", `gap.csv:2: column submit_s: "50000000000": out of range (want`},
		{"mixed.csv", "job_id,num_gpu,submit_time,duration\n1,2,1591234567,3600\n2,1,60,60\n",
			`mixed.csv:3: column submit_time: "60": seconds from the trace's start where the rows above give Unix times (want`},
	} {
		if _, err := Read(tt.name, strings.NewReader(tt.data)); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %s…", tt.name, err, tt.want)
		}
	}
}

// TestPodListOpenPods: of the pods still running at a serving trace's end,
// those scheduled at its last recorded time never ran within it and are
// dropped, however many and wherever they stand in the file; the others
// run to that time, and the finished pods after them are kept in order.
func TestPodListOpenPods(t *testing.T) {
	var b strings.Builder
	b.WriteString("instance_sn,gpu_request,creation_time,scheduled_time,deletion_time\n")
	const n = 40000
	for i := range n {
		fmt.Fprintf(&b, "late-%d,1,100.0,100.0,\n", i) // scheduled at the last time
	}
	b.WriteString("early,2,1.0,1.0,\n")
	for i := range n {
		fmt.Fprintf(&b, "done-%d,1,%d.0,%d.0,%d.0\n", i, 2+i%50, 2+i%50, 60+i%40)
	}
	b.WriteString("cpu,0,0.0,0.0,100.0\n")
	tr, err := Read("pods.csv", strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Jobs) != n+1 || tr.Jobs[0] != job(0, 99, 2) || !slices.Equal(tr.Skipped, []Skip{{1, SkipNoGPUs}, {n, SkipPodNeverRan}}) {
		t.Errorf("%d jobs, first %v, skipped %v; want %d, the early pod to the end (99 s), %d never ran", len(tr.Jobs), tr.Jobs[0], tr.Skipped, n+1, n)
	}
	for i, j := range tr.Jobs[1:] {
		if j.GPUs != 1 || j.Submit < tr.Jobs[i].Submit {
			t.Fatalf("job %d: %v after %v", i+1, j, tr.Jobs[i])
		}
	}
}

// TestShared: a job that asked for part of a GPU runs on whole GPUs and is
// counted, with the GPU-hours the rounding adds: a GPU-sharing pod
// (gpu_milli 220 of its one GPU), a PAI task at 50% of a GPU, and
// fractional counts in a job log (PAI's simulator lists them so).
func TestShared(t *testing.T) {
	for _, tt := range []struct {
		file   string
		data   string
		gpus   []int
		shared int
		hours  float64
	}{
		{file: "podlist.csv", gpus: []int{8, 1, 1, 8}, shared: 1, hours: 0.78 * 294651 / 3600},
		{file: "pai_task.csv", gpus: []int{8, 1, 8}, shared: 1, hours: 0.5 * 38 / 3600},
		{file: "jobs.csv", data: "job_id,num_gpu,submit_time,duration\n1,0.5,0,3600\n2,1.25,60,7200\n3,2,120,60\n4,0.0,180,60\n",
			gpus: []int{1, 2, 2}, shared: 2, hours: 0.5 + 0.75*2},
		{file: "itp.csv", gpus: []int{1, 2, 8}},
	} {
		var tr *Trace
		var err error
		if tt.data != "" {
			tr, err = Read(tt.file, strings.NewReader(tt.data))
		} else {
			tr, err = Load(filepath.Join("testdata", tt.file))
		}
		if err != nil {
			t.Fatal(err)
		}
		var gpus []int
		for _, j := range tr.Jobs {
			gpus = append(gpus, j.GPUs)
		}
		if !slices.Equal(gpus, tt.gpus) || tr.Shared != tt.shared || math.Abs(tr.SharedGPUHours-tt.hours) > 1e-9 {
			t.Errorf("%s: jobs of %v GPUs, %d shared adding %v GPU-h; want %v, %d, %v", tt.file, gpus, tr.Shared, tr.SharedGPUHours, tt.gpus, tt.shared, tt.hours)
		}
	}
}

func TestParseDateTime(t *testing.T) {
	for s, ok := range map[string]bool{
		"2017-10-09 07:01:55": true, "2017-10-09T07:01:55": true, "2017-10-09": true,
		"2017/10/09 07:01:55": true, "2017-10-09 07:01": true, "2017/10/09": true, "2017/10-09 07:01:55": false, "2017-10-09 07:1": false, "10/09/2017 07:01": false,
		"2017-10-09 07:01:55.5": true, "2017-10-09T07:01:55Z": true, "2017-10-09 07:01:55+08:00": true,
		"2017-10-09 07:01:55.123456-05:00": true, "2017-10-09 07:01:55 +0800": true,
		"2017-10-09 07:01:55 PST": false, "2017-10-09 07:01:55+25:00": false, "2017-10-09 07:01:55.": false,
		"2017-02-30 00:00:00": false, "2017-10-09 24:00:00": false, "17-10-09 07:01:55": false, "2017-10-09 07:01:5x": false,
		"2017-10-09 19:01 PM": false, "2017-10-09 13:01 PM": false, "2017-10-09 0:01 AM": false, "2017-1-9 07:01:555": false,
	} {
		if _, got := parseDateTime(s, time.UTC); got != ok {
			t.Errorf("parseDateTime(%q) ok = %v, want %v", s, got, ok)
		}
	}
	// One-digit months, days and hours, and a 12-hour clock, as
	// spreadsheets write them, were "not a date-time".
	for s, want := range map[string]string{
		"2026-11-29 9:05:00": "2026-11-29 09:05:00", "2026-1-5 9:05": "2026-01-05 09:05:00", "2026/1/5": "2026-01-05 00:00:00",
		"2026-11-29T9:05:00.5": "2026-11-29 09:05:00.5", "2026-11-29 9:05:00+08:00": "2026-11-29 01:05:00",
		"2026-11-29 9:05:00 PM": "2026-11-29 21:05:00", "2026-11-29 12:05 AM": "2026-11-29 00:05:00", "2026-11-29 12:05:30 pm": "2026-11-29 12:05:30",
		// A zone named UTC or GMT, as BigQuery's CSV exports write a
		// TIMESTAMP, was "not a date-time".
		"2026-11-29 09:05:00 UTC": "2026-11-29 09:05:00", "2026-11-29 09:05:00.123456 UTC": "2026-11-29 09:05:00.123", "2026-11-29T09:05:00 gmt": "2026-11-29 09:05:00",
	} {
		at, ok := parseDateTime(s, time.UTC)
		if got := at.Format("2006-01-02 15:04:05.999"); !ok || got != want {
			t.Errorf("parseDateTime(%q) = %s (%v), want %s", s, got, ok, want)
		}
	}
}

// TestYearLast: dates with the year last, as a spreadsheet's locale
// writes them (11/29/2026 9:05 in the US, 29.11.2026 in Germany), were
// "not a date-time". A date whose day is past 12 shows the order, which
// the file's later dates take; one that reads either way before that is
// refused with both readings, unless --trace-dates gives the order; a
// date showing the other order is refused, naming what set it.
func TestYearLast(t *testing.T) {
	const header = "job_id,submit_time,duration,gpu_num\n"
	day := func(s string) time.Time {
		at, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	for _, tt := range []struct {
		name, rows string
		order      DateOrder
		start      time.Time
		second     time.Duration // the second job's submit
		jobs       int           // 2 unless set
		err        string
	}{
		{name: "US", rows: "1,11/29/2026 9:05,60,1\n2,12/1/2026 10:00,60,1\n", start: day("2026-11-29 09:05"), second: 48*time.Hour + 55*time.Minute},
		{name: "US 12-hour", rows: "1,11/29/2026 9:05:00 PM,60,1\n2,11/30/2026 9:05:00 AM,60,1\n", start: day("2026-11-29 21:05"), second: 12 * time.Hour},
		{name: "German", rows: "1,29.11.2026 09:05,60,1\n2,01.12.2026 09:05,60,1\n", start: day("2026-11-29 09:05"), second: 48 * time.Hour},
		{name: "British", rows: "1,29/11/2026,60,1\n2,1/12/2026,60,1\n", start: day("2026-11-29 00:00"), second: 48 * time.Hour},
		{name: "the same either way", rows: "1,5/5/2026,60,1\n2,6/6/2026,60,1\n", start: day("2026-05-05 00:00"), second: 32 * 24 * time.Hour},
		{name: "ordered by the option", rows: "1,01/02/2026,60,1\n2,02/02/2026,60,1\n", order: DayFirst, start: day("2026-02-01 00:00"), second: 24 * time.Hour},
		// A date that reads either way before one that shows the order
		// was refused; it is read in the order a row below shows.
		{name: "ambiguous first", rows: "1,01/02/2026 9:05,60,1\n2,11/29/2026 9:05,60,1\n", start: day("2026-01-02 09:05"), second: 331 * 24 * time.Hour},
		{name: "ambiguous first, day first below", rows: "1,01/02/2026 9:05,60,1\n2,03/02/2026 9:05,60,1\n3,29/11/2026 9:05,60,1\n", start: day("2026-02-01 09:05"), second: 2 * 24 * time.Hour, jobs: 3},
		{name: "ambiguous throughout", rows: "1,01/02/2026,60,1\n2,03/04/2026,60,1\n",
			err: `y.csv:2: column submit_time: "01/02/2026": a date that reads as 1 February 2026 (day first) or 2 January 2026 (month first) (want the day and the month in one order: --trace-dates day-first (29/11/2026) or month-first (11/29/2026), or dates as YYYY-MM-DD; no date in the file has its day past 12, which would tell)`},
		// The order a row below shows holds for the rows held: one in
		// the other order is refused, naming that row.
		{name: "ambiguous, then both orders", rows: "1,01/02/2026,60,1\n2,13/02/2026,60,1\n3,12/13/2026,60,1\n",
			err: `y.csv:4: column submit_time: "12/13/2026": a date with the month first, where line 3 ("13/02/2026") has the day first`},
		{name: "both orders", rows: "1,11/29/2026,60,1\n2,3/4/2026,60,1\n3,29/11/2026,60,1\n",
			err: `y.csv:4: column submit_time: "29/11/2026": a date with the day first, where line 2 ("11/29/2026") has the month first (want the day and the month in one order`},
		{name: "against the option", rows: "1,29/11/2026,60,1\n", order: MonthFirst,
			err: `y.csv:2: column submit_time: "29/11/2026": a date with the day first, where --trace-dates month-first has the month first (want`},
		{name: "no such day", rows: "1,11/31/2026,60,1\n", err: `y.csv:2: column submit_time: "11/31/2026": not a date-time`},
		{name: "two-digit year", rows: "1,11/29/26,60,1\n", err: `y.csv:2: column submit_time: "11/29/26": not a date-time`},
	} {
		tr, err := ReadWith("y.csv", strings.NewReader(header+tt.rows), Options{DateOrder: tt.order})
		switch {
		case tt.err != "":
			if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
				t.Errorf("%s: got %v, want %s…", tt.name, err, tt.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case !tr.Start.Equal(tt.start) || len(tr.Jobs) != max(tt.jobs, 2) || tr.Jobs[1].Submit != tt.second:
			t.Errorf("%s: start %s, jobs %v; want %s and the second at %s", tt.name, tr.Start, tr.Jobs, tt.start, tt.second)
		}
	}
	// The rows held for a row below to show the order are bounded.
	many := strings.Repeat("1,01/02/2026,60,1\n", 200_000)
	if _, err := Read("y.csv", strings.NewReader(header+many+"2,29/11/2026,60,1\n")); err == nil ||
		!strings.HasPrefix(err.Error(), `y.csv:2: column submit_time: "01/02/2026": a date that reads as 1 February 2026 (day first) or 2 January 2026 (month first) (want the day and the month in one order: --trace-dates day-first (29/11/2026) or month-first (11/29/2026), or dates as YYYY-MM-DD; or a date whose day is past 12, which tells, in the 16 MiB of rows after it)`) {
		t.Errorf("200000 rows held: got %v, want the first refused", err)
	}
	// Philly's timestamps, and an sacct export whose SLURM_TIME_FORMAT
	// writes the US way, read alike.
	tr, err := Read("p.csv", strings.NewReader("timestamp,duration,num_gpus\n10/13/2017 7:01,60,1\n10/9/2017 7:01,60,1\n"))
	if err != nil || !tr.Start.Equal(day("2017-10-09 07:01")) || tr.Jobs[1].Submit != 96*time.Hour {
		t.Errorf("Philly, month first: %v (%v)", tr, err)
	}
	tr, err = Read("s.txt", strings.NewReader("JobID|Submit|Elapsed|AllocTRES\n1|11/29/2026 09:05:00|01:00:00|gres/gpu=1\n"))
	if err != nil || !tr.Start.Equal(day("2026-11-29 09:05")) {
		t.Errorf("sacct, month first: %v (%v)", tr, err)
	}
	for s, ok := range map[string]bool{"month-first": true, "Day-First": true, "": true, "dmy": false} {
		if _, err := ParseDateOrder(s); (err == nil) != ok {
			t.Errorf("ParseDateOrder(%q): %v", s, err)
		}
	}
}

// TestZoneAfterTheTime: a zone written after a date-time's time other
// than UTC or GMT, an IANA name (Asia/Shanghai) or an offset after a
// space (+08:00) or after UTC (UTC+8), was "not a date-time"; each is
// read, over --trace-zone. An abbreviation (PST, CST) names no one zone
// and is refused as such, saying what to give.
func TestZoneAfterTheTime(t *testing.T) {
	const header = "job_id,submit_time,duration,gpu_num\n"
	for _, tt := range []struct {
		value, want string // want: the job's submit in UTC, or the error's start
	}{
		{"2026-11-29 09:05:00 Asia/Shanghai", "2026-11-29T01:05:00Z"},
		{"2026-07-01 09:05 Europe/Berlin", "2026-07-01T07:05:00Z"}, // CEST
		{"2026-01-01 09:05:00 Europe/Berlin", "2026-01-01T08:05:00Z"},
		{"2026-11-29 09:05:00 +08:00", "2026-11-29T01:05:00Z"},
		{"2026-11-29 09:05 +0800", "2026-11-29T01:05:00Z"},
		{"2026-11-29 09:05:00 -5", "2026-11-29T14:05:00Z"},
		{"2026-11-29T09:05:00+08", "2026-11-29T01:05:00Z"},
		{"2026-11-29 09:05:00 UTC+8", "2026-11-29T01:05:00Z"},
		{"2026-11-29 09:05:00 GMT-03:30", "2026-11-29T12:35:00Z"},
		{"2026-11-29 09:05 UTC", "2026-11-29T09:05:00Z"},
		{"2026-11-29 9:05 PM +08:00", "2026-11-29T13:05:00Z"},
		{"11/29/2026 09:05 America/Los_Angeles", "2026-11-29T17:05:00Z"},
		{"2026-11-29 09:05:00 PST", `z.csv:2: column submit_time: "2026-11-29 09:05:00 PST": "PST" is a zone abbreviation, which names no one zone (CST: US Central, China or Cuba time) (want a time as YYYY-MM-DD HH:MM:SS (UTC, or the zone given for the trace, unless an offset such as +08:00 or a zone such as Asia/Shanghai follows) from 1970-01-01 to 2200-01-01; a zone after the time as an offset (+08:00, +0800, +08, UTC+8) or an IANA name (Asia/Shanghai, America/Los_Angeles), or none and --trace-zone)`},
		{"2026-11-29 09:05:00 cest", `z.csv:2: column submit_time: "2026-11-29 09:05:00 cest": "cest" is a zone abbreviation`},
		{"2026-11-29 09:05:00 Mars/Olympus", `z.csv:2: column submit_time: "2026-11-29 09:05:00 Mars/Olympus": "Mars/Olympus" is no IANA zone (want`},
		{"2026-11-29 09:05:00 Local", `z.csv:2: column submit_time: "2026-11-29 09:05:00 Local": "Local" is the zone of whichever machine reads the trace (want`},
		{"2026-11-29 09:05:00 +15:00", `z.csv:2: column submit_time: "2026-11-29 09:05:00 +15:00": not a date-time`},
	} {
		// Read in Tokyo's zone unless the value says otherwise.
		tokyo, err := time.LoadLocation("Asia/Tokyo")
		if err != nil {
			t.Fatal(err)
		}
		tr, err := ReadWith("z.csv", strings.NewReader(header+"1,"+tt.value+",60,1\n"), Options{Zone: tokyo})
		if strings.HasPrefix(tt.want, "z.csv") {
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("%q: got %v, want %s…", tt.value, err, tt.want)
			}
			continue
		}
		if err != nil || tr.Start.UTC().Format(time.RFC3339) != tt.want {
			t.Errorf("%q: got %v (%v), want %s", tt.value, tr, err, tt.want)
		}
	}
}

// TestParseDateTimeZone: a date-time without an offset is read in the
// trace's zone; one with an offset keeps it.
func TestParseDateTimeZone(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		in   string
		zone *time.Location
		want string // UTC
	}{
		{"2020-05-01 08:00:00", time.UTC, "2020-05-01T08:00:00Z"},
		{"2020-05-01 08:00:00", shanghai, "2020-05-01T00:00:00Z"},
		{"2020-05-01T08:00:00", shanghai, "2020-05-01T00:00:00Z"},
		{"2020-05-01", shanghai, "2020-04-30T16:00:00Z"},
		{"2020-05-01 08:00:00.5", shanghai, "2020-05-01T00:00:00.5Z"},
		{"2020-05-01 08:00:00+02:00", shanghai, "2020-05-01T06:00:00Z"},
		{"2020-05-01 08:00:00Z", shanghai, "2020-05-01T08:00:00Z"},
		// strftime's %z, as sacct writes with SLURM_TIME_FORMAT=%FT%T%z:
		// refused as "not a date-time".
		{"2024-03-01T10:00:00+0100", shanghai, "2024-03-01T09:00:00Z"},
		{"2024-03-01 10:00:00.25-0500", shanghai, "2024-03-01T15:00:00.25Z"},
		{"2020-01-15 08:00:00", newYork, "2020-01-15T13:00:00Z"}, // EST
		{"2020-07-15 08:00:00", newYork, "2020-07-15T12:00:00Z"}, // EDT
	} {
		got, ok := parseDateTime(tt.in, tt.zone)
		if !ok || got.Format(time.RFC3339Nano) != tt.want {
			t.Errorf("parseDateTime(%q, %s) = %s, %v; want %s", tt.in, tt.zone, got.Format(time.RFC3339Nano), ok, tt.want)
		}
	}
}

func BenchmarkLoadPhilly(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("..", "..", "configs", "traces", "philly", "philly.csv"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Read("philly.csv", bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadPAITask loads 100,000 rows of a headerless PAI task table
// (a twelfth of the published one), half of them CPU-only as there.
func BenchmarkLoadPAITask(b *testing.B) {
	var buf bytes.Buffer
	plans := []string{"", "50.0", "100.0", "", "800.0", "25.0", "", "100.0"}
	for i := range 100000 {
		start := 1000000 + 5*i
		fmt.Fprintf(&buf, "%024x,worker,%d.0,Terminated,%d.0,%d.0,600.0,29.296875,%s,V100\n", i, 1+i%4, start, start+60+i%7200, plans[i%len(plans)])
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Read("pai_task_table.csv", bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadSacct1M loads an sacct log of a million jobs (each with
// its .batch and .extern steps, 3 million rows, as sacct exports them),
// to size what a user's own cluster history costs to read.
func BenchmarkLoadSacct1M(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("JobID|Partition|Submit|Start|End|Elapsed|AllocTRES|State\n")
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1_000_000 {
		sub := t0.Add(time.Duration(i) * 3 * time.Second).Format("2006-01-02T15:04:05")
		start := t0.Add(time.Duration(i)*3*time.Second + time.Minute).Format("2006-01-02T15:04:05")
		end := t0.Add(time.Duration(i)*3*time.Second + 61*time.Minute).Format("2006-01-02T15:04:05")
		fmt.Fprintf(&buf, "%d|gpu|%s|%s|%s|01:00:00|billing=8,cpu=8,gres/gpu=%d,mem=64G,node=1|COMPLETED\n", i, sub, start, end, 1<<(i%4))
		fmt.Fprintf(&buf, "%d.batch||%s|%s|%s|01:00:00|cpu=8,gres/gpu=%d,mem=64G,node=1|COMPLETED\n", i, start, start, end, 1<<(i%4))
		fmt.Fprintf(&buf, "%d.extern||%s|%s|%s|01:00:00|billing=8,cpu=8,gres/gpu=%d,mem=64G,node=1|COMPLETED\n", i, start, start, end, 1<<(i%4))
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		tr, err := Read("jobs.txt", bytes.NewReader(data))
		if err != nil || len(tr.Jobs) != 1_000_000 {
			b.Fatal(err)
		}
	}
}

// TestJobLogMatchesITP: the bundled ITP trace written as a Helios job log
// (dates from the ITP epoch, every fifth row a CPU-only job, every seventh
// followed by a job cancelled while queued) loads to the same jobs and
// start, with the added rows counted as skipped.
func TestJobLogMatchesITP(t *testing.T) {
	itp, err := Load(filepath.Join("..", "..", "configs", "traces", "itp", "cluster02.csv"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("job_id,user,vc,gpu_num,cpu_num,node_num,state,submit_time,start_time,end_time,duration,queue\n")
	cpu, never := 0, 0
	for i, j := range itp.Jobs {
		at := itp.Start.Add(j.Submit).Format("2006-01-02 15:04:05.000")
		fmt.Fprintf(&b, "%d,u,vc,%d,4,1,COMPLETED,%s,,,%g,0\n", i, j.GPUs, at, j.Duration.Seconds())
		if i%5 == 0 {
			fmt.Fprintf(&b, "c%d,u,vc,0,4,1,COMPLETED,%s,,,%g,0\n", i, at, j.Duration.Seconds())
			cpu++
		}
		if i%7 == 0 {
			fmt.Fprintf(&b, "n%d,u,vc,8,4,1,CANCELLED,%s,,,,0\n", i, at)
			never++
		}
	}
	log, err := Read("cluster_log.csv", strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	// Each row asks for 4 CPUs (cpu_num).
	if log.Format != FormatJobLog || !log.Start.Equal(itp.Start) || !slices.Equal(log.Jobs, asking(slices.Clone(itp.Jobs), 4, 0)) {
		t.Errorf("job log: format %s, start %s, %d jobs; want the ITP trace's start %s and %d jobs", log.Format, log.Start, len(log.Jobs), itp.Start, len(itp.Jobs))
	}
	if want := []Skip{{cpu, SkipNoGPUs}, {never, SkipNeverRan}}; !slices.Equal(log.Skipped, want) {
		t.Errorf("skipped %v, want %v", log.Skipped, want)
	}
}

// TestWhere: a where keeps the rows of one virtual cluster (or several
// values, or several columns at once), counts the rest as skipped, and
// refuses a column the header lacks or a Helios sequence.
func TestWhere(t *testing.T) {
	const log = "job_id,vc,state,gpu_num,submit_time,duration\n" +
		"1,vca,COMPLETED,1,2020-06-09 18:41:00,60\n" +
		"2,vcb,COMPLETED,2,2020-06-09 18:41:10,60\n" +
		"3,vca,FAILED,4,2020-06-09 18:41:20,60\n" +
		"4,vca,COMPLETED,0,2020-06-09 18:41:30,60\n" +
		"5,vcc,FAILED,8,2020-06-09 18:41:40,60\n"
	for _, tt := range []struct {
		where   []string
		gpus    []int
		skipped []Skip
	}{
		{[]string{"vc=vca"}, []int{1, 4}, []Skip{{1, SkipNoGPUs}, {2, "rows outside vc=vca"}}},
		{[]string{"vc= vca , vcc"}, []int{1, 4, 8}, []Skip{{1, SkipNoGPUs}, {1, "rows outside vc=vca,vcc"}}},
		{[]string{"vc=vca", "state=COMPLETED"}, []int{1}, []Skip{{1, SkipNoGPUs}, {3, "rows outside vc=vca and state=COMPLETED"}}},
		// Column names match as the header's do, trimmed and lower-cased.
		{[]string{"VC=vca"}, []int{1, 4}, []Skip{{1, SkipNoGPUs}, {2, "rows outside VC=vca"}}},
	} {
		var opts Options
		for _, s := range tt.where {
			w, err := ParseWhere(s)
			if err != nil {
				t.Fatal(err)
			}
			opts.Where = append(opts.Where, w)
		}
		tr, err := ReadWith("log.csv", strings.NewReader(log), opts)
		if err != nil {
			t.Fatal(err)
		}
		var gpus []int
		for _, j := range tr.Jobs {
			gpus = append(gpus, j.GPUs)
		}
		if !slices.Equal(gpus, tt.gpus) || !slices.Equal(tr.Skipped, tt.skipped) {
			t.Errorf("%v: jobs of %v GPUs, skipped %v; want %v, %v", tt.where, gpus, tr.Skipped, tt.gpus, tt.skipped)
		}
	}
	// Alibaba's spot trace of 2026: its Spot jobs.
	spot, err := LoadWith(filepath.Join("testdata", "spot2026.csv"), Options{Where: []Where{{Column: "job_type", Values: []string{"Spot"}}}})
	if err != nil || len(spot.Jobs) != 2 || spot.Jobs[1].GPUs != 94 {
		t.Errorf("spot trace job_type=Spot: %v (%v), want the 16- and 94-GPU jobs", spot, err)
	}
	// Philly's cluster column, through Load (no prescan with a where).
	tr, err := LoadWith(filepath.Join("testdata", "philly.csv"), Options{Where: []Where{{Column: "cluster", Values: []string{"6214e9"}}}})
	if err != nil || len(tr.Jobs) != 2 || !slices.Equal(tr.Skipped, []Skip{{1, "rows outside cluster=6214e9"}}) {
		t.Errorf("philly cluster=6214e9: %v, skipped %v (%v); want 2 jobs, 1 row skipped", tr, tr.Skipped, err)
	}
	for _, tt := range []struct{ file, where, want string }{
		{"philly.csv", "vc=x", `philly.csv:1: column vc: "timestamp,duration,num_gpus,gpu_time,cluster": no such column (want one of the header's columns)`},
		{"helios.csv", "vc=x", `helios.csv:1: column vc: "vc=x": a Helios sequence counts GPUs per minute, not jobs`},
	} {
		w, _ := ParseWhere(tt.where)
		_, err := LoadWith(filepath.Join("testdata", tt.file), Options{Where: []Where{w}})
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s --where %s: got %v, want %s…", tt.file, tt.where, err, tt.want)
		}
	}
	for _, s := range []string{"vc", "=a", "vc=", "vc= , ", " = x"} {
		if _, err := ParseWhere(s); err == nil {
			t.Errorf("ParseWhere(%q): no error", s)
		}
	}
}

// TestPAITask: PAI's other tables are refused with the one to load, a
// bad GPU request with its line, and --where keeps the tasks of a GPU
// type in the headerless table.
func TestPAITask(t *testing.T) {
	for _, tt := range []struct{ name, data, want string }{
		{"pai_job_table.csv", "4b3f04b66a525d2df903eb16,8cb3bec23d14dbde320b6613452e768cbbf35b8bd64ee28fcceb77d3c47d,58540f191766,Terminated,4550879.0,4551416.0\n",
			"this looks like PAI's job table, which holds no GPU counts: load pai_task_table.csv)"},
		{"pai_instance_table.csv", "af724763f4f5d0beef445849,worker,0d39aa867a79,54dbcd2db287,e387fbc18d80,Terminated,2081336.0,2083889.0,471dda9ed84965451e042145\n",
			"this looks like PAI's instance table, which holds no GPU counts: load pai_task_table.csv)"},
		{"jobs.csv", "job_name,inst_id,user,status,start_time,end_time\na,b,c,Terminated,1,2\n",
			"this looks like PAI's job or instance table, which holds no GPU counts: load pai_task_table.csv)"},
		{"gpus.csv", "a,worker,1.0,Terminated,10.0,20.0,600.0,29.3,100.0,V100\nb,worker,1.0,Terminated,10.0,20.0,600.0,29.3,lots,V100\n",
			`gpus.csv:2: column plan_gpu: "lots": not a number (want plan_gpu as a percentage of one GPU (50 is half a GPU, 800 eight), from 0 to 104857600)`},
		{"gpus.csv", "a,worker,1.0,Terminated,10.0,20.0,600.0,29.3,-100.0,V100\n",
			`gpus.csv:1: column plan_gpu: "-100.0": out of range (want plan_gpu as a percentage`},
		{"gpus.csv", "a,worker,4096.0,Terminated,10.0,20.0,600.0,29.3,80000.0,V100\n",
			`gpus.csv:1: column inst_num: "4096.0": out of range (want inst_num × ⌈plan_gpu/100⌉ (80000.0) at most 1048576 GPUs)`},
		{"fields.csv", "a,worker,1.0,Terminated,10.0,20.0,600.0,29.3,100.0,V100\nb,worker,1.0,Terminated,10.0,20.0,600.0,29.3,100.0\n",
			`fields.csv:2: "b,worker,1.0,Terminated,10.0,20.0,600.0,29.3,100.0": 9 fields (want 10 fields as in PAI's table (job_name,task_name,inst_num,status,start_time,end_time,plan_cpu,plan_mem,plan_gpu,gpu_type))`},
		{"times.csv", "a,worker,1.0,Terminated,10.0,soon,600.0,29.3,100.0,V100\n",
			`times.csv:1: column end_time: "soon": not a number (want a number of seconds from 0 to 315360000)`},
	} {
		_, err := Read(tt.name, strings.NewReader(tt.data))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want …%s", tt.name, err, tt.want)
		}
	}
	tr, err := LoadWith(filepath.Join("testdata", "pai_task.csv"), Options{Where: []Where{{Column: "gpu_type", Values: []string{"V100", "V100M32"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Job{asks(job(0, 43200, 8), 64, 480000), asks(job(900, 90.5, 8), 4, 15000)}; !slices.Equal(tr.Jobs, want) || !slices.Contains(tr.Skipped, Skip{6, "rows outside gpu_type=V100,V100M32"}) {
		t.Errorf("gpu_type=V100,V100M32: jobs %v, skipped %v; want %v and 6 rows outside", tr.Jobs, tr.Skipped, want)
	}
}

// TestCompanionFiles: the files a trace's dataset publishes beside its
// jobs (node lists, utilisation logs) are refused with what they are and
// the file to load instead.
func TestCompanionFiles(t *testing.T) {
	for _, tt := range []struct{ name, data, want string }{
		{"Earth_gpu_number.csv", "date,vchbv,vc4om,total\n2020-04-01,112,0,784\n", "SenseTime Helios' GPUs per virtual cluster by day; it sizes on-prem (--onprem-gpus) but lists no jobs: load cluster_log.csv, or a <vc>_sequence.csv)"},
		{"cluster_machine_list", "machineId,number of GPUs,single GPU mem\nm1,8,24GB\n", "Philly's machine list; it sizes on-prem (--onprem-gpus) but lists no jobs: load cluster_job_log)"},
		{"cluster_gpu_util", "time,machineId,gpu0_util,gpu1_util\n2017-10-03 00:00:00 PST,m1,100,0\n", "Philly's utilisation log, which lists no jobs: load cluster_job_log)"},
		{"openb_node_list_gpu_node.csv", "sn,cpu_milli,memory_mib,gpu,model\nopenb-node-0227,64000,262144,2,P100\n", "a node list of Alibaba's 2023 trace (openb_node_list); it sizes on-prem (--onprem-gpus) but lists no jobs: load an openb_pod_list_*.csv)"},
		{"node_info_df.csv", "node_name,gpu_model,gpu_capacity_num,cpu_num\n0,A10,1,128\n", "node list of Alibaba's 2026 spot trace (node_info_df.csv); it sizes on-prem (--onprem-gpus) but lists no jobs: load job_info_df.csv)"},
		{"sacct.txt", "JobID|Submit|Elapsed|State\n1|2024-03-04T09:00:00|00:05:00|COMPLETED\n", "sacct's log needs the jobs' GPUs: add AllocTRES (or ReqTRES) to --format)"},
		{"sacct2.txt", "JobID|Submit|AllocTRES\n1|2024-03-04T09:00:00|gres/gpu=1\n", "sacct's log needs the jobs' run times: add Elapsed (or ElapsedRaw) to --format)"},
	} {
		_, err := Read(tt.name, strings.NewReader(tt.data))
		if !errors.Is(err, ErrUnknownFormat) || !strings.HasSuffix(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want …%s", tt.name, err, tt.want)
		}
	}
}

// TestPAIJobTable: beside PAI's task table, its job table gives each task
// the wait its job had before its first task started (job a: submitted at
// 900, its ps task started at 990, so each of its tasks is submitted 90 s
// before its start; job b waited 10 s); a task whose job the table lacks
// (c), or gives a submit after its first task's start (d), is submitted as
// it started. Read without a path, or without the job table beside it,
// every task is submitted as it started. Each task asks for 6 CPUs and
// 29.3 GB (plan_cpu 600, plan_mem 29.3).
func TestPAIJobTable(t *testing.T) {
	dir := filepath.Join("testdata", "pai")
	tr, err := Load(filepath.Join(dir, "pai_task_table.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want := asking([]Job{job(0, 600, 1), job(700, 100, 1), job(1080, 100, 8), job(1590, 100, 1), job(2090, 100, 1)}, 6, 30004)
	if !slices.Equal(tr.Jobs, want) || !tr.Start.Equal(time.Unix(910, 0).UTC()) {
		t.Errorf("jobs %v from %s, want %v from %s", tr.Jobs, tr.Start, want, time.Unix(910, 0).UTC())
	}
	note := "submits from pai_job_table.csv: 3 of the 5 tasks are submitted as long before their start as their job waited for its first task to start (a mean of 1m3s); " +
		"the other 2, whose job it lacks or gives a submit after its first task's start, as they started"
	if !slices.Equal(tr.Notes, []string{note}) {
		t.Errorf("notes %q, want %q", tr.Notes, note)
	}
	data, err := os.ReadFile(filepath.Join(dir, "pai_task_table.csv"))
	if err != nil {
		t.Fatal(err)
	}
	tr, err = Read("pai_task_table.csv", bytes.NewReader(data))
	if want := asking([]Job{job(0, 600, 1), job(700, 100, 1), job(1000, 100, 8), job(1500, 100, 1), job(2000, 100, 1)}, 6, 30004); err != nil || !slices.Equal(tr.Jobs, want) || tr.Notes != nil {
		t.Errorf("without the job table: jobs %v notes %q (%v), want %v and no note", tr.Jobs, tr.Notes, err, want)
	}
	// What the task table's rows take beside its jobs is bounded by the
	// job table: 200,000 CPU-only tasks of as many jobs the job table
	// lacks took each job's first start into memory, 200,000 entries
	// (at the published table's 1.2 million rows, past the job limit).
	tdir := t.TempDir()
	jt := filepath.Join(tdir, "pai_job_table.csv")
	if err := os.WriteFile(jt, []byte("a0000000000000000000000a,x,u,Terminated,900.0,1800.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	allocs := func(distinct bool) uint64 {
		var b bytes.Buffer
		b.WriteString("a0000000000000000000000a,worker,1.0,Terminated,1000.0,1600.0,600.0,29.3,100.0,V100\n")
		for i := range 200_000 {
			name := 0
			if distinct {
				name = i + 1
			}
			fmt.Fprintf(&b, "%024x,ps,1.0,Terminated,1000.0,1600.0,600.0,29.3,,\n", name)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		tr, err := ReadWith("pai_task_table.csv", &b, Options{PAIJobTable: jt})
		runtime.ReadMemStats(&after)
		if err != nil || len(tr.Jobs) != 1 {
			t.Fatalf("%v (%v), want 1 job", tr, err)
		}
		return after.TotalAlloc - before.TotalAlloc
	}
	if same, distinct := allocs(false), allocs(true); distinct > same+1<<20 {
		t.Errorf("200,000 CPU-only tasks of distinct jobs took %d bytes more than of one job, want under 1 MiB", distinct-same)
	}
	// The job table holds to the task table's job limit.
	if _, err := LoadWith(filepath.Join(dir, "pai_task_table.csv"), Options{MaxJobs: 3}); !errors.Is(err, ErrTooManyJobs) || !strings.Contains(err.Error(), "pai_job_table.csv:5: more jobs than the job limit (want at most 3 jobs)") {
		t.Errorf("job table over the job limit: got %v", err)
	}
	// The job table with its header; a bad one is refused with its line.
	for _, tt := range []struct{ jobs, want string }{
		{"job_name,inst_id,user,status,start_time,end_time\na0000000000000000000000a,x,u,Terminated,900.0,1800.0\n", ""},
		{"a0000000000000000000000a,x,u,Terminated,900.0,1800.0\nb0000000000000000000000b,x,u,Terminated,soon,2100.0\n",
			`the job table read for tasks.csv's submits: pai_job_table.csv:2: column start_time: "soon": not a number (want a number of seconds from 0 to 315360000)`},
		{"\"" + strings.Repeat("x", 70000), `the job table read for tasks.csv's submits: pai_job_table.csv:1: a record longer than 65536 bytes (an unterminated quote, or no line breaks?) (want CSV records of at most 65536 bytes)`},
		{"name,submitted\na,1\n", `the job table read for tasks.csv's submits: pai_job_table.csv:1: "name,submitted": unknown trace format (want PAI's job table, headerless or with its header (job_name,inst_id,user,status,start_time,end_time))`},
	} {
		tmp := t.TempDir()
		if err := os.WriteFile(filepath.Join(tmp, "tasks.csv"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, PAIJobTable), []byte(tt.jobs), 0o644); err != nil {
			t.Fatal(err)
		}
		tr, err := Load(filepath.Join(tmp, "tasks.csv"))
		switch {
		case tt.want == "" && (err != nil || tr.Jobs[0] != asks(job(0, 600, 1), 6, 30004) || len(tr.Notes) != 1):
			t.Errorf("job table with a header: jobs %v notes %q (%v)", tr.Jobs, tr.Notes, err)
		case tt.want != "" && (err == nil || err.Error() != tt.want):
			t.Errorf("bad job table: got %v, want %s", err, tt.want)
		}
	}
}

// TestSacct: the forms sacct writes besides --parsable2's default: a '|'
// after every field (--parsable), ElapsedRaw in seconds, ReqTRES, no End
// column (State tells a running job), a date-time in the cluster's zone,
// and a quote in a job name; and what each row kind is skipped as.
func TestSacct(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		log     string
		zone    *time.Location
		start   time.Time
		jobs    []Job
		skipped []Skip
		notes   []string
	}{
		{"parsable", "JobID|Submit|Elapsed|AllocTRES|\n7|2024-03-04T09:00:00|00:01:30.5|gres/gpu=4|\n7.0|2024-03-04T09:00:00|00:01:30|gres/gpu=4|\n",
			nil, time.Date(2024, 3, 4, 9, 0, 0, 0, time.UTC), []Job{job(0, 90.5, 4)}, []Skip{{1, SkipStep}}, nil},
		{"elapsedraw", "JobID|Submit|ElapsedRaw|ReqTRES|State\n8|2024-03-04T09:00:00|7200|cpu=1,gres/gpu:h100=4,gres/gpu:a100=2|COMPLETED\n9|2024-03-04T09:10:00|60|cpu=1,gres/gpu=1|RUNNING\n10|2024-03-04T09:20:00|0|cpu=1,gres/gpu=1|CANCELLED by 0\n",
			nil, time.Date(2024, 3, 4, 9, 0, 0, 0, time.UTC), []Job{asks(job(0, 7200, 6), 1, 0)}, []Skip{{1, SkipNoStart}, {1, SkipRunning}}, nil},
		// A TRES's mem in M when it names no unit, else K, M, G, T or P.
		{"mem", "JobID|Submit|Elapsed|AllocTRES\n1|2024-03-04T09:00:00|01:00|cpu=16,gres/gpu=1,mem=1.5T\n2|2024-03-04T09:00:00|01:00|gres/gpu=1,mem=512\n3|2024-03-04T09:00:00|01:00|gres/gpu=1,mem=2048k\n",
			nil, time.Date(2024, 3, 4, 9, 0, 0, 0, time.UTC), []Job{asks(job(0, 60, 1), 16, 3<<19), asks(job(0, 60, 1), 0, 512), asks(job(0, 60, 1), 0, 2)}, nil, nil},
		// SLURM_TIME_FORMAT=%s: Unix seconds, whatever the zone.
		{"unix", "JobID|Submit|Start|End|Elapsed|AllocTRES\n1|1709542800|1709542805|1709546405|01:00:00|gres/gpu=2\n2|1709542860|1709542870|Unknown|00:10:00|gres/gpu=2\n",
			shanghai, time.Date(2024, 3, 4, 9, 0, 0, 0, time.UTC), []Job{job(0, 3600, 2)}, []Skip{{1, SkipRunning}}, nil},
		{"zone", "JobID|JobName|Submit|Elapsed|AllocTRES\n11|say \"hi|2024-03-04T09:00:00|10:00|gres/gpu=1\n12|x|2024-03-04T09:00:10|1:00:00|gres/gpu=2\n",
			shanghai, time.Date(2024, 3, 4, 1, 0, 0, 0, time.UTC), []Job{job(0, 600, 1), job(10, 3600, 2)}, nil, nil},
		// A Submit sacct writes as Unknown (or None) stopped the load
		// at its row: the job ran, so it is submitted at its Start;
		// without a Start column it is skipped and counted. One that
		// never ran is skipped as such.
		{"unknown submit", "JobID|Submit|Start|End|Elapsed|AllocTRES|State\n1|2024-03-04T09:00:00|2024-03-04T09:00:05|2024-03-04T10:00:05|01:00:00|gres/gpu=2|COMPLETED\n" +
			"2|Unknown|2024-03-04T09:30:00|2024-03-04T09:40:00|00:10:00|gres/gpu=1|COMPLETED\n3|None|2024-03-04T09:31:00|2024-03-04T09:41:00|00:10:00|gres/gpu=1|FAILED\n4|None|None|None|00:00:00|gres/gpu=1|PENDING\n",
			nil, time.Date(2024, 3, 4, 9, 0, 0, 0, time.UTC), []Job{job(0, 3600, 2), job(1800, 600, 1), job(1860, 600, 1)}, []Skip{{1, SkipNoStart}},
			[]string{"2 jobs with Submit Unknown or None: each is submitted at its Start, and its wait in Slurm's queue is not known"}},
		{"unknown submit, no start", "JobID|Submit|Elapsed|AllocTRES\n1|2024-03-04T09:00:00|01:00:00|gres/gpu=2\n2|Unknown|00:10:00|gres/gpu=1\n",
			nil, time.Date(2024, 3, 4, 9, 0, 0, 0, time.UTC), []Job{job(0, 3600, 2)}, []Skip{{1, SkipNoSubmit}}, nil},
		// GPU shares (Slurm 22.05's gres/shard, and MPS) were read as
		// CPU-only jobs and skipped: each runs on a whole GPU a node.
		{"shares", "JobID|Submit|Elapsed|AllocTRES\n1|2024-03-04T09:00:00|01:00:00|billing=4,cpu=4,gres/shard=2,mem=8G,node=1\n" +
			"2|2024-03-04T09:00:00|01:00:00|cpu=4,gres/mps:a100=50,node=2\n3|2024-03-04T09:00:00|01:00:00|cpu=4,node=1\n",
			nil, time.Date(2024, 3, 4, 9, 0, 0, 0, time.UTC), []Job{asks(job(0, 3600, 1), 4, 8192), asks(job(0, 3600, 2), 4, 0)}, []Skip{{1, SkipNoGPUs}},
			[]string{"2 jobs ran on shares of a GPU (gres/shard or gres/mps, no gres/gpu): each is replayed on one whole GPU a node, as the simulator rents and places whole GPUs, which overstates their demand by as much as they shared"}},
		// A job held by a dependency or --begin was pending demand from
		// its Submit (a day, here): it is submitted when Eligible, at
		// most at its Start.
		{"eligible", "JobID|Submit|Eligible|Start|End|Elapsed|AllocTRES|State\n" +
			"1|2024-03-04T09:00:00|2024-03-04T09:00:00|2024-03-04T09:00:05|2024-03-04T10:00:05|01:00:00|gres/gpu=2|COMPLETED\n" +
			"2|2024-03-04T09:00:00|2024-03-05T09:00:00|2024-03-05T09:00:10|2024-03-05T09:10:10|00:10:00|gres/gpu=1|COMPLETED\n" +
			"3|2024-03-04T09:00:00|Unknown|2024-03-04T09:10:00|2024-03-04T09:20:00|00:10:00|gres/gpu=1|COMPLETED\n" +
			"4|2024-03-04T09:00:00|2024-03-04T12:00:00|2024-03-04T11:00:00|2024-03-04T11:10:00|00:10:00|gres/gpu=1|COMPLETED\n",
			nil, time.Date(2024, 3, 4, 9, 0, 0, 0, time.UTC), []Job{job(0, 3600, 2), job(0, 600, 1), job(7200, 600, 1), job(86400, 600, 1)}, nil,
			[]string{"2 jobs eligible to run only after their Submit (held by a dependency, --begin or a hold): each is submitted at its Eligible time, as it was no demand before"}},
		// A repeated row is counted in no note: each note said 2 jobs.
		{"repeated notes", "JobID|Submit|Eligible|Start|End|Elapsed|AllocTRES\n" +
			"1|2024-03-04T09:00:00|2024-03-04T10:00:00|2024-03-04T10:00:00|2024-03-04T11:00:00|01:00:00|gres/gpu=1\n" +
			"1|2024-03-04T09:00:00|2024-03-04T10:00:00|2024-03-04T10:00:00|2024-03-04T11:00:00|01:00:00|gres/gpu=1\n" +
			"2|None|None|2024-03-04T10:00:00|2024-03-04T11:00:00|01:00:00|gres/shard=1\n" +
			"2|None|None|2024-03-04T10:00:00|2024-03-04T11:00:00|01:00:00|gres/shard=1\n",
			nil, time.Date(2024, 3, 4, 10, 0, 0, 0, time.UTC), []Job{job(0, 3600, 1), job(0, 3600, 1)}, []Skip{{2, SkipDuplicate}},
			[]string{"1 job ran on shares of a GPU (gres/shard or gres/mps, no gres/gpu): each is replayed on one whole GPU a node, as the simulator rents and places whole GPUs, which overstates their demand by as much as they shared",
				"1 job eligible to run only after their Submit (held by a dependency, --begin or a hold): each is submitted at its Eligible time, as it was no demand before",
				"1 job with Submit Unknown or None: each is submitted at its Start, and its wait in Slurm's queue is not known"}},
		// Monthly exports concatenated (the second's header taken out)
		// list a job that ran across the month's end twice: it was
		// replayed twice. A requeued job (--duplicates) starts again and
		// is kept; so is the same JobID on another cluster (-M all).
		{"overlapping exports", "Cluster|JobID|Submit|Start|End|Elapsed|AllocTRES|State\n" +
			"a|5|2024-02-29T23:00:00|2024-02-29T23:00:00|2024-03-01T01:00:00|02:00:00|gres/gpu=4|COMPLETED\n" +
			"a|5|2024-02-29T23:00:00|2024-02-29T23:00:00|2024-03-01T01:00:00|02:00:00|gres/gpu=4|COMPLETED\n" +
			"a|6|2024-02-29T23:00:00|2024-02-29T23:10:00|2024-02-29T23:20:00|00:10:00|gres/gpu=1|REQUEUED\n" +
			"a|6|2024-02-29T23:00:00|2024-02-29T23:30:00|2024-02-29T23:40:00|00:10:00|gres/gpu=1|COMPLETED\n" +
			"b|5|2024-02-29T23:00:00|2024-02-29T23:00:00|2024-03-01T01:00:00|02:00:00|gres/gpu=4|COMPLETED\n",
			nil, time.Date(2024, 2, 29, 23, 0, 0, 0, time.UTC), []Job{job(0, 7200, 4), job(0, 600, 1), job(0, 600, 1), job(0, 7200, 4)}, []Skip{{1, SkipDuplicate}}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := ReadWith(tt.name+".txt", strings.NewReader(tt.log), Options{Zone: tt.zone})
			if err != nil {
				t.Fatal(err)
			}
			if tr.Format != FormatSacct || !tr.Start.Equal(tt.start) || !slices.Equal(tr.Jobs, tt.jobs) || !slices.Equal(tr.Skipped, tt.skipped) || !slices.Equal(tr.Notes, tt.notes) {
				t.Errorf("got %s from %s, jobs %v, skipped %v, notes %q\nwant sacct from %s, jobs %v, skipped %v, notes %q", tr.Format, tr.Start, tr.Jobs, tr.Skipped, tr.Notes, tt.start, tt.jobs, tt.skipped, tt.notes)
			}
		})
	}
	tr, err := Load(filepath.Join("testdata", "sacct.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Skip{{2, SkipStep}, {1, SkipNoGPUs}, {2, SkipNoStart}, {1, SkipRunning}}
	if !slices.Equal(tr.Skipped, want) {
		t.Errorf("skipped %v, want %v", tr.Skipped, want)
	}
	if _, text := SkippedText([]Skip{{1, SkipStep}, {1, SkipRunning}}); !strings.HasPrefix(text, "1 job step (") || !strings.Contains(text, ", 1 job still running") {
		t.Errorf("SkippedText: %q, want the reasons in the singular", text)
	}
	// A cluster that does not account GPUs (no gres/gpu in any TRES) is
	// told apart from one whose jobs ran on CPUs only.
	tr, err = Read("cpu.txt", strings.NewReader("JobID|Submit|Elapsed|AllocTRES\n1|2024-03-04T09:00:00|10:00|billing=8,cpu=8,node=1\n"))
	if err != nil || len(tr.Jobs) != 0 || !slices.Equal(tr.Skipped, []Skip{{1, SkipNoGPUTRES}}) {
		t.Errorf("no gres/gpu in any TRES: skipped %v (%v), want 1 %q", tr.Skipped, err, SkipNoGPUTRES)
	}
	// --where on one of its columns.
	tr, err = LoadWith(filepath.Join("testdata", "sacct.txt"), Options{Where: []Where{{Column: "State", Values: []string{"COMPLETED"}}}})
	if err != nil || len(tr.Jobs) != 1 || tr.Jobs[0].GPUs != 2 {
		t.Errorf("--where State=COMPLETED: %v (%v), want the one 2-GPU job", tr, err)
	}
	// A lone quote in a job name opens no quoted field: a log of 3,000
	// rows (over a CSV record's bound from the quote on) loads whole.
	var b strings.Builder
	b.WriteString("JobID|JobName|Submit|Elapsed|AllocTRES\n1|say \"hi|2024-03-04T09:00:00|10:00|gres/gpu=1\n")
	for i := 2; i <= 3000; i++ {
		fmt.Fprintf(&b, "%d|train-%d|2024-03-04T09:00:00|10:00|billing=8,cpu=8,gres/gpu=1,mem=64G,node=1\n", i, i)
	}
	if tr, err := Read("quote.txt", strings.NewReader(b.String())); err != nil || len(tr.Jobs) != 3000 {
		t.Errorf("a quote in a job name: %v, want 3000 jobs", err)
	}
	// sacct's table output (no --parsable2) is refused with the flag to use.
	_, err = Read("table.txt", strings.NewReader("JobID           Submit    Elapsed  AllocTRES\n------------ ---------- -------- ----------\n"))
	if err == nil || !strings.Contains(err.Error(), "export with sacct --parsable2 (-P)") {
		t.Errorf("sacct table: got %v, want a hint to use --parsable2", err)
	}
}

// TestPhillyLog: the raw Philly job log as its publishers wrote it (one
// line of JSON, far over a CSV record's bound), in Pacific time, kept to
// one virtual cluster, and refused with the job and field that are wrong.
func TestPhillyLog(t *testing.T) {
	tr, err := Load(filepath.Join("testdata", "philly_log.json"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []Skip{{2, SkipPhillyNeverRan}, {1, SkipPhillyRunning}}; !slices.Equal(tr.Skipped, want) {
		t.Errorf("skipped %v, want %v", tr.Skipped, want)
	}
	var b strings.Builder
	b.WriteString("[")
	for i := range 1000 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `{"status": "Pass", "vc": "vc%d", "jobid": "application_%d", "attempts": [{"start_time": "2017-10-07 01:00:%02d", "end_time": "2017-10-07 02:00:00", "detail": [{"ip": "m1", "gpus": ["gpu0", "gpu1"]}]}], "submitted_time": "2017-10-07 01:00:00", "user": "u"}`, i%2, i, i%60)
	}
	b.WriteString("]")
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	tr, err = ReadWith("cluster_job_log", strings.NewReader(b.String()), Options{Zone: la, Where: []Where{{Column: "vc", Values: []string{"vc1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Jobs) != 500 || !tr.Start.Equal(time.Date(2017, 10, 7, 8, 0, 0, 0, time.UTC)) || tr.Jobs[0].GPUs != 2 || !slices.Equal(tr.Skipped, []Skip{{500, "rows outside vc=vc1"}}) {
		t.Errorf("one line, vc=vc1, Pacific time: %d jobs from %s, skipped %v; want 500 from 08:00 UTC, 500 left out", len(tr.Jobs), tr.Start, tr.Skipped)
	}
	if _, err := Read("spaced.json", strings.NewReader("\n  "+b.String()+" \r\n\t\n")); err != nil {
		t.Errorf("white space around the array: %v", err)
	}
	job := func(fields string) string {
		return `[{"jobid": "application_7", "attempts": [{"start_time": "2017-10-07 01:00:00", "end_time": "2017-10-07 02:00:00", "detail": [{"gpus": ["gpu0"]}]}], ` + fields + `}]`
	}
	for _, tt := range []struct{ name, log, want string }{
		{"truncated", `[{"jobid": "a", "submitted_time": "2017-10-07 01:00:00"`, `truncated.json: job 1: the file ends inside the JSON array (want a JSON array of Philly jobs`},
		{"number", job(`"submitted_time": 1507338000`), `number.json: job 1: submitted_time is a JSON number, where the log has a string: not of the log's type`},
		{"nosubmit", job(`"user": "u"`), `nosubmit.json: job 1 (jobid "application_7"): submitted_time is null or missing, where the log has the time the job was submitted (want a time as YYYY-MM-DD HH:MM:SS`},
		{"nullsubmit", job(`"submitted_time": null`), `nullsubmit.json: job 1 (jobid "application_7"): submitted_time is null or missing`},
		{"backwards", `[{"jobid": "b", "submitted_time": "2017-10-07 01:00:00", "attempts": [{"start_time": "2017-10-07 03:00:00", "end_time": "2017-10-07 02:00:00"}]}]`,
			`backwards.json: column attempts[0].end_time: "2017-10-07 02:00:00": job 1 (jobid "b"): before the start (want an end_time at or after the attempt's start_time (2017-10-07 03:00:00))`},
		{"huge", `[{"jobid": "` + strings.Repeat("x", MaxJSONJobBytes+1) + `"}]`, `huge.json: job 1: a job longer than 1048576 bytes (want jobs of at most 1048576 bytes)`},
		{"where", `[]`, `where.json:1: column cluster: "status,vc,jobid,user": no such column`},
		// Two logs concatenated (cat a.json b.json): the second array's
		// jobs were dropped unseen.
		{"appended", job(`"submitted_time": "2017-10-07 01:00:00"`) + "\n" + job(`"submitted_time": "2017-11-07 01:00:00"`) + "\n",
			`appended.json: "[{\"jobid\": \"application_7\", \"attempts\": [{\"start_time\": \"2017-10-07 01:00:00\", \"end_time\": \"2017-10-07 02:00:00\", \"detai…": more follows the JSON array's closing ']' (want one JSON array of Philly jobs and nothing after it; to replay several logs, merge their arrays into one, e.g. jq -s add a.json b.json > jobs.json)`},
		{"trailing", job(`"submitted_time": "2017-10-07 01:00:00"`) + "\n,",
			`trailing.json: ",": more follows the JSON array's closing ']'`},
		// JSON Lines, or one object, was read as CSV: "bare \" in
		// non-quoted-field (want well-formed CSV)".
		{"lines", "\ufeff" + `{"jobid": "a"}` + "\n" + `{"jobid": "b"}` + "\n",
			`lines.json:1: "{\"jobid\": \"a\"}": a JSON object, not a JSON array (want a JSON array of Philly jobs, [{"jobid": …`},
	} {
		opts := Options{}
		if tt.name == "where" {
			opts.Where = []Where{{Column: "cluster", Values: []string{"x"}}}
		}
		_, err := ReadWith(tt.name+".json", strings.NewReader(tt.log), opts)
		var te *Error
		if !errors.As(err, &te) || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want a *trace.Error %s…", tt.name, err, tt.want)
		}
	}
}

// TestPhillyLogDates: the JSON job log's date-times are read as a CSV
// trace's are; they were "not a date-time in range" with a zone after the
// time (an offset, an IANA name, UTC) or with their year last
// (10/07/2017 01:11:39, as a spreadsheet's locale writes it). A date that
// reads either way holds its job, and those below, until one shows the
// order; with none, or with a date in the other order, the job and value
// are named.
func TestPhillyLogDates(t *testing.T) {
	entry := func(id, submit, start, end string) string {
		return `{"jobid": "` + id + `", "submitted_time": "` + submit + `", "attempts": [{"start_time": "` + start + `", "end_time": "` + end + `", "detail": [{"gpus": ["gpu0", "gpu1"]}]}]}`
	}
	log := func(jobs ...string) string { return "[" + strings.Join(jobs, ", ") + "]" }
	for _, tt := range []struct {
		name, log string
		start     time.Time
		jobs      []Job
		err       string
	}{
		{name: "offset", log: log(entry("a", "2017-10-07 01:11:39 +08:00", "2017-10-07 01:12:09 +08:00", "2017-10-07 02:12:09 +08:00")),
			start: time.Date(2017, 10, 6, 17, 11, 39, 0, time.UTC), jobs: []Job{job(0, 3600, 2)}},
		{name: "IANA", log: log(entry("a", "2017-10-07 01:11:39 America/Los_Angeles", "2017-10-07 01:12:09 America/Los_Angeles", "2017-10-07 01:13:09 America/Los_Angeles")),
			start: time.Date(2017, 10, 7, 8, 11, 39, 0, time.UTC), jobs: []Job{job(0, 60, 2)}},
		{name: "UTC", log: log(entry("a", "2017-10-07T01:11:39Z", "2017-10-07 01:12:09 UTC", "2017-10-07 01:13:09 UTC")),
			start: time.Date(2017, 10, 7, 1, 11, 39, 0, time.UTC), jobs: []Job{job(0, 60, 2)}},
		// The first reads either way; the second, below, is month-first.
		{name: "year last", log: log(entry("a", "10/07/2017 01:00:00", "10/07/2017 01:00:00", "10/07/2017 02:00:00"), entry("b", "10/13/2017 01:00:00", "10/13/2017 01:00:00", "10/13/2017 01:01:00")),
			start: time.Date(2017, 10, 7, 1, 0, 0, 0, time.UTC), jobs: []Job{job(0, 3600, 2), job(6*86400, 60, 2)}},
		// Its own end shows the order.
		{name: "year last, day first", log: log(entry("a", "07.10.2017 01:00:00", "07.10.2017 01:00:00", "13.10.2017 01:00:00")),
			start: time.Date(2017, 10, 7, 1, 0, 0, 0, time.UTC), jobs: []Job{job(0, 6*86400, 2)}},
		{name: "year last, never shown", log: log(entry("a", "10/07/2017 01:00:00", "10/07/2017 01:00:00", "10/07/2017 02:00:00")),
			err: `column submitted_time: "10/07/2017 01:00:00": job 1 (jobid "a"): a date that reads as 10 July 2017 (day first) or 7 October 2017 (month first) (want the day and the month in one order: --trace-dates day-first (29/11/2026) or month-first (11/29/2026), or dates as YYYY-MM-DD; no date in the log has its day past 12, which would tell)`},
		{name: "year last, both orders", log: log(entry("a", "13/10/2017 01:00:00", "13/10/2017 01:00:00", "13/10/2017 02:00:00"), entry("b", "10/14/2017 01:00:00", "10/14/2017 01:00:00", "10/14/2017 02:00:00")),
			err: `column submitted_time: "10/14/2017 01:00:00": job 2 (jobid "b"): a date with the month first, where job 1 ("13/10/2017 01:00:00") has the day first`},
		{name: "an abbreviation", log: log(entry("a", "2017-10-07 01:11:39 PST", "2017-10-07 01:12:09 PST", "2017-10-07 01:13:09 PST")),
			err: `column submitted_time: "2017-10-07 01:11:39 PST": job 1 (jobid "a"): `},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := Read("cluster_job_log.json", strings.NewReader(tt.log))
			if tt.err != "" {
				var te *Error
				if !errors.As(err, &te) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want a *trace.Error …%s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tr.Start.Equal(tt.start) || !slices.Equal(tr.Jobs, tt.jobs) {
				t.Errorf("jobs %v from %s, want %v from %s", tr.Jobs, tr.Start, tt.jobs, tt.start)
			}
		})
	}
}

// TestNeeds: the CPUs and memory a trace gives each job, where it has
// them, and what is refused there with its line and column. Empty and
// NaN say nothing; a count too large for the simulator is kept as the
// largest it holds.
func TestNeeds(t *testing.T) {
	tr, err := Read("jobs.csv", strings.NewReader("submit_s,duration_s,gpus,cpus,memory_gib\n0,60,1,12,96\n10,60,2,,nan\n20,60,1,1e12,0.5\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []Job{asks(job(0, 60, 1), 12, 96<<10), job(10, 60, 2), asks(job(20, 60, 1), maxNeed, 512)}; !slices.Equal(tr.Jobs, want) {
		t.Errorf("generic: jobs %v, want %v", tr.Jobs, want)
	}
	for _, tt := range []struct{ name, data, want string }{
		{"generic.csv", "submit_s,duration_s,gpus,cpus\n0,60,1,-2\n",
			`generic.csv:2: column cpus: "-2": out of range (want the CPUs the job asks for, 0 or more)`},
		{"generic.csv", "submit_s,duration_s,gpus,memory_gib\n0,60,1,1e400\n",
			`generic.csv:2: column memory_gib: "1e400": out of range (want GiB of memory the job asks for, 0 or more)`},
		{"generic.csv", "submit_s,duration_s,gpus,memory_gib\n0,60,1,lots\n",
			`generic.csv:2: column memory_gib: "lots": not a number (want GiB of memory the job asks for, 0 or more)`},
		{"sacct.txt", "JobID|Submit|Elapsed|AllocTRES\n1|2024-03-04T09:00:00|01:00|cpu=8,gres/gpu=1,mem=lots\n",
			`sacct.txt:2: column alloctres: "cpu=8,gres/gpu=1,mem=lots": mem: "lots" is not an amount of memory such as 64G or 512M`},
		{"sacct.txt", "JobID|Submit|Elapsed|AllocTRES\n1|2024-03-04T09:00:00|01:00|cpu=-8,gres/gpu=1\n",
			`sacct.txt:2: column alloctres: "cpu=-8,gres/gpu=1": cpu: "-8" is not a whole number of CPUs`},
		{"pods.csv", "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\np,x,10,1,1000,,LS,Running,0,10,0\n",
			`pods.csv:2: column cpu_milli: "x": not a number (want thousandths of a CPU the pod asks for, 0 or more)`},
		{"tasks.csv", "a,worker,1.0,Terminated,10.0,20.0,-600.0,29.3,100.0,V100\n",
			`tasks.csv:1: column plan_cpu: "-600.0": out of range (want plan_cpu as a percentage of one CPU core (600 is six cores), 0 or more)`},
		{"log.csv", "job_id,gpu_num,cpu_num,node_num,mem_per_pod_GB,submit_time,duration\n1,8,64,2,big,2023-05-01 00:00:00,60\n",
			`log.csv:2: column mem_per_pod_gb: "big": not a number (want GB of memory the job asks for on each node, 0 or more)`},
	} {
		if _, err := Read(tt.name, strings.NewReader(tt.data)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want …%s", tt.name, err, tt.want)
		}
	}
	// Acme's memory is per node (2 of 400 GB), its CPUs the job's.
	tr, err = Read("log.csv", strings.NewReader("job_id,gpu_num,cpu_num,node_num,mem_per_pod_GB,submit_time,duration\n1,16,128,2,400,2023-05-01 00:00:00,60\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []Job{asks(job(0, 60, 16), 128, 800<<10)}; !slices.Equal(tr.Jobs, want) {
		t.Errorf("acme: jobs %v, want %v", tr.Jobs, want)
	}
}

// TestPhillyLogWhiteSpace: a Philly job log padded with white space (2 MiB
// runs after '[', between jobs, inside a job and after ']') loads, as
// JSON means it the same: a run past MaxJSONJobBytes was refused as "a
// job longer than 1048576 bytes", though no job was.
func TestPhillyLogWhiteSpace(t *testing.T) {
	tr, err := Load(filepath.Join("testdata", "philly_log_padded.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []Job{job(0, 3600, 2), job(0, 3600, 2), job(0, 3600, 2)}; !slices.Equal(tr.Jobs, want) {
		t.Errorf("jobs %v, want %v", tr.Jobs, want)
	}
}

// TestLeadingSpace: a Philly job log with more white space before its '['
// than format sniffing peeks at (4 KiB) was "unknown trace format",
// quoting its blanks as the header; it loads whatever the padding, a byte
// order mark before it too, and as an archive's first trace. A CSV's
// leading blank lines keep their line numbers, and a file of more white
// space than a record before a header is refused, not held.
func TestLeadingSpace(t *testing.T) {
	log, err := os.ReadFile(filepath.Join("testdata", "philly_log.json"))
	if err != nil {
		t.Fatal(err)
	}
	pad := func(n int) string { return strings.Repeat(" \t\r\n", n/4) }
	for _, tt := range []struct {
		name string
		data []byte
	}{
		{"spaces.json", append([]byte(strings.Repeat(" ", 5000)), log...)},
		{"newlines.json", append([]byte(strings.Repeat("\n", 5000)), log...)},
		{"bom.json", append([]byte("\ufeff"+pad(3<<20)), log...)},
		{"padded.tar.gz", gzipped(t, tarred(t, [2]string{"cluster_job_log", pad(200<<10) + string(log)}))},
		{"padded.zip", zipOf(t, [2]string{"README", "philly traces"}, [2]string{"cluster_job_log", pad(200<<10) + string(log)})},
	} {
		path := filepath.Join(t.TempDir(), tt.name)
		if err := os.WriteFile(path, tt.data, 0o644); err != nil {
			t.Fatal(err)
		}
		tr, err := Load(path)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if want := []Skip{{2, SkipPhillyNeverRan}, {1, SkipPhillyRunning}}; tr.Format != FormatPhillyLog || len(tr.Jobs) != 3 || !slices.Equal(tr.Skipped, want) {
			t.Errorf("%s: %s, %d jobs, skipped %v; want the Philly log's 3 jobs, skipped %v", tt.name, tr.Format, len(tr.Jobs), tr.Skipped, want)
		}
	}
	for _, tt := range []struct{ name, data, want string }{
		{"blank.csv", strings.Repeat("\n", 5000) + "submit_s,duration_s,gpus\n0,60,1\n0,x,1\n", `blank.csv:5003: column duration_s: "x": not a number`},
		{"lines.csv", strings.Repeat("\r\n", 70000) + "submit_s,duration_s,gpus\n0,60,1\n0,x,1\n", `lines.csv:70003: column duration_s: "x": not a number`},
		{"spaces.csv", strings.Repeat("\n \t", 70000) + "submit_s,duration_s,gpus\n0,60,1\n", `spaces.csv: more than 65536 bytes of white space before its first field (want a CSV header or a JSON array after at most 65536 bytes of white space, or after empty lines)`},
	} {
		_, err := Read(tt.name, strings.NewReader(tt.data))
		var te *Error
		if !errors.As(err, &te) || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want a *trace.Error %s…", tt.name, err, tt.want)
		}
	}
}

// TestSacctHet: a heterogeneous job's components (JobID 2001+0, 2001+1:
// sacct lists one row each, with its own TRES and the job's Submit and
// Start) replayed as separate jobs, so the simulator could start one
// without the other; each such job is one job on its components' GPUs,
// CPUs and memory together (a CPU launcher beside GPU workers too), and a
// job none of whose components has GPUs is one CPU-only job. The export
// repeated after it (a second file concatenated) is skipped whole.
func TestSacctHet(t *testing.T) {
	tr, err := Load(filepath.Join("testdata", "sacct_het.txt"))
	if err != nil {
		t.Fatal(err)
	}
	wantJobs := []Job{asks(job(0, 3600, 16), 4+64, (16+512)<<10), asks(job(1800, 7200, 4+4+8), 8+8+16, (64+64+128)<<10), asks(job(2400, 3600, 1), 2, 8<<10)}
	wantSkipped := []Skip{{4, SkipStep}, {1, SkipNoGPUs}, {2, SkipDuplicate}, {1, SkipHeader}}
	wantNotes := []string{"2 heterogeneous jobs (JobID 123+0, 123+1, …: 5 components in all) each replayed as one job on its components' GPUs, CPUs and memory together, as Slurm starts a heterogeneous job's components together"}
	if !slices.Equal(tr.Jobs, wantJobs) || !slices.Equal(tr.Skipped, wantSkipped) || !slices.Equal(tr.Notes, wantNotes) {
		t.Errorf("jobs %v, skipped %v, notes %q\nwant jobs %v, skipped %v, notes %q", tr.Jobs, tr.Skipped, tr.Notes, wantJobs, wantSkipped, wantNotes)
	}
	// Its components' GPUs together are bounded as one job's are.
	_, err = Read("het.txt", strings.NewReader("JobID|Submit|Start|Elapsed|AllocTRES\n"+
		"9+0|2024-03-04T09:00:00|2024-03-04T09:00:00|01:00:00|gres/gpu=1048576\n9+1|2024-03-04T09:00:00|2024-03-04T09:00:00|01:00:00|gres/gpu=1\n"))
	want := `het.txt:3: column alloctres: "gres/gpu=1": its components add up to 1048577 GPUs (want Slurm TRES such as billing=8,cpu=8,gres/gpu=2,mem=64G,node=1, with gres/gpu (or gres/gpu:TYPE) a whole number of GPUs, at most 1048576 GPUs in all of a heterogeneous job's components)`
	var te *Error
	if !errors.As(err, &te) || err.Error() != want {
		t.Errorf("components over MaxGPUs: got %v, want %s", err, want)
	}
}

// TestSacctHetWhere: --where Partition=gpu kept only the components of a
// heterogeneous job in that partition, so a job of a CPU launcher (in
// cpu) beside GPU workers (in gpu) replayed without its launcher, and one
// on gpu and a100 GPUs with half its GPUs. A heterogeneous job is one job:
// it is kept whole, every component and step, when any of its components
// passes, and else left out whole.
// TestSacctQuotes: sacct does not quote, so a quote is a character of its
// field (a job name's), which the reader passed on as a NUL: --where
// JobName='train "v2"' kept none of the jobs it names (each left out as a
// row outside), and a message quoted \x00 where the file has a quote.
func TestSacctQuotes(t *testing.T) {
	for _, tt := range []struct {
		name string
		jobs []Job
		left int
	}{
		{`train "v2"`, []Job{asks(job(0, 3600, 2), 8, 0)}, 2},
		{`"quoted"`, []Job{asks(job(0, 600, 4), 8, 0)}, 2},
		{"eval", []Job{asks(job(0, 1800, 1), 8, 0)}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := LoadWith(filepath.Join("testdata", "sacct_quotes.txt"), Options{Where: []Where{{Column: "JobName", Values: []string{tt.name}}}})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(tr.Jobs, tt.jobs) || len(tr.Skipped) != 1 || tr.Skipped[0].Rows != tt.left {
				t.Errorf("jobs %v, skipped %v; want %v and %d rows outside", tr.Jobs, tr.Skipped, tt.jobs, tt.left)
			}
		})
	}
	bad := "JobID|JobName|Submit|Start|End|Elapsed|AllocTRES|State\n1|x|2024-03-04T09:00:00|2024-03-04T09:00:05|2024-03-04T10:00:05|\"01:00:00\"|gres/gpu=2|COMPLETED\n"
	_, err := Read("sacct.txt", strings.NewReader(bad))
	if want := `sacct.txt:2: column elapsed: "\"01:00:00\"": not an elapsed time`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v, want %s…", err, want)
	}
}

func TestSacctHetWhere(t *testing.T) {
	all := []Job{asks(job(0, 3600, 16), 4+64, (16+512)<<10), asks(job(1800, 7200, 4+4+8), 8+8+16, (64+64+128)<<10), asks(job(2400, 3600, 1), 2, 8<<10)}
	for _, tt := range []struct {
		partition string
		jobs      []Job
		left      int
	}{
		// 2007's two cpu components are left out.
		{"gpu", all, 2},
		// 2001 by its launcher; 2007 is kept whole and is CPU-only;
		// 2003's three rows and 2006 are left out.
		{"cpu", all[:1], 4},
		// 2003 by its a100 component; every other job's row is left out,
		// and 2001's four steps are counted as steps, not as rows
		// outside Partition=a100 (they were: 11 rows).
		{"a100", []Job{job(0, 7200, 4+4+8)}, 7},
	} {
		opts := Options{Where: []Where{{Column: "Partition", Values: []string{tt.partition}}}}
		tr, err := LoadWith(filepath.Join("testdata", "sacct_het.txt"), opts)
		if err != nil {
			t.Fatal(err)
		}
		if tt.partition == "a100" {
			tt.jobs[0] = asks(tt.jobs[0], 8+8+16, (64+64+128)<<10)
		}
		if left := (Skip{tt.left, "rows outside Partition=" + tt.partition}); !slices.Equal(tr.Jobs, tt.jobs) || !slices.Contains(tr.Skipped, left) || !slices.Contains(tr.Skipped, Skip{4, SkipStep}) {
			t.Errorf("Partition=%s: jobs %v, skipped %v; want jobs %v, %v and 4 steps", tt.partition, tr.Jobs, tr.Skipped, tt.jobs, left)
		}
	}
	// sacct leaves a step's Partition empty: a job's steps are counted as
	// steps, not as rows outside Partition=gpu.
	tr, err := ReadWith("steps.txt", strings.NewReader("JobID|Partition|Submit|Elapsed|AllocTRES\n"+
		"7|gpu|2024-03-04T09:00:00|01:00:00|cpu=8,gres/gpu=2,node=1\n7.batch||2024-03-04T09:00:00|01:00:00|cpu=8,gres/gpu=2,node=1\n7.extern||2024-03-04T09:00:00|01:00:00|cpu=8,gres/gpu=2,node=1\n"+
		"8|cpu|2024-03-04T09:10:00|01:00:00|cpu=8,node=1\n8.batch||2024-03-04T09:10:00|01:00:00|cpu=8,node=1\n"),
		Options{Where: []Where{{Column: "Partition", Values: []string{"gpu"}}}})
	if want := []Skip{{3, SkipStep}, {1, "rows outside Partition=gpu"}}; err != nil || len(tr.Jobs) != 1 || !slices.Equal(tr.Skipped, want) {
		t.Errorf("steps under --where: skipped %v (%v), want %v", tr.Skipped, err, want)
	}
	// What is held of one job until its last row is read is bounded.
	var b strings.Builder
	b.WriteString("JobID|JobName|Partition|Submit|Elapsed|AllocTRES\n")
	for i := 0; b.Len() <= MaxHeldBytes+MaxHeldBytes/8; i++ {
		fmt.Fprintf(&b, "5+%d|%s|gpu|2024-03-04T09:00:00|01:00:00|cpu=8,gres/gpu=1\n", i, strings.Repeat("x", 200))
	}
	_, err = ReadWith("big.txt", strings.NewReader(b.String()), Options{Where: []Where{{Column: "Partition", Values: []string{"gpu"}}}})
	var te *Error
	if !errors.As(err, &te) || !strings.Contains(err.Error(), fmt.Sprintf(`: "5": a heterogeneous job's rows hold more than %d bytes`, MaxHeldBytes)) {
		t.Errorf("a heterogeneous job of over %d bytes: got %v, want it refused", MaxHeldBytes, err)
	}
}

// TestTrailingEmptyColumns: exports that end every row, or the header, in
// empty columns (a comma or tab ending each line) were refused at their
// first row ("4 fields (want 3 fields as in the header)"); rows that differ
// from the header only by empty columns at their end load, and a row with
// more in its extra columns is still refused.
func TestTrailingEmptyColumns(t *testing.T) {
	want := []Job{job(0, 3, 2), job(10, 5, 1)}
	for _, tt := range []struct{ name, data string }{
		{"rows.csv", "submit_s,duration_s,gpus\n20,5,1,\n10,3,2,\n"},
		{"rows_blank.csv", "submit_s,duration_s,gpus\r\n20,5,1,, \r\n10,3,2,,\r\n"},
		{"header.csv", "submit_s,duration_s,gpus,,\n20,5,1\n10,3,2,\n"},
		{"tabs.tsv", "submit_s\tduration_s\tgpus\n20\t5\t1\t\n10\t3\t2\t\n"},
		{"parsable.txt", "JobID|Submit|Elapsed|AllocTRES|\n1|2024-03-04T09:00:20|00:00:05|gres/gpu=1|\n2|2024-03-04T09:00:10|00:00:03|gres/gpu=2|\n"},
	} {
		tr, err := Read(tt.name, strings.NewReader(tt.data))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !slices.Equal(tr.Jobs, want) {
			t.Errorf("%s: jobs %v, want %v", tt.name, tr.Jobs, want)
		}
	}
	for _, tt := range []struct{ name, data, want string }{
		{"extra.csv", "submit_s,duration_s,gpus\n20,5,1,x\n", `extra.csv:2: "20,5,1,x": 4 fields (want 3 fields as in the header)`},
		{"short.csv", "submit_s,duration_s,gpus,,\n20,5\n", `short.csv:2: "20,5": 2 fields (want 5 fields as in the header)`},
	} {
		if _, err := Read(tt.name, strings.NewReader(tt.data)); err == nil || err.Error() != tt.want {
			t.Errorf("%s: got %v, want %s", tt.name, err, tt.want)
		}
	}
}

// TestUTF16: a spreadsheet's "Unicode text" (UTF-16 with its byte order
// mark, little-endian as Excel on Windows saves it, tab-separated) was
// refused as an unknown format with an iconv command that Windows lacks;
// UTF-16 with its mark, either byte order, gzipped too, reads as UTF-8.
func TestUTF16(t *testing.T) {
	want := []Job{job(0, 30, 1), job(1800, 60, 2)}
	le, err := os.ReadFile(filepath.Join("testdata", "utf16.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	gz := filepath.Join(t.TempDir(), "utf16.tsv.gz")
	if err := os.WriteFile(gz, gzipped(t, le), 0o644); err != nil {
		t.Fatal(err)
	}
	// In an archive with no member named, a UTF-16 trace was passed over
	// as no trace ("no trace in the archive"): it is picked as the first.
	dir := t.TempDir()
	tgz := filepath.Join(dir, "jobs.tar.gz")
	if err := os.WriteFile(tgz, gzipped(t, tarred(t, [2]string{"README", "jobs\n"}, [2]string{"utf16.tsv", string(le)})), 0o644); err != nil {
		t.Fatal(err)
	}
	zp := filepath.Join(dir, "jobs.zip")
	if err := os.WriteFile(zp, zipOf(t, [2]string{"README", "jobs\n"}, [2]string{"utf16.tsv", string(le)}), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join("testdata", "utf16.tsv"), filepath.Join("testdata", "utf16be.csv"), gz, tgz, zp} {
		tr, err := Load(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if !slices.Equal(tr.Jobs, want) || tr.Format != FormatJobLog || !tr.Start.Equal(time.Date(2024, 3, 1, 9, 30, 0, 0, time.UTC)) {
			t.Errorf("%s: %s jobs %v from %s, want a job log's %v from 09:30", path, tr.Format, tr.Jobs, tr.Start, want)
		}
	}
}

// TestUTF16RowInAUTF8Trace: rows of UTF-16 (little-endian, no byte
// order mark: a Windows shell's >> onto a UTF-8 file) after a UTF-8
// header and row were refused as '"5\x00": not a number' or '3 fields'
// with no word of UTF-16, which only a header holding NULs got. A value
// or row holding NUL bytes is named UTF-16 text. In sacct's unquoted
// files, whose quotes pass the CSV reader as NULs, the row's NULs were
// shown as quotes ("\"2\"0\"2\"4…") with no word of UTF-16 either; a
// quoted job name in the rows before still reads as written.
func TestUTF16RowInAUTF8Trace(t *testing.T) {
	utf16 := func(s string) string {
		var row []byte
		for _, c := range []byte(s) {
			row = append(row, c, 0)
		}
		return string(row)
	}
	sacct := string(testdataFile(t, "sacct_quotes.txt"))
	for _, tt := range []struct{ name, head, row, want string }{
		{"jobs.csv", "submit_s,duration_s,gpus\n0,60,1\n", "5,60,1\n", `jobs.csv:3: column submit_s: "5\x00": not a number`},
		{"jobs.csv", "job_id,submission_time,duration,num_gpu\na,0,10,1\n", "5,60,1\n", `jobs.csv:3: "5\x00,\x006\x000\x00,\x001\x00": 3 fields`},
		{"sacct.txt", sacct, "1004|x|gpu|2024-03-04T09:20:00|2024-03-04T09:20:05|2024-03-04T09:30:05|00:10:00|cpu=8,gres/gpu=4|COMPLETED\n",
			`sacct.txt:5: column submit: "\x002\x000\x002\x004\x00-\x000\x003\x00-\x000\x004\x00T\x000\x009\x00:\x002\x000\x00:\x000\x000\x00": not a date-time`},
		{"sacct.txt", sacct, "1004|x\n", `sacct.txt:5: "1\x000\x000\x004\x00|\x00x\x00": 2 fields`},
	} {
		_, err := Read(tt.name, strings.NewReader(tt.head+utf16(tt.row)))
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) ||
			!strings.HasSuffix(err.Error(), "; it holds NUL bytes: UTF-16 text (a NUL byte beside each letter) in a file that starts as UTF-8: save the whole file in one encoding, UTF-8)") {
			t.Errorf("%s with a UTF-16 row: got %v, want %s naming UTF-16", tt.name, err, tt.want)
		}
	}
	// The quotes of sacct's rows before it still read as quotes.
	tr, err := ReadWith("sacct.txt", strings.NewReader(sacct), Options{Where: []Where{{Column: "JobName", Values: []string{`"quoted"`}}}})
	if err != nil || len(tr.Jobs) != 1 {
		t.Errorf("sacct's quoted job name: %v", err)
	}
}

// TestGRESCount: a GPU count written as Slurm writes GPUs (gpu:a100:4,
// gres/gpu=4) was refused as "not a whole number" with no word of how to
// give it; the message now says, and that a GRES counts GPUs per node.
func TestGRESCount(t *testing.T) {
	const hint = "; this is Slurm's way of writing GPUs: give the job's GPUs in all as a number (a GRES such as gpu:a100:4 counts them per node: times the job's nodes), or load sacct --parsable2's log with AllocTRES as it is)"
	for _, tt := range []struct{ name, data, want string }{
		{"generic.csv", "submit_s,duration_s,gpus\n0,60,gpu:a100:4\n", `generic.csv:2: column gpus: "gpu:a100:4": not a whole number (want a whole number of GPUs from 1 to 1048576` + hint},
		{"itp.csv", "job_id,submission_time,duration,num_gpu\na,0,60,gres/gpu=4\n", `itp.csv:2: column num_gpu: "gres/gpu=4": not a whole number (want a whole number of GPUs from 1 to 1048576` + hint},
		{"log.csv", "job_id,submit_time,duration,gpu_num\n1,2024-03-01 10:00:00,60,gres/gpu:a100=8\n", `log.csv:2: column gpu_num: "gres/gpu:a100=8": not a number (want a number of GPUs from 0 to 1048576 (a fraction, a share of a GPU, runs on whole GPUs)` + hint},
		{"plain.csv", "submit_s,duration_s,gpus\n0,60,two\n", `plain.csv:2: column gpus: "two": not a whole number (want a whole number of GPUs from 1 to 1048576)`},
	} {
		if _, err := Read(tt.name, strings.NewReader(tt.data)); err == nil || err.Error() != tt.want {
			t.Errorf("%s:\n got %v\nwant %s", tt.name, err, tt.want)
		}
	}
}

// TestLoadProgress: LoadWith reports the bytes it has read, up to the
// file's size, a gzipped file's too (its compressed bytes); a pipe's with
// its size not known (0).
func TestLoadProgress(t *testing.T) {
	for _, file := range []string{"philly_log.json", "generic.csv.bz2"} {
		path := filepath.Join("testdata", file)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		var calls int
		var last, size int64
		_, err = LoadWith(path, Options{Progress: func(read, sz int64) {
			if read < last {
				t.Errorf("%s: read %d after %d", file, read, last)
			}
			calls, last, size = calls+1, read, sz
		}})
		if err != nil {
			t.Fatal(err)
		}
		if calls == 0 || last != fi.Size() || size != fi.Size() {
			t.Errorf("%s: %d calls, last %d of %d; want the file's %d bytes", file, calls, last, size, fi.Size())
		}
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		pw.WriteString("submit_s,duration_s,gpus\n0,60,1\n")
		pw.Close()
	}()
	defer pr.Close()
	var last, size int64 = 0, -1
	if _, err := LoadWith("/dev/fd/"+strconv.Itoa(int(pr.Fd())), Options{Progress: func(read, sz int64) { last, size = read, sz }}); err != nil {
		t.Fatal(err)
	}
	if last != 32 || size != 0 {
		t.Errorf("pipe: last %d of %d, want 32 of an unknown size (0)", last, size)
	}
	// Standard input (--trace -) is read with ReadWith.
	last, size = 0, -1
	if _, err := ReadWith("stdin", strings.NewReader("submit_s,duration_s,gpus\n0,60,1\n"), Options{Progress: func(read, sz int64) { last, size = read, sz }}); err != nil {
		t.Fatal(err)
	}
	if last != 32 || size != 0 {
		t.Errorf("ReadWith: last %d of %d, want 32 of an unknown size (0)", last, size)
	}
}

// TestRepeats: a job listed twice (files concatenated, or exported twice)
// in a format whose rows name their job replayed twice; a row repeating
// one above field for field is skipped and counted, while another job
// reusing an ID (a job counter reset: another submit) is kept.
func TestRepeats(t *testing.T) {
	for _, tt := range []struct {
		file    string
		gpus    []int
		repeats int
	}{
		{"itp.csv", []int{1, 2, 8, 1}, 1},
		{"cluster_log.csv", []int{1, 4, 2}, 1},
		{"openb_pod_list.csv", []int{8, 1}, 1},
		{"pai_task_table.csv", []int{8, 1}, 1},
		{"cluster_job_log", []int{2, 1, 4}, 2},
	} {
		t.Run(tt.file, func(t *testing.T) {
			tr, err := Load(filepath.Join("testdata", "repeats", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			var gpus []int
			for _, j := range tr.Jobs {
				gpus = append(gpus, j.GPUs)
			}
			if !slices.Equal(gpus, tt.gpus) || !slices.Contains(tr.Skipped, Skip{tt.repeats, SkipRepeat}) {
				t.Errorf("jobs on %v GPUs, skipped %v; want %v, %d %s", gpus, tr.Skipped, tt.gpus, tt.repeats, SkipRepeat)
			}
		})
	}
}
