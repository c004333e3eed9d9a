package scheduler_test

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/scheduler"
	"github.com/spillway-io/spillway/state"
)

// TestLaunchAnswerNamingAnotherPoolsInstance: rows are keyed by provider
// and id, and a launch's answer was checked against the launching pool's
// rows only. An answer naming an instance another pool's row holds (a
// cloud's answer gone wrong, a client token that collided with that
// pool's launch) was recorded under the launching pool over that row and,
// past the intent's count, terminated: the other pool lost its instance
// and its row. The instance is now left to its pool, its row unchanged,
// and the launch says so once.
//
// Run on EC2 and ECS, each through its real SDK on the emulator.
func TestLaunchAnswerNamingAnotherPoolsInstance(t *testing.T) {
	for _, c := range lagClouds {
		for _, tt := range []struct {
			name  string
			first bool // the other pool's instance comes first in the answer
		}{
			{"after its own", false},
			{"before its own", true},
		} {
			t.Run(c.name+"/"+tt.name, func(t *testing.T) { answerNamesOthers(t, c, tt.first) })
		}
	}
}

func answerNamesOthers(t *testing.T, c lagCloud, first bool) {
	ctx := context.Background()
	other := c.pool()
	other.Name = "infer"
	rig := newLagRigWith(t, c, 0, func(h *harness) {
		h.extra = []scheduler.Pool{{Policy: other, JoinTimeout: 10 * time.Minute, Snapshot: func(context.Context) policy.Snapshot {
			return policy.Snapshot{Time: h.clk.Now(), OnPremGPUs: 8, OnPremBusyGPUs: 8, PendingJobs: 1, PendingGPUs: 8, PendingJobGPUs: []int{8},
				PendingJobWaits: []time.Duration{2 * time.Minute}, OldestWait: 2 * time.Minute}
		}}}
	})
	h := rig.harness
	mixed := &answersWithOthers{pool: other.Name, first: first}
	rig.wrapProvider(func(p providers.Provider) providers.Provider { mixed.Provider = p; return mixed })
	h.restart()
	if err := h.sched.Tick(ctx, other.Name); err != nil {
		t.Fatal(err)
	}
	theirs, err := h.store.Instances(ctx, state.InstanceFilter{Pool: other.Name})
	if err != nil || len(theirs) != 1 {
		t.Fatalf("pool %s's rows %+v (%v); want the one instance it launched", other.Name, theirs, err)
	}
	mixed.on.Store(true)
	h.setDemand(2*time.Minute, 8)
	h.tick()
	mixed.on.Store(false)
	h.step(30 * time.Second)

	after, err := h.store.Instances(ctx, state.InstanceFilter{Pool: other.Name})
	if err != nil || len(after) != 1 || !reflect.DeepEqual(after[0], theirs[0]) {
		t.Errorf("pool %s's row after pool %s's launch was answered with its instance:\n%+v (%v)\nwant it unchanged:\n%+v", other.Name, h.pool.Name, after, err, theirs[0])
	}
	for _, in := range rig.launched() {
		if in.ID == theirs[0].ID && (in.State == "shutting-down" || in.State == "terminated") {
			t.Errorf("pool %s's instance %s is %s: the other pool's launch terminated it", other.Name, in.ID, in.State)
		}
	}
	var own []state.Instance
	for _, r := range h.rows(false) {
		if r.ID == theirs[0].ID {
			t.Errorf("pool %s holds a row of pool %s's instance %s: %+v", h.pool.Name, other.Name, r.ID, r)
			continue
		}
		own = append(own, r)
	}
	if len(own) != 1 || own[0].IntentID == "" || own[0].State != state.InstanceBooting && own[0].State != state.InstanceRunning {
		t.Fatalf("pool %s's rows %+v; want its own instance, live under its intent", h.pool.Name, own)
	}
	ins, err := h.store.Intents(ctx, state.IntentFilter{Pool: h.pool.Name})
	if err != nil || len(ins) != 1 || ins[0].Status != state.IntentDone || !slices.Equal(ins[0].InstanceIDs, []string{own[0].ID}) {
		t.Errorf("intents %+v (%v); want one done with instance %s only", ins, err, own[0].ID)
	}
	said := 0
	for _, d := range h.decisions() {
		for _, n := range d.Notes {
			if strings.Contains(n, theirs[0].ID) && strings.Contains(n, "another pool") {
				said++
			}
		}
	}
	if said != 1 {
		t.Errorf("%d notes say the answer named pool %s's instance %s, want 1", said, other.Name, theirs[0].ID)
	}
}

// answersWithOthers answers each launch of a pool other than pool, while
// on is set, with the instances the cloud lists for pool too (before the
// launch's own with first): a cloud whose answer names another pool's
// instances, as a client token colliding with that pool's launch does.
type answersWithOthers struct {
	providers.Provider
	pool  string
	first bool
	on    atomic.Bool
}

func (p *answersWithOthers) Launch(ctx context.Context, req providers.LaunchRequest) ([]providers.Instance, error) {
	out, err := p.Provider.Launch(ctx, req)
	if err != nil || !p.on.Load() || req.Tags[providers.TagPool] == p.pool {
		return out, err
	}
	theirs, err := p.Provider.List(ctx, providers.ListFilter{Cluster: req.Tags[providers.TagCluster], Pool: p.pool})
	if err != nil {
		return nil, err
	}
	if p.first {
		return append(theirs, out...), nil
	}
	return append(out, theirs...), nil
}
