package signals

import (
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
