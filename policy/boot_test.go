package policy

import (
	"testing"
	"time"
)

// TestObservedBoot: when the snapshot has an offering's observed boot
// time, Decide plans with it instead of Offering.Boot: when to launch, the
// wait horizon and ties between offerings; the ski-rental idle threshold
// takes the observed mean boot (Snapshot.BootMean) instead; the reasons
// name the boot used.
func TestObservedBoot(t *testing.T) {
	now := dtT0
	seen := func(snap Snapshot, boots map[OfferingKey]time.Duration) Snapshot {
		snap.Boot = boots
		return snap
	}
	meanOf := func(snap Snapshot, boots map[OfferingKey]time.Duration) Snapshot {
		snap.BootMean = boots
		return snap
	}
	p4d := dtP4d() // boot 3m, $21.96/h
	slow := map[OfferingKey]time.Duration{p4d.Key(): 4 * time.Minute}
	// waited 1m: 1m + 30s + 3m = 4m30s <= 5m holds; with 4m observed,
	// 5m30s > 5m launches.
	waited := dtBusySnap(time.Minute, 8)
	// one job waited 1m, the wait horizon is 5m - 30s - boot.
	perJob := dtBusySnap(time.Minute, 8)
	perJob.PendingJobWaits = []time.Duration{time.Minute}
	twin := p4d
	twin.Name, twin.Provider = "p4d-ali", "alicloud" // same price and boot
	idle := []Instance{dtIdle(dtInst("i-idle", p4d, StateRunning, now.Add(-time.Hour), 0), now.Add(-3*time.Minute-30*time.Second))}
	for _, c := range []dtCase{
		{
			name:  "configured boot 3m: the oldest job can still start in time, hold",
			pool:  dtPool(p4d),
			snap:  waited,
			now:   now,
			check: func(t *testing.T, p Plan) { dtNoActions(t, p); dtHasNote(t, p, "+ boot 3m of p4d <= wait target 5m") },
		},
		{
			name: "observed boot 4m: launch a tick earlier, naming the observed boot",
			pool: dtPool(p4d),
			snap: seen(waited, slow),
			now:  now,
			check: func(t *testing.T, p Plan) {
				dtWantLaunch(map[string]int{"p4d": 1})(t, p)
				if len(p.Launches) == 1 {
					dtReasonHas(t, p.Launches[0].Reason, "+ boot 4m (observed) > wait target 5m")
				}
			},
		},
		{
			name: "an observed boot for another offering changes nothing",
			pool: dtPool(p4d),
			snap: seen(waited, map[OfferingKey]time.Duration{dtG6e().Key(): time.Hour}),
			now:  now,
			check: func(t *testing.T, p Plan) {
				dtNoActions(t, p)
				dtHasNote(t, p, "+ boot 3m of p4d <= wait target 5m")
			},
		},
		{
			name: "wait horizon with the configured boot: a job that waited 1m is left to on-prem",
			pool: dtPool(p4d),
			snap: perJob,
			now:  now,
			check: func(t *testing.T, p Plan) {
				dtNoActions(t, p)
				dtHasNote(t, p, "1 pending job, which has not waited long enough")
			},
		},
		{
			name: "wait horizon with the observed boot: the same job is due",
			pool: dtPool(p4d),
			snap: seen(perJob, map[OfferingKey]time.Duration{p4d.Key(): 5 * time.Minute}),
			now:  now,
			check: func(t *testing.T, p Plan) {
				dtWantLaunch(map[string]int{"p4d": 1})(t, p)
				if len(p.Launches) == 1 {
					dtReasonHas(t, p.Launches[0].Reason, "boot 5m (observed)")
				}
			},
		},
		{
			name:  "equal price and configured boot: the first offering wins the tie",
			pool:  dtPool(p4d, twin),
			snap:  dtBusySnap(time.Hour, 8),
			now:   now,
			check: dtWantLaunch(map[string]int{"p4d": 1}),
		},
		{
			name:  "equal price: the offering observed to boot faster wins the tie",
			pool:  dtPool(p4d, twin),
			snap:  seen(dtBusySnap(time.Hour, 8), map[OfferingKey]time.Duration{p4d.Key(): 9 * time.Minute, twin.Key(): 2 * time.Minute}),
			now:   now,
			check: dtWantLaunch(map[string]int{"p4d-ali": 1}),
		},
		{
			name:  "auto idle threshold is the configured boot: idle 3m30s of 3m is drained",
			pool:  dtPool(p4d),
			snap:  dtBusySnap(0),
			inst:  idle,
			now:   now,
			check: dtWantDrain("i-idle", ">= threshold 3m (auto: ski-rental break-even = boot time of p4d)"),
		},
		{
			name:  "auto idle threshold ignores the observed p95 boot (launch timing, not ski-rental): idle 3m30s of 3m is drained",
			pool:  dtPool(p4d),
			snap:  seen(dtBusySnap(0), slow),
			inst:  idle,
			now:   now,
			check: dtWantDrain("i-idle", ">= threshold 3m (auto: ski-rental break-even = boot time of p4d)"),
		},
		{
			name:  "auto idle threshold is the observed mean boot: idle 3m30s of 4m is kept",
			pool:  dtPool(p4d),
			snap:  meanOf(dtBusySnap(0), slow),
			inst:  idle,
			now:   now,
			check: dtNoActions,
		},
		{
			name:  "observed mean boot 2m: idle 3m30s is drained, the reason names the observed mean",
			pool:  dtPool(p4d),
			snap:  meanOf(dtBusySnap(0), map[OfferingKey]time.Duration{p4d.Key(): 2 * time.Minute}),
			inst:  idle,
			now:   now,
			check: dtWantDrain("i-idle", ">= threshold 2m (auto: ski-rental break-even = observed mean boot time of p4d)"),
		},
	} {
		t.Run(c.name, func(t *testing.T) { c.check(t, Decide(c.pool, c.snap, c.inst, c.spend, c.now)) })
	}
}
