package trace

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Where keeps only the rows whose Column holds one of Values: one virtual
// cluster of a trace that pools several (Philly's cluster, a job log's
// vc), or one end state of a job log.
type Where struct {
	Column string
	Values []string
}

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
