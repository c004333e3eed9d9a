package trace

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Bounds on what a trace may hold. Every field is checked against them as
// it is read, so a trace either loads into a bounded amount of memory with
// values the simulator's arithmetic cannot overflow, or is refused with an
// error naming the line, the column, the value and the valid range.
const (
	// MaxGPUs is the most GPUs one job (or one Helios count) may need.
	MaxGPUs = 1 << 20
	// MaxSpan bounds every time in a trace: a submit offset, a duration,
	// and the span from the first submit to the last job's end. Ten years
	// leaves the simulator's time arithmetic (time.Duration, ±292 years)
	// far from overflow.
	MaxSpan = 10 * 365 * 24 * time.Hour
	// DefaultMaxJobs is the job limit of Load and Read. A loaded job takes
	// JobBytes; each policy a backtest runs takes about another
	// sim.BytesPerJob per job (see the sim package).
	DefaultMaxJobs = 10_000_000
	// JobBytes is the memory one loaded job takes.
	JobBytes = 24
	// MaxRecordBytes bounds one CSV record (line), so a file without line
	// breaks or with an unterminated quote cannot be read into memory whole.
	MaxRecordBytes = 64 << 10
	// MaxBlankRun bounds a run of bytes that hold no field: NUL bytes,
	// white space and empty lines one after another. A file ends, but a
	// stream need not: /dev/zero, or a pipe from a generator stuck on
	// empty lines, would be read for ever, taking no memory and giving
	// no row.
	MaxBlankRun = 64 << 20
	// MaxEmptyRows bounds a run of rows that hold no job, one after
	// another: rows whose fields are all empty (a spreadsheet exports the
	// rows it once used as ",,,") and rows that repeat the header (files
	// concatenated). A spreadsheet holds at most 1,048,576 rows; 100 MB
	// of ",,\n" from 102 KB of gzip were read for 25 s, and loaded.
	MaxEmptyRows = 1 << 20
)

// ErrEmptyRows is returned (wrapped in *Error) for more than MaxEmptyRows
// rows holding no job in a row.
var ErrEmptyRows = fmt.Errorf("more than %d rows in a row that hold no job (empty rows such as ,,, and repeated headers)", MaxEmptyRows)

// Dates (Philly timestamps, Helios times) must lie in [MinDate, MaxDate).
var (
	MinDate = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxDate = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// maxSeconds is MaxSpan in seconds, for checking parsed numbers.
var maxSeconds = MaxSpan.Seconds()

// ErrTooManyJobs is returned (wrapped in *Error) when a trace holds more
// jobs than Options.MaxJobs.
var ErrTooManyJobs = errors.New("more jobs than the job limit")

// ErrSpan is returned (wrapped in *Error) when a trace's jobs span more
// than MaxSpan.
var ErrSpan = errors.New("the trace spans too long")

// Options bound what LoadWith and ReadWith accept.
type Options struct {
	// MaxJobs is the most jobs the trace may hold; 0 means DefaultMaxJobs.
	// A trace with more is refused as soon as the first job beyond it is
	// read, before it takes more memory than the limit allows.
	MaxJobs int
	// Where keeps only the rows that match every one of them; the rows
	// left out are counted in Trace.Skipped.
	Where []Where
	// Zone is where date-times without a zone offset were written (a
	// log kept in a cluster's local time); nil means UTC. Times with an
	// offset, or an IANA zone after them, keep it.
	Zone *time.Location
	// DateOrder is the order of day and month in the trace's dates
	// written with their year last (11/29/2026, 29/11/2026); unset, a
	// the first date in the file whose day is past 12 tells it.
	DateOrder DateOrder
	// PAIJobTable is the path of Alibaba PAI's job table, from which a
	// PAI task table takes its jobs' submit times (paiTask); "" for none.
	// LoadWith sets it to the pai_job_table.csv beside the task table,
	// when there is one.
	PAIJobTable string
	// Member is the path, inside a tar or zip archive, of the file to
	// read; "" reads the archive's first trace file. LoadWith sets it
	// from a path that runs on past an archive (a.tar.gz/dir/log.csv).
	Member string
	// Progress, when set, is called as the trace is read, after each
	// read, with the bytes read so far and the file's size (0 when it is
	// not known: a pipe, a reader given to ReadWith, or a zip archive,
	// whose member's bytes are counted). Reading a long trace takes a
	// while: a caller may show how far it has come.
	Progress func(read, size int64)
}

// progressReader passes r's bytes on and reports how many it has read.
type progressReader struct {
	r        io.Reader
	n, size  int64
	progress func(read, size int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	p.progress(p.n, p.size)
	return n, err
}

// withProgress is r reporting its reads to opts.Progress, or r when that
// is unset.
func withProgress(r io.Reader, size int64, opts Options) io.Reader {
	if opts.Progress == nil {
		return r
	}
	return &progressReader{r: r, size: size, progress: opts.Progress}
}

func (o Options) maxJobs() int {
	if o.MaxJobs <= 0 {
		return DefaultMaxJobs
	}
	return o.MaxJobs
}

// recordLimiter passes bytes through and fails once one CSV record grows
// beyond max bytes. A record ends at a line break outside quotes; quote
// parity is tracked as encoding/csv reads it ("" inside a quoted field
// toggles twice).
type recordLimiter struct {
	r      io.Reader
	max    int
	n      int // bytes of the current record so far
	quoted bool
	// unquoted is for files whose fields are never quoted (sacct's): each
	// quote is passed on as a NUL, so that no field opens a quote, and
	// counted in quotes (the parser turns the NULs back into quotes).
	unquoted bool
	quotes   int
	// nulLines are the lines, in order, on which an unquoted file passed
	// on a NUL of its own (UTF-16 text, binary data): its NULs are not
	// quotes, and say what the row is (utf16Hint). nulsOn prunes them.
	nulLines []int
	line     int // record start line, for the error
	newline  int
	err      error
	// nuls counts the NUL bytes passed over where a record would start
	// (a file padded with zeros, or whose end a crash left zeroed), from
	// line nulLine on; inNULs says a run of them is not yet ended by a
	// line break or the file's end.
	nuls    int64
	nulLine int
	inNULs  bool
	run     int64 // the NULs of the run not yet ended
	// blank counts the bytes of the run of NULs, white space and line
	// breaks read last, from line blankLine on.
	blank     int64
	blankLine int
}

// blankByte counts c in the run of bytes that hold no field; false once
// the run is past MaxBlankRun (l.err).
func (l *recordLimiter) blankByte(c byte) bool {
	if c != 0 && !isSpace(c) {
		l.blank = 0
		return true
	}
	if l.blank == 0 {
		// The line c is on; a run that starts with a line break starts
		// on the next (the break ends a row).
		l.blankLine = l.newline + 1
		if c == '\n' {
			l.blankLine++
		}
	}
	if l.blank++; l.blank > MaxBlankRun {
		l.err = ErrBlankRun
		return false
	}
	return true
}

// ErrBlankRun is returned (wrapped in *Error) for more than MaxBlankRun
// bytes of NUL bytes, white space and empty lines in a row.
var ErrBlankRun = fmt.Errorf("more than %d MiB of NUL bytes, white space and empty lines in a row (an endless stream, such as /dev/zero?)", MaxBlankRun>>20)

// blankRunError is the error for a run of blank bytes past MaxBlankRun
// in name, from line on.
func blankRunError(name string, line int) error {
	return &Error{File: name, Line: line, Err: ErrBlankRun,
		Want: fmt.Sprintf("rows of text, with at most %d MiB of NUL bytes, white space and empty lines in a row; a file a crash zeroed reads once its NULs are gone: tr -d '\\000' < %s > jobs.csv", MaxBlankRun>>20, name)}
}

// errNULs is a record that starts with NUL bytes and goes on with text:
// neither padding nor a row.
var errNULs = errors.New("NUL bytes, then text (a file whose part was zeroed, or binary data?)")

// errRecordTooLong is what recordLimiter returns past its bound.
var errRecordTooLong = fmt.Errorf("a record longer than %d bytes (an unterminated quote, or no line breaks?)", MaxRecordBytes)

// tooLong is the error a read of name gives once the limiter refused a
// record: the line the record began on, and the bound.
func (l *recordLimiter) tooLong(name string) error {
	return &Error{File: name, Line: l.line + 1, Err: errRecordTooLong, Want: fmt.Sprintf("CSV records of at most %d bytes", MaxRecordBytes)}
}

func (l *recordLimiter) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	for {
		w, n, err := l.read(p)
		if w == 0 && n > 0 && err == nil {
			// Only NULs were read: read on rather than return 0 bytes,
			// which a reader may take for no progress.
			continue
		}
		return w, err
	}
}

// read is one Read of r: the bytes kept (w) of the n read.
func (l *recordLimiter) read(p []byte) (int, int, error) {
	n, err := l.r.Read(p)
	if !l.inNULs && bytes.IndexByte(p[:n], 0) < 0 {
		// As most reads are: nothing to drop.
		for i, c := range p[:n] {
			if !l.keep(p, i, c) {
				return i, n, l.err
			}
		}
		return n, n, err
	}
	w := 0 // where the next byte kept goes: NUL padding is dropped
	for _, c := range p[:n] {
		if c == 0 && l.n == 0 && !l.quoted {
			if !l.blankByte(c) {
				return w, n, l.err
			}
			if l.nuls == 0 {
				l.nulLine = l.newline + 1
			}
			l.nuls++
			l.run++
			l.inNULs = true
			continue
		}
		if l.inNULs && c != '\n' && c != '\r' {
			if l.run > 1 {
				l.err = errNULs
				return w, n, l.err
			}
			// One NUL before a line's text is no padding: UTF-16 text
			// without its byte order mark (big-endian) starts each line
			// so, and is named as such by its header's other NULs.
			l.nuls -= l.run
		}
		if l.inNULs = l.inNULs && c == '\r'; !l.inNULs {
			l.run = 0
		}
		p[w] = c
		if !l.keep(p, w, c) {
			return w, n, l.err
		}
		w++
	}
	return w, n, err
}

// keep passes on byte c, at p[i]: a quote of an unquoted file as a NUL,
// and the record's length counted; false past the bound (l.err).
func (l *recordLimiter) keep(p []byte, i int, c byte) bool {
	if !l.blankByte(c) {
		return false
	}
	switch c {
	case 0:
		if line := l.newline + 1; l.unquoted && (len(l.nulLines) == 0 || l.nulLines[len(l.nulLines)-1] != line) {
			l.nulLines = append(l.nulLines, line)
		}
	case '"':
		if l.unquoted {
			p[i] = 0
			l.quotes++
			break
		}
		l.quoted = !l.quoted
	case '\n':
		l.newline++
		if !l.quoted {
			l.n = 0
			l.line = l.newline
			return true
		}
	}
	l.n++
	if l.n > l.max {
		l.err = errRecordTooLong
		return false
	}
	return true
}

// nulsOn reports whether a NUL of the file's own was passed on in lines
// from to to (a record's), forgetting those of lines before from: the
// parser reads records in order, never more than a read ahead.
func (l *recordLimiter) nulsOn(from, to int) bool {
	i := 0
	for i < len(l.nulLines) && l.nulLines[i] < from {
		i++
	}
	l.nulLines = l.nulLines[i:]
	return len(l.nulLines) > 0 && l.nulLines[0] <= to
}

// prescan refuses a job-list trace (ITP, Philly, generic: one job a line)
// with more lines than maxJobs before any of it is parsed: counting line
// breaks runs at disk speed, so a trace far beyond the limit is refused in
// a moment rather than after the limit's worth of parsing. Blank lines
// count too, so a trace just at the limit may only be refused by the exact
// count made while parsing. Helios files, whose job count is derived, job
// logs and filtered traces, which skip rows, and headers it cannot read are
// left to the parser.
func prescan(name string, r io.Reader, maxJobs int, where bool) error {
	if where {
		return nil // the rows kept are counted as they are parsed
	}
	br := bufio.NewReaderSize(r, 1<<16)
	head, err := br.ReadSlice('\n')
	if err != nil {
		return nil
	}
	sep := string(separator(head))
	header := strings.Split(strings.TrimRight(strings.TrimPrefix(string(head), "\ufeff"), "\r\n"), sep)
	for i, h := range header {
		header[i] = strings.Trim(strings.TrimSpace(h), `"`) // a quoted name, as spreadsheets write them
	}
	switch formatOf(loose(header)) {
	case FormatITP, FormatPhilly, FormatGeneric:
	default:
		return nil
	}
	buf := make([]byte, 1<<20)
	lines := 0
	for {
		n, err := br.Read(buf)
		lines += bytes.Count(buf[:n], []byte{'\n'})
		if lines > maxJobs {
			return &Error{File: name, Line: maxJobs + 2, Err: ErrTooManyJobs,
				Want: fmt.Sprintf("at most %d jobs; the file has more lines than that after its header", maxJobs)}
		}
		if err != nil {
			return nil // the parser reports read errors
		}
	}
}
