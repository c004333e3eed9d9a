package trace

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestDirectory: a dataset's folder given as the trace is refused with the
// files in it that start as a trace or are archives (not its notes,
// companion files or hidden files), at most dirShown of them.
func TestDirectory(t *testing.T) {
	const jobs = "submit_s,duration_s,gpus\n0,60,1\n"
	for _, tt := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"a dataset", map[string]string{
			"jobs.csv":             jobs,
			"README.md":            "# the trace\n",
			"Earth_gpu_number.csv": "vc,gpu_num\nvc6YE,210\n",
			".hidden.csv":          jobs,
			"old.csv.gz":           string(gzipped(t, []byte(jobs))),
		}, "is a directory: want a trace file, such as one of its jobs.csv, old.csv.gz"},
		{"nothing like a trace", map[string]string{"README.md": "# the trace\n"},
			"is a directory, and none of its files starts as a trace"},
		{"many traces", func() map[string]string {
			m := map[string]string{}
			for i := range dirShown + 2 {
				m[fmt.Sprintf("part%d.csv", i)] = jobs
			}
			return m
		}(), "part0.csv, part1.csv, part2.csv, part3.csv, part4.csv, part5.csv and 2 more"},
	} {
		dir := t.TempDir()
		for n, body := range tt.files {
			if err := os.WriteFile(filepath.Join(dir, n), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Mkdir(filepath.Join(dir, "sub.csv"), 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := Load(dir)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "trace "+dir) {
			t.Errorf("%s: got %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestLoadFromAPipe: a named pipe (a FIFO, or the shell's `<(zcat
// jobs.csv.gz)`) is read once, as standard input is. The file was
// prescanned and then rewound, which a pipe cannot do: "illegal seek".
func TestLoadFromAPipe(t *testing.T) {
	p := filepath.Join(t.TempDir(), "jobs.fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	wrote := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			wrote <- err
			return
		}
		_, err = f.WriteString("submit_s,duration_s,gpus\n0,3600,8\n60,600,1\n")
		wrote <- errors.Join(err, f.Close())
	}()
	tr, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if len(tr.Jobs) != 2 || tr.Jobs[1].GPUs != 1 {
		t.Errorf("jobs %+v: want the 2 written", tr.Jobs)
	}
}
