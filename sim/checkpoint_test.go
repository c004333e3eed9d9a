package sim

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// scripted is a policy for tests of the cluster model: while jobs are
// pending and it holds no instance it launches n instances of the pool's
// first offering; at the first evaluation at or after killAt (when above 0)
// it terminates every instance, busy or not, once; and with nothing
// pending it terminates idle instances.
func scripted(n int, killAt time.Duration) Policy {
	return Policy{Name: "scripted", New: func() DecideFunc {
		var start time.Time
		killed := false
		return func(pool *policy.Pool, snap policy.Snapshot, insts []policy.Instance, _ policy.Spend, now time.Time) policy.Plan {
			if start.IsZero() {
				start = now
			}
			plan := policy.Plan{Pool: pool.Name, Time: now}
			if killAt > 0 && !killed && now.Sub(start) >= killAt {
				killed = true
				for _, in := range insts {
					plan.Terminates = append(plan.Terminates, policy.Action{InstanceID: in.ID, Reason: "test: kill"})
				}
				return plan
			}
			if snap.PendingJobs > 0 && len(insts) == 0 {
				plan.Launches = append(plan.Launches, policy.Launch{Offering: pool.Offerings[0], Count: n, Reason: "test"})
			}
			if snap.PendingJobs == 0 {
				for _, in := range insts {
					if in.State == policy.StateRunning && in.BusyGPUs == 0 {
						plan.Terminates = append(plan.Terminates, policy.Action{InstanceID: in.ID, Reason: "test: idle"})
					}
				}
			}
			return plan
		}
	}}
}

// modelPool has no on-prem GPUs and one offering of gpus GPUs at $1 per
// GPU-hour, booting at once, of the given performance.
func modelPool(gpus int, perf float64) *policy.Pool {
	return &policy.Pool{Name: "m", OnPrem: policy.OnPrem{Nodes: 0, GPUsPerNode: 8}, Interval: policy.Duration(30 * time.Second),
		Offerings: []policy.Offering{{Name: "a", Provider: "aws", Region: "r", InstanceType: "a", GPUs: gpus,
			PricePerHour: float64(gpus), Performance: perf, Billing: policy.BillingPerSecond}}}
}

func oneJob(gpus int, dur time.Duration) *trace.Trace {
	return &trace.Trace{Name: "one", Start: trace.DefaultEpoch, Jobs: []trace.Job{{Submit: 0, Duration: dur, GPUs: gpus}}}
}

func nearGPUh(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

// TestCheckpointResumesKilledRun: a 10-hour 8-GPU job is killed 3h30m
// into its run (its instance terminated). Without checkpoint_interval it
// starts over and the whole run is lost; with checkpoint_interval 1h it
// resumes from its third checkpoint, only the last half hour is lost, and
// the rerun is the rest of the work at the offering's speed (performance
// 2 does an hour of reference work in half an hour).
func TestCheckpointResumesKilledRun(t *testing.T) {
	for _, tt := range []struct {
		name       string
		checkpoint time.Duration
		perf       float64
		lost, used float64 // GPU-hours
		rerun      time.Duration
	}{
		{"no checkpoints", 0, 1, 8 * 3.5, 8 * 10, 10 * time.Hour},
		{"no checkpoints, twice as fast", 0, 2, 8 * 3.5, 8 * 5, 5 * time.Hour},
		{"hourly checkpoints", time.Hour, 1, 8 * 0.5, 8*3 + 8*7, 7 * time.Hour},
		{"hourly checkpoints, twice as fast", time.Hour, 2, 8 * 0.5, 8*3 + 8*2, 2 * time.Hour},
		{"checkpoints rarer than the run", 4 * time.Hour, 1, 8 * 3.5, 8 * 10, 10 * time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pool := modelPool(8, tt.perf)
			pool.CheckpointInterval = policy.Duration(tt.checkpoint)
			res, err := Run(context.Background(), Options{Pool: pool, Trace: oneJob(8, 10*time.Hour), Policy: scripted(1, 3*time.Hour+30*time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			if res.JobsKilled != 1 || res.JobsOnCloud != 1 || res.Launches != 2 {
				t.Fatalf("%d kills, %d jobs on cloud, %d launches: want the one job killed once and finished on a second instance", res.JobsKilled, res.JobsOnCloud, res.Launches)
			}
			if !nearGPUh(res.GPUHoursLost, tt.lost) || !nearGPUh(res.UsedGPUHours, tt.used) {
				t.Errorf("lost %.4f, used %.4f GPU-hours: want %.4f and %.4f", res.GPUHoursLost, res.UsedGPUHours, tt.lost, tt.used)
			}
			// $8/h: the killed instance's 3h30m, the second one's rerun
			// (launched at the next evaluation), and at most one
			// evaluation interval before the idle instance ends.
			lo := 8 * (3.5 + tt.rerun.Hours())
			if res.CloudCostUSD < lo-1e-6 || res.CloudCostUSD > lo+8*(30*time.Second).Hours()+1e-6 {
				t.Errorf("billed $%.4f: want $%.4f plus at most one interval (a rerun of %s)", res.CloudCostUSD, lo, tt.rerun)
			}
			// All the reference work was paid at the best price.
			if tt.checkpoint == time.Hour && !nearGPUh(res.GPUHoursLost+res.UsedGPUHours, 8*3.5+tt.rerun.Hours()*8) {
				t.Errorf("used + lost = %.4f GPU-hours: want every billed busy hour counted once", res.GPUHoursLost+res.UsedGPUHours)
			}
		})
	}
}

// TestCheckpointSpotReclaim: 3-hour jobs on spot instances reclaimed
// every 2 hours on average (the realistic model's reclaim process, with
// its 2-minute notice). With checkpoint_interval 15m every reclaim loses
// less than 15 minutes of each killed job, the work done before the last
// checkpoints is kept (used GPU-hours are exactly the trace's work), and
// the run loses and costs less than the same seed without checkpoints.
func TestCheckpointSpotReclaim(t *testing.T) {
	c := &Cloud{Seed: 5, SpotMeanLife: 2 * time.Hour, SpotNotice: 2 * time.Minute}
	run := func(checkpoint time.Duration) Result {
		pool := cloudPool(policy.MarketSpot)
		pool.Offerings = pool.Offerings[:1]
		pool.CheckpointInterval = policy.Duration(checkpoint)
		res, err := Run(context.Background(), Options{Pool: pool, Trace: cloudTrace(6, 3*time.Hour), Policy: Spillway(), Cloud: c})
		if err != nil {
			t.Fatal(err)
		}
		if res.JobsUnstarted != 0 || res.JobsOnCloud != 6 {
			t.Fatalf("checkpoint %s: %d unstarted, %d on cloud: want all 6 jobs to finish", checkpoint, res.JobsUnstarted, res.JobsOnCloud)
		}
		return res
	}
	plain, ckpt := run(0), run(15*time.Minute)
	t.Logf("without checkpoints: %d kills, %.1f GPU-h lost, $%.2f; with: %d kills, %.1f GPU-h lost, $%.2f",
		plain.JobsKilled, plain.GPUHoursLost, plain.CloudCostUSD, ckpt.JobsKilled, ckpt.GPUHoursLost, ckpt.CloudCostUSD)
	if ckpt.JobsKilled == 0 || plain.JobsKilled == 0 {
		t.Fatalf("kills %d and %d: the reclaims must hit running jobs for this test to mean anything", plain.JobsKilled, ckpt.JobsKilled)
	}
	if max := float64(ckpt.JobsKilled) * 8 * 0.25; ckpt.GPUHoursLost >= max {
		t.Errorf("lost %.2f GPU-hours over %d kills: want less than 15 minutes of 8 GPUs per kill (%.2f)", ckpt.GPUHoursLost, ckpt.JobsKilled, max)
	}
	if !nearGPUh(ckpt.UsedGPUHours, 6*8*3) || !nearGPUh(plain.UsedGPUHours, 6*8*3) {
		t.Errorf("used %.4f GPU-hours with checkpoints, %.4f without: want the trace's 144 either way", ckpt.UsedGPUHours, plain.UsedGPUHours)
	}
	if ckpt.GPUHoursLost >= plain.GPUHoursLost || ckpt.CloudCostUSD >= plain.CloudCostUSD {
		t.Errorf("with checkpoints lost %.1f GPU-h for $%.2f, without %.1f for $%.2f: want checkpoints to lose and cost less",
			ckpt.GPUHoursLost, ckpt.CloudCostUSD, plain.GPUHoursLost, plain.CloudCostUSD)
	}
	if ckpt.Efficiency <= plain.Efficiency {
		t.Errorf("efficiency %.3f with checkpoints, %.3f without: want higher", ckpt.Efficiency, plain.Efficiency)
	}
}

// TestSpanSettings: an 8-GPU job and two 4-GPU instances. By default a job
// spans only instances of at least 8 GPUs, so it never runs on them; with
// span.min_gpus 4 it spans both, running its duration ÷ performance ×
// span.slowdown.
func TestSpanSettings(t *testing.T) {
	for _, tt := range []struct {
		name     string
		span     policy.Span
		perf     float64
		onCloud  int
		usedGPUh float64
	}{
		{"default: no span below 8 GPUs", policy.Span{}, 1, 0, 0},
		{"min 4, no slowdown", policy.Span{MinGPUs: 4}, 1, 1, 8 * 2},
		{"min 4, slowdown 1.5", policy.Span{MinGPUs: 4, Slowdown: 1.5}, 1, 1, 8 * 3},
		{"min 4, slowdown 1.5, performance 2", policy.Span{MinGPUs: 4, Slowdown: 1.5}, 2, 1, 8 * 1.5},
		{"min 8 written out", policy.Span{MinGPUs: 8, Slowdown: 1.5}, 1, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pool := modelPool(4, tt.perf)
			pool.Span = tt.span
			res, err := Run(context.Background(), Options{Pool: pool, Trace: oneJob(8, 2*time.Hour), Policy: scripted(2, 0)})
			if err != nil {
				t.Fatal(err)
			}
			if res.JobsOnCloud != tt.onCloud || !nearGPUh(res.UsedGPUHours, tt.usedGPUh) {
				t.Errorf("%d jobs on cloud, %.4f GPU-hours used: want %d and %.4f", res.JobsOnCloud, res.UsedGPUHours, tt.onCloud, tt.usedGPUh)
			}
		})
	}
}

// TestSpanSlowdownOnlyWhenSpanning: a job that fits one instance runs at
// the offering's speed whatever the span slowdown.
func TestSpanSlowdownOnlyWhenSpanning(t *testing.T) {
	pool := modelPool(8, 1)
	pool.Span = policy.Span{MinGPUs: 4, Slowdown: 3}
	res, err := Run(context.Background(), Options{Pool: pool, Trace: oneJob(8, 2*time.Hour), Policy: scripted(1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if res.JobsOnCloud != 1 || !nearGPUh(res.UsedGPUHours, 16) {
		t.Errorf("%d jobs on cloud, %.4f GPU-hours used: want 1 and 16", res.JobsOnCloud, res.UsedGPUHours)
	}
}

// TestCheckpointOutlivesMaxLifetime: the pool's policy drains instances at
// max_lifetime 2h and cuts the drain at drain_timeout 30m, so a 10-hour job
// is killed every 2h30m. The one on-prem node is busy for 30 hours with
// another job. Without checkpoints no cloud run of the 10-hour job could
// finish: it waits for on-prem, and nothing is rented for it (it was
// rented for and killed over and over, paid for and thrown away); with
// checkpoint_interval 1h it resumes each time and finishes there, having
// lost less than an hour per kill.
func TestCheckpointOutlivesMaxLifetime(t *testing.T) {
	run := func(checkpoint time.Duration) Result {
		pool := modelPool(8, 1)
		pool.OnPrem.Nodes = 1
		pool.WaitTarget = 0
		pool.ScaleIn = policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}, MaxLifetime: policy.Duration(2 * time.Hour), DrainTimeout: policy.Duration(30 * time.Minute)}
		pool.CheckpointInterval = policy.Duration(checkpoint)
		tr := &trace.Trace{Name: "two", Start: trace.DefaultEpoch, Jobs: []trace.Job{
			{Submit: 0, Duration: 30 * time.Hour, GPUs: 8}, {Submit: time.Second, Duration: 10 * time.Hour, GPUs: 8}}}
		res, err := Run(context.Background(), Options{Pool: pool, Trace: tr, Policy: Spillway()})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	plain, ckpt := run(0), run(time.Hour)
	if plain.JobsOnCloud != 0 || plain.JobsKilled != 0 || plain.Launches != 0 || plain.JobsUnstarted != 0 || plain.WaitMaxS != 30*3600-1 {
		t.Errorf("without checkpoints: %d jobs finished on cloud after %d kills and %d launches, %d unstarted, longest wait %gs: want no launch, the job run on-prem after the other, 30h less a second later",
			plain.JobsOnCloud, plain.JobsKilled, plain.Launches, plain.JobsUnstarted, plain.WaitMaxS)
	}
	if ckpt.JobsOnCloud != 1 || ckpt.JobsKilled < 2 {
		t.Fatalf("with checkpoints: %d jobs finished on cloud after %d kills: want it killed and resumed until it finishes", ckpt.JobsOnCloud, ckpt.JobsKilled)
	}
	if max := float64(ckpt.JobsKilled) * 8; ckpt.GPUHoursLost >= max || !nearGPUh(ckpt.UsedGPUHours, 80) {
		t.Errorf("with checkpoints: lost %.2f GPU-hours over %d kills (want under %.0f), used %.2f (want the job's 80)", ckpt.GPUHoursLost, ckpt.JobsKilled, max, ckpt.UsedGPUHours)
	}
	t.Logf("without checkpoints: %d kills, %.0f GPU-h lost, $%.0f; with: %d kills, %.1f GPU-h lost, $%.0f",
		plain.JobsKilled, plain.GPUHoursLost, plain.CloudCostUSD, ckpt.JobsKilled, ckpt.GPUHoursLost, ckpt.CloudCostUSD)
}
