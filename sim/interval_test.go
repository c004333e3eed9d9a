package sim

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// TestIntervalBound: config accepts any interval above 0, and the
// simulator evaluates a pool every interval while anything is queued or
// rented: at 1ns, two hours of trace were 7.2×10^12 evaluations (spillway
// simulate hung). It refuses intervals below MinInterval with a message
// naming the pool, the value and the bound.
func TestIntervalBound(t *testing.T) {
	tr := &trace.Trace{Name: "t", Start: trace.DefaultEpoch, Jobs: []trace.Job{{Submit: 0, Duration: 2 * time.Hour, GPUs: 8}}}
	for _, tt := range []struct {
		interval time.Duration
		want     string
	}{
		{time.Nanosecond, `sim: pool "p": interval 1ns is shorter than the simulator's 1s: want an interval of 1s or more`},
		{999 * time.Millisecond, `interval 999ms is shorter than the simulator's 1s`},
		{time.Second, ""},
		{0, ""}, // DefaultInterval
	} {
		pool := policy.Pool{Name: "p", Interval: policy.Duration(tt.interval), OnPrem: policy.OnPrem{GPUsPerNode: 8},
			Offerings: []policy.Offering{{Name: "o", Provider: "aws", Region: "r", InstanceType: "t", GPUs: 8, PricePerHour: 8, Billing: policy.BillingPerSecond}},
			ScaleIn:   policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}, DrainTimeout: policy.Duration(10 * time.Minute)}}
		for _, name := range PolicyNames {
			p, err := PolicyByName(name)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Run(t.Context(), Options{Pool: &pool, Trace: tr, Policy: p})
			want := tt.want
			if p.New == nil || p.Interval > 0 {
				want = "" // onprem-only never evaluates; threshold has an interval of its own
			}
			switch {
			case want == "" && err != nil:
				t.Errorf("interval %s, %s: %v", tt.interval, name, err)
			case want != "" && (err == nil || !strings.Contains(err.Error(), want) || errors.Is(err, ErrHorizon)):
				t.Errorf("interval %s, %s: %v, want %q", tt.interval, name, err, want)
			}
		}
	}
}
