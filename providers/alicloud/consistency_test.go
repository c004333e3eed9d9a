package alicloud

import (
	"context"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
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

// ECS is eventually consistent: right after RunInstances, DescribeInstances
// may omit the new instance and DeleteInstances answer
// InvalidInstanceId.NotFound. Neither a Terminate of fresh instances nor a
// launch that falls short of its MinCount (which deletes what it got) may
// take them for gone and leave them running unreported.
func TestFreshInstancesAreDeletedUnderConsistencyLag(t *testing.T) {
	gpu := policy.Offering{Name: "gn7i", Provider: "alicloud", Region: emuRegion, Zone: "cn-hangzhou-h", InstanceType: emuType, GPUs: 1, Market: policy.MarketOnDemand}
	tags := map[string]string{providers.TagCluster: "c1", providers.TagPool: "gpu", providers.TagIntent: "int-1"}
	cases := []struct {
		name      string
		lag       time.Duration
		stock     int // of gpu's type in its zone
		act       func(ctx context.Context, p *Provider) error
		wantErr   func(error) bool
		wantState string // of every instance in the emulator afterwards
	}{
		{
			name: "terminate right after launch", lag: time.Second, stock: -1,
			act: func(ctx context.Context, p *Provider) error {
				insts, err := p.Launch(ctx, providers.LaunchRequest{Offering: gpu, Count: 2, ClientToken: "fresh-1", Tags: tags})
				if err != nil {
					return err
				}
				return p.Terminate(ctx, []string{insts[0].ID, insts[1].ID})
			},
			wantErr:   func(err error) bool { return err == nil },
			wantState: "shutting-down",
		},
		{
			// 100 created by the first call, then no stock for the other
			// 50 of MinCount 150: the 100 are deleted at once.
			name: "launch short of MinCount deletes what it got", lag: time.Second, stock: 120,
			act: func(ctx context.Context, p *Provider) error {
				_, err := p.Launch(ctx, providers.LaunchRequest{Offering: gpu, Count: 150, ClientToken: "short-1", Tags: tags})
				return err
			},
			wantErr:   providers.IsCapacity,
			wantState: "shutting-down",
		},
		{
			name: "unknown for longer than the wait: a transient error", lag: time.Minute, stock: -1,
			act: func(ctx context.Context, p *Provider) error {
				insts, err := p.Launch(ctx, providers.LaunchRequest{Offering: gpu, Count: 1, ClientToken: "fresh-2", Tags: tags})
				if err != nil {
					return err
				}
				return p.Terminate(ctx, []string{insts[0].ID})
			},
			wantErr:   providers.IsTransient,
			wantState: "pending",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
			e, srv := startEmulator(t, emulator.Options{Seed: 23, Clock: clk.Now, ConsistencyLag: tc.lag, BootDelay: time.Minute})
			e.SetStock(emuType, gpu.Zone, tc.stock)
			p := newEmulatorProvider(t, srv.URL, WithClock(clk))
			err := stepWhileWaiting(t, clk, providers.ConsistencyPoll, func() error { return tc.act(context.Background(), p) })
			if !tc.wantErr(err) {
				t.Errorf("unexpected outcome: %v", err)
			}
			insts := e.Instances()
			if len(insts) == 0 {
				t.Fatal("nothing was launched; the case proves nothing")
			}
			for _, in := range insts {
				if in.State != tc.wantState {
					t.Errorf("instance %s is %s, want %s (%d launched; the call returned %v)", in.ID, in.State, tc.wantState, len(insts), err)
					break
				}
			}
		})
	}
}
