package policy

import (
	"strings"
	"testing"
	"time"
)

// TestSpanMin: a pool's span.min_gpus says which instances a job larger
// than one instance may span; SpanMinGPUs (8) is the default.
func TestSpanMin(t *testing.T) {
	now := dtT0
	span := func(p *Pool, min int) *Pool { p.Span.MinGPUs = min; return p }
	// g6e: 4 GPUs at $2.62 per GPU-hour; p4d: 8 at $2.75.
	idle4 := []Instance{
		dtIdle(dtInst("i-a", dtG6e(), StateRunning, now.Add(-time.Hour), 0), now.Add(-time.Minute)),
		dtIdle(dtInst("i-b", dtG6e(), StateRunning, now.Add(-time.Hour), 0), now.Add(-time.Minute)),
	}
	for _, c := range []dtCase{
		{
			name:  "default: an 8-GPU job never spans 4-GPU instances, p4d holds it",
			pool:  dtPool(dtP4d(), dtG6e()),
			snap:  dtBusySnap(time.Hour, 8),
			now:   now,
			check: dtWantLaunch(map[string]int{"p4d": 1}),
		},
		{
			name:  "span.min_gpus 4: the 8-GPU job spans two cheaper g6e",
			pool:  span(dtPool(dtP4d(), dtG6e()), 4),
			snap:  dtBusySnap(time.Hour, 8),
			now:   now,
			check: dtWantLaunch(map[string]int{"g6e": 2}),
		},
		{
			name:  "default: two idle 4-GPU instances cannot take an 8-GPU job, a p4d is launched",
			pool:  dtPool(dtP4d(), dtG6e()),
			snap:  dtBusySnap(time.Hour, 8),
			inst:  idle4,
			now:   now,
			check: dtWantLaunch(map[string]int{"p4d": 1}),
		},
		{
			name:  "span.min_gpus 4: the 8-GPU job takes the two idle g6e, nothing is launched",
			pool:  span(dtPool(dtP4d(), dtG6e()), 4),
			snap:  dtBusySnap(time.Hour, 8),
			inst:  idle4,
			now:   now,
			check: dtNoActions,
		},
		{
			name: "span.min_gpus 16: a 16-GPU job may not span 8-GPU p4d and waits for on-prem",
			pool: span(dtPool(dtP4d()), 16),
			snap: dtBusySnap(time.Hour, 16),
			now:  now,
			check: func(t *testing.T, p Plan) {
				dtNoActions(t, p)
				dtHasNote(t, p, "1 pending job, largest 16 GPUs, waits for on-prem")
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) { c.check(t, Decide(c.pool, c.snap, c.inst, c.spend, c.now)) })
	}

	only4 := dtPool(dtG6e())
	if why := CloudHolds(only4, 8); why == "" {
		t.Error("default: CloudHolds(8) on 4-GPU shapes held, want refused")
	}
	if why := CloudHolds(span(only4, 4), 8); why != "" {
		t.Errorf("span.min_gpus 4: CloudHolds(8) = %q, want held", why)
	}
}

// TestCloudHoldsSaysWhyNoOfferingHolds: a job no offering holds whole and
// that may not span the pool's shapes is refused naming the rule that
// stops it: whole_jobs, or span.min_gpus.
func TestCloudHoldsSaysWhyNoOfferingHolds(t *testing.T) {
	four := Offering{Name: "g4", Provider: "aws", Region: "us-east-1", InstanceType: "g6.12xlarge", GPUs: 4,
		PricePerHour: 4.6, Market: MarketOnDemand, Billing: BillingPerSecondMin60}
	pool := dtPool(four)
	if got := CloudHolds(pool, 8); !strings.Contains(got, "span.min_gpus") || !strings.Contains(got, "at least 8 GPUs") {
		t.Errorf("spanning allowed, 4-GPU shapes: %q, want it to name span.min_gpus 8", got)
	}
	pool.WholeJobs = true
	if got := CloudHolds(pool, 8); !strings.Contains(got, "whole_jobs") {
		t.Errorf("whole_jobs: %q, want it to name whole_jobs", got)
	}
}

// TestSpanSlowdownPricesSpanning: a job spanning instances runs
// span.slowdown times longer, so its price per useful GPU-hour rises by
// as much; a dearer shape that holds it whole wins once that outweighs
// the price difference.
func TestSpanSlowdownPricesSpanning(t *testing.T) {
	eight := Offering{Name: "p8", Provider: "aws", Region: "us-east-1", InstanceType: "p4d.24xlarge", GPUs: 8,
		PricePerHour: 24, Boot: Duration(3 * time.Minute), Market: MarketOnDemand, Billing: BillingPerSecondMin60}
	sixteen := eight
	sixteen.Name, sixteen.InstanceType, sixteen.GPUs, sixteen.PricePerHour = "p16", "p4de.48xlarge", 16, 72 // 1.5× per GPU
	snap := dtBusySnap(time.Hour, 16)
	for _, c := range []struct {
		slowdown float64
		want     string
	}{{0, "p8"}, {1.2, "p8"}, {2, "p16"}} {
		pool := dtPool(eight, sixteen)
		pool.Span.Slowdown = c.slowdown
		if got := dtLaunched(Decide(pool, snap, nil, Spend{}, dtT0)); got[c.want] == 0 || len(got) != 1 {
			t.Errorf("span.slowdown %v: launched %v, want %s", c.slowdown, got, c.want)
		}
	}
}
