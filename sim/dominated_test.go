package sim

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// TestMarkDominated: a policy dominates another when it costs less and
// waits no longer at p95 (or costs no more and waits less), and leaves no
// more jobs unstarted or never served. onprem-only, whose jobs larger than on-prem never
// start, once dominated every policy that ran them: an unstarted job's
// wait counts only until the run ended, so its waits looked short.
func TestMarkDominated(t *testing.T) {
	for _, tt := range []struct {
		name string
		rs   []Result
		want map[string][]string
	}{
		{"cheaper and no slower", []Result{
			{Policy: "a", CloudCostUSD: 10, WaitP95S: 60},
			{Policy: "b", CloudCostUSD: 20, WaitP95S: 60},
		}, map[string][]string{"a": {}, "b": {"a"}}},
		{"as cheap and faster", []Result{
			{Policy: "a", CloudCostUSD: 10, WaitP95S: 30},
			{Policy: "b", CloudCostUSD: 10, WaitP95S: 60},
		}, map[string][]string{"a": {}, "b": {"a"}}},
		{"equal", []Result{
			{Policy: "a", CloudCostUSD: 10, WaitP95S: 60},
			{Policy: "b", CloudCostUSD: 10, WaitP95S: 60},
		}, map[string][]string{"a": {}, "b": {}}},
		{"a trade-off", []Result{
			{Policy: "a", CloudCostUSD: 10, WaitP95S: 600},
			{Policy: "b", CloudCostUSD: 20, WaitP95S: 60},
		}, map[string][]string{"a": {}, "b": {}}},
		{"onprem-only leaves the jobs larger than on-prem unstarted", []Result{
			{Policy: PolicySpillway, CloudCostUSD: 133, WaitP95S: 240},
			{Policy: PolicyOnPremOnly, CloudCostUSD: 0, WaitP95S: 120, JobsUnstarted: 3},
			{Policy: PolicyPerJob, CloudCostUSD: 134, WaitP95S: 240},
		}, map[string][]string{PolicySpillway: {}, PolicyOnPremOnly: {}, PolicyPerJob: {PolicySpillway}}},
		{"onprem-only never serves the jobs larger than on-prem", []Result{
			{Policy: PolicySpillway, CloudCostUSD: 133, WaitP95S: 240},
			{Policy: PolicyOnPremOnly, CloudCostUSD: 0, WaitP95S: 0, JobsNeverServed: 3},
		}, map[string][]string{PolicySpillway: {}, PolicyOnPremOnly: {}}},
		// Nothing rented (every launch refused for quota): spillway ran
		// what onprem-only did, but the 2 jobs onprem-only never serves,
		// left out of its waits, are in spillway's as unstarted until the
		// run ended.
		{"the same run, its unserved jobs never served in one and unstarted in the other", []Result{
			{Policy: PolicySpillway, CloudCostUSD: 0, WaitP95S: 180000, JobsUnstarted: 2},
			{Policy: PolicyOnPremOnly, CloudCostUSD: 0, WaitP95S: 7200, JobsNeverServed: 2},
		}, map[string][]string{PolicySpillway: {}, PolicyOnPremOnly: {}}},
		{"fewer unstarted and cheaper", []Result{
			{Policy: "a", CloudCostUSD: 10, WaitP95S: 60, JobsUnstarted: 1},
			{Policy: "b", CloudCostUSD: 20, WaitP95S: 60, JobsUnstarted: 2},
		}, map[string][]string{"a": {}, "b": {"a"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// A sweep's points, each one seed of these results, mark the
			// same: --sweep at a point says what simulate there says.
			pts := make([]SweepPoint, len(tt.rs))
			for i, r := range tt.rs {
				pts[i] = SweepPoint{Policy: r.Policy, Runs: 1, CostUSD: r.CloudCostUSD, WaitP95S: r.WaitP95S, JobsUnstarted: float64(r.JobsUnstarted + r.JobsNeverServed), neverServed: float64(r.JobsNeverServed)}
			}
			markDominated(tt.rs)
			markSweepDominated(pts)
			for i, r := range tt.rs {
				if !slices.Equal(r.DominatedBy, tt.want[r.Policy]) {
					t.Errorf("%s dominated by %v, want %v", r.Policy, r.DominatedBy, tt.want[r.Policy])
				}
				if !slices.Equal(pts[i].DominatedBy, tt.want[r.Policy]) {
					t.Errorf("sweep: %s dominated by %v, want %v", r.Policy, pts[i].DominatedBy, tt.want[r.Policy])
				}
			}
		})
	}
}

// TestSweepUnstartedDominatesNone: the sweep's points follow the same
// rule. On a cloud-only pool onprem-only serves no job (it rents
// nothing): it cost nothing and, with no waits to count, "waited" less at
// p95 than per-job, whose jobs wait for a boot.
func TestSweepUnstartedDominatesNone(t *testing.T) {
	pool := policy.Pool{Name: "cloud-only", Interval: policy.Duration(30 * time.Second),
		Offerings: []policy.Offering{{Name: "o", Provider: "aws", Region: "r", InstanceType: "t", GPUs: 8, PricePerHour: 24, Boot: policy.Duration(5 * time.Minute), Billing: policy.BillingPerSecond}},
		ScaleIn:   policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}, DrainTimeout: policy.Duration(10 * time.Minute)}}
	tr := &trace.Trace{Name: "t", Start: trace.DefaultEpoch, Jobs: []trace.Job{{Submit: 0, Duration: time.Hour, GPUs: 8}, {Submit: time.Minute, Duration: time.Hour, GPUs: 8}}}
	sw := Sweep{Pool: pool, Trace: tr, Policies: []string{PolicyOnPremOnly, PolicyPerJob}, Seeds: 1}
	pts, err := sw.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 2 || pts[0].JobsUnstarted != 2 || pts[1].JobsUnstarted != 0 || pts[0].WaitP95S >= pts[1].WaitP95S || pts[0].CostUSD >= pts[1].CostUSD {
		t.Fatalf("points %+v: want onprem-only cheaper and quicker at p95 with 2 jobs unstarted", pts)
	}
	if len(pts[1].DominatedBy) != 0 {
		t.Errorf("per-job dominated by %v", pts[1].DominatedBy)
	}
}

// TestAcceptanceLinesFollowTheReport: what the acceptance tests log as a
// policy dominating spillway is what the report's dominated_by says
// (markDominated), on a tie in cost or in p95 wait too, and never for a
// policy that leaves more jobs unserved; dearer than per-job is logged
// apart.
func TestAcceptanceLinesFollowTheReport(t *testing.T) {
	for _, tt := range []struct {
		name      string
		rs        []Result
		dominates []string
		dearer    bool
	}{
		{"a baseline cheaper and no slower", []Result{
			{Policy: PolicySpillway, CloudCostUSD: 100, WaitP95S: 60},
			{Policy: PolicyPerJob, CloudCostUSD: 90, WaitP95S: 60},
		}, []string{PolicyPerJob}, true},
		{"as cheap and faster", []Result{
			{Policy: PolicySpillway, CloudCostUSD: 100, WaitP95S: 60},
			{Policy: PolicyKarpenter, CloudCostUSD: 100, WaitP95S: 30},
			{Policy: PolicyPerJob, CloudCostUSD: 120, WaitP95S: 30},
		}, []string{PolicyKarpenter}, false},
		{"cheaper, leaving more jobs unserved", []Result{
			{Policy: PolicySpillway, CloudCostUSD: 100, WaitP95S: 60},
			{Policy: PolicyOnPremOnly, CloudCostUSD: 0, WaitP95S: 0, JobsNeverServed: 2},
			{Policy: PolicyThreshold, CloudCostUSD: 50, WaitP95S: 60, JobsUnstarted: 1},
		}, nil, false},
		{"a trade-off", []Result{
			{Policy: PolicySpillway, CloudCostUSD: 100, WaitP95S: 60},
			{Policy: PolicyPerJob, CloudCostUSD: 100, WaitP95S: 60},
			{Policy: PolicyThreshold, CloudCostUSD: 300, WaitP95S: 10},
		}, nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			markDominated(tt.rs)
			notMet, bad := acceptanceLines(tt.rs)
			if len(bad) > 0 {
				t.Errorf("the report disagrees with the figures: %q", bad)
			}
			var got []string
			dearer := false
			for _, l := range notMet {
				if p, ok := strings.CutPrefix(l, "ACCEPTANCE NOT MET: "); ok && strings.Contains(p, " dominates spillway: ") {
					got = append(got, strings.Fields(p)[0])
				}
				dearer = dearer || strings.Contains(l, "not less than per-job's")
			}
			if !slices.Equal(got, tt.dominates) || !slices.Equal(tt.rs[0].DominatedBy, tt.dominates) || dearer != tt.dearer {
				t.Errorf("logged %q: dominated by %q, dearer than per-job %v; the report: dominated by %q; want %q, %v", notMet, got, dearer, tt.rs[0].DominatedBy, tt.dominates, tt.dearer)
			}
		})
	}
}
