package spotlife

import (
	"math"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
)

var (
	t0   = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	spot = policy.Offering{Provider: "aws", Region: "us-east-1", InstanceType: "p5.48xlarge", Market: policy.MarketSpot, GPUs: 8}
	od   = policy.Offering{Provider: "aws", Region: "us-east-1", InstanceType: "p4d.24xlarge", GPUs: 8}
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestRates(t *testing.T) {
	tau := DefaultDecay.Hours()
	k := spot.Key()
	for _, tt := range []struct {
		name string
		feed func(tr *Tracker) (now time.Time, live []policy.Instance)
		want map[policy.OfferingKey]float64 // nil: none
	}{
		{
			name: "nothing seen",
			feed: func(*Tracker) (time.Time, []policy.Instance) { return t0, nil },
		},
		{
			name: "on-demand instances are not spot exposure",
			feed: func(*Tracker) (time.Time, []policy.Instance) {
				return t0.Add(time.Hour), []policy.Instance{{Offering: od, LaunchedAt: t0}}
			},
		},
		{
			name: "a live spot instance for a week, never reclaimed: below the prior",
			feed: func(*Tracker) (time.Time, []policy.Instance) {
				return t0.Add(7 * 24 * time.Hour), []policy.Instance{{Offering: spot, LaunchedAt: t0}}
			},
			want: map[policy.OfferingKey]float64{k: PriorRate * PriorHours / (tau*(1-math.Exp(-1)) + PriorHours)},
		},
		{
			name: "ten one-hour instances, each reclaimed: about one an hour",
			feed: func(tr *Tracker) (time.Time, []policy.Instance) {
				tenReclaimed(tr, k)
				return t0.Add(10 * time.Hour), nil
			},
			want: map[policy.OfferingKey]float64{k: (10 + PriorRate*PriorHours) / (10 + PriorHours)}, // decay over 10 hours: checked loosely below
		},
		{
			name: "reclaims a year ago are forgotten: back to the prior",
			feed: func(tr *Tracker) (time.Time, []policy.Instance) {
				tenReclaimed(tr, k)
				return t0.Add(365 * 24 * time.Hour), nil
			},
			want: map[policy.OfferingKey]float64{k: PriorRate},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := New()
			now, live := tt.feed(tr)
			got := tr.Rates(now, live)
			if len(got) != len(tt.want) {
				t.Fatalf("Rates = %v, want %v", got, tt.want)
			}
			for key, w := range tt.want {
				g, ok := got[key]
				// Decay within ten hours moves a rate by under 6%.
				if !ok || math.Abs(g-w) > 0.06*w {
					t.Errorf("rate of %s = %v, want %v", key.InstanceType, g, w)
				}
			}
		})
	}
}

// tenReclaimed feeds ten instances of k, one after the other from t0,
// each reclaimed near the end of its hour.
func tenReclaimed(tr *Tracker, k policy.OfferingKey) {
	for i := range 10 {
		start := t0.Add(time.Duration(i) * time.Hour)
		tr.Reclaimed(k, start.Add(58*time.Minute))
		tr.Ended(k, start, start.Add(time.Hour))
	}
}

// TestDecayIsExact: the exposure of one instance, ended, then decayed,
// is what the integral gives; a nil Tracker learns nothing.
func TestDecayIsExact(t *testing.T) {
	tau := DefaultDecay.Hours()
	tr := New()
	k := spot.Key()
	tr.Ended(k, t0, t0.Add(24*time.Hour))
	got := tr.Rates(t0.Add(48*time.Hour), nil)[k]
	// Exposure at the end: tau(1-e^-24/tau), then decayed for 24 hours.
	h := tau * (1 - math.Exp(-24/tau)) * math.Exp(-24/tau)
	if want := PriorRate * PriorHours / (h + PriorHours); !near(got, want) {
		t.Errorf("rate %v, want %v", got, want)
	}
	var nilT *Tracker
	nilT.Reclaimed(k, t0)
	nilT.Ended(k, t0, t0.Add(time.Hour))
	if r := nilT.Rates(t0, []policy.Instance{{Offering: spot, LaunchedAt: t0}}); r != nil {
		t.Errorf("a nil Tracker's rates: %v", r)
	}
}
