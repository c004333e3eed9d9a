package signals

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// DuplicateKey returns an error naming the first key that an object of the
// JSON document doc holds twice, and where; nil when none does, or when doc
// is not JSON (its decoder says so). encoding/json keeps the last of the
// two, other parsers the first: a count that a queue endpoint or program
// writes twice, `{"pending_jobs": 5, "pending_jobs": 500}`, is ambiguous,
// and is refused rather than guessed.
func DuplicateKey(doc []byte) error { return DuplicateKeyOn(doc, nil) }

// DuplicateKeyOn is DuplicateKey for the keys a reader of doc takes: a key
// held twice is refused only when reads(path) holds for the path of its
// value (as KeyPath and IndexPath write it: a.b, a["b.c"], a[0].b), or
// reads is nil. A key repeated where no field is read is ambiguous to no
// one: a reader of some fields of a document it does not own (a queue
// endpoint's) would otherwise be refused for a repeat in the rest.
func DuplicateKeyOn(doc []byte, reads func(path string) bool) error {
	type frame struct {
		keys map[string]struct{} // of an object; nil in an array
		path string              // where the object or array is
		key  string              // the key whose value comes next
		next bool                // the next token is a key
		n    int                 // the array's elements so far
	}
	var stack []frame
	child := func() string { // the path of the value that comes next
		if len(stack) == 0 {
			return ""
		}
		top := stack[len(stack)-1]
		if top.keys == nil {
			return IndexPath(top.path, top.n)
		}
		return KeyPath(top.path, top.key)
	}
	valueDone := func() {
		if len(stack) == 0 {
			return
		}
		top := &stack[len(stack)-1]
		if top.keys != nil {
			top.next = true
		} else {
			top.n++
		}
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // the end, or not JSON: the document's decoder reports that
		}
		switch tok {
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
			if len(stack) == 0 {
				return nil // one document: what follows is its reader's to refuse
			}
			continue
		}
		if n := len(stack); n > 0 && stack[n-1].next {
			top := &stack[n-1]
			k, _ := tok.(string)
			if _, dup := top.keys[k]; dup && (reads == nil || reads(KeyPath(top.path, k))) {
				where := "the document"
				if top.path != "" {
					where = "the object at " + Shorten(top.path, 100)
				}
				return fmt.Errorf("%s has the key %q twice (which one counts? want each key once)", where, Shorten(k, 100))
			}
			top.keys[k], top.key, top.next = struct{}{}, k, false
			continue
		}
		if len(stack) >= maxJSONDepth {
			return nil // past what encoding/json decodes: its decoder refuses it
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{keys: map[string]struct{}{}, path: child(), next: true})
		case json.Delim('['):
			stack = append(stack, frame{path: child()})
		default:
			valueDone()
		}
	}
}

// maxJSONDepth is encoding/json's bound on nesting.
const maxJSONDepth = 10000

// IndexPath is the path of element i of the array at path: a[0].
func IndexPath(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// KeyPath is the field path of key in the object at path, written as the
// http source's paths are: a.b, or a["b.c"] for a key that is not a plain
// name.
func KeyPath(path, key string) string {
	plain := key != "" && !strings.ContainsAny(key, `.[]"`)
	switch {
	case plain && path == "":
		return key
	case plain:
		return path + "." + key
	}
	return path + "[" + strconv.Quote(key) + "]"
}

// JSONValues counts, up to max+1, the values and keys of the JSON text in
// body, so that a reader can refuse a document before decoding it (a
// decoded value takes far more than the two bytes of "0,"): one, and one
// more for each comma, colon and opening bracket or brace outside strings
// (each starts a value or a key; an object's key and its value both
// count). Text that is not JSON counts so too; the decoder refuses it
// after.
func JSONValues[T string | []byte](body T, max int) int {
	n, inString, escaped := 1, false, false
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ',' || c == ':' || c == '[' || c == '{':
			if n++; n > max {
				return n
			}
		}
	}
	return n
}
