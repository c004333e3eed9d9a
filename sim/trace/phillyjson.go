package trace

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Why a Philly job log entry is skipped, beside SkipNoGPUs.
const (
	SkipPhillyNeverRan = "jobs with no recorded run (no attempt with a start_time and an end_time)"
	SkipPhillyRunning  = "jobs still running when the trace was taken (last attempt's end_time None or null)"
)

// MaxJSONJobBytes bounds one job of a JSON job log, as MaxRecordBytes
// bounds a CSV line: a job of the Philly log takes about a kilobyte.
const MaxJSONJobBytes = 1 << 20

// phillyColumns are the fields of a Philly job log entry that a Where can
// name, in the order of the record phillyLog builds for it.
var phillyColumns = []string{"status", "vc", "jobid", "user"}

// isJSON reports whether a file whose first bytes are head (after any
// byte order mark) holds a JSON array: the Philly job log.
func isJSON(head []byte) bool { return jsonStart(head) == '[' }

// jsonStart is the first byte of head past a byte order mark and white
// space (0 when there is none).
func jsonStart(head []byte) byte {
	head = bytes.TrimPrefix(head, []byte("\ufeff"))
	head = bytes.TrimLeft(head, " \t\r\n")
	if len(head) == 0 {
		return 0
	}
	return head[0]
}

// errJSONObject is a file of JSON objects, where a JSON array of jobs (or
// a CSV header) belongs.
var errJSONObject = errors.New("a JSON object, not a JSON array")

// wantJSONArray is what a JSON job log must be.
const wantJSONArray = `a JSON array of Philly jobs, [{"jobid": …, "submitted_time": "2017-10-07 01:11:39", "attempts": [{"start_time": …, "end_time": …, "detail": [{"ip": …, "gpus": ["gpu0", …]}]}]}, …]`

// phillyJob is one entry of Philly's cluster_job_log.
type phillyJob struct {
	Status        string  `json:"status"`
	VC            string  `json:"vc"`
	JobID         string  `json:"jobid"`
	User          string  `json:"user"`
	SubmittedTime *string `json:"submitted_time"`
	Attempts      []struct {
		StartTime *string `json:"start_time"`
		EndTime   *string `json:"end_time"`
		Detail    []struct {
			GPUs []string `json:"gpus"`
		} `json:"detail"`
	} `json:"attempts"`
}

// phillyLog parses Microsoft's raw Philly job log (cluster_job_log of
// msr-fiddle/philly-traces): a JSON array of jobs, each with its
// submitted_time and its scheduling attempts, each with a start_time, an
// end_time and the GPUs of every server it ran on. A job is submitted at
// its submitted_time and runs from its first attempt's start to its last
// attempt's end (retries included, as the ATC'19 analysis counts run
// time) on the most GPUs any attempt held. Times are date-times without a
// zone (the cluster's Pacific time: see Options.Zone). Jobs with no
// attempt that started and ended, jobs still running when the trace was
// taken (their last end_time None or null) and jobs with no GPUs recorded are
// skipped and counted in Trace.Skipped. Each job is bounded to
// MaxJSONJobBytes, a run of white space outside its strings counting as
// one byte (jsonSqueezer); the log is read as a stream.
func (p *parser) phillyLog(br *bufio.Reader) (*Trace, error) {
	// White space is squeezed before the limiter, so that a pretty
	// printer's indentation or padding between jobs is neither held by
	// the decoder nor counted against a job's bound.
	lim := &jsonJobLimiter{r: &jsonSqueezer{r: br}}
	dec := json.NewDecoder(lim)
	tr := &Trace{Format: FormatPhillyLog}
	if _, err := dec.Token(); err != nil { // the array's '['
		return nil, p.jsonErr(0, err)
	}
	var d dated
	var never, running, cpu int
	rec := make([]string, len(phillyColumns))
	// take reads the n-th job into tr, or counts why it is skipped.
	take := func(n int, j *phillyJob) error {
		if err := p.noSubmit(n, j); err != nil {
			return err
		}
		submit, err := p.jobDate(n, j, "submitted_time", *j.SubmittedTime)
		if err != nil {
			return err
		}
		var start, end time.Time
		gpus, open := 0, false
		for k, a := range j.Attempts {
			g := 0
			for _, server := range a.Detail {
				g += len(server.GPUs)
			}
			if g > MaxGPUs {
				return p.jobErr(n, j, fmt.Sprintf("attempts[%d].detail", k), fmt.Sprint(g, " GPUs"), fmt.Sprintf("at most %d GPUs", MaxGPUs), errors.New("out of range"))
			}
			s, e, err := p.attemptTimes(n, j, k, a.StartTime, a.EndTime)
			if err != nil {
				return err
			}
			open = k == len(j.Attempts)-1 && !s.IsZero() && e.IsZero()
			if s.IsZero() || e.IsZero() {
				continue // a logging gap, as the trace's notes say
			}
			if start.IsZero() || s.Before(start) {
				start = s
			}
			if e.After(end) {
				end = e
			}
			gpus = max(gpus, g)
		}
		switch {
		case open:
			running++
			return nil
		case start.IsZero() || !end.After(start):
			never++
			return nil
		case gpus == 0:
			cpu++
			return nil
		}
		dur := end.Sub(start)
		if dur > MaxSpan {
			return p.jobErr(n, j, "attempts", fmt.Sprintf("%.0f s from the first start to the last end", dur.Seconds()), wantPositiveSeconds, errors.New("out of range"))
		}
		// A job repeating one above (logs merged twice) in its jobid,
		// submit, run and GPUs is left out; another job reusing a jobid
		// is kept.
		if p.repeated.repeat(j.JobID, []string{j.JobID, *j.SubmittedTime, strconv.FormatInt(start.UnixMilli(), 10), strconv.FormatInt(end.UnixMilli(), 10), strconv.Itoa(gpus)}) {
			return nil
		}
		return d.add(p, tr, 0, submit, Job{Duration: dur.Round(time.Millisecond), GPUs: gpus})
	}
	// A date with its year last that reads either way holds its job, and
	// those below, until one shows the order (as rows' readDated does).
	var held heldJobs
	for n := 1; dec.More(); n++ {
		lim.n = 0
		var j phillyJob
		at := dec.InputOffset()
		if err := dec.Decode(&j); err != nil {
			return nil, p.jsonErr(n, err)
		}
		// The limiter bounds what is read from the file (the decoder may
		// hold a little read ahead); the job itself is bounded exactly.
		size := dec.InputOffset() - at
		if size > MaxJSONJobBytes {
			return nil, p.jsonErr(n, errJSONJobTooLong)
		}
		rec[0], rec[1], rec[2], rec[3] = j.Status, j.VC, j.JobID, j.User
		if len(p.where) > 0 && !p.passes(rec[:]) {
			continue
		}
		if err := held.take(p, take, n, &j, int(size)); err != nil {
			return nil, err
		}
	}
	if err := held.done(p, take); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != nil { // the array's ']'
		return nil, p.jsonErr(0, err)
	}
	// Anything but white space after the array is refused: a second log
	// appended to the first (cat a.json b.json) would lose its jobs unseen.
	if tail := jsonTail(io.MultiReader(dec.Buffered(), br)); tail != "" {
		return nil, &Error{File: p.name, Value: tail, Err: errors.New("more follows the JSON array's closing ']'"),
			Want: "one JSON array of Philly jobs and nothing after it; to replay several logs, merge their arrays into one, e.g. jq -s add a.json b.json > jobs.json"}
	}
	d.done(tr, Skip{cpu, SkipNoGPUs}, Skip{never, SkipPhillyNeverRan}, Skip{running, SkipPhillyRunning})
	return tr, nil
}

// jsonTail is the start of what r holds after white space, "" when it
// holds nothing else.
func jsonTail(r io.Reader) string {
	br := bufio.NewReader(r)
	for {
		c, err := br.ReadByte()
		if err != nil {
			return ""
		}
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			br.UnreadByte()
			head, _ := br.Peek(maxShown + 1)
			return string(head)
		}
	}
}

// noSubmit is the error for the n-th job when its submitted_time is not
// recorded: null or missing, or a null written as text ("None", as
// Python's str(None) writes it, "unknown" or empty), which is no
// malformed date-time; nil when it holds a value to read.
func (p *parser) noSubmit(n int, j *phillyJob) error {
	var what string
	switch {
	case j.SubmittedTime == nil:
		// Shown as no value: a quoted "null" read as the string.
		what = "is null or missing"
	case unknownTime(*j.SubmittedTime):
		what = fmt.Sprintf("is %q, a null written as text", clip(*j.SubmittedTime))
	default:
		return nil
	}
	return &Error{File: p.name, Err: fmt.Errorf("job %d (jobid %q): submitted_time %s, where the log has the time the job was submitted", n, clip(j.JobID), what), Want: wantDate}
}

// attemptTimes parses attempt k's start and end: the zero time for one
// not recorded (null, "None" or empty), an error for one that is not a
// date-time in range or an end before the start.
func (p *parser) attemptTimes(n int, j *phillyJob, k int, start, end *string) (s, e time.Time, err error) {
	parse := func(field string, v *string) (time.Time, error) {
		if v == nil || unknownTime(*v) {
			return time.Time{}, nil
		}
		return p.jobDate(n, j, fmt.Sprintf("attempts[%d].%s", k, field), *v)
	}
	if s, err = parse("start_time", start); err != nil {
		return
	}
	if e, err = parse("end_time", end); err != nil {
		return
	}
	if !s.IsZero() && !e.IsZero() && e.Before(s) {
		err = p.jobErr(n, j, fmt.Sprintf("attempts[%d].end_time", k), *end, "an end_time at or after the attempt's start_time ("+*start+")", errors.New("before the start"))
	}
	return
}

// jobDate reads a date-time of the n-th job (from 1) of a JSON job log
// as a CSV trace's (parser.date): a zone after the time, or the year
// last (Options.DateOrder, or as a date in the log shows it).
func (p *parser) jobDate(n int, j *phillyJob, field, value string) (time.Time, error) {
	p.job = n
	at, err := p.date(0, field, value)
	p.job = 0
	var te *Error
	if err != nil && errors.As(err, &te) {
		// The job, not a line, says where.
		te.Err = fmt.Errorf("job %d (jobid %q): %w", n, clip(j.JobID), te.Err)
	}
	return at, err
}

// heldJobs are the jobs of a JSON job log held from one with a date that
// reads either way (ambiguousDateError) on, until a job below shows the
// order, when they are read in it: as rows' undatedRows, bounded by
// MaxHeldBytes.
type heldJobs struct {
	ns    []int
	jobs  []phillyJob
	bytes int
	err   *Error
}

// take calls fn for job j, or holds it while a date that reads either way
// waits for a job below to show the log's order; size is the job's bytes
// in the log (what holding it takes, about).
func (h *heldJobs) take(p *parser, fn func(n int, j *phillyJob) error, n int, j *phillyJob, size int) error {
	if p.dates.order == DateOrderUnknown {
		// Any of its dates may show the order, not only those read
		// before one that reads either way.
		if o, v := orderShown(j.dates()); o != DateOrderUnknown {
			p.dates = dateOrder{o, 0, v, n}
		}
	}
	if h.err == nil {
		err := fn(n, j)
		if err == nil || p.dates.order != DateOrderUnknown {
			return err
		}
		te := ambiguousError(err)
		if te == nil {
			return err
		}
		h.err = te
	} else if p.dates.order != DateOrderUnknown {
		if err := h.done(p, fn); err != nil {
			return err
		}
		return fn(n, j)
	}
	if h.bytes += size; h.bytes > MaxHeldBytes {
		h.err.Want = fmt.Sprintf("%s; or a date whose day is past 12, which tells, in the %d MiB of jobs after it", wantOrder, MaxHeldBytes>>20)
		return h.err
	}
	h.ns = append(h.ns, n)
	h.jobs = append(h.jobs, *j)
	return nil
}

// done reads the jobs held, once a job has shown the order; at the log's
// end with none shown, the first one's date is refused with both its
// readings.
func (h *heldJobs) done(p *parser, fn func(n int, j *phillyJob) error) error {
	held := *h
	*h = heldJobs{}
	if held.err == nil {
		return nil
	}
	if p.dates.order == DateOrderUnknown {
		held.err.Want = wantOrder + "; no date in the log has its day past 12, which would tell"
		return held.err
	}
	for i := range held.jobs {
		if err := fn(held.ns[i], &held.jobs[i]); err != nil {
			return err
		}
	}
	return nil
}

// dates are the job's date-times as the log writes them.
func (j *phillyJob) dates() []string {
	var ds []string
	if j.SubmittedTime != nil {
		ds = append(ds, *j.SubmittedTime)
	}
	for _, a := range j.Attempts {
		for _, v := range []*string{a.StartTime, a.EndTime} {
			if v != nil {
				ds = append(ds, *v)
			}
		}
	}
	return ds
}

// jobErr is a bad field of the n-th job (from 1) of a JSON job log.
func (p *parser) jobErr(n int, j *phillyJob, field, value, want string, err error) error {
	return &Error{File: p.name, Column: field, Value: value, Want: want, Err: fmt.Errorf("job %d (jobid %q): %w", n, clip(j.JobID), err)}
}

// jsonErr is a JSON job log that does not parse, at its n-th job (0 for
// the array around them).
func (p *parser) jsonErr(n int, err error) error {
	if errors.Is(err, errJSONJobTooLong) {
		return &Error{File: p.name, Err: fmt.Errorf("job %d: %w", n, err), Want: fmt.Sprintf("jobs of at most %d bytes", MaxJSONJobBytes)}
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		err = errors.New("the file ends inside the JSON array")
	}
	where := "the JSON array"
	if n > 0 {
		where = fmt.Sprintf("job %d", n)
	}
	if te := (*json.UnmarshalTypeError)(nil); errors.As(err, &te) && te.Field != "" {
		return &Error{File: p.name, Err: fmt.Errorf("%s: %s is a JSON %s, where the log has %s: %w", where, te.Field, te.Value, jsonKind(te.Type), errJSONType),
			Want: wantJSONArray + jsonTimeHint(te.Field)}
	}
	return &Error{File: p.name, Err: fmt.Errorf("%s: %w", where, err), Want: wantJSONArray}
}

// errJSONType is a field of a JSON job log whose value is of another JSON
// type than the log's (a number where it has a string).
var errJSONType = errors.New("not of the log's type")

// jsonKind names the JSON type a phillyJob field of type t reads.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return jsonKind(t.Elem())
	case reflect.Slice:
		return "an array"
	case reflect.Struct:
		return "an object"
	}
	return "a string"
}

// jsonTimeHint is what to do about a time field (its path field) that is
// not a string, such as a Unix time; "" for other fields.
func jsonTimeHint(field string) string {
	if !strings.HasSuffix(field, "_time") {
		return ""
	}
	return `; each time a string as the log writes it, "2017-10-07 01:11:39" (a Unix time becomes one with jq's strftime("%Y-%m-%d %H:%M:%S"))`
}

// jsonSqueezer passes a JSON text on with each run of white space outside
// its strings cut to one space, which the text means the same with: a
// run of any length between jobs (a pretty printer's indentation, a log
// padded with blank lines) takes one byte of the decoder's buffer and of
// a job's MaxJSONJobBytes, rather than being refused as a job too long.
type jsonSqueezer struct {
	r io.Reader
	// inString and escaped say where the last byte passed on left the
	// text: in a string, after its backslash; space that it was white
	// space outside a string.
	inString, escaped, space bool
}

func (s *jsonSqueezer) Read(p []byte) (int, error) {
	for {
		n, err := s.r.Read(p)
		w := 0
		for _, c := range p[:n] {
			switch {
			case s.inString:
				switch {
				case s.escaped:
					s.escaped = false
				case c == '\\':
					s.escaped = true
				case c == '"':
					s.inString = false
				}
			case c == ' ' || c == '\t' || c == '\r' || c == '\n':
				if s.space {
					continue
				}
				s.space, p[w] = true, ' '
				w++
				continue
			case c == '"':
				s.inString = true
			}
			s.space, p[w] = false, c
			w++
		}
		if w > 0 || err != nil {
			return w, err
		}
	}
}

// errJSONJobTooLong is what jsonJobLimiter returns past its bound.
var errJSONJobTooLong = fmt.Errorf("a job longer than %d bytes", MaxJSONJobBytes)

// jsonJobLimiter passes bytes through and fails once more than
// MaxJSONJobBytes are read since n was last reset (before each job), so
// that one job cannot take the whole file into memory.
type jsonJobLimiter struct {
	r io.Reader
	n int
}

func (l *jsonJobLimiter) Read(p []byte) (int, error) {
	left := MaxJSONJobBytes - l.n
	if left <= 0 {
		return 0, errJSONJobTooLong
	}
	if len(p) > left {
		p = p[:left] // a job's bytes beyond the bound are never passed on
	}
	n, err := l.r.Read(p)
	l.n += n
	return n, err
}

// maxLeadingSpace is the most white space held, as the file has it, from
// the start of a file that turns out not to be JSON (a CSV's leading
// blank lines), so that the CSV reader sees it and its line numbers stay
// right; past it, only empty lines are counted, and given back as such.
const maxLeadingSpace = MaxRecordBytes

// errLeadingSpace is a file that starts with more than maxLeadingSpace
// bytes of white space, not only empty lines, and then something other
// than a JSON array.
var errLeadingSpace = fmt.Errorf("more than %d bytes of white space before its first field", maxLeadingSpace)

// pastLeadingSpace reads br past the white space (after a byte order
// mark) a file starts with, any amount of it, to see what follows: a JSON
// text ('[' or '{') is then read from its first byte, the white space
// dropped (JSON means the same without it), so that a job log padded
// before its array is recognised as one however long the padding (format
// sniffing peeks at 4 KiB). Anything else reads as the file has it: the
// white space is held for it up to maxLeadingSpace bytes, and empty lines
// beyond that are counted and given back (a longer run of other white
// space before a CSV header is refused).
func pastLeadingSpace(name string, br *bufio.Reader) (*bufio.Reader, error) {
	off := 0
	if bom, _ := br.Peek(3); string(bom) == "\ufeff" {
		off = 3
	}
	var (
		held []byte
		// lines counts the empty lines past held, each ending in lf
		// (or "\r\n", crlf, throughout); cr is a '\r' past held whose
		// '\n' is still to come; other is white space past held that is
		// not such an empty line's; scanned is the white space read.
		lines, scanned int64
		crlf, cr, lf   bool
		other          bool
	)
	for {
		buf, err := br.Peek(br.Size())
		if ee := (expansionError{}); errors.As(err, &ee) {
			// A decompression bomb: refused now. Taken for the file's
			// end, its empty lines were given back to the CSV reader,
			// which read them one by one (16 MiB of them, 3 s) to meet
			// the error again.
			return nil, ee.err
		}
		i := off
		for i < len(buf) && isSpace(buf[i]) {
			i++
		}
		switch {
		case i < len(buf) && (buf[i] == '[' || buf[i] == '{'):
			br.Discard(i)
			return br, nil
		case i < len(buf) || len(buf) == 0:
			// Not JSON (or the file's end): the file as it is.
			if held == nil {
				return br, nil
			}
			if other || cr {
				return nil, &Error{File: name, Err: errLeadingSpace, Want: fmt.Sprintf("a CSV header or a JSON array after at most %d bytes of white space, or after empty lines", maxLeadingSpace)}
			}
			end := "\n"
			if crlf {
				end = "\r\n"
			}
			return bufio.NewReaderSize(io.MultiReader(bytes.NewReader(held), &repeated{unit: end, n: lines}, br), 1<<16), nil
		}
		// A buffer of white space: hold it, or past the bound count its
		// empty lines, and go on; a stream of nothing else is refused.
		if scanned += int64(len(buf)); scanned > MaxBlankRun {
			return nil, blankRunError(name, 1)
		}
		for _, c := range buf {
			switch {
			case len(held) < maxLeadingSpace:
				held = append(held, c)
			case c == '\n' && cr && !lf:
				lines, cr, crlf = lines+1, false, true
			case c == '\n' && !cr && !crlf:
				lines, lf = lines+1, true
			case c == '\r' && !cr:
				cr = true
			default:
				other = true
			}
		}
		br.Discard(len(buf))
		off = 0
	}
}

// repeated reads as n copies of unit.
type repeated struct {
	unit string
	n    int64
	at   int // how much of the current copy has been read
}

func (r *repeated) Read(p []byte) (int, error) {
	w := 0
	for w < len(p) && r.n > 0 {
		k := copy(p[w:], r.unit[r.at:])
		w += k
		if r.at += k; r.at == len(r.unit) {
			r.at, r.n = 0, r.n-1
		}
	}
	if w == 0 {
		return 0, io.EOF
	}
	return w, nil
}

// isSpace reports whether c is JSON's white space.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
