package alicloud

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/providers/providertest"
)

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
			err := providertest.StepWhileWaiting(t, clk, providers.ConsistencyPoll, func() error { return tc.act(context.Background(), p) })
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

// A launch whose answer was lost in its second vSwitch (the first was out
// of stock) is retried with the same client token, as the scheduler does.
// ECS may not list the instances it created yet, so the retry cannot find
// them by their intent tag; if the first vSwitch has stock again by then,
// it must still not launch there a second time.
func TestLostLaunchRetriedUnderConsistencyLagLaunchesOnce(t *testing.T) {
	e := emulator.New(emulator.Options{Seed: 29, ConsistencyLag: time.Hour})
	e.SetStock(emuType, emuZones[0], 0)
	var lose atomic.Bool
	lose.Store(true)
	h := e.ECSHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err == nil && lose.Load() && r.Form.Get("Action") == "RunInstances" && r.Form.Get("VSwitchId") == "vsw-"+emuZones[1] {
			h.ServeHTTP(httptest.NewRecorder(), r) // executed, its answer lost
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"RequestId":"lost","HostId":"ecs.aliyuncs.com","Code":"ServiceUnavailable","Message":"the answer was lost"}`)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p := newEmulatorProvider(t, srv.URL, WithRetries(2, time.Millisecond, 10*time.Millisecond))
	req := providers.LaunchRequest{
		Offering: policy.Offering{Name: "gn7i", Provider: "alicloud", Region: emuRegion, InstanceType: emuType, GPUs: 1, Market: policy.MarketOnDemand},
		Count:    2, ClientToken: "lost-1",
		Tags: map[string]string{providers.TagCluster: "c1", providers.TagPool: "gpu", providers.TagIntent: "int-lost"},
	}
	ctx := context.Background()
	if _, err := p.Launch(ctx, req); err == nil {
		t.Fatal("the first Launch succeeded; its answers were meant to be lost")
	}
	if n := len(e.Instances()); n != 2 {
		t.Fatalf("the first Launch created %d instances, want 2 (in %s)", n, emuZones[1])
	}
	lose.Store(false)
	e.SetStock(emuType, emuZones[0], -1)
	insts, err := p.Launch(ctx, req)
	if err != nil {
		t.Fatalf("the retried Launch: %v", err)
	}
	zones := map[string]int{}
	for _, in := range e.Instances() {
		zones[in.Zone]++
	}
	if len(e.Instances()) != 2 || zones[emuZones[1]] != 2 {
		t.Errorf("after a lost launch and its retry the cloud holds %v; want the first launch's 2 instances in %s only", zones, emuZones[1])
	}
	for _, in := range insts {
		if in.Zone != emuZones[1] {
			t.Errorf("the retry returned %s in %s, want the first launch's instances in %s", in.ID, in.Zone, emuZones[1])
		}
	}
}
