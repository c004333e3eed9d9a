package scheduler_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/state"
)

// TestTerminateAnsweredButStillRunningCountsAgainstTheLimits: a terminate
// the cloud answered with success while the instance ran on for minutes
// left its row terminating, and a terminating instance counts for
// neither max_gpus nor max_cost_per_hour: new demand launched a second
// 8-GPU instance beside it, 16 GPUs running and billed under max_gpus 8.
// One the cloud still lists running a minute after its terminate was
// answered counts as running, as one whose terminate failed does: the
// demand waits for it to end, and the decision says why once.
//
// Run on EC2 and ECS, each through its real SDK on the emulator.
func TestTerminateAnsweredButStillRunningCountsAgainstTheLimits(t *testing.T) {
	for _, c := range lagClouds {
		t.Run(c.name, func(t *testing.T) {
			c.pool = func(base func() policy.Pool) func() policy.Pool {
				return func() policy.Pool { p := base(); p.Limits.MaxGPUs = 8; return p }
			}(c.pool)
			rig, ignored, first := terminateAnsweredNotCarriedOut(t, c)
			h := rig.harness
			h.step(30 * time.Second)
			h.step(40 * time.Second) // over a minute since: the cloud did not act
			h.setDemand(2*time.Minute, 8)
			for range 4 {
				h.step(30 * time.Second)
				running := 0
				for _, in := range rig.launched() {
					if in.State == "running" || in.State == "pending" {
						running++
					}
				}
				if running > 1 {
					t.Fatalf("%d instances running under max_gpus 8 (one 8-GPU instance): %s still runs, its terminate answered but not carried out, and another was launched beside it", running, first)
				}
			}
			said := 0
			for _, d := range h.decisions() {
				for _, n := range d.Notes {
					if strings.Contains(n, first) && strings.Contains(n, "still lists it") {
						said++
					}
				}
			}
			if said != 1 {
				t.Errorf("%d decisions say instance %s still runs after its terminate was answered, want 1", said, first)
			}
			// The cloud acts at last: it ends, and the demand launches.
			ignored.on.Store(false)
			h.until("a replacement launches", 30*time.Second, 10, func() bool {
				for _, r := range h.rows(true) {
					if r.ID != first {
						return true
					}
				}
				return false
			})
			if r := rowOf(t, h, first); r.State != state.InstanceEnded {
				t.Errorf("instance %s is %s once the cloud ended it, want ended", first, r.State)
			}
		})
	}
}

// TestTerminatingGPUsAreNoCloudCapacity: an instance whose terminate the
// cloud answered and has not carried out is terminating, which spillway
// status and the page's Cloud card count apart from the burst capacity
// (terminating_gpus). Before, spillway_gpus{origin="cloud"} and the
// page's chart ("cloud GPUs: now 8") still counted its 8 GPUs, where
// status said 0 cloud GPUs, 8 terminating. Now cloud is 0, and
// cloud_terminating 8 until the cloud ends it.
func TestTerminatingGPUsAreNoCloudCapacity(t *testing.T) {
	reg := prometheus.NewRegistry()
	rig, ignored, id := terminateAnsweredNotCarriedOut(t, lagClouds[0])
	h := rig.harness
	h.opts.Registerer = reg
	h.restart() // the server restarted, its metrics on reg
	h.step(30 * time.Second)
	checkCloudGPUs(t, h, reg, "terminating, instance "+id, 0, 8)
	ignored.on.Store(false)
	h.until("the cloud ends it", 30*time.Second, 10, func() bool { return rowOf(t, h, id).State == state.InstanceEnded })
	checkCloudGPUs(t, h, reg, "ended", 0, 0)
}

// checkCloudGPUs checks the pool's cloud GPUs, in the last sample of its
// timeline and in spillway_gpus, and its cloud_terminating GPUs.
func checkCloudGPUs(t *testing.T, h *harness, reg *prometheus.Registry, when string, cloud, terminating int) {
	t.Helper()
	samples, _ := h.sched.Timeline(h.pool.Name, time.Time{})
	if len(samples) == 0 {
		t.Fatalf("%s: no timeline sample", when)
	}
	if got := samples[len(samples)-1].CloudGPUs; got != cloud {
		t.Errorf("%s: the chart's cloud GPUs are %d, want %d", when, got, cloud)
	}
	if got := gpusOf(t, reg, "cloud"); got != float64(cloud) {
		t.Errorf("%s: spillway_gpus{origin=cloud} = %v, want %d", when, got, cloud)
	}
	if got := gpusOf(t, reg, "cloud_terminating"); got != float64(terminating) {
		t.Errorf("%s: spillway_gpus{origin=cloud_terminating} = %v, want %d", when, got, terminating)
	}
}

// terminateAnsweredNotCarriedOut launches one 8-GPU instance on c, lets it
// join and go idle, and answers its terminate with success without
// passing it on: the row is terminating while the cloud lists the
// instance running. It returns the rig, the wrapper (whose on, cleared,
// lets terminates through) and the instance's id.
func terminateAnsweredNotCarriedOut(t *testing.T, c lagCloud) (*lagRig, *endsIgnored, string) {
	t.Helper()
	rig := newLagRig(t, c, 0)
	h := rig.harness
	ignored := &endsIgnored{}
	rig.wrapProvider(func(p providers.Provider) providers.Provider { ignored.Provider = p; return ignored })
	h.restart()
	id := h.joinOne(10*time.Second, 30)
	h.agents.setBusy(0)
	h.setDemand(0)
	ignored.on.Store(true)
	h.until("its terminate is answered", 30*time.Second, 30, func() bool { return ignored.calls.Load() > 0 })
	if r := rowOf(t, h, id); r.State != state.InstanceTerminating {
		t.Fatalf("instance %s is %s after its terminate was answered, want terminating", id, r.State)
	}
	return rig, ignored, id
}

// endsIgnored answers terminates with success without passing them on
// while on: the cloud answers, and the instance runs on.
type endsIgnored struct {
	providers.Provider
	on    atomic.Bool
	calls atomic.Int32
}

func (p *endsIgnored) Terminate(ctx context.Context, ids []string) error {
	if p.on.Load() {
		p.calls.Add(1)
		return nil
	}
	return p.Provider.Terminate(ctx, ids)
}
