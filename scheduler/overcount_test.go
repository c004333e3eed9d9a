package scheduler_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/gpus"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spillway-io/spillway/signals/nvml"
	"github.com/spillway-io/spillway/state"
)

// TestAgentListingMoreGPUsThanItsOffering: a burst instance of an 8-GPU
// offering (p4d) whose agent, a real one on go-nvml's H100 mock of 16
// GPUs, lists 16, all running a job (a config stating the offering's
// gpus too low, or join.agent_url reaching a larger machine). Before,
// the instance counted 16 busy GPUs of its 8: spillway_gpus
// {origin="cloud_busy"} read 16 with cloud 8, the row 16/8 busy. Its
// busy GPUs count up to the offering's, and the scheduler warns once.
func TestAgentListingMoreGPUsThanItsOffering(t *testing.T) {
	h := newHarness(t, testPool())
	reg := prometheus.NewRegistry()
	h.opts.Registerer = reg
	h.logs = &lockedBuffer{}
	h.restart()
	h.agents.handler = busyAgent(t, h, 16)
	h.setDemand(2*time.Minute, 8)
	h.tick()
	h.setDemand(0)
	id := h.rows(true)[0].ID
	h.untilNoLongerBooting(id)
	for range 3 {
		h.step(10 * time.Second)
	}
	if r := h.rows(true)[0]; r.BusyGPUs != 8 {
		t.Errorf("instance %s of 8 GPUs whose agent lists 16 busy: %d busy; want 8", r.ID, r.BusyGPUs)
	}
	if busy, cloud := gpusOf(t, reg, "cloud_busy"), gpusOf(t, reg, "cloud"); busy != cloud {
		t.Errorf("spillway_gpus{origin=cloud_busy} = %v of cloud %v; want all %v busy, no more", busy, cloud, cloud)
	}
	if n := strings.Count(h.logs.String(), "lists more GPUs than its offering's"); n != 1 {
		t.Errorf("%d warnings that the agent lists more GPUs than its offering's; want 1", n)
	}
}

// busyAgent is the handler of a real agent, sampled once now, on
// go-nvml's H100 mock of n GPUs, each running a job.
func busyAgent(t *testing.T, h *harness, n int) http.Handler {
	t.Helper()
	mock := dgxh100.NewWithGPUs(gpus.Multiple(n, gpus.H100_SXM5_80GB)...)
	for _, d := range mock.Devices {
		d := d.(*server.Device)
		nvml.HealthyMock(d)
		d.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) { return nv.Utilization{Gpu: 100, Memory: 50}, nv.SUCCESS }
		d.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) { return []nv.ProcessInfo{{Pid: 4242}}, nv.SUCCESS }
	}
	sampler, err := nvml.NewSampler(mock, "burst-1", nvml.WithClock(h.clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sampler.Close() })
	agent := nvml.NewAgent(sampler)
	if err := agent.SampleOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	return agent.Handler()
}

// TestAgentRedirectElsewhereIsRefused: a burst instance's agent_url
// answers with a redirect to another machine's agent (a real one on
// go-nvml's H100 mock, all 8 GPUs running a job). Before, the probe
// followed it and took that machine's GPUs for the instance's: it joined,
// 8 GPUs busy, never scaled in. A redirect away from the agent_url's
// host is refused, as the agents baseline source refuses it: no answer,
// the instance not joined.
func TestAgentRedirectElsewhereIsRefused(t *testing.T) {
	h := newHarness(t, testPool())
	h.restart()
	other := httptest.NewServer(busyAgent(t, h, 8))
	t.Cleanup(other.Close)
	h.agents.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound)
	})
	h.setDemand(2*time.Minute, 8)
	h.tick()
	h.setDemand(0)
	for range 12 {
		h.step(10 * time.Second)
	}
	if r := h.rows(true)[0]; r.State != state.InstanceBooting || r.BusyGPUs != 0 {
		t.Errorf("instance %s whose agent_url redirects to another machine's agent: %s, %d GPUs busy; want booting, no answer taken", r.ID, r.State, r.BusyGPUs)
	}
}
