package terraform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/spillway-io/spillway/state"
)

// rawOutput is one entry of the module's instances output as the module
// wrote it; gpus is kept raw so that a bad value can be quoted.
type rawOutput struct {
	ID        string          `json:"id"`
	Zone      string          `json:"zone"`
	PrivateIP string          `json:"private_ip"`
	GPUs      json.RawMessage `json:"gpus"`
	State     string          `json:"state,omitempty"`
}

// outputStrings are the string attributes of an instances output entry.
var outputStrings = []string{"id", "zone", "private_ip", "state"}

// strays are the keys of an output that are no keys of var.instances:
// the first maxShownProblems of them in key order, and how many in all.
// An output may hold any number (up to its size bound, over a million
// small ones), and none is decoded further or kept beyond these.
type strays struct {
	first []string
	n     int
}

func (s *strays) add(k string) {
	s.n++
	i, _ := slices.BinarySearch(s.first, k)
	if i < maxShownProblems {
		s.first = slices.Insert(s.first, i, k)
		if len(s.first) > maxShownProblems {
			s.first = s.first[:maxShownProblems]
		}
	}
}

// decodeOutputs reads the value of the module's instances output: a map
// of objects by key, whose id, zone, private_ip and state are strings
// (absent or null for none). It returns an *OutputError naming the key,
// the attribute and the JSON kind it got for every value of another shape.
// Only the entries of wanted keys are decoded; the others are strays,
// which checkOutputs refuses. It reads the value as a stream: an output
// of many keys is never held as a map of them.
func decodeOutputs(dir string, value json.RawMessage, wanted []string) (map[string]rawOutput, *strays, error) {
	const want = "want a map with one {id, zone, private_ip, gpus} object per key of var.instances"
	notMap := &OutputError{Dir: dir, Problems: []string{fmt.Sprintf("it is %s %s: %s", jsonKind(value), quoteValue(string(value)), want)}}
	dec := json.NewDecoder(bytes.NewReader(value))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, notMap
	}
	wset := make(map[string]bool, len(wanted))
	for _, k := range wanted {
		wset[k] = true
	}
	entries := map[string]json.RawMessage{}
	st := &strays{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, notMap
		}
		k, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, notMap
		}
		if !wset[k] {
			st.add(k)
			continue
		}
		entries[k] = v
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') || dec.More() {
		return nil, nil, notMap
	}
	var problems []string
	out := make(map[string]rawOutput, len(entries))
	for _, k := range sortedKeys(entries) {
		var attrs map[string]json.RawMessage
		if json.Unmarshal(entries[k], &attrs) != nil {
			problems = append(problems, fmt.Sprintf("key %s is %s %s: want an object {id, zone, private_ip, gpus}", quoteCut(k), jsonKind(entries[k]), cut(string(entries[k]))))
			continue
		}
		var strs [4]string
		bad := false
		for i, name := range outputStrings {
			raw, ok := attrs[name]
			if !ok || string(raw) == "null" {
				continue
			}
			if json.Unmarshal(raw, &strs[i]) != nil {
				problems = append(problems, fmt.Sprintf("key %s: %s %s is %s: want a string", quoteCut(k), name, cut(string(raw)), jsonKind(raw)))
				bad = true
			}
		}
		if !bad {
			out[k] = rawOutput{ID: strs[0], Zone: strs[1], PrivateIP: strs[2], State: strs[3], GPUs: attrs["gpus"]}
		}
	}
	if len(problems) > 0 {
		return nil, nil, &OutputError{Dir: dir, Problems: problems}
	}
	return out, st, nil
}

// quoteValue is a JSON value cut short for a message, cut at a character
// boundary.
func quoteValue(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}

// jsonKind names the kind of a JSON value for a message.
func jsonKind(raw json.RawMessage) string {
	s := strings.TrimSpace(string(raw))
	switch {
	case s == "":
		return "empty"
	case s[0] == '"':
		return "a string"
	case s[0] == '[':
		return "a list"
	case s[0] == '{':
		return "an object"
	case s == "true" || s == "false":
		return "a bool"
	case s == "null":
		return "null"
	}
	return "a number"
}

// nameProblem says what is wrong with an id or zone a module reported, as
// the state stores it: at most state.MaxIDLen bytes of printable
// characters without spaces (a trailing newline from file() is a common
// slip), or "" when it is fine.
func nameProblem(s string) string {
	if len(s) > state.MaxIDLen {
		return fmt.Sprintf("is %d bytes long", len(s))
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Sprintf("holds %q", r)
		}
	}
	return ""
}

// heldID is an instance id another burst's ledger holds.
type heldID struct{ burst, key string }

// checkOutputs checks the module's instances output against what Spillway
// asked for and returns the instances, or an *OutputError naming every
// problem. want are the keys the output may list (var.instances after an
// apply; every slot after a refresh); slots give each key's GPU count;
// held are the ids other bursts of the provider hold. Every instance must
// have an id of its own: the scheduler counts instances by id, so two keys
// with one id would be counted once and launched again without end.
func checkOutputs(dir string, got map[string]rawOutput, stray *strays, want []string, slots map[string]*slot, held map[string]heldID) (map[string]outputInstance, error) {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	out := make(map[string]outputInstance, len(got))
	byID := map[string][]string{}
	keys := sortedKeys(got)
	if stray != nil {
		keys = slices.Concat(keys, stray.first)
		slices.Sort(keys)
	}
	for _, k := range keys {
		o, ok := got[k]
		if !ok || !slices.Contains(want, k) {
			if len(want) == 0 {
				add("key %s is not a key of var.instances: want no key (var.instances is empty)", quoteCut(k))
			} else {
				add("key %s is not a key of var.instances: want only %s", quoteCut(k), quoteList(want))
			}
			continue
		}
		if o.ID == "" {
			add("key %q has no id: want the cloud's instance id", k)
			continue
		}
		if problem := nameProblem(o.ID); problem != "" {
			add("key %q has id %s, which %s: want the cloud's instance id, at most %d bytes of printable characters without spaces", k, quoteCut(o.ID), problem, state.MaxIDLen)
			continue
		}
		if problem := nameProblem(o.Zone); problem != "" {
			add("key %q has zone %s, which %s: want the zone's name, at most %d bytes of printable characters without spaces", k, quoteCut(o.Zone), problem, state.MaxIDLen)
		}
		if a, err := netip.ParseAddr(o.PrivateIP); o.PrivateIP != "" && (err != nil || a.Zone() != "") {
			// A zone (fe80::1%eth0, of any length) names the module's own
			// interface: no address the server can reach.
			add("key %q has private_ip %s: want the instance's private IP address, e.g. 10.0.3.17 (or none until it has one)", k, quoteCut(o.PrivateIP))
		}
		byID[o.ID] = append(byID[o.ID], k)
		if h, ok := held[o.ID]; ok {
			add("key %q has id %s, which burst %s already holds (key %q): each instance needs an id of its own", k, quoteCut(o.ID), h.burst, h.key)
		}
		gpus, problem := gpusOf(o.GPUs, slots[k].GPUs)
		if problem != "" {
			add("key %q: %s", k, problem)
		}
		// The state is kept as read (stateOf), not as written: a module's
		// own word for it may be any length.
		st := ""
		if o.State != "" {
			st = string(stateOf(o.State))
		}
		out[k] = outputInstance{ID: o.ID, Zone: o.Zone, PrivateIP: o.PrivateIP, GPUs: gpus, State: st}
	}
	for _, id := range sortedKeys(byID) {
		if keys := byID[id]; len(keys) > 1 {
			add("keys %s have the same id %s: each key needs an instance of its own", quoteAnd(keys), quoteCut(id))
		}
	}
	more := 0
	if stray != nil {
		more = stray.n - len(stray.first)
	}
	if len(problems) > 0 || more > 0 {
		return nil, &OutputError{Dir: dir, Problems: problems, More: more}
	}
	return out, nil
}

// gpusOf checks an output's gpus attribute: the instance's GPU count, the
// one var.instances gave its key (any whole number from 1 when that is
// not known). An absent gpus is the one asked for.
func gpusOf(raw json.RawMessage, asked int) (int, string) {
	if len(raw) == 0 || string(raw) == "null" {
		return asked, ""
	}
	var f float64
	err := json.Unmarshal(raw, &f)
	whole := err == nil && f == math.Trunc(f) && f >= 1 && f <= math.MaxInt32
	switch {
	case asked > 0 && (!whole || int(f) != asked):
		return 0, fmt.Sprintf("gpus %s is not the %d GPUs var.instances gave it: want %d (or no gpus attribute)", cut(string(raw)), asked, asked)
	case asked <= 0 && !whole:
		return 0, fmt.Sprintf("gpus %s is not a GPU count: want a whole number from 1", cut(string(raw)))
	}
	return int(f), ""
}

// cut shortens a value quoted in a message.
func cut(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

func quoteCut(s string) string { return strconv.Quote(cut(s)) }

// quoteList quotes keys for a message, at most five of them.
func quoteList(keys []string) string {
	const max = 5
	q := make([]string, 0, max+1)
	for i, k := range keys {
		if i == max {
			q = append(q, fmt.Sprintf("... (%d in all)", len(keys)))
			break
		}
		q = append(q, quoteCut(k))
	}
	return strings.Join(q, ", ")
}

// quoteAnd is quoteList's "a", "b" and "c".
func quoteAnd(keys []string) string {
	if len(keys) <= 5 {
		q := make([]string, len(keys))
		for i, k := range keys {
			q[i] = quoteCut(k)
		}
		return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
	}
	return quoteList(keys)
}
