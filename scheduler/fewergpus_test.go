package scheduler_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spillway-io/spillway/signals/nvml"
	"github.com/spillway-io/spillway/state"
)

// TestInstanceWhoseAgentCountsFewerGPUs: a burst instance of an 8-GPU
// offering boots with a driver that counts fewer of its GPUs (a GPU
// fallen off the bus before the driver loaded: NVML's DeviceGetCount
// answers 6, or 0), as its agent (a real one on go-nvml's DGX H100
// mock) says, and an 8-GPU job waits. Before, the scheduler counted the
// instance as the offering's 8 GPUs, all idle: room for the job, so
// nothing was launched for it, and the job could run nowhere (one of 0
// GPUs was kept, billed, until scale-in). The GPUs its agent does not
// count are no room (spillway_gpus{origin="cloud_unhealthy"}), as
// unhealthy ones: the job has an instance launched; one whose agent
// counts none is drained, saying why. Either is warned of once.
func TestInstanceWhoseAgentCountsFewerGPUs(t *testing.T) {
	for _, tc := range []struct {
		counted   int
		unhealthy float64
		drained   bool
	}{
		{counted: 6, unhealthy: 2},
		{counted: 0, drained: true},
	} {
		t.Run(fmt.Sprintf("%d of 8", tc.counted), func(t *testing.T) {
			h := newHarness(t, testPool())
			reg := prometheus.NewRegistry()
			h.opts.Registerer = reg
			h.logs = &lockedBuffer{}
			h.restart()
			var never bool
			mock := idleMockFailing(&never, nv.SUCCESS)
			mock.DeviceGetCountFunc = func() (int, nv.Return) { return tc.counted, nv.SUCCESS }
			sampler, err := nvml.NewSampler(mock, "burst-1", nvml.WithClock(h.clk.Now))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sampler.Close() })
			agent := nvml.NewAgent(sampler)
			if err := agent.SampleOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			h.agents.handler = agent.Handler()
			h.setDemand(2*time.Minute, 8)
			h.tick()
			id := h.rows(true)[0].ID
			h.untilNoLongerBooting(id)
			h.step(10 * time.Second)
			if n := gpusOf(t, reg, "cloud_unhealthy"); !tc.drained && n != tc.unhealthy {
				t.Errorf("spillway_gpus{origin=cloud_unhealthy} = %v; want %v, the GPUs its agent does not count", n, tc.unhealthy)
			}
			if reason := h.lastDrainReason(); tc.drained && !strings.Contains(reason, "its agent counts no GPU") {
				t.Errorf("drain reason %q; want the instance drained as its agent counts no GPU", reason)
			}
			if live := h.live(); len(live) != 2 && !(tc.drained && len(live) == 1 && live[0].ID != id) {
				t.Errorf("an 8-GPU job waiting beside an instance whose agent counts %d GPUs of 8: %d instances live; want another launched for it", tc.counted, len(live))
			}
			if n := strings.Count(h.logs.String(), "counts fewer GPUs than its offering's"); n != 1 {
				t.Errorf("%d warnings that the agent counts fewer GPUs than the offering's; want 1", n)
			}
			if rs := h.rows(true); tc.drained && len(rs) > 0 && rs[0].ID == id && rs[0].State == state.InstanceRunning {
				t.Errorf("instance %s, its agent counting no GPU, still running", id)
			}
		})
	}
}
