// Package signalstest holds what the demand sources' tests share.
package signalstest

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// Shapes are a 1-, a 4- and an 8-GPU instance, for sources that match
// jobs' CPUs and memory to shapes.
var Shapes = []policy.Shape{{GPUs: 1, VCPUs: 4, MemMiB: 16 << 10}, {GPUs: 4, VCPUs: 48, MemMiB: 192 << 10}, {GPUs: 8, VCPUs: 192, MemMiB: 2048 << 10}}

// Kept reports whether the jobs of got are some of base's, in order: each
// the same size as one of base, or, with upTo above 0, larger, up to upTo
// GPUs (a job counted as a larger shape). Filters that only leave jobs
// out, and shapes, keep it true.
func Kept(got, base []int, upTo int) bool {
	k := 0
	for _, g := range got {
		for k < len(base) && base[k] != g && !(base[k] < g && g <= upTo) {
			k++
		}
		if k == len(base) {
			return false
		}
		k++
	}
	return true
}

// WaitGone waits until process pid has ended (gone, or a zombie until
// whoever adopted it reaps it); past 10 s it kills it and fails t, naming
// it as what.
func WaitGone(t testing.TB, pid int, what string) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(10 * time.Second); running(pid); <-tick.C {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("%s (pid %d) outlived the read", what, pid)
		}
	}
}

// running says whether process pid runs: its state, after the last ')'
// of /proc/pid/stat, is not Z.
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// ReadPid reads the process ID a test's script wrote to path.
func ReadPid(t testing.TB, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the process's pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("the process's pid in %s: %v", path, err)
	}
	return pid
}

// LongestJobList writes an object's members job_gpus, waits (named
// waitKey), job_cpus and job_memory_gib, each listing n jobs at their
// longest, one number a line indented under indent as json.MarshalIndent
// writes them: 2047 GPUs a job (the most whose sum over 2^20 jobs is a
// count), a wait of almost a year and a memory of almost 2^20 GiB, each
// to the 17 digits a float64 may take. The caller writes the braces.
func LongestJobList(b *bytes.Buffer, indent, waitKey string, n int) {
	JSONList(b, indent, "job_gpus", "2047", n, false)
	JSONList(b, indent, waitKey, "31535999.12345679", n, false)
	JSONList(b, indent, "job_cpus", "4096", n, false)
	JSONList(b, indent, "job_memory_gib", "1048575.1234567891", n, true)
}

// JSONList writes the member name, an array of n copies of value, one a
// line indented under indent, followed by a comma unless last.
func JSONList(b *bytes.Buffer, indent, name, value string, n int, last bool) {
	b.WriteString(indent + "\"" + name + "\": [\n")
	for i := range n {
		b.WriteString(indent + "  " + value)
		if i < n-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString(indent + "]")
	if !last {
		b.WriteByte(',')
	}
	b.WriteByte('\n')
}
