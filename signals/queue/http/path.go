package http

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/spillway-io/spillway/signals"
)

// step is one hop of a field path: an object key or an array index.
type step struct {
	key   string
	index int
	isIdx bool
}

func (s step) String() string {
	if s.isIdx {
		return fmt.Sprintf("[%d]", s.index)
	}
	return s.key
}

// Path is a compiled field path such as "queue.pending_gpus",
// "data[0].value", "data.result[0].value[1]" or `labels["gpu.count"]`.
type Path struct {
	text  string
	steps []step
}

// String returns the path as written.
func (p Path) String() string { return p.text }

// ParsePath compiles a field path: keys separated by dots, array indexes in
// brackets, and keys holding dots or brackets written as ["key"].
func ParsePath(text string) (Path, error) {
	p := Path{text: text}
	if strings.TrimSpace(text) == "" {
		return p, fmt.Errorf("field path is empty (want e.g. queue.pending_gpus or data[0].value)")
	}
	bad := func(at int, why string) (Path, error) {
		return Path{}, fmt.Errorf("field path %q: %s at offset %d (want keys separated by dots and indexes like [0], e.g. data[0].value)", text, why, at)
	}
	i := 0
	for i < len(text) {
		switch c := text[i]; {
		case c == '.':
			if i == 0 || i == len(text)-1 || text[i+1] == '.' || text[i+1] == '[' {
				return bad(i, "misplaced dot")
			}
			i++
		case c == '[':
			var end int // offset of the closing ] from i
			if strings.HasPrefix(text[i+1:], `"`) {
				// A quoted key may hold any character, ] too.
				q, err := strconv.QuotedPrefix(text[i+1:])
				if err != nil {
					return bad(i, "unclosed or bad quoted key")
				}
				end = 1 + len(q)
				if i+end >= len(text) || text[i+end] != ']' {
					return bad(i+end, "expected ] after the quoted key")
				}
				key, _ := strconv.Unquote(q)
				p.steps = append(p.steps, step{key: key})
			} else {
				end = strings.IndexByte(text[i:], ']')
				if end < 0 {
					return bad(i, "unclosed [")
				}
				inner := text[i+1 : i+end]
				n, err := strconv.Atoi(inner)
				if err != nil || n < 0 {
					return bad(i, fmt.Sprintf("index %q is not a whole number", inner))
				}
				p.steps = append(p.steps, step{index: n, isIdx: true})
			}
			i += end + 1
			if i < len(text) && text[i] != '.' && text[i] != '[' {
				return bad(i, "expected . or [ after ]")
			}
		default:
			end := strings.IndexAny(text[i:], ".[")
			if end < 0 {
				end = len(text) - i
			}
			p.steps = append(p.steps, step{key: text[i : i+end]})
			i += end
		}
	}
	return p, nil
}

// lookup follows the path through a decoded JSON document.
func (p Path) lookup(doc any) (any, error) {
	v := doc
	for n, s := range p.steps {
		at := p.prefix(n)
		switch x := v.(type) {
		case map[string]any:
			if s.isIdx {
				return nil, fmt.Errorf("%s is an object, not an array: cannot take %s", at, s)
			}
			next, ok := x[s.key]
			if !ok {
				return nil, fmt.Errorf("%s has no key %q (it has %s)", at, s.key, keys(x))
			}
			v = next
		case []any:
			if !s.isIdx {
				return nil, fmt.Errorf("%s is an array of %d, not an object: cannot take key %q", at, len(x), s.key)
			}
			if s.index >= len(x) {
				return nil, fmt.Errorf("%s has %d elements, no index %d", at, len(x), s.index)
			}
			v = x[s.index]
		default:
			return nil, fmt.Errorf("%s is %s, cannot take %s", at, describe(v), s)
		}
	}
	return v, nil
}

// prefix names the value reached after n steps.
// keyPaths are the paths of the values p goes through, the last its own,
// as signals.KeyPath and signals.IndexPath write them.
func (p Path) keyPaths() []string {
	out := make([]string, 0, len(p.steps))
	at := ""
	for _, s := range p.steps {
		if s.isIdx {
			at = signals.IndexPath(at, s.index)
		} else {
			at = signals.KeyPath(at, s.key)
		}
		out = append(out, at)
	}
	return out
}

func (p Path) prefix(n int) string {
	if n == 0 {
		return "the document"
	}
	var b strings.Builder
	for i, s := range p.steps[:n] {
		if !s.isIdx && i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.String())
	}
	return b.String()
}

func keys(m map[string]any) string {
	if len(m) == 0 {
		return "no keys"
	}
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	// Sorted for a stable message; a hostile document's keys are cut short.
	slices.Sort(ks)
	for i, k := range ks[:min(len(ks), 10)] {
		ks[i] = strconv.Quote(signals.Shorten(k, 40))
	}
	if len(ks) > 10 {
		ks = append(ks[:10], "…")
	}
	return "keys " + strings.Join(ks, ", ")
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprintf("the boolean %v", x)
	case string:
		return fmt.Sprintf("the string %q", signals.Shorten(x, 60))
	case json.Number:
		return "the number " + signals.Shorten(x.String(), 40)
	case map[string]any:
		return "an object"
	case []any:
		return fmt.Sprintf("an array of %d", len(x))
	}
	return fmt.Sprintf("%T", v)
}

// number reads a JSON number, or a string holding one (as Prometheus-style
// APIs write sample values).
func number(v any) (float64, error) {
	var f float64
	var err error
	switch x := v.(type) {
	case json.Number:
		f, err = x.Float64()
	case string:
		// As JSON would write it: "1_000" or "0x1p4" is no count.
		f, err = signals.ParseDecimal(strings.TrimSpace(x))
	default:
		return 0, fmt.Errorf("is %s, want a number", describe(v))
	}
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("is %s, too large to be read as a number: want a number ≥ 0", describe(v))
	}
	if err != nil {
		return 0, fmt.Errorf("is %s, want a number", describe(v))
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, fmt.Errorf("is %v, want a number ≥ 0", f)
	}
	return f, nil
}

// count reads a number of jobs or GPUs; a fraction rounds up.
func count(v any) (int, error) {
	f, err := number(v)
	if err != nil {
		return 0, err
	}
	return signals.Count(f)
}
