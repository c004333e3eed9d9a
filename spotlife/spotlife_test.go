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
		tr.Ended(&spot, start, start.Add(time.Hour), true)
	}
}

// TestDecayIsExact: the exposure of one instance, ended, then decayed,
// is what the integral gives; a nil Tracker learns nothing.
func TestDecayIsExact(t *testing.T) {
	tau := DefaultDecay.Hours()
	tr := New()
	k := spot.Key()
	tr.Ended(&spot, t0, t0.Add(24*time.Hour), false)
	got := tr.Rates(t0.Add(48*time.Hour), nil)[k]
	// Exposure at the end: tau(1-e^-24/tau), then decayed for 24 hours.
	h := tau * (1 - math.Exp(-24/tau)) * math.Exp(-24/tau)
	if want := PriorRate * PriorHours / (h + PriorHours); !near(got, want) {
		t.Errorf("rate %v, want %v", got, want)
	}
	var nilT *Tracker
	nilT.Reclaimed(k, t0)
	nilT.Ended(&spot, t0, t0.Add(time.Hour), false)
	if l := nilT.Life(t0); l != 0 {
		t.Errorf("a nil Tracker's life: %s", l)
	}
	if r := nilT.Rates(t0, []policy.Instance{{Offering: spot, LaunchedAt: t0}}); r != nil {
		t.Errorf("a nil Tracker's rates: %v", r)
	}
}

// TestProtectedHoursAreNotExposure: an Alibaba spot instance cannot be
// reclaimed in its first hour (Offering.SpotProtection), so those hours
// teach nothing about the rate it meets once exposed. Instances living
// less than their protection leave the rate at the prior; longer ones
// count only the hours past it, live and ended alike. Life is the mean
// life of every ended instance, on-demand ones included.
func TestProtectedHoursAreNotExposure(t *testing.T) {
	tau := DefaultDecay.Hours()
	ali := policy.Offering{Provider: "ali", Region: "cn-hangzhou", InstanceType: "ecs.gn7i-c32g1.32xlarge", Market: policy.MarketSpot, GPUs: 4,
		SpotProtection: policy.Duration(time.Hour)}
	unprotected := ali
	unprotected.SpotProtection = 0
	k := ali.Key()
	// exposed is the decayed exposure at now of lives of h hours past the
	// protection, one ending at each of ends.
	exposed := func(now time.Time, h float64, ends ...time.Time) (sum float64) {
		for _, e := range ends {
			sum += tau * -math.Expm1(-h/tau) * math.Exp(-now.Sub(e).Hours()/tau)
		}
		return sum
	}
	for _, tt := range []struct {
		name     string
		feed     func(tr *Tracker) (now time.Time, live []policy.Instance)
		want     float64
		wantLife time.Duration // 0: none ended
	}{
		{
			name: "a hundred 45-minute lives within the protection: the prior",
			feed: func(tr *Tracker) (time.Time, []policy.Instance) {
				for i := range 100 {
					start := t0.Add(time.Duration(i) * time.Hour)
					tr.Ended(&ali, start, start.Add(45*time.Minute), false)
				}
				return t0.Add(100 * time.Hour), nil
			},
			want:     PriorRate,
			wantLife: 45 * time.Minute,
		},
		{
			name: "a live instance 50 minutes old: no exposure yet",
			feed: func(*Tracker) (time.Time, []policy.Instance) {
				return t0.Add(50 * time.Minute), []policy.Instance{{Offering: ali, LaunchedAt: t0}}
			},
			want: PriorRate,
		},
		{
			name: "a live instance 7 hours old: 6 hours exposed",
			feed: func(*Tracker) (time.Time, []policy.Instance) {
				return t0.Add(7 * time.Hour), []policy.Instance{{Offering: ali, LaunchedAt: t0}}
			},
			want: PriorRate * PriorHours / (tau*-math.Expm1(-6/tau) + PriorHours),
		},
		{
			name: "two 3-hour lives, one reclaimed: 2 hours exposed each",
			feed: func(tr *Tracker) (time.Time, []policy.Instance) {
				tr.Ended(&ali, t0, t0.Add(3*time.Hour), false)
				tr.Reclaimed(k, t0.Add(3*time.Hour))
				tr.Ended(&ali, t0, t0.Add(3*time.Hour), true)
				return t0.Add(3 * time.Hour), nil
			},
			want:     (1 + PriorRate*PriorHours) / (exposed(t0.Add(3*time.Hour), 2, t0.Add(3*time.Hour), t0.Add(3*time.Hour)) + PriorHours),
			wantLife: 3 * time.Hour,
		},
		{
			name: "no protection: every hour exposed",
			feed: func(tr *Tracker) (time.Time, []policy.Instance) {
				tr.Ended(&unprotected, t0, t0.Add(45*time.Minute), false)
				return t0.Add(45 * time.Minute), nil
			},
			want:     PriorRate * PriorHours / (exposed(t0.Add(45*time.Minute), 0.75, t0.Add(45*time.Minute)) + PriorHours),
			wantLife: 45 * time.Minute,
		},
		{
			name: "a reclaimed life counts in the rate, not in the life",
			feed: func(tr *Tracker) (time.Time, []policy.Instance) {
				tr.Ended(&od, t0.Add(time.Hour), t0.Add(2*time.Hour), false)
				tr.Reclaimed(k, t0.Add(2*time.Hour))
				tr.Ended(&ali, t0, t0.Add(2*time.Hour), true)
				return t0.Add(2 * time.Hour), nil
			},
			want:     (1 + PriorRate*PriorHours) / (exposed(t0.Add(2*time.Hour), 1, t0.Add(2*time.Hour)) + PriorHours),
			wantLife: time.Hour,
		},
		{
			name: "an on-demand life counts in the life, not in the rate",
			feed: func(tr *Tracker) (time.Time, []policy.Instance) {
				tr.Ended(&ali, t0.Add(time.Hour), t0.Add(90*time.Minute), false)
				tr.Ended(&od, t0, t0.Add(90*time.Minute), false)
				return t0.Add(90 * time.Minute), nil
			},
			want:     PriorRate,
			wantLife: time.Hour,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := New()
			now, live := tt.feed(tr)
			rates := tr.Rates(now, live)
			if got, ok := rates[k]; !ok || !near(got, tt.want) || len(rates) != 1 {
				t.Errorf("rates %v, want only %s at %v", rates, k.InstanceType, tt.want)
			}
			// Decay over a hundred hours shifts a mean of equal lives by nothing.
			if life := tr.Life(now); life-tt.wantLife < -time.Second || life-tt.wantLife > time.Second {
				t.Errorf("mean life %s, want %s", life, tt.wantLife)
			}
		})
	}
}
