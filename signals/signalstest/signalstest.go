// Package signalstest holds what the demand sources' tests share.
package signalstest

import (
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
