package scheduler

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestLaunchFailuresHelpNamesEveryCause: the HELP of
// spillway_launch_failures_total, which an operator reads in /metrics,
// names every cause label the scheduler counts, as docs/server.md does.
func TestLaunchFailuresHelpNamesEveryCause(t *testing.T) {
	ch := make(chan *prometheus.Desc, 1)
	newMetrics(nil).launchFailures.Describe(ch)
	help := (<-ch).String()
	for _, cause := range []string{causeCapacity, causeQuota, causeThrottled, causeInvalid, causeTransient, causeChanged, "join_timeout", "reclaimed_booting", causeOtherMarket, causeResized, causeWedged} {
		if !strings.Contains(help, cause) {
			t.Errorf("spillway_launch_failures_total's help does not name cause %q: %s", cause, help)
		}
	}
}
