package scheduler_test

import (
	"context"
	"strings"
	"testing"
	"time"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spillway-io/spillway/scheduler"
	"github.com/spillway-io/spillway/signals/nvml"
	"github.com/spillway-io/spillway/state"
)

// TestUnreadableGPUsKeepTheInstanceAndAreSurfaced runs a real spillway
// agent (go-nvml's DGX H100 mock) on a burst instance. Its GPUs idle, so
// the instance's idle timer starts; then every GPU's NVML calls fail
// (ERROR_UNKNOWN, as after an Xid; a GPU lost, ERROR_GPU_IS_LOST, for a
// minute is unhealthy instead: TestLostGPUsEndTheInstance).
// Before, the agent kept serving its last sample, idle, and the scheduler
// went on towards draining an instance whose GPUs nobody could read (and,
// had that sample been busy, would have kept it rented without a word).
// Now its GPUs are unknown: counted busy, so the idle timer stops and the
// instance is not drained; spillway_gpus{origin="cloud_unknown"} counts
// them, and past scheduler.UnknownAlertAfter the instance is counted in
// spillway_burst_instances_unknown. Once the GPUs read again it is idle again.
func TestUnreadableGPUsKeepTheInstanceAndAreSurfaced(t *testing.T) {
	h := newHarness(t, testPool())
	reg := prometheus.NewRegistry()
	h.opts.Registerer = reg
	h.restart()

	var lost bool
	mock := idleMockFailing(&lost, nv.ERROR_UNKNOWN)
	sample := joinIdle(t, h, mock)

	lost = true
	sample()
	h.step(10 * time.Second)
	r := h.rows(true)[0]
	if !r.IdleSince.IsZero() || r.BusyGPUs != 8 {
		t.Fatalf("with every GPU unreadable the instance is idle since %v with %d busy GPUs; want not idle, 8 counted busy", r.IdleSince, r.BusyGPUs)
	}
	if n := gpusOf(t, reg, "cloud_unknown"); n != 8 {
		t.Errorf("spillway_gpus{origin=cloud_unknown} = %v, want 8", n)
	}
	if n := gaugeOf(t, reg, "spillway_burst_instances_unknown"); n != 0 {
		t.Errorf("spillway_burst_instances_unknown = %v before %v, want 0", n, scheduler.UnknownAlertAfter)
	}
	for range int(scheduler.UnknownAlertAfter / time.Minute) {
		sample()
		h.step(time.Minute)
	}
	if n := gaugeOf(t, reg, "spillway_burst_instances_unknown"); n != 1 {
		t.Errorf("spillway_burst_instances_unknown = %v after %v unknown, want 1", n, scheduler.UnknownAlertAfter)
	}
	if rs := h.rows(true); len(rs) != 1 || rs[0].State != state.InstanceRunning || len(h.drained) != 0 {
		t.Fatalf("rows %+v, drained %v: an instance whose GPUs cannot be read must not be drained", rs, h.drained)
	}

	lost = false
	sample()
	h.step(10 * time.Second)
	if r := h.rows(true)[0]; r.IdleSince.IsZero() || r.BusyGPUs != 0 {
		t.Errorf("GPUs readable and idle again: idle since %v, %d busy; want idle", r.IdleSince, r.BusyGPUs)
	}
	if n := gpusOf(t, reg, "cloud_unknown"); n != 0 {
		t.Errorf("spillway_gpus{origin=cloud_unknown} = %v after recovery, want 0", n)
	}
	if n := gaugeOf(t, reg, "spillway_burst_instances_unknown"); n != 0 {
		t.Errorf("spillway_burst_instances_unknown = %v after recovery, want 0", n)
	}
}

// gpusOf is spillway_gpus{pool="train",origin=origin}.
// joinIdle serves a real agent on mock as the burst instance's, launches
// that instance for a queued job and waits until it has joined with its
// GPUs idle (the queue then empty). It returns what takes one sample.
func joinIdle(t *testing.T, h *harness, mock nv.Interface) (sample func()) {
	t.Helper()
	return joinIdleBy(t, h, mock, h.clk.Now)
}

// joinIdleBy is joinIdle with the agent's clock.
func joinIdleBy(t *testing.T, h *harness, mock nv.Interface, clock func() time.Time) (sample func()) {
	t.Helper()
	sampler, err := nvml.NewSampler(mock, "burst-1", nvml.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sampler.Close() })
	agent := nvml.NewAgent(sampler)
	sample = func() {
		t.Helper()
		if err := agent.SampleOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	sample()
	h.agents.handler = agent.Handler()
	h.setDemand(2*time.Minute, 8)
	h.tick()
	h.until("the instance joins, idle", 10*time.Second, 20, func() bool {
		rs := h.rows(true)
		return len(rs) == 1 && rs[0].State == state.InstanceRunning && !rs[0].IdleSince.IsZero()
	})
	h.setDemand(0)
	return sample
}

func gpusOf(t *testing.T, reg *prometheus.Registry, origin string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "spillway_gpus" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var pool, o string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "pool":
					pool = l.GetValue()
				case "origin":
					o = l.GetValue()
				}
			}
			if pool == "train" && o == origin {
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

// TestAgentWithoutNVMLIsNamedAtJoinTimeout: a burst instance boots, its
// spillway agent answers, but the NVIDIA driver never loads (NVML's Init
// answers DRIVER_NOT_LOADED). The instance cannot take jobs and is ended
// at its join timeout, as before; the decision said "no answer from its
// agent", sending the operator after the network. It now says the agent
// answers but cannot read the GPUs, and why.
func TestAgentWithoutNVMLIsNamedAtJoinTimeout(t *testing.T) {
	h := newHarness(t, testPool())
	mock := dgxh100.New()
	mock.InitFunc = func() nv.Return { return nv.ERROR_DRIVER_NOT_LOADED }
	sampler, err := nvml.StartSampler(mock, "burst-1")
	if err != nil {
		t.Fatal(err)
	}
	agent := nvml.NewAgent(sampler)
	if err := agent.SampleOnce(context.Background()); err == nil {
		t.Fatal("a sample with NVML not initialised succeeded")
	}
	h.agents.handler = agent.Handler()

	h.setDemand(2*time.Minute, 8)
	h.tick()
	first := h.live()[0]
	h.untilNoLongerBooting(first.ID)
	var note string
	for _, d := range h.decisions() {
		for _, n := range d.Notes {
			if strings.Contains(n, first.ID) && strings.Contains(n, "never joined") {
				note = n
			}
		}
	}
	for _, want := range []string{"agent answers but cannot read the GPUs", "503", "NVML not ready", nv.ERROR_DRIVER_NOT_LOADED.Error()} {
		if !strings.Contains(note, want) {
			t.Errorf("join timeout note %q does not say %q", note, want)
		}
	}
}

// TestUnhealthyInstanceIsDrained: every GPU of a burst instance reports a
// failed row remapping (its memory broken: it needs repair). Before, the
// agent did not ask NVML: the instance was read idle, kept as capacity for
// reuse until its break-even, and counted by the policy as room for the
// queue, though it could take no job. While a job still runs on it, it is
// kept (busy); once none does, it is drained at the next probe, saying why.
func TestUnhealthyInstanceIsDrained(t *testing.T) {
	h := newHarness(t, testPool())
	reg := prometheus.NewRegistry()
	h.opts.Registerer = reg
	h.restart()
	mock := dgxh100.New()
	var broken, job bool
	for i, d := range mock.Devices {
		d := d.(*server.Device)
		d.GetRemappedRowsFunc = func() (int, int, bool, bool, nv.Return) { return 0, 0, false, broken, nv.SUCCESS }
		d.GetRetiredPagesPendingStatusFunc = func() (nv.EnableState, nv.Return) { return nv.FEATURE_DISABLED, nv.ERROR_NOT_SUPPORTED }
		d.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) { return nv.Utilization{}, nv.SUCCESS }
		d.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) {
			if job && i == 0 {
				return []nv.ProcessInfo{{Pid: 4242, UsedGpuMemory: 1 << 30}}, nv.SUCCESS
			}
			return nil, nv.SUCCESS
		}
	}
	sample := joinIdle(t, h, mock)

	broken, job = true, true
	sample()
	h.step(10 * time.Second)
	if rs := h.rows(true); len(rs) != 1 || rs[0].State != state.InstanceRunning || rs[0].BusyGPUs != 1 {
		t.Fatalf("every GPU unhealthy, a job on GPU 0: rows %+v; want running, 1 busy: a job still running is not cut", rs)
	}

	job = false
	sample()
	h.step(10 * time.Second)
	reason := h.lastDrainReason()
	if !strings.Contains(reason, "every GPU unhealthy and none busy") || !strings.Contains(reason, "row remapping failed") {
		t.Errorf("drain reason %q; want the instance drained as every GPU unhealthy, saying why", reason)
	}
	if rs := h.rows(true); len(rs) == 1 && rs[0].State == state.InstanceRunning {
		t.Errorf("row %+v: an instance none of whose GPUs can take a job is kept running", rs[0])
	}
	sample()
	h.step(10 * time.Second)
	if n := counterOf(t, reg, "spillway_broken_instances_total", "p4d"); n != 1 {
		t.Errorf("spillway_broken_instances_total = %v two probes after the drain; want 1 (cause gpus_unhealthy)", n)
	}
}

// TestPartlyUnhealthyInstanceIsNoRoomForAWholeJob runs a real spillway
// agent on an idle 8-GPU burst instance, two of whose GPUs then become
// unhealthy (NVML answers that they need a reset, or a row remapping is
// pending). Before, the scheduler counted the instance whole as room for
// the queue: an 8-GPU job was placed on it, nothing was launched, and the
// job waited for ever for GPUs that could not run it. Now only its healthy
// GPUs are room: the 8-GPU job has an instance launched, a 6-GPU job fits
// on the six left; spillway_gpus{origin="cloud_unhealthy"} counts the two,
// and the instance still counts whole in the pool's GPUs (and its bill).
func TestPartlyUnhealthyInstanceIsNoRoomForAWholeJob(t *testing.T) {
	for _, tc := range []struct {
		name     string
		reset    bool // GetMemoryInfo answers ERROR_RESET_REQUIRED; else a row remapping is pending
		job      int
		wantLive int
	}{
		{"reset required, an 8-GPU job", true, 8, 2},
		{"row remapping pending, an 8-GPU job", false, 8, 2},
		{"reset required, a 6-GPU job", true, 6, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, testPool())
			reg := prometheus.NewRegistry()
			h.opts.Registerer = reg
			h.restart()

			mock := dgxh100.New()
			var broken bool
			for i, d := range mock.Devices {
				d := d.(*server.Device)
				bad := func() bool { return broken && i >= 6 }
				d.GetRemappedRowsFunc = func() (int, int, bool, bool, nv.Return) { return 0, 0, bad() && !tc.reset, false, nv.SUCCESS }
				d.GetRetiredPagesPendingStatusFunc = func() (nv.EnableState, nv.Return) { return nv.FEATURE_DISABLED, nv.ERROR_NOT_SUPPORTED }
				d.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) { return nv.Utilization{}, nv.SUCCESS }
				d.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) { return nil, nv.SUCCESS }
				d.GetMemoryInfoFunc = func() (nv.Memory, nv.Return) {
					if bad() && tc.reset {
						return nv.Memory{}, nv.ERROR_RESET_REQUIRED
					}
					return nv.Memory{Total: 80 << 30}, nv.SUCCESS
				}
			}
			sample := joinIdle(t, h, mock)
			broken = true
			sample()
			h.step(10 * time.Second)
			if rs := h.rows(true); len(rs) != 1 || rs[0].State != state.InstanceRunning {
				t.Fatalf("two GPUs of eight unhealthy, none busy: rows %+v; want the instance running (six GPUs can take jobs)", rs)
			}
			if n := gpusOf(t, reg, "cloud_unhealthy"); n != 2 {
				t.Errorf("spillway_gpus{origin=cloud_unhealthy} = %v, want 2", n)
			}

			h.setDemand(2*time.Minute, tc.job) // past the pool's wait target
			h.step(10 * time.Second)
			if live := h.live(); len(live) != tc.wantLive {
				t.Errorf("a %d-GPU job waiting beside an idle instance with 6 healthy GPUs of 8: %d instances live, want %d", tc.job, len(live), tc.wantLive)
			}
			if n := gpusOf(t, reg, "cloud"); n != float64(8*tc.wantLive) {
				t.Errorf("spillway_gpus{origin=cloud} = %v, want %d: the partly unhealthy instance counts whole", n, 8*tc.wantLive)
			}
		})
	}
}

// TestLostGPUsEndTheInstance: every GPU of an idle burst instance falls
// off the bus (NVML answers ERROR_GPU_IS_LOST). Before, they stayed
// unknown, counted busy, and the instance was kept, billed, until its max
// lifetime, though no job could run on it. They are unknown (the instance
// kept) for nvml.LostAfter, then unhealthy: the instance is drained and
// ended, saying why.
func TestLostGPUsEndTheInstance(t *testing.T) {
	h := newHarness(t, testPool())
	var lost bool
	mock := idleMockFailing(&lost, nv.ERROR_GPU_IS_LOST)
	sample := joinIdle(t, h, mock)
	lost = true
	start := h.clk.Now()
	for h.clk.Now().Sub(start) < nvml.LostAfter {
		sample()
		h.step(10 * time.Second)
		if rs := h.rows(true); len(rs) != 1 || rs[0].State != state.InstanceRunning || rs[0].BusyGPUs != 8 {
			t.Fatalf("GPUs lost for %s (less than %s): rows %+v; want the instance running, its 8 GPUs unknown, counted busy",
				h.clk.Now().Sub(start), nvml.LostAfter, rs)
		}
	}
	sample()
	h.step(10 * time.Second)
	reason := h.lastDrainReason()
	if !strings.Contains(reason, "every GPU unhealthy and none busy") || !strings.Contains(reason, "fell off the bus") {
		t.Errorf("drain reason %q; want the instance drained as every GPU unhealthy, fallen off the bus", reason)
	}
	h.until("the instance ends", 10*time.Second, 6, func() bool { return len(h.rows(true)) == 0 })
}

// idleMockFailing is a DGX H100 of idle, healthy GPUs whose memory reads
// answer ret, for every GPU, while *failing.
func idleMockFailing(failing *bool, ret nv.Return) *server.Server {
	mock := dgxh100.New()
	for _, d := range mock.Devices {
		d := d.(*server.Device)
		nvml.IdleMock(d)
		d.GetMemoryInfoFunc = func() (nv.Memory, nv.Return) {
			if *failing {
				return nv.Memory{}, ret
			}
			return nv.Memory{Total: 80 << 30}, nv.SUCCESS
		}
	}
	return mock
}

// TestFailedListKeepsWhatTheAgentSaid: a burst instance two of whose GPUs
// are unhealthy (a row remapping pending) and one unknown (ERROR_UNKNOWN);
// then its provider's listing fails (every EC2 call answers 5xx) for a
// tick. Before, the instance, not probed that tick, lost what its agent
// had said: spillway_gpus{origin="cloud_unhealthy"} and "cloud_unknown"
// read 0 (an alert on them cleared and fired again), and the policy took
// its unhealthy GPUs for room and for a floor's capacity. What was known
// stays until the instance is probed again.
func TestFailedListKeepsWhatTheAgentSaid(t *testing.T) {
	h := newHarness(t, testPool())
	reg := prometheus.NewRegistry()
	h.opts.Registerer = reg
	h.restart()

	mock := dgxh100.New()
	var broken bool
	for i, d := range mock.Devices {
		d := d.(*server.Device)
		nvml.HealthyMock(d)
		d.GetRemappedRowsFunc = func() (int, int, bool, bool, nv.Return) { return 0, 0, broken && i >= 6, false, nv.SUCCESS }
		d.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) {
			if broken && i == 0 {
				return nv.Utilization{}, nv.ERROR_UNKNOWN
			}
			return nv.Utilization{}, nv.SUCCESS
		}
		d.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) { return nil, nv.SUCCESS }
		d.GetMemoryInfoFunc = func() (nv.Memory, nv.Return) { return nv.Memory{Total: 80 << 30}, nv.SUCCESS }
	}
	sample := joinIdle(t, h, mock)
	broken = true
	sample()
	want := func(when string) {
		t.Helper()
		if n := gpusOf(t, reg, "cloud_unhealthy"); n != 2 {
			t.Errorf("%s: spillway_gpus{origin=cloud_unhealthy} = %v, want 2", when, n)
		}
		if n := gpusOf(t, reg, "cloud_unknown"); n != 1 {
			t.Errorf("%s: spillway_gpus{origin=cloud_unknown} = %v, want 1", when, n)
		}
	}
	h.step(10 * time.Second)
	want("listed")
	h.emu.SetFaultRate(1)
	h.step(10 * time.Second)
	if st, _ := h.sched.LastStatus("train"); !strings.Contains(strings.Join(st.Snapshot.Stale, "; "), "listing instances failed") {
		t.Fatalf("stale %q: want the listing failed", st.Snapshot.Stale)
	}
	want("listing failed")
	h.emu.SetFaultRate(0)
	h.step(10 * time.Second)
	want("listed again")
}

// TestManualBurstOnPartlyUnhealthyInstance: an on-call engineer opens a
// manual burst of 8 GPUs beside an idle burst instance (8 GPUs) whose
// real agent reports two GPUs needing a reset. Before, the floor counted
// the instance whole as held and launched nothing: the burst held 6 GPUs
// that could run a job. Now its healthy GPUs count: an instance is
// launched for the burst.
func TestManualBurstOnPartlyUnhealthyInstance(t *testing.T) {
	for _, tc := range []struct {
		name     string
		broken   bool
		wantLive int
	}{
		{"healthy", false, 1},
		{"two GPUs need a reset", true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, testPool())
			mock := dgxh100.New()
			var broken bool
			for i, d := range mock.Devices {
				d := d.(*server.Device)
				nvml.IdleMock(d)
				d.GetMemoryInfoFunc = func() (nv.Memory, nv.Return) {
					if broken && i >= 6 {
						return nv.Memory{}, nv.ERROR_RESET_REQUIRED
					}
					return nv.Memory{Total: 80 << 30}, nv.SUCCESS
				}
			}
			sample := joinIdle(t, h, mock)
			broken = tc.broken
			sample()
			h.step(10 * time.Second)
			if _, err := h.sched.CreateBurst(context.Background(), scheduler.BurstRequest{Pool: "train", GPUs: 8, For: 2 * time.Hour, Reason: "incident", Principal: "oncall"}); err != nil {
				t.Fatal(err)
			}
			h.step(10 * time.Second)
			if live := h.live(); len(live) != tc.wantLive {
				t.Errorf("a manual burst of 8 GPUs beside an idle 8-GPU instance (%s): %d instances live, want %d", tc.name, len(live), tc.wantLive)
			}
		})
	}
}
