package emulator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spillway-io/spillway/emulator"
)

// With a consistency lag, EC2 answers for a fresh instance as it may right
// after RunInstances: DescribeInstances by id and TerminateInstances fail
// with InvalidInstanceID.NotFound, filtered lists omit it, and a replay of
// the launch's client token still returns it. Once the lag has passed it is
// there like any other.
func TestEC2ConsistencyLag(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock()
	emu, c := newEC2(t, emulator.Options{Clock: clk.Now, ConsistencyLag: 5 * time.Second})
	in := runInput(2, 2, "lag-1", map[string]string{"spillway:cluster": "lab"})
	run, err := c.RunInstances(ctx, in)
	if err != nil {
		t.Fatalf("RunInstances: %v", err)
	}
	ids := []string{*run.Instances[0].InstanceId, *run.Instances[1].InstanceId}
	listed := func() int {
		t.Helper()
		out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("tag:spillway:cluster"), Values: []string{"lab"}}}})
		if err != nil {
			t.Fatalf("DescribeInstances by tag: %v", err)
		}
		n := 0
		for _, r := range out.Reservations {
			n += len(r.Instances)
		}
		return n
	}

	clk.Advance(4 * time.Second)
	if n := listed(); n != 0 {
		t.Errorf("4s after launch with a 5s lag, the tag filter lists %d instances, want 0", n)
	}
	if _, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}); apiCode(err) != "InvalidInstanceID.NotFound" {
		t.Errorf("DescribeInstances by id within the lag: %v, want InvalidInstanceID.NotFound", err)
	}
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids}); apiCode(err) != "InvalidInstanceID.NotFound" {
		t.Errorf("TerminateInstances within the lag: %v, want InvalidInstanceID.NotFound", err)
	}
	replay, err := c.RunInstances(ctx, in)
	if err != nil || len(replay.Instances) != 2 || *replay.Instances[0].InstanceId != ids[0] {
		t.Errorf("replaying the client token within the lag: %v, %v; want the same two instances", replay, err)
	}

	clk.Advance(time.Second)
	if n := listed(); n != 2 {
		t.Errorf("once the lag has passed the tag filter lists %d instances, want 2", n)
	}
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids}); err != nil {
		t.Errorf("TerminateInstances after the lag: %v", err)
	}
	if n := len(emu.Instances()); n != 2 {
		t.Errorf("the emulator holds %d instances, want 2 (the replay launched nothing)", n)
	}
}

// ECS likewise: DescribeInstances omits a fresh instance, by id or by tag,
// and DeleteInstances answers InvalidInstanceId.NotFound, until the lag has
// passed.
func TestECSConsistencyLag(t *testing.T) {
	clk := newFakeClock()
	emu, c := newECS(t, emulator.Options{Clock: clk.Now})
	if err := setLag(t, emu, "3s"); err != nil {
		t.Fatal(err)
	}
	run, err := c.RunInstances(ecsRun(1, 1, "lag-1", map[string]string{"spillway:cluster": "lab"}))
	if err != nil {
		t.Fatalf("RunInstances: %v", err)
	}
	id := run.InstanceIdSets.InstanceIdSet[0]
	idsJSON, _ := json.Marshal([]string{id})
	byID := func(r *ecs.DescribeInstancesRequest) { r.InstanceIds = string(idsJSON) }
	byTag := func(r *ecs.DescribeInstancesRequest) {
		r.Tag = &[]ecs.DescribeInstancesTag{{Key: "spillway:cluster", Value: "lab"}}
	}
	del := func() error {
		req := ecs.CreateDeleteInstancesRequest()
		req.RegionId = "cn-hangzhou"
		req.InstanceId = &[]string{id}
		req.Force = requests.NewBoolean(true)
		_, err := c.DeleteInstances(req)
		return err
	}

	clk.Advance(2 * time.Second)
	for name, f := range map[string]func(*ecs.DescribeInstancesRequest){"id": byID, "tag": byTag} {
		if n := len(ecsDescribe(t, c, f).Instances.Instance); n != 0 {
			t.Errorf("DescribeInstances by %s within the lag lists %d instances, want 0", name, n)
		}
	}
	if err := del(); ecsCode(err) != "InvalidInstanceId.NotFound" {
		t.Errorf("DeleteInstances within the lag: %v, want InvalidInstanceId.NotFound", err)
	}

	clk.Advance(time.Second)
	for name, f := range map[string]func(*ecs.DescribeInstancesRequest){"id": byID, "tag": byTag} {
		if n := len(ecsDescribe(t, c, f).Instances.Instance); n != 1 {
			t.Errorf("DescribeInstances by %s after the lag lists %d instances, want 1", name, n)
		}
	}
	if err := del(); err != nil {
		t.Errorf("DeleteInstances after the lag: %v", err)
	}
}

// setLag sets the consistency lag through the control API, as a user of
// `spillway emulator` does, and checks the settings it answers.
func setLag(t *testing.T, emu *emulator.Emulator, lag string) error {
	t.Helper()
	rec := httptest.NewRecorder()
	emu.ECSHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/_emulator/faults", strings.NewReader(`{"consistency_lag":"`+lag+`"}`)))
	var got emulator.Settings
	if err := json.Unmarshal(rec.Body.Bytes(), &got); rec.Code != http.StatusOK || err != nil {
		return fmt.Errorf("POST /_emulator/faults consistency_lag %s: %d %s", lag, rec.Code, rec.Body)
	}
	if want, _ := time.ParseDuration(lag); time.Duration(got.ConsistencyLag) != want {
		return fmt.Errorf("settings after POST /_emulator/faults: consistency_lag %v, want %v", time.Duration(got.ConsistencyLag), want)
	}
	return nil
}
