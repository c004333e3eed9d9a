package idlegap

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
)

func TestTracker(t *testing.T) {
	a := policy.OfferingKey{Provider: "aws", Region: "us-east-1", InstanceType: "p3.2xlarge", Market: policy.MarketOnDemand}
	unset := a
	unset.Market = "" // the same offering as a pool may write it
	b := a
	b.InstanceType = "p3.16xlarge"
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	min := func(m int) time.Duration { return time.Duration(m) * time.Minute }
	never := policy.IdleGapNever
	tests := []struct {
		name  string
		track func(*Tracker)
		now   time.Time
		want  map[policy.OfferingKey][]time.Duration
	}{
		{"nothing seen", func(*Tracker) {}, at(0), nil},
		{"a job landing ends a spell; a zero gap is no spell", func(tr *Tracker) {
			tr.Reused(a, min(2))
			tr.Reused(a, 0)
			tr.Reused(b, min(7))
		}, at(10), map[policy.OfferingKey][]time.Duration{a: {min(2)}, b: {min(7)}}},
		{"a released spell waits for the next launch of its offering", func(tr *Tracker) {
			tr.Released(a, at(0), at(3))
			tr.Launched(b, at(4)) // another offering: no replacement
			tr.Launched(a, at(9))
		}, at(10), map[policy.OfferingKey][]time.Duration{a: {min(9)}}},
		{"one launch replaces one release, the oldest first", func(tr *Tracker) {
			tr.Released(a, at(0), at(1))
			tr.Released(a, at(5), at(6))
			tr.Launched(a, at(8))
		}, at(10), map[policy.OfferingKey][]time.Duration{a: {min(8)}}},
		{"no launch within the horizon: never", func(tr *Tracker) {
			tr.Released(a, at(0), at(1))
			tr.Released(a, at(50), at(51))
		}, at(61), map[policy.OfferingKey][]time.Duration{a: {never}}},
		{"a launch after the horizon replaces none", func(tr *Tracker) {
			tr.Released(a, at(0), at(1))
			tr.Launched(a, at(90))
		}, at(91), map[policy.OfferingKey][]time.Duration{a: {never}}},
		{"a market left unset is on-demand", func(tr *Tracker) {
			tr.Released(unset, at(0), at(1))
			tr.Launched(a, at(4))
			tr.Reused(unset, min(1))
		}, at(5), map[policy.OfferingKey][]time.Duration{a: {min(1), min(4)}}},
		{"sorted, never first", func(tr *Tracker) {
			tr.Reused(a, min(5))
			tr.Released(a, at(0), at(1))
			tr.Reused(a, min(1))
		}, at(70), map[policy.OfferingKey][]time.Duration{a: {never, min(1), min(5)}}},
		{"only the last window of spells", func(tr *Tracker) {
			for m := 1; m <= DefaultWindow+3; m++ {
				tr.Reused(a, min(m))
			}
		}, at(0), map[policy.OfferingKey][]time.Duration{a: func() []time.Duration {
			var d []time.Duration
			for m := 4; m <= DefaultWindow+3; m++ {
				d = append(d, min(m))
			}
			return d
		}()}},
		{"a release from before it went idle, or without a start, is ignored", func(tr *Tracker) {
			tr.Released(a, at(5), at(1))
			tr.Released(a, time.Time{}, at(1))
			tr.Launched(a, at(6))
		}, at(7), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := New()
			tt.track(tr)
			got := tr.Gaps(tt.now)
			if len(got) != len(tt.want) {
				t.Fatalf("gaps %v, want %v", got, tt.want)
			}
			for k, w := range tt.want {
				if !slices.Equal(got[k], w) {
					t.Fatalf("gaps of %s: %v, want %v", k.InstanceType, got[k], w)
				}
			}
		})
	}
}

// The map handed out is not written afterwards: a snapshot taken by one
// tick keeps its gaps while the tracker learns on.
func TestGapsAreNotWrittenAfterwards(t *testing.T) {
	k := policy.OfferingKey{Provider: "aws", Region: "r", InstanceType: "x", Market: policy.MarketOnDemand}
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	tr := New()
	tr.Reused(k, time.Minute)
	first := tr.Gaps(now)
	tr.Reused(k, 2*time.Minute)
	if got := first[k]; !slices.Equal(got, []time.Duration{time.Minute}) {
		t.Fatalf("first snapshot changed to %v", got)
	}
	if got := tr.Gaps(now)[k]; !slices.Equal(got, []time.Duration{time.Minute, 2 * time.Minute}) {
		t.Fatalf("second snapshot %v", got)
	}
}

func TestNilTrackerLearnsNothing(t *testing.T) {
	var tr *Tracker
	k := policy.OfferingKey{InstanceType: "x"}
	now := time.Now()
	tr.Reused(k, time.Minute)
	tr.Released(k, now, now)
	tr.Launched(k, now)
	tr.Keep()
	tr.Restore([]Resolved{{Key: k, Gap: time.Minute}})
	if got := tr.Gaps(now); got != nil {
		t.Fatalf("nil tracker gaps %v", got)
	}
	if got := tr.Take(); got != nil {
		t.Fatalf("nil tracker took %v", got)
	}
}

// A kept tracker hands out each gap once, as it resolved, and a tracker
// restored from them learns what the first had: a restart forgets nothing.
func TestKeepTakeRestore(t *testing.T) {
	a := policy.OfferingKey{Provider: "aws", Region: "us-east-1", InstanceType: "p3.2xlarge", Market: policy.MarketOnDemand}
	b := a
	b.InstanceType = "p3.16xlarge"
	unset := a
	unset.Market = ""
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }

	first := New()
	first.Reused(a, time.Minute) // before Keep: learned, not kept
	if got := first.Take(); got != nil {
		t.Fatalf("took %v before Keep", got)
	}
	first.Keep()
	first.Reused(unset, 2*time.Minute)
	first.Released(b, at(0), at(1))
	first.Launched(b, at(4))
	first.Released(a, at(5), at(6))
	first.Gaps(at(70)) // the release of a resolves as never
	var kept []Resolved
	kept = append(kept, first.Take()...)
	want := []Resolved{{a, 2 * time.Minute}, {b, 4 * time.Minute}, {a, policy.IdleGapNever}}
	if !slices.Equal(kept, want) {
		t.Fatalf("took %v, want %v", kept, want)
	}
	if got := first.Take(); got != nil {
		t.Fatalf("took %v again", got)
	}

	// The first gap was never kept; give it back too, as a store holding
	// every gap would.
	second := New()
	second.Keep()
	second.Restore(append([]Resolved{{unset, time.Minute}, {a, 0}, {b, -time.Second}}, kept...))
	if got := second.Take(); got != nil {
		t.Fatalf("restored gaps handed out again: %v", got)
	}
	now := at(70)
	got, orig := second.Gaps(now), first.Gaps(now)
	if len(got) != 2 || !slices.Equal(got[a], orig[a]) || !slices.Equal(got[b], orig[b]) {
		t.Fatalf("restored gaps %v, want the first tracker's %v", got, orig)
	}
	second.Reused(a, 3*time.Minute)
	if got := second.Take(); !slices.Equal(got, []Resolved{{a, 3 * time.Minute}}) {
		t.Fatalf("after a restore, took %v", got)
	}
}

// Restore keeps the newest Window gaps of an offering, and untaken gaps
// are bounded.
func TestRestoreAndKeepAreBounded(t *testing.T) {
	k := policy.OfferingKey{Provider: "aws", InstanceType: "x", Market: policy.MarketOnDemand}
	tr := NewWith(3, 0)
	var rs []Resolved
	for m := 1; m <= 5; m++ {
		rs = append(rs, Resolved{k, time.Duration(m) * time.Minute})
	}
	tr.Restore(rs)
	if got := tr.Gaps(time.Now())[k]; !slices.Equal(got, []time.Duration{3 * time.Minute, 4 * time.Minute, 5 * time.Minute}) {
		t.Fatalf("restored %v, want the newest 3", got)
	}
	tr.Keep()
	for i := range MaxKept + 5 {
		tr.Reused(k, time.Duration(i+1))
	}
	got := tr.Take()
	if len(got) != MaxKept || got[0].Gap != 6 || got[len(got)-1].Gap != MaxKept+5 {
		t.Fatalf("kept %d gaps from %v to %v, want the newest %d", len(got), got[0].Gap, got[len(got)-1].Gap, MaxKept)
	}
}

// TestNextResolve: the earliest released spell's horizon, until which
// Gaps resolves nothing; none without a released spell.
func TestNextResolve(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	k := policy.OfferingKey{Provider: "aws", Region: "r", InstanceType: "a", Market: policy.MarketOnDemand}
	k2 := policy.OfferingKey{Provider: "aws", Region: "r", InstanceType: "b", Market: policy.MarketOnDemand}
	tr := NewWith(10, time.Hour)
	if _, ok := tr.NextResolve(); ok {
		t.Fatal("a new tracker has a spell to resolve")
	}
	tr.Released(k2, t0.Add(20*time.Minute), t0.Add(25*time.Minute))
	tr.Released(k, t0.Add(10*time.Minute), t0.Add(30*time.Minute))
	at, ok := tr.NextResolve()
	if want := t0.Add(70 * time.Minute); !ok || !at.Equal(want) {
		t.Fatalf("NextResolve = %v, %v; want %v", at, ok, want)
	}
	if g := tr.Gaps(at); len(g[k]) != 0 {
		t.Errorf("at NextResolve a spell resolved: %v", g)
	}
	if g := tr.Gaps(at.Add(time.Nanosecond)); len(g[k]) != 1 || g[k][0] != policy.IdleGapNever {
		t.Errorf("just after NextResolve: %v, want k's spell resolved as never", g)
	}
	if at, ok := tr.NextResolve(); !ok || !at.Equal(t0.Add(80*time.Minute)) {
		t.Errorf("then NextResolve = %v, %v; want k2's at 1h20m", at, ok)
	}
}

// Recording a spell allocates nothing in a tracker that writes in place
// (the simulator's, which reads Gaps at every evaluation): its offering's
// sorted gaps are kept sorted as spells come and go, not copied and
// sorted again for every snapshot. One that hands out what is never
// written copies the map and the offering's gaps once a spell at most.
func TestGapsAllocateOnlyForWhatIsHandedOut(t *testing.T) {
	keys := []policy.OfferingKey{
		{Provider: "aws", Region: "r", InstanceType: "x", Market: policy.MarketOnDemand},
		{Provider: "aws", Region: "r", InstanceType: "y", Market: policy.MarketSpot},
		{Provider: "alibaba", Region: "s", InstanceType: "z", Market: policy.MarketOnDemand},
	}
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		inPlace bool
		atMost  float64
	}{
		{name: "handed out", atMost: 3},
		{name: "in place", inPlace: true, atMost: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := New()
			if tc.inPlace {
				tr.WriteInPlace()
			}
			for i := range 2 * DefaultWindow {
				for _, k := range keys {
					tr.Reused(k, time.Duration(1+i%9)*time.Minute)
				}
			}
			i := 0
			allocs := testing.AllocsPerRun(200, func() {
				i++
				tr.Reused(keys[i%len(keys)], time.Duration(1+i%11)*time.Minute)
				for range 3 { // evaluations between spells
					_ = tr.Gaps(now)
				}
			})
			if allocs > tc.atMost {
				t.Errorf("%.1f allocations a spell, want at most %.0f", allocs, tc.atMost)
			}
		})
	}
}

// What Gaps hands out is each offering's last Window gaps sorted, in
// either mode, and a map handed out (but in place) keeps what it said,
// over random spells, releases and launches.
func TestGapsAreTheLastWindowSorted(t *testing.T) {
	keys := []policy.OfferingKey{
		{Provider: "aws", Region: "r", InstanceType: "x"},
		{Provider: "aws", Region: "r", InstanceType: "y", Market: policy.MarketSpot},
	}
	for seed := range uint64(20) {
		for _, inPlace := range []bool{false, true} {
			r := rand.New(rand.NewPCG(seed, 7))
			window := 1 + r.IntN(6)
			tr := NewWith(window, 10*time.Minute)
			if inPlace {
				tr.WriteInPlace()
			}
			ref := NewWith(window, 10*time.Minute) // the same spells
			type kept struct {
				m    map[policy.OfferingKey][]time.Duration
				copy map[policy.OfferingKey][]time.Duration
			}
			var handed []kept
			now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
			for range 300 {
				now = now.Add(time.Duration(1+r.IntN(300)) * time.Second)
				k := keys[r.IntN(len(keys))]
				switch r.IntN(4) {
				case 0:
					gap := time.Duration(1+r.IntN(5)) * time.Minute
					tr.Reused(k, gap)
					ref.Reused(k, gap)
				case 1:
					since := now.Add(-time.Duration(r.IntN(600)) * time.Second)
					tr.Released(k, since, now)
					ref.Released(k, since, now)
				case 2:
					tr.Launched(k, now)
					ref.Launched(k, now)
				case 3:
					m := tr.Gaps(now)
					handed = append(handed, kept{m: m, copy: deepCopy(m)})
					ref.Gaps(now) // resolves as tr did
				}
			}
			got := tr.Gaps(now)
			ref.Gaps(now)
			for key, s := range ref.by {
				want := slices.Sorted(slices.Values(s.done))
				if !slices.Equal(got[key], want) {
					t.Fatalf("seed %d, in place %v: %v gaps %v, want %v", seed, inPlace, key.InstanceType, got[key], want)
				}
			}
			if !inPlace {
				for i, h := range handed {
					if !maps.EqualFunc(h.m, h.copy, slices.Equal) {
						t.Fatalf("seed %d: the map handed out %d-th changed from %v to %v", seed, i+1, h.copy, h.m)
					}
				}
			}
		}
	}
}

func deepCopy(m map[policy.OfferingKey][]time.Duration) map[policy.OfferingKey][]time.Duration {
	if m == nil {
		return nil
	}
	c := make(map[policy.OfferingKey][]time.Duration, len(m))
	for k, v := range m {
		c[k] = slices.Clone(v)
	}
	return c
}
