package policy

import (
	"fmt"
	"testing"
	"time"
)

// dtBenchScenario is a busy pool with n tracked instances: most running
// work, some partly busy, idle (a few past their threshold), booting,
// draining and terminating; a queue of mixed jobs (20 per 10 instances)
// that overflows; one active floor; limits and a budget in force.
func dtBenchScenario(n int) (*Pool, Snapshot, []Instance, Spend, time.Time) {
	now := dtT0.Add(7 * time.Hour)
	hourly := dtP4d()
	hourly.Name, hourly.Billing = "p4d-hourly", BillingHourly
	pool := dtPool(dtP4d(), dtG6e(), dtGn7(), hourly)
	pool.Limits = Limits{MaxGPUs: 8*n + 64, MaxCostPerHour: 30 * float64(n+8), Budget: &Budget{Amount: 1e9, Period: PeriodMonth}}
	pool.ScaleIn.MaxLifetime = Duration(24 * time.Hour)
	offs := pool.Offerings
	inst := make([]Instance, n)
	for i := range inst {
		o := offs[(i/7)%len(offs)]
		in := Instance{ID: fmt.Sprintf("i-%05d", i), Offering: o, State: StateRunning,
			LaunchedAt: now.Add(-time.Duration(i%600) * time.Minute), BusyGPUs: o.GPUs}
		in.ReadyAt = in.LaunchedAt.Add(o.Boot.D())
		switch i % 20 {
		case 1:
			in.BusyGPUs = o.GPUs / 2
		case 2:
			in.BusyGPUs, in.IdleSince = 0, now.Add(-time.Minute)
		case 3:
			if i%60 == 3 {
				in.BusyGPUs, in.IdleSince = 0, now.Add(-time.Hour) // due for release
			}
		case 4:
			in.State, in.ReadyAt, in.BusyGPUs = StateBooting, time.Time{}, 0
			in.LaunchedAt = now.Add(-time.Minute)
		case 5:
			in.State, in.DrainStartedAt = StateDraining, now.Add(-2*time.Minute)
			if i%40 == 5 {
				in.BusyGPUs = 0 // drained: terminated
			}
		case 6:
			if i%100 == 6 {
				in.State = StateTerminating
			}
		}
		if i%50 == 7 {
			in.Floor = "weekday"
		}
		inst[i] = in
	}
	snap := Snapshot{Time: now, OnPremGPUs: 256, OnPremBusyGPUs: 256, OnPremFreeGPUs: 0, IdleAllocatedGPUs: 3,
		OldestWait:  6 * time.Minute,
		Unavailable: map[OfferingKey]time.Time{dtG6e().Key(): now.Add(10 * time.Minute)},
		Blocked:     map[string]time.Time{"gcp": now.Add(time.Hour)},
		Floors:      []Floor{{Kind: FloorSchedule, Owner: "weekday", GPUs: 8 * n / 10, Until: now.Add(4 * time.Hour)}},
	}
	// A queue that grows with the pool: 20 mixed jobs per 10 instances.
	for range max(1, n/10) {
		snap.PendingJobGPUs = append(snap.PendingJobGPUs, 8, 1, 1, 2, 4, 16, 1, 1, 8, 3, 2, 1, 4, 4, 32, 1, 1, 1, 2, 8)
	}
	for _, j := range snap.PendingJobGPUs {
		snap.PendingGPUs += j
	}
	snap.PendingJobs = len(snap.PendingJobGPUs)
	return pool, snap, inst, Spend{Accrued: 1000}, now
}

func BenchmarkDecide(b *testing.B) {
	dtBenchDecide(b, func(snap *Snapshot, _ []Instance, _ time.Time) {})
}

// BenchmarkDecideScaleIn is the same pool once its queue has drained: idle
// instances past their threshold are released.
func BenchmarkDecideScaleIn(b *testing.B) {
	dtBenchDecide(b, func(snap *Snapshot, _ []Instance, _ time.Time) {
		snap.PendingJobGPUs, snap.PendingGPUs, snap.PendingJobs, snap.OldestWait = nil, 0, 0, 0
	})
}

// BenchmarkDecideScaleInLearned is BenchmarkDecideScaleIn once the pool
// has learned its idle thresholds: 50 idle spells per offering
// (scale_in.idle auto weighs them for the offerings of idle instances).
func BenchmarkDecideScaleInLearned(b *testing.B) {
	dtBenchDecide(b, func(snap *Snapshot, inst []Instance, _ time.Time) {
		snap.PendingJobGPUs, snap.PendingGPUs, snap.PendingJobs, snap.OldestWait = nil, 0, 0, 0
		snap.IdleGaps = map[OfferingKey][]time.Duration{}
		for _, in := range inst {
			k := in.Offering.Key()
			if _, ok := snap.IdleGaps[k]; !ok {
				gaps := make([]time.Duration, 50)
				for i := range gaps {
					gaps[i] = time.Duration(i*7%50) * 10 * time.Second
				}
				gaps[3] = IdleGapNever
				snap.IdleGaps[k] = gaps
			}
		}
	})
}

// BenchmarkDecideSteady is a pool where nothing changes: every instance
// busy, no queue; the common tick.
func BenchmarkDecideSteady(b *testing.B) {
	dtBenchDecide(b, func(snap *Snapshot, inst []Instance, now time.Time) {
		for i := range inst {
			inst[i].State, inst[i].BusyGPUs, inst[i].LaunchedAt = StateRunning, inst[i].Offering.GPUs, now.Add(-time.Hour)
		}
		*snap = Snapshot{Time: now, OnPremGPUs: 256, OnPremBusyGPUs: 256}
	})
}

// dtBenchDecide times Decide on dtBenchScenario with 10, 100 and 10,000
// instances, after shape adjusts the scenario. A steady scenario (one that
// empties the queue and keeps every instance busy) must plan nothing.
func dtBenchDecide(b *testing.B, shape func(snap *Snapshot, inst []Instance, now time.Time)) {
	for _, n := range []int{10, 100, 10000} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			pool, snap, inst, spend, now := dtBenchScenario(n)
			shape(&snap, inst, now)
			p := Decide(pool, snap, inst, spend, now)
			if snap.OnPremBusyGPUs == snap.OnPremGPUs && snap.PendingGPUs == 0 && len(snap.PendingJobGPUs) == 0 && dtAllBusy(inst) && !p.Empty() {
				b.Fatalf("steady pool should not act: %+v", p)
			}
			b.ReportMetric(float64(len(p.Launches)+len(p.Drains)+len(p.Terminates)), "actions")
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				Decide(pool, snap, inst, spend, now)
			}
		})
	}
}

func dtAllBusy(inst []Instance) bool {
	for i := range inst {
		if inst[i].BusyGPUs < inst[i].Offering.GPUs {
			return false
		}
	}
	return true
}

// BenchmarkDecideListedQueue is the server's view of a deep Slurm queue:
// 100,000 pending jobs listed one by one with their waits (no
// PendingBySize), of few sizes or of thousands.
func BenchmarkDecideListedQueue(b *testing.B) {
	for _, sizes := range []int{20, 3000} {
		b.Run(fmt.Sprintf("sizes=%d", sizes), func(b *testing.B) {
			pool, snap, inst, spend, now := dtBenchScenario(100)
			const jobs = 100000
			snap.PendingJobGPUs = make([]int, jobs)
			snap.PendingJobWaits = make([]time.Duration, jobs)
			snap.PendingGPUs = 0
			for i := range jobs {
				snap.PendingJobGPUs[i] = 1 + (i*7919)%sizes
				snap.PendingJobWaits[i] = time.Duration(jobs-i) * 10 * time.Millisecond
				snap.PendingGPUs += snap.PendingJobGPUs[i]
			}
			snap.PendingJobs = jobs
			b.ReportAllocs()
			for b.Loop() {
				Decide(pool, snap, inst, spend, now)
			}
		})
	}
}
