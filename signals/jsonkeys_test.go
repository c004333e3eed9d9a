package signals

import (
	"runtime"
	"strings"
	"testing"
)

// TestDuplicateKey: a key twice in one object is named with where it is;
// the same key in different objects, in an array's objects, or a document
// that is not JSON or is too deep, is not this check's to refuse.
func TestDuplicateKey(t *testing.T) {
	for _, tt := range []struct{ doc, want string }{
		{`{"jobs": 5, "jobs": 500}`, `the document has the key "jobs" twice (which one counts? want each key once)`},
		{`{"queue": {"gpus": 1, "jobs": [1, {"a": 1}], "gpus": 2}}`, `the object at queue has the key "gpus" twice`},
		{`{"data": [{"v": 1}, {"v": 1, "w": {"x": 1, "x": 2}}]}`, `the object at data[1].w has the key "x" twice`},
		{`{"a.b": {"c": [[{"k": 1, "k": 1}]]}}`, `the object at ["a.b"].c[0][0] has the key "k" twice`},
		{`{"a": {}, "a": 1}`, `the document has the key "a" twice`},
		{`{"": 1, "": 2}`, `the document has the key "" twice`},
		{`{"jobs": 5, "gpus": {"jobs": 5}, "list": [{"jobs": 1}, {"jobs": 2}]}`, ""},
		{`[{"a": 1}, {"a": 2}]`, ""},
		{`7`, ""},
		{`{"a": 1, `, ""},
		{`{"a": 1} {"a": 1, "a": 2}`, ""},
		{strings.Repeat("[", 20000) + `{"a": 1, "a": 2}` + strings.Repeat("]", 20000), ""},
	} {
		err := DuplicateKey([]byte(tt.doc))
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: %v, want %q", Shorten(tt.doc, 60), err, tt.want)
		}
	}
}

// TestDuplicateKeyOfDeepNesting: each nested object's and array's path was
// made and held, the square of the nesting: a 150 KB document of 9,990
// nested objects took 560 MB to check, one of 20,000 nested arrays (20
// KB) 153 MB, one of 300 keys of 4 KiB (1.2 MB) 179 MB, and one of 5,000
// (20 MB, under the http source's bound) was stopped after 10 minutes;
// each poll checks its answer. Paths are made for what a reader reads and for a message only.
// A key twice deep down is still named with its (cut) path.
func TestDuplicateKeyOfDeepNesting(t *testing.T) {
	const depth = 9990
	key := strings.Repeat("k", 4096)
	reads := func(p string) bool { return p == "a" || p == "a.b" }
	for _, tt := range []struct {
		name, doc, want string
	}{
		{"short keys", strings.Repeat(`{"aaaaaaaaaa":`, depth) + "1" + strings.Repeat("}", depth), ""},
		{"arrays", strings.Repeat(`[`, depth) + "1" + strings.Repeat("]", depth), ""},
		{"long keys", strings.Repeat(`{"`+key+`":`, 300) + "1" + strings.Repeat("}", 300), ""},
		{"a key twice deep down", strings.Repeat(`{"aaaaaaaaaa":`, depth) + `{"x": 1, "x": 2}` + strings.Repeat("}", depth),
			`the object at aaaaaaaaaa.aaaaaaaaaa.aaaaaaaaaa.aaaaaaaaaa.aaaaaaaaaa.aaaaaaaaaa.aaaaaaaaaa.aaaaaaaaaa.aaaaaaaaaa.a… has the key "x" twice`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []func(string) bool{nil, reads} {
				var err error
				got := allocated(func() { err = DuplicateKeyOn([]byte(tt.doc), r) })
				if want := tt.want != "" && r == nil; (err != nil) != want || want && !strings.HasPrefix(err.Error(), tt.want) {
					t.Errorf("reads %t: %v, want %q", r != nil, err, tt.want)
				}
				if got > 32<<20 {
					t.Errorf("reads %t: %d bytes allocated for a document of %d; want at most 32 MiB", r != nil, got, len(tt.doc))
				}
			}
		})
	}
}

// allocated is the bytes f allocates (runtime.MemStats.TotalAlloc).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
