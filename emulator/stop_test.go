package emulator_test

import (
	"context"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spillway-io/spillway/emulator"
)

// TestEC2StopInstances: StopInstances as the EC2 API reference has it. A
// running on-demand instance is stopping, then stopped, and stays listed
// stopped (not terminated) until TerminateInstances ends it; a pending
// instance and a one-time spot instance are refused, changing nothing.
func TestEC2StopInstances(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock()
	_, c := newEC2(t, emulator.Options{BootDelay: 30 * time.Second, Clock: clk.Now})
	run := func(in *ec2.RunInstancesInput) string {
		t.Helper()
		out, err := c.RunInstances(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.Instances[0].InstanceId)
	}
	id := run(runInput(1, 1, "", nil))
	stop := func(id string) error {
		_, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}})
		return err
	}
	state := func(id string) types.InstanceStateName {
		t.Helper()
		d, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			t.Fatalf("DescribeInstances: %v", err)
		}
		return d.Reservations[0].Instances[0].State.Name
	}
	if err := stop(id); apiCode(err) != "IncorrectInstanceState" {
		t.Errorf("StopInstances of a pending instance: %v, want IncorrectInstanceState", err)
	}
	clk.Advance(31 * time.Second)
	out, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		t.Fatalf("StopInstances: %v", err)
	}
	if ch := out.StoppingInstances[0]; ch.PreviousState.Name != types.InstanceStateNameRunning || ch.CurrentState.Name != types.InstanceStateNameStopping ||
		aws.ToInt32(ch.CurrentState.Code) != 64 {
		t.Errorf("StopInstances answered %s → %s (%d), want running → stopping (64)", ch.PreviousState.Name, ch.CurrentState.Name, aws.ToInt32(ch.CurrentState.Code))
	}
	clk.Advance(31 * time.Second)
	if s := state(id); s != types.InstanceStateNameStopped {
		t.Errorf("after the stop: %s, want stopped", s)
	}
	if err := stop(id); err != nil {
		t.Errorf("StopInstances of a stopped instance: %v, want it answered as it is", err)
	}
	clk.Advance(24 * time.Hour)
	d, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("instance-state-name"), Values: []string{"stopped"}}}})
	if err != nil || len(d.Reservations) != 1 {
		t.Fatalf("a day later, stopped instances listed: %v (%v), want the stopped one: it is kept, and billed, until terminated", d, err)
	}
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	if s := state(id); s != types.InstanceStateNameShuttingDown {
		t.Errorf("a stopped instance terminated: %s, want shutting-down", s)
	}
	if err := stop(id); apiCode(err) != "IncorrectInstanceState" {
		t.Errorf("StopInstances of a terminating instance: %v, want IncorrectInstanceState", err)
	}

	in := runInput(1, 1, "", nil)
	in.InstanceMarketOptions = &types.InstanceMarketOptionsRequest{MarketType: types.MarketTypeSpot}
	spot := run(in)
	clk.Advance(31 * time.Second)
	if err := stop(spot); apiCode(err) != "UnsupportedOperation" {
		t.Errorf("StopInstances of a one-time spot instance: %v, want UnsupportedOperation", err)
	}
	if s := state(spot); s != types.InstanceStateNameRunning {
		t.Errorf("the refused spot instance is %s, want running", s)
	}
}

// TestECSStopInstances: StopInstances as the ECS API reference has it. A
// Running instance is Stopping, then Stopped, with its StoppedMode
// (KeepCharging by default), and stays listed until DeleteInstances
// releases it; by default one instance that cannot be stopped refuses
// the whole call (AllTogether), while SuccessFirst answers each.
func TestECSStopInstances(t *testing.T) {
	clk := newFakeClock()
	_, c := newECS(t, emulator.Options{BootDelay: 30 * time.Second, Clock: clk.Now})
	resp, err := c.RunInstances(ecsRun(2, 2, "", nil))
	if err != nil {
		t.Fatal(err)
	}
	ids := resp.InstanceIdSets.InstanceIdSet
	stop := func(ids []string, mode, batch string) (*ecs.StopInstancesResponse, error) {
		req := ecs.CreateStopInstancesRequest()
		req.RegionId = "cn-hangzhou"
		req.InstanceId = &ids
		req.StoppedMode, req.BatchOptimization = mode, batch
		return c.StopInstances(req)
	}
	describe := func(id string) ecs.Instance {
		t.Helper()
		d := ecsDescribe(t, c, func(r *ecs.DescribeInstancesRequest) { r.InstanceIds = `["` + id + `"]` })
		if len(d.Instances.Instance) != 1 {
			t.Fatalf("DescribeInstances %s: %d instances", id, len(d.Instances.Instance))
		}
		return d.Instances.Instance[0]
	}
	if _, err := stop(ids, "", ""); ecsCode(err) != "IncorrectInstanceStatus" {
		t.Errorf("StopInstances of Pending instances: %v, want IncorrectInstanceStatus", err)
	}
	if _, err := stop(ids, "Hibernate", ""); ecsCode(err) != "InvalidParameter" {
		t.Errorf("StopInstances with StoppedMode Hibernate: %v, want InvalidParameter", err)
	}
	clk.Advance(31 * time.Second)
	out, err := stop(ids[:1], "StopCharging", "")
	if err != nil {
		t.Fatalf("StopInstances: %v", err)
	}
	if r := out.InstanceResponses.InstanceResponse[0]; r.PreviousStatus != "Running" || r.CurrentStatus != "Stopping" {
		t.Errorf("StopInstances answered %s → %s, want Running → Stopping", r.PreviousStatus, r.CurrentStatus)
	}
	if in := describe(ids[0]); in.Status != "Stopping" {
		t.Errorf("after the stop: %s, want Stopping", in.Status)
	}
	// Without Force, ECS releases only a Stopped instance: a Stopping one
	// was released as if Stopped.
	early := ecs.CreateDeleteInstancesRequest()
	early.RegionId = "cn-hangzhou"
	early.InstanceId = &[]string{ids[0]}
	if _, err := c.DeleteInstances(early); ecsCode(err) != "IncorrectInstanceStatus" {
		t.Errorf("DeleteInstances of a Stopping instance, without Force: %v, want IncorrectInstanceStatus", err)
	}
	clk.Advance(31 * time.Second)
	if in := describe(ids[0]); in.Status != "Stopped" || in.StoppedMode != "StopCharging" {
		t.Errorf("after the stop: %s (%s), want Stopped (StopCharging)", in.Status, in.StoppedMode)
	}
	if _, err := stop(ids, "", ""); ecsCode(err) != "IncorrectInstanceStatus" {
		t.Errorf("StopInstances AllTogether of a Stopped and a Running instance: %v, want IncorrectInstanceStatus", err)
	}
	if in := describe(ids[1]); in.Status != "Running" {
		t.Errorf("the refused call changed %s to %s", ids[1], in.Status)
	}
	out, err = stop(ids, "", "SuccessFirst")
	if err != nil {
		t.Fatalf("StopInstances SuccessFirst: %v", err)
	}
	if r := out.InstanceResponses.InstanceResponse; len(r) != 2 || r[0].Code != "IncorrectInstanceStatus" || r[1].Code != "200" {
		t.Errorf("StopInstances SuccessFirst answered %+v, want the stopped one refused and the running one stopped", r)
	}
	clk.Advance(31 * time.Second)
	if in := describe(ids[1]); in.Status != "Stopped" || in.StoppedMode != "KeepCharging" {
		t.Errorf("stopped by default: %s (%s), want Stopped (KeepCharging)", in.Status, in.StoppedMode)
	}
	del := ecs.CreateDeleteInstancesRequest()
	del.RegionId = "cn-hangzhou"
	del.InstanceId = &ids
	if _, err := c.DeleteInstances(del); err != nil {
		t.Fatalf("DeleteInstances of stopped instances, without Force: %v", err)
	}
	clk.Advance(31 * time.Second)
	if n := len(ecsDescribe(t, c, nil).Instances.Instance); n != 0 {
		t.Errorf("%d instances listed after the delete, want 0", n)
	}
}
