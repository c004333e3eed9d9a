package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/configs"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim"
	"github.com/spillway-io/spillway/sim/trace"
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

// TestSimulateSameSeedSameBytes: the same config, trace and seed print the
// same report, text or JSON, byte for byte (so two runs may be compared
// with diff), and the run's wall time goes to stderr.
func TestSimulateSameSeedSameBytes(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			args := []string{"simulate", "--seed", "7", "--policies", "spillway,per-job,karpenter"}
			if format == "json" {
				args = append(args, "--json")
			}
			var outs [2]string
			for i := range outs {
				root := newRootCmd()
				var out, errOut bytes.Buffer
				root.SetOut(&out)
				root.SetErr(&errOut)
				root.SetArgs(args)
				if err := root.ExecuteContext(context.Background()); err != nil {
					t.Fatal(err)
				}
				outs[i] = out.String()
				if !regexp.MustCompile(`^simulated 5778 jobs × 3 policies in [0-9.]+s\n$`).MatchString(errOut.String()) {
					t.Errorf("stderr %q, want the wall time", errOut.String())
				}
			}
			if outs[0] != outs[1] {
				t.Errorf("two runs of %v differ:\n%s\n---\n%s", args, outs[0], outs[1])
			}
			if strings.Contains(outs[0], "wall") {
				t.Errorf("stdout carries a wall time:\n%s", outs[0])
			}
		})
	}
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
		Results     []map[string]any `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v in\n%s", err, out)
	}
	if rep.Trace.Name != "itp/cluster02.csv" || rep.Trace.Jobs != 5778 || rep.Trace.SpanS < 59*86400 || rep.OnPremGPUs != 88 || rep.WaitTargetS != 600 {
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
	if got := strings.Join(names, ","); got != "spillway,onprem-only,threshold,per-job,karpenter" {
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
	// One panel per policy run.
	if err != nil || !bytes.Contains(data, []byte("2 policies on burst.csv")) ||
		!bytes.Contains(data, []byte(`data-panel="per-job"`)) || !bytes.Contains(data, []byte(`data-panel="onprem-only"`)) {
		t.Errorf("plot: %v %.200s", err, data)
	}
}

// TestSimulateNoOnPrem: --onprem-gpus 0 is a pool without on-prem GPUs
// (the config allows onprem.nodes 0), not the config's size: every job
// runs on the cloud, and onprem-only serves none.
func TestSimulateNoOnPrem(t *testing.T) {
	out, err := runSimulateArgs(t, "--trace", "../../sim/testdata/burst.csv", "--onprem-gpus", "0", "--policies", "per-job,onprem-only", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep sim.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%.400s", err, out)
	}
	if rep.OnPremGPUs != 0 || len(rep.Results) != 2 || rep.Results[0].JobsOnCloud != 2 || rep.Results[1].JobsNeverServed != 2 {
		t.Errorf("on-prem %d GPUs; results %+v: want 0, per-job running both jobs on the cloud, onprem-only serving none", rep.OnPremGPUs, rep.Results)
	}
}

// TestSimulateHugeOnPrem is the third case: an absurd on-prem size
// once died out of memory; it must run (memory does not follow the size),
// and a size beyond what the simulator counts must be an error, not a crash.
func TestSimulateHugeOnPrem(t *testing.T) {
	_, err := runSimulateArgs(t, "--trace", "../../sim/testdata/burst.csv", "--onprem-gpus", "100000000000", "--json")
	if err == nil || !strings.Contains(err.Error(), "--onprem-gpus 100000000000: want 0 (no on-prem GPUs: every job runs on the cloud) to 1048576") {
		t.Fatalf("--onprem-gpus 1e11: %v, want a range error", err)
	}
	out, err := runSimulateArgs(t, "--trace", "../../sim/testdata/burst.csv", "--onprem-gpus", "1048576", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"onprem_gpus": 1048576`) {
		t.Errorf("report:\n%.400s", out)
	}
}

// TestSimulateSweep: --sweep prints one point per value and policy over the
// seeds, and --plot draws the frontier.
func TestSimulateSweep(t *testing.T) {
	svg := filepath.Join(t.TempDir(), "f.svg")
	out, err := runSimulateArgs(t, "--trace", "../../sim/testdata/burst.csv", "--sweep", "wait_target=0s,5m",
		"--sweep", "per-job.suspend=0s,300s", "--seeds", "2", "--plot", svg, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Seeds  int `json:"seeds"`
		Points []struct {
			Policy      string   `json:"policy"`
			Setting     string   `json:"setting"`
			Runs        int      `json:"runs"`
			DominatedBy []string `json:"dominated_by"`
		} `json:"points"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v in\n%s", err, out)
	}
	var got []string
	for _, p := range rep.Points {
		got = append(got, p.Policy+" "+p.Setting)
		if p.Runs != 2 || p.DominatedBy == nil {
			t.Errorf("%s %s: %d runs, dominated_by %v", p.Policy, p.Setting, p.Runs, p.DominatedBy)
		}
	}
	if want := "spillway wait_target=0s,spillway wait_target=5m,threshold ,per-job per-job.suspend=0s,per-job per-job.suspend=300s,karpenter "; strings.Join(got, ",") != want {
		t.Errorf("points %q, want %q", strings.Join(got, ","), want)
	}
	if data, err := os.ReadFile(svg); err != nil || !bytes.Contains(data, []byte("cost–wait frontier")) {
		t.Errorf("frontier plot: %v", err)
	}
	if _, err := runSimulateArgs(t, "--sweep", "wait_target=1m", "--sweep", "wait_target=2m"); err == nil || !strings.Contains(err.Error(), "spillway is swept twice") {
		t.Errorf("two sweeps of one policy: %v", err)
	}
}

func TestSimulateErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--policies", "spillway,magic"}, `unknown policy "magic" (want one of spillway, onprem-only, threshold, per-job, karpenter)`},
		{[]string{"--pool", "nope"}, `--pool "nope": no such pool (the config has v100)`},
		{[]string{"--onprem-gpus", "-8"}, "--onprem-gpus -8"},
		{[]string{"--onprem-gpus", "9223372036854775807"}, "--onprem-gpus 9223372036854775807: want 0 (no on-prem GPUs: every job runs on the cloud) to 1048576"},
		{[]string{"--trace", "../../sim/trace/testdata/bad_gpus.csv"}, `bad_gpus.csv:3: column gpus: "two"`},
		{[]string{"--config", "missing.yaml"}, "missing.yaml"},
		{[]string{"--baseline-opt", "per-job.suspend=soon"}, `--baseline-opt: baseline option per-job.suspend="soon": want a duration from 0s to 720h`},
		{[]string{"--baseline-opt", "per-job.magic=1"}, `--baseline-opt: baseline option "per-job.magic": unknown`},
		{[]string{"--cloud", "perfect"}, `--cloud "perfect": want realistic or ideal`},
		{[]string{"--where", "cluster"}, `--where "cluster": want column=value,value,… (e.g. vc=vchbv or cluster=6214e9)`},
		{[]string{"--where", "vc=vchbv"}, `cluster02.csv:1: column vc: "job_id,submission_time,duration,num_gpu": no such column (want one of the header's columns)`},
		{[]string{"--trace-zone", "Mars/Olympus"}, `--trace-zone "Mars/Olympus": not a time zone (want an IANA name such as Asia/Shanghai, America/Los_Angeles or UTC)`},
		{[]string{"--trace-zone", "Local"}, `--trace-zone "Local": not a time zone`}, // results must not depend on the machine
		{[]string{"--trace-dates", "dmy"}, `--trace-dates "dmy": want month-first (11/29/2026) or day-first (29/11/2026)`},
		{[]string{"--seeds", "5"}, "--seeds applies only with --sweep (a single run uses --seed)"},
		{[]string{"--jitter", "2m"}, "--jitter applies only with --sweep"},
		{[]string{"--sweep", "wait_target=5m,300s"}, `--sweep: sweep wait_target="300s": the same setting as "5m"`},
		{[]string{"--trace", "../../sim/testdata/burst.csv", "--sweep", "karpenter.consolidate_after=0s,60s", "--policies", "spillway,per-job"}, `--sweep karpenter.consolidate_after=0s,60s: sweeps karpenter, which the sweep does not run (it runs spillway,per-job): add karpenter to --policies`},
		{[]string{"--trace", "../../sim/testdata/burst.csv", "--sweep", "wait_target=0s,5m", "--policies", "per-job"}, `--sweep wait_target=0s,5m: sweeps spillway, which the sweep does not run (it runs per-job): add spillway to --policies`},
		// Hostile traces: a clear error naming the line, column and range.
		{[]string{"--trace", "../../sim/trace/testdata/bad_helios_huge.csv"}, `bad_helios_huge.csv:3: column running_gpu_num: "9223372036854775807": out of range (want a whole number of GPUs from 0 to 1048576)`},
		{[]string{"--trace", "../../sim/trace/testdata/bad_duration_overflow.csv"}, `column duration_s: "9999999999": out of range`},
		{[]string{"--trace", "../../sim/trace/testdata/bad_philly_years.csv"}, `column timestamp: "9999-12-31 23:59:59": out of range`},
		{[]string{"--trace", "../../sim/trace/testdata/bad_submit_apart.csv"}, `column submit_s: "9e9": out of range`},
		{[]string{"--max-memory", "lots"}, `--max-memory "lots": not a size (want bytes from 64MiB to 1TiB`},
		{[]string{"--max-memory", "1KiB"}, `--max-memory "1KiB": out of range`},
		{[]string{"--max-memory", "1e300GiB"}, `--max-memory "1e300GiB": out of range`},
		{[]string{"--max-memory", "NaN"}, `--max-memory "NaN": out of range`},
	} {
		_, err := runSimulateArgs(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: got %v, want %q", tt.args, err, tt.want)
		}
	}
}

// TestSimulateGivesUpABacklog: 40 jobs of ten years each on one 8-GPU node
// would queue for centuries (the run once ended with "the run reached 200
// years of simulated time"). The jobs still queued long after the trace are
// given up: the table prints, and says how many never started and why,
// naming the zone of the time they were given up at (UTC) in the text; the
// JSON report's stopped field keeps its time without one, as consumers
// parse it.
func TestSimulateGivesUpABacklog(t *testing.T) {
	out, err := runSimulateArgs(t, "--trace", "testdata/centuries.csv", "--onprem-gpus", "8", "--policies", "onprem-only")
	if err != nil {
		t.Fatal(err)
	}
	if want := "onprem-only: 38 jobs never started (still queued at 2034-02-23 20:00:00 UTC, when the run gave up on queued jobs: as long again as the trace's submissions span (at least 30.0 days) plus its longest job and a budget period after its last submission); the wait counts until the run ended, a lower bound."; !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	js, err := runSimulateArgs(t, "--trace", "testdata/centuries.csv", "--onprem-gpus", "8", "--policies", "onprem-only", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Results []struct {
			JobsUnstarted int    `json:"jobs_unstarted"`
			Stopped       string `json:"stopped"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(js), &rep); err != nil || len(rep.Results) != 1 ||
		rep.Results[0].JobsUnstarted != 38 || !strings.HasPrefix(rep.Results[0].Stopped, "still queued at 2034-02-23 20:00:00, when") {
		t.Errorf("--json: %+v (%v), want 38 unstarted and why in stopped", rep, err)
	}
}

// TestSimulateMemoryLimit: a trace with more jobs than --max-memory holds is
// refused while it is read, naming the limit and how to raise it; the same
// trace runs with fewer policies.
func TestSimulateMemoryLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("submit_s,duration_s,gpus\n")
	for i := range 60_000 {
		fmt.Fprintf(&b, "%d,60,1\n", i*60)
	}
	path := filepath.Join(t.TempDir(), "big.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := runSimulateArgs(t, "--trace", path, "--max-memory", "64MiB", "--policies", "spillway,onprem-only,threshold,per-job")
	if !errors.Is(err, trace.ErrTooManyJobs) {
		t.Fatalf("60000 jobs, 4 policies in 64MiB: %v, want ErrTooManyJobs", err)
	}
	for _, want := range []string{"big.csv:", "--max-memory 64MiB holds 31300 jobs for 4 policies (a quarter of it for jobs", "raise --max-memory", "fewer --policies"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not say %q", err, want)
		}
	}
	if _, err := runSimulateArgs(t, "--trace", path, "--max-memory", "64MiB", "--policies", "onprem-only"); err != nil {
		t.Errorf("one policy in 64MiB: %v", err)
	}
}

// simConfig writes the embedded backtest config with a simulate section
// appended, and a trace that overflows 8 on-prem GPUs now and then.
func simConfig(t *testing.T, section string) (cfg, tr string) {
	t.Helper()
	dir := t.TempDir()
	cfg = filepath.Join(dir, "backtest.yaml")
	data := append(append([]byte{}, configs.BacktestYAML...), "\nsimulate:\n"+section...)
	if err := os.WriteFile(cfg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("submit_s,duration_s,gpus\n")
	for i := range 40 {
		fmt.Fprintf(&b, "%d,%d,%d\n", i*1200, 3600+i*60, 4+4*(i%2))
	}
	tr = filepath.Join(dir, "jobs.csv")
	if err := os.WriteFile(tr, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg, tr
}

// simResults runs simulate --json and returns its results.
func simResults(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runSimulateArgs(t, append(args, "--json", "--onprem-gpus", "8", "--policies", "spillway,per-job")...)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Results json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v in\n%s", err, out)
	}
	return string(rep.Results)
}

// TestSimulateConfigSection: the config's simulate section changes the
// run (its cloud model, its seed, a baseline's knob), and --cloud, --seed
// and --baseline-opt override it.
func TestSimulateConfigSection(t *testing.T) {
	const realistic = "  cloud:\n    model: realistic\n    boot_p95: 4\n    spot_mean_life: 0s\n"
	run := func(section string, flags ...string) string {
		t.Helper()
		cfg, tr := simConfig(t, section)
		return simResults(t, append([]string{"--config", cfg, "--trace", tr}, flags...)...)
	}
	ideal := run("  cloud:\n    model: ideal\n")
	seed3 := run(realistic + "    seed: 3\n")
	seed4 := run(realistic + "    seed: 4\n")
	if ideal == seed3 || seed3 == seed4 {
		t.Fatalf("the section changes nothing: ideal %v, seed 3 %v, seed 4 %v", ideal == seed3, seed3 == seed4, seed4 == ideal)
	}
	if !strings.Contains(ideal, `"failed_launches": {}`) {
		t.Errorf("the ideal cloud failed launches: %s", ideal)
	}
	if got := run(realistic+"    seed: 3\n", "--cloud", "ideal"); got != ideal {
		t.Errorf("--cloud ideal over a realistic file:\n%s\nwant the ideal file's\n%s", got, ideal)
	}
	if got := run(realistic+"    seed: 3\n", "--seed", "4"); got != seed4 {
		t.Errorf("--seed 4 over seed 3 in the file:\n%s\nwant seed 4's\n%s", got, seed4)
	}
	// A stock override that keeps every offering out of stock leaves
	// nothing to rent: every job runs on-prem.
	var stock strings.Builder
	for _, name := range []string{"p3.2xlarge", "p3.8xlarge", "p3.16xlarge", "ecs.gn6v-c8g1.2xlarge", "ecs.gn6v-c8g1.16xlarge"} {
		prov, region := "aws-east/us-east-1", "on-demand"
		if strings.HasPrefix(name, "ecs.") {
			prov = "ali-hz/cn-hangzhou"
		}
		fmt.Fprintf(&stock, "      %s/%s/%s: {mean_in_stock: 1m, mean_out_of_stock: 8000h}\n", prov, name, region)
	}
	out := run(realistic + "    mean_out_of_stock: 0s\n    offerings:\n" + stock.String())
	if strings.Count(out, `"jobs_on_cloud": 0,`) != 2 || strings.Count(out, `"launches": 0,`) != 2 || strings.Count(seed3, `"jobs_on_cloud": 0,`) != 0 {
		t.Errorf("every offering out of stock, still jobs on cloud:\n%s\n(in stock:\n%s)", out, seed3)
	}
	// So does a schedule that keeps them out for the whole trace.
	scheduled := strings.ReplaceAll(stock.String(), "{mean_in_stock: 1m, mean_out_of_stock: 8000h}", "{out_of_stock: [{from: 0s, for: 8000h}]}")
	if got := run(realistic + "    mean_out_of_stock: 0s\n    offerings:\n" + scheduled); got != out {
		t.Errorf("every offering scheduled out of stock:\n%s\nwant what the random process out of stock gives:\n%s", got, out)
	}

	suspend0 := run("  baselines:\n    per-job:\n      suspend: 0s\n", "--cloud", "ideal")
	suspend10m := run("  baselines:\n    per-job:\n      suspend: 10m\n", "--cloud", "ideal")
	if suspend0 == suspend10m {
		t.Fatalf("per-job.suspend in the file changes nothing:\n%s", suspend0)
	}
	if got := run("  baselines:\n    per-job:\n      suspend: 0s\n", "--cloud", "ideal", "--baseline-opt", "per-job.suspend=10m"); got != suspend10m {
		t.Errorf("--baseline-opt per-job.suspend=10m over 0s in the file:\n%s\nwant\n%s", got, suspend10m)
	}
}

// TestSimulateJoinTimeout: the simulator ends spillway's instances not up
// within the pool's join.timeout, as the server does. With boots spread
// wide (p95 ten times the median), some fail at the default (three boots
// of the slowest offering, 15 minutes); none at 10 hours.
func TestSimulateJoinTimeout(t *testing.T) {
	cfg, tr := simConfig(t, "  cloud:\n    boot_p95: 10\n    spot_mean_life: 0s\n    mean_out_of_stock: 0s\n")
	def := simResults(t, "--config", cfg, "--trace", tr)
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Replace(string(data), "  - name: v100\n", "  - name: v100\n    join: {timeout: 10h}\n", 1)
	if long == string(data) {
		t.Fatal("the embedded config has no pool v100")
	}
	if err := os.WriteFile(cfg, []byte(long), 0o644); err != nil {
		t.Fatal(err)
	}
	patient := simResults(t, "--config", cfg, "--trace", tr)
	if strings.Count(def, `"join_timeout"`) != 1 || strings.Contains(patient, `"join_timeout"`) {
		t.Errorf("want join timeouts for spillway (not per-job) at the default join.timeout and none at 10h:\n%s\n%s", def, patient)
	}
}

// TestSimulateRegistrationTTL: the config's
// simulate.baselines.karpenter.registration_ttl reaches the karpenter
// baseline, and --baseline-opt overrides it: at 6m, just above the slowest
// offering's median boot (5m), many nodes it launches are ended before
// they register; at 15m, with boots spread wide, only the slowest are.
func TestSimulateRegistrationTTL(t *testing.T) {
	const cloud = "  cloud:\n    boot_p95: 10\n    spot_mean_life: 0s\n    mean_out_of_stock: 0s\n"
	karpenter := func(section string, flags ...string) (timeouts, onCloud int) {
		t.Helper()
		cfg, tr := simConfig(t, cloud+section)
		out, err := runSimulateArgs(t, append([]string{"--config", cfg, "--trace", tr, "--json", "--onprem-gpus", "8", "--policies", "karpenter"}, flags...)...)
		if err != nil {
			t.Fatal(err)
		}
		var rep struct {
			Results []struct {
				FailedLaunches map[string]int `json:"failed_launches"`
				JobsOnCloud    int            `json:"jobs_on_cloud"`
			} `json:"results"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Results) != 1 {
			t.Fatalf("%v in\n%s", err, out)
		}
		return rep.Results[0].FailedLaunches["join_timeout"], rep.Results[0].JobsOnCloud
	}
	short := "  baselines:\n    karpenter:\n      registration_ttl: 6m\n"
	n6, on6 := karpenter(short)
	n15, on15 := karpenter(short, "--baseline-opt", "karpenter.registration_ttl=15m")
	if n6 < 2*max(n15, 1) || on6 > on15 {
		t.Errorf("registration_ttl 6m: %d join timeouts, %d jobs on cloud; --baseline-opt karpenter.registration_ttl=15m over it: %d, %d; want twice the timeouts at 6m (many boots outlast it) and no more jobs on the cloud",
			n6, on6, n15, on15)
	}
}

// TestSimulateConfigSectionErrors: a bad simulate section is reported
// with its line, and the command does not run.
func TestSimulateConfigSectionErrors(t *testing.T) {
	cfg, tr := simConfig(t, "  cloud:\n    model: perfect\n  baselines:\n    per-job:\n      suspend: soon\n")
	_, err := runSimulateArgs(t, "--config", cfg, "--trace", tr)
	if err == nil {
		t.Fatal("a bad simulate section ran")
	}
	for _, want := range []string{`simulate.cloud.model: unknown cloud model "perfect": valid models are realistic, ideal`, `simulate.baselines.per-job.suspend: bad duration "soon"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestRealisticCloud: the file's values replace sim.DefaultCloud's, those
// it leaves out keep their default, and a per-offering stock model takes
// the cloud's means for what it leaves out, and so does a per-offering
// spot model.
func TestRealisticCloud(t *testing.T) {
	d := func(x time.Duration) *policy.Duration { p := policy.Duration(x); return &p }
	p95 := 3.0
	got := realisticCloud(9, config.SimCloud{
		MeanInStock: d(6 * time.Hour),
		Offerings: map[string]config.SimOffering{"a": {MeanOutOfStock: d(2 * time.Hour), BootP95: &p95}, "b": {MeanInStock: d(time.Hour), SpotMeanLife: d(0)}, "c": {SpotNotice: d(5 * time.Minute)},
			"s": {OutOfStock: []config.SimWindow{{From: policy.Duration(time.Hour), For: policy.Duration(2 * time.Hour)}, {From: 0, For: policy.Duration(time.Minute)}}}},
		BootP95:    &p95,
		SpotNotice: d(0),
		Quota:      map[string]int{"aws": 64},
	}, offeringClouds{})
	want := sim.DefaultCloud(9)
	want.MeanInStock, want.BootP95, want.SpotNotice = 6*time.Hour, 3, 0
	want.Stock = map[string]sim.StockModel{"a": {MeanInStock: 6 * time.Hour, MeanOutOfStock: 2 * time.Hour}, "b": {MeanInStock: time.Hour, MeanOutOfStock: want.MeanOutOfStock},
		"s": {MeanInStock: 6 * time.Hour, MeanOutOfStock: want.MeanOutOfStock, OutOfStock: []sim.Window{{From: time.Hour, Until: 3 * time.Hour}, {From: 0, Until: time.Minute}}}}
	want.Spot = map[string]sim.SpotModel{"b": {MeanLife: 0, Notice: want.SpotNotice}, "c": {MeanLife: want.SpotMeanLife, Notice: 5 * time.Minute}}
	want.Quota = map[string]int{"aws": 64}
	want.OfferingBootP95 = map[string]float64{"a": 3}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cloud\n %+v\nwant\n %+v", got, want)
	}
	if bare := realisticCloud(9, config.SimCloud{}, offeringClouds{}); !reflect.DeepEqual(bare, sim.DefaultCloud(9)) {
		t.Errorf("an empty section gives %+v, want the default cloud", bare)
	}
}

// TestRealisticCloudSpotByCloud: spot notices and protection the config
// leaves out follow each provider's cloud: Alibaba's 5 minutes and hour
// of protection, AWS's 2 minutes (the default cloud's); what the config
// sets holds for every cloud, and an offering's own entry starts from its
// provider's.
func TestRealisticCloudSpotByCloud(t *testing.T) {
	d := func(x time.Duration) *policy.Duration { p := policy.Duration(x); return &p }
	clouds := offeringClouds{kinds: map[string]config.ProviderType{"aws-east": config.ProviderAWS, "ali-hz": config.ProviderAlicloud},
		provider: map[string]string{"p5-spot": "aws-east", "gn7-spot": "ali-hz"}}
	week := sim.DefaultCloud(1).SpotMeanLife
	ali := sim.SpotModel{MeanLife: week, Notice: sim.AlibabaSpotNotice, Protection: sim.AlibabaSpotProtection}
	for _, tt := range []struct {
		name       string
		sc         config.SimCloud
		byProvider map[string]sim.SpotModel
		offerings  map[string]sim.SpotModel
	}{
		{"left out: each cloud's own", config.SimCloud{}, map[string]sim.SpotModel{"ali-hz": ali}, nil},
		{"a notice for every cloud", config.SimCloud{SpotNotice: d(3 * time.Minute)},
			map[string]sim.SpotModel{"ali-hz": {MeanLife: week, Notice: 3 * time.Minute, Protection: time.Hour}}, nil},
		{"both for every cloud", config.SimCloud{SpotNotice: d(time.Minute), SpotProtection: d(0)}, nil, nil},
		{"an offering's entry starts from its provider's", config.SimCloud{Offerings: map[string]config.SimOffering{
			"gn7-spot": {SpotMeanLife: d(10 * time.Hour)}, "p5-spot": {SpotProtection: d(30 * time.Minute)}}},
			map[string]sim.SpotModel{"ali-hz": ali},
			map[string]sim.SpotModel{"gn7-spot": {MeanLife: 10 * time.Hour, Notice: 5 * time.Minute, Protection: time.Hour},
				"p5-spot": {MeanLife: week, Notice: 2 * time.Minute, Protection: 30 * time.Minute}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := realisticCloud(1, tt.sc, clouds)
			if !reflect.DeepEqual(c.SpotByProvider, tt.byProvider) || !reflect.DeepEqual(c.Spot, tt.offerings) {
				t.Errorf("per provider %+v, per offering %+v; want %+v and %+v", c.SpotByProvider, c.Spot, tt.byProvider, tt.offerings)
			}
		})
	}
	// From a real config: its providers' types and its offerings'
	// providers, as simulate reads them.
	cfg := loadConfig(t, "../../configs/examples/backtest.yaml")
	oc := cloudsOf(cfg, cfg.Pools[0].Policy)
	alis := "ali-hz/cn-hangzhou/ecs.gn6v-c8g1.16xlarge/on-demand"
	c := realisticCloud(1, config.SimCloud{Offerings: map[string]config.SimOffering{alis: {SpotMeanLife: d(time.Hour)}}}, oc)
	if !reflect.DeepEqual(c.SpotByProvider, map[string]sim.SpotModel{"ali-hz": ali}) || c.Spot[alis].Notice != sim.AlibabaSpotNotice {
		t.Errorf("backtest.yaml: per provider %+v, %s's %+v; want ali-hz's Alibaba notice and protection, none for aws-east", c.SpotByProvider, alis, c.Spot[alis])
	}
}

// TestSimulateBindingBudget: with a budget that binds, the report says
// what it cost, from a run of the same policy without it, in the table
// and in --json (without_limit).
func TestSimulateBindingBudget(t *testing.T) {
	// 300 USD a month holds a 1-GPU instance (its least commitment is 257.06
	// USD: drain_timeout is 168h), not an 8-GPU one.
	cfg := strings.Replace(string(configs.BacktestYAML), "amount: 1000000", "amount: 300", 1)
	if cfg == string(configs.BacktestYAML) {
		t.Fatal("the bundled backtest config no longer has a budget of 1000000 to lower")
	}
	path := filepath.Join(t.TempDir(), "tiny-budget.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", path, "--trace", "testdata/overflow.csv", "--onprem-gpus", "8", "--policies", "spillway,per-job,onprem-only"}
	out, err := runSimulateArgs(t, append(args, "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Results []struct {
			Policy       string `json:"policy"`
			WithoutLimit map[string]struct {
				CloudCostUSD     float64 `json:"cloud_cost_usd"`
				KeptOffCloudGPUs int     `json:"kept_off_cloud_gpus"`
			} `json:"without_limit"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v in\n%s", err, out)
	}
	for _, r := range rep.Results {
		if r.Policy == "onprem-only" {
			if r.WithoutLimit != nil {
				t.Errorf("onprem-only rents nothing, yet has without_limit %+v", r.WithoutLimit)
			}
			continue
		}
		wl, ok := r.WithoutLimit["budget"]
		if !ok || wl.CloudCostUSD <= 0 || wl.KeptOffCloudGPUs != 8 {
			t.Errorf("%s: without_limit %+v: want the budget's counterfactual, bursting at some cost, and the 8-GPU jobs kept off the cloud", r.Policy, r.WithoutLimit)
		}
	}
	out, err = runSimulateArgs(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "spillway: limit budget keeps jobs of 8 GPUs off the cloud (no instance that holds one fits under it); without it p95 wait would have been") {
		t.Errorf("table does not say what the budget cost:\n%s", out)
	}
}

// TestProgressLine: the line shows the share of trace time replayed, then,
// past the trace's span, that the runs are finishing their last jobs; each
// rewrite clears what a longer one left, and clear leaves an empty line.
func TestProgressLine(t *testing.T) {
	var b bytes.Buffer
	p := &progressLine{w: &b}
	p.clear()
	if b.Len() != 0 {
		t.Fatalf("clear before any update wrote %q", b.String())
	}
	for _, tt := range []struct {
		done float64
		want string
	}{
		{0, "\rsimulating…   0% of trace time\033[K"},
		{0.426, "\rsimulating…  43% of trace time\033[K"},
		{0.9999, "\rsimulating… 100% of trace time\033[K"},
		{1, "\rsimulating… trace time replayed, finishing the jobs still queued or running\033[K"},
	} {
		b.Reset()
		p.last = time.Time{}
		p.update(tt.done)
		if b.String() != tt.want {
			t.Errorf("update(%v) wrote %q, want %q", tt.done, b.String(), tt.want)
		}
	}
	b.Reset()
	p.update(0.5) // within a quarter second of the last: not rewritten
	if b.Len() != 0 {
		t.Errorf("a second update within 250ms wrote %q", b.String())
	}
	p.clear()
	if b.String() != "\r\033[K" {
		t.Errorf("clear wrote %q", b.String())
	}
}

// TestSimulateProgress: --progress draws the line on stderr and clears it
// before the report; the wall time follows it.
func TestSimulateProgress(t *testing.T) {
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs([]string{"simulate", "--progress", "--policies", "spillway"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := errOut.String()
	if !strings.HasPrefix(e, "\rsimulating… ") || !regexp.MustCompile("\r\033\\[Ksimulated 5778 jobs × 1 policy in [0-9.]+s\n$").MatchString(e) {
		t.Errorf("stderr %q: want the progress line, cleared at the end", e)
	}
	if !strings.Contains(out.String(), "spillway") {
		t.Errorf("no report on stdout: %q", out.String())
	}
}

// TestSimulateProgressReading: reading a long trace said nothing until
// the simulation began (a 10-million-row sacct log reads for a minute);
// --progress shows how much of the file is read, as a share of its size,
// and clears the line before the simulation's.
func TestSimulateProgressReading(t *testing.T) {
	var b strings.Builder
	b.WriteString("submit_s,duration_s,gpus\n")
	for i := range 20000 {
		fmt.Fprintf(&b, "%d,600,1\n", i*60)
	}
	path := filepath.Join(t.TempDir(), "jobs.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs([]string{"simulate", "--progress", "--policies", "onprem-only", "--trace", path})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := errOut.String()
	if !regexp.MustCompile("^\rreading the trace…  *[0-9]+% of 1MiB\x1b\\[K(.*)\r\x1b\\[K\rsimulating… ").MatchString(e) {
		t.Errorf("stderr %q: want the reading line, cleared, then the simulation's", e)
	}
	var p progressLine
	var w bytes.Buffer
	p.w = &w
	p.reading(3<<29, 3<<30)
	p.last = time.Time{}
	p.reading(5<<20, 0)
	if want := "\rreading the trace…  50% of 3.0GiB\033[K\rreading the trace… 5MiB\033[K"; w.String() != want {
		t.Errorf("reading wrote %q, want %q", w.String(), want)
	}
}

// TestSimulateTraceZone: a job log's date-times without an offset are read
// in --trace-zone. Its one job, 16 GPUs from "2024-02-01 04:00:00" for two
// hours beside 8 on-prem GPUs, is billed in February read as UTC, and in
// January read as China time (20:00 UTC on 31 January).
func TestSimulateTraceZone(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "cluster_log.csv")
	if err := os.WriteFile(log, []byte("job_id,vc,gpu_num,state,submit_time,duration\nj1,vcA,16,COMPLETED,2024-02-01 04:00:00,7200\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		zone, month string
	}{{"UTC", "2024-02"}, {"Asia/Shanghai", "2024-01"}} {
		out, err := runSimulateArgs(t, "--trace", log, "--onprem-gpus", "8", "--config", filepath.Join("..", "..", "configs", "examples", "backtest.yaml"),
			"--policies", "spillway", "--trace-zone", tt.zone, "--json")
		if err != nil {
			t.Fatal(err)
		}
		var rep struct {
			Results []struct {
				BudgetPeriods []struct {
					Start    time.Time `json:"start"`
					SpendUSD float64   `json:"spend_usd"`
				} `json:"budget_periods"`
			} `json:"results"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		var billed []string
		for _, p := range rep.Results[0].BudgetPeriods {
			if p.SpendUSD > 0 {
				billed = append(billed, p.Start.Format("2006-01"))
			}
		}
		if len(billed) != 1 || billed[0] != tt.month {
			t.Errorf("--trace-zone %s: spend in periods %v, want only %s", tt.zone, billed, tt.month)
		}
	}
}

// TestSimulateSweepSkippedRows: a sweep's first line says which rows of a
// job log were left out, as a single run's does.
// TestSimulateSweepIdealCloudSeeds: a sweep's seeds draw the cloud and
// the jitter of submit times. Over the ideal cloud, --seed was refused
// even in a sweep, though with --jitter (1m by default) it picks the
// jittered traces; it is taken there. With --jitter 0s nothing is drawn:
// --seed and --seeds above 1 are refused, saying why, and a sweep left
// at its default seeds runs one a point, the others being the same run.
func TestSimulateSweepIdealCloudSeeds(t *testing.T) {
	base := []string{"--trace", "../../sim/testdata/burst.csv", "--cloud", "ideal", "--policies", "spillway", "--sweep", "wait_target=0s,5m", "--json"}
	for _, tt := range []struct {
		name      string
		args      []string
		seeds     int
		firstSeed uint64
		err       string
	}{
		{name: "a seed of the jitter", args: []string{"--seed", "5"}, seeds: 3, firstSeed: 5},
		{name: "a seed with --seeds", args: []string{"--seed", "5", "--seeds", "2", "--jitter", "10m"}, seeds: 2, firstSeed: 5},
		{name: "no jitter, default seeds", args: []string{"--jitter", "0s"}, seeds: 1, firstSeed: 1},
		{name: "no jitter, a seed", args: []string{"--jitter", "0s", "--seed", "5"},
			err: "--seed 5: the ideal cloud draws nothing, and with --jitter 0s neither does a sweep (its seeds draw the cloud and the jitter of submit times): leave --seed out, give --jitter above 0s (1m by default) to jitter submit times from seed 5 on, or add --cloud realistic"},
		{name: "no jitter, several seeds", args: []string{"--jitter", "0s", "--seeds", "4"},
			err: "--seeds 4: the ideal cloud draws nothing, and with --jitter 0s each point's 4 runs would be one run 4 times over: leave --seeds out (one run a point), give --jitter above 0s to jitter submit times by seed, or add --cloud realistic"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runSimulateArgs(t, append(slices.Clone(base), tt.args...)...)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error %v\nwant %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var rep struct {
				Seeds     int    `json:"seeds"`
				FirstSeed uint64 `json:"first_seed"`
				Points    []struct {
					Runs int `json:"runs"`
				} `json:"points"`
			}
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("%v in\n%s", err, out)
			}
			if rep.Seeds != tt.seeds || rep.FirstSeed != tt.firstSeed || len(rep.Points) != 2 || rep.Points[0].Runs != tt.seeds {
				t.Errorf("seeds %d from %d, points %+v: want %d seeds from %d, 2 points of %d runs", rep.Seeds, rep.FirstSeed, rep.Points, tt.seeds, tt.firstSeed, tt.seeds)
			}
		})
	}
}

func TestSimulateSweepSkippedRows(t *testing.T) {
	out, err := runSimulateArgs(t, "--trace", "../../sim/trace/testdata/joblog.csv", "--onprem-gpus", "8", "--sweep", "wait_target=0s,10m", "--seeds", "2")
	if err != nil {
		t.Fatal(err)
	}
	want := "trace joblog.csv: 3 jobs (rows skipped: 2 CPU-only jobs (0 GPUs), 2 jobs that never ran (duration 0 or empty)); pool v100: 8 on-prem GPUs; seeds 1 to 2\n"
	if first, _, _ := strings.Cut(out, "\n"); first+"\n" != want {
		t.Errorf("first line %q, want %q", first, want)
	}
}

// TestSimulatePAITask: Alibaba PAI's headerless task table backtests, its
// skipped tasks counted on the first line, its jobs' waits taken from the
// job table beside it; the job table itself is refused with the table to
// load.
func TestSimulatePAITask(t *testing.T) {
	out, err := runSimulateArgs(t, "--trace", "../../sim/trace/testdata/pai_task.csv", "--onprem-gpus", "8", "--policies", "spillway,per-job")
	if err != nil {
		t.Fatal(err)
	}
	want := "trace pai_task.csv: 3 jobs over 12h00m (5 rows skipped: 1 CPU-only task (plan_gpu 0 or empty), 2 tasks that never started (start_time 0 or empty, or no instances), " +
		"1 task still running when the trace was cut (end_time 0 or empty), 1 task with no run time (end_time not after start_time)); pool v100: 8 on-prem GPUs, wait target 10m00s"
	if first, _, _ := strings.Cut(out, "\n"); first != want {
		t.Errorf("first line\n got %q\nwant %q", first, want)
	}
	// The task at 50% of a GPU runs on a whole one, and a note says so.
	if note := "\nnote: 1 job of the trace's 3 asks for part of a GPU (GPU sharing); the simulator rents and places whole GPUs, so each runs on whole ones, rounded up: that adds 0.01 GPU-hours (0.0% of the 96 replayed) to what every policy serves.\n"; !strings.Contains(out, note) {
		t.Errorf("no note %q in\n%s", note, out)
	}
	// Beside its job table, the tasks take their jobs' waits, and a note says so.
	out, err = runSimulateArgs(t, "--trace", "../../sim/trace/testdata/pai/pai_task_table.csv", "--onprem-gpus", "8", "--policies", "onprem-only")
	if note := "\nnote: submits from pai_job_table.csv: 3 of the 5 tasks are submitted as long before their start as their job waited for its first task to start (a mean of 1m3s);"; err != nil || !strings.Contains(out, note) {
		t.Errorf("beside the job table: no note %q in\n%s (%v)", note, out, err)
	}
	jobs := filepath.Join(t.TempDir(), "pai_job_table.csv")
	if err := os.WriteFile(jobs, []byte("4b3f04b66a525d2df903eb16,8cb3bec23d14,58540f191766,Terminated,4550879.0,4551416.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runSimulateArgs(t, "--trace", jobs); err == nil || !strings.Contains(err.Error(), "PAI's job table, which holds no GPU counts: load pai_task_table.csv") {
		t.Errorf("job table: got %v, want the hint to load pai_task_table.csv", err)
	}
}

// TestSimulateSacct: a Slurm accounting log exported with sacct
// --parsable2 backtests as it is, its skipped rows on the first line.
func TestSimulateSacct(t *testing.T) {
	out, err := runSimulateArgs(t, "--trace", "../../sim/trace/testdata/sacct.txt", "--onprem-gpus", "8", "--policies", "spillway,per-job")
	if err != nil {
		t.Fatal(err)
	}
	want := "trace sacct.txt: 3 jobs over 26h02m (6 rows skipped: 2 job steps (a JobID with a dot, such as 123.batch: the job's own row holds the GPUs), 1 CPU-only job (0 GPUs), " +
		"2 jobs that never ran (Start Unknown or None, State PENDING, or no elapsed time), 1 job still running when the log was written (End Unknown)); pool v100: 8 on-prem GPUs, wait target 10m00s"
	if first, _, _ := strings.Cut(out, "\n"); first != want {
		t.Errorf("first line\n got %q\nwant %q", first, want)
	}
	// Both rent for the 16-GPU job only: 26 hours of two 8-GPU instances.
	costs := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 2 {
			costs[f[0]] = f[1]
		}
	}
	if costs["spillway"] != "1,282" || costs["per-job"] != "1,282" {
		t.Errorf("cloud $ %v, want 1,282 for spillway and per-job:\n%s", costs, out)
	}
}

// TestSimulateTraceFromStdin: --trace - reads the trace piped in,
// compressed or not, and names it stdin.
func TestSimulateTraceFromStdin(t *testing.T) {
	const jobs = "submit_s,duration_s,gpus\n0,3600,8\n60,7200,16\n120,600,1\n"
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(jobs))
	zw.Close()
	for _, tt := range []struct {
		name string
		in   []byte
		err  string
	}{
		{"csv", []byte(jobs), ""},
		{"gzip", gz.Bytes(), ""},
		{"empty", nil, "stdin:1: empty file (want a CSV header line)"},
	} {
		out, err := runWithStdin(context.Background(), bytes.NewReader(tt.in), "simulate", "--trace", "-", "--onprem-gpus", "8", "--policies", "spillway", "--json")
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want %q", tt.name, err, tt.err)
			}
			continue
		}
		var rep struct {
			Trace struct {
				Name string `json:"name"`
				Jobs int    `json:"jobs"`
			} `json:"trace"`
		}
		if err != nil || json.Unmarshal(out, &rep) != nil || rep.Trace.Name != "stdin" || rep.Trace.Jobs != 3 {
			t.Errorf("%s: error %v, trace %+v; want the 3 jobs piped in, named stdin", tt.name, err, rep.Trace)
		}
	}
}

// runWithStdin runs spillway with args under ctx, in as its standard
// input, returning what it wrote to standard output.
func runWithStdin(ctx context.Context, in io.Reader, args ...string) ([]byte, error) {
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(in)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.Bytes(), err
}

// endlessRows reads as a header and then the same job's row without end,
// calling stop once it has given more than a MiB: a generator piped to
// --trace - that the user stops with Ctrl-C.
type endlessRows struct {
	stop func()
	n    int
}

func (e *endlessRows) Read(p []byte) (int, error) {
	if e.n == 0 {
		e.n = copy(p, "submit_s,duration_s,gpus\n")
		return e.n, nil
	}
	if e.n += len(p); e.n > 1<<20 {
		e.stop()
	}
	for i := range p {
		p[i] = "1,10,1\n"[i%7]
	}
	return len(p) - len(p)%7, nil
}

// TestSimulateTraceReadStopsAtInterrupt: Ctrl-C (or SIGTERM) while a
// trace was read went unheeded until the read ended: a trace piped in
// that did not end was read to the job limit (3.2 million jobs, 16 s at
// --max-memory 8GiB), --trace /dev/zero for ever. The read stops and says
// so (here at --max-memory 2GiB, where the old read ends at 800,000 jobs
// with the job limit).
func TestSimulateTraceReadStopsAtInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := runWithStdin(ctx, &endlessRows{stop: cancel}, "simulate", "--trace", "-", "--onprem-gpus", "8", "--max-memory", "2GiB")
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "reading trace stdin stopped") {
		t.Fatalf("simulate stopped while its trace was read: %v, want it to say the read stopped (context.Canceled)", err)
	}
}

// TestSimulateOnPremPercentile: --onprem-gpus p50 sizes on-prem at the
// trace's p50 demand in whole nodes, as the acceptance backtests do, and
// the report says so.
func TestSimulateOnPremPercentile(t *testing.T) {
	tr, err := trace.Load("../../configs/traces/itp/cluster03.csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		arg  string
		want int
	}{{"p50", sim.BaselineGPUs(tr.Jobs, 8)}, {"P90", sim.OnPremAt(tr.Jobs, 0.9, 8)}} {
		out, err := runSimulateArgs(t, "--trace", "../../configs/traces/itp/cluster03.csv", "--onprem-gpus", tt.arg, "--policies", "onprem-only", "--json")
		if err != nil {
			t.Fatal(err)
		}
		var rep sim.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.OnPremGPUs != tt.want || len(rep.Notes) == 0 || !strings.HasPrefix(rep.Notes[0], "on-prem sized at the trace's "+tt.arg+" demand") {
			t.Errorf("--onprem-gpus %s: %d on-prem GPUs, notes %q; want %d and a note saying how", tt.arg, rep.OnPremGPUs, rep.Notes, tt.want)
		}
	}
	if want := 112; sim.BaselineGPUs(tr.Jobs, 8) != want {
		t.Errorf("cluster03's p50 on-prem is %d GPUs, want %d (docs/backtest.md)", sim.BaselineGPUs(tr.Jobs, 8), want)
	}
}

// TestSimulateHardBudgetToTheCent: a hard budget that policies fill to the
// cent is never billed past its amount, not even by float rounding: the
// policy's commitments and the bill sum the same prices in another order,
// and per-job's spend in one day read $300.0000000000003 of $300 (28
// February of itp/cluster02, the default trace). The trace is the 104 jobs
// cluster02 submits on 27 and 28 February (its 5,778 took 16 s of a loaded
// make test): without the budget's headroom, per-job's 27 February reads
// $300.00000000000006 on them.
func TestSimulateHardBudgetToTheCent(t *testing.T) {
	rep := budgetPeriodsOf(t, "--config", "testdata/budget_to_the_cent.yaml", "--trace", "testdata/cluster02_feb27.csv", "--policies", "per-job,karpenter")
	full := 0
	for _, r := range rep.Results {
		for _, p := range r.BudgetPeriods {
			if p.SpendUSD > p.BudgetUSD {
				t.Errorf("%s: the period from %s spent $%v of a hard $%v budget", r.Policy, p.Start, p.SpendUSD, p.BudgetUSD)
			}
			if p.SpendUSD > p.BudgetUSD-0.01 {
				full++
			}
		}
	}
	if full == 0 {
		t.Errorf("no period spent its budget to the cent: the case tests nothing")
	}
}

// budgetPeriods is what the budget tests read of simulate --json: each
// policy's spend per budget period.
type budgetPeriods struct {
	Results []struct {
		Policy        string `json:"policy"`
		BudgetPeriods []struct {
			Start     string  `json:"start"`
			BudgetUSD float64 `json:"budget_usd"`
			SpendUSD  float64 `json:"spend_usd"`
			Soft      bool    `json:"soft"`
		} `json:"budget_periods"`
	} `json:"results"`
}

// budgetPeriodsOf runs simulate with args and --json and reads its spend
// per budget period.
func budgetPeriodsOf(t *testing.T, args ...string) budgetPeriods {
	t.Helper()
	out, err := runSimulateArgs(t, append(args, "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	var rep budgetPeriods
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestSimulateSoftBudgetGoesOver: a soft budget really going over, end to
// end (testdata/soft_over.yaml): a job launched at 23:00 within the hour
// left runs 30 hours, never cut, and 2 January bills $240 of its $100. The
// JSON marks each period soft; the text says why it went OVER (a guard of
// budget_periods' soft and softOver, which unit tests alone showed).
func TestSimulateSoftBudgetGoesOver(t *testing.T) {
	args := []string{"--config", "testdata/soft_over.yaml", "--trace", "testdata/soft_over.csv", "--policies", "spillway,per-job"}
	rep := budgetPeriodsOf(t, args...)
	for _, r := range rep.Results {
		over := 0
		for _, p := range r.BudgetPeriods {
			if !p.Soft {
				t.Errorf("%s: the period from %s is not marked soft", r.Policy, p.Start)
			}
			if p.SpendUSD > p.BudgetUSD {
				over++
				if !strings.HasPrefix(p.Start, "2024-01-02") || p.SpendUSD != 240 {
					t.Errorf("%s: the period from %s spent $%v of $%v: want only 2 January over, at $240", r.Policy, p.Start, p.SpendUSD, p.BudgetUSD)
				}
			}
		}
		if over != 1 {
			t.Errorf("%s: %d periods over the soft budget, want 1: %+v", r.Policy, over, r.BudgetPeriods)
		}
	}
	text, err := runSimulateArgs(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"spillway: spend per budget period: 2024-01-01 $9.83 of $100.00 (10%); 2024-01-02 $240.00 of $100.00 (240% OVER);",
		"per-job: spend per budget period: 2024-01-01 $10.00 of $100.00 (10%); 2024-01-02 $240.00 of $100.00 (240% OVER);",
		"(0%). A soft budget (budget.mode: soft) goes OVER by design: it admits no launch beyond what remains, but never cuts running work for money, " +
			"so instances that run on past a period's end bill on into the next, over its amount if need be.\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the report does not say %q:\n%s", want, text)
		}
	}
}

// TestOnPremNote: the note of --onprem-gpus pNN counts its GPUs in words
// ("1 GPU", not "1 GPUs", which p0 of most traces printed).
func TestOnPremNote(t *testing.T) {
	pool := policy.Pool{OnPrem: policy.OnPrem{GPUsPerNode: 8}}
	for _, tc := range []struct {
		demand int
		want   string
	}{
		{1, "on-prem sized at the trace's p0 demand, 1 GPU in use if every job started on arrival, in whole 8-GPU nodes (at least one)"},
		{12, "on-prem sized at the trace's p0 demand, 12 GPUs in use if every job started on arrival, in whole 8-GPU nodes (at least one)"},
	} {
		o := onpremFlag{text: "p0", demand: tc.demand}
		if got := o.note(pool); got != tc.want {
			t.Errorf("note for %d GPUs = %q, want %q", tc.demand, got, tc.want)
		}
	}
}

// TestSimulateSweepSeeds: a sweep runs on seeds S, S+1, … from the seed a
// single run takes (--seed, else the config's simulate.cloud.seed): one
// seed without jitter draws the cloud that single run draws, and costs
// what it costs. A sweep ran on seeds 1…N whatever the config said, so a
// user who set seed 7 compared a seed-1 frontier with a seed-7 report
// (and --seed was refused with --sweep).
func TestSimulateSweepSeeds(t *testing.T) {
	base, err := os.ReadFile("../../configs/examples/backtest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	seeded := filepath.Join(t.TempDir(), "seeded.yaml")
	if err := os.WriteFile(seeded, append(base, "\nsimulate:\n  cloud:\n    seed: 7\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	single := func(args ...string) float64 {
		t.Helper()
		out, err := runSimulateArgs(t, append([]string{"--policies", "spillway", "--json"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		var rep struct {
			Results []struct {
				CloudCostUSD float64 `json:"cloud_cost_usd"`
			} `json:"results"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Results) != 1 {
			t.Fatalf("%v: %v in\n%.400s", args, err, out)
		}
		return rep.Results[0].CloudCostUSD
	}
	atSeed1, atSeed7 := single("--seed", "1"), single("--seed", "7")
	if atSeed1 == atSeed7 {
		t.Fatalf("seeds 1 and 7 both cost $%.2f: the test cannot tell them apart", atSeed1)
	}
	for _, tt := range []struct {
		name string
		args []string
		want float64
	}{
		{"no seed: 1", nil, atSeed1},
		{"the config's seed", []string{"--config", seeded}, atSeed7},
		{"--seed", []string{"--seed", "7"}, atSeed7},
		{"--seed over the config's", []string{"--config", seeded, "--seed", "1"}, atSeed1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runSimulateArgs(t, append([]string{"--policies", "spillway", "--sweep", "wait_target=10m", "--seeds", "2", "--jitter", "0s", "--json"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			var rep struct {
				FirstSeed uint64 `json:"first_seed"`
				Points    []struct {
					CostsUSD []float64 `json:"costs_usd"`
				} `json:"points"`
			}
			if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Points) != 1 || len(rep.Points[0].CostsUSD) != 2 {
				t.Fatalf("%v in\n%.400s", err, out)
			}
			first := map[float64]uint64{atSeed1: 1, atSeed7: 7}[tt.want]
			if got := rep.Points[0].CostsUSD[0]; got != tt.want || rep.FirstSeed != first {
				t.Errorf("the sweep's first seed costs $%.2f (first_seed %d): want $%.2f, a single run's at seed %d", got, rep.FirstSeed, tt.want, first)
			}
		})
	}
	// The table says which seeds it ran.
	out, err := runSimulateArgs(t, "--config", seeded, "--policies", "spillway", "--sweep", "wait_target=10m", "--seeds", "3")
	if err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(out, "\n"); !strings.HasSuffix(first, "; seeds 7 to 9") {
		t.Errorf("first line %q, want it to end with the seeds, 7 to 9", first)
	}
}
