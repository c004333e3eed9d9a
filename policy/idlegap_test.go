package policy

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// LearnedIdle is the threshold up to the break-even that would have cost
// least over the idle spells seen.
func TestLearnedIdle(t *testing.T) {
	s := func(n int) time.Duration { return time.Duration(n) * time.Second }
	rep := func(n int, d time.Duration) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = d
		}
		return out
	}
	b := 4 * time.Minute
	tests := []struct {
		name   string
		gaps   []time.Duration
		want   time.Duration
		wantOK bool
	}{
		{"too few spells: the break-even", rep(MinIdleSpells-1, IdleGapNever), b, false},
		{"no job ever came back: release at once", rep(10, IdleGapNever), 0, true},
		{"every job came back soon: keep up to the break-even", rep(10, s(30)), b, true},
		{"half came back after 30s, half never: keep 30s",
			append(rep(5, s(30)), rep(5, IdleGapNever)...), s(30), true},
		{"jobs came back only after the break-even: like never",
			rep(10, 10*time.Minute), 0, true},
		// One at 30s, nine never: keeping 30s costs 30 + 9×30 = 300s, a boot 240s.
		{"one return at 30s among nine that never came: not worth keeping",
			append([]time.Duration{s(30)}, rep(9, IdleGapNever)...), 0, true},
		// 4 of 10 at 90s, 6 never: keeping 90s costs 4×90 + 6×90 = 900s;
		// releasing at once costs 4×240 = 960s.
		{"four of ten back at 90s: keeping 90s is cheaper than a boot each",
			append(rep(4, s(90)), rep(6, IdleGapNever)...), s(90), true},
		// 3 of 10 at 90s: 900s against 3×240 = 720s.
		{"three of ten back at 90s: release at once",
			append(rep(3, s(90)), rep(7, IdleGapNever)...), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := LearnedIdle(tt.gaps, b)
			if got != tt.want || ok != tt.wantOK {
				t.Fatalf("LearnedIdle = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
			// Any order gives the same answer, and the input is not sorted in place.
			rev := slices.Clone(tt.gaps)
			slices.Reverse(rev)
			keep := slices.Clone(rev)
			if got2, ok2 := LearnedIdle(rev, b); got2 != got || ok2 != ok {
				t.Fatalf("reversed gaps: %v, %v; want %v, %v", got2, ok2, got, ok)
			}
			if !slices.Equal(rev, keep) {
				t.Fatal("LearnedIdle sorted its input in place")
			}
		})
	}
}

// With scale_in.idle auto, Decide releases an idle instance after the
// learned threshold, and names the spells it learned from; a fixed idle
// setting ignores them.
func TestIdleThresholdLearnedFromSpells(t *testing.T) {
	now := dtT0
	p4d := dtP4d() // boot 3m
	idle := []Instance{dtIdle(dtInst("i-idle", p4d, StateRunning, now.Add(-time.Hour), 0), now.Add(-time.Minute))}
	nevers := make([]time.Duration, 12)
	for i := range nevers {
		nevers[i] = IdleGapNever
	}
	quick := make([]time.Duration, 12)
	for i := range quick {
		quick[i] = 20 * time.Second
	}
	gapsOf := func(g []time.Duration) Snapshot {
		snap := dtBusySnap(0)
		k := p4d.Key()
		k.Market = MarketOnDemand
		snap.IdleGaps = map[OfferingKey][]time.Duration{k: g}
		return snap
	}
	fixed := dtPool(p4d)
	fixed.ScaleIn.Idle = IdleSetting{Duration: 10 * time.Minute}
	for _, c := range []dtCase{
		{
			name:  "no spells: idle 1m of the 3m break-even is kept",
			pool:  dtPool(p4d),
			snap:  dtBusySnap(0),
			inst:  idle,
			now:   now,
			check: dtNoActions,
		},
		{
			name:  "twelve spells no job came back for: idle 1m is released",
			pool:  dtPool(p4d),
			snap:  gapsOf(nevers),
			inst:  idle,
			now:   now,
			check: dtWantDrain("i-idle", ">= threshold 0s (auto: what would have cost least over the last 12 idle spells of p4d, at most the ski-rental break-even = boot time of p4d 3m)"),
		},
		{
			name:  "twelve spells whose jobs came back in 20s: kept to the break-even",
			pool:  dtPool(p4d),
			snap:  gapsOf(quick),
			inst:  idle,
			now:   now,
			check: dtNoActions,
		},
		{
			name:  "a fixed scale_in.idle ignores the spells",
			pool:  fixed,
			snap:  gapsOf(nevers),
			inst:  idle,
			now:   now,
			check: dtNoActions,
		},
		{
			// Each offering's threshold is its own, whichever instance is
			// looked at first (a decision works each out once).
			name: "each offering learns from its own spells",
			pool: dtPool(p4d, dtGn7()),
			snap: func() Snapshot {
				snap := gapsOf(nevers)
				k := dtGn7().Key()
				k.Market = MarketOnDemand
				snap.IdleGaps[k] = quick
				return snap
			}(),
			inst: []Instance{
				dtIdle(dtInst("i-gn7", dtGn7(), StateRunning, now.Add(-time.Hour), 0), now.Add(-time.Minute)),
				idle[0],
				dtIdle(dtInst("i-gn7-2", dtGn7(), StateRunning, now.Add(-time.Hour), 0), now.Add(-time.Minute)),
			},
			now:   now,
			check: dtWantDrain("i-idle", "last 12 idle spells of p4d"),
		},
		{
			// An instance launched before the pool's boot changed keeps
			// the break-even of the boot it was launched with.
			name: "the break-even is each instance's own boot",
			pool: dtPool(p4d),
			snap: dtBusySnap(0),
			inst: func() []Instance {
				fast := p4d
				fast.Boot = Duration(30 * time.Second)
				return []Instance{idle[0], dtIdle(dtInst("i-fast", fast, StateRunning, now.Add(-time.Hour), 0), now.Add(-time.Minute))}
			}(),
			now:   now,
			check: dtWantDrain("i-fast", "threshold 30s (auto: ski-rental break-even = boot time of p4d)"),
		},
	} {
		t.Run(c.name, func(t *testing.T) { c.check(t, Decide(c.pool, c.snap, c.inst, c.spend, c.now)) })
	}
}

// TestUnusedInstanceReleased: an idle instance is kept past its threshold
// while pending jobs fit it, until it has idled longer than a scheduler
// takes to start a job while the queue waited all along; then it is
// drained and its offering named in Plan.Unused. Floors still keep it.
func TestUnusedInstanceReleased(t *testing.T) {
	now := dtT0
	one := dtOne() // 1 GPU, boot 3m: the break-even threshold
	p4d := dtP4d()
	// jobs waiting: 8 GPUs for 2h, 1 GPU for 30s (each job's wait known)
	mixed := dtBusySnap(2*time.Hour, 8, 1)
	mixed.PendingJobWaits = []time.Duration{2 * time.Hour, 30 * time.Second}
	const keptWork = "scale-in: kept 1 idle instance past its threshold: pending jobs fit on it"
	for _, c := range []struct {
		name   string
		off    Offering
		idle   time.Duration
		snap   Snapshot
		floor  bool
		unused bool
		kept   string // a note that says it was kept
	}{
		{"just past the threshold", one, 3*time.Minute + 20*time.Second, dtBusySnap(time.Hour, 1), false, false, keptWork},
		{"past the threshold by less than UnusedAfter", one, 3*time.Minute + UnusedAfter, dtBusySnap(time.Hour, 1), false, false, keptWork},
		{"past the threshold by more than UnusedAfter", one, 3*time.Minute + UnusedAfter + 30*time.Second, dtBusySnap(time.Hour, 1), false, true, ""},
		{"an hour, the queue waiting all along", one, time.Hour, dtBusySnap(2*time.Hour, 1), false, true, ""},
		{"an hour, the job just submitted", one, time.Hour, dtBusySnap(10*time.Second, 1), false, false, keptWork},
		{"an hour, a floor holding it", one, time.Hour, dtBusySnap(2*time.Hour, 1), true, false, keptWork},
		{"an hour, sizes unknown", one, time.Hour, Snapshot{Time: dtT0, OnPremGPUs: 32, OnPremBusyGPUs: 32, PendingJobs: 1, PendingGPUs: 1, OldestWait: 2 * time.Hour}, false, true, ""},
		{"an hour, waiting for the other half of a 16-GPU job", p4d, time.Hour, dtBusySnap(2*time.Hour, 16), false, false, ""},
		{"an hour, the small job young, the old one larger", one, time.Hour, mixed, false, false, ""},
		{"an hour, the 8-GPU job waiting on an 8-GPU instance", p4d, time.Hour, mixed, false, true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			snap := c.snap
			if c.floor {
				snap.Floors = []Floor{{Kind: FloorManual, Owner: "alice", GPUs: 1, Until: now.Add(time.Hour)}}
			}
			inst := []Instance{dtIdle(dtInst("i-one", c.off, StateRunning, now.Add(-3*time.Hour), 0), now.Add(-c.idle))}
			p := Decide(dtPool(c.off), snap, inst, Spend{}, now)
			if !c.unused {
				for _, d := range p.Drains {
					if strings.HasPrefix(d.Reason, "unused") {
						t.Errorf("drained as unused: %s", d.Reason)
					}
				}
				if len(p.Unused) > 0 {
					t.Errorf("Unused = %v, want none", p.Unused)
				}
				if c.kept != "" {
					dtHasNote(t, p, c.kept)
				}
				return
			}
			if len(p.Launches) > 0 || len(p.Terminates) > 0 {
				t.Fatalf("launches %+v, terminates %+v: want none", p.Launches, p.Terminates)
			}
			dtWantDrain("i-one", "unused: idle ", "past its threshold 3m", "the scheduler does not start them there", c.off.Name+" is not launched for 1h")(t, p)
			if len(p.Unused) != 1 || p.Unused[0] != c.off.Key() {
				t.Errorf("Unused = %v, want [%v]", p.Unused, c.off.Key())
			}
		})
	}
}

// TestUnusedOfferingNotLaunched: while Snapshot.Unused holds an offering,
// the pending jobs go to another one, and the launch's reason says why.
func TestUnusedOfferingNotLaunched(t *testing.T) {
	now := dtT0
	one := dtOne()
	one.PricePerHour *= 0.9 // the cheapest per GPU: what the jobs get otherwise
	pool := dtPool(one, dtP4d())
	snap := dtBusySnap(time.Hour, 1, 1, 1, 1, 1, 1, 1, 1)
	if p := Decide(pool, snap, nil, Spend{}, now); !reflect.DeepEqual(dtLaunched(p), map[string]int{"one": 8}) {
		t.Fatalf("launches %v, want 8 of one (the cheapest per GPU)", dtLaunched(p))
	}
	snap.Unused = map[OfferingKey]time.Time{one.Key(): now.Add(time.Hour)}
	p := Decide(pool, snap, nil, Spend{}, now)
	dtWantLaunch(map[string]int{"p4d": 1})(t, p)
	if len(p.Launches) == 1 {
		dtReasonHas(t, p.Launches[0].Reason, "one skipped: left unused by the queue until")
	}
	snap.Unused[one.Key()] = now // expired
	if p := Decide(pool, snap, nil, Spend{}, now); !reflect.DeepEqual(dtLaunched(p), map[string]int{"one": 8}) {
		t.Errorf("launches %v with the hold expired, want 8 of one", dtLaunched(p))
	}
}

func TestOfferingName(t *testing.T) {
	one := dtOne()
	pool := dtPool(one, dtP4d())
	if got := pool.OfferingName(dtP4d().Key()); got != "p4d" {
		t.Errorf("OfferingName(p4d's key) = %q, want p4d", got)
	}
	gone := OfferingKey{Provider: "aws", Region: "us-east-1", InstanceType: "g5.xlarge", Market: MarketOnDemand}
	if got := pool.OfferingName(gone); got != "aws/us-east-1/g5.xlarge/on-demand" {
		t.Errorf("OfferingName(a key no offering has) = %q, want the key's own name", got)
	}
}
