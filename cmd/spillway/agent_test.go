package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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

// TestAgentServesWhileNVMLIsNotReady runs `spillway agent` in a child
// process on a stand-in libnvidia-ml.so.1 (testdata/fakenvml, built here
// with the C compiler cgo uses) whose nvmlInit answers "Driver Not Loaded",
// as at boot before the driver has loaded. Before, the agent retried
// without listening: the server's probes were refused, as for a node that
// is not there, and only the agent's log said why. Now it serves at once:
// /healthz and /v1/gpus answer 503 saying NVML is not ready and why, and
// once NVML initialises the agent serves its (here no) GPUs and /healthz
// is ok.
func TestAgentServesWhileNVMLIsNotReady(t *testing.T) {
	if os.Getenv("SPILLWAY_AGENT_CHILD") == "1" {
		os.Args = []string{"spillway", "agent", "--listen", "127.0.0.1:0", "--interval", "20ms", "--node", "n1", "--nvml-library", os.Getenv("FAKE_NVML_LIBRARY")}
		main()
		return
	}
	dir := t.TempDir()
	lib := filepath.Join(dir, "libnvidia-ml.so.1")
	cc := cmp.Or(os.Getenv("CC"), "gcc")
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-o", lib, filepath.Join("testdata", "fakenvml", "fakenvml.c")).CombinedOutput(); err != nil {
		t.Fatalf("building the stand-in NVML library: %v\n%s", err, out)
	}
	ready := filepath.Join(dir, "ready")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestAgentServesWhileNVMLIsNotReady$")
	cmd.Env = append(os.Environ(), "SPILLWAY_AGENT_CHILD=1", "FAKE_NVML_LIBRARY="+lib, "FAKE_NVML_READY="+ready)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	addr := make(chan string, 1)
	var logged strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			logged.WriteString(line + "\n")
			if strings.Contains(line, "agent serving") {
				for _, f := range strings.Fields(line) {
					if a, ok := strings.CutPrefix(f, "addr="); ok {
						addr <- a
					}
				}
			}
		}
		exited <- cmd.Wait()
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-exited:
		t.Fatalf("the agent exited (%v) without serving while NVML was not ready:\n%s", err, logged.String())
	case <-ctx.Done():
		cmd.Process.Kill()
		<-exited
		t.Fatalf("the agent did not serve while NVML was not ready:\n%s", logged.String())
	}
	get := func(path string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/healthz", "/v1/gpus"} {
		code, body := get(path)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "NVML not ready") || !strings.Contains(body, "Driver Not Loaded") {
			t.Errorf("%s while NVML is not ready = %d %q, want 503 saying NVML is not ready and NVML's error", path, code, body)
		}
	}
	if err := os.WriteFile(ready, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if code, _ := get("/healthz"); code == http.StatusOK {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("/healthz never ok after NVML became ready:\n%s", logged.String())
		case <-tick.C:
		}
	}
	if code, body := get("/v1/gpus"); code != http.StatusOK || !strings.Contains(body, `"gpus":[]`) {
		t.Errorf("/v1/gpus once NVML is ready = %d %q, want 200 with the node's (no) GPUs", code, body)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Errorf("agent after SIGTERM: %v, want exit 0\n%s", err, logged.String())
	}
}

// TestAgentHelpSaysWhoGivesWayAtTheConnectionCap: the agent's --help, its
// --max-connections usage and the README said a newcomer at the cap takes
// the place of the connection idle longest, else waits while every one is
// in a request: the order internal/connlimit followed before a silent
// connection, then one stalled in its headers, gave way too. Each names
// the three, and that a connection just accepted keeps its place.
func TestAgentHelpSaysWhoGivesWayAtTheConnectionCap(t *testing.T) {
	cmd := newAgentCmd()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, agentPart, _ := strings.Cut(string(readme), "## Signals and the GPU agent")
	agentPart, _, _ = strings.Cut(agentPart, "\n## ")
	for name, text := range map[string]string{
		"agent --help":      cmd.Long,
		"--max-connections": cmd.Flags().Lookup("max-connections").Usage,
		"README's agent":    agentPart,
	} {
		text = strings.Join(strings.Fields(text), " ")
		for _, want := range []string{"silent|sent nothing", "idle longest", "stalled", "just accepted|just been accepted"} {
			found := false
			for _, w := range strings.Split(want, "|") {
				found = found || strings.Contains(text, w)
			}
			if !found {
				t.Errorf("%s does not say %q of who gives way at the connection cap", name, want)
			}
		}
	}
}
