package trace

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Where keeps only the rows whose Column holds one of Values: one virtual
// cluster of a trace that pools several (Philly's cluster, a job log's
// vc), or one end state of a job log.
type Where struct {
	Column string
	Values []string
}

// ErrKeptNone is returned (wrapped in *Error) when the wheres leave out
// every row of a trace: a replay of nothing, where the column or the
// values are surely mistaken.
var ErrKeptNone = errors.New("--where keeps no row")

// ErrNoColumn is returned (wrapped in *Error) when a Where names a column
// the trace's header lacks.
var ErrNoColumn = errors.New("no such column")

// ParseWhere reads "column=value,value,…".
func ParseWhere(s string) (Where, error) {
	col, vals, ok := strings.Cut(s, "=")
	col = strings.TrimSpace(col)
	if !ok || col == "" || strings.TrimSpace(vals) == "" {
		return Where{}, fmt.Errorf("%q: want column=value,value,… (e.g. vc=vchbv or cluster=6214e9)", s)
	}
	w := Where{Column: col}
	for _, v := range strings.Split(vals, ",") {
		if v = strings.TrimSpace(v); v != "" && !slices.Contains(w.Values, v) {
			w.Values = append(w.Values, v)
		}
	}
	if len(w.Values) == 0 {
		return Where{}, fmt.Errorf("%q: want column=value,value,… (e.g. vc=vchbv or cluster=6214e9)", s)
	}
	return w, nil
}

func (w Where) String() string { return w.Column + "=" + strings.Join(w.Values, ",") }

// whereIn resolves wheres against a header: the index of each one's
// column, or an error naming a column the header lacks.
func whereIn(name string, header []string, format Format, wheres []Where) ([]int, error) {
	if len(wheres) == 0 {
		return nil, nil
	}
	if format == FormatHelios {
		return nil, &Error{File: name, Line: 1, Column: wheres[0].Column, Value: wheres[0].String(), Err: errors.New("a Helios sequence counts GPUs per minute, not jobs"),
			Want: "a job list (ITP, Philly, a job log or generic CSV) to keep some rows of"}
	}
	cols := make([]int, len(wheres))
	for i, w := range wheres {
		if cols[i] = slices.Index(header, strings.ToLower(strings.TrimSpace(w.Column))); cols[i] < 0 {
			return nil, &Error{File: name, Line: 1, Column: w.Column, Value: strings.Join(header, ","), Err: ErrNoColumn,
				Want: "one of the header's columns"}
		}
	}
	return cols, nil
}

// kept reports whether rec passes every where (cols from whereIn).
func kept(rec []string, wheres []Where, cols []int) bool {
	for i, w := range wheres {
		if !slices.Contains(w.Values, strings.TrimSpace(rec[cols[i]])) {
			return false
		}
	}
	return true
}

// whereSkip is the Skip that counts the rows the wheres left out.
func whereSkip(rows int, wheres []Where) Skip {
	parts := make([]string, len(wheres))
	for i, w := range wheres {
		parts[i] = w.String()
	}
	return Skip{Rows: rows, Why: "rows outside " + strings.Join(parts, " and ")}
}

// seenValues is some of the values a column holds: the first
// maxSeenValues distinct ones, and whether it holds more.
type seenValues struct {
	values []string
	more   bool
}

const maxSeenValues = 10

func (s *seenValues) add(v string) {
	if slices.Contains(s.values, v) {
		return
	}
	if len(s.values) == maxSeenValues {
		s.more = true
		return
	}
	s.values = append(s.values, v)
}

// passes reports whether rec passes the wheres, counting it, and the
// values of its where columns, when it does not.
func (p *parser) passes(rec []string) bool {
	if kept(rec, p.where, p.whereCols) {
		p.whereHit = true
		return true
	}
	p.leaveOut(rec)
	return false
}

// leaveOut counts rec as a row the wheres left out, noting the values of
// its where columns while no row has passed (they are said only when none
// does: keptNone).
func (p *parser) leaveOut(rec []string) {
	p.left++
	if p.whereHit {
		return
	}
	if p.outside == nil {
		p.outside = make([]seenValues, len(p.where))
	}
	for i, c := range p.whereCols {
		p.outside[i].add(clip(strings.TrimSpace(rec[c])))
	}
}

// keptNone is the error for wheres that left out every row: the wheres,
// the rows, and the values the rows hold in the where columns.
func (p *parser) keptNone() error {
	parts := make([]string, len(p.where))
	held := make([]string, len(p.where))
	for i, w := range p.where {
		parts[i] = w.String()
		var vals []string
		if i < len(p.outside) {
			for _, v := range p.outside[i].values {
				vals = append(vals, strconv.Quote(v))
			}
			if p.outside[i].more {
				vals = append(vals, "…")
			}
		}
		held[i] = fmt.Sprintf("%s holds %s", w.Column, strings.Join(vals, ", "))
	}
	return &Error{File: p.name, Value: strings.Join(parts, " and "), Err: fmt.Errorf("%w: it leaves out %s", ErrKeptNone, plural(p.left, "row", "rows")),
		Want: "values the rows hold: " + strings.Join(held, "; ")}
}
