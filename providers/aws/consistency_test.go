package aws_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/providers/aws"
	"github.com/spillway-io/spillway/providers/providertest"
)

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
			err = providertest.StepWhileWaiting(t, clk, providers.ConsistencyPoll, func() error { return p.Terminate(ctx, ids) })
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

// A launch whose answer was lost in its second subnet (the first was out
// of stock) is retried with the same client token, as the scheduler does.
// EC2 may not list the instances it created yet, so the retry cannot find
// them by their client token; if the first subnet has stock again by then,
// it must still not launch there a second time.
func TestLostLaunchRetriedUnderConsistencyLagLaunchesOnce(t *testing.T) {
	emu := emulator.New(emulator.Options{Seed: 19, ConsistencyLag: time.Hour})
	emu.SetStock(gpuType, "us-east-1a", 0)
	var lose atomic.Bool
	lose.Store(true)
	h := emu.EC2Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err == nil && lose.Load() && r.Form.Get("Action") == "RunInstances" && r.Form.Get("SubnetId") == "subnet-us-east-1b" {
			h.ServeHTTP(httptest.NewRecorder(), r) // executed, its answer lost
			writeEC2Error(w, http.StatusServiceUnavailable, "ServiceUnavailable", "the answer was lost")
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cfg := (&emulated{srv: srv}).config()
	p, err := aws.New(context.Background(), cfg, providerName, aws.WithCredentials(staticCreds), aws.WithRetry(2, 10*time.Millisecond))
	if err != nil {
		t.Fatalf("aws.New: %v", err)
	}
	t.Cleanup(p.Close)
	req := providers.LaunchRequest{
		Offering: policy.Offering{Provider: providerName, InstanceType: gpuType},
		Count:    2, ClientToken: "lost-1",
		Tags: map[string]string{providers.TagCluster: "c1", providers.TagPool: "a100"},
	}
	ctx := context.Background()
	if _, err := p.Launch(ctx, req); err == nil {
		t.Fatal("the first Launch succeeded; its answers were meant to be lost")
	}
	if n := len(emu.Instances()); n != 2 {
		t.Fatalf("the first Launch created %d instances, want 2 (in us-east-1b)", n)
	}
	lose.Store(false)
	emu.SetStock(gpuType, "us-east-1a", -1)
	insts, err := p.Launch(ctx, req)
	if err != nil {
		t.Fatalf("the retried Launch: %v", err)
	}
	zones := map[string]int{}
	for _, in := range emu.Instances() {
		zones[in.Zone]++
	}
	if len(emu.Instances()) != 2 || zones["us-east-1b"] != 2 {
		t.Errorf("after a lost launch and its retry the cloud holds %v; want the first launch's 2 instances in us-east-1b only", zones)
	}
	for _, in := range insts {
		if in.Zone != "us-east-1b" {
			t.Errorf("the retry returned %s in %s, want the first launch's instances in us-east-1b", in.ID, in.Zone)
		}
	}
}
