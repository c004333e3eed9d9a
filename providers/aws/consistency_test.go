package aws_test

import (
	"context"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/providers/aws"
)

// stepWhileWaiting runs f, moving clk on by step whenever something waits
// on it, until f returns; it fails the test if f is not done within a
// minute of real time.
func stepWhileWaiting(t *testing.T, clk *clocktesting.FakeClock, step time.Duration, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			t.Fatal("still running after a minute")
		case <-tick.C:
			if clk.HasWaiters() {
				clk.Step(step)
			}
		}
	}
}

// EC2 is eventually consistent: right after RunInstances it may answer
// InvalidInstanceID.NotFound for the new instance. A Terminate then must
// not take the instance for gone and report success while it runs on: it
// waits for EC2 to know it and ends it, or, when EC2 takes longer than
// providers.ConsistencyWait, says it did not (a *TransientError, so the
// scheduler asks again next tick).
func TestTerminateFreshInstanceUnderConsistencyLag(t *testing.T) {
	cases := []struct {
		name      string
		lag       time.Duration
		wantErr   bool
		wantState string // of the instances in the emulator after Terminate
	}{
		{"known after 1s: waited for and terminated", time.Second, false, "shutting-down"},
		{"unknown for longer than the wait: a transient error, left running", time.Minute, true, "pending"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
			e := startEmulator(t, emulator.Options{Seed: 17, Clock: clk.Now, ConsistencyLag: tc.lag, BootDelay: time.Minute})
			p := e.provider(t, aws.WithClock(clk))
			ctx := context.Background()
			insts, err := p.Launch(ctx, providers.LaunchRequest{
				Offering: policy.Offering{Provider: providerName, Zone: "us-east-1a", InstanceType: gpuType},
				Count:    2, ClientToken: "fresh-1",
				Tags: map[string]string{providers.TagCluster: "c1", providers.TagPool: "a100"},
			})
			if err != nil {
				t.Fatalf("Launch: %v", err)
			}
			ids := []string{insts[0].ID, insts[1].ID}
			err = stepWhileWaiting(t, clk, providers.ConsistencyPoll, func() error { return p.Terminate(ctx, ids) })
			if tc.wantErr {
				if !providers.IsTransient(err) {
					t.Errorf("Terminate of instances EC2 does not know for %s: %v, want a *TransientError", tc.lag, err)
				}
			} else if err != nil {
				t.Errorf("Terminate: %v", err)
			}
			for _, in := range e.emu.Instances() {
				if in.State != tc.wantState {
					t.Errorf("after Terminate returned %v, instance %s is %s, want %s", err, in.ID, in.State, tc.wantState)
				}
			}
			if !tc.wantErr {
				return
			}
			// Asked again once EC2 knows them, as the next tick does.
			clk.Step(tc.lag)
			if err := p.Terminate(ctx, ids); err != nil {
				t.Fatalf("Terminate once EC2 knows the instances: %v", err)
			}
			for _, in := range e.emu.Instances() {
				if in.State != "shutting-down" {
					t.Errorf("after the second Terminate, instance %s is %s, want shutting-down", in.ID, in.State)
				}
			}
		})
	}
}
