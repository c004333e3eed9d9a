package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runSimulateArgs(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"simulate"}, args...))
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// TestSimulateDefault is the README's main command: no flags at all runs the
// embedded backtest config on the embedded trace.
func TestSimulateDefault(t *testing.T) {
	out, err := runSimulateArgs(t, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Trace struct {
			Name  string  `json:"name"`
			Jobs  int     `json:"jobs"`
			SpanS float64 `json:"span_s"`
		} `json:"trace"`
		OnPremGPUs  int              `json:"onprem_gpus"`
		WaitTargetS float64          `json:"wait_target_s"`
		WallSeconds float64          `json:"wall_seconds"`
		Results     []map[string]any `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v in\n%s", err, out)
	}
	if rep.Trace.Name != "itp/cluster02.csv" || rep.Trace.Jobs != 5778 || rep.Trace.SpanS < 59*86400 || rep.OnPremGPUs != 88 || rep.WaitTargetS != 600 || rep.WallSeconds <= 0 {
		t.Errorf("report header %+v", rep)
	}
	var names []string
	for _, r := range rep.Results {
		names = append(names, r["policy"].(string))
		for _, k := range []string{"cloud_cost_usd", "paid_gpu_hours", "used_gpu_hours", "efficiency", "wait_p50_s", "wait_p95_s", "wait_p99_s", "wait_max_s", "jobs_on_cloud", "launches",
			"jobs_never_served", "gpu_hours_lost", "peak_cloud_gpus"} {
			if _, ok := r[k].(float64); !ok {
				t.Errorf("%s: %s missing or not a number", names[len(names)-1], k)
			}
		}
		for _, k := range []string{"budget_periods", "dominated_by"} {
			if _, ok := r[k].([]any); !ok {
				t.Errorf("%s: %s missing or not a list", names[len(names)-1], k)
			}
		}
		if _, ok := r["cost_by_offering"].(map[string]any); !ok {
			t.Errorf("%s: cost_by_offering missing or not an object", names[len(names)-1])
		}
	}
	if got := strings.Join(names, ","); got != "spillway,onprem-only,threshold,per-job" {
		t.Errorf("policies %s", got)
	}
}

func TestSimulateFlags(t *testing.T) {
	svg := filepath.Join(t.TempDir(), "t.svg")
	out, err := runSimulateArgs(t, "--trace", "../../sim/testdata/burst.csv", "--onprem-gpus", "3",
		"--policies", "per-job,onprem-only", "--plot", svg)
	if err != nil {
		t.Fatal(err)
	}
	// 3 GPUs round up to one 8-GPU node: both jobs fit on-prem.
	if !strings.Contains(out, "burst.csv: 2 jobs") || !strings.Contains(out, "8 on-prem GPUs") ||
		strings.Index(out, "per-job") > strings.Index(out, "onprem-only") {
		t.Errorf("table:\n%s", out)
	}
	data, err := os.ReadFile(svg)
	if err != nil || !bytes.Contains(data, []byte("per-job policy on burst.csv")) {
		t.Errorf("plot: %v %.200s", err, data)
	}
}

// TestSimulateHugeOnPrem is the third case: an absurd on-prem size
// once died out of memory; it must run (memory does not follow the size),
// and a size beyond what the simulator counts must be an error, not a crash.
func TestSimulateHugeOnPrem(t *testing.T) {
	out, err := runSimulateArgs(t, "--trace", "../../sim/testdata/burst.csv", "--onprem-gpus", "100000000000", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"onprem_gpus": 100000000000`) {
		t.Errorf("report:\n%.400s", out)
	}
	_, err = runSimulateArgs(t, "--trace", "../../sim/testdata/burst.csv", "--onprem-gpus", "4000000000000000000")
	if err == nil || !strings.Contains(err.Error(), "onprem.nodes is 500000000000000000 (want 0 to") {
		t.Errorf("got %v, want an onprem.nodes range error", err)
	}
}

func TestSimulateErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--policies", "spillway,magic"}, `unknown policy "magic" (want one of spillway, onprem-only, threshold, per-job)`},
		{[]string{"--pool", "nope"}, `--pool "nope": no such pool (the config has v100)`},
		{[]string{"--onprem-gpus", "-8"}, "--onprem-gpus -8"},
		{[]string{"--trace", "../../sim/trace/testdata/bad_gpus.csv"}, `bad_gpus.csv:3: column gpus: "two"`},
		{[]string{"--config", "missing.yaml"}, "missing.yaml"},
		{[]string{"--baseline-opt", "per-job.suspend=soon"}, `--baseline-opt: baseline option per-job.suspend="soon": want a duration from 0s to 720h`},
		{[]string{"--baseline-opt", "per-job.magic=1"}, `--baseline-opt: baseline option "per-job.magic": unknown`},
		{[]string{"--cloud", "perfect"}, `--cloud "perfect": want realistic or ideal`},
	} {
		_, err := runSimulateArgs(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: got %v, want %q", tt.args, err, tt.want)
		}
	}
}
