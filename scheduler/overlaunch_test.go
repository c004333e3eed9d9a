package scheduler_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/state"
)

// TestInstancesPastAnIntentsCountAreNotAdopted: every instance the cloud
// listed with a known intent's tag was adopted, however many the intent
// asked for: a cloud that launched twice (here the provider's call is made
// again with another client token, as another server or a script using
// the intent's tag would) left the pool running two 8-GPU instances, both
// managed and billed, for demand that launched one, past max_gpus and the
// budget when the pool is at its limit. The intent's count is adopted and
// no more: an extra instance is recorded under no intent and terminated
// in the tick that lists it, and again at the next tick should its
// terminate be refused.
//
// Run on EC2 and ECS, each through its real SDK on the emulator.
func TestInstancesPastAnIntentsCountAreNotAdopted(t *testing.T) {
	for _, c := range lagClouds {
		for _, tt := range []struct {
			name    string
			refused bool // the extra's first terminate is refused
		}{
			{"terminated", false},
			{"terminate refused once", true},
		} {
			t.Run(c.name+"/"+tt.name, func(t *testing.T) { instancesPastCount(t, c, tt.refused) })
		}
	}
}

func instancesPastCount(t *testing.T, c lagCloud, refused bool) {
	rig := newLagRigWith(t, c, 0)
	h := rig.harness
	rig.wrapProvider(func(p providers.Provider) providers.Provider { return &launchedTwice{Provider: p} })
	h.restart()
	h.setDemand(2*time.Minute, 8)
	h.tick()
	if n, rs := len(rig.launched()), h.rows(true); n != 2 || len(rs) != 1 {
		t.Fatalf("after the launch: %d instances, %d live rows; want 2 instances (one launched twice) and 1 row", n, len(rs))
	}
	recorded := h.rows(true)[0]
	var extra string
	for _, in := range rig.launched() {
		if in.ID != recorded.ID {
			extra = in.ID
		}
	}
	rig.refuseEnds.Store(refused)
	ends := rig.ends.Load()
	h.step(30 * time.Second)
	if refused {
		if rig.ends.Load() == ends {
			t.Fatalf("no %s call for instance %s, launched past intent %s's count of 1", c.terminate, extra, recorded.IntentID)
		}
		rig.refuseEnds.Store(false)
		h.step(30 * time.Second)
	}
	for _, r := range h.rows(true) {
		if r.ID != recorded.ID && r.State != state.InstanceTerminating {
			t.Fatalf("instance %s (intent %q) is %s; want only %s, the intent's one instance, live: %s was launched past its count", r.ID, r.IntentID, r.State, recorded.ID, extra)
		}
	}
	extraEnding(t, rig, extra)
	// The intent's own instance is not taken for an extra.
	if rowOf(t, h, recorded.ID).State == state.InstanceEnded {
		t.Errorf("the intent's own instance %s ended", recorded.ID)
	}
}

// extraEnding checks an instance launched past its intent's count: its
// row ending, recorded under no intent and no floor, with why, and the
// cloud terminating it.
func extraEnding(t *testing.T, rig *lagRig, id string) {
	t.Helper()
	r := rowOf(t, rig.harness, id)
	if r.State != state.InstanceTerminating && r.State != state.InstanceEnded || r.IntentID != "" || r.Floor != "" || r.EndReason == "" {
		t.Errorf("row of the extra instance %s: %s, intent %q, floor %q, end reason %q; want it ending, recorded under no intent and no floor, with why", id, r.State, r.IntentID, r.Floor, r.EndReason)
	}
	for _, in := range rig.launched() {
		if in.ID == id && in.State != "shutting-down" && in.State != "terminated" {
			t.Errorf("instance %s, launched past its intent's count, is %s in the cloud; want it terminated", id, in.State)
		}
	}
}

// launchedTwice makes its first launch twice, the second time with
// another client token and the same tags, answering with the first
// call's instances only: the cloud runs one instance its answer did not
// name, carrying the intent's tag.
type launchedTwice struct {
	providers.Provider
	n atomic.Int32
}

func (p *launchedTwice) Launch(ctx context.Context, req providers.LaunchRequest) ([]providers.Instance, error) {
	out, err := p.Provider.Launch(ctx, req)
	if err != nil || p.n.Add(1) > 1 {
		return out, err
	}
	again := req
	again.ClientToken = req.ClientToken + "-again"
	if _, err := p.Provider.Launch(ctx, again); err != nil {
		return nil, err
	}
	return out, nil
}
