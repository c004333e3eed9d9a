package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spillway-io/spillway/sim"
)

// simulateReport is what TestSimulateHostile reads of a --json report.
type simulateReport struct {
	Trace struct {
		Jobs int `json:"jobs"`
	} `json:"trace"`
	Notes   []string `json:"notes"`
	Results []struct {
		Policy          string  `json:"policy"`
		CloudCostUSD    float64 `json:"cloud_cost_usd"`
		JobsUnstarted   int     `json:"jobs_unstarted"`
		JobsNeverServed int     `json:"jobs_never_served"`
		JobsOnCloud     int     `json:"jobs_on_cloud"`
	} `json:"results"`
}

// TestSimulateHostile runs spillway simulate on traces and configs nobody
// writes on purpose: each either runs and prints a report whose JSON
// parses, or fails with one line naming the input and what is valid.
func TestSimulateHostile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const jobs = "submit_s,duration_s,gpus\n0,3600,8\n60,7200,16\n120,600,1\n"
	tr := write("jobs.csv", jobs)
	for _, tt := range []struct {
		name string
		args []string
		// jobs is the trace's job count when the run must succeed; err a
		// part of the one-line error otherwise.
		jobs int
		err  string
		// check looks at a successful report.
		check func(t *testing.T, rep simulateReport)
	}{
		{name: "CRLF, BOM, quoted header, blank lines, extra column", jobs: 3,
			args: []string{"--trace", write("sheet.csv", "\ufeff\"submit_s\",\"duration_s\",\"gpus\",\"user\"\r\n\r\n0,3600,8,a\r\n\"60\",\"7200\",\"16\",\"b, c\"\r\n\r\n120,600,1,\r\n")}},
		{name: "submits going backwards and duplicate rows", jobs: 4,
			args: []string{"--trace", write("back.csv", "submit_s,duration_s,gpus\n6000,3600,8\n60,7200,16\n60,7200,16\n0,10,1\n")}},
		{name: "a 10^7-second job", jobs: 2,
			args: []string{"--trace", write("long.csv", "submit_s,duration_s,gpus\n0,10000000,8\n60,7200,16\n")}},
		{name: "a job of the most GPUs a trace may hold is never served", jobs: 2,
			args: []string{"--trace", write("huge.csv", "submit_s,duration_s,gpus\n0,3600,1048576\n60,3600,8\n")},
			check: func(t *testing.T, rep simulateReport) {
				for _, r := range rep.Results {
					if r.JobsNeverServed != 1 || r.JobsUnstarted != 0 {
						t.Errorf("%s: %d never served, %d unstarted: want 1, 0", r.Policy, r.JobsNeverServed, r.JobsUnstarted)
					}
				}
			}},
		{name: "a job log of CPU jobs only", err: "trace cpu.csv has no jobs to replay: every row was skipped (2 CPU-only jobs (0 GPUs), 1 job that never ran (duration 0 or empty)): want at least one row of a GPU job that ran",
			args: []string{"--trace", write("cpu.csv", "job_id,gpu_num,submit_time,duration\n1,0,2020-06-09 18:41:01,60\n2,0,2020-06-09 18:41:02,60\n3,8,2020-06-09 18:41:03,0\n")}},
		{name: "a where that keeps no row", err: `vc.csv: "vc=vcz": --where keeps no row: it leaves out 2 rows (want values the rows hold: vc holds "vca", "vcb")`,
			args: []string{"--trace", write("vc.csv", "vc,gpu_num,submit_time,duration\nvca,0,2020-06-09 18:41:01,60\nvcb,8,2020-06-09 18:41:02,60\n"), "--where", "vc=vcz"}},
		{name: "a trace given as the config", err: "this is a job trace, not a config: give it as --trace ",
			args: []string{"--config", tr}},
		{name: "a config given as the trace", err: "this is a Spillway config, not a job trace: give it as --config ",
			args: []string{"--trace", filepath.Join("..", "..", "configs", "examples", "backtest.yaml")}},
		// The seed was taken and ignored: every seed printed the same report.
		{name: "a seed for the ideal cloud", err: "--seed 5: the ideal cloud models no stock-outs, boot spread, spot reclaims or quotas, and draws nothing: leave --seed out, or add --cloud realistic",
			args: []string{"--trace", tr, "--cloud", "ideal", "--seed", "5"}},
		{name: "a sweep's seeds past the largest", err: "seed 18446744073709551615 (--seed, else simulate.cloud.seed): a sweep's --seeds 3 runs from it past the largest seed, 18446744073709551615: want a seed from 0 to 18446744073709551613",
			args: []string{"--trace", tr, "--sweep", "wait_target=0s,5m", "--seed", "18446744073709551615"}},
		{name: "an empty trace (an unset variable)", err: "--trace is empty (an unset variable?): give a value, or leave the flag out for its default",
			args: []string{"--trace", ""}},
		{name: "an empty config", err: "--config is empty (an unset variable?)",
			args: []string{"--config", " ", "--trace", tr}},
		{name: "an empty pool", err: "--pool is empty (an unset variable?)",
			args: []string{"--pool", "", "--trace", tr}},
		{name: "a plot named as a PNG", err: "the chart is written as SVG; name the file with .svg",
			args: []string{"--trace", tr, "--plot", filepath.Join(dir, "chart.png")}},
		{name: "a plot into a directory that is not there", err: "its directory: stat ",
			args: []string{"--trace", tr, "--plot", filepath.Join(dir, "no", "chart.svg")}},
		// It was found out once the run was over, and its report lost.
		{name: "a plot where it cannot be written", err: "--plot /sys/kernel/timeline.svg: cannot be written: permission denied (want a file this user may create or overwrite)",
			args: []string{"--trace", tr, "--plot", "/sys/kernel/timeline.svg"}},
		{name: "a plot onto a directory", err: "a directory; name a file such as ",
			args: []string{"--trace", tr, "--plot", dir}},
		{name: "a header only", err: "trace header.csv has no jobs: want at least one row after its header",
			args: []string{"--trace", write("header.csv", "submit_s,duration_s,gpus\n")}},
		{name: "an empty Philly job log", err: "trace cluster_job_log has no jobs: want at least one job in its JSON array",
			args: []string{"--trace", write("cluster_job_log", " [\n]\n")}},
		{name: "a Philly job log cut short", err: `cluster_job_log2: job 1: the file ends inside the JSON array (want a JSON array of Philly jobs`,
			args: []string{"--trace", write("cluster_job_log2", `[{"jobid": "a", "submitted_time": "2017-10-07 01:11:39", "attempts": [`)}},
		{name: "a gzipped trace", jobs: 3, args: []string{"--trace", write("jobs.csv.gz", gzipText(t, jobs))}},
		{name: "a PAI task table of tasks that never started", err: "trace pai.csv has no jobs to replay: every row was skipped (2 tasks that never started (start_time 0 or empty, or no instances)): want at least one row of a GPU job that ran",
			args: []string{"--trace", write("pai.csv", "a,worker,1.0,Waiting,0.0,0.0,600.0,29.3,100.0,\nb,worker,1.0,Waiting,,,600.0,29.3,100.0,\n")}},
		{name: "a PAI task of more GPUs than a trace may hold", err: `pai2.csv:1: column inst_num: "2048.0": out of range (want inst_num × ⌈plan_gpu/100⌉ (80000.0) at most 1048576 GPUs)`,
			args: []string{"--trace", write("pai2.csv", "a,worker,2048.0,Terminated,10.0,20.0,600.0,29.3,80000.0,V100\n")}},
		// Unix milliseconds were refused ("a Unix time in milliseconds?
		// give seconds"); they are told apart from seconds by their size.
		{name: "submits in Unix milliseconds", jobs: 2,
			args: []string{"--trace", write("ms.csv", "submit_s,duration_s,gpus\n1591234567000,3600,8\n1591238167000,600,1\n")}},
		// Dates with the year last were "not a date-time"; one that reads
		// either way is read in the order a row shows, above or below it,
		// and where none does refused with both readings and the flag.
		{name: "US dates", jobs: 2,
			args: []string{"--trace", write("us.csv", "job_id,submit_time,duration,gpu_num\n1,11/29/2026 9:05,3600,8\n2,12/1/2026 9:05,600,1\n")}},
		{name: "ambiguous dates ordered by a row below", jobs: 2,
			args: []string{"--trace", write("us2.csv", "job_id,submit_time,duration,gpu_num\n2,12/1/2026 9:05,600,1\n1,11/29/2026 9:05,3600,8\n")}},
		{name: "ambiguous dates", err: `us4.csv:2: column submit_time: "12/1/2026 9:05": a date that reads as 12 January 2026 (day first) or 1 December 2026 (month first) (want the day and the month in one order: --trace-dates day-first (29/11/2026) or month-first (11/29/2026), or dates as YYYY-MM-DD; no date in the file has its day past 12, which would tell)`,
			args: []string{"--trace", write("us4.csv", "job_id,submit_time,duration,gpu_num\n2,12/1/2026 9:05,600,1\n1,11/2/2026 9:05,3600,8\n")}},
		{name: "ambiguous dates ordered by --trace-dates", jobs: 2,
			args: []string{"--trace", write("us3.csv", "job_id,submit_time,duration,gpu_num\n2,12/1/2026 9:05,600,1\n1,11/29/2026 9:05,3600,8\n"), "--trace-dates", "month-first"}},
		{name: "submits in Unix milliseconds, then seconds", err: `ms2.csv:3: column submit_s: "1591238167": a Unix time where the rows above give Unix times in milliseconds`,
			args: []string{"--trace", write("ms2.csv", "submit_s,duration_s,gpus\n1591234567000,3600,8\n1591238167,600,1\n")}},
		{name: "a serving pod list whose pods outlive the trace", jobs: 2,
			args: []string{"--trace", write("pods.csv", "instance_sn,gpu_request,creation_time,scheduled_time,deletion_time\na,8,,,\nb,1,NaN,NaN,3600.0\nc,0,10.0,10.0,7200.0\n")}},
		{name: "sacct's table output", err: "sacct's table output cuts long values: export with sacct --parsable2 (-P)",
			args: []string{"--trace", write("sacct.txt", "JobID           Submit    Elapsed  AllocTRES\n------------ ---------- -------- ----------\n")}},
		{name: "more GPUs than a trace may hold", err: `gpus.csv:2: column gpus: "1048577": out of range (want a whole number of GPUs from 1 to 1048576)`,
			args: []string{"--trace", write("gpus.csv", "submit_s,duration_s,gpus\n0,3600,1048577\n")}},
		{name: "ITP without num_gpu", err: `itp.csv:1: "job_id,submission_time,duration": unknown trace format (want a header with job_id,submission_time,duration,num_gpu (ITP)`,
			args: []string{"--trace", write("itp.csv", "job_id,submission_time,duration\n1,0,3600\n")}},
		{name: "Philly without num_gpus", err: `philly.csv:1: "timestamp,duration,cluster": unknown trace format`,
			args: []string{"--trace", write("philly.csv", "timestamp,duration,cluster\n2017-10-01 00:00:00,3600,a\n")}},
		{name: "Helios without pending_gpu_num", err: `helios.csv:1: "time,running_gpu_num": unknown trace format`,
			args: []string{"--trace", write("helios.csv", "time,running_gpu_num\n2020-01-01 00:00:00,5\n")}},
		{name: "a column twice", err: `dup.csv:1: column gpus: "submit_s,duration_s,gpus,gpus": the column appears more than once`,
			args: []string{"--trace", write("dup.csv", "submit_s,duration_s,gpus,gpus\n0,3600,8,4\n")}},
		{name: "lone CR line ends", err: "its lines end in a lone carriage return (CR), so the file reads as one line (want lines that end in LF or CRLF: tr",
			args: []string{"--trace", write("cr.csv", "submit_s,duration_s,gpus\r0,3600,8\r")}},
		{name: "a cloud-only pool (no onprem section)", jobs: 3,
			args: []string{"--config", "testdata/hostile/cloud-only.yaml", "--trace", tr},
			check: func(t *testing.T, rep simulateReport) {
				for _, r := range rep.Results {
					if want := map[bool]int{true: 0, false: 3}[r.Policy == "onprem-only"]; r.JobsOnCloud != want {
						t.Errorf("%s: %d jobs on cloud, want %d", r.Policy, r.JobsOnCloud, want)
					}
				}
			}},
		{name: "interval 1ns", err: `policy spillway: sim: pool "fast": interval 1ns is shorter than the simulator's 1s: want an interval of 1s or more`,
			args: []string{"--config", "testdata/hostile/interval-1ns.yaml", "--trace", tr}},
		{name: "a policy twice", err: "--policies: spillway is listed twice (want each of spillway, onprem-only, threshold, per-job, karpenter at most once)",
			args: []string{"--trace", tr, "--policies", "spillway,per-job, spillway"}},
		// jobs.csv's 16-GPU job (2 h) outlasts every instance and exceeds
		// on-prem; its 8-GPU job (1 h) outlasts them too but fits on-prem.
		{name: "instances that live 15 minutes", jobs: 3,
			args: []string{"--config", "testdata/hostile/short-lived.yaml", "--trace", tr},
			check: func(t *testing.T, rep simulateReport) {
				if len(rep.Notes) != 1 || !strings.HasPrefix(rep.Notes[0], "2 jobs of the trace's 3 ") || !strings.Contains(rep.Notes[0], "the one larger than its 8 GPUs can run nowhere") {
					t.Errorf("notes %q: want one on the 2 jobs that outlast the instances, one of them larger than on-prem", rep.Notes)
				}
				for _, r := range rep.Results {
					if r.JobsNeverServed != 1 || r.JobsUnstarted != 0 {
						t.Errorf("%s: %d never served, %d unstarted: want 1, 0", r.Policy, r.JobsNeverServed, r.JobsUnstarted)
					}
				}
			}},
		{name: "every knob at its upper bound", jobs: 3,
			args: []string{"--config", "testdata/hostile/knobs-high.yaml", "--trace", tr}},
		{name: "every knob at its lower bound", jobs: 3,
			args: []string{"--config", "testdata/hostile/knobs-low.yaml", "--trace", tr, "--policies", "spillway,onprem-only"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runSimulateArgs(t, append(tt.args, "--json")...)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("error %v: want one line with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var rep simulateReport
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("%v in\n%s", err, out)
			}
			if rep.Trace.Jobs != tt.jobs || len(rep.Results) == 0 {
				t.Errorf("%d jobs, %d results: want %d jobs", rep.Trace.Jobs, len(rep.Results), tt.jobs)
			}
			if tt.check != nil {
				tt.check(t, rep)
			}
		})
	}
}

// TestSimulateSweepNotes: a sweep carries the notes a single run prints,
// on its first lines and in --json.
func TestSimulateSweepNotes(t *testing.T) {
	tr := filepath.Join(t.TempDir(), "jobs.csv")
	if err := os.WriteFile(tr, []byte("submit_s,duration_s,gpus\n0,3600,8\n60,7200,16\n120,600,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", "testdata/hostile/short-lived.yaml", "--trace", tr, "--sweep", "wait_target=0s,5m", "--seeds", "2"}
	out, err := runSimulateArgs(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.SplitN(out, "\n", 3); len(lines) < 2 || !strings.HasPrefix(lines[1], "note: 2 jobs of the trace's 3 ") {
		t.Errorf("want the note on the second line:\n%s", out)
	}
	out, err = runSimulateArgs(t, append(args, "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Notes []string `json:"notes"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Notes) != 1 {
		t.Errorf("--json notes %q (%v): want the one note", rep.Notes, err)
	}
}

// TestSimulateSweepMemoryLimit: a sweep is held to --max-memory as a
// single run is. A point that rents without bound (5,000 jobs of 8 GPUs
// at threshold.target=0.1, its least, on a pool with no limits: a fleet
// of 50,000 instances) ends the sweep with the limit named and how to
// raise it. A sweep ran
// without the bound: at threshold.target=1e-9 (refused now) it held 10 GB
// after three minutes and went on growing, where the same run without
// --sweep stopped at once.
func TestSimulateSweepMemoryLimit(t *testing.T) {
	tr, cfg := manyJobsAndNoLimits(t, "")
	args := []string{"--config", cfg, "--trace", tr, "--policies", "threshold", "--max-memory", "64MiB"}
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"single run", []string{"--baseline-opt", "threshold.target=0.1"}},
		{"sweep", []string{"--sweep", "threshold.target=0.8,0.1", "--seeds", "1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runSimulateArgs(t, append(args, tt.args...)...)
			var rf *runFailure
			if !errors.Is(err, sim.ErrTooManyInstances) || !errors.As(err, &rf) || !strings.Contains(err.Error(), "--max-memory 64MiB holds ") ||
				!strings.Contains(err.Error(), "raise --max-memory") {
				t.Errorf("%v: want the run stopped (exit 1) for more instances than --max-memory 64MiB holds, and how to raise it", err)
			}
		})
	}
}

// gzipText is s gzipped.
func gzipText(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestSimulateExitStatus runs the binary: bad input (a flag, the config,
// the trace) exits 2, as a bad config does for the server; a backtest that
// ran but whose report could not be written exits 1. Bad input exited 1.
func TestSimulateExitStatus(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "jobs.csv")
	bad := filepath.Join(dir, "bad.csv")
	for p, body := range map[string]string{good: "submit_s,duration_s,gpus\n0,60,1\n", bad: "submit_s,duration_s,gpus\n0,60,two\n"} {
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := []string{"--trace", good, "--policies", "onprem-only"}
	for _, tt := range []struct {
		name   string
		args   []string
		status int
		stderr string
		full   bool // standard output is /dev/full
	}{
		{"an unknown flag", []string{"--nope"}, 2, "spillway: unknown flag: --nope", false},
		{"a flag's bad value", []string{"--onprem-gpus", "x"}, 2, `spillway: --onprem-gpus "x": want a whole number of GPUs`, false},
		{"an argument", []string{"jobs.csv"}, 2, `spillway: simulate takes no arguments, got "jobs.csv"`, false},
		{"an empty flag", []string{"--trace", ""}, 2, "spillway: --trace is empty", false},
		{"a config not there", []string{"--config", filepath.Join(dir, "none.yaml")}, 2, "spillway: " + filepath.Join(dir, "none.yaml") + ": no such config file: ", false},
		{"a bad trace row", []string{"--trace", bad}, 2, `spillway: bad.csv:2: column gpus: "two": not a whole number`, false},
		{"an unknown policy", []string{"--trace", good, "--policies", "fifo"}, 2, `spillway: --policies: unknown policy "fifo"`, false},
		{"a plot not written", append(run, "--plot", "/dev/full"), 1, "spillway: --plot: write /dev/full: no space left on device", false},
		{"a report not printed", run, 1, "spillway: write /dev/stdout: no space left on device", true},
		{"a sweep not printed", []string{"--trace", good, "--policies", "spillway", "--sweep", "wait_target=0s", "--seeds", "1", "--cloud", "ideal"}, 1, "spillway: write /dev/stdout: no space left on device", true},
		{"a run", run, 0, "simulated 1 job × 1 policy in ", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], append([]string{"simulate"}, tt.args...)...)
			cmd.Env = append(os.Environ(), haChildEnv+"=1")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if tt.full {
				full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer full.Close()
				cmd.Stdout = full
			}
			err := cmd.Run()
			status := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				status = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if status != tt.status || !strings.HasPrefix(stderr.String(), tt.stderr) || strings.Count(stderr.String(), "\n") != 1 {
				t.Errorf("exit status %d, stderr %q: want %d and one line %q…", status, stderr.String(), tt.status, tt.stderr)
			}
		})
	}
}

// TestPlotProbeLeavesNothing: the --plot probe, which makes the file to
// see that it can, leaves the folder as it found it: a file not there is
// gone again, one there keeps its bytes, and a link to a file not there
// yet stays a link, its target not made (the probe removed the link and
// left an empty target behind).
func TestPlotProbeLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	absent := filepath.Join(dir, "absent.svg")
	present := filepath.Join(dir, "present.svg")
	if err := os.WriteFile(present, []byte("<svg/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	link, target := filepath.Join(dir, "link.svg"), filepath.Join(dir, "target.svg")
	if err := os.Symlink("target.svg", link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{absent, present, link} {
		if err := checkPlotPath(p); err != nil {
			t.Fatalf("checkPlotPath(%s): %v", p, err)
		}
	}
	if _, err := os.Lstat(absent); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s: %v, want it not there", absent, err)
	}
	if b, err := os.ReadFile(present); err != nil || string(b) != "<svg/>" {
		t.Errorf("%s holds %q (%v), want <svg/>", present, b, err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("%s: %v, want the link left as it was", link, err)
	}
	if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s: %v, want it not made", target, err)
	}
}

// TestSimulateRegistrationTTLOutlastsBoots: a karpenter.registration_ttl
// not longer than an offering's boot is refused, naming the knob and the
// boot, as the server's join.timeout is, from the config, --baseline-opt
// or --sweep. It was accepted, and every Karpenter launch timed out: 3.2
// million launches in 16 s on a bundled trace.
func TestSimulateRegistrationTTLOutlastsBoots(t *testing.T) {
	tr, short := twoJobsAndNoLimits(t, "simulate:\n  baselines:\n    karpenter: {registration_ttl: 4m}\n")
	const want, boot = "registration_ttl %s is not longer than the boot of ", "offerings[0] (x8, 4m0s): Karpenter ends a node that has not registered within it, so every launch of it would time out; set it well above the slowest boot"
	args := []string{"--trace", tr, "--policies", "karpenter", "--onprem-gpus", "0"}
	for _, tt := range []struct {
		name string
		args []string
		ttl  string // "" for accepted
	}{
		{"--baseline-opt below the boot", []string{"--config", "testdata/hostile/no-limits.yaml", "--baseline-opt", "karpenter.registration_ttl=1m"}, "1m0s"},
		{"--baseline-opt at the boot", []string{"--config", "testdata/hostile/no-limits.yaml", "--baseline-opt", "karpenter.registration_ttl=4m"}, "4m0s"},
		{"config", []string{"--config", short}, "4m0s"},
		{"sweep", []string{"--config", "testdata/hostile/no-limits.yaml", "--sweep", "karpenter.registration_ttl=20m,2m", "--seeds", "1"}, "2m0s"},
		{"--baseline-opt above the boot", []string{"--config", "testdata/hostile/no-limits.yaml", "--baseline-opt", "karpenter.registration_ttl=5m"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runSimulateArgs(t, append(args, tt.args...)...)
			if tt.ttl == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf(want, tt.ttl)) || !strings.Contains(err.Error(), boot) {
				t.Errorf("%v: want it refused with %q…%q", err, fmt.Sprintf(want, tt.ttl), boot)
			}
		})
	}
}

// TestSimulateLimitCostsShareMemory: a backtest's runs without each
// binding limit (to report what the limit cost) go at once and share the
// policy's part of --max-memory, as a sweep's runs share theirs. Each had
// the whole of it: with max_cost_per_hour and a budget binding, the two
// runs that rent without limit (5,000 jobs of 8 GPUs at
// threshold.target=0.1) could hold twice the instances --max-memory
// allows.
func TestSimulateLimitCostsShareMemory(t *testing.T) {
	tr, cfg := manyJobsAndNoLimits(t, "    limits: {max_cost_per_hour: 800000, budget: {amount: 800000, period: month}}\n")
	const limit = 64 << 20
	_, perPolicy := sim.Limits(limit, 1)
	out, err := runSimulateArgs(t, "--config", cfg, "--trace", tr, "--policies", "threshold", "--max-memory", "64MiB", "--baseline-opt", "threshold.target=0.1", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Results []struct {
			WithoutLimit map[string]struct {
				Error string `json:"error"`
			} `json:"without_limit"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Results) != 1 || len(rep.Results[0].WithoutLimit) != 2 {
		t.Fatalf("%v: want the runs without max_cost_per_hour and without the budget in\n%s", err, out)
	}
	for l, lc := range rep.Results[0].WithoutLimit {
		if want := fmt.Sprintf("(%d)", perPolicy/2); !strings.Contains(lc.Error, sim.ErrTooManyInstances.Error()) || !strings.HasSuffix(lc.Error, want) {
			t.Errorf("without %s: %q, want it stopped at %s instances, half the policy's %d, its share with the other run", l, lc.Error, want, perPolicy)
		}
	}
}

// twoJobsAndNoLimits writes a trace of two 8-GPU one-hour jobs and
// testdata/hostile/no-limits.yaml with extra appended, for the tests of
// what simulate refuses or bounds.
func twoJobsAndNoLimits(t *testing.T, extra string) (trace, config string) {
	t.Helper()
	return jobsAndNoLimits(t, "0,3600,8\n0,3600,8\n", extra)
}

// manyJobsAndNoLimits is twoJobsAndNoLimits with 5,000 jobs: at
// threshold.target=0.1 the threshold baseline sizes a fleet of 400,000
// GPUs (50,000 instances) for them, which a pool without limits rents
// until --max-memory stops it.
func manyJobsAndNoLimits(t *testing.T, extra string) (trace, config string) {
	t.Helper()
	return jobsAndNoLimits(t, strings.Repeat("0,3600,8\n", 5000), extra)
}

// jobsAndNoLimits writes a trace of rows (submit_s,duration_s,gpus) and
// testdata/hostile/no-limits.yaml with extra appended.
func jobsAndNoLimits(t *testing.T, rows, extra string) (trace, config string) {
	t.Helper()
	dir := t.TempDir()
	trace, config = filepath.Join(dir, "jobs.csv"), filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(trace, []byte("submit_s,duration_s,gpus\n"+rows), 0o644); err != nil {
		t.Fatal(err)
	}
	base, err := os.ReadFile("testdata/hostile/no-limits.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config, append(base, extra...), 0o644); err != nil {
		t.Fatal(err)
	}
	return trace, config
}

// TestSimulateThresholdTargetRange: a threshold.target below 0.1 is
// refused from the config, --baseline-opt or --sweep, naming the key and
// the range. It was accepted down to anything above 0: at 1e-9 the
// baseline sized a fleet a billion times its demand, renting without
// limit on a pool without max_gpus.
func TestSimulateThresholdTargetRange(t *testing.T) {
	tr, low := twoJobsAndNoLimits(t, "simulate:\n  baselines:\n    threshold: {target: 1e-9}\n")
	_, least := twoJobsAndNoLimits(t, "simulate:\n  baselines:\n    threshold: {target: 0.1}\n")
	const rng = "from 0.1 to 1 (e.g. 0.8; below 0.1 it rents more than 10 GPUs for each one in use)"
	args := []string{"--trace", tr, "--policies", "threshold", "--onprem-gpus", "0"}
	for _, tt := range []struct {
		name string
		args []string
		want string // "" for accepted
	}{
		{"config", []string{"--config", low}, "simulate.baselines.threshold.target: 0.000000001 is out of range: want the GPU utilisation the threshold baseline sizes for, " + rng},
		{"--baseline-opt", []string{"--config", "testdata/hostile/no-limits.yaml", "--baseline-opt", "threshold.target=1e-9"}, `baseline option threshold.target="1e-9": want the GPU utilisation the threshold baseline sizes for, ` + rng},
		{"sweep", []string{"--config", "testdata/hostile/no-limits.yaml", "--sweep", "threshold.target=0.8,0.05", "--seeds", "1"}, `threshold.target="0.05": want the GPU utilisation the threshold baseline sizes for, ` + rng},
		{"config at the least", []string{"--config", least}, ""},
		{"--baseline-opt at the least", []string{"--config", "testdata/hostile/no-limits.yaml", "--baseline-opt", "threshold.target=0.1"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runSimulateArgs(t, append(args, tt.args...)...)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("%v: want it refused with %q", err, tt.want)
			}
		})
	}
}

// TestSimulateDefaultTimeoutsOutlastBoots: with an offering that boots in
// 20 minutes, karpenter's default registration TTL (15m) is refused when
// karpenter runs, naming the default, the offering, its boot and what to
// set; set above the boot, or with karpenter not run, the backtest runs.
// It ran: every karpenter launch timed out at 15 minutes and was launched
// again while the jobs waited.
func TestSimulateDefaultTimeoutsOutlastBoots(t *testing.T) {
	tr, cfg := twoJobsAndNoLimits(t, "")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, bytes.Replace(b, []byte("boot: 4m"), []byte("boot: 20m"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	const want = "karpenter.registration_ttl 15m0s (the default) is not longer than the boot of offerings[0] (x8, 20m0s): Karpenter ends a node that has not registered within it, so every launch of it would time out; set karpenter.registration_ttl well above the slowest boot (e.g. 1h0m0s, three boots), or leave karpenter out of the policies"
	args := []string{"--config", cfg, "--trace", tr, "--onprem-gpus", "0"}
	for _, tt := range []struct {
		name string
		args []string
		want string // "" for accepted
	}{
		{"every policy", nil, want},
		{"karpenter", []string{"--policies", "karpenter"}, want},
		{"sweep", []string{"--sweep", "wait_target=0s,5m", "--seeds", "1"}, want},
		{"karpenter set above the boot", []string{"--policies", "karpenter", "--baseline-opt", "karpenter.registration_ttl=1h"}, ""},
		{"without karpenter", []string{"--policies", "spillway,per-job,threshold"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runSimulateArgs(t, append(args, tt.args...)...)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("%v: want it refused with %q", err, tt.want)
			}
		})
	}
}
