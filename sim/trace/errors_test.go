package trace

import (
	"strings"
	"testing"
)

// A long bad value is quoted only in part: a binary file's first line
// would otherwise fill the terminal.
func TestErrorClipsLongValues(t *testing.T) {
	long := strings.Repeat("é", 500)
	msg := (&Error{File: "f.csv", Line: 1, Value: long, Err: ErrUnknownFormat}).Error()
	if want := `f.csv:1: "` + strings.Repeat("é", maxShown) + `…": unknown trace format`; msg != want {
		t.Fatalf("message %q\nwant %q", msg, want)
	}
	if short := (&Error{File: "f.csv", Line: 2, Value: "abc", Err: ErrUnknownFormat}).Error(); short != `f.csv:2: "abc": unknown trace format` {
		t.Fatalf("short value: %q", short)
	}
}
