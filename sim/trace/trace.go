// Package trace loads GPU job traces for the simulator: the Microsoft ITP and
// Philly job lists, scheduler job logs (SenseTime Helios cluster_log.csv,
// Shanghai AI Lab Acme, Alibaba's spot GPU trace of 2026), Slurm's
// accounting log (sacct --parsable2), Kubernetes pod lists (Alibaba's GPU
// traces of 2023 and 2025), Alibaba PAI's task table (its GPU trace of
// 2020), SenseTime Helios per-minute sequences, a generic CSV, and
// Microsoft's raw Philly job log (JSON). The format is recognised from
// the CSV header, a JSON array, or the shape of PAI's headerless rows.
package trace

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Job is one GPU job of a trace.
type Job struct {
	// Submit is when the job was submitted, from the trace's start.
	Submit time.Duration
	// Duration is how long the job runs once started.
	Duration time.Duration
	// GPUs is how many GPUs the job needs at once.
	GPUs int
	// CPUs and MemMiB are the CPUs and the memory (MiB) the job asks for
	// in all, where the trace records them (0: it does not say). On the
	// cloud a job takes the GPUs of the smallest instance that holds them
	// (policy.FitShape), as the server's demand sources count it.
	CPUs   int32
	MemMiB int32
}

// Format names a trace format.
type Format string

// The formats Load recognises, by their CSV header.
const (
	// FormatITP is `job_id,submission_time,duration,num_gpu` (Microsoft ITP).
	FormatITP Format = "itp"
	// FormatPhilly is `timestamp,duration,num_gpus,gpu_time,cluster` (Microsoft Philly).
	FormatPhilly Format = "philly"
	// FormatHelios is a per-minute Helios `<vc>_sequence.csv` (SenseTime).
	FormatHelios Format = "helios"
	// FormatJobLog is a scheduler's job log with `submit_time,duration,gpu_num`
	// among its columns (SenseTime Helios cluster_log.csv, Shanghai AI Lab
	// Acme trace_*.csv), or a simulator's job list in the Tiresias layout
	// (`job_id,num_gpu,submit_time,…,duration,…`, submits in seconds).
	FormatJobLog Format = "job-log"
	// FormatGeneric is `submit_s,duration_s,gpus`.
	FormatGeneric Format = "generic"
	// FormatSacct is Slurm's accounting log as `sacct --parsable2` writes
	// it: '|'-separated, with JobID, Submit, Elapsed (or ElapsedRaw) and
	// AllocTRES (or ReqTRES) among its columns.
	FormatSacct Format = "sacct"
	// FormatPodList is a Kubernetes pod list with num_gpu (or
	// gpu_request), creation_time, scheduled_time and deletion_time
	// (seconds) among its columns: Alibaba's cluster-trace-gpu-v2023
	// openb_pod_list_*.csv and cluster-trace-gpu-v2025
	// disaggregated_DLRM_trace.csv.
	FormatPodList Format = "pod-list"
	// FormatPhillyLog is Microsoft's raw Philly job log (cluster_job_log):
	// a JSON array of jobs with their scheduling attempts.
	FormatPhillyLog Format = "philly-job-log"
	// FormatPAITask is Alibaba PAI's task table of 2020
	// (cluster-trace-gpu-v2020 pai_task_table.csv), with the header
	// published beside it or without one, as the table itself is.
	FormatPAITask Format = "pai-task"
)

// DefaultEpoch is the wall-clock start given to traces whose times are only
// offsets (ITP, generic): a Monday, so calendar budgets and cron schedules
// line up with weeks.
var DefaultEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Trace is a job list sorted by submit time, shifted so the first job is
// submitted at 0.
type Trace struct {
	// Name is the file name the trace came from.
	Name   string
	Format Format
	// Start is the wall-clock time of offset 0.
	Start time.Time
	Jobs  []Job
	// Skipped counts the rows left out as not GPU work (a job log's
	// CPU-only jobs and jobs that never ran); empty for other formats.
	Skipped []Skip
	// Notes say how the trace was read where a reader of the report
	// should know (a PAI task table's submits taken from its job table).
	Notes []string
	// Picked is the archive member read when none was named: the
	// archive's first trace file ("" when the trace was no archive's, or
	// its member was named).
	Picked string
	// Shared counts the jobs that asked for part of a GPU (a GPU-sharing
	// pod, a PAI task at a plan_gpu that is not a whole number of GPUs, a
	// fractional count in a job log): each runs on whole GPUs, rounded
	// up, since the simulator rents and places whole GPUs.
	// SharedGPUHours is what that rounding adds to the trace's demand.
	Shared         int
	SharedGPUHours float64
}

// share counts a job kept on whole GPUs that asked for only asked GPUs.
func (t *Trace) share(j Job, asked float64) {
	if asked < float64(j.GPUs) {
		t.Shared++
		t.SharedGPUHours += (float64(j.GPUs) - asked) * j.Duration.Hours()
	}
}

// Span is the time from the first submit to the last job's end.
func (t *Trace) Span() time.Duration {
	var end time.Duration
	for _, j := range t.Jobs {
		end = max(end, j.Submit+j.Duration)
	}
	return end
}

// Error is a bad row or header in a trace file.
type Error struct {
	File   string
	Line   int
	Column string
	Value  string
	// Want says what would be valid.
	Want string
	Err  error
}

// maxShown is how much of a bad value an error message quotes: a binary
// file's "header" would otherwise fill the terminal.
const maxShown = 120

// clip is v cut to maxShown runes, marked with "…" when cut.
func clip(v string) string {
	n := 0
	for i := range v {
		if n == maxShown {
			return v[:i] + "…"
		}
		n++
	}
	return v
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Column != "" {
		fmt.Fprintf(&b, ": column %s", e.Column)
	}
	if e.Column != "" || e.Value != "" {
		fmt.Fprintf(&b, ": %q", clip(e.Value))
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.Want != "" {
		fmt.Fprintf(&b, " (want %s)", e.Want)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// errEmptyFile is a file with no header.
var errEmptyFile = errors.New("empty file")

// ErrUnknownFormat is returned (wrapped in *Error) when a header matches no
// known format.
var ErrUnknownFormat = errors.New("unknown trace format")

// ErrLoneCR is returned (wrapped in *Error) for a file whose lines end in
// a lone carriage return (classic Mac OS, some exports), which reads as one
// line.
var ErrLoneCR = errors.New("its lines end in a lone carriage return (CR), so the file reads as one line")

// Load reads the trace file at path with the default Options.
func Load(path string) (*Trace, error) { return LoadWith(path, Options{}) }

// LoadWith reads the trace file at path within opts' bounds.
func LoadWith(path string, opts Options) (*Trace, error) {
	return LoadContext(context.Background(), path, opts)
}

// LoadContext is LoadWith, stopped once ctx is done (Ctrl-C while a long
// trace, or a stream that does not end, is read): it then returns an
// error wrapping ctx's.
func LoadContext(ctx context.Context, path string, opts Options) (*Trace, error) {
	tr, err := load(ctx, path, opts)
	return tr, stopped(ctx, filepath.Base(path), err)
}

// ReadContext is ReadWith, stopped once ctx is done, as LoadContext is.
func ReadContext(ctx context.Context, name string, r io.Reader, opts Options) (*Trace, error) {
	tr, err := ReadWith(name, ctxReader{ctx: ctx, r: r}, opts)
	return tr, stopped(ctx, name, err)
}

// ctxReader is r, failing with ctx's error once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// stopped is err, or when ctx is done (whatever error the read it stopped
// gave), an error saying so and wrapping ctx's.
func stopped(ctx context.Context, name string, err error) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	return fmt.Errorf("reading trace %s stopped: %w", name, ctx.Err())
}

// openContext opens path for reading, giving up once ctx is done: opening
// a FIFO waits for a writer to open it, which may never come. The open
// given up on is closed should it return later.
func openContext(ctx context.Context, path string) (*os.File, error) {
	type opened struct {
		f   *os.File
		err error
	}
	c := make(chan opened, 1)
	go func() {
		f, err := os.Open(path)
		c <- opened{f, err}
	}()
	select {
	case o := <-c:
		return o.f, o.err
	case <-ctx.Done():
		go func() {
			if o := <-c; o.f != nil {
				o.f.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// load is LoadContext, its error not yet said as stopped.
func load(ctx context.Context, path string, opts Options) (*Trace, error) {
	switch fi, err := os.Stat(path); {
	case err == nil && fi.IsDir():
		return nil, dirError(path)
	case err != nil:
		// A path that runs on past an archive (ENOTDIR) names one of its
		// members.
		if archive, member := archiveMember(path); archive != "" {
			path, opts.Member = archive, member
		}
	}
	f, err := openContext(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("open trace: %w", err)
	}
	defer f.Close()
	name := filepath.Base(path)
	var r io.Reader = f
	zipPicked := ""
	if fi, err := f.Stat(); err == nil && !fi.Mode().IsRegular() {
		// A pipe (`--trace <(zcat jobs.csv.gz)`, a FIFO) or a device
		// reads once, streamed within opts' bounds as standard input is:
		// no prescan and no zip archive, which read it twice.
		return ReadWith(path, ctxReader{ctx: ctx, r: f}, opts)
	}
	if zipped(f) {
		// A zip archive is read from its directory at the end: the
		// member named, or its first member that starts as a trace.
		var closeMember func() error
		if name, r, closeMember, zipPicked, err = zipMember(name, f, opts.Member); err != nil {
			return nil, err
		}
		defer closeMember()
		r = ctxReader{ctx: ctx, r: r}
		opts.Member = ""
	} else {
		if err := prescan(name, ctxReader{ctx: ctx, r: f}, opts.maxJobs(), len(opts.Where) > 0); err != nil {
			return nil, err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("read trace %s: %w", name, err)
		}
		size := int64(0)
		if fi, err := f.Stat(); err == nil {
			size = fi.Size()
		}
		r = withProgress(ctxReader{ctx: ctx, r: f}, size, opts)
		opts.Progress = nil // reported here, with the file's size
	}
	if opts.PAIJobTable == "" {
		// A PAI task table takes its jobs' submits from the job table
		// beside it, as the trace's tarballs extract (or as they ship).
		for _, n := range []string{PAIJobTable, PAIJobTable + ".gz", "pai_job_table.tar.gz"} {
			if jt := filepath.Join(filepath.Dir(path), n); n != filepath.Base(path) && fileExists(jt) {
				opts.PAIJobTable = jt
				break
			}
		}
	}
	tr, err := ReadWith(name, r, opts)
	if err != nil {
		return nil, err
	}
	if zipPicked != "" {
		tr.Picked = zipPicked
	}
	if tr.Picked != "" {
		tr.Notes = append(tr.Notes, fmt.Sprintf("%s is the first trace file in %s; another is read by naming it after the archive (%s/PATH)",
			clip(tr.Picked), filepath.Base(path), path))
	}
	return tr, nil
}

// fileExists reports whether path names a regular file.
func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// Read parses a trace from r with the default Options; name is used in
// errors and as the trace's name.
func Read(name string, r io.Reader) (*Trace, error) { return ReadWith(name, r, Options{}) }

// ReadWith parses a trace from r within opts' bounds. It streams: memory
// grows with the jobs kept, never with the file's size.
func ReadWith(name string, r io.Reader, opts Options) (*Trace, error) {
	r = withProgress(r, 0, opts)
	name, r, picked, err := decompress(name, r, opts.Member)
	if err != nil {
		return nil, asExpansion(err)
	}
	tr, err := readWith(name, r, opts)
	if err != nil {
		return nil, asExpansion(err)
	}
	tr.Picked = picked
	return tr, nil
}

// utf8Text is br's text as UTF-8: text that starts with a UTF-16 byte
// order mark (a spreadsheet's "Unicode text", as Excel on Windows saves
// it) decoded from UTF-16 in the order the mark gives; anything else as
// it is. Decoding makes at most 3 bytes of 2, so the bounds on records
// and jobs hold on what it gives.
func utf8Text(br *bufio.Reader) *bufio.Reader {
	if bom, _ := br.Peek(2); string(bom) != "\xff\xfe" && string(bom) != "\xfe\xff" {
		return br
	}
	dec := unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder()
	return bufio.NewReaderSize(transform.NewReader(br, dec), 1<<16)
}

// utf8Head is the first bytes of a file, head, as UTF-8, as utf8Text
// reads the file: decoded from UTF-16 when they start with its byte order
// mark (a character cut at head's end is dropped), else as they are.
func utf8Head(head []byte) []byte {
	if string(head[:min(len(head), 2)]) != "\xff\xfe" && string(head[:min(len(head), 2)]) != "\xfe\xff" {
		return head
	}
	dec := unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder()
	out, _, _ := transform.Bytes(dec, head[:len(head)&^1])
	return out
}

// archiveMember splits a path that runs on past a file (an archive) into
// the file's path and the member's path inside it; "" when no leading part
// of the path is a regular file.
func archiveMember(full string) (archive, member string) {
	for dir := filepath.Dir(full); ; dir = filepath.Dir(dir) {
		if fi, err := os.Stat(dir); err == nil {
			if !fi.Mode().IsRegular() {
				return "", ""
			}
			rel, err := filepath.Rel(dir, full)
			if err != nil {
				return "", ""
			}
			return dir, memberPath(filepath.ToSlash(rel))
		}
		if filepath.Dir(dir) == dir {
			return "", ""
		}
	}
}

// readWith is ReadWith past the decompression.
func readWith(name string, r io.Reader, opts Options) (*Trace, error) {
	// sacct's '|'-separated files do not quote: a quote is a character of
	// its field (a job name's), so the limiter passes them as NULs, which
	// the CSV reader takes as they stand.
	br, err := pastLeadingSpace(name, utf8Text(bufio.NewReaderSize(r, 1<<16)))
	if err != nil {
		return nil, err
	}
	head, _ := br.Peek(4096)
	lim := &recordLimiter{r: br, max: MaxRecordBytes, unquoted: separator(head) == '|'}
	if isJSON(head) {
		// A JSON job log may be one line; its parser bounds each job.
		lim.max = math.MaxInt
	}
	tr, err := read(name, lim, opts)
	switch {
	case lim.err != nil && errors.Is(err, errRecordTooLong):
		// This file's record (a job table read beside it reports its own).
		return nil, lim.tooLong(name)
	case lim.err != nil && errors.Is(err, ErrBlankRun):
		return nil, blankRunError(name, lim.blankLine)
	case lim.err != nil && errors.Is(err, errNULs):
		return nil, &Error{File: name, Line: lim.nulLine, Err: errNULs, Want: "rows of text; NUL bytes only as padding, on lines of their own or at the file's end"}
	case errors.Is(err, errEmptyFile) && lim.nuls > 0:
		return nil, &Error{File: name, Line: 1, Err: fmt.Errorf("%w: %d NUL bytes and nothing else", errEmptyFile, lim.nuls), Want: "a CSV header line"}
	case err == nil && lim.nuls > 0:
		tr.Notes = append(tr.Notes, fmt.Sprintf("%d NUL bytes from line %d on were passed over, as padding (a file padded with zeros, or whose end a crash zeroed: check that its last rows are whole)", lim.nuls, lim.nulLine))
	}
	return tr, err
}

func read(name string, r io.Reader, opts Options) (*Trace, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	// A UTF-8 byte order mark (spreadsheets write one) goes before the
	// CSV reader sees it: before a quoted header name it is a bare quote.
	if bom, err := br.Peek(3); err == nil && string(bom) == "\ufeff" {
		br.Discard(3)
	}
	head, _ := br.Peek(4096)
	if jsonStart(head) == '{' {
		// Read as CSV it would fail at its first quote ("bare \" in
		// non-quoted-field"), which says nothing of what it is.
		line, _, _ := bytes.Cut(head, []byte{'\n'})
		return nil, &Error{File: name, Line: 1, Value: string(line), Err: errJSONObject,
			Want: wantJSONArray + "; a file of one JSON job a line (JSON Lines) becomes one with jq -s . " + name + " > jobs.json"}
	}
	if isJSON(head) {
		p := &parser{name: name, header: phillyColumns, maxJobs: opts.maxJobs(), where: opts.Where, zone: opts.Zone}
		if p.zone == nil {
			p.zone = time.UTC
		}
		var err error
		if p.whereCols, err = whereIn(name, p.header, FormatPhillyLog, opts.Where); err != nil {
			return nil, err
		}
		tr, err := p.phillyLog(br)
		if err != nil {
			return nil, err
		}
		return p.finish(tr)
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	// Tab-separated files (as some exports write them) and sacct's
	// '|'-separated ones are read too.
	cr.Comma = separator(head)
	header, err := cr.Read()
	for err == nil && blank(header) {
		header, err = cr.Read() // a line of white space before the header
	}
	if err == io.EOF {
		return nil, &Error{File: name, Line: 1, Err: errEmptyFile, Want: "a CSV header line"}
	}
	if err != nil {
		return nil, csvError(name, 0, err)
	}
	// Names are matched trimmed and lower-cased ("Submit_Time, GPU_Num"
	// as spreadsheets and pandas exports write them); messages quote the
	// header as written.
	raw := slices.Clone(header)
	header = loose(raw)
	headerLine, _ := cr.FieldPos(0) // past any empty lines before it
	if slices.ContainsFunc(raw, func(h string) bool { return strings.Contains(h, "\r") }) {
		// The whole file reads as its header: a header it knows (Philly's
		// last column taking the next line's first) was a trace "with no
		// jobs", and one it does not an unknown format.
		return nil, &Error{File: name, Line: headerLine, Value: strings.Join(raw, string(cr.Comma)), Err: ErrLoneCR,
			Want: "lines that end in LF or CRLF: tr '\\r' '\\n' < " + name + " > jobs.csv"}
	}
	p := &parser{name: name, cr: cr, header: header, maxJobs: opts.maxJobs(), where: opts.Where, zone: opts.Zone, paiJobs: opts.PAIJobTable,
		dates: dateOrder{order: opts.DateOrder}}
	if lim, ok := r.(*recordLimiter); ok && lim.unquoted {
		p.unquoted = lim
	}
	format := formatOf(header)
	if format == "" && paiTable(raw) == "task" {
		// PAI's table has no header: its first line is a task.
		p.header, p.first = paiTaskColumns, raw
		header, format = p.header, FormatPAITask
	}
	if p.zone == nil {
		p.zone = time.UTC
	}
	p.idAt = idColumn(header, format) + 1
	if p.whereCols, err = whereIn(name, header, format, opts.Where); err != nil && format != "" {
		return nil, err
	}
	var tr *Trace
	switch format {
	case FormatITP:
		tr, err = p.itp()
	case FormatPhilly:
		tr, err = p.philly()
	case FormatHelios:
		tr, err = p.helios()
	case FormatJobLog:
		tr, err = p.jobLog()
	case FormatGeneric:
		tr, err = p.generic()
	case FormatSacct:
		tr, err = p.sacct()
	case FormatPodList:
		tr, err = p.podList()
	case FormatPAITask:
		tr, err = p.paiTask()
	default:
		want := "a header with job_id,submission_time,duration,num_gpu (ITP); timestamp,duration,num_gpus (Philly); submit_time,duration,gpu_num or num_gpu (a job log: Helios cluster_log, Acme, Tiresias), or gpu_request,worker_num (Alibaba's spot trace of 2026); JobID|Submit|Elapsed|AllocTRES (Slurm's sacct --parsable2); num_gpu or gpu_request,creation_time,scheduled_time,deletion_time (a pod list: Alibaba 2023 or 2025); job_name,task_name,inst_num,start_time,end_time,plan_gpu (Alibaba PAI 2020's pai_task_table, with or without that header); time,running_gpu_num,pending_gpu_num (Helios sequence); or submit_s,duration_s,gpus"
		if h := strings.Join(raw, ","); strings.Contains(h, "\x00") || strings.HasPrefix(h, "\xff\xfe") || strings.HasPrefix(h, "\xfe\xff") {
			// UTF-16 with its byte order mark is read; without one, the
			// order of its bytes is anyone's guess.
			want += "; this is UTF-16 text without a byte order mark (a NUL byte beside each letter): save it as UTF-8, or as UTF-16 with its byte order mark, e.g. iconv -f UTF-16LE -t UTF-8 " + name + " > jobs.csv"
		}
		if len(header) > 0 && strings.HasPrefix(header[0], "jobid ") {
			want += "; sacct's table output cuts long values: export with sacct --parsable2 (-P)"
		}
		// (Its TRES's commas make it read as comma-separated.)
		if line := strings.Join(raw, string(cr.Comma)); strings.Contains(line, "|") && sacctRow(strings.Split(line, "|")) {
			want += "; this looks like a row of sacct's log without its header: export without --noheader (-n), or add the --format fields as its first line, '|'-separated"
		}
		if hint := companion(header); hint != "" {
			want += "; " + hint
		}
		if t := paiTable(raw); t != "" || hasColumns(header, "job_name", "inst_id", "status", "start_time") {
			if t == "" {
				t = "job or instance"
			}
			want += "; this looks like PAI's " + t + " table, which holds no GPU counts: load pai_task_table.csv"
		}
		return nil, &Error{File: name, Line: headerLine, Value: strings.Join(raw, string(cr.Comma)), Err: ErrUnknownFormat, Want: want}
	}
	if dup := dupColumn(header); dup != "" {
		return nil, &Error{File: name, Line: headerLine, Column: dup, Value: strings.Join(raw, string(cr.Comma)), Err: ErrDupColumn,
			Want: fmt.Sprintf("each of the %s format's columns once", format)}
	}
	if err != nil {
		return nil, err
	}
	return p.finish(tr)
}

// finish completes a parsed trace: the rows a where left out counted, its
// name set, its jobs sorted and shifted, and its span checked.
func (p *parser) finish(tr *Trace) (*Trace, error) {
	if p.headers > 0 {
		tr.Skipped = append(tr.Skipped, Skip{p.headers, SkipHeader})
	}
	if p.repeated.rows > 0 {
		tr.Skipped = append(tr.Skipped, Skip{p.repeated.rows, SkipRepeat})
	}
	if p.blanks > 0 {
		tr.Skipped = append(tr.Skipped, Skip{p.blanks, SkipBlank})
	}
	if p.left > 0 && !p.whereHit {
		return nil, p.keptNone()
	}
	if p.left > 0 {
		tr.Skipped = append(tr.Skipped, whereSkip(p.left, p.where))
	}
	tr.skip(p.unusable.skip())
	tr.Name = p.name
	normalise(tr)
	if span := tr.Span(); span > MaxSpan {
		return nil, &Error{File: p.name, Value: fmt.Sprintf("%.0f s from the first submit to the last end", span.Seconds()), Err: ErrSpan,
			Want: fmt.Sprintf("at most %.0f s (%v)", maxSeconds, MaxSpan)}
	}
	return tr, nil
}

// separator is the field separator of a file whose first bytes are head,
// judged from its first line: a tab, '|' (sacct --parsable2) or ';' (a
// spreadsheet's CSV where the decimal mark is a comma) when the line
// holds one and no comma, else a comma.
func separator(head []byte) rune {
	line := firstLine(head)
	switch {
	case bytes.IndexByte(line, ',') >= 0:
		return ','
	case bytes.IndexByte(line, '\t') >= 0:
		return '\t'
	case bytes.IndexByte(line, '|') >= 0:
		return '|'
	case bytes.IndexByte(line, ';') >= 0:
		return ';'
	}
	return ','
}

// sepName names a field separator for messages.
func sepName(sep rune) string {
	switch sep {
	case '\t':
		return "tabs"
	case ',':
		return "commas"
	case ';':
		return "semicolons"
	}
	return fmt.Sprintf("%q", sep)
}

// firstLine is the first line of head that holds more than white space
// (the CSV reader passes over empty lines before a header), without its
// line break.
func firstLine(head []byte) []byte {
	for len(head) > 0 {
		line, rest, _ := bytes.Cut(head, []byte{'\n'})
		if len(bytes.TrimSpace(line)) > 0 {
			return line
		}
		head = rest
	}
	return nil
}

// normalise sorts jobs by submit (stable, so equal submits keep file order)
// and shifts them so the first is submitted at 0.
func normalise(tr *Trace) {
	slices.SortStableFunc(tr.Jobs, func(a, b Job) int {
		switch {
		case a.Submit < b.Submit:
			return -1
		case a.Submit > b.Submit:
			return 1
		}
		return 0
	})
	if len(tr.Jobs) == 0 {
		return
	}
	first := tr.Jobs[0].Submit
	if first != 0 {
		for i := range tr.Jobs {
			tr.Jobs[i].Submit -= first
		}
		tr.Start = tr.Start.Add(first)
	}
}

// ErrDupColumn is returned (wrapped in *Error) when a header names a
// column its format reads more than once: which one holds the values is
// anyone's guess.
var ErrDupColumn = errors.New("the column appears more than once")

// readColumns are the columns the formats read.
var readColumns = []string{"submission_time", "duration", "num_gpu", "timestamp", "num_gpus", "time",
	"running_gpu_num", "pending_gpu_num", "running_gpu_num_noless_8", "pending_gpu_num_noless_8",
	"running_gpu_num_less_8", "pending_gpu_num_less_8", "submit_s", "duration_s", "gpus", "submit_time", "gpu_num", "worker_num",
	"jobid", "submit", "start", "end", "elapsed", "elapsedraw", "alloctres", "reqtres", "state", "eligible",
	"creation_time", "scheduled_time", "deletion_time", "gpu_request", "inst_num", "plan_gpu", "start_time", "end_time"}

// sacctRow reports whether rec looks like a row of sacct's log: a JobID
// (123, 123_4, 123_[5-9], 123+0, 123.batch) first, and a field holding a
// sacct time.
func sacctRow(rec []string) bool {
	id := strings.TrimSpace(rec[0])
	if id == "" || id[0] < '0' || id[0] > '9' || strings.Trim(id, "0123456789_[]-,%+.abcdeihnprstx") != "" {
		return false
	}
	return slices.ContainsFunc(rec[1:], func(f string) bool {
		_, ok := parseDateTime(f, time.UTC)
		return ok
	})
}

// dupColumn names a column the formats read that header holds twice ("" when none).
func dupColumn(header []string) string {
	seen := map[string]bool{}
	for _, h := range header {
		if seen[h] && slices.Contains(readColumns, h) {
			return h
		}
		seen[h] = true
	}
	return ""
}

// loose is header with its names trimmed and lower-cased, as the formats
// are matched.
func loose(header []string) []string {
	out := make([]string, len(header))
	for i, h := range header {
		out[i] = strings.ToLower(strings.TrimSpace(h))
	}
	return out
}

// formatOf recognises a format from its header ("" when none matches).
func formatOf(header []string) Format {
	switch {
	case hasColumns(header, "job_id", "submission_time", "duration", "num_gpu"):
		return FormatITP
	case hasColumns(header, "timestamp", "duration", "num_gpus"):
		return FormatPhilly
	case hasColumns(header, "submit_time", "duration", "gpu_num"), hasColumns(header, "submit_time", "duration", "num_gpu"),
		hasColumns(header, "submit_time", "duration", "gpu_request"):
		return FormatJobLog
	case hasColumns(header, "time", "running_gpu_num", "pending_gpu_num"):
		return FormatHelios
	case hasColumns(header, "submit_s", "duration_s", "gpus"):
		return FormatGeneric
	case hasColumns(header, "jobid", "submit") && (hasColumns(header, "elapsed") || hasColumns(header, "elapsedraw")) &&
		(hasColumns(header, "alloctres") || hasColumns(header, "reqtres")):
		return FormatSacct
	case hasColumns(header, "num_gpu", "creation_time", "scheduled_time", "deletion_time"),
		hasColumns(header, "gpu_request", "creation_time", "scheduled_time", "deletion_time"):
		return FormatPodList
	case hasColumns(header, "inst_num", "start_time", "end_time", "plan_gpu"):
		return FormatPAITask
	}
	return ""
}

func hasColumns(header []string, names ...string) bool {
	for _, n := range names {
		if !slices.Contains(header, n) {
			return false
		}
	}
	return true
}

func csvError(name string, line int, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &Error{File: name, Line: pe.Line, Err: pe.Err, Want: "well-formed CSV"}
	}
	// The file failed to read: a compressed one cut short or corrupt,
	// within the line after the last one read whole.
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("the file ends early, inside this line (cut short: a download or copy that did not finish?): %w", err)
	}
	return &Error{File: name, Line: max(line, 0) + 1, Err: err, Want: "a file that reads to its end (compressed ones whole and uncorrupted)"}
}

type parser struct {
	name string
	cr   *csv.Reader
	// unquoted is the limiter of a file whose fields are never quoted
	// (sacct's), which passes each quote on as a NUL; nil for others.
	unquoted *recordLimiter
	// lastLine is the line the last row read ends on.
	lastLine int
	header   []string
	maxJobs  int
	// where keeps some rows (Options.Where), at whereCols; left counts
	// the rows it left out.
	where     []Where
	whereCols []int
	left      int
	// whereHit is set once a row passes the where; outside holds the
	// values the rows left out have in each where's column (for the
	// error when no row passes).
	whereHit bool
	outside  []seenValues
	// headers counts the rows that repeat the header (repeatsHeader),
	// blanks those with every field empty.
	headers, blanks int
	// emptyRun counts the rows that hold no job (blank, or the header
	// again) read one after another, from line emptyFrom (noJob).
	emptyRun, emptyFrom int
	// never counts the rows of ITP, Philly or generic CSV whose duration
	// is 0 or empty (SkipNeverRan), skipped as a job log's are.
	never int
	// unusable counts the rows skipped for a value that is no finite
	// number or a negative duration (skipUnusable), in every format (in
	// Helios' sequence of the cluster's states, the row before holds on).
	unusable unusableRows
	// zone is Options.Zone, UTC when unset.
	zone *time.Location
	// dates is the order of day and month in the file's dates with their
	// year last (yearLast): Options.DateOrder, or as a row shows it;
	// undated holds the rows from a date that reads either way on, until
	// one shows it (readDated).
	dates   dateOrder
	undated undatedRows
	// job is the JSON job log's job whose dates are being read (from 1;
	// 0 in a CSV file), for dates to name it.
	job int
	// first is a headerless file's first line, the first row rows gives;
	// headerless says there was one.
	first      []string
	headerless bool
	// submits is the kind of submit times in seconds the file gives
	// (submitSeconds).
	submits int
	// paiJobs is Options.PAIJobTable.
	paiJobs string
	// idAt is 1 + the column that names a row's job (0: none), for
	// repeated to tell a row repeating a job above.
	idAt     int
	repeated repeats
	// group, where set (sacct), names the job a row belongs to when the
	// job spans rows that a where keeps or leaves out together (a
	// heterogeneous job's components and their steps), and whether the
	// row is one of its components; "" for any other row. held holds
	// such a job's rows until its last is read (heldWhere).
	group func(rec []string) (job string, component bool)
	held  heldRows
	// order, once a header of the same columns in another order has
	// been read (files concatenated), is where each of the first
	// header's columns is in the rows below it; reordered holds a row
	// put in the first header's order.
	order     []int
	reordered []string
	// readNames are the header's columns that the formats read
	// (readColumns), for headerLike; nil until it is first asked.
	readNames []string
	// readByLen indexes readNames by their length (in bytes).
	readByLen [32][]int
	// step, where set (sacct), reports whether a row is a job step's
	// (123.batch), which is never a job: a where neither keeps nor leaves
	// it out (sacct leaves a step's Partition, User and Account empty),
	// and the format counts it as a step.
	step func(rec []string) bool
}

// heldRows are the rows of one job read so far that a where keeps or
// leaves out together: their lines, their fields, whether any component
// among them passes the where, and their bytes (bounded by
// MaxHeldBytes).
type heldRows struct {
	job   string
	lines []int
	recs  [][]string
	kept  bool
	bytes int
}

// MaxHeldBytes bounds the rows of one heterogeneous job that a --where
// holds until its last component is read.
const MaxHeldBytes = 16 << 20

// heldWhere takes a row of a job that spans rows (p.group): it is held
// with the job's other rows, and when a row of another job comes, the
// rows held are passed to fn together when any of the job's components
// passes the where, or else left out together. It reports whether it
// took rec (false: rec is no such job's, and the caller goes on with it).
func (p *parser) heldWhere(line int, rec []string, fn func(line int, rec []string) error) (bool, error) {
	job, component := p.group(rec)
	if job != p.held.job {
		if err := p.flushHeld(fn); err != nil {
			return true, err
		}
	}
	if job == "" {
		return false, nil
	}
	p.held.job = job
	for _, v := range rec {
		p.held.bytes += len(v)
	}
	if p.held.bytes > MaxHeldBytes {
		return true, &Error{File: p.name, Line: line, Value: job, Err: fmt.Errorf("a heterogeneous job's rows hold more than %d bytes", MaxHeldBytes),
			Want: "a job whose components and steps (read together for --where) take at most that"}
	}
	p.held.lines = append(p.held.lines, line)
	p.held.recs = append(p.held.recs, slices.Clone(rec))
	p.held.kept = p.held.kept || (component && kept(rec, p.where, p.whereCols))
	return true, nil
}

// flushHeld passes the rows held to fn, or leaves them out, as heldWhere
// says, and empties the hold.
func (p *parser) flushHeld(fn func(line int, rec []string) error) error {
	h := p.held
	p.held = heldRows{lines: h.lines[:0], recs: h.recs[:0]}
	if !h.kept {
		for _, rec := range h.recs {
			p.leaveOut(rec)
		}
		return nil
	}
	p.whereHit = true
	for i, rec := range h.recs {
		if err := fn(h.lines[i], rec); err != nil {
			return err
		}
	}
	return nil
}

// repeat reports whether row rec repeats a job kept above, in a format
// whose rows name their job (p.idAt), and else holds its key: a caller
// asks as it keeps the row's job.
func (p *parser) repeat(rec []string) bool {
	if p.idAt == 0 {
		return false
	}
	return p.repeated.repeat(rec[p.idAt-1], rec)
}

// headerName names what sets the fields a row must have.
func (p *parser) headerName() string {
	if p.headerless {
		return "PAI's table (" + strings.Join(p.header, ",") + ")"
	}
	return "the header"
}

// add appends a job, refusing one beyond the job limit.
func (p *parser) add(tr *Trace, line int, j Job) error {
	if len(tr.Jobs) >= p.maxJobs {
		return &Error{File: p.name, Line: line, Err: ErrTooManyJobs,
			Want: fmt.Sprintf("at most %d jobs", p.maxJobs)}
	}
	tr.Jobs = append(tr.Jobs, j)
	return nil
}

func (p *parser) col(name string) int { return slices.Index(p.header, name) }

// rows calls fn for each data row with its line number; blank lines are
// skipped by encoding/csv. A row fn refuses for a value that is no finite
// number or for a negative duration is skipped and counted (skipUnusable).
func (p *parser) rows(fn func(line int, rec []string) error) error {
	fn = p.skipUnusable(fn)
	// A date that reads either way holds its row, and those below, until
	// one shows the order (readDated).
	dated := fn
	fn = func(line int, rec []string) error { return p.readDated(dated, line, rec) }
	for {
		rec, line := p.first, 1
		if rec != nil {
			p.first, p.headerless = nil, true
		} else {
			var err error
			if rec, err = p.cr.Read(); err == io.EOF {
				if p.group != nil && len(p.where) > 0 {
					if err := p.flushHeld(fn); err != nil {
						return err
					}
				}
				return p.readUndated(dated)
			} else if err != nil {
				return csvError(p.name, p.lastLine, err)
			}
			line, _ = p.cr.FieldPos(0)
			p.lastLine, _ = p.cr.FieldPos(len(rec) - 1)
			// A byte order mark inside the file starts a file
			// concatenated to the one before (cat a.csv b.csv, each
			// saved by a spreadsheet): it is no part of the row's text.
			if len(rec) > 0 {
				rec[0] = strings.TrimPrefix(rec[0], "\ufeff")
			}
			if p.unquoted != nil && !p.unquoted.nulsOn(line, p.lastLine) && p.unquoted.quotes > 0 {
				// A row holding NULs of its own keeps them: UTF-16
				// text, its NULs are not quotes (utf16Hint names it).
				quotesBack(rec)
			}
		}
		if blank(rec) {
			// A spreadsheet exports the rows it once used as ",,,".
			p.blanks++
			if err := p.noJob(line); err != nil {
				return err
			}
			continue
		}
		if len(rec) != len(p.header) {
			rec = p.fit(rec)
		}
		if len(rec) != len(p.header) {
			// The row as the file has it: a '|' or tab between fields,
			// not a comma that a field (sacct's TRES) may hold.
			value := strings.Join(rec, string(p.cr.Comma))
			if p.headerLike(rec) {
				return &Error{File: p.name, Line: line, Value: value, Err: errOtherHeader, Want: wantSameColumns}
			}
			want := fmt.Sprintf("%d fields as in %s", len(p.header), p.headerName())
			if sep := separator([]byte(value)); len(rec) == 1 && sep != p.cr.Comma && strings.ContainsRune(value, sep) && (sep != ',' || p.cr.Comma != '|') {
				// (sacct's TRES holds commas.)
				want += fmt.Sprintf("; this row's fields are separated by %s, the header's by %s: one separator throughout", sepName(sep), sepName(p.cr.Comma))
			}
			return &Error{File: p.name, Line: line, Value: value, Err: fmt.Errorf("%d fields", len(rec)), Want: want + utf16Hint(value)}
		}
		if p.repeatsHeader(rec) {
			p.headers++
			p.order = nil
			if err := p.noJob(line); err != nil {
				return err
			}
			continue
		}
		if p.headerLike(rec) {
			order, ok := p.reorderedHeader(rec)
			if !ok {
				return &Error{File: p.name, Line: line, Value: strings.Join(rec, string(p.cr.Comma)), Err: errOtherHeader, Want: wantSameColumns}
			}
			// Files concatenated whose exports put the columns in
			// another order: the rows below are read by this header.
			p.headers++
			p.order = order
			if err := p.noJob(line); err != nil {
				return err
			}
			continue
		}
		p.emptyRun = 0
		if p.order != nil {
			rec = p.reorder(rec)
		}
		if len(p.where) > 0 && p.step != nil && p.step(rec) {
			if err := fn(line, rec); err != nil {
				return err
			}
			continue
		}
		if len(p.where) > 0 && p.group != nil {
			// A job of several rows is kept or left out whole.
			if took, err := p.heldWhere(line, rec, fn); err != nil {
				return err
			} else if took {
				continue
			}
		}
		if len(p.where) > 0 && !p.passes(rec) {
			continue
		}
		if err := fn(line, rec); err != nil {
			return err
		}
	}
}

// quotesBack turns the NULs a recordLimiter of an unquoted file passed
// each quote on as back into quotes: a JobName of sacct's written
// my "job" is matched by --where and quoted by messages as written.
func quotesBack(rec []string) {
	for i, f := range rec {
		if strings.IndexByte(f, 0) >= 0 {
			rec[i] = strings.ReplaceAll(f, "\x00", `"`)
		}
	}
}

// errNotFinite is a numeric field that holds NaN or an infinity (pandas
// writes a missing value as NaN, and a script's division by zero inf),
// and errNegativeDuration a job that ends before it starts (a clock set
// back, start and end swapped): no job to replay, and each such row is
// skipped and counted, the load going on, where a row is a job.
var (
	errNotFinite        = errors.New("not a finite number")
	errNegativeDuration = errors.New("a negative duration")
)

// errNotDecimal is a number written as Go writes it and strconv reads it,
// '_' between digits (1_000) or in hex (0x1p4, 0x10): no trace's format
// writes one, so such a field is a mistake, not a number to read as Go
// would.
var errNotDecimal = errors.New("not a decimal number: write digits with an optional point and exponent (1000, 1.5, 2e3), without '_' between them or a 0x prefix")

// parseDecimal is strconv.ParseFloat for a trace's fields: decimal
// numbers only (NaN and infinities are the caller's to judge), a number in
// Go's other syntax errNotDecimal.
func parseDecimal(s string) (float64, error) {
	if strings.IndexByte(s, '_') >= 0 {
		return 0, errNotDecimal
	}
	if u := strings.TrimLeft(s, "+-"); len(u) > 1 && u[0] == '0' && u[1]|0x20 == 'x' {
		return 0, errNotDecimal
	}
	return strconv.ParseFloat(s, 64)
}

// notNumber is what a field parseDecimal refused is: errNotDecimal, or
// not a number at all.
func notNumber(err error) error {
	if errors.Is(err, errNotDecimal) {
		return errNotDecimal
	}
	return errors.New("not a number")
}

// unusableRows counts the rows skipped for errNotFinite or
// errNegativeDuration: their number, the first few lines, and the first
// one's column and value.
type unusableRows struct {
	rows  int
	lines []int
	first *Error
}

// unusableLines is how many of the rows' lines the report lists.
const unusableLines = 5

// SkipUnusable starts the reason a row with a value that is no finite
// number (NaN, inf) or a negative duration is skipped; its lines and the
// first's column and value follow in parentheses.
const SkipUnusable = "rows with NaN, an infinite number or a negative duration"

// skip is the Skip the rows make (Rows 0: none).
func (u *unusableRows) skip() Skip {
	if u.rows == 0 {
		return Skip{}
	}
	lines := make([]string, len(u.lines))
	for i, l := range u.lines {
		lines[i] = strconv.Itoa(l)
	}
	at := "line " + lines[0]
	if u.rows > 1 {
		at = "lines " + strings.Join(lines, ", ")
		if u.rows > len(u.lines) {
			at += ", …"
		}
	}
	first := fmt.Sprintf("%q", clip(u.first.Value))
	if u.first.Column != "" {
		first = "column " + u.first.Column + " " + first
	}
	if u.rows > 1 {
		return Skip{u.rows, fmt.Sprintf("%s (%s; the first: %s)", SkipUnusable, at, first)}
	}
	return Skip{u.rows, fmt.Sprintf("%s (%s: %s)", SkipUnusable, at, first)}
}

// skipUnusable is fn, a format's row function, with a row it refuses for
// errNotFinite or errNegativeDuration skipped and counted in p.unusable
// instead (and not counted as a job that never ran as well).
func (p *parser) skipUnusable(fn func(line int, rec []string) error) func(line int, rec []string) error {
	return func(line int, rec []string) error {
		never := p.never
		err := fn(line, rec)
		if err == nil {
			return nil // (before te, which escapes: no allocation a row)
		}
		te := unusableError(err)
		if te == nil {
			return err
		}
		p.never = never
		u := &p.unusable
		if u.rows++; len(u.lines) < unusableLines {
			u.lines = append(u.lines, line)
		}
		if u.first == nil {
			u.first = te
		}
		return nil
	}
}

// unusableError is err as the *Error of a row skipUnusable skips, or nil.
func unusableError(err error) *Error {
	var te *Error
	if errors.As(err, &te) && (errors.Is(err, errNotFinite) || errors.Is(err, errNegativeDuration)) {
		return te
	}
	return nil
}

// fit is rec matched to the header's columns where it differs from them
// only by empty columns at its end, as exports write them: empty fields
// past the header's last column (a comma ending every row) dropped, and
// empty fields added for the header's unnamed columns at its end (a
// header ending in commas); else rec as it is, refused by the caller.
func (p *parser) fit(rec []string) []string {
	n := len(p.header)
	if len(rec) > n {
		if blank(rec[n:]) {
			return rec[:n]
		}
		return rec
	}
	named := n
	for named > 0 && p.header[named-1] == "" {
		named--
	}
	for len(rec) >= named && len(rec) < n {
		rec = append(rec, "")
	}
	return rec
}

// SkipBlank is why a row whose every field is empty or white space is
// skipped: a spreadsheet exports the rows it once used as ",,,".
const SkipBlank = "empty rows (every field empty, as spreadsheets export rows once used)"

// noJob counts the row at line, which holds no job (blank, or the
// header again), in the run of such rows: an error past MaxEmptyRows.
func (p *parser) noJob(line int) error {
	if p.emptyRun == 0 {
		p.emptyFrom = line
	}
	if p.emptyRun++; p.emptyRun > MaxEmptyRows {
		return &Error{File: p.name, Line: p.emptyFrom, Err: ErrEmptyRows,
			Want: fmt.Sprintf("rows of jobs, with at most %d empty rows and repeated headers in a row (a spreadsheet holds 1,048,576 rows); a file whose empty rows are its fault reads once they are gone: grep -v '^[,;|[:space:]]*$'", MaxEmptyRows)}
	}
	return nil
}

// blank reports whether every field of rec is empty or white space.
func blank(rec []string) bool {
	for _, v := range rec {
		if strings.TrimSpace(v) != "" {
			return false
		}
	}
	return true
}

// SkipHeader is why a row that repeats the header is skipped: files of
// one format concatenated (cat jan.txt feb.txt), each with its header,
// its columns in the first header's order or another.
const SkipHeader = "repeated header rows (files concatenated, each with its header)"

// errOtherHeader is a row that is a header whose columns are not the
// first header's: files concatenated from exports with other columns.
var errOtherHeader = errors.New("a header whose columns differ from the first line's (files concatenated from exports with other columns?)")

// wantSameColumns says how to concatenate files of other columns.
const wantSameColumns = "files concatenated with the same columns, in any order; join others by their column names first, e.g. csvstack a.csv b.csv > jobs.csv (csvkit) or pandas.concat"

// reorderedHeader reports whether rec is the header with its columns in
// another order (names matched as repeatsHeader matches them), and if so
// where each of the header's columns is in rec.
func (p *parser) reorderedHeader(rec []string) ([]int, bool) {
	names := loose(rec)
	names[0] = strings.TrimPrefix(names[0], "\ufeff")
	order := make([]int, len(p.header))
	used := make([]bool, len(names))
	for i, h := range p.header {
		j := slices.IndexFunc(names, func(n string) bool { return n == h })
		for j >= 0 && used[j] {
			k := slices.IndexFunc(names[j+1:], func(n string) bool { return n == h })
			if k < 0 {
				j = -1
				break
			}
			j += 1 + k
		}
		if j < 0 {
			return nil, false
		}
		used[j], order[i] = true, j
	}
	return order, true
}

// reorder is rec, a row under a header of reordered columns, in the
// first header's order (in a buffer reused from row to row).
func (p *parser) reorder(rec []string) []string {
	p.reordered = p.reordered[:0]
	for _, j := range p.order {
		p.reordered = append(p.reordered, rec[j])
	}
	return p.reordered
}

// headerLike reports whether rec names two of the columns the first
// header has that the formats read (or its one): a header, where a row
// was expected, as no job's values are column names.
func (p *parser) headerLike(rec []string) bool {
	if p.readNames == nil {
		p.readNames = []string{}
		for _, h := range p.header {
			if slices.Contains(readColumns, h) && !slices.Contains(p.readNames, h) {
				p.readNames = append(p.readNames, h)
				if n := len(h); n < len(p.readByLen) && len(p.readNames) <= 64 {
					p.readByLen[n] = append(p.readByLen[n], len(p.readNames)-1)
				}
			}
		}
	}
	// Each row is asked, so each field is looked at once: only one as
	// long as a read column's name is compared with it.
	need := min(2, len(p.readNames))
	if need == 0 {
		return false
	}
	var seen uint64 // by index in readNames (fewer than 64: readColumns)
	matched := 0
	for _, v := range rec {
		t := strings.TrimSpace(v)
		if len(t) >= len(p.readByLen) {
			continue
		}
		for try := 0; try < 2; try++ {
			for _, i := range p.readByLen[len(t)] {
				if seen&(1<<i) == 0 && strings.EqualFold(t, p.readNames[i]) {
					seen |= 1 << i
					if matched++; matched >= need {
						return true
					}
				}
			}
			// Past a byte order mark (a spreadsheet's first field).
			if t2 := strings.TrimPrefix(t, "\ufeff"); len(t2) != len(t) {
				t = t2
				continue
			}
			break
		}
	}
	return false
}

// repeatsHeader reports whether rec is the header again (names matched as
// the header's are, after the byte order mark a file saved by a
// spreadsheet starts with).
func (p *parser) repeatsHeader(rec []string) bool {
	for i, v := range rec {
		if i == 0 {
			v = strings.TrimPrefix(v, "\ufeff")
		}
		if !strings.EqualFold(strings.TrimSpace(v), p.header[i]) {
			return false
		}
	}
	return true
}

func (p *parser) bad(line int, col, value, want string, err error) error {
	if p.cr != nil && p.cr.Comma == ';' && strings.Contains(value, ",") {
		want += "; the file's decimal mark is a comma: save it with a point (a spreadsheet's English locale)"
	}
	return &Error{File: p.name, Line: line, Column: col, Value: value, Want: want + utf16Hint(value), Err: err}
}

// utf16Hint names, for a row's value holding a NUL byte, the text in
// UTF-16 it is (a NUL beside each letter): rows of UTF-16 appended to a
// UTF-8 file (a shell's redirection on Windows, a spreadsheet's export
// pasted on), read as UTF-8 from the header's encoding ("" for a value
// without one).
func utf16Hint(value string) string {
	if !strings.Contains(value, "\x00") {
		return ""
	}
	return "; it holds NUL bytes: UTF-16 text (a NUL byte beside each letter) in a file that starts as UTF-8: save the whole file in one encoding, UTF-8"
}

// seconds parses a non-negative number of seconds (integer or decimal):
// a duration when duration is set (a negative one is errNegativeDuration),
// else a time. NaN or an infinity is errNotFinite.
func (p *parser) seconds(line int, col, s string, duration bool) (time.Duration, error) {
	f, err := parseDecimal(strings.TrimSpace(s))
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange):
		return 0, p.bad(line, col, s, wantSeconds, notNumber(err))
	case err == nil && (math.IsNaN(f) || math.IsInf(f, 0)):
		return 0, p.bad(line, col, s, wantSeconds, errNotFinite)
	case err == nil && f < 0 && duration:
		return 0, p.bad(line, col, s, wantSeconds, errNegativeDuration)
	case err != nil || f < 0 || f > maxSeconds:
		return 0, p.bad(line, col, s, wantSeconds, errors.New("out of range"))
	}
	// Times are kept to the millisecond.
	return time.Duration(f*1e3+0.5) * time.Millisecond, nil
}

// Submit times as numbers: seconds from the trace's start (0 to
// maxSeconds), or Unix times (before MaxDate) in seconds (beyond
// maxSeconds, which no span allows as an offset), milliseconds,
// microseconds or nanoseconds (from 1e11, 1e14 and 1e17: each a date from
// March 1973 on, and each range past the one before's end), told apart by
// their size, as the file's first row gives them.
const (
	submitsUnknown = iota
	submitsOffset
	submitsUnix
	submitsUnixMilli
	submitsUnixMicro
	submitsUnixNano
)

// submitKind is one kind of submit time as a number: what it is called,
// one and many, for messages; the values it takes, [least, past); and how
// many of them make a second.
type submitKind struct {
	one, many   string
	least, past float64
	perSecond   float64
}

var submitKinds = [...]submitKind{
	submitsOffset:    {"seconds from the trace's start", "seconds from the trace's start", 0, math.Nextafter(maxSeconds, math.Inf(1)), 1},
	submitsUnix:      {"a Unix time", "Unix times", math.Nextafter(maxSeconds, math.Inf(1)), float64(MaxDate.Unix()), 1},
	submitsUnixMilli: {"a Unix time in milliseconds", "Unix times in milliseconds", 1e11, float64(MaxDate.UnixMilli()), 1e3},
	submitsUnixMicro: {"a Unix time in microseconds", "Unix times in microseconds", 1e14, float64(MaxDate.UnixMicro()), 1e6},
	submitsUnixNano:  {"a Unix time in nanoseconds", "Unix times in nanoseconds", 1e17, float64(MaxDate.UnixNano()), 1e9},
}

// submitSeconds reads a submit time given as a number: an offset from the
// trace's start in seconds or a Unix time in seconds, milliseconds,
// microseconds or nanoseconds (p.submits, set by the first row read); a
// Unix time comes back as the offset from 1970-01-01 UTC.
func (p *parser) submitSeconds(line int, col, s string) (time.Duration, error) {
	f, err := parseDecimal(strings.TrimSpace(s))
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, p.bad(line, col, s, wantSubmitSeconds, notNumber(err))
	}
	if err == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
		return 0, p.bad(line, col, s, wantSubmitSeconds, errNotFinite)
	}
	kind := submitsUnknown
	for k := submitsOffset; k <= submitsUnixNano && err == nil; k++ {
		if f >= submitKinds[k].least && f < submitKinds[k].past {
			kind = k
		}
	}
	if kind == submitsUnknown {
		return 0, p.bad(line, col, s, wantSubmitSeconds, errors.New("out of range"))
	}
	switch {
	case p.submits == submitsUnknown:
		p.submits = kind
	case kind != p.submits:
		return 0, p.bad(line, col, s, wantSubmitSeconds+", one kind in a file",
			fmt.Errorf("%s where the rows above give %s", submitKinds[kind].one, submitKinds[p.submits].many))
	}
	return time.Duration(f/submitKinds[kind].perSecond*1e3+0.5) * time.Millisecond, nil
}

// submitBase is the wall-clock time of submit offset 0: the Unix epoch
// when the submits were Unix times, else DefaultEpoch.
func (p *parser) submitBase() time.Time {
	if p.submits > submitsOffset {
		return time.Unix(0, 0).UTC()
	}
	return DefaultEpoch
}

func (p *parser) gpus(line int, col, s string) (int, error) {
	return p.count(line, col, s, "GPUs", 1)
}

// Expected values, for messages (built once: the parsers run per row).
var (
	wantSeconds         = fmt.Sprintf("a number of seconds from 0 to %.0f", maxSeconds)
	wantPositiveSeconds = fmt.Sprintf("a number of seconds from 0.001 to %.0f", maxSeconds)
	wantSubmitSeconds   = fmt.Sprintf("seconds from the trace's start (0 to %.0f) or a Unix time before %s: in seconds (%.0f to %d), or in milliseconds, microseconds or nanoseconds (from 1e11, 1e14 or 1e17: March 1973 on)", maxSeconds, MaxDate.Format(time.DateOnly), maxSeconds, MaxDate.Unix())
	wantDate            = fmt.Sprintf("a time as YYYY-MM-DD HH:MM:SS (UTC, or the zone given for the trace, unless an offset such as +08:00 or a zone such as Asia/Shanghai follows) from %s to %s", MinDate.Format(time.DateOnly), MaxDate.Format(time.DateOnly))
)

// count parses a whole number of what (GPUs, or the instances, workers
// or nodes that hold them) from least to MaxGPUs.
func (p *parser) count(line int, col, s, what string, least int) (int, error) {
	want := func() string { return fmt.Sprintf("a whole number of %s from %d to %d", what, least, MaxGPUs) }
	s = strings.TrimSpace(s)
	n, err := 0, strconv.ErrSyntax
	if !strings.ContainsAny(s, ".eE") {
		n, err = strconv.Atoi(s)
	}
	if err != nil {
		// Some converters write counts as floats ("8.0").
		f, ferr := parseDecimal(s)
		switch {
		case errors.Is(ferr, errNotDecimal):
			return 0, p.bad(line, col, s, want(), ferr)
		case ferr == nil && (math.IsNaN(f) || math.IsInf(f, 0)):
			return 0, p.bad(line, col, s, want(), errNotFinite)
		case errors.Is(err, strconv.ErrRange) || (ferr == nil && (f < float64(least) || f > MaxGPUs)):
			return 0, p.bad(line, col, s, want(), errors.New("out of range"))
		case ferr != nil || f != math.Trunc(f):
			return 0, p.bad(line, col, s, want()+gresHint(s), errors.New("not a whole number"))
		}
		n = int(f)
	}
	if n < least || n > MaxGPUs {
		return 0, p.bad(line, col, s, want(), errors.New("out of range"))
	}
	return n, nil
}

// fraction parses a job log's GPU count, which may be a fraction (a share
// of a GPU): the whole GPUs the job runs on, rounded up, and the GPUs it
// asked for.
func (p *parser) fraction(line int, col, s string) (int, float64, error) {
	want := fmt.Sprintf("a number of GPUs from 0 to %d (a fraction, a share of a GPU, runs on whole GPUs)", MaxGPUs)
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n <= MaxGPUs {
		return n, float64(n), nil
	}
	f, err := parseDecimal(s)
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange):
		return 0, 0, p.bad(line, col, s, want+gresHint(s), notNumber(err))
	case err == nil && (math.IsNaN(f) || math.IsInf(f, 0)):
		return 0, 0, p.bad(line, col, s, want, errNotFinite)
	case err != nil || f < 0 || f > MaxGPUs:
		return 0, 0, p.bad(line, col, s, want, errors.New("out of range"))
	}
	return int(math.Ceil(f)), f, nil
}

// gresHint says how to give a GPU count written as Slurm writes GPUs
// (gpu:a100:4 as --gres and squeue's tres-per-node give them, per node;
// gres/gpu=4 or gres/gpu:a100=4 as a TRES list gives them, the job's in
// all); "" for any other value. Either is refused rather than read: a
// GRES count is per node, and the row says nothing of its nodes.
func gresHint(s string) string {
	v := strings.ToLower(s)
	if !strings.Contains(v, "gpu") || !strings.ContainsAny(v, ":=") {
		return ""
	}
	return "; this is Slurm's way of writing GPUs: give the job's GPUs in all as a number (a GRES such as gpu:a100:4 counts them per node: times the job's nodes), or load sacct --parsable2's log with AllocTRES as it is"
}

// date parses a date-time column within [MinDate, MaxDate).
func (p *parser) date(line int, col, s string) (time.Time, error) {
	return p.dateWant(line, col, s, wantDate)
}

// dateWant is date, with want saying what is valid in its errors.
func (p *parser) dateWant(line int, col, s, want string) (time.Time, error) {
	at, ok := parseDateTime(s, p.zone)
	if !ok {
		// A zone after the time (an offset, or an IANA name: zoneOf),
		// which the date-time before it is read in.
		v, zone, err := zoneOf(s)
		if err != nil {
			return time.Time{}, p.bad(line, col, s, want+"; "+wantZone, err)
		}
		if zone != nil {
			at, ok = parseDateTime(v, zone)
		} else {
			zone = p.zone
		}
		if !ok {
			// A date with its year last, as a spreadsheet's locale
			// writes it.
			iso, err := p.yearLast(line, col, v)
			if err != nil {
				return time.Time{}, err
			}
			if iso != "" {
				at, ok = parseDateTime(iso, zone)
			}
		}
	}
	if !ok {
		return time.Time{}, p.bad(line, col, s, want, errors.New("not a date-time"))
	}
	if at.Before(MinDate) || !at.Before(MaxDate) {
		return time.Time{}, p.bad(line, col, s, want, errors.New("out of range"))
	}
	return at, nil
}

func (p *parser) itp() (*Trace, error) {
	cs, cd, cg := p.col("submission_time"), p.col("duration"), p.col("num_gpu")
	tr := &Trace{Format: FormatITP}
	err := p.rows(func(line int, rec []string) error {
		_, err := p.jobRow(tr, line, rec, cs, cd, cg)
		return err
	})
	tr.Start = p.submitBase()
	tr.skip(Skip{p.never, SkipNeverRan})
	return tr, err
}

func (p *parser) generic() (*Trace, error) {
	cs, cd, cg := p.col("submit_s"), p.col("duration_s"), p.col("gpus")
	cpuCol, memCol := p.at(genericCPU), p.at(genericMem)
	tr := &Trace{Format: FormatGeneric}
	err := p.rows(func(line int, rec []string) error {
		if added, err := p.jobRow(tr, line, rec, cs, cd, cg); err != nil || !added {
			return err
		}
		j := &tr.Jobs[len(tr.Jobs)-1]
		var err error
		if j.CPUs, j.MemMiB, err = p.needs(line, rec, cpuCol, memCol); err != nil {
			// The row is refused, or skipped (skipUnusable), whole.
			tr.Jobs = tr.Jobs[:len(tr.Jobs)-1]
		}
		return err
	})
	tr.Start = p.submitBase()
	tr.skip(Skip{p.never, SkipNeverRan})
	return tr, err
}

// jobRow adds the job of an ITP or generic row, reporting whether it
// did: a row of duration 0 or empty is counted in p.never, and a row
// repeating a job above is left out.
func (p *parser) jobRow(tr *Trace, line int, rec []string, cs, cd, cg int) (bool, error) {
	sub, err := p.submitSeconds(line, p.header[cs], rec[cs])
	if err != nil {
		return false, err
	}
	dur, ran, err := p.duration(line, p.header[cd], rec[cd])
	if err != nil {
		return false, err
	}
	g, err := p.gpus(line, p.header[cg], rec[cg])
	if err != nil || !ran {
		return false, err
	}
	if p.repeat(rec) {
		return false, nil
	}
	return true, p.add(tr, line, Job{Submit: sub, Duration: dur, GPUs: g})
}

// duration reads a job's duration in seconds, reporting whether the job
// ran: one of 0 (to the millisecond) or empty never ran (it failed or was
// cancelled before it started, and held no GPU), and is counted in
// p.never, to be skipped as a job log's are.
func (p *parser) duration(line int, col, s string) (time.Duration, bool, error) {
	if strings.TrimSpace(s) == "" {
		p.never++
		return 0, false, nil
	}
	d, err := p.seconds(line, col, s, true)
	if err == nil && d == 0 {
		p.never++
		return 0, false, nil
	}
	return d, err == nil, err
}

// philly parses the Pollux conversion of the Philly trace: submit as
// "YYYY-MM-DD HH:MM:SS" (UTC), duration in seconds, num_gpus.
// errNumberNotDate is a number where a format's dates are, as Philly's
// timestamp: the published traces and their conversions write date-times.
var errNumberNotDate = errors.New("a number, not a date-time")

var wantPhillyTimestamp = "a date-time, as Philly's traces write timestamp (2017-10-09 07:01:55); a trace of Unix times or seconds reads with the header submit_s,duration_s,gpus"

func (p *parser) philly() (*Trace, error) {
	cs, cd, cg := p.col("timestamp"), p.col("duration"), p.col("num_gpus")
	tr := &Trace{Format: FormatPhilly}
	var d dated
	err := p.rows(func(line int, rec []string) error {
		at, err := p.date(line, "timestamp", rec[cs])
		if _, nerr := parseDecimal(strings.TrimSpace(rec[cs])); err != nil && nerr == nil {
			// Philly's traces write dates; a number is a conversion's.
			return p.bad(line, "timestamp", rec[cs], wantPhillyTimestamp, errNumberNotDate)
		}
		if err != nil {
			return err
		}
		dur, ran, err := p.duration(line, "duration", rec[cd])
		if err != nil {
			return err
		}
		g, err := p.gpus(line, "num_gpus", rec[cg])
		if err != nil || !ran {
			return err
		}
		return d.add(p, tr, line, at, Job{Duration: dur, GPUs: g})
	})
	d.done(tr, Skip{p.never, SkipNeverRan})
	return tr, err
}

// dateTimeLayouts are the longer date-times parseDateTime accepts:
// fractions of a second, and a zone offset (or Z), as exports from
// databases and pandas write them, or without its colon (+0100), as
// strftime's %z writes it (sacct with SLURM_TIME_FORMAT=%FT%T%z).
var dateTimeLayouts = []string{
	"2006-01-02 15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999 -0700", "2006-01-02 15:04:05.999999999-07",
	"2006-01-02T15:04:05.999999999-0700", "2006-01-02 15:04:05.999999999-0700", "2006-01-02T15:04:05.999999999-07",
}

// parseDateTimeZone parses a date-time with a fraction of a second or a
// zone offset, to the millisecond (trace times are kept to it), in UTC; one
// without an offset is read in zone.
func parseDateTimeZone(s string, zone *time.Location) (time.Time, bool) {
	for _, layout := range dateTimeLayouts {
		if t, err := time.ParseInLocation(layout, s, zone); err == nil {
			return t.UTC().Round(time.Millisecond), true
		}
	}
	return time.Time{}, false
}

// parseDateTime parses "YYYY-MM-DD HH:MM:SS" in zone without time.Parse's
// generality (Philly has 82k rows), also with '/' for '-', without the
// seconds or without the time, and the longer forms
// parseDateTimeZone does, to UTC; it reports false for anything else.
func parseDateTime(s string, zone *time.Location) (time.Time, bool) {
	b := []byte(tidyDateTime(strings.TrimSpace(s)))
	if len(b) > 19 {
		return parseDateTimeZone(string(b), zone)
	}
	switch len(b) {
	case 10: // a date
		b = append(b, []byte(" 00:00:00")...)
	case 16: // minutes, as spreadsheets write them
		b = append(b, []byte(":00")...)
	}
	// The date's separators are '-', or '/' as some exports write it.
	if len(b) != 19 || (b[4] != '-' && b[4] != '/') || b[7] != b[4] || (b[10] != ' ' && b[10] != 'T') || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	num := func(x []byte) (int, bool) {
		n := 0
		for _, c := range x {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	var v [6]int
	for i, r := range [6][2]int{{0, 4}, {5, 7}, {8, 10}, {11, 13}, {14, 16}, {17, 19}} {
		n, ok := num(b[r[0]:r[1]])
		if !ok {
			return time.Time{}, false
		}
		v[i] = n
	}
	if v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60 {
		return time.Time{}, false
	}
	t := time.Date(v[0], time.Month(v[1]), v[2], v[3], v[4], v[5], 0, time.UTC)
	if t.Day() != v[2] { // e.g. Feb 30
		return time.Time{}, false
	}
	if zone != time.UTC {
		t = time.Date(v[0], time.Month(v[1]), v[2], v[3], v[4], v[5], 0, zone).UTC()
	}
	return t, true
}
