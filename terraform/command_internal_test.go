package terraform

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// A command's stdout and stderr are copied to its run's log at once, in
// chunks that end anywhere: each reaches the log a whole line at a time,
// so that no JSON message of the log is cut by a line of the other.
func TestStdoutAndStderrMixOnlyBetweenLines(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "run.log"))
	if err != nil {
		t.Fatal(err)
	}
	log := newRunLog(f)
	const lines = 3000
	var wg sync.WaitGroup
	for _, stream := range []struct {
		name  string
		chunk int
	}{{"stdout", 7}, {"stderr", 13}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lw := &lineWriter{w: log}
			var all strings.Builder
			for i := range lines {
				fmt.Fprintf(&all, `{"stream":%q,"n":%d}`+"\n", stream.name, i)
			}
			s := all.String()
			for len(s) > 0 {
				n := min(stream.chunk, len(s))
				_, _ = lw.Write([]byte(s[:n]))
				s = s[n:]
			}
			lw.flush()
		}()
	}
	wg.Wait()
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := os.Open(log.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		var stream string
		var i int
		if _, err := fmt.Sscanf(sc.Text(), `{"stream":%q,"n":%d}`, &stream, &i); err != nil {
			t.Fatalf("line %d of the log is mixed: %q", n+1, sc.Text())
		}
		n++
	}
	if n != 2*lines {
		t.Errorf("the log holds %d lines, want %d", n, 2*lines)
	}
}

// headTail keeps a command's stderr's first and last bytes for its error,
// saying how much it cut between them.
func TestHeadTailKeepsBothEnds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes []string
		want   string
	}{
		{"short", []string{"ab", "c"}, "abc"},
		{"exactly both", []string{"abcdef"}, "abcdef"},
		{"cut in one write", []string{"abcdefgh"}, "abc\n[spillway: 2 bytes of Terraform's stderr cut here; the run's log keeps more]\nfgh"},
		{"cut across writes", []string{"ab", "cd", "ef", "gh", "ij"}, "abc\n[spillway: 4 bytes of Terraform's stderr cut here; the run's log keeps more]\nhij"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := headTail{max: 3}
			for _, w := range tc.writes {
				if n, err := k.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			if got := k.String(); got != tc.want {
				t.Errorf("kept %q, want %q", got, tc.want)
			}
		})
	}
}
