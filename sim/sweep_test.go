package sim

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestSweep runs a wait_target sweep and a per-job knob over two seeds:
// one point per value, spread covering the mean, the same points on a
// second run, and dominated_by agreeing with the means.
func TestSweep(t *testing.T) {
	wt, err := ParseSweepParam("wait_target=0s,10m")
	if err != nil {
		t.Fatal(err)
	}
	pj, err := ParseSweepParam("per-job.suspend=0s,300s")
	if err != nil {
		t.Fatal(err)
	}
	sw := Sweep{Pool: WithOnPremGPUs(backtestPool(t), 8), Trace: loadBundled(t, "itp/cluster05.csv"),
		Policies: []string{PolicySpillway, PolicyPerJob}, Params: []SweepParam{wt, pj}, Seeds: 2, Jitter: time.Minute, Cloud: DefaultCloud}
	pts, err := sw.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, p := range pts {
		labels = append(labels, p.Label())
		if p.Runs != 2 || p.CostMinUSD > p.CostUSD || p.CostUSD > p.CostMaxUSD || p.WaitP95MinS > p.WaitP95S || p.WaitP95S > p.WaitP95MaxS {
			t.Errorf("%s: runs %d, cost %.0f [%.0f–%.0f], p95 %.0f [%.0f–%.0f]", p.Label(), p.Runs, p.CostUSD, p.CostMinUSD, p.CostMaxUSD, p.WaitP95S, p.WaitP95MinS, p.WaitP95MaxS)
		}
		for _, q := range pts {
			dom := q.Policy != p.Policy && q.CostUSD < p.CostUSD && q.WaitP95S <= p.WaitP95S && q.JobsUnstarted <= p.JobsUnstarted
			if dom != contains(p.DominatedBy, q.Label()) {
				t.Errorf("%s dominated by %v; %s ($%.0f, %.0fs) vs ($%.0f, %.0fs)", p.Label(), p.DominatedBy, q.Label(), q.CostUSD, q.WaitP95S, p.CostUSD, p.WaitP95S)
			}
		}
	}
	want := []string{"spillway wait_target=0s", "spillway wait_target=10m", "per-job per-job.suspend=0s", "per-job per-job.suspend=300s"}
	if !reflect.DeepEqual(labels, want) {
		t.Errorf("points %v, want %v", labels, want)
	}
	if pts[0].WaitP95S >= pts[1].WaitP95S {
		t.Errorf("wait_target 0s waits %.0fs at p95, 10m %.0fs: the sweep does not reach the policy", pts[0].WaitP95S, pts[1].WaitP95S)
	}
	// The second run reports its progress: every run once, the count
	// rising to the total; the points do not depend on it.
	var seen []int
	sw.Progress = func(done, total int) {
		if total != 8 {
			t.Errorf("progress: %d of %d runs, want of 8 (2 points × 2 policies × 2 seeds)", done, total)
		}
		seen = append(seen, done)
	}
	again, err := sw.Run(context.Background())
	if err != nil || !reflect.DeepEqual(again, pts) {
		t.Errorf("a second sweep differs: %v", err)
	}
	if !reflect.DeepEqual(seen, []int{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Errorf("progress %v, want 1 to 8", seen)
	}
	var svg bytes.Buffer
	if err := WriteFrontier(&svg, "t", pts); err != nil || !strings.Contains(svg.String(), "spillway wait_target=10m") {
		t.Errorf("frontier: %v", err)
	}
	var tab bytes.Buffer
	if err := WriteSweep(&tab, pts, 2); err != nil || !strings.Contains(tab.String(), "per-job.suspend=300s") {
		t.Errorf("table: %v\n%s", err, tab.String())
	}
}

func TestParseSweepParam(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"wait_target", `sweep "wait_target": want name=value,value,…`},
		{"wait_target=5m,soon", `sweep wait_target="soon": want a duration from 0s to 168h`},
		{"per-job.magic=1", `baseline option "per-job.magic": unknown`},
		{"wait_target=5m,0s,300s", `sweep wait_target="300s": the same setting as "5m": want each value once`},
		{"per-job.suspend=0s,0s", `sweep per-job.suspend="0s": the same setting as "0s": want each value once`},
		{"karpenter.evict=true,false,true", `sweep karpenter.evict="true": the same setting as "true"`},
	} {
		if _, err := ParseSweepParam(tt.in); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.in, err, tt.want)
		}
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
