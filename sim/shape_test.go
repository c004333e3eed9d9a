package sim

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// asks is j asking for cpus CPUs besides its GPUs.
func asks(j trace.Job, cpus int32) trace.Job {
	j.CPUs = cpus
	return j
}

// TestJobShapes: a job whose CPUs the trace gives takes, on the cloud, the
// smallest instance that holds them, as the server's sources count it.
// On-prem (one 1-GPU node) runs A for an hour; B asks for 1 GPU and 16
// CPUs, more than the 1-GPU shape's 8 vCPUs, so every policy rents the
// 4-GPU shape (32 vCPUs) for it, three of whose GPUs idle beside it; C asks
// for 200 CPUs, which no instance has: no policy launches for it, and it
// waits an hour for on-prem. D, 2 GPUs and 200 CPUs, fits neither on-prem
// nor any instance: never served, for its CPUs. Without the CPUs, B takes
// the 1-GPU shape and C the cloud too.
func TestJobShapes(t *testing.T) {
	small := policy.Offering{Name: "small", Provider: "p", Region: "r", InstanceType: "x1", GPUs: 1, VCPUs: 8, MemoryGiB: 61,
		PricePerHour: 3, Boot: policy.Duration(time.Minute), Billing: policy.BillingPerSecond, Market: policy.MarketOnDemand}
	big := policy.Offering{Name: "big", Provider: "p", Region: "r", InstanceType: "x4", GPUs: 4, VCPUs: 32, MemoryGiB: 244,
		PricePerHour: 12, Boot: policy.Duration(time.Minute), Billing: policy.BillingPerSecond, Market: policy.MarketOnDemand}
	pool := &policy.Pool{Name: "p", OnPrem: policy.OnPrem{Nodes: 1, GPUsPerNode: 1}, Interval: policy.Duration(30 * time.Second),
		Offerings: []policy.Offering{small, big}}
	shaped := []trace.Job{job(0, 3600, 1), asks(job(1, 3600, 1), 16), asks(job(2, 600, 1), 200), asks(job(3, 600, 2), 200)}
	plain := []trace.Job{job(0, 3600, 1), job(1, 3600, 1), job(2, 600, 1)}
	for _, p := range []Policy{Spillway(), Admitted(PerJob()), Admitted(Karpenter()), Admitted(Threshold())} {
		got, err := Run(context.Background(), Options{Pool: pool, Trace: &trace.Trace{Name: "shaped", Jobs: shaped}, Policy: p})
		if err != nil {
			t.Fatal(err)
		}
		if got.CostByOffering["big"] == 0 || got.CostByOffering["small"] != 0 || got.JobsOnCloud != 1 {
			t.Errorf("%s: cost by offering %v, %d jobs on the cloud; want B alone on the 4-GPU shape", p.Name, got.CostByOffering, got.JobsOnCloud)
		}
		if !near(got.UsedGPUHours, 1) || got.PaidGPUHours < 4 {
			t.Errorf("%s: %.2f GPU-hours used of %.2f paid; want B's 1 of at least 4", p.Name, got.UsedGPUHours, got.PaidGPUHours)
		}
		if got.WaitMaxS < 3590 || got.JobsUnstarted != 0 {
			t.Errorf("%s: longest wait %.0f s, %d unstarted; want C to wait an hour for on-prem", p.Name, got.WaitMaxS, got.JobsUnstarted)
		}
		if got.JobsNeverServed != 1 || got.NeverServedGPUs != 2 || !strings.Contains(got.NeverServedWhy, "200 CPUs") {
			t.Errorf("%s: never served %d (largest %d GPUs) because %q; want D, for its 200 CPUs", p.Name, got.JobsNeverServed, got.NeverServedGPUs, got.NeverServedWhy)
		}
		got, err = Run(context.Background(), Options{Pool: pool, Trace: &trace.Trace{Name: "plain", Jobs: plain}, Policy: p})
		if err != nil {
			t.Fatal(err)
		}
		// (threshold rents by utilisation, not by jobs: the larger shape.)
		if (got.CostByOffering["small"] == 0 && p.Name != PolicyThreshold) || got.JobsOnCloud != 2 {
			t.Errorf("%s without CPUs: cost by offering %v, %d jobs on the cloud; want B and C on 1-GPU shapes", p.Name, got.CostByOffering, got.JobsOnCloud)
		}
	}
	note := CloudShapes(pool, &trace.Trace{Jobs: shaped})
	for _, want := range []string{"1 job of the trace's 4 ask", "3 GPU-hours more", "2 jobs no instance the pool rents holds (the last one asking for 200 CPUs"} {
		if !strings.Contains(note, want) {
			t.Errorf("note %q lacks %q", note, want)
		}
	}
	if note := CloudShapes(pool, &trace.Trace{Jobs: plain}); note != "" {
		t.Errorf("note without CPUs: %q", note)
	}
	// Offerings whose vCPUs and memory are unknown: the CPUs are not used,
	// and the note says so.
	unknown := *pool
	unknown.Offerings = []policy.Offering{small, big}
	for i := range unknown.Offerings {
		unknown.Offerings[i].VCPUs, unknown.Offerings[i].MemoryGiB = 0, 0
	}
	if note := CloudShapes(&unknown, &trace.Trace{Jobs: shaped}); !strings.Contains(note, "no offering's vcpus or memory_gib is known") {
		t.Errorf("note with shapes unknown: %q", note)
	}
}
