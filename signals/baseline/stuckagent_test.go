package baseline

import (
	"context"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/nvml"
)

// TestWedgedAgentCountsItsGPUsUnhealthy: a real agent whose first sample
// is stuck in DeviceGetCount (its driver wedged), read by the agents
// source (max_sample_age 30s) as time goes on. The agent serves its GPUs
// with the sample's start as sample_time: unknown, then unhealthy once
// stuck for a minute (nvml.LostAfter). Before, past max_sample_age the
// server took the node for unknown by its sample's age, for good: the
// unhealthy verdict (which docs/signals.md says counts) was never seen,
// the pool's signal was stale and the engine held the whole pool (no
// launch for its queue) until the node was rebooted, and the cause said
// only "the agent's NVML reads are stuck". While the agent's GPUs are
// unknown past max_sample_age, the node is still unknown (a moment's
// stall), its cause now quoting the agent (the call, since when); once
// the agent judges its driver wedged, its GPUs count unhealthy, never
// free, and the pool is not held for them.
func TestWedgedAgentCountsItsGPUsUnhealthy(t *testing.T) {
	mock := idleH100()
	clk := clocktesting.NewFakeClock(t0)
	s, err := nvml.NewSampler(mock, "gpu-01", nvml.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	release := make(chan struct{})
	let := sync.OnceFunc(func() { close(release) })
	defer let() // before Close, which waits for the stuck call
	count := mock.DeviceGetCountFunc
	entered := make(chan struct{})
	inside := sync.OnceFunc(func() { close(entered) })
	mock.DeviceGetCountFunc = func() (int, nv.Return) { inside(); <-release; return count() }
	a := nvml.NewAgent(s, nvml.WithAgentClock(clk), nvml.WithSampleTimeout(5*time.Second))
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	src, err := NewAgents(AgentsConfig{Name: "rack1", Targets: []string{hostPort(srv)}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	pool := policy.Pool{Name: "h100", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}, StaleAfter: policy.Duration(2 * time.Minute)}
	for _, tc := range []struct {
		at                    time.Duration // since the sample began
		unknownNode           bool
		unhealthy, free, busy int
	}{
		{at: 5 * time.Second, busy: 8},                     // unknown GPUs, busy
		{at: 40 * time.Second, unknownNode: true, busy: 8}, // stuck past max_sample_age, not yet wedged
		{at: 70 * time.Second, unhealthy: 8, busy: 8},      // wedged
		{at: 10 * time.Minute, unhealthy: 8, busy: 8},
	} {
		clk.SetTime(t0.Add(tc.at - 5*time.Second))
		sampleStuck(t, a, clk, 5*time.Second, entered)
		b, err := src.Baseline(context.Background()) // fails when its one node is unknown
		snap := signals.Assemble(pool, clk.Now(), &signals.BaselineReading{Source: src.Name(), Baseline: b, Err: err}, nil)
		if got := len(b.Unknown) == 1; got != tc.unknownNode {
			t.Errorf("%s into the stuck sample: node unknown %v (%v), want %v", tc.at, got, b.UnknownCauses, tc.unknownNode)
		}
		if tc.unknownNode && !strings.Contains(b.UnknownCauses[b.Unknown[0]], "DeviceGetCount has not returned since "+t0.Format(time.RFC3339)) {
			t.Errorf("%s into the stuck sample: cause %q, want it to quote the agent: the call stuck and since when", tc.at, b.UnknownCauses[b.Unknown[0]])
		}
		stale := slices.ContainsFunc(snap.Stale, func(s string) bool { return strings.Contains(s, "rack1") })
		if stale != tc.unknownNode || snap.OnPremUnhealthyGPUs != tc.unhealthy || snap.OnPremFreeGPUs != tc.free || snap.OnPremBusyGPUs != tc.busy {
			t.Errorf("%s into the stuck sample: stale %v %q, %d unhealthy, %d free, %d busy; want stale %v, %d unhealthy, %d free, %d busy",
				tc.at, stale, snap.Stale, snap.OnPremUnhealthyGPUs, snap.OnPremFreeGPUs, snap.OnPremBusyGPUs, tc.unknownNode, tc.unhealthy, tc.free, tc.busy)
		}
	}
}

// sampleStuck runs a.SampleOnce, whose sample is stuck, stepping clk by
// step once it waits on its timer and the stuck call has been entered
// (closed); it fails the test when SampleOnce does not return within ten
// seconds of real time.
func sampleStuck(t *testing.T, a *nvml.Agent, clk *clocktesting.FakeClock, step time.Duration, entered <-chan struct{}) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- a.SampleOnce(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for !clk.HasWaiters() {
		if ctx.Err() != nil {
			t.Fatal("SampleOnce never waited on its timer")
		}
		runtime.Gosched()
	}
	select {
	case <-entered:
	case <-ctx.Done():
		t.Fatal("the stuck call was never entered")
	}
	clk.Step(step)
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("SampleOnce did not return")
	}
}

// idleH100 is a DGX H100 mock node whose GPUs are healthy and idle.
func idleH100() *server.Server {
	mock := dgxh100.New()
	for _, d := range mock.Devices {
		d := d.(*server.Device)
		nvml.IdleMock(d)
	}
	return mock
}

// TestAgentWedgedBeforeOpeningCountsUnhealthy: a real agent whose NVML
// Init hangs at start (a driver wedged at boot) opens no GPU: /v1/gpus
// answers 503, with no GPU to mark unhealthy. Before, the agents source
// took any 503 for a node unknown: its pool's signal was stale and the
// engine held the whole pool (no launch for its queue) until the node
// was rebooted. Once the agent judges its driver wedged (stuck for
// nvml.LostAfter), its answer says so (wedged_since) and the pool counts
// the node's gpus_per_node GPUs unhealthy, busy, never free; before
// that, the node is unknown (a moment's stall), its cause the agent's.
// The same node listed twice (by name and by address) counts once.
func TestAgentWedgedBeforeOpeningCountsUnhealthy(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	a, entered := wedgedAtInit(t, clk, idleH100())
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	addr := hostPort(srv)
	byName := strings.Replace(addr, "127.0.0.1", "localhost", 1)
	src, err := NewAgents(AgentsConfig{Name: "rack1", Targets: []string{addr, byName}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	pool := policy.Pool{Name: "h100", OnPrem: policy.OnPrem{Nodes: 2, GPUsPerNode: 8}, StaleAfter: policy.Duration(2 * time.Minute)}
	for _, tc := range []struct {
		at             time.Duration // since the opening began
		unknown        bool
		unhealthy, gpu int
	}{
		{at: 5 * time.Second, unknown: true, gpu: 16}, // both targets unknown: 8 GPUs each, busy
		{at: 70 * time.Second, unhealthy: 8, gpu: 8},  // wedged: one node of 8, unhealthy
		{at: 10 * time.Minute, unhealthy: 8, gpu: 8},
	} {
		clk.SetTime(t0.Add(tc.at - 5*time.Second))
		sampleStuck(t, a, clk, 5*time.Second, entered)
		b, err := src.Baseline(context.Background())
		snap := signals.Assemble(pool, clk.Now(), &signals.BaselineReading{Source: src.Name(), Baseline: b, Err: err}, nil)
		stale := slices.ContainsFunc(snap.Stale, func(s string) bool { return strings.Contains(s, "rack1") })
		if stale != tc.unknown || snap.OnPremUnhealthyGPUs != tc.unhealthy || snap.OnPremGPUs != tc.gpu || snap.OnPremBusyGPUs != tc.gpu || snap.OnPremFreeGPUs != 0 {
			t.Errorf("%s into a stuck Init: stale %v %q, %d GPUs, %d busy, %d unhealthy, %d free; want stale %v, %d GPUs, all busy, %d unhealthy, 0 free",
				tc.at, stale, snap.Stale, snap.OnPremGPUs, snap.OnPremBusyGPUs, snap.OnPremUnhealthyGPUs, snap.OnPremFreeGPUs, tc.unknown, tc.gpu, tc.unhealthy)
		}
		if why := b.Wedged["gpu-01"]; !tc.unknown && !strings.Contains(why, "Init has not returned since "+t0.Format(time.RFC3339)) {
			t.Errorf("%s into a stuck Init: wedged %q, want gpu-01 with the agent's error naming Init since %s", tc.at, b.Wedged, t0.Format(time.RFC3339))
		}
	}
}

// wedgedAtInit is a real agent of node gpu-01 on mock, whose NVML Init
// hangs from clk's now until the test ends (entered is closed once it
// has begun): it opens no GPU, and answers /v1/gpus 503, with
// wedged_since once nvml.LostAfter has passed on clk.
func wedgedAtInit(t *testing.T, clk *clocktesting.FakeClock, mock *server.Server) (*nvml.Agent, <-chan struct{}) {
	t.Helper()
	release := make(chan struct{})
	entered := make(chan struct{})
	inside := sync.OnceFunc(func() { close(entered) })
	initNVML := mock.InitFunc
	mock.InitFunc = func() nv.Return { inside(); <-release; return initNVML() }
	s, err := nvml.StartSampler(mock, "gpu-01", nvml.WithClock(clk.Now), nvml.WithStartTimeout(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	t.Cleanup(sync.OnceFunc(func() { close(release) })) // before Close, which waits for the stuck call
	return nvml.NewAgent(s, nvml.WithAgentClock(clk), nvml.WithSampleTimeout(5*time.Second)), entered
}
