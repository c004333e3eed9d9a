package scheduler_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spillway-io/spillway/policy"
)

// TestUnusedOfferingReplaced: a queue that gives no job sizes reads as
// one-GPU jobs, so the cheapest GPU, a one-GPU shape, is rented for it; its
// jobs really ask for 8 GPUs and never start there. Once the instances
// have idled past their threshold, and past UnusedAfter more, while the
// queue waited, they are drained as unused, the shape is held out of
// launches for UnusedHold, and the next launch is an 8-GPU one. Against the
// EC2 emulator through the real SDK.
func TestUnusedOfferingReplaced(t *testing.T) {
	pool := testPool()
	small := pool.Offerings[0]
	small.Name, small.InstanceType, small.GPUs, small.PricePerHour = "small", "g5.xlarge", 1, 1.006
	pool.Offerings = append([]policy.Offering{small}, pool.Offerings...)
	reg := prometheus.NewRegistry()
	h := newHarness(t, pool, func(h *harness) { h.opts.Registerer = reg })
	h.mu.Lock()
	h.demand.PendingJobs, h.demand.PendingGPUs, h.demand.OldestWait = 1, 2, 30*time.Minute // no sizes
	h.mu.Unlock()

	h.tick()
	launchedOf := func(offering string) int {
		n := 0
		for _, r := range h.rows(false) {
			if r.Offering == offering {
				n++
			}
		}
		return n
	}
	if n := launchedOf("small"); n != 2 {
		t.Fatalf("%d small instances launched for 2 GPUs of jobs of unknown size, want 2 (one-GPU jobs assumed, the cheapest GPU)", n)
	}
	// The agents answer, all GPUs idle: the jobs never start there.
	h.until("the small instances drained as unused", 10*time.Second, 120, func() bool {
		for _, d := range h.decisions() {
			for _, a := range d.Drains {
				if strings.HasPrefix(a.Reason, "unused: ") {
					return true
				}
			}
		}
		return false
	})
	var held bool
	for _, d := range h.decisions() {
		for _, n := range d.Notes {
			held = held || strings.Contains(n, "offering small left unused by the queue: not launched until")
		}
	}
	if !held {
		t.Error("no decision notes the small offering held out of launches")
	}
	if n := unusedHolds(t, reg); n < 1 {
		t.Errorf("spillway_unused_offering_holds_total = %v, want at least 1", n)
	}
	h.until("an 8-GPU instance launched instead", 10*time.Second, 30, func() bool { return launchedOf("p4d") > 0 })
	h.until("the small instances terminated", 10*time.Second, 30, func() bool {
		for _, in := range h.live() {
			if in.InstanceType == small.InstanceType {
				return false
			}
		}
		return true
	})
	// Within the hold, the small shape is not launched again.
	for range 30 {
		h.step(10 * time.Second)
	}
	if n := launchedOf("small"); n != 2 {
		t.Errorf("%d small instances launched in all, want the first 2 only while the shape is held", n)
	}
}

// unusedHolds is the pool's spillway_unused_offering_holds_total for the
// small offering, as gathered from reg (0 when absent).
func unusedHolds(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "spillway_unused_offering_holds_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["pool"] == "train" && labels["offering"] == "small" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
