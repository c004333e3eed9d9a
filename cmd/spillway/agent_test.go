package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestAgentWithoutDriver runs `spillway agent` in a child process (the
// test binary re-executed) on a machine view without libnvidia-ml.so.1: the
// loader path points nowhere and --nvml-library names a missing file, so
// the test holds on GPU machines too. The agent must exit with
// exitNoDriver and say what is missing and how to simulate.
func TestAgentWithoutDriver(t *testing.T) {
	if os.Getenv("SPILLWAY_AGENT_CHILD") == "1" {
		os.Args = []string{"spillway", "agent", "--listen", "127.0.0.1:0", "--nvml-library", "/nonexistent/libnvidia-ml.so.1"}
		main()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAgentWithoutDriver$")
	cmd.Env = append(os.Environ(), "SPILLWAY_AGENT_CHILD=1", "LD_LIBRARY_PATH=/nonexistent")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitNoDriver {
		t.Fatalf("agent without the driver: %v (stderr %q), want exit code %d", err, stderr.String(), exitNoDriver)
	}
	for _, want := range []string{"NVIDIA driver library libnvidia-ml.so.1 was not found", "--simulate dgxh100"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr %q does not say %q", stderr.String(), want)
		}
	}
}

func TestAgentFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"agent", "--interval", "0s"}, "--interval 0s"},
		{[]string{"agent", "--sample-timeout", "0s"}, "--sample-timeout 0s: want a duration from 1ns to 1h"},
		{[]string{"agent", "--sample-timeout", "2h"}, "--sample-timeout 2h0m0s: want a duration from 1ns to 1h"},
		{[]string{"agent", "--busy-util", "120"}, "--busy-util 120"},
		{[]string{"agent", "--busy-util", "NaN"}, "--busy-util NaN: want a percentage from 0 to 100"},
		{[]string{"agent", "--node", " "}, "--node is empty"},
		{[]string{"agent", "--max-connections", "0"}, "--max-connections 0: want 1 to 4096"},
		{[]string{"agent", "--max-connections", "5000"}, "--max-connections 5000: want 1 to 4096"},
		{[]string{"agent", "--replay", "diurnal"}, "--replay needs --simulate"},
		{[]string{"agent", "--simulate", "dgx1"}, `"dgx1"`},
		{[]string{"agent", "--simulate", "dgxh100", "--replay", "../../signals/nvml/testdata/bad_running.csv"}, `line 3: column running_gpu_num: bad value "lots"`},
	} {
		err := run(t.Context(), tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("spillway %s: %v, want %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}
