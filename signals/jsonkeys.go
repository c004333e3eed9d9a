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
// endpoint's) would otherwise be refused for a repeat in the rest. reads
// must hold for each path leading to one it holds for (a.b for a.b.c, as
// a reader's path goes through them): below an object or array whose
// path it does not hold for, no key is checked.
//
// Paths are made only for the objects and arrays on a read path, and for
// a message: each nested one's path held whole took the square of the
// nesting (a 150 KB document nesting 9,990 objects took 560 MB, one of
// 5,000 keys of 4 KiB some 50 GB).
func DuplicateKeyOn(doc []byte, reads func(path string) bool) error {
	type frame struct {
		object  bool                // an object, not an array
		checked bool                // its keys (and those below) are checked
		keys    map[string]struct{} // of an object whose keys are checked
		path    string              // where it is, when checked and reads is not nil
		key     string              // the key whose value comes next
		next    bool                // the next token is a key
		n       int                 // the array's elements so far
	}
	var stack []frame
	// push is the frame of an object or array that starts next: its keys
	// checked when reads is nil, or holds for its path.
	push := func(object bool) {
		f := frame{object: object, next: object, checked: true}
		if n := len(stack); n > 0 && reads != nil {
			top := stack[n-1]
			if f.checked = top.checked; f.checked {
				f.path = childPath(top.path, top.object, top.key, top.n)
				if f.checked = reads(f.path); !f.checked {
					f.path = ""
				}
			}
		}
		if object && f.checked {
			f.keys = map[string]struct{}{}
		}
		stack = append(stack, f)
	}
	valueDone := func() {
		if len(stack) == 0 {
			return
		}
		top := &stack[len(stack)-1]
		if top.object {
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
				if n > 1 {
					where = "the object at " + Shorten(shownPath(func(i int) (bool, string, int) { return stack[i].object, stack[i].key, stack[i].n }, n-1, 100), 100)
				}
				return fmt.Errorf("%s has the key %q twice (which one counts? want each key once)", where, Shorten(k, 100))
			}
			if top.keys != nil {
				top.keys[k] = struct{}{}
			}
			top.key, top.next = k, false
			continue
		}
		if len(stack) >= maxJSONDepth {
			return nil // past what encoding/json decodes: its decoder refuses it
		}
		switch tok {
		case json.Delim('{'):
			push(true)
		case json.Delim('['):
			push(false)
		default:
			valueDone()
		}
	}
}

// childPath is the path of the value that comes next in the object or
// array at path: its key's, or its n-th element's.
func childPath(path string, object bool, key string, n int) string {
	if object {
		return KeyPath(path, key)
	}
	return IndexPath(path, n)
}

// shownPath is the path of the value that comes next in the depth-th of
// the nested objects and arrays that frame gives (from 0, the document),
// made only until it is past max bytes: a message shows no more of it.
func shownPath(frame func(i int) (object bool, key string, n int), depth, max int) string {
	path := ""
	for i := 0; i < depth && len(path) <= max; i++ {
		object, key, n := frame(i)
		path = childPath(path, object, key, n)
	}
	return path
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
