package terraform

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A run's log is what Terraform printed when that fits, and otherwise its
// first and last whole lines, with a line saying how much was cut.
func TestRunLogKeepsHeadAndTail(t *testing.T) {
	line := func(i int) string { return fmt.Sprintf("{\"line\":%d,\"pad\":%q}\n", i, strings.Repeat("x", 90)) }
	lines := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = line(i)
		}
		return out
	}
	huge := strings.Repeat("y", 2*logTailBytes) + "\n"
	tests := []struct {
		name   string
		writes []string
		// cut is what the log must say was cut (0: the log is the output).
		cut int64
		// last is the log's last line.
		last string
	}{
		{"small", lines(10), 0, line(9)},
		{"just over the head", lines(logHeadBytes/len(line(0)) + 100), 0, line(logHeadBytes/len(line(0)) + 99)},
		{"many lines", lines(100000), -1, line(99999)},
		{"one line longer than the tail, then a few", append(append(lines(5), huge), lines(3)...), -1, line(2)},
		{"ends with a line longer than the tail", append(lines(5), huge), int64(len(huge)), ""},
		// Lines of 128 bytes: the head and the tail each hold a whole
		// number of them, and every cut ends a line.
		{"cuts that end lines", lines128(20000), int64(20000*128 - logHeadBytes - logTailBytes), line128(19999)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := os.Create(filepath.Join(t.TempDir(), "run.log"))
			if err != nil {
				t.Fatal(err)
			}
			w := newRunLog(f)
			total := 0
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
				total += len(s)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			all := strings.Join(tt.writes, "")
			if tt.cut == 0 {
				if string(got) != all {
					t.Fatalf("log of %d bytes is %d bytes, want the output as printed", total, len(got))
				}
				return
			}
			if len(got) > logHeadBytes+logTailBytes+200 {
				t.Errorf("log of %d bytes printed is %d bytes, want at most head, tail and the cut line", total, len(got))
			}
			head, rest, ok := strings.Cut(string(got), "[spillway: ")
			if !ok {
				t.Fatalf("the log does not say what was cut:\n%.200s", got)
			}
			note, tail, _ := strings.Cut(rest, "\n")
			var cut int64
			fmt.Sscanf(note, "%d bytes", &cut)
			if tt.cut > 0 && cut != tt.cut || int64(len(head)+len(tail))+cut != int64(total) {
				t.Errorf("the log says %d bytes were cut, and keeps %d: want the %d printed accounted for", cut, len(head)+len(tail), total)
			}
			if !strings.HasPrefix(all, head) || !strings.HasSuffix(all, tail) {
				t.Errorf("the log's head or tail is not the output's")
			}
			if tail != "" && !strings.HasPrefix(tail, "{") || tt.last != "" && !strings.HasSuffix(tail, tt.last) {
				t.Errorf("the kept tail does not start at a line, or does not end with the last line %q:\n%.100s ... %s", tt.last, tail, tail[max(0, len(tail)-100):])
			}
			if bytes.Count(got, []byte("[spillway: ")) != 1 {
				t.Errorf("the log says more than once what was cut")
			}
		})
	}
}

// line128 is the i-th line of lines128: 128 bytes, newline included.
func line128(i int) string {
	s := fmt.Sprintf("{\"line\":%d,\"pad\":\"\"}", i)
	return s[:len(s)-2] + strings.Repeat("x", 128-len(s)-1) + "\"}\n"
}

func lines128(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = line128(i)
	}
	return out
}
