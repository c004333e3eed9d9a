package sim

import (
	"slices"
	"testing"
)

// TestMarkDominated: a policy dominates another when it costs less and
// waits no longer at p95 (or costs no more and waits less), and leaves no
// more jobs unstarted. onprem-only, whose jobs larger than on-prem never
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
		{"fewer unstarted and cheaper", []Result{
			{Policy: "a", CloudCostUSD: 10, WaitP95S: 60, JobsUnstarted: 1},
			{Policy: "b", CloudCostUSD: 20, WaitP95S: 60, JobsUnstarted: 2},
		}, map[string][]string{"a": {}, "b": {"a"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			markDominated(tt.rs)
			for _, r := range tt.rs {
				if !slices.Equal(r.DominatedBy, tt.want[r.Policy]) {
					t.Errorf("%s dominated by %v, want %v", r.Policy, r.DominatedBy, tt.want[r.Policy])
				}
			}
		})
	}
}
