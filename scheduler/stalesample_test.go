package scheduler_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestAgentSampleNotOfNowCountsUnknown: a burst instance's agent (a real
// one on go-nvml's DGX H100 mock) joins with its GPUs idle, then serves a
// sample that is not of now: its sampling stopped, the answer the same
// for 6 minutes (as a cache between the server and it would serve), or
// its clock an hour behind or ahead. Before, the scheduler took any such
// answer as now: the idle instance was scaled in on a sample 6 minutes
// old (its GPUs may run jobs since), and a clock an hour off went
// unnoticed. Such an answer counts each GPU unknown (busy, no room:
// spillway_gpus{origin="cloud_unknown"}), as the agent itself serves
// GPUs it cannot read, the instance is not drained, and the scheduler
// warns once, saying why.
func TestAgentSampleNotOfNowCountsUnknown(t *testing.T) {
	for _, tc := range []struct {
		name     string
		offset   time.Duration // of the agent's clock
		resample bool
		says     string
	}{
		{"sampling stopped", 0, false, "old, more than stale_after"},
		{"clock an hour behind", -time.Hour, true, "is 1h0m"},
		{"clock an hour ahead", time.Hour, true, "in the future"},
		{"clock two centuries ahead", 200 * 365 * 24 * time.Hour, true, "more than a year (sample_time 22"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, testPool())
			reg := prometheus.NewRegistry()
			h.opts.Registerer = reg
			h.logs = &lockedBuffer{}
			h.restart()
			var never bool
			joined := false
			sample := joinIdleBy(t, h, idleMockFailing(&never, 0), func() time.Time {
				if !joined { // it joins on a sample of now
					return h.clk.Now()
				}
				return h.clk.Now().Add(tc.offset)
			})
			joined = true
			for range 36 { // 6 minutes: past the pool's idle 5m
				if tc.resample {
					sample()
				}
				h.step(10 * time.Second)
			}
			if len(h.drained) != 0 {
				t.Errorf("drained %v on a sample not of now; want none drained", h.drained)
			}
			if n := gpusOf(t, reg, "cloud_unknown"); n != 8 {
				t.Errorf("spillway_gpus{origin=cloud_unknown} = %v; want 8, nothing of now known", n)
			}
			if n := strings.Count(h.logs.String(), "serves a sample not of now"); n != 1 {
				t.Errorf("%d warnings of a sample not of now; want 1", n)
			}
			if !strings.Contains(h.logs.String(), tc.says) {
				t.Errorf("the warning does not say %q:\n%s", tc.says, h.logs)
			}
		})
	}
}
