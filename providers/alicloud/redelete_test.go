package alicloud

import (
	"context"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/providers"
)

// TestDeleteAnswerLostOrForgotten: ECS shows an instance it releases as
// Stopping, as it shows one an operator stops; the provider tells them
// apart by remembering its deletes. A DeleteInstances whose answer was lost
// (ECS released the instance, the call timed out) was not remembered, so
// the instance it released read as stopped by hand: the scheduler logged it
// as "stopped outside Spillway" and ended its row for that reason. Now a
// delete whose outcome is unknown is remembered too. A restarted provider
// has forgotten its deletes and takes a releasing instance for stopping; the
// scheduler's second delete of it is harmless: it succeeds, does not put
// off the release, and the instance then reads as ending.
func TestDeleteAnswerLostOrForgotten(t *testing.T) {
	cases := []struct {
		name string
		// restarted: the instance is read after the first delete by a
		// provider started afresh, not by the one that deleted it.
		restarted bool
		want      providers.State // what it reads after the first delete
	}{
		{name: "answer lost", want: providers.StateShuttingDown},
		{name: "provider restarted", restarted: true, want: providers.StateStopping},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clk := clocktesting.NewFakeClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
			// The release takes the boot delay: a minute.
			e, srv := startEmulator(t, emulator.Options{Clock: clk.Now, BootDelay: time.Minute})
			p := newEmulatorProvider(t, srv.URL, WithClock(clk))
			insts, err := p.Launch(ctx, emuLaunchReq("redelete-1", 1, 1))
			if err != nil {
				t.Fatalf("Launch: %v", err)
			}
			clk.Step(2 * time.Minute)
			id := insts[0].ID
			if tc.restarted {
				if err := p.Terminate(ctx, []string{id}); err != nil {
					t.Fatalf("Terminate: %v", err)
				}
				p = newEmulatorProvider(t, srv.URL, WithClock(clk))
			} else {
				// ECS releases it; its answer comes after the caller gave up.
				e.StallResponses("DeleteInstances", 1, 5*time.Second)
				cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
				err := p.Terminate(cctx, []string{id})
				cancel()
				if err == nil {
					t.Fatal("Terminate whose answer never came returned no error")
				}
			}
			if st := e.Instances()[0].State; st != "shutting-down" {
				t.Fatalf("the emulator shows the instance %s after the first delete, want shutting-down (ECS: Stopping)", st)
			}
			state := func(when string, want providers.State) {
				t.Helper()
				desc, err := p.Describe(ctx, []string{id})
				if err != nil {
					t.Fatalf("%s: Describe: %v", when, err)
				}
				var got providers.State = "gone"
				if len(desc) == 1 {
					got = desc[0].State
				}
				if got != want {
					t.Errorf("%s: instance reads %q, want %q", when, got, want)
				}
			}
			state("after the first delete", tc.want)
			// The scheduler ends a stopped instance: a second delete.
			if err := p.Terminate(ctx, []string{id}); err != nil {
				t.Fatalf("second Terminate of an instance being released: %v", err)
			}
			state("after the second delete", providers.StateShuttingDown)
			clk.Step(time.Minute)
			state("a minute after the first delete", "gone")
		})
	}
}
