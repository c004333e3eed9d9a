package scheduler_test

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"

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
	var never bool
	joinIdle(t, h, idleMockFailing(&never, nv.SUCCESS))

	mock := idleMockFailing(&never, nv.SUCCESS)
	release := make(chan struct{})
	let := sync.OnceFunc(func() { close(release) })
	defer let() // before Close, which waits for Init
	mock.InitFunc = func() nv.Return { <-release; return nv.SUCCESS }
	start := h.clk.Now()
	sampler, err := nvml.StartSampler(mock, "burst-1", nvml.WithClock(h.clk.Now), nvml.WithStartTimeout(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sampler.Close() })
	agent := nvml.NewAgent(sampler, nvml.WithAgentClock(h.clk), nvml.WithSampleTimeout(5*time.Second))
	h.agents.handler = agent.Handler()
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
