package scheduler_test

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/signals/nvml"
	"github.com/spillway-io/spillway/state"
)

// TestWedgedAgentEndsTheInstance: the agent of a running burst instance
// (go-nvml's DGX H100 mock) restarts, and NVML's Init hangs in the driver:
// it opens no GPU and answers /v1/gpus 503, with wedged_since once it
// judges the driver wedged (nvml.LostAfter). Before, the scheduler took
// any 503 of a running instance's agent for no answer: the instance kept
// its last reading (idle, its GPUs room for the queue) and was billed
// until its max lifetime. Before the verdict it is kept (a moment's
// stall); after it, it is drained, saying why, and ended.
func TestWedgedAgentEndsTheInstance(t *testing.T) {
	h := newHarness(t, testPool())
	reg := prometheus.NewRegistry()
	h.opts.Registerer = reg
	h.restart()
	var never bool
	joinIdle(t, h, idleMockFailing(&never, nv.SUCCESS))

	agent, start := wedgedAgent(t, h)
	for h.clk.Now().Sub(start) < nvml.LostAfter {
		sampleTimingOut(t, h, agent)
		h.step(10 * time.Second)
		if rs := h.rows(true); len(rs) != 1 || rs[0].State != state.InstanceRunning {
			t.Fatalf("Init stuck for %s (less than %s): rows %+v; want the instance kept running", h.clk.Now().Sub(start), nvml.LostAfter, rs)
		}
	}
	sampleTimingOut(t, h, agent)
	h.step(10 * time.Second)
	reason := h.lastDrainReason()
	if !strings.Contains(reason, "GPU driver is wedged since "+start.UTC().Format(time.RFC3339)) || !strings.Contains(reason, "Init") {
		t.Errorf("drain reason %q; want the instance drained as its driver wedged since %s, naming the call stuck", reason, start.UTC().Format(time.RFC3339))
	}
	h.until("the instance ends", 10*time.Second, 6, func() bool { return len(h.rows(true)) == 0 })
	if n := counterOf(t, reg, "spillway_broken_instances_total", "p4d"); n != 1 {
		t.Errorf("spillway_broken_instances_total = %v; want 1 (drained, its driver wedged)", n)
	}
}

// TestWedgedAgentEndsABootingInstance: a burst instance boots with its
// driver wedged (go-nvml's DGX H100 mock whose Init hangs): its agent
// answers 503, with wedged_since once it judges the driver wedged
// (nvml.LostAfter). Before, a booting instance's 503 was only "answers
// without its GPUs": it was billed until its join timeout (10 minutes
// here, the instance still booting 2 minutes after the verdict), and no
// metric said why. It is ended at the first probe after the verdict,
// counted as a failed launch and in spillway_broken_instances_total,
// both with cause driver_wedged.
func TestWedgedAgentEndsABootingInstance(t *testing.T) {
	h := newHarness(t, testPool())
	reg := prometheus.NewRegistry()
	h.opts.Registerer = reg
	h.restart()
	agent, start := wedgedAgent(t, h)
	h.setDemand(2*time.Minute, 8)
	h.tick()
	id := h.rows(true)[0].ID
	for h.clk.Now().Sub(start) < nvml.LostAfter {
		sampleTimingOut(t, h, agent)
		h.step(10 * time.Second)
		if rs := h.rows(true); len(rs) != 1 || rs[0].State != state.InstanceBooting {
			t.Fatalf("Init stuck for %s (less than %s): rows %+v; want the instance still booting", h.clk.Now().Sub(start), nvml.LostAfter, rs)
		}
	}
	sampleTimingOut(t, h, agent)
	h.step(10 * time.Second)
	i := slices.IndexFunc(h.rows(false), func(r state.Instance) bool { return r.ID == id })
	r := h.rows(false)[i]
	if r.State != state.InstanceTerminating && r.State != state.InstanceEnded {
		t.Fatalf("%s after launch, its driver wedged since launch: %s; want it ending", h.clk.Now().Sub(start), r.State)
	}
	if want := "never joined: its agent says the GPU driver is wedged since " + start.UTC().Format(time.RFC3339); !strings.HasPrefix(r.EndReason, want) || !strings.Contains(r.EndReason, "Init") {
		t.Errorf("end reason %q; want it to begin %q and name the call stuck", r.EndReason, want)
	}
	for _, name := range []string{"spillway_broken_instances_total", "spillway_launch_failures_total"} {
		if n := counterOf(t, reg, name, "p4d"); n != 1 {
			t.Errorf("%s = %v; want 1 (cause driver_wedged)", name, n)
		}
	}
	if slices.ContainsFunc(h.live(), func(in emulator.Instance) bool { return in.ID == id }) {
		t.Errorf("the cloud still runs %s; want it terminated", id)
	}
}

// wedgedAgent serves, as every burst instance's agent, a real agent on
// go-nvml's DGX H100 mock whose NVML Init hangs from now on (returned,
// the moment it began): it opens no GPU, and answers /v1/gpus 503, with
// wedged_since once nvml.LostAfter has passed on h's clock.
func wedgedAgent(t *testing.T, h *harness) (*nvml.Agent, time.Time) {
	t.Helper()
	var never bool
	mock := idleMockFailing(&never, nv.SUCCESS)
	release := make(chan struct{})
	mock.InitFunc = func() nv.Return { <-release; return nv.SUCCESS }
	start := h.clk.Now()
	sampler, err := nvml.StartSampler(mock, "burst-1", nvml.WithClock(h.clk.Now), nvml.WithStartTimeout(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sampler.Close() })
	t.Cleanup(sync.OnceFunc(func() { close(release) })) // before Close, which waits for Init
	agent := nvml.NewAgent(sampler, nvml.WithAgentClock(h.clk), nvml.WithSampleTimeout(5*time.Second))
	h.agents.handler = agent.Handler()
	return agent, start
}

// sampleTimingOut takes one sample of agent, whose NVML call hangs: once
// the sample waits on its timeout (a waiter on h's clock), the clock is
// moved past it. It fails the test when the sample has not returned in
// ten seconds of real time.
func sampleTimingOut(t *testing.T, h *harness, agent *nvml.Agent) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); agent.SampleOnce(context.Background()) }()
	deadline := time.Now().Add(10 * time.Second)
	for !h.clk.HasWaiters() && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	h.clk.Step(5 * time.Second)
	select {
	case <-done:
	case <-time.After(time.Until(deadline)):
		t.Fatal("the stuck sample did not return")
	}
}
