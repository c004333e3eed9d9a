package aws_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/providers"
)

// TestClockSkewAgainstTheEmulator: EC2 refuses a request signed more than
// 15 minutes off its clock with RequestExpired; the emulator now does too,
// so the provider's mapping (an invalid request wrapping ErrClockSkew,
// which names the clock) is checked against the real SDK's answer path,
// not only a scripted error. 10 minutes off is within EC2's bound.
func TestClockSkewAgainstTheEmulator(t *testing.T) {
	for _, tc := range []struct {
		skew time.Duration
		want bool // refused for the clock
	}{
		{10 * time.Minute, false},
		{-10 * time.Minute, false},
		{20 * time.Minute, true},  // this machine's clock is behind
		{-20 * time.Minute, true}, // ahead
	} {
		t.Run(fmt.Sprint(tc.skew), func(t *testing.T) {
			e := startEmulator(t, emulator.Options{RequestClock: func() time.Time { return time.Now().Add(tc.skew) }})
			_, err := e.provider(t).List(context.Background(), providers.ListFilter{Cluster: "c"})
			if !tc.want {
				if err != nil {
					t.Fatalf("List with the clock %s off: %v, want it accepted (within %s)", tc.skew, err, emulator.MaxRequestSkew)
				}
				return
			}
			if !providers.IsInvalid(err) || !errors.Is(err, providers.ErrClockSkew) {
				t.Fatalf("List with the clock %s off: %v, want an *InvalidError wrapping ErrClockSkew", tc.skew, err)
			}
			// The SDK corrects its signing time from EC2's Date header
			// only for the codes it takes for skew, not RequestExpired:
			// every call is refused until the clock is set right.
			if _, err := e.provider(t).List(context.Background(), providers.ListFilter{Cluster: "c"}); !errors.Is(err, providers.ErrClockSkew) {
				t.Errorf("a second List with the clock %s off: %v, want it refused as the first", tc.skew, err)
			}
			if n := e.emu.Calls("DescribeInstances"); n != 2 {
				t.Errorf("%d DescribeInstances sent for two Lists, want 2: a refused timestamp is not retried", n)
			}
		})
	}
}
