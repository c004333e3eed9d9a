package scheduler_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	sdk "github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/state"
)

// stopByHand stops instance id as an operator in the cloud's console
// does: StopInstances through the cloud's real SDK, outside Spillway
// (ECS: KeepCharging, its default).
func stopByHand(t *testing.T, rig *lagRig, id string) {
	t.Helper()
	if rig.c.provider == provName {
		client := ec2.New(ec2.Options{Region: "us-east-1", Credentials: staticCreds, BaseEndpoint: awssdk.String(rig.url)})
		if _, err := client.StopInstances(context.Background(), &ec2.StopInstancesInput{InstanceIds: []string{id}}); err != nil {
			t.Fatalf("StopInstances: %v", err)
		}
		return
	}
	cfg := sdk.NewConfig()
	cfg.Scheme = "HTTP"
	client, err := ecs.NewClientWithOptions("cn-hangzhou", cfg, credentials.NewStaticAKCredentialsProvider("console", "secret"))
	if err != nil {
		t.Fatal(err)
	}
	client.Domain = strings.TrimPrefix(rig.url, "http://")
	req := ecs.CreateStopInstancesRequest()
	req.RegionId = "cn-hangzhou"
	req.InstanceId = &[]string{id}
	if _, err := client.StopInstances(req); err != nil {
		t.Fatalf("StopInstances: %v", err)
	}
}

func TestInstanceStoppedByHand(t *testing.T) {
	for _, c := range lagClouds {
		t.Run(c.name, func(t *testing.T) { testInstanceStoppedByHand(t, c) })
	}
}

func testInstanceStoppedByHand(t *testing.T, c lagCloud) {
	ctx := context.Background()
	rig := newLagRig(t, c, 0)
	h := rig.harness
	o := h.pool.Offerings[0]
	h.setDemand(5*time.Minute, 8)
	h.tick()
	live := h.live()
	if len(live) != 1 {
		t.Fatalf("the burst launched %d instances, want 1", len(live))
	}
	id := live[0].ID
	h.until("the instance joins", 10*time.Second, 30, func() bool {
		rs := h.rows(true)
		return len(rs) == 1 && rs[0].State == state.InstanceRunning
	})
	h.agents.setBusy(8)
	h.setDemand(0) // the job runs on the burst instance
	stopByHand(t, rig, id)
	stoppedAt := h.clk.Now()
	h.setDemand(0, 8) // its job is back in the queue

	var ended, terminated time.Time
	short := 0
	for range 30 { // five minutes
		h.step(10 * time.Second)
		if err := h.sched.Sweep(ctx); err != nil {
			t.Fatalf("sweep: %v", err)
		}
		now := h.clk.Now()
		if ended.IsZero() && !slices.ContainsFunc(h.rows(true), func(r state.Instance) bool { return r.ID == id }) {
			ended = now
		}
		var state string
		for _, in := range h.emu.Instances() {
			if in.ID == id {
				state = in.State
			}
		}
		if terminated.IsZero() && (state == "shutting-down" || state == "terminated") {
			terminated = now
		}
		// What the cloud billed: every instance to now, the stopped
		// one to its termination (its compute on ECS, unless
		// StopCharging; on EC2 its volumes, counted here as compute).
		var billed float64
		for _, in := range h.emu.Instances() {
			if !in.LaunchTime.Before(now) {
				continue // launched this tick: its cost is a commitment yet
			}
			end := now
			if in.ID == id && !terminated.IsZero() && terminated.Before(end) {
				end = terminated
			}
			billed += policy.BilledCost(o, in.LaunchTime, end)
		}
		st, _ := h.sched.LastStatus(h.pool.Name)
		if st.Spend.Accrued < billed-1e-9 {
			short++
			t.Errorf("at %s after the stop the pool's spend was $%.4f while the cloud had billed $%.4f", now.Sub(stoppedAt), st.Spend.Accrued, billed)
		}
	}
	if ended.IsZero() {
		t.Fatalf("the stopped instance's row is still live five minutes after the stop")
	}
	if terminated.IsZero() {
		t.Fatalf("the stopped instance was never terminated: it is left stopped, billing its disks, for ever")
	}
	if d := terminated.Sub(stoppedAt); d > time.Minute {
		t.Errorf("the stopped instance was terminated %s after the stop, want within a minute", d)
	}
	if slices.Contains(h.drained, id) {
		t.Errorf("the stopped instance was drained before it was terminated: it runs nothing")
	}
	launched := 0
	for _, in := range h.emu.Instances() {
		if in.ID != id && in.LaunchTime.After(stoppedAt.Add(-time.Second)) {
			launched++
		}
	}
	if launched != 1 {
		t.Errorf("%d replacements launched for the one queued job, want 1", launched)
	}
	t.Logf("stopped at %s: row ended %s later, terminated %s later; %d replacement; %d ticks' spend short of the bill",
		stoppedAt.Sub(t0), ended.Sub(stoppedAt), terminated.Sub(stoppedAt), launched, short)
}
