package scheduler_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/state"
)

// TestLaunchAnsweredInAnotherMarketIsEnded: a launch asked as spot that
// the cloud ran on-demand (its answer and its listings say so) was
// recorded in the cloud's market at its spot offering's price: the pool
// counted an on-demand instance at the spot price against
// max_cost_per_hour and the budget for as long as it ran, and nothing saw
// the mismatch. It is recorded as the offering asked, and the next tick
// ends it, saying in which market the cloud runs it, and skips its
// offering for the capacity TTL (asked again, the cloud answers so again).
//
// Run on EC2 and ECS, each through its real SDK on the emulator, the
// answers rewritten on their way back.
func TestLaunchAnsweredInAnotherMarketIsEnded(t *testing.T) {
	for _, c := range lagClouds {
		t.Run(c.name, func(t *testing.T) {
			asked := c.pool
			c.pool = func() policy.Pool {
				p := asked()
				for i := range p.Offerings {
					p.Offerings[i].Market, p.Offerings[i].PricePerHour = policy.MarketSpot, 9.83
				}
				return p
			}
			from, to := onDemandAnswer(c)
			var rewrite atomic.Bool
			rewrite.Store(true)
			h := rewritingHarness(t, c, from, to, &rewrite, nil)
			h.setDemand(2*time.Minute, 8)
			h.tick()
			rs := h.rows(false)
			if len(rs) != 1 {
				t.Fatalf("%d rows after the launch, want 1", len(rs))
			}
			id := rs[0].ID
			h.until("the on-demand instance asked as spot ends", 30*time.Second, 10, func() bool { return rowOf(t, h, id).State == state.InstanceEnded })
			if r := rowOf(t, h, id); !strings.HasPrefix(r.EndReason, "the cloud runs it as on-demand") {
				t.Errorf("instance %s ran on-demand for a spot ask ended for %q, want its market named", id, r.EndReason)
			}
			for range 4 {
				h.step(30 * time.Second)
			}
			if n, offs := len(h.rows(false)), len(h.pool.Offerings); n > offs {
				t.Errorf("%d instances launched in 2.5 minutes, want at most one per offering (%d): an offering the cloud runs in the other market is skipped for the capacity TTL", n, offs)
			}
		})
	}
}

// onDemandAnswer is what the cloud's answers say of a spot instance, and
// what a rewriting harness makes them say: on-demand.
func onDemandAnswer(c lagCloud) (from, to []byte) {
	if c.provider != provName {
		return []byte(`"SpotStrategy":"SpotAsPriceGo"`), []byte(`"SpotStrategy":"NoSpot"`)
	}
	return []byte("<instanceLifecycle>spot</instanceLifecycle>"), nil
}
