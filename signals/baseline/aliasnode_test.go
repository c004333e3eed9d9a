package baseline

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/nvml"
)

// TestNodeListedTwiceCountsOnce: node gpu-01 is listed by its address and
// by its name (a second address of the same agent); both answer, then
// its agent restarts into a driver wedged at Init (a real agent on the
// DGX H100 mock whose Init hangs) while the path by name fails (502).
// Before, the node counted as a wedged node of 8 GPUs and as an unknown
// one of 8 more: 16 GPUs of a pool of one 8-GPU node, and its signal
// stale (the pool held) though the node's agent had answered. The target
// by name, which served the same GPUs before, is known to be the same
// node: counted once, wedged, the pool not held. Two machines of one
// name, each of its own GPUs, both wedged, count as two (before, as
// one: 8 GPUs of 16).
func TestNodeListedTwiceCountsOnce(t *testing.T) {
	tests := []struct {
		name      string
		machines  int
		gpus      int // counted, all unhealthy once wedged
		onePerMac bool
	}{
		{"one node by address and by name", 1, 8, false},
		{"two machines of one name", 2, 16, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(t0)
			var agents []*switched
			var targets []string
			for range tt.machines {
				a := healthyAgent(t, clk)
				agents = append(agents, a)
				byAddr := httptest.NewServer(a)
				t.Cleanup(byAddr.Close)
				targets = append(targets, hostPort(byAddr))
				if !tt.onePerMac {
					byName := httptest.NewServer(a.path(true))
					t.Cleanup(byName.Close)
					targets = append(targets, hostPort(byName))
				}
			}
			src, err := NewAgents(AgentsConfig{Name: "rack1", Targets: targets, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			defer src.CloseIdleConnections()
			pool := policy.Pool{Name: "h100", OnPrem: policy.OnPrem{Nodes: tt.machines, GPUsPerNode: 8}, StaleAfter: policy.Duration(2 * time.Minute)}
			read := func(when string, unhealthy int) {
				t.Helper()
				b, err := src.Baseline(context.Background())
				snap := signals.Assemble(pool, clk.Now(), &signals.BaselineReading{Source: src.Name(), Baseline: b, Err: err}, nil)
				stale := slices.ContainsFunc(snap.Stale, func(s string) bool { return strings.Contains(s, "rack1") })
				if stale || snap.OnPremGPUs != tt.gpus || snap.OnPremUnhealthyGPUs != unhealthy {
					t.Errorf("%s: %d GPUs, %d unhealthy, stale %q; want %d GPUs, %d unhealthy, not stale", when, snap.OnPremGPUs, snap.OnPremUnhealthyGPUs, snap.Stale, tt.gpus, unhealthy)
				}
			}
			read("every agent answers", 0)

			clk.Step(time.Minute) // the agents restart: Init hangs from now
			var wedged []*nvml.Agent
			var entered []<-chan struct{}
			for _, a := range agents {
				w, e := wedgedAtInit(t, clk, idleH100())
				a.set(w.Handler(), false)
				wedged, entered = append(wedged, w), append(entered, e)
			}
			clk.Step(65 * time.Second)
			for i, w := range wedged {
				sampleStuck(t, w, clk, 5*time.Second, entered[i])
			}
			read("wedged, the paths by name failing", tt.gpus)
		})
	}
}

// healthyAgent is a switched handler serving a real agent of node gpu-01
// on an idle DGX H100 mock, sampled once at clk's now.
func healthyAgent(t *testing.T, clk *clocktesting.FakeClock) *switched {
	t.Helper()
	s, err := nvml.NewSampler(idleH100(), "gpu-01", nvml.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a := nvml.NewAgent(s)
	if err := a.SampleOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &switched{h: a.Handler()}
}

// switched is an agent's handler the test swaps (an agent restarted);
// a path of it may be made to fail.
type switched struct {
	mu   sync.Mutex
	h    http.Handler
	down bool
}

func (s *switched) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	h := s.h
	s.mu.Unlock()
	h.ServeHTTP(w, r)
}

// path is s reached another way, failing (502, as a proxy whose way to
// the agent is down) while s.down and failing is set.
func (s *switched) path(failing bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		down := s.down && failing
		s.mu.Unlock()
		if down {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		s.ServeHTTP(w, r)
	})
}

// set swaps the handler, and takes the failing paths down (or up).
func (s *switched) set(h http.Handler, up bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.h, s.down = h, !up
}

// TestOneAgentSpelledThriceScrapedOnce: one agent (a real one on the DGX
// H100 mock) listed as host:port, as its URL and as its /v1/gpus in
// capitals (the config's urls beside a targets file). While it answers,
// its GPUs count once (one GPU of two targets is one), and once it stops
// the source knows the three for one by the GPUs they served; but a
// server started while it does not answer (its listener closed) had
// three unknown nodes of it, each counting gpus_per_node GPUs busy
// beside the nodes that answer (24 for one 8-GPU node). It is scraped
// once: one node unknown.
func TestOneAgentSpelledThriceScrapedOnce(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	srv := httptest.NewServer(healthyAgent(t, clk))
	hp := hostPort(srv)
	srv.Close()
	src, err := NewAgents(AgentsConfig{Name: "rack1", Targets: []string{hp, "http://" + hp, "HTTP://" + hp + "/v1/gpus"}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer src.CloseIdleConnections()
	if b, _ := src.Baseline(context.Background()); len(b.Unknown) != 1 {
		t.Errorf("one agent of three spellings, not answering: unknown %q; want it once", b.Unknown)
	}
}

// TestRebootedNodeListedTwiceCountsOnce: node gpu-01, listed by address
// and by name, reboots (its agent's machine, a hash of the boot id,
// changes; its GPUs' UUIDs do not) and comes back healthy while the path
// by name fails (502). Its two targets are still one node, known by the
// GPUs they served: 8 GPUs, not stale. (Had the machine been part of a
// target's identity, the target by name, failing since before the
// reboot, was a second node, unknown: 16 GPUs and the pool held.)
func TestRebootedNodeListedTwiceCountsOnce(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	mock := idleH100()
	boot := func(machine string) (http.Handler, func()) {
		s, err := nvml.NewSampler(mock, "gpu-01", nvml.WithClock(clk.Now))
		if err != nil {
			t.Fatal(err)
		}
		a := nvml.NewAgent(s, nvml.WithMachine(machine))
		if err := a.SampleOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		return a.Handler(), func() { s.Close() }
	}
	h, shutdown := boot("boot-1")
	sw := &switched{h: h}
	byAddr, byName := httptest.NewServer(sw), httptest.NewServer(sw.path(true))
	t.Cleanup(byAddr.Close)
	t.Cleanup(byName.Close)
	src, err := NewAgents(AgentsConfig{Name: "rack1", Targets: []string{hostPort(byAddr), hostPort(byName)}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer src.CloseIdleConnections()
	pool := policy.Pool{Name: "h100", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 8}, StaleAfter: policy.Duration(2 * time.Minute)}
	for _, when := range []string{"before the reboot", "rebooted, the path by name failing"} {
		if when != "before the reboot" {
			shutdown()
			clk.Step(time.Minute)
			h, shutdown = boot("boot-2")
			t.Cleanup(shutdown)
			sw.set(h, false)
		}
		b, err := src.Baseline(context.Background())
		snap := signals.Assemble(pool, clk.Now(), &signals.BaselineReading{Source: src.Name(), Baseline: b, Err: err}, nil)
		if snap.OnPremGPUs != 8 || slices.ContainsFunc(snap.Stale, func(s string) bool { return strings.Contains(s, "rack1") }) {
			t.Errorf("%s: %d GPUs, stale %q; want 8, not stale", when, snap.OnPremGPUs, snap.Stale)
		}
	}
}
