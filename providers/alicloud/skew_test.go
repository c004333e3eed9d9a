package alicloud

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/providers"
)

// TestClockSkewAgainstTheEmulator: ECS refuses a Timestamp more than 15
// minutes off its clock with InvalidTimeStamp.Expired; the emulator now
// does too, so the provider's mapping (an invalid request wrapping
// ErrClockSkew, which names the clock) is checked against the real SDK,
// not only a scripted error. 10 minutes off is within ECS's bound.
func TestClockSkewAgainstTheEmulator(t *testing.T) {
	for _, tc := range []struct {
		skew time.Duration
		want bool // refused for the clock
	}{
		{10 * time.Minute, false},
		{-10 * time.Minute, false},
		{20 * time.Minute, true},
		{-20 * time.Minute, true},
	} {
		t.Run(fmt.Sprint(tc.skew), func(t *testing.T) {
			_, srv := startEmulator(t, emulator.Options{RequestClock: func() time.Time { return time.Now().Add(tc.skew) }})
			p := newEmulatorProvider(t, srv.URL)
			for _, call := range []struct {
				name string
				run  func() error
			}{
				{"List", func() error { _, err := p.List(context.Background(), providers.ListFilter{Cluster: "c1"}); return err }},
				{"Launch", func() error { _, err := p.Launch(context.Background(), emuLaunchReq("skew-1", 1, 1)); return err }},
			} {
				err := call.run()
				if !tc.want {
					if err != nil {
						t.Errorf("%s with the clock %s off: %v, want it accepted (within %s)", call.name, tc.skew, err, emulator.MaxRequestSkew)
					}
					continue
				}
				if !providers.IsInvalid(err) || !errors.Is(err, providers.ErrClockSkew) {
					t.Errorf("%s with the clock %s off: %v, want an *InvalidError wrapping ErrClockSkew", call.name, tc.skew, err)
				}
			}
		})
	}
}
