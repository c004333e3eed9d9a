package policy

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestQuietScaleInFormatsNoReason: an idle instance released, or one
// drained as unused by the queue, is explained by a reason of a few
// hundred bytes (its idle time, threshold, billing, floors); the
// simulator, which drains idle instances at most of a million-job run's
// evaluations and reads no reason, decides with DecideWithoutNotes, which
// plans the same drain without formatting it: no allocation but the
// plan's drain and the fleet's flags, the idle list (and Plan.Unused).
func TestQuietScaleInFormatsNoReason(t *testing.T) {
	now := dtT0
	one := dtOne()
	idle := Snapshot{Time: now, OnPremGPUs: 32, OnPremFreeGPUs: 32}
	fixed := dtPool(one)
	fixed.ScaleIn.Idle = IdleSetting{Duration: 5 * time.Minute}
	for _, tt := range []struct {
		name   string
		pool   *Pool
		snap   Snapshot
		off    Offering
		age    time.Duration // since its launch
		reason string        // how Decide's reason starts
		more   float64       // allocations the drain costs: the plan's drain, the fleet's flags, the idle list (and Plan.Unused)
	}{
		{"idle, auto threshold", dtPool(one), idle, one, 3 * time.Hour, "idle: all 1 GPUs idle for 1h since", 3},
		{"idle, scale_in.idle 5m", fixed, idle, one, 3 * time.Hour, "idle: all 1 GPUs idle for 1h since", 3},
		{"unused by a queue waiting all along", dtPool(one), dtBusySnap(2*time.Hour, 1), one, 3 * time.Hour, "unused: idle", 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inst := []Instance{dtIdle(dtInst("i-one", tt.off, StateRunning, now.Add(-tt.age), 0), now.Add(-time.Hour))}
			p := Decide(tt.pool, tt.snap, inst, Spend{}, now)
			if len(p.Drains) != 1 || !strings.HasPrefix(p.Drains[0].Reason, tt.reason) {
				t.Fatalf("Decide = %+v: want one drain explained %q..., or the case tests nothing", p, tt.reason)
			}
			q := DecideWithoutNotes(tt.pool, tt.snap, inst, Spend{}, now)
			if got, want := withoutWords(q), withoutWords(p); !reflect.DeepEqual(got, want) {
				t.Fatalf("DecideWithoutNotes = %+v, want Decide's plan %+v", got, want)
			}
			if q.Drains[0].Reason != "" {
				t.Errorf("DecideWithoutNotes explained its drain: %q", q.Drains[0].Reason)
			}
			// The same fleet, the instance idle for a minute only: kept,
			// no drain planned.
			kept := []Instance{dtIdle(inst[0], now.Add(-time.Minute))}
			if p := DecideWithoutNotes(tt.pool, tt.snap, kept, Spend{}, now); len(p.Drains) != 0 {
				t.Fatalf("idle a minute: drained %+v", p.Drains)
			}
			base := testing.AllocsPerRun(50, func() { DecideWithoutNotes(tt.pool, tt.snap, kept, Spend{}, now) })
			quiet := testing.AllocsPerRun(50, func() { DecideWithoutNotes(tt.pool, tt.snap, inst, Spend{}, now) })
			noisy := testing.AllocsPerRun(50, func() { Decide(tt.pool, tt.snap, inst, Spend{}, now) })
			t.Logf("allocations: %.0f kept, %.0f drained quietly, %.0f by Decide", base, quiet, noisy)
			// Decide spends 2 more, or 10 for the unused reason's fmt.
			if quiet > base+tt.more {
				t.Errorf("DecideWithoutNotes allocates %.0f times draining the instance, %.0f keeping it (Decide %.0f): its reason is still formatted", quiet, base, noisy)
			}
		})
	}
}
