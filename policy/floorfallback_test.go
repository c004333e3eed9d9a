package policy

import (
	"maps"
	"strings"
	"testing"
	"time"
)

// TestFloorFallsBackToAnOfferingThatFits: a floor whose cheapest offering
// (gn7, 8 GPUs at $2.50 per GPU-hour) a limit leaves no room for holds the
// rest with an offering that fits (g6e, 4 GPUs at $2.62), and says why it
// is not the cheapest; a floor pinned to the offering that does not fit
// launches nothing.
func TestFloorFallsBackToAnOfferingThatFits(t *testing.T) {
	held := dtInst("i-1", dtGn7(), StateRunning, dtT0.Add(-10*time.Minute), 0)
	held.Floor = "peak"
	for _, tt := range []struct {
		name       string
		limits     Limits
		pinned     string
		want       map[string]int
		wantReason string
	}{
		{"max_gpus 12, 8 held", Limits{MaxGPUs: 12}, "", map[string]int{"g6e": 1}, "chose g6e at $2.62 per GPU-hour; not the cheaper gn7: max_gpus 12 (8 burst GPUs held)"},
		{"max_cost_per_hour 31, $20 held", Limits{MaxCostPerHour: 31}, "", map[string]int{"g6e": 1}, "chose g6e at $2.62 per GPU-hour; not the cheaper gn7: max_cost_per_hour $31.00"},
		{"pinned to gn7", Limits{MaxGPUs: 12}, "gn7", map[string]int{}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pool := dtPool(dtGn7(), dtG6e())
			pool.Limits = tt.limits
			snap := Snapshot{Time: dtT0, OnPremGPUs: 32, OnPremBusyGPUs: 32,
				Floors: []Floor{{Kind: FloorSchedule, Owner: "peak", GPUs: 12, Until: dtT0.Add(time.Hour), Offering: tt.pinned}}}
			p := Decide(pool, snap, []Instance{held}, Spend{}, dtT0)
			if got := dtLaunched(p); !maps.Equal(got, tt.want) {
				t.Fatalf("launched %v, want %v (notes %q)", got, tt.want, p.Notes)
			}
			if tt.wantReason != "" && !strings.Contains(p.Launches[0].Reason, tt.wantReason) {
				t.Errorf("reason %q, want it to say %q", p.Launches[0].Reason, tt.wantReason)
			}
		})
	}
}
