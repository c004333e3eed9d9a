package nvml

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestReplayBounds: a replay file past MaxSeriesBytes is refused without
// being read, and a GPU count past the range with it.
func TestReplayBounds(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.csv")
	if err := os.WriteFile(big, []byte("time,running_gpu_num,total_gpu_num\n"+strings.Repeat("#", MaxSeriesBytes)), 0o644); err != nil {
		t.Fatal(err)
	}
	// Refused by its size, unread: it was read whole (io.ReadAll's
	// doubling pieces, 2.5 times the bound) before being refused.
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := LoadSeries(big)
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; err == nil || !strings.Contains(err.Error(), "larger than 67108864 bytes") || got > 1<<20 {
		t.Errorf("a 64 MiB replay: %v, %d bytes allocated; want the size bound, at most 1 MiB", err, got)
	}
	huge := "time,running_gpu_num,total_gpu_num\n2020-05-01 00:00:00,1,9223372036854775807\n"
	if _, err := ReadHeliosSeries("huge.csv", strings.NewReader(huge)); err == nil || !strings.Contains(err.Error(), "want at most 1048576 GPUs") {
		t.Errorf("a 2^63 GPU count: %v, want it refused with its range", err)
	}
}
