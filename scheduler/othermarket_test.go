package scheduler_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
			answeredOtherwiseIsEnded(t, c, from, to, "the cloud runs it as on-demand", "in the other market")
		})
	}
}

// answeredOtherwiseIsEnded launches one instance whose answers and
// listings a rewriting harness turns from from to to (the cloud running
// it not as asked: how), and checks that a later tick ends it for a
// reason beginning with why, and that its offering is then held.
func answeredOtherwiseIsEnded(t *testing.T, c lagCloud, from, to []byte, why, how string) {
	t.Helper()
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
	h.until("the instance run "+how+" ends", 30*time.Second, 10, func() bool { return rowOf(t, h, id).State == state.InstanceEnded })
	if r := rowOf(t, h, id); !strings.HasPrefix(r.EndReason, why) {
		t.Errorf("instance %s run %s ended for %q, want %q first", id, how, r.EndReason, why)
	}
	atMostOnePerOffering(t, h, how)
}

// onDemandAnswer is what the cloud's answers say of a spot instance, and
// what a rewriting harness makes them say: on-demand.
func onDemandAnswer(c lagCloud) (from, to []byte) {
	if c.provider != provName {
		return []byte(`"SpotStrategy":"SpotAsPriceGo"`), []byte(`"SpotStrategy":"NoSpot"`)
	}
	return []byte("<instanceLifecycle>spot</instanceLifecycle>"), nil
}

// atMostOnePerOffering steps 4 ticks, 2.5 minutes after the launch, and
// checks that each offering was launched at most once: one whose instance
// the cloud ran not as asked (how) is skipped for the capacity TTL.
func atMostOnePerOffering(t *testing.T, h *harness, how string) {
	t.Helper()
	for range 4 {
		h.step(30 * time.Second)
	}
	if n, offs := len(h.rows(false)), len(h.pool.Offerings); n > offs {
		t.Errorf("%d instances launched in 2.5 minutes, want at most one per offering (%d): an offering the cloud runs %s is skipped for the capacity TTL", n, offs, how)
	}
}

// TestNotItsOfferingCountedOnce: an instance the cloud runs in the other
// market, or as another type, than its offering's was counted as a failed
// launch (and its offering put in the capacity cache again) at every tick
// that listed it so: in a dry run, which ends nothing, one instance was a
// failed launch a tick. It is one, once. With its terminate failing (the
// dry_run=false cases, a guard for other_market: the row is terminating
// then, and retried as such) it is counted once too.
//
// Run on EC2 through its real SDK on the emulator, the answers rewritten
// on their way back; its TerminateInstances calls, where they fail, are
// sent with a malformed instance id (InvalidInstanceID.Malformed).
func TestNotItsOfferingCountedOnce(t *testing.T) {
	c := lagClouds[0]
	spot := c.pool
	market, tp := c, c
	market.pool = func() policy.Pool {
		p := spot()
		for i := range p.Offerings {
			p.Offerings[i].Market, p.Offerings[i].PricePerHour = policy.MarketSpot, 9.83
		}
		return p
	}
	marketFrom, marketTo := onDemandAnswer(market)
	typeFrom, typeTo := resizedTypes(tp)
	for _, tc := range []struct {
		cause    string
		c        lagCloud
		from, to []byte
	}{
		{"other_market", market, marketFrom, marketTo},
		{"resized", tp, typeFrom, typeTo},
	} {
		for _, dry := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/dry_run=%v", tc.cause, dry), func(t *testing.T) {
				var rewrite, failTerminate atomic.Bool
				rewrite.Store(true)
				h := rewritingHarness(t, tc.c, tc.from, tc.to, &rewrite, func(r *http.Request) {
					if failTerminate.Load() && r.ParseForm() == nil && r.Form.Get("Action") == tc.c.terminate {
						r.Form.Set("InstanceId.1", "i-malformed")
					}
				})
				h.setDemand(2*time.Minute, 8)
				h.tick()
				rs := h.rows(true)
				if len(rs) != 1 {
					t.Fatalf("%d rows after the launch, want 1", len(rs))
				}
				reg := prometheus.NewRegistry()
				h.opts.DryRun, h.opts.Registerer = dry, reg
				failTerminate.Store(true)
				h.restart()
				for range 5 { // booting, its end not carried out
					h.step(10 * time.Second)
				}
				if r := rowOf(t, h, rs[0].ID); r.State == state.InstanceEnded {
					t.Fatalf("instance %s ended, want it live (its end not carried out)", r.ID)
				}
				if n := counterOf(t, reg, "spillway_launch_failures_total", rs[0].Offering); n != 1 {
					t.Errorf("after 5 ticks listing one instance not its offering, not ended: launch failures of %s (%s) = %v, want 1", rs[0].Offering, tc.cause, n)
				}
			})
		}
	}
}
