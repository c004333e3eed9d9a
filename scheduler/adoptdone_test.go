package scheduler_test

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/state"
)

// TestAdoptedIntentsEndedInstancesAreNotBooting: a launch whose answer was lost (cut off at its
// 10-minute call timeout) leaves its intent pending, backed off for 10
// minutes; the next tick adopts the instance it made through its intent
// tag. Once the burst drained and the instance ended, the still pending
// intent's count was taken for a booting instance again: new demand
// launched nothing until the back-off ran out (3.5 minutes here; up to
// providers.ConsistencyWindow after a failover). What was adopted under a
// pending intent now counts as recorded, ended or not, and the new demand
// launches at the next tick.
//
// What was adopted was remembered in memory only: a restarted server
// counted the ended instance as one the intent might still launch, its
// cost from the intent's writing ($8.74 spent became $18.02 with nothing live) and
// capacity for the new demand, which launched nothing until the intent's
// resume 2 minutes later. The resume, answered by the cloud with the
// ended instance, recorded it booting again: its end reason was lost,
// it ended as vanished at the next tick and was held as booting capacity
// 2 minutes more (5 minutes without a launch for the new demand). The
// instances the state records under a pending intent now count as
// recorded after a restart too, and a resume records none of them again.
//
// Run on EC2 and ECS, each through its real SDK on the emulator.
func TestAdoptedIntentsEndedInstancesAreNotBooting(t *testing.T) {
	for _, c := range lagClouds {
		for _, restart := range []bool{false, true} {
			name := c.name + "/same server"
			if restart {
				name = c.name + "/restarted"
			}
			t.Run(name, func(t *testing.T) { adoptedIntentsEndedInstance(t, c, restart) })
		}
	}
}

func adoptedIntentsEndedInstance(t *testing.T, c lagCloud, restart bool) {
	rig := newLagRigWith(t, c, 0, func(h *harness) {
		h.opts.Tick = 30 * time.Second
		h.opts.CallTimeouts = map[string]time.Duration{c.provider: 10 * time.Minute}
	})
	h := rig.harness
	rig.wrapProvider(func(p providers.Provider) providers.Provider {
		return &firstAnswerLost{Provider: p, h: h, took: 11 * time.Minute}
	})
	h.restart()
	h.setDemand(2*time.Minute, 8)
	h.tick()
	if n := len(h.emu.Instances()); n != 1 || len(h.rows(true)) != 0 {
		t.Fatalf("after the lost answer: %d instances, %d rows; want 1 instance and no row", n, len(h.rows(true)))
	}
	first := h.emu.Instances()[0].ID
	h.setDemand(0)
	h.until("the instance adopted", 30*time.Second, 4, func() bool { return len(h.rows(true)) == 1 })
	h.until("the adopted instance ended", 30*time.Second, 40, func() bool { return len(h.rows(true)) == 0 })
	reason := rowOf(t, h, first).EndReason
	if restart {
		st, _ := h.sched.LastStatus(h.pool.Name)
		rig.useFreshProvider(h) // a new process's
		h.restart()
		h.step(30 * time.Second)
		after, _ := h.sched.LastStatus(h.pool.Name)
		if d := after.Spend.Accrued - st.Spend.Accrued; math.Abs(d) > 0.01 {
			t.Errorf("after the restart the pool's spend went from $%.2f to $%.2f with no instance live: the ended instance counted again as its intent's", st.Spend.Accrued, after.Spend.Accrued)
		}
	}
	h.setDemand(2*time.Minute, 8)
	launched := func() bool {
		for _, in := range h.emu.Instances() {
			if in.ID != first {
				return true
			}
		}
		return false
	}
	for i := 0; !launched(); i++ {
		if i == 2 {
			st, _ := h.sched.LastStatus(h.pool.Name)
			t.Fatalf("new demand launched nothing in 1m after the adopted instance ended: %+v", st.Plan.Notes)
		}
		h.step(30 * time.Second)
	}
	// On past the intent's resume (its back-off, or the
	// consistency window after a restart).
	for range 24 {
		h.step(30 * time.Second)
		if r := rowOf(t, h, first); r.State != state.InstanceEnded || r.EndReason != reason {
			t.Fatalf("at %s the adopted instance %s, ended (%s), has row state %s, end reason %q: recorded again",
				h.clk.Now().Sub(t0), first, reason, r.State, r.EndReason)
		}
	}
	ins, err := h.store.Intents(context.Background(), state.IntentFilter{Pool: h.pool.Name, Status: state.IntentPending})
	if err != nil || len(ins) != 0 {
		t.Errorf("pending intents after 12 minutes: %v (%v), want none", ins, err)
	}
	if n := len(h.emu.Instances()); n != 2 {
		t.Errorf("%d instances launched, want 2 (the adopted one, then one for the new demand)", n)
	}
}

// wrapProvider replaces the rig's provider with wrap of it.
func (rig *lagRig) wrapProvider(wrap func(providers.Provider) providers.Provider) {
	if rig.c.provider == provName {
		rig.prov = wrap(rig.prov)
		return
	}
	rig.moreProviders[rig.c.provider] = wrap(rig.moreProviders[rig.c.provider])
}

// firstAnswerLost loses the answer of its first launch, which took took
// on the scheduler's clock, cut off at its call timeout; later launches
// pass.
type firstAnswerLost struct {
	providers.Provider
	h    *harness
	took time.Duration
	n    atomic.Int32
}

func (p *firstAnswerLost) Launch(ctx context.Context, req providers.LaunchRequest) ([]providers.Instance, error) {
	out, err := p.Provider.Launch(ctx, req)
	if p.n.Add(1) > 1 {
		return out, err
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < p.took {
		p.h.clk.Step(max(time.Until(dl), 0))
		return nil, fmt.Errorf("launch answer lost: %w", context.DeadlineExceeded)
	}
	p.h.clk.Step(p.took)
	return out, err
}
