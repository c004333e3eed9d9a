package terraform

import (
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// An instances output of many keys no launch asked for (a module whose
// for expression runs over the wrong collection) was decoded whole, every
// entry into a map of its own, and a problem written for each: 16 MiB of
// small entries (1.5 million keys) took minutes and 1.4 GiB of
// allocations, the server's heap 830 MiB. The entries of keys Spillway did
// not ask for are now counted, the first few named, and never kept: the
// message is the same, naming the first ten in key order and how many
// more.
func TestManyStrayOutputKeysAreCountedNotKept(t *testing.T) {
	want := []string{"k-0", "k-1"}
	slots := map[string]*slot{"k-0": {GPUs: 8}, "k-1": {GPUs: 8}}
	var b strings.Builder
	var keys []string
	b.WriteString(`{"\u0000\u001b[31m":{},` + "\"\xff\xfe\":{\"id\":1},")
	keys = append(keys, "\x00\x1b[31m", "\ufffd\ufffd")
	for i := 0; b.Len() < 4<<20; i++ {
		k := fmt.Sprintf("%x", i)
		fmt.Fprintf(&b, `"%s":{},`, k)
		keys = append(keys, k)
	}
	b.WriteString(`"k-0":{"id":"i-0","zone":"us-east-1a","gpus":8}}`)
	slices.Sort(keys)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got, stray, err := decodeOutputs("dir", json.RawMessage(b.String()), want)
	if err == nil {
		_, err = checkOutputs("dir", got, stray, want, slots, nil)
	}
	runtime.ReadMemStats(&after)
	var problems []string
	for _, k := range keys[:maxShownProblems] {
		problems = append(problems, fmt.Sprintf(`key %s is not a key of var.instances: want only "k-0", "k-1"`, quoteCut(k)))
	}
	wantMsg := `the module's output "instances" in dir breaks the module contract: ` + strings.Join(problems, "; ") +
		fmt.Sprintf("; and %d more problems", len(keys)-maxShownProblems)
	if err == nil || err.Error() != wantMsg {
		t.Errorf("an output of %d stray keys:\n got %.400v\nwant %.400s", len(keys), err, wantMsg)
	}
	// Before: 360 MiB for these 4 MiB.
	if alloc := (after.TotalAlloc - before.TotalAlloc) >> 20; alloc > 150 {
		t.Errorf("reading a 4 MiB output of %d keys allocated %d MiB, want under 150", len(keys), alloc)
	}
}

// A value of the wrong type is quoted cut short at a character, not in
// the middle of one.
func TestOutputOfTheWrongTypeIsQuotedWhole(t *testing.T) {
	for _, tt := range []struct {
		name, value, want string
	}{
		{"a string of two-byte characters", `"` + strings.Repeat("é", 40) + `"`, `it is a string "` + strings.Repeat("é", 31) + `...: want a map`},
		{"a list", `[1,2]`, `it is a list [1,2]: want a map`},
		{"a map cut short", `{"k-0":{"id":"i-0"}`, `it is an object {"k-0":{"id":"i-0"}: want a map`},
		{"two values", `{} {}`, `it is an object {} {}: want a map`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := decodeOutputs("dir", json.RawMessage(tt.value), []string{"k-0"})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !utf8.ValidString(err.Error()) {
				t.Errorf("decodeOutputs(%s) = %v, want it to say %s", tt.value, err, tt.want)
			}
		})
	}
}
