package scheduler_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/state"
)

// TestListingAnInstanceInTwoStates: a listing that named each running
// instance twice, running and then terminated (a cloud's listing caught
// mid-change, two pages of an inconsistent read), took the last: every
// instance of a pool at max_gpus was ended as vanished while it ran, and
// the same tick launched their replacements, 64 GPUs running against a
// max_gpus of 32. An instance listed in two states is taken in the
// livelier (running, pending, then stopping or stopped, then ending): the
// next listing tells, and ending it a tick late costs a tick, not the
// limits.
//
// Run on EC2 and ECS, each through its real SDK on the emulator.
func TestListingAnInstanceInTwoStates(t *testing.T) {
	for _, c := range lagClouds {
		t.Run(c.name, func(t *testing.T) {
			rig := newLagRig(t, c, 0)
			h := rig.harness
			ghost := &listsEnded{}
			rig.wrapProvider(func(p providers.Provider) providers.Provider { ghost.Provider = p; return ghost })
			h.restart()
			h.setDemand(2*time.Minute, 8, 8, 8, 8, 8, 8, 8, 8)
			h.agents.setBusy(8)
			h.tick()
			h.until("the pool runs at max_gpus", 30*time.Second, 10, func() bool {
				rs := h.rows(true)
				for _, r := range rs {
					if r.State != state.InstanceRunning {
						return false
					}
				}
				return len(rs) == 4
			})
			ghost.on.Store(true)
			h.step(30 * time.Second)
			h.step(30 * time.Second)
			running := 0
			for _, in := range rig.launched() {
				if in.State == "running" || in.State == "pending" {
					running++
				}
			}
			if rs := h.rows(true); running > 4 || len(rs) != 4 {
				t.Errorf("with each instance listed running and terminated: %d instances of 8 GPUs in the cloud, %d live rows; want 4 and 4 (max_gpus 32)", running, len(rs))
			}
		})
	}
}

// listsEnded lists, while on, each instance a second time, terminated.
type listsEnded struct {
	providers.Provider
	on atomic.Bool
}

func (p *listsEnded) List(ctx context.Context, f providers.ListFilter) ([]providers.Instance, error) {
	out, err := p.Provider.List(ctx, f)
	if !p.on.Load() {
		return out, err
	}
	for _, in := range out {
		in.State = providers.StateTerminated
		out = append(out, in)
	}
	return out, err
}

// TestLaunchAnswerNamingAnInstanceInTwoStates: a launch answer naming its
// one instance twice, terminated and then running, is taken as a listing
// in two states is (liveliness): recorded booting, counted, not ended
// before it ran.
func TestLaunchAnswerNamingAnInstanceInTwoStates(t *testing.T) {
	for _, c := range lagClouds {
		t.Run(c.name, func(t *testing.T) {
			rig := newLagRig(t, c, 0)
			h := rig.harness
			rig.wrapProvider(func(p providers.Provider) providers.Provider { return answersEndedFirst{p} })
			h.restart()
			h.setDemand(2*time.Minute, 8)
			h.agents.setBusy(8)
			h.tick()
			for range 4 {
				h.step(30 * time.Second)
			}
			if n, rs := len(rig.launched()), h.rows(true); n != 1 || len(rs) != 1 || rs[0].State != state.InstanceRunning {
				t.Errorf("a launch answered with its instance terminated and running: %d instances launched, live rows %+v; want 1, recorded and running", n, rs)
			}
		})
	}
}

// answersEndedFirst answers each launch naming each instance terminated,
// then as the cloud gave it.
type answersEndedFirst struct{ providers.Provider }

func (p answersEndedFirst) Launch(ctx context.Context, req providers.LaunchRequest) ([]providers.Instance, error) {
	out, err := p.Provider.Launch(ctx, req)
	var both []providers.Instance
	for _, in := range out {
		ended := in
		ended.State = providers.StateTerminated
		both = append(both, ended, in)
	}
	return both, err
}
