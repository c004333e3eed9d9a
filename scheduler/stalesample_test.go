package scheduler_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/signals/nvml"
)

// TestAgentSampleNotOfNowCountsUnknown: a burst instance's agent (a real
// one on go-nvml's DGX H100 mock) joins with its GPUs idle, then serves a
// sample that is not of now: its sampling stopped, the answer the same
// for 6 minutes (as a cache between the server and it would serve), or
// its clock an hour behind or ahead. Before, the scheduler took any such
// answer as now: the idle instance was scaled in on a sample 6 minutes
// old (its GPUs may run jobs since), and a clock an hour off went
// unnoticed. Such an answer counts each GPU unknown (busy, no room:
// spillway_gpus{origin="cloud_unknown"}), as the agent itself serves
// GPUs it cannot read, the instance is not drained, and the scheduler
// warns once, saying why.
func TestAgentSampleNotOfNowCountsUnknown(t *testing.T) {
	for _, tc := range []struct {
		name     string
		offset   time.Duration // of the agent's clock
		resample bool
		says     string
	}{
		{"sampling stopped", 0, false, "old, more than stale_after"},
		{"clock an hour behind", -time.Hour, true, "is 1h0m"},
		{"clock an hour ahead", time.Hour, true, "in the future"},
		{"clock two centuries ahead", 200 * 365 * 24 * time.Hour, true, "more than a year (sample_time 22"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, testPool())
			reg := prometheus.NewRegistry()
			h.opts.Registerer = reg
			h.logs = &lockedBuffer{}
			h.restart()
			var never bool
			joined := false
			sample := joinIdleBy(t, h, idleMockFailing(&never, 0), func() time.Time {
				if !joined { // it joins on a sample of now
					return h.clk.Now()
				}
				return h.clk.Now().Add(tc.offset)
			})
			joined = true
			for range 36 { // 6 minutes: past the pool's idle 5m
				if tc.resample {
					sample()
				}
				h.step(10 * time.Second)
			}
			if len(h.drained) != 0 {
				t.Errorf("drained %v on a sample not of now; want none drained", h.drained)
			}
			if n := gpusOf(t, reg, "cloud_unknown"); n != 8 {
				t.Errorf("spillway_gpus{origin=cloud_unknown} = %v; want 8, nothing of now known", n)
			}
			if n := strings.Count(h.logs.String(), "serves a sample not of now"); n != 1 {
				t.Errorf("%d warnings of a sample not of now; want 1", n)
			}
			if !strings.Contains(h.logs.String(), tc.says) {
				t.Errorf("the warning does not say %q:\n%s", tc.says, h.logs)
			}
		})
	}
}

// TestWedgedVerdictOnAnOldSampleDrains: a burst instance's agent joins
// idle, then serves what a spillway agent serves once its NVML calls have
// hung in the driver for a minute (nvml.LostAfter): its last sample's GPUs,
// each unhealthy, with the error saying the driver is wedged, stamped with
// that sample's time, as old as the hang. With the pool's stale_after 30s,
// shorter than the minute, the verdict was read as a sample not of now
// (its GPUs unknown, busy): the instance, on which nothing can run, was
// kept. The verdict is of now, as the agents baseline source reads it:
// the instance is drained.
func TestWedgedVerdictOnAnOldSampleDrains(t *testing.T) {
	pool := testPool()
	pool.StaleAfter = policy.Duration(30 * time.Second)
	h := newHarness(t, pool)
	h.restart()
	var hungSince atomic.Pointer[time.Time]
	h.agents.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := agentBody{Node: "burst-1", SampleTime: h.clk.Now()}
		since := hungSince.Load()
		if since != nil {
			body.SampleTime = *since
			body.Error = "GetUtilizationRates stuck since " + since.Format(time.RFC3339) + " (1m0s or more): the driver is wedged and no GPU of the node can be read; the node needs a reboot"
		}
		for i := range 8 {
			body.GPUs = append(body.GPUs, agentGPU{Index: i, UUID: fmt.Sprintf("GPU-%d", i), Unhealthy: since != nil, Health: body.Error})
		}
		_ = json.NewEncoder(w).Encode(body)
	})
	h.setDemand(2*time.Minute, 8)
	h.tick()
	h.setDemand(0)
	h.untilNoLongerBooting(h.rows(true)[0].ID)
	since := h.clk.Now()
	h.step(nvml.LostAfter)
	hungSince.Store(&since)
	h.step(10 * time.Second)
	if reason := h.lastDrainReason(); !strings.Contains(reason, "every GPU unhealthy and none busy") {
		t.Errorf("drain reason %q; want the instance drained as every GPU unhealthy (its agent's verdict)", reason)
	}
}

// agentBody is a spillway agent's /v1/gpus, for an agent a test writes.
type agentBody struct {
	Node       string     `json:"node"`
	SampleTime time.Time  `json:"sample_time"`
	Error      string     `json:"error,omitempty"`
	GPUs       []agentGPU `json:"gpus"`
}

// agentGPU is a GPU of agentBody.
type agentGPU struct {
	Index     int    `json:"index"`
	UUID      string `json:"uuid"`
	Unhealthy bool   `json:"unhealthy,omitempty"`
	Health    string `json:"health,omitempty"`
}
