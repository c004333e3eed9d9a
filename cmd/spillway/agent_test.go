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
	"slices"
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

// TestAgentFlagErrors: every flag of the agent with a range refuses a
// value past either end, or past what its type holds, naming the flag, the
// value and the range (exit 2); --busy-processes had no upper bound (a
// --busy-processes 99999 GPU could never be busy by its processes), the
// intervals none but 0 (--interval 1ns sampled NVML back to back;
// --sample-timeout 1ns served every GPU unknown, busy, for ever), nor
// --replay-speed (1e300 froze the replay), and a --listen that is no
// address (:99999, a port missing) exited 1, as for an address in use.
func TestAgentFlagErrors(t *testing.T) {
	sim := func(args ...string) []string { return append([]string{"agent", "--simulate", "dgxh100"}, args...) }
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"agent", "--listen", ":99999"}, `--listen ":99999": want host:port with a port from 0 to 65535 (0 picks a free one)`},
		{[]string{"agent", "--listen", "127.0.0.1"}, `--listen "127.0.0.1": want host:port`},
		{[]string{"agent", "--listen", "127.0.0.1:-1"}, `--listen "127.0.0.1:-1": want host:port`},
		{[]string{"agent", "--listen", "127.0.0.1:http"}, `--listen "127.0.0.1:http": want host:port with a port from 0 to 65535`},
		{[]string{"agent", "--interval", "0s"}, "--interval 0s: want a duration from 10ms to 1h, such as 1s"},
		{[]string{"agent", "--interval", "9ms"}, "--interval 9ms: want a duration from 10ms to 1h"},
		{[]string{"agent", "--interval", "61m"}, "--interval 1h1m: want a duration from 10ms to 1h"},
		{[]string{"agent", "--interval", "99999999999h"}, "--interval 99999999999h is out of range: want a duration from 10ms to 1h"},
		{[]string{"agent", "--sample-timeout", "0s"}, "--sample-timeout 0s: want a duration from 100ms to 1h, such as 10s"},
		{[]string{"agent", "--sample-timeout", "1ns"}, "--sample-timeout 1ns: want a duration from 100ms to 1h"},
		{[]string{"agent", "--sample-timeout", "2h"}, "--sample-timeout 2h: want a duration from 100ms to 1h"},
		{[]string{"agent", "--busy-util", "-1"}, "--busy-util -1: want a percentage from 0 to 100"},
		{[]string{"agent", "--busy-util", "120"}, "--busy-util 120: want a percentage from 0 to 100"},
		{[]string{"agent", "--busy-util", "NaN"}, "--busy-util NaN: want a percentage from 0 to 100"},
		{[]string{"agent", "--busy-util", "1e400"}, "--busy-util 1e400 is out of range: want a percentage from 0 to 100"},
		{[]string{"agent", "--busy-processes", "-1"}, "--busy-processes -1: want 0 (ignore processes) to 4096"},
		{[]string{"agent", "--busy-processes", "4097"}, "--busy-processes 4097: want 0 (ignore processes) to 4096"},
		{[]string{"agent", "--busy-processes", "99999999999999999999"}, "--busy-processes 99999999999999999999 is out of range: want 0 (ignore processes) to 4096"},
		{[]string{"agent", "--node", " "}, "--node is empty"},
		{[]string{"agent", "--node", "gpu-\xff"}, `--node "gpu-\xff" is not UTF-8`},
		{[]string{"agent", "--node", strings.Repeat("n", 254)}, `--node "` + strings.Repeat("n", 40) + `"… is 254 bytes: want the node's name as the on-prem scheduler knows it, at most 253 bytes of printable characters`},
		{[]string{"agent", "--node", "gpu-07\nok"}, `--node "gpu-07\nok" holds a control or other unprintable character: want`},
		{[]string{"agent", "--node", "gpu-\u200b07"}, `holds a control or other unprintable character`},
		{[]string{"agent", "--max-connections", "0"}, "--max-connections 0: want 1 to 4096"},
		{[]string{"agent", "--max-connections", "5000"}, "--max-connections 5000: want 1 to 4096"},
		{sim("--replay-speed", "0.001"), "--replay-speed 0.001: want a number from 0.01 to 3600"},
		{sim("--replay-speed", "1e300"), "--replay-speed 1e+300: want a number from 0.01 to 3600"},
		{sim("--replay-speed", "+Inf"), "--replay-speed +Inf: want a number from 0.01 to 3600"},
		{sim("--idle-allocated", "-0.1"), "--idle-allocated -0.1: want a share from 0 to 1"},
		{sim("--idle-allocated", "1e400"), "--idle-allocated 1e400 is out of range: want a share from 0 to 1"},
		{[]string{"agent", "--replay", "diurnal"}, "--replay needs --simulate"},
		{[]string{"agent", "--simulate", "dgx1"}, `"dgx1"`},
		{sim("--replay", "../../signals/nvml/testdata/bad_running.csv"), `line 3: column running_gpu_num: bad value "lots"`},
	} {
		t.Run(strings.Join(tc.args[1:], " "), func(t *testing.T) {
			// A refusal returns at once; the deadline ends an agent
			// that took the value and serves.
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			err := run(ctx, append(tc.args, "--listen", cmp.Or(listenOf(tc.args), "127.0.0.1:0")))
			var ue *usageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("spillway %s: %v, want a usage error (exit 2) saying %q", strings.Join(tc.args, " "), err, tc.want)
			}
		})
	}
}

// listenOf is the --listen of args, or "".
func listenOf(args []string) string {
	if i := slices.Index(args, "--listen"); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// TestAgentFlagRangesInHelp: agent --help says each range a flag is
// refused out of.
func TestAgentFlagRangesInHelp(t *testing.T) {
	f := newAgentCmd().Flags()
	for flag, want := range map[string]string{
		"listen": "the port from 0 to 65535", "interval": "10ms to 1h", "sample-timeout": "100ms to 1h",
		"busy-util": "0 to 100", "busy-processes": "0 (ignore processes) to 4096", "max-connections": "1 to 4096",
		"replay-speed": "0.01 to 3600", "idle-allocated": "0 to 1", "node": "at most 253 bytes of printable characters",
	} {
		if u := f.Lookup(flag).Usage; !strings.Contains(u, want) {
			t.Errorf("--%s's help %q does not say %q", flag, u, want)
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
// once NVML initialises the agent serves its (here no) GPUs and /readyz
// is ok, while /healthz says NVML counts no GPU (a GPU node's agent
// counting none is no healthy node).
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
		if code, _ := get("/readyz"); code == http.StatusOK {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("/readyz never ok after NVML became ready:\n%s", logged.String())
		case <-tick.C:
		}
	}
	if code, body := get("/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "NVML counts no GPU") {
		t.Errorf("/healthz once NVML is ready, counting no GPU = %d %q, want 503 saying so", code, body)
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
