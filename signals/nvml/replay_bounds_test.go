package nvml

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReplayBounds(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.csv")
	if err := os.WriteFile(big, []byte("time,running_gpu_num,total_gpu_num\n"+strings.Repeat("#", MaxSeriesBytes)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSeries(big); err == nil || !strings.Contains(err.Error(), "larger than 67108864 bytes") {
		t.Errorf("a 64 MiB replay: %v, want the size bound", err)
	}
	huge := "time,running_gpu_num,total_gpu_num\n2020-05-01 00:00:00,1,9223372036854775807\n"
	if _, err := ReadHeliosSeries("huge.csv", strings.NewReader(huge)); err == nil || !strings.Contains(err.Error(), "want at most 1048576 GPUs") {
		t.Errorf("a 2^63 GPU count: %v, want it refused with its range", err)
	}
}
