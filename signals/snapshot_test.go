package signals_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/baseline"
	"github.com/spillway-io/spillway/signals/nvml"
	promdemand "github.com/spillway-io/spillway/signals/queue/prometheus"
	"github.com/spillway-io/spillway/signals/queue/prometheus/promtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var now = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func pool() policy.Pool {
	return policy.Pool{Name: "a100", OnPrem: policy.OnPrem{Nodes: 4, GPUsPerNode: 8}, StaleAfter: policy.Duration(time.Minute)}
}

func gpus(node string, busy, wasted, free int) []signals.GPU {
	var out []signals.GPU
	add := func(n int, g signals.GPU) {
		for range n {
			g.Node, g.Index = node, len(out)
			out = append(out, g)
		}
	}
	add(busy, signals.GPU{Busy: true, Allocated: true, Utilization: 90})
	add(wasted, signals.GPU{Busy: true, Allocated: true, Idle: true, Utilization: 2})
	add(free, signals.GPU{Idle: true})
	return out
}

func TestAssemble(t *testing.T) {
	fresh := now.Add(-10 * time.Second)
	okBase := &signals.BaselineReading{Source: "agents:r1", Baseline: signals.Baseline{Time: fresh,
		GPUs: append(gpus("n1", 5, 2, 1), gpus("n2", 0, 0, 8)...)}}
	jobs := signals.DemandReading{Source: "slurm:gpu", Demand: signals.Demand{Time: fresh, PendingJobs: 3, JobGPUs: []int{1, 2, 8}, OldestWait: 5 * time.Minute, OldestWaitKnown: true}}
	gpusOnly := signals.DemandReading{Source: "prometheus:q", Demand: signals.Demand{Time: now.Add(-20 * time.Second), PendingGPUs: 4, PendingGPUsKnown: true}}
	jobsOnly := signals.DemandReading{Source: "redis:q", Demand: signals.Demand{Time: fresh, PendingJobs: 2}}
	waited := signals.DemandReading{Source: "slurm:gpu", Demand: signals.Demand{Time: fresh, PendingJobs: 3, JobGPUs: []int{1, 2, 8},
		JobWaits: []time.Duration{5 * time.Minute, time.Minute, 0}, OldestWait: 5 * time.Minute, OldestWaitKnown: true}}
	waited2 := signals.DemandReading{Source: "command:q", Demand: signals.Demand{Time: fresh, PendingJobs: 1, JobGPUs: []int{4},
		JobWaits: []time.Duration{2 * time.Minute}, OldestWait: 2 * time.Minute, OldestWaitKnown: true}}

	for _, tc := range []struct {
		name    string
		base    *signals.BaselineReading
		demands []signals.DemandReading
		want    policy.Snapshot
	}{
		{"all fresh", okBase, []signals.DemandReading{jobs, gpusOnly},
			policy.Snapshot{Time: now.Add(-20 * time.Second), OnPremGPUs: 16, OnPremBusyGPUs: 7, OnPremFreeGPUs: 9, IdleAllocatedGPUs: 2,
				PendingJobs: 3, PendingGPUs: 15, OldestWait: 5 * time.Minute}},
		{"job GPUs kept when every source lists every job", okBase, []signals.DemandReading{jobs},
			policy.Snapshot{Time: fresh, OnPremGPUs: 16, OnPremBusyGPUs: 7, OnPremFreeGPUs: 9, IdleAllocatedGPUs: 2,
				PendingJobs: 3, PendingGPUs: 11, PendingJobGPUs: []int{1, 2, 8}, OldestWait: 5 * time.Minute}},
		{"job waits kept when every source gives every job's wait", okBase, []signals.DemandReading{waited, waited2},
			policy.Snapshot{Time: fresh, OnPremGPUs: 16, OnPremBusyGPUs: 7, OnPremFreeGPUs: 9, IdleAllocatedGPUs: 2,
				PendingJobs: 4, PendingGPUs: 15, PendingJobGPUs: []int{1, 2, 8, 4},
				PendingJobWaits: []time.Duration{5 * time.Minute, time.Minute, 0, 2 * time.Minute}, OldestWait: 5 * time.Minute}},
		{"job waits dropped when one source lists jobs without them", okBase, []signals.DemandReading{waited, jobs},
			policy.Snapshot{Time: fresh, OnPremGPUs: 16, OnPremBusyGPUs: 7, OnPremFreeGPUs: 9, IdleAllocatedGPUs: 2,
				PendingJobs: 6, PendingGPUs: 22, PendingJobGPUs: []int{1, 2, 8, 1, 2, 8}, OldestWait: 5 * time.Minute}},
		{"job waits dropped with the job list", okBase, []signals.DemandReading{waited, gpusOnly},
			policy.Snapshot{Time: now.Add(-20 * time.Second), OnPremGPUs: 16, OnPremBusyGPUs: 7, OnPremFreeGPUs: 9, IdleAllocatedGPUs: 2,
				PendingJobs: 3, PendingGPUs: 15, OldestWait: 5 * time.Minute}},
		{"free GPUs no pending job fits are not free", &signals.BaselineReading{Source: "agents:r1", Baseline: signals.Baseline{Time: fresh,
			GPUs: append(gpus("n1", 5, 0, 3), gpus("n2", 6, 0, 2)...)}},
			[]signals.DemandReading{{Source: "slurm:gpu", Demand: signals.Demand{Time: fresh, PendingJobs: 2, JobGPUs: []int{4, 8}}}},
			policy.Snapshot{Time: fresh, OnPremGPUs: 16, OnPremBusyGPUs: 11, OnPremFreeGPUs: 0,
				PendingJobs: 2, PendingGPUs: 12, PendingJobGPUs: []int{4, 8}}},
		{"free GPUs on nodes with room for the smallest job", &signals.BaselineReading{Source: "agents:r1", Baseline: signals.Baseline{Time: fresh,
			GPUs: append(gpus("n1", 5, 0, 3), gpus("n2", 6, 0, 2)...)}},
			[]signals.DemandReading{{Source: "slurm:gpu", Demand: signals.Demand{Time: fresh, PendingJobs: 2, JobGPUs: []int{4, 3}}}},
			policy.Snapshot{Time: fresh, OnPremGPUs: 16, OnPremBusyGPUs: 11, OnPremFreeGPUs: 3,
				PendingJobs: 2, PendingGPUs: 7, PendingJobGPUs: []int{4, 3}}},
		// A 1-GPU job counted as a 4-GPU shape for its CPUs still takes
		// one GPU on-prem: the 3 free on n1 and the 2 on n2 are room.
		{"free GPUs for the GPUs a larger-shape job asks for itself", &signals.BaselineReading{Source: "agents:r1", Baseline: signals.Baseline{Time: fresh,
			GPUs: append(gpus("n1", 5, 0, 3), gpus("n2", 6, 0, 2)...)}},
			[]signals.DemandReading{{Source: "slurm:gpu", Demand: signals.Demand{Time: fresh, PendingJobs: 2, PendingGPUs: 8, PendingGPUsKnown: true,
				JobGPUs: []int{4, 4}, Larger: 1, Smallest: 1}}},
			policy.Snapshot{Time: fresh, OnPremGPUs: 16, OnPremBusyGPUs: 11, OnPremFreeGPUs: 5,
				PendingJobs: 2, PendingGPUs: 8, PendingJobGPUs: []int{4, 4}, Larger: 1}},
		{"jobs left out and counted larger, for operators", okBase, []signals.DemandReading{
			{Source: "slurm:gpu", Demand: signals.Demand{Time: fresh, PendingJobs: 1, JobGPUs: []int{4}, Larger: 1,
				LeftOut: []signals.LeftOut{{Why: "pending for Licenses", Jobs: 1}, {Why: "asking for nodes with onprem, not in features", Jobs: 3}}}},
			{Source: "command:q", Demand: signals.Demand{Time: fresh, PendingJobs: 1, JobGPUs: []int{8}, Larger: 1}}},
			policy.Snapshot{Time: fresh, OnPremGPUs: 16, OnPremBusyGPUs: 7, OnPremFreeGPUs: 8, IdleAllocatedGPUs: 2,
				PendingJobs: 2, PendingGPUs: 12, PendingJobGPUs: []int{4, 8}, Larger: 2,
				LeftOut: []string{"slurm:gpu: 1 job pending for Licenses", "slurm:gpu: 3 jobs asking for nodes with onprem, not in features"}}},
		{"jobs without GPU counts are one GPU each", okBase, []signals.DemandReading{jobsOnly},
			policy.Snapshot{Time: fresh, OnPremGPUs: 16, OnPremBusyGPUs: 7, OnPremFreeGPUs: 9, IdleAllocatedGPUs: 2, PendingJobs: 2, PendingGPUs: 2}},
		{"unknown node is busy, never free, and stale",
			&signals.BaselineReading{Source: "agents:r1", Baseline: signals.Baseline{Time: fresh, GPUs: gpus("n1", 0, 0, 8),
				Unknown: []string{"n2:9401"}, UnknownCauses: map[string]string{"n2:9401": "connection refused"}}},
			[]signals.DemandReading{jobsOnly},
			policy.Snapshot{Time: fresh, OnPremGPUs: 16, OnPremBusyGPUs: 8, OnPremFreeGPUs: 8, PendingJobs: 2, PendingGPUs: 2,
				Stale: []string{"agents:r1: node n2:9401 unknown: connection refused"}}},
		{"failed baseline: all on-prem busy",
			&signals.BaselineReading{Source: "agents:r1", Err: errors.New("agents:r1: none of 4 agents answered")},
			[]signals.DemandReading{jobsOnly},
			policy.Snapshot{Time: fresh, OnPremGPUs: 32, OnPremBusyGPUs: 32, PendingJobs: 2, PendingGPUs: 2,
				Stale: []string{"agents:r1: none of 4 agents answered"}}},
		{"old baseline and failed demand",
			&signals.BaselineReading{Source: "prometheus:dcgm", Baseline: signals.Baseline{Time: now.Add(-3 * time.Minute), GPUs: gpus("n1", 1, 0, 0)}},
			[]signals.DemandReading{jobsOnly, {Source: "prometheus:q", Err: errors.New(`query "sum(": bad_data`)}},
			policy.Snapshot{Time: now.Add(-3 * time.Minute), OnPremGPUs: 1, OnPremBusyGPUs: 1, PendingJobs: 2, PendingGPUs: 2,
				Stale: []string{"prometheus:dcgm: signal is 3m0s old, more than stale_after 1m0s", `prometheus:q: query "sum(": bad_data`}}},
		{"no baseline source, no demand source", nil, nil,
			policy.Snapshot{Time: now, OnPremGPUs: 32, OnPremBusyGPUs: 32, Stale: []string{"demand: pool a100 has no demand source"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := signals.Assemble(pool(), now, tc.base, tc.demands)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("snapshot\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDefaultStaleAfter(t *testing.T) {
	p := pool()
	p.StaleAfter = 0
	d := signals.DemandReading{Source: "x", Demand: signals.Demand{Time: now.Add(-signals.DefaultStaleAfter - time.Second)}}
	if s := signals.Assemble(p, now, nil, []signals.DemandReading{d}); len(s.Stale) != 1 {
		t.Errorf("stale %v: a reading older than DefaultStaleAfter must be stale when the pool sets none", s.Stale)
	}
	d.Demand.Time = now.Add(-signals.DefaultStaleAfter + time.Second)
	if s := signals.Assemble(p, now, nil, []signals.DemandReading{d}); len(s.Stale) != 0 {
		t.Errorf("stale %v for a fresh reading", s.Stale)
	}
}

func TestPoolMetricsShowWaste(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := signals.NewPoolMetrics(reg)
	m.Observe("a100", policy.Snapshot{OnPremGPUs: 16, IdleAllocatedGPUs: 3, Stale: []string{"x"}})
	const want = `# HELP spillway_pool_idle_allocated_gpus On-prem GPUs allocated to a job but idle (waste): fix these before renting cloud.
# TYPE spillway_pool_idle_allocated_gpus gauge
spillway_pool_idle_allocated_gpus{pool="a100"} 3
# HELP spillway_pool_stale_signals Signals that failed or are too old; while above zero the pool holds.
# TYPE spillway_pool_stale_signals gauge
spillway_pool_stale_signals{pool="a100"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "spillway_pool_idle_allocated_gpus", "spillway_pool_stale_signals"); err != nil {
		t.Error(err)
	}
}

// TestSnapshotFromRealSources reads a pool through every source this
// package owns against real servers on loopback: two simulated agents (the
// real agent HTTP server on go-nvml DGX H100 mocks) and a dead one, a real
// Prometheus scraping them and a queue exporter, then the agents and
// Prometheus baselines and two Prometheus demand sources, one with a
// PromQL error.
func TestSnapshotFromRealSources(t *testing.T) {
	clock := func() time.Time { return now }
	var agents []*nvml.Agent
	var targets []string
	for i, node := range []string{"gpu-01", "gpu-02"} {
		at := now.Add(time.Duration(i*53) * time.Minute) // different trace minutes
		sim, err := nvml.NewSimulatedNode("dgxh100", nvml.DefaultSeries(), nvml.WithSimClock(func() time.Time { return at }))
		if err != nil {
			t.Fatal(err)
		}
		s, err := nvml.NewSampler(sim.Interface(), node, nvml.WithClock(clock))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		a := nvml.NewAgent(s)
		if err := a.SampleOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(a.Handler())
		defer srv.Close()
		agents = append(agents, a)
		targets = append(targets, strings.TrimPrefix(srv.URL, "http://"))
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	queue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "queue_pending_gpus{partition=\"gpu\"} 24\nqueue_oldest_wait_seconds 420\n")
	}))
	defer queue.Close()

	prom := promtest.Start(t,
		promtest.Job{Name: "agents", Targets: append(append([]string(nil), targets...), dead)},
		promtest.Job{Name: "queue", Targets: []string{strings.TrimPrefix(queue.URL, "http://")}})
	prom.WaitFor(t, "spillway_gpu_busy", promtest.NonEmpty(16))
	prom.WaitFor(t, "queue_pending_gpus", promtest.NonEmpty(1))
	prom.WaitFor(t, `up{job="agents"} == 0`, promtest.NonEmpty(1))

	agentsSrc, err := baseline.NewAgents(baseline.AgentsConfig{Name: "rack1", Targets: append(targets, dead), Now: clock, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer agentsSrc.CloseIdleConnections()
	promBase, err := baseline.NewPrometheus(baseline.PrometheusConfig{Name: "site", URL: prom.URL,
		UtilQuery: baseline.AgentUtilQuery, MemoryUsedQuery: baseline.AgentMemoryUsedQuery, UnknownQuery: `up{job="agents"} == 0`})
	if err != nil {
		t.Fatal(err)
	}
	demand, err := promdemand.New(promdemand.Config{Name: "gpu-queue", URL: prom.URL, Query: "sum(queue_pending_gpus)",
		Measure: promdemand.PendingGPUs, OldestWaitQuery: "max(queue_oldest_wait_seconds)"})
	if err != nil {
		t.Fatal(err)
	}
	badDemand, err := promdemand.New(promdemand.Config{Name: "typo", URL: prom.URL, Query: "sum(queue_pending_gpus"})
	if err != nil {
		t.Fatal(err)
	}

	// What the agents themselves say.
	busy, waste := 0, 0
	for _, a := range agents {
		s, _ := a.Last()
		for _, g := range s.GPUs {
			if g.Busy {
				busy++
			}
			if g.Allocated && g.Idle {
				waste++
			}
		}
	}
	p := pool()
	p.StaleAfter = policy.Duration(time.Hour) // the real Prometheus stamps real time
	for _, tc := range []struct {
		name string
		base signals.BaselineSource
		now  func() time.Time
	}{
		{"agents baseline", agentsSrc, clock},
		{"prometheus baseline", promBase, time.Now},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := signals.Read(context.Background(), p, tc.now, tc.base, []signals.DemandSource{demand})
			if s.OnPremGPUs != 24 || s.OnPremBusyGPUs != busy+8 || s.OnPremFreeGPUs != 16-busy || s.IdleAllocatedGPUs != waste {
				t.Errorf("on-prem %d busy %d free %d waste %d; agents show 16 GPUs, %d busy, %d wasted, plus one unknown 8-GPU node",
					s.OnPremGPUs, s.OnPremBusyGPUs, s.OnPremFreeGPUs, s.IdleAllocatedGPUs, busy, waste)
			}
			if s.PendingGPUs != 24 || s.OldestWait != 7*time.Minute {
				t.Errorf("pending GPUs %d oldest wait %v; queue exporter says 24 and 420 s", s.PendingGPUs, s.OldestWait)
			}
			if len(s.Stale) != 1 || !strings.Contains(s.Stale[0], tc.base.Name()) || !strings.Contains(s.Stale[0], dead) {
				t.Errorf("stale %q: want the dead node %s named with source %s", s.Stale, dead, tc.base.Name())
			}
		})
	}

	t.Run("PromQL error marks the demand stale", func(t *testing.T) {
		s := signals.Read(context.Background(), p, clock, agentsSrc, []signals.DemandSource{demand, badDemand})
		var found bool
		for _, st := range s.Stale {
			if strings.HasPrefix(st, "prometheus:typo: ") && strings.Contains(st, `"sum(queue_pending_gpus"`) && strings.Contains(st, "bad_data") {
				found = true
			}
		}
		if !found || s.PendingGPUs != 24 {
			t.Errorf("stale %q pending %d: want prometheus:typo stale with its query and the cause, the good source still counted", s.Stale, s.PendingGPUs)
		}
	})
	t.Run("unreachable Prometheus marks the baseline stale", func(t *testing.T) {
		gone, err := baseline.NewPrometheus(baseline.PrometheusConfig{Name: "gone", URL: "http://" + dead})
		if err != nil {
			t.Fatal(err)
		}
		s := signals.Read(context.Background(), p, clock, gone, []signals.DemandSource{demand})
		if len(s.Stale) != 1 || !strings.HasPrefix(s.Stale[0], "prometheus:gone: ") || !strings.Contains(s.Stale[0], "connection refused") ||
			s.OnPremFreeGPUs != 0 || s.OnPremBusyGPUs != 32 {
			t.Errorf("stale %q, free %d busy %d: want the source named with its cause and no GPU counted free", s.Stale, s.OnPremFreeGPUs, s.OnPremBusyGPUs)
		}
	})
}
