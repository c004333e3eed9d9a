package sim

import (
	"bytes"
	"context"
	"math"
	"reflect"
	"slices"
	"strconv"
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
		Policies: []string{PolicySpillway, PolicyPerJob}, Params: []SweepParam{wt, pj}, Seeds: 2, FirstSeed: 1, Jitter: time.Minute, Cloud: DefaultCloud}
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
		if len(p.CostsUSD) != 2 || len(p.WaitP95sS) != 2 || math.Abs((p.CostsUSD[0]+p.CostsUSD[1])/2-p.CostUSD) > 1e-6*p.CostUSD ||
			min(p.CostsUSD[0], p.CostsUSD[1]) != p.CostMinUSD || max(p.WaitP95sS[0], p.WaitP95sS[1]) != p.WaitP95MaxS {
			t.Errorf("%s: per-seed costs %v and p95 waits %v do not give its mean $%.0f, min $%.0f and max p95 %.0fs",
				p.Label(), p.CostsUSD, p.WaitP95sS, p.CostUSD, p.CostMinUSD, p.WaitP95MaxS)
		}
		for _, q := range pts {
			dom := q.Policy != p.Policy && q.JobsUnstarted <= p.JobsUnstarted &&
				((q.CostUSD < p.CostUSD && q.WaitP95S <= p.WaitP95S) || (q.CostUSD <= p.CostUSD && q.WaitP95S < p.WaitP95S))
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
	if err := WriteSweep(&tab, pts, 2); err != nil || !strings.Contains(tab.String(), "per-job.suspend=300s") ||
		!strings.Contains(tab.String(), "spillway seed by seed") || !strings.Contains(tab.String(), "of 2 seeds") {
		t.Errorf("table: %v\n%s", err, tab.String())
	}
}

// TestParseSweepParam: each bad --sweep is refused saying what is
// wanted. A name no baseline has was refused with the baseline options
// alone, not saying that wait_target is one; and a sweep of too many
// values, or of no '=', quoted the whole argument back (30 KB for 5,000
// values): the message quotes at most 64 bytes of it.
func TestParseSweepParam(t *testing.T) {
	many := make([]string, 5000)
	for i := range many {
		many[i] = strconv.Itoa(i) + "s"
	}
	for _, tt := range []struct{ in, want string }{
		{"wait_target", `sweep "wait_target": want name=value,value,…`},
		{"wait_target=5m,soon", `sweep wait_target="soon": want a duration from 0s to 168h`},
		// A number alone was refused without saying it lacks a unit.
		{"wait_target=0s,10", `sweep wait_target="10": want a duration from 0s to 168h; a number alone has no unit: write 10s, 10m or 10h`},
		{"per-job.magic=1", `sweep "per-job.magic": unknown setting (want wait_target, spillway's, or a baseline's knob: threshold.target, `},
		{"spillway.wait_target=1m", `sweep "spillway.wait_target": unknown setting (want wait_target, spillway's, or a baseline's knob: threshold.target, `},
		{"wait_target=" + strings.Join(many, ","), `sweep wait_target: 5000 values: want at most 64 (sweep fewer at once, or a wider step)`},
		{strings.Repeat("wait_target", 1000), `sweep "wait_targetwait_targetwait_targetwait_targetwait_targetwait_targ…": want name=value,value,…`},
		{"wait_target=5m,0s,300s", `sweep wait_target="300s": the same setting as "5m": want each value once`},
		{"per-job.suspend=0s,0s", `sweep per-job.suspend="0s": the same setting as "0s": want each value once`},
		{"karpenter.evict=true,false,true", `sweep karpenter.evict="true": the same setting as "true"`},
	} {
		if _, err := ParseSweepParam(tt.in); err == nil || !strings.HasPrefix(err.Error(), tt.want) || len(err.Error()) > 1000 {
			t.Errorf("%s: got %.300v, want %q (at most 1000 bytes)", clipArg(tt.in), err, tt.want)
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

// TestPairs compares spillway's points with every other renting policy's,
// seed by seed: the mean, min and max of the per-seed differences, and the
// seeds on which spillway cost less.
func TestPairs(t *testing.T) {
	pt := func(policy, setting string, costs, waits []float64) SweepPoint {
		return SweepPoint{Policy: policy, Setting: setting, CostsUSD: costs, WaitP95sS: waits}
	}
	spill := pt(PolicySpillway, "wait_target=10m", []float64{90, 110, 100}, []float64{100, 200, 300})
	for _, tt := range []struct {
		name string
		pts  []SweepPoint
		want []SweepPair
	}{
		{"one baseline", []SweepPoint{spill, pt(PolicyPerJob, "", []float64{100, 100, 125}, []float64{50, 250, 240})},
			[]SweepPair{{Point: "spillway wait_target=10m", Against: "per-job", Seeds: 3, CostDiffPct: (-10 + 10 - 20) / 3.0,
				CostDiffMinPct: -20, CostDiffMaxPct: 10, CheaperSeeds: 2, WaitP95DiffS: (50 + -50 + 60) / 3.0, WaitP95DiffMinS: -50, WaitP95DiffMaxS: 60}}},
		{"onprem-only and spillway's own points are not compared",
			[]SweepPoint{spill, pt(PolicySpillway, "wait_target=0s", []float64{1, 1, 1}, []float64{1, 1, 1}), pt(PolicyOnPremOnly, "", []float64{0, 0, 0}, []float64{9, 9, 9})}, nil},
		{"a point that rented nothing on one seed", []SweepPoint{spill, pt(PolicyKarpenter, "", []float64{100, 0, 100}, []float64{1, 1, 1})}, nil},
		{"no spillway point", []SweepPoint{pt(PolicyPerJob, "", []float64{1}, []float64{1}), pt(PolicyKarpenter, "", []float64{1}, []float64{1})}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Pairs(tt.pts)
			if len(got) != len(tt.want) {
				t.Fatalf("Pairs = %+v, want %+v", got, tt.want)
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.Point != w.Point || g.Against != w.Against || g.Seeds != w.Seeds || g.CheaperSeeds != w.CheaperSeeds ||
					math.Abs(g.CostDiffPct-w.CostDiffPct) > 1e-9 || math.Abs(g.CostDiffMinPct-w.CostDiffMinPct) > 1e-9 || math.Abs(g.CostDiffMaxPct-w.CostDiffMaxPct) > 1e-9 ||
					math.Abs(g.WaitP95DiffS-w.WaitP95DiffS) > 1e-9 || g.WaitP95DiffMinS != w.WaitP95DiffMinS || g.WaitP95DiffMaxS != w.WaitP95DiffMaxS {
					t.Errorf("pair %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func TestSignedPct(t *testing.T) {
	for v, want := range map[float64]string{-0.04: "+0.0%", 0.04: "+0.0%", -1.25: "-1.3%", 5: "+5.0%"} {
		if got := signedPct(v); got != want {
			t.Errorf("signedPct(%v) = %q, want %q", v, got, want)
		}
	}
}

// TestWriteSweepEfficiencyWithoutCloud: a point that rented nothing on any
// seed shows no efficiency, as a run's report shows it.
func TestWriteSweepEfficiencyWithoutCloud(t *testing.T) {
	pts := []SweepPoint{
		{Policy: PolicyOnPremOnly, Runs: 2, Efficiency: 1, CostsUSD: []float64{0, 0}, WaitP95sS: []float64{60, 90}},
		{Policy: PolicyPerJob, Runs: 2, Efficiency: 0.9, CostUSD: 10, CostMinUSD: 10, CostMaxUSD: 10, CostsUSD: []float64{10, 10}, WaitP95sS: []float64{1, 1}},
	}
	var b bytes.Buffer
	if err := WriteSweep(&b, pts, 2); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(b.String(), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 0 && f[0] == PolicyOnPremOnly && slices.Contains(f, "1.00"):
			t.Errorf("onprem-only shows an efficiency: %q", line)
		case len(f) > 0 && f[0] == PolicyPerJob && !slices.Contains(f, "0.90"):
			t.Errorf("per-job's efficiency is missing: %q", line)
		}
	}
}

// TestWriteSweepCountsOneSeed: a sweep of one seed printed "1 seed(s) per
// point" and "1 of 1 seeds"; it says "1 seed".
func TestWriteSweepCountsOneSeed(t *testing.T) {
	pts := []SweepPoint{
		{Policy: PolicySpillway, Setting: "wait_target=5m", Runs: 1, CostUSD: 90, WaitP95S: 60, CostsUSD: []float64{90}, WaitP95sS: []float64{60}, DominatedBy: []string{}},
		{Policy: PolicyPerJob, Runs: 1, CostUSD: 100, WaitP95S: 60, CostsUSD: []float64{100}, WaitP95sS: []float64{60}, DominatedBy: []string{}},
	}
	var tab bytes.Buffer
	if err := WriteSweep(&tab, pts, 1); err != nil {
		t.Fatal(err)
	}
	out := tab.String()
	if !strings.HasPrefix(out, "1 seed per point: mean [min–max] over seeds; a point is dominated when another policy's point costs less and waits no longer at p95, "+
		"or costs no more and waits less, with no more jobs left unserved nor never served (means)\n") || !strings.Contains(out, " 1 of 1 seed ") || strings.Contains(out, "seed(s)") || strings.Contains(out, "1 seeds") {
		t.Errorf("want one seed counted as one:\n%s", out)
	}
}

// TestSweepValuesInTheirOrder: a sweep's values are its points' order in
// the table and along the frontier's line; given out of order
// (wait_target=10m,0s,2m) they were listed, and joined, as given, the
// line going back on itself. Durations and numbers are sorted; other
// values keep the order given.
func TestSweepValuesInTheirOrder(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"wait_target=10m,0s,2m,90s", "0s,90s,2m,10m"},
		{"per-job.suspend=300s,0s,1m", "0s,1m,300s"},
		{"threshold.target=0.9,0.5,0.75", "0.5,0.75,0.9"},
		{"per-job.resume_rate=100,20", "20,100"},
		{"karpenter.evict=true,false", "true,false"},
	} {
		p, err := ParseSweepParam(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(p.Values, ","); got != tt.want {
			t.Errorf("%s: values %s, want %s", tt.in, got, tt.want)
		}
	}
}
