package scheduler_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/scheduler"
	"github.com/spillway-io/spillway/state"
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
	// Another pool renting the same shapes, for a queue of one-GPU jobs.
	infer := pool
	infer.Name = "infer"
	inferQueue := func(context.Context) policy.Snapshot {
		return policy.Snapshot{Time: t0, OnPremGPUs: 8, OnPremBusyGPUs: 8, PendingJobs: 1, PendingGPUs: 1, OldestWait: 30 * time.Minute}
	}
	h := newHarness(t, pool, func(h *harness) {
		h.opts.Registerer = reg
		h.extra = []scheduler.Pool{{Policy: infer, Snapshot: func(ctx context.Context) policy.Snapshot {
			s := inferQueue(ctx)
			s.Time = h.clk.Now()
			return s
		}, JoinTimeout: 10 * time.Minute}}
	})
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
	if n := counterOf(t, reg, "spillway_unused_offering_holds_total", "small"); n < 1 {
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
	// The hold is the train pool's: the infer pool's queue of one-GPU jobs
	// still gets the small shape.
	if err := h.sched.Tick(t.Context(), infer.Name); err != nil {
		t.Fatal(err)
	}
	rs, err := h.store.Instances(t.Context(), state.InstanceFilter{Pool: infer.Name})
	var holds []state.Hold
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Offering != "small" {
		t.Errorf("the infer pool launched %+v for one one-GPU job, want one small instance: the train pool's hold is not its", rs)
	}
	// The hold is stored: a restarted server keeps it.
	holds, err = h.store.Holds(t.Context(), pool.Name, h.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(holds) != 1 || holds[0].InstanceType != small.InstanceType || !strings.Contains(holds[0].Reason, "left unused by the queue") {
		t.Fatalf("stored holds %+v, want the small offering's", holds)
	}
	h.opts.Registerer = prometheus.NewRegistry() // a new process's
	h.restart()
	h.mu.Lock()
	h.demand.PendingJobs, h.demand.PendingGPUs = 10, 10 // more than the 8-GPU instance takes, still of no size
	h.mu.Unlock()
	for range 6 {
		h.step(10 * time.Second)
	}
	if n := launchedOf("small"); n != 2 {
		t.Errorf("%d small instances launched in all after a restart within the hold, want still 2", n)
	}
	st, _ := h.sched.LastStatus(pool.Name)
	if until, ok := st.Snapshot.Unused[small.Key()]; len(st.Snapshot.Unused) != 1 || !ok || !until.Equal(holds[0].Until) {
		t.Errorf("the restarted server's snapshot holds %v, want the small offering until %s", st.Snapshot.Unused, holds[0].Until)
	}
	// Once it lapses, nothing is held.
	h.clk.Step(holds[0].Until.Sub(h.clk.Now()))
	h.step(time.Second)
	if st, _ := h.sched.LastStatus(pool.Name); len(st.Snapshot.Unused) != 0 {
		t.Errorf("the snapshot holds %v after the hold lapsed, want nothing", st.Snapshot.Unused)
	}
}

// counterOf is the train pool's counter name for an offering, as gathered
// from reg (0 when absent).
func counterOf(t *testing.T, reg *prometheus.Registry, name, offering string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["pool"] == "train" && labels["offering"] == offering {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
