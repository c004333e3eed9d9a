package sim

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// bundledTraces are the traces under configs/traces that the acceptance
// backtest runs on.
var bundledTraces = []string{
	"itp/cluster01.csv", "itp/cluster02.csv", "itp/cluster03.csv",
	"itp/cluster04.csv", "itp/cluster05.csv", "philly/philly.csv",
}

// replayedTraces are the bundled traces the acceptance tests replay whole:
// all of them, or under -race (race_test.go) the two smallest, as philly
// alone takes minutes there.
func replayedTraces() []string {
	if raceBuild {
		return bundledTraces[:2]
	}
	return bundledTraces
}

func loadBundled(t testing.TB, name string) *trace.Trace {
	t.Helper()
	tr, err := trace.Load(filepath.Join("..", "configs", "traces", name))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func backtestPool(t testing.TB) policy.Pool {
	t.Helper()
	cfg, err := config.Load(filepath.Join("..", "configs", "examples", "backtest.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Pools[0].Policy
}

// readmeDemand reads the p50/p90/max demand table of configs/traces/README.md.
func readmeDemand(t *testing.T) map[string][3]int {
	f, err := os.Open(filepath.Join("..", "configs", "traces", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][3]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cells := strings.Split(strings.Trim(sc.Text(), "| "), "|")
		if len(cells) != 4 {
			continue
		}
		var v [3]int
		ok := true
		for i := range v {
			n, err := strconv.Atoi(strings.ReplaceAll(strings.TrimSpace(cells[i+1]), ",", ""))
			ok = ok && err == nil
			v[i] = n
		}
		if ok {
			out[strings.TrimSpace(cells[0])+".csv"] = v
		}
	}
	return out
}

// TestDemandPercentileMatchesREADME checks the computed demand of every
// bundled trace against the table published with the traces.
func TestDemandPercentileMatchesREADME(t *testing.T) {
	table := readmeDemand(t)
	for _, name := range bundledTraces {
		want, ok := table[name]
		if !ok {
			t.Errorf("%s: not in the README's demand table", name)
			continue
		}
		tr := loadBundled(t, name)
		got := [3]int{DemandPercentile(tr.Jobs, 0.5), DemandPercentile(tr.Jobs, 0.9), DemandPercentile(tr.Jobs, 1)}
		if got != want {
			t.Errorf("%s: p50/p90/max demand %v, README says %v", name, got, want)
		}
	}
}

func TestDemandPercentileHand(t *testing.T) {
	// 0-100 s: 4 GPUs; 100-150: 6; 150-400: 2. Time-weighted: 250 s at 2,
	// 100 at 4, 50 at 6 of 400 s.
	jobs := []trace.Job{job(0, 100, 4), job(100, 50, 4), job(100, 300, 2)}
	for q, want := range map[float64]int{0: 2, 0.5: 2, 0.7: 4, 0.8: 4, 0.9: 6, 1: 6} {
		if got := DemandPercentile(jobs, q); got != want {
			t.Errorf("q=%v: got %d, want %d", q, got, want)
		}
	}
	if got := BaselineGPUs(jobs, 8); got != 8 {
		t.Errorf("BaselineGPUs: got %d, want one 8-GPU node", got)
	}
	if got := BaselineGPUs(nil, 8); got != 8 {
		t.Errorf("BaselineGPUs of no jobs: got %d, want one node", got)
	}
	for _, tt := range []struct {
		q          float64
		node, want int
	}{{0.9, 4, 8}, {0.9, 8, 8}, {0.7, 3, 6}, {1, 0, 8}, {0, 1, 2}} {
		if got := OnPremAt(jobs, tt.q, tt.node); got != tt.want {
			t.Errorf("OnPremAt(q=%v, %d-GPU nodes) = %d, want %d", tt.q, tt.node, got, tt.want)
		}
	}
}

// backtestAtP50 runs every policy on the bundled trace name with base's
// offerings and rules, on-prem sized at the trace's p50 demand in whole
// 8-GPU nodes, on the default realistic cloud (seed 1).
func backtestAtP50(t *testing.T, base policy.Pool, name string) (Report, policy.Pool) {
	t.Helper()
	tr := loadBundled(t, name)
	pool := WithOnPremGPUs(base, BaselineGPUs(tr.Jobs, 8))
	pols := allPolicies()
	rep, err := Backtest{Pool: pool, Trace: tr, Policies: pols, Cloud: DefaultCloud(1)}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep, pool
}

// TestBacktestAcceptance runs every policy on every bundled trace with
// configs/examples/backtest.yaml, the default realistic cloud (seed 1) and
// on-prem sized at the trace's p50 demand in whole 8-GPU nodes.
//
// It always checks what must hold for any policy: every job starts (the
// limits are far above the traces' peaks), spillway kills no job (a
// baseline that drains busy instances may meet drain_timeout), efficiency is
// at most 1, paid GPU-hours cover used ones, and onprem-only costs nothing.
//
// It also enforces part of the acceptance criterion of the backtest: the
// spillway policy meets its wait target at p95 (it plans with the boot
// times it observes, as the server does) and reaches efficiency ≥ 0.85.
// Whether it costs less than per-job and whether a baseline dominates it
// are logged (ACCEPTANCE NOT MET) rather than enforced: on one seed they
// differ by less than the spread between seeds, often either way, and the
// model is not to be bent to pass.
func TestBacktestAcceptance(t *testing.T) {
	base := backtestPool(t)
	for _, name := range replayedTraces() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rep, pool := backtestAtP50(t, base, name)
			byName := map[string]Result{}
			for _, r := range rep.Results {
				byName[r.Policy] = r
				t.Logf("%-11s on %4d GPUs: cost $%9.0f  efficiency %.3f  wait p95 %6.0fs  p99 %6.0fs  on cloud %5d  launches %5d",
					r.Policy, rep.OnPremGPUs, r.CloudCostUSD, r.Efficiency, r.WaitP95S, r.WaitP99S, r.JobsOnCloud, r.Launches)
				if r.Policy != PolicyOnPremOnly && r.JobsUnstarted > 0 {
					t.Errorf("%s: %d jobs never started", r.Policy, r.JobsUnstarted)
				}
				if r.JobsKilled > 0 && r.Policy == PolicySpillway {
					t.Errorf("%s: %d job runs killed by a terminate before they finished", r.Policy, r.JobsKilled)
				}
				if r.JobsKilled > 0 {
					// A baseline that drains busy instances meets the pool's
					// drain_timeout like anyone would.
					t.Logf("%s: %d job runs killed by drain_timeout, %.0f GPU-h lost", r.Policy, r.JobsKilled, r.GPUHoursLost)
				}
				if r.Efficiency > 1+1e-9 || r.UsedGPUHours > r.PaidGPUHours+1e-6 {
					t.Errorf("%s: efficiency %.3f, used %.1f GPU-h of %.1f paid: more work than was paid for",
						r.Policy, r.Efficiency, r.UsedGPUHours, r.PaidGPUHours)
				}
			}
			if oo := byName[PolicyOnPremOnly]; oo.CloudCostUSD != 0 || oo.Launches != 0 || oo.JobsOnCloud != 0 {
				t.Errorf("onprem-only rented something: %+v", oo)
			}
			sp := byName[PolicySpillway]
			if target := pool.WaitTarget.D().Seconds(); sp.WaitP95S > target {
				t.Errorf("spillway wait p95 %.0fs exceeds the wait target %.0fs", sp.WaitP95S, target)
			}
			if sp.Efficiency < 0.85 {
				t.Errorf("spillway efficiency %.3f < 0.85", sp.Efficiency)
			}
			// The cost target (spillway cheaper than every baseline
			// at equal p95, outside the seed spread) is not met on every
			// trace with the realistic spanning rule: the comparison is
			// reported, not enforced, rather than bend the model or the
			// baselines to pass it.
			notMet, bad := acceptanceLines(rep.Results)
			for _, l := range notMet {
				t.Log(l)
			}
			for _, b := range bad {
				t.Error(b)
			}
		})
	}
}

// acceptanceLines returns what TestBacktestAcceptance and TestBacktestH100
// log of spillway against the baselines (ACCEPTANCE NOT MET: dearer than
// per-job, or dominated), and where the report's dominated_by disagrees
// with the figures. Dominated is the report's rule (markDominated), not
// another: cheaper and no slower at p95, or as cheap and faster, leaving no
// more jobs unstarted or never served. (The log once said a policy
// dominated spillway only when strictly cheaper, and so disagreed with the
// report's dominated_by on a tie in cost.)
func acceptanceLines(rs []Result) (notMet, bad []string) {
	var sp Result
	for _, r := range rs {
		if r.Policy == PolicySpillway {
			sp = r
		}
	}
	for _, r := range rs {
		if r.Policy == PolicyPerJob && sp.CloudCostUSD >= r.CloudCostUSD {
			notMet = append(notMet, fmt.Sprintf("ACCEPTANCE NOT MET: spillway costs $%.0f, not less than per-job's $%.0f", sp.CloudCostUSD, r.CloudCostUSD))
		}
	}
	var want []string
	for _, r := range rs {
		unserved := r.JobsUnstarted+r.JobsNeverServed <= sp.JobsUnstarted+sp.JobsNeverServed && r.JobsNeverServed <= sp.JobsNeverServed
		if r.Policy == PolicySpillway || !unserved {
			continue
		}
		if cheaper, faster := r.CloudCostUSD < sp.CloudCostUSD, r.WaitP95S < sp.WaitP95S; (cheaper && r.WaitP95S <= sp.WaitP95S) || (faster && r.CloudCostUSD <= sp.CloudCostUSD) {
			want = append(want, r.Policy)
			notMet = append(notMet, fmt.Sprintf("ACCEPTANCE NOT MET: %s dominates spillway: cost $%.0f against $%.0f, wait p95 %.0fs against %.0fs, %d jobs unstarted or never served against %d",
				r.Policy, r.CloudCostUSD, sp.CloudCostUSD, r.WaitP95S, sp.WaitP95S, r.JobsUnstarted+r.JobsNeverServed, sp.JobsUnstarted+sp.JobsNeverServed))
		}
	}
	if !slices.Equal(sp.DominatedBy, want) {
		bad = append(bad, fmt.Sprintf("spillway's dominated_by %q disagrees with the figures: want %q", sp.DominatedBy, want))
	}
	return notMet, bad
}

// TestBacktestH100 runs every policy on every bundled trace with the
// modern 8-GPU-only config (configs/examples/backtest-h100.yaml: H100 and
// H200 shapes, spot listed for jobs that do not checkpoint) and the default
// realistic cloud, on-prem at the trace's p50 demand. It enforces that
// spillway meets its wait target and that no job is left unstarted, and
// logs the figures the issue asks to report (cost, efficiency, waits, and
// whether a baseline dominates spillway).
func TestBacktestH100(t *testing.T) {
	cfg, err := config.Load(filepath.Join("..", "configs", "examples", "backtest-h100.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	base := cfg.Pools[0].Policy
	for _, name := range replayedTraces() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rep, pool := backtestAtP50(t, base, name)
			var sp Result
			for _, r := range rep.Results {
				t.Logf("%-11s on %4d GPUs: cost $%9.0f  efficiency %.3f  wait p95 %6.0fs  p99 %6.0fs  lost %6.0f GPU-h  dominated by %v",
					r.Policy, rep.OnPremGPUs, r.CloudCostUSD, r.Efficiency, r.WaitP95S, r.WaitP99S, r.GPUHoursLost, r.DominatedBy)
				if r.Policy != PolicyOnPremOnly && r.JobsUnstarted > 0 {
					t.Errorf("%s: %d jobs never started", r.Policy, r.JobsUnstarted)
				}
				if r.Policy == PolicySpillway {
					sp = r
				}
			}
			if target := pool.WaitTarget.D().Seconds(); sp.WaitP95S > target {
				t.Errorf("spillway wait p95 %.0fs exceeds the wait target %.0fs", sp.WaitP95S, target)
			}
			notMet, bad := acceptanceLines(rep.Results)
			for _, l := range notMet {
				t.Log(l)
			}
			for _, b := range bad {
				t.Error(b)
			}
		})
	}
}
