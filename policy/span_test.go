package policy

import (
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
				dtHasNote(t, p, "1 pending job(s), largest 16 GPUs, wait for on-prem")
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
