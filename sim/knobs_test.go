package sim

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
)

func TestParseBaselineKnob(t *testing.T) {
	var k BaselineKnobs
	for _, s := range []string{"threshold.target=0.1", "threshold.target=0.7", "threshold.cooldown=2m", "threshold.interval=30s", "per-job.suspend=0s", "per-job.resume_rate=10",
		"per-job.resume_timeout=10m", "per-job.insufficient_capacity_timeout=0s", "karpenter.consolidate_after=0s",
		"karpenter.consolidation_policy=WhenEmpty", "karpenter.evict=true", "karpenter.spot_to_spot=true"} {
		if err := k.ParseBaselineKnob(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	want := BaselineKnobs{ThresholdTarget: 0.7, ThresholdCooldown: 2 * time.Minute, ThresholdCooldownSet: true, ThresholdInterval: 30 * time.Second, PerJobSuspendSet: true, PerJobResumeRate: 10,
		PerJobResumeTimeout: 10 * time.Minute, PerJobICETimeoutSet: true, KarpenterConsolidateAfterSet: true,
		KarpenterConsolidation: KarpenterWhenEmpty, KarpenterEvict: true, KarpenterSpotToSpot: true}
	if k != want {
		t.Errorf("knobs %+v, want %+v", k, want)
	}
	for _, tt := range []struct{ in, want string }{
		{"threshold.target=1.5", `baseline option threshold.target="1.5": want the GPU utilisation the threshold baseline sizes for, from 0.1 to 1 (e.g. 0.8; below 0.1 it rents more than 10 GPUs for each one in use)`},
		// A target near 0 rents without limit (a billion GPUs a GPU in use).
		{"threshold.target=1e-9", `baseline option threshold.target="1e-9": want the GPU utilisation the threshold baseline sizes for, from 0.1 to 1 (e.g. 0.8; below 0.1 it rents more than 10 GPUs for each one in use)`},
		{"threshold.target=0.09", `baseline option threshold.target="0.09": want the GPU utilisation the threshold baseline sizes for, from 0.1 to 1 (e.g. 0.8; below 0.1 it rents more than 10 GPUs for each one in use)`},
		{"threshold.target=0", `baseline option threshold.target="0": want the GPU utilisation the threshold baseline sizes for, from 0.1 to 1 (e.g. 0.8; below 0.1 it rents more than 10 GPUs for each one in use)`},
		{"threshold.target=NaN", `baseline option threshold.target="NaN": want the GPU utilisation the threshold baseline sizes for, from 0.1 to 1 (e.g. 0.8; below 0.1 it rents more than 10 GPUs for each one in use)`},
		{"threshold.interval=0s", `baseline option threshold.interval="0s": want a duration from 1s to 720h`},
		// A number alone was refused without saying it lacks a unit.
		{"per-job.suspend=300", `baseline option per-job.suspend="300": want a duration from 0s to 720h; a number alone has no unit: write 300s, 300m or 300h`},
		{"karpenter.consolidate_after=5 minutes", `baseline option karpenter.consolidate_after="5 minutes": want a duration from 0s to 720h; did you mean 5m?`},
		{"per-job.resume_rate=0", `baseline option per-job.resume_rate="0": want nodes a minute, 1 to 100000`},
		{"suspend", `baseline option "suspend": want policy.knob=value`},
		{"per-job.resume_timeout=0s", `baseline option per-job.resume_timeout="0s": want a duration from 1s to 8784h`},
		{"karpenter.consolidation_policy=Always", `baseline option karpenter.consolidation_policy="Always": want WhenEmpty or WhenEmptyOrUnderutilized`},
		{"karpenter.evict=maybe", `baseline option karpenter.evict="maybe": want true or false`},
		{"karpenter.spot_to_spot=yes", `baseline option karpenter.spot_to_spot="yes": want true or false`},
	} {
		if err := new(BaselineKnobs).ParseBaselineKnob(tt.in); err == nil || err.Error() != tt.want {
			t.Errorf("%s: got %v, want %q", tt.in, err, tt.want)
		}
	}
}

// TestPerJobSuspendKnob: a per-job baseline that suspends idle nodes at
// once pays for no idle tail, so it launches more and bills a different
// amount than the default 300 s.
func TestPerJobSuspendKnob(t *testing.T) {
	pool := WithOnPremGPUs(backtestPool(t), 8)
	tr := loadBundled(t, "itp/cluster05.csv")
	run := func(k BaselineKnobs) Result {
		p := pool
		res, err := Run(context.Background(), Options{Pool: &p, Trace: tr, Policy: Admitted(PerJobWith(k))})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	def, zero := run(BaselineKnobs{}), run(BaselineKnobs{PerJobSuspendSet: true})
	if zero.Launches <= def.Launches || zero.CloudCostUSD == def.CloudCostUSD {
		t.Errorf("suspend 0s: %d launches $%.0f; default: %d launches $%.0f", zero.Launches, zero.CloudCostUSD, def.Launches, def.CloudCostUSD)
	}
	t.Logf("per-job suspend 300s: $%.0f p95 %.0fs; 0s: $%.0f p95 %.0fs", def.CloudCostUSD, def.WaitP95S, zero.CloudCostUSD, zero.WaitP95S)
}

// TestThresholdCooldownZeroIsKept: threshold.cooldown=0s means no cooldown,
// not the 5-minute default.
func TestThresholdCooldownZeroIsKept(t *testing.T) {
	var k BaselineKnobs
	if err := k.ParseBaselineKnob("threshold.cooldown=0s"); err != nil {
		t.Fatal(err)
	}
	if got := k.withDefaults().ThresholdCooldown; got != 0 {
		t.Errorf("threshold.cooldown=0s: cooldown %s, want 0", got)
	}
	if got := (BaselineKnobs{}).withDefaults().ThresholdCooldown; got != ThresholdCooldown {
		t.Errorf("no knob: cooldown %s, want the default %s", got, ThresholdCooldown)
	}
}

// TestThresholdCooldownFollowsAdmittedActions: as in Nomad Autoscaler,
// the cooldown starts after a scaling action that happened. A scale-up
// the budget refuses (its month spent) starts none, so the next
// evaluation, in a new month, launches; a launch let through starts one,
// so the evaluation after it plans nothing.
func TestThresholdCooldownFollowsAdmittedActions(t *testing.T) {
	pool := WithOnPremGPUs(backtestPool(t), 8)
	pool.Interval = policy.Duration(ThresholdInterval)
	dec := Admitted(Threshold()).NewDecider()
	snap := policy.Snapshot{OnPremGPUs: 8, OnPremBusyGPUs: 8, PendingGPUs: 64, PendingJobs: 8}
	end := time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)
	now := end.Add(-ThresholdInterval)
	spent := policy.Spend{PeriodStart: end.AddDate(0, -1, 0), PeriodEnd: end, Accrued: pool.Limits.Budget.Amount}
	if plan := dec.Decide(&pool, snap, nil, spent, now); len(plan.Launches) != 0 {
		t.Fatalf("budget spent: plan %+v, want no launch", plan.Launches)
	}
	fresh := policy.Spend{PeriodStart: end, PeriodEnd: end.AddDate(0, 1, 0)}
	now = end
	plan := dec.Decide(&pool, snap, nil, fresh, now)
	if len(plan.Launches) == 0 {
		t.Fatalf("a minute after a refused scale-up, in a new month: no launch, want one (the refusal started no cooldown)")
	}
	now = now.Add(ThresholdInterval)
	if again := dec.Decide(&pool, snap, nil, fresh, now); len(again.Launches) != 0 {
		t.Errorf("a minute after a launch: plan %+v, want none (the cooldown)", again.Launches)
	}
}

// TestCheckBoots: a timeout of the baselines that an offering's boot
// reaches is refused, naming the knob, its value, the offering and its
// boot: a value set whatever runs, a default only when its baseline runs.
// The defaults were not checked: with a 20-minute boot every karpenter
// launch timed out at 15 minutes and was launched again.
func TestCheckBoots(t *testing.T) {
	pool := func(boots ...time.Duration) *policy.Pool {
		p := &policy.Pool{}
		for i, b := range boots {
			p.Offerings = append(p.Offerings, policy.Offering{InstanceType: fmt.Sprintf("x%d", i), GPUs: 8, Boot: policy.Duration(b)})
		}
		return p
	}
	all := PolicyNames
	for _, tt := range []struct {
		name     string
		knobs    BaselineKnobs
		pool     *policy.Pool
		policies []string
		want     string // "" for accepted
	}{
		{"bundled boots", BaselineKnobs{}, pool(3*time.Minute, 5*time.Minute), all, ""},
		{"boot under the defaults", BaselineKnobs{}, pool(14*time.Minute + 59*time.Second), all, ""},
		{"karpenter's default reached", BaselineKnobs{}, pool(5*time.Minute, 20*time.Minute), all,
			"karpenter.registration_ttl 15m0s (the default) is not longer than the boot of offerings[1] (x1, 20m0s): Karpenter ends a node that has not registered within it, so every launch of it would time out; set karpenter.registration_ttl well above the slowest boot (e.g. 1h0m0s, three boots), or leave karpenter out of the policies"},
		{"karpenter's default, karpenter not run", BaselineKnobs{}, pool(20 * time.Minute), []string{PolicySpillway, PolicyPerJob}, ""},
		{"per-job's default reached", BaselineKnobs{}, pool(30 * time.Minute), []string{PolicyPerJob},
			"per-job.resume_timeout 30m0s (the default) is not longer than the boot of offerings[0] (x0, 30m0s): Slurm marks a node that has not resumed within it DOWN and resumes another, so every launch of it would time out; set per-job.resume_timeout well above the slowest boot (e.g. 1h30m0s, three boots), or leave per-job out of the policies"},
		{"karpenter set above the boot", BaselineKnobs{KarpenterRegistrationTTL: time.Hour}, pool(20 * time.Minute), all, ""},
		{"karpenter set, not run", BaselineKnobs{KarpenterRegistrationTTL: 4 * time.Minute}, pool(4 * time.Minute), nil,
			"karpenter.registration_ttl 4m0s is not longer than the boot of offerings[0] (x0, 4m0s): Karpenter ends a node that has not registered within it, so every launch of it would time out; set it well above the slowest boot, or leave it out for the default, 15m0s"},
		{"per-job set below the boot", BaselineKnobs{PerJobResumeTimeout: 40 * time.Minute}, pool(45 * time.Minute), []string{PolicyPerJob},
			"per-job.resume_timeout 40m0s is not longer than the boot of offerings[0] (x0, 45m0s): Slurm marks a node that has not resumed within it DOWN and resumes another, so every launch of it would time out; set it well above the slowest boot (e.g. 2h15m0s, three boots)"},
		{"per-job cannot outlast the boot", BaselineKnobs{}, pool(MaxRegistrationTTL), []string{PolicyPerJob},
			"per-job.resume_timeout 30m0s (the default) is not longer than the boot of offerings[0] (x0, 8784h0m0s): Slurm marks a node that has not resumed within it DOWN and resumes another, so every launch of it would time out; it can be at most 8784h0m0s: leave per-job out of the policies"},
		{"per-job set above a month's boot", BaselineKnobs{PerJobResumeTimeout: 100 * 24 * time.Hour}, pool(31 * 24 * time.Hour), []string{PolicyPerJob}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.knobs.CheckBoots(tt.pool, tt.policies)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Errorf("got %v\nwant %s", err, tt.want)
			}
		})
	}
}
