package scheduler_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/state"
)

// TestLaunchAnswerNamingAnInstanceTwice: a launch whose answer named its
// one instance twice (a cloud's answer, or a provider's merge of a
// resumed launch with the instances it remembers) was recorded "launched
// 2", the intent done with the id twice and
// spillway_launched_instances_total counting 2, for one instance running
// and billing. An instance named again in an answer is now taken once.
// A listing that names an instance twice is shown to change nothing.
func TestLaunchAnswerNamingAnInstanceTwice(t *testing.T) {
	for _, c := range lagClouds {
		t.Run(c.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			rig := newLagRig(t, c, 0)
			h := rig.harness
			rig.wrapProvider(func(p providers.Provider) providers.Provider { return namesTwice{p} })
			h.opts.Registerer = reg
			h.restart()
			h.setDemand(2*time.Minute, 8)
			h.tick()
			if n := len(h.live()); n != 1 {
				t.Fatalf("%d instances launched, want 1", n)
			}
			d := h.decisions()[0]
			if len(d.Launches) != 1 || len(d.Launches[0].Instances) != 1 || d.Launches[0].Outcome != "launched 1" {
				t.Errorf("launch recorded as %+v, want one instance, launched 1", d.Launches)
			}
			if n := sumOf(t, reg, "spillway_launched_instances_total"); n != 1 {
				t.Errorf("spillway_launched_instances_total %v, want 1", n)
			}
			ins, err := h.store.Intents(context.Background(), state.IntentFilter{Pool: h.pool.Name})
			if err != nil || len(ins) != 1 || len(ins[0].InstanceIDs) != 1 {
				t.Errorf("intents %+v (%v), want one done with one instance", ins, err)
			}
			// Listed twice at every tick: one row, ended once drained.
			h.agents.setBusy(0)
			h.setDemand(0)
			h.until("the instance ends", 30*time.Second, 40, func() bool { return len(h.rows(true)) == 0 })
			if n, ends := len(h.rows(false)), rig.ends.Load(); n != 1 || ends != 1 {
				t.Errorf("%d rows and %d %s calls for one instance, want 1 and 1", n, ends, c.terminate)
			}
		})
	}
}

// namesTwice answers each launch and list with every instance twice.
type namesTwice struct{ providers.Provider }

func (p namesTwice) Launch(ctx context.Context, req providers.LaunchRequest) ([]providers.Instance, error) {
	out, err := p.Provider.Launch(ctx, req)
	return append(out, out...), err
}

func (p namesTwice) List(ctx context.Context, f providers.ListFilter) ([]providers.Instance, error) {
	out, err := p.Provider.List(ctx, f)
	return append(out, out...), err
}
