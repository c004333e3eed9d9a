package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestSimulateSweepSays: a sweep says on stderr, before it starts, how
// many points, seeds and runs it makes, and after its first point's runs
// how long the rest will take; a sweep of more runs than one may take
// (hours to days on a months-long trace) is refused before it starts,
// naming --seeds and the range these points allow. A sweep of 34 points
// over 100 seeds started its 3,400 runs without a word.
func TestSimulateSweepSays(t *testing.T) {
	values := "0s"
	for i := 1; i <= 30; i++ {
		values += fmt.Sprintf(",%dm", i)
	}
	for _, tt := range []struct {
		name   string
		args   []string
		err    string         // the refusal, "" for none
		stderr *regexp.Regexp // what stderr says when it runs
	}{
		{name: "small", args: []string{"--trace", "../../sim/testdata/burst.csv", "--sweep", "wait_target=0s,5m", "--seeds", "2", "--json"},
			stderr: regexp.MustCompile(`^sweeping 5 points × 2 seeds = 10 runs, [0-9]+ at once\nthe first 2 runs took [0-9.]+(µs|ms|s): about [0-9.]+(µs|ms|s|m|h)+ more for the other 8\n$`)},
		{name: "absurd", args: []string{"--trace", "../../sim/testdata/burst.csv", "--sweep", "wait_target=" + values, "--seeds", "100"},
			err: "--seeds 100: a sweep of 34 points (spillway × 31 wait_target values, threshold, per-job, karpenter) runs 34 × 100 = 3400 simulations, more than --max-runs 1000 (hours to days on a long trace): want --seeds 1 to 29 for these points, sweep fewer values, or raise --max-runs (at most 100000)"},
		{name: "raised", args: []string{"--trace", "../../sim/testdata/burst.csv", "--sweep", "wait_target=0s,5m", "--seeds", "2", "--max-runs", "9", "--json"},
			err: "--seeds 2: a sweep of 5 points (spillway × 2 wait_target values, threshold, per-job, karpenter) runs 5 × 2 = 10 simulations, more than --max-runs 9 (hours to days on a long trace): want --seeds 1 to 1 for these points, sweep fewer values, or raise --max-runs (at most 100000)"},
		// Five points and --max-runs 4: even one seed is too many, and
		// "--seeds 1 to 1" sent the user to a value refused again.
		{name: "more points than runs", args: []string{"--trace", "../../sim/testdata/burst.csv", "--sweep", "wait_target=0s,5m", "--seeds", "1", "--max-runs", "4", "--json"},
			err: "--seeds 1: a sweep of 5 points (spillway × 2 wait_target values, threshold, per-job, karpenter) runs 5 × 1 = 5 simulations, more than --max-runs 4 (hours to days on a long trace): want fewer points (sweep fewer values), or raise --max-runs (at most 100000)"},
		{name: "allowed", args: []string{"--trace", "../../sim/testdata/burst.csv", "--sweep", "wait_target=0s,5m", "--seeds", "2", "--max-runs", "10", "--json"},
			stderr: regexp.MustCompile(`^sweeping 5 points × 2 seeds = 10 runs, [0-9]+ at once\n`)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := newRootCmd()
			var out, errOut bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&errOut)
			root.SetArgs(append([]string{"simulate"}, tt.args...))
			err := root.ExecuteContext(context.Background())
			if tt.err != "" {
				var ue *usageError
				if !errors.As(err, &ue) || err.Error() != tt.err {
					t.Fatalf("got %v, want the usage error %q", err, tt.err)
				}
				if errOut.Len() > 0 {
					t.Errorf("stderr %q: a refused sweep said it was sweeping", errOut.String())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.stderr.MatchString(errOut.String()) {
				t.Errorf("stderr %q, want %s", errOut.String(), tt.stderr)
			}
		})
	}
}

// TestSimulateSweepCountsJobs: a sweep's bound counts the jobs it replays
// (the trace's jobs × its runs), not its runs alone: --max-runs let 1000
// runs of a million-job trace start without a word. Past --max-job-runs
// (1e8 by default) it is refused before it starts, naming both numbers,
// the --seeds these points allow and the flag to raise.
func TestSimulateSweepCountsJobs(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, jobs int) string {
		var b bytes.Buffer
		b.WriteString("submit_s,duration_s,gpus\n")
		for i := range jobs {
			fmt.Fprintf(&b, "%d,%d,%d\n", i*30, 600+i%7*60, 1+i%8)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	small, large := write("small.csv", 2000), write("large.csv", 200_001)
	for _, tt := range []struct {
		name string
		args []string
		err  string // the refusal, "" for none
	}{
		{"the default bound", []string{"--trace", large, "--sweep", "wait_target=0s,5m", "--seeds", "100"},
			"--sweep: 5 points × 100 seeds = 500 runs of a trace of 200001 jobs replay 100000500 jobs in all, more than --max-job-runs 100000000 (hours to days): want --seeds 1 to 99 for these points, sweep fewer values or a part of the trace (--where), or raise --max-job-runs (at most 1000000000000)"},
		{"no seeds suffice", []string{"--trace", small, "--sweep", "wait_target=0s,5m", "--seeds", "2", "--max-job-runs", "9999"},
			"--sweep: 5 points × 2 seeds = 10 runs of a trace of 2000 jobs replay 20000 jobs in all, more than --max-job-runs 9999 (hours to days): want sweep fewer values or a part of the trace (--where), or raise --max-job-runs (at most 1000000000000)"},
		{"at the bound", []string{"--trace", small, "--sweep", "wait_target=0s,5m", "--seeds", "2", "--max-job-runs", "20000", "--cloud", "ideal", "--jitter", "1m", "--json"}, ""},
		{"out of range", []string{"--trace", small, "--sweep", "wait_target=0s", "--max-job-runs", "0"}, "--max-job-runs 0: want 1 to 1000000000000"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := newRootCmd()
			var out, errOut bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&errOut)
			root.SetArgs(append([]string{"simulate"}, tt.args...))
			err := root.ExecuteContext(context.Background())
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ue *usageError
			if !errors.As(err, &ue) || err.Error() != tt.err {
				t.Fatalf("got %v\nwant the usage error %q", err, tt.err)
			}
			if errOut.Len() > 0 {
				t.Errorf("stderr %q: a refused sweep said it was sweeping", errOut.String())
			}
		})
	}
}
