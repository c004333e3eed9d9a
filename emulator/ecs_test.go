package emulator_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/spillway-io/spillway/emulator"
)

// newECS starts an emulator's ECS listener and returns the real Alibaba SDK
// client pointed at it over plain HTTP, with retries off.
func newECS(t testing.TB, opts emulator.Options) (*emulator.Emulator, *ecs.Client) {
	t.Helper()
	emu := emulator.New(opts)
	srv := httptest.NewServer(emu.ECSHandler())
	t.Cleanup(srv.Close)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	cfg := sdk.NewConfig().WithScheme("HTTP").WithAutoRetry(false).WithHttpTransport(tr)
	client, err := ecs.NewClientWithOptions("cn-hangzhou", cfg, credentials.NewAccessKeyCredential("LTAIexample", "secret"))
	if err != nil {
		t.Fatal(err)
	}
	client.Domain = strings.TrimPrefix(srv.URL, "http://")
	return emu, client
}

func ecsCode(err error) string {
	var se *sdkerrors.ServerError
	if errors.As(err, &se) {
		return se.ErrorCode()
	}
	return ""
}

func ecsRun(amount, minAmount int, token string, tags map[string]string) *ecs.RunInstancesRequest {
	req := ecs.CreateRunInstancesRequest()
	req.RegionId = "cn-hangzhou"
	req.ImageId = "ubuntu_22_04_x64_20G_alibase_20240101.vhd"
	req.InstanceType = "ecs.gn7i-c8g1.2xlarge"
	req.VSwitchId = "vsw-cn-hangzhou-h"
	req.Amount = requests.NewInteger(amount)
	if minAmount > 0 {
		req.MinAmount = requests.NewInteger(minAmount)
	}
	req.ClientToken = token
	var tl []ecs.RunInstancesTag
	for k, v := range tags {
		tl = append(tl, ecs.RunInstancesTag{Key: k, Value: v})
	}
	if tl != nil {
		req.Tag = &tl
	}
	return req
}

func ecsDescribe(t *testing.T, c *ecs.Client, mutate func(*ecs.DescribeInstancesRequest)) *ecs.DescribeInstancesResponse {
	t.Helper()
	req := ecs.CreateDescribeInstancesRequest()
	req.RegionId = "cn-hangzhou"
	if mutate != nil {
		mutate(req)
	}
	resp, err := c.DescribeInstances(req)
	if err != nil {
		t.Fatalf("DescribeInstances: %v", err)
	}
	return resp
}

func TestECSLaunchListDelete(t *testing.T) {
	emu, c := newECS(t, emulator.Options{})
	req := ecsRun(3, 1, "", map[string]string{"spillway:cluster": "lab"})
	req.SpotStrategy = "SpotAsPriceGo"
	req.UserData = base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\n"))
	run, err := c.RunInstances(req)
	if err != nil {
		t.Fatalf("RunInstances: %v", err)
	}
	ids := run.InstanceIdSets.InstanceIdSet
	if len(ids) != 3 || len(ids[0]) != len("i-")+20 {
		t.Fatalf("RunInstances returned %v, want 3 ids shaped like i- + 20 characters", ids)
	}
	if _, err := c.RunInstances(ecsRun(1, 0, "", nil)); err != nil {
		t.Fatalf("untagged launch: %v", err)
	}
	resp := ecsDescribe(t, c, func(r *ecs.DescribeInstancesRequest) {
		r.Tag = &[]ecs.DescribeInstancesTag{{Key: "spillway:cluster", Value: "lab"}}
	})
	if resp.TotalCount != 3 || len(resp.Instances.Instance) != 3 {
		t.Fatalf("tag filter: TotalCount %d, %d instances; want the 3 tagged", resp.TotalCount, len(resp.Instances.Instance))
	}
	in := resp.Instances.Instance[0]
	if in.Status != "Running" || in.ZoneId != "cn-hangzhou-h" || in.SpotStrategy != "SpotAsPriceGo" ||
		in.VpcAttributes.VSwitchId != "vsw-cn-hangzhou-h" || len(in.VpcAttributes.PrivateIpAddress.IpAddress) != 1 ||
		len(in.Tags.Tag) != 1 || in.Tags.Tag[0].TagKey != "spillway:cluster" {
		t.Errorf("instance as listed: %+v", in)
	}
	byID := ecsDescribe(t, c, func(r *ecs.DescribeInstancesRequest) {
		b, _ := json.Marshal(ids[:2])
		r.InstanceIds = string(b)
	})
	if byID.TotalCount != 2 {
		t.Errorf("InstanceIds filter: TotalCount %d, want 2", byID.TotalCount)
	}

	del := ecs.CreateDeleteInstancesRequest()
	del.RegionId = "cn-hangzhou"
	del.InstanceId = &ids
	if _, err := c.DeleteInstances(del); ecsCode(err) != "IncorrectInstanceStatus" {
		t.Errorf("delete running instances without Force: %v, want IncorrectInstanceStatus", err)
	}
	del.Force = requests.NewBoolean(true)
	if _, err := c.DeleteInstances(del); err != nil {
		t.Fatalf("DeleteInstances Force: %v", err)
	}
	if got := ecsDescribe(t, c, func(r *ecs.DescribeInstancesRequest) {
		r.Tag = &[]ecs.DescribeInstancesTag{{Key: "spillway:cluster"}}
	}); got.TotalCount != 0 {
		t.Errorf("%d instances listed after deletion, want 0", got.TotalCount)
	}
	if _, err := c.DeleteInstances(del); ecsCode(err) != "InvalidInstanceId.NotFound" {
		t.Errorf("deleting released instances: %v, want InvalidInstanceId.NotFound", err)
	}
	if got := emu.Instances(); len(got) != 4 || got[0].UserData != "#!/bin/sh\n" || !got[0].Spot {
		t.Errorf("Instances(): %+v", got)
	}
}

func TestECSClientTokenAndMinAmount(t *testing.T) {
	emu, c := newECS(t, emulator.Options{})
	emu.SetStock("ecs.gn7i-c8g1.2xlarge", "cn-hangzhou-h", 5)
	first, err := c.RunInstances(ecsRun(8, 3, "intent-7", nil))
	if err != nil {
		t.Fatalf("partial launch: %v", err)
	}
	if n := len(first.InstanceIdSets.InstanceIdSet); n != 5 {
		t.Fatalf("partial launch created %d, want the 5 in stock", n)
	}
	again, err := c.RunInstances(ecsRun(8, 3, "intent-7", nil))
	if err != nil || strings.Join(again.InstanceIdSets.InstanceIdSet, ",") != strings.Join(first.InstanceIdSets.InstanceIdSet, ",") {
		t.Fatalf("retry with the same token: %v, ids %v vs %v", err, again.InstanceIdSets.InstanceIdSet, first.InstanceIdSets.InstanceIdSet)
	}
	if _, err := c.RunInstances(ecsRun(9, 3, "intent-7", nil)); ecsCode(err) != "IdempotentParameterMismatch" {
		t.Errorf("same token, other Amount: %v, want IdempotentParameterMismatch", err)
	}
	_, err = c.RunInstances(ecsRun(2, 1, "", nil))
	var se *sdkerrors.ServerError
	if ecsCode(err) != "OperationDenied.NoStock" || !errors.As(err, &se) || se.HttpStatus() != 403 {
		t.Errorf("sold-out zone: %v, want 403 OperationDenied.NoStock", err)
	}
	other := ecsRun(2, 0, "", nil)
	other.VSwitchId = "vsw-cn-hangzhou-i"
	if _, err := c.RunInstances(other); err != nil {
		t.Errorf("next vSwitch: %v", err)
	}
	emu.SetOffered("ecs.gn7i-c8g1.2xlarge", "cn-hangzhou-j", false)
	third := ecsRun(1, 0, "", nil)
	third.VSwitchId = "vsw-cn-hangzhou-j"
	if _, err := c.RunInstances(third); ecsCode(err) != "InvalidInstanceType.ZoneNotSupported" {
		t.Errorf("type not offered: %v", err)
	}
	emu.SetOffered("", "cn-hangzhou-j", false)
	if _, err := c.RunInstances(third); ecsCode(err) != "Zone.NotOnSale" {
		t.Errorf("zone closed: %v", err)
	}
	if n := emu.Calls("ecs:RunInstances"); n != 7 {
		t.Errorf("Calls(ecs:RunInstances) = %d, want 7", n)
	}
}

func TestECSPagination(t *testing.T) {
	_, c := newECS(t, emulator.Options{})
	for range 25 {
		if _, err := c.RunInstances(ecsRun(100, 0, "", map[string]string{"spillway:cluster": "big"})); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.RunInstances(ecsRun(3, 0, "", nil)); err != nil {
		t.Fatal(err)
	}
	tag := &[]ecs.DescribeInstancesTag{{Key: "spillway:cluster", Value: "big"}}
	seen := map[string]bool{}
	for page := 1; ; page++ {
		resp := ecsDescribe(t, c, func(r *ecs.DescribeInstancesRequest) {
			r.Tag = tag
			r.PageSize = requests.NewInteger(100)
			r.PageNumber = requests.NewInteger(page)
		})
		if resp.TotalCount != 2500 {
			t.Fatalf("TotalCount %d, want 2500", resp.TotalCount)
		}
		for _, in := range resp.Instances.Instance {
			if seen[in.InstanceId] {
				t.Fatalf("page %d repeats %s", page, in.InstanceId)
			}
			seen[in.InstanceId] = true
		}
		if len(resp.Instances.Instance) < 100 {
			break
		}
	}
	if len(seen) != 2500 {
		t.Errorf("PageNumber paging listed %d, want 2500", len(seen))
	}
	clear(seen)
	token := ""
	for {
		resp := ecsDescribe(t, c, func(r *ecs.DescribeInstancesRequest) {
			r.Tag = tag
			r.MaxResults = requests.NewInteger(100)
			r.NextToken = token
		})
		for _, in := range resp.Instances.Instance {
			seen[in.InstanceId] = true
		}
		if token = resp.NextToken; token == "" {
			break
		}
	}
	if len(seen) != 2500 {
		t.Errorf("NextToken paging listed %d, want 2500", len(seen))
	}
	req := ecs.CreateDescribeInstancesRequest()
	req.RegionId = "cn-hangzhou"
	req.PageSize = requests.NewInteger(101)
	if _, err := c.DescribeInstances(req); ecsCode(err) != "InvalidParameter" {
		t.Errorf("PageSize 101: %v, want InvalidParameter", err)
	}
}

func TestECSStatesAndRecycling(t *testing.T) {
	clk := newFakeClock()
	emu, c := newECS(t, emulator.Options{BootDelay: 40 * time.Second, Clock: clk.Now})
	req := ecsRun(1, 0, "", nil)
	req.SpotStrategy = "SpotWithPriceLimit"
	req.SpotPriceLimit = requests.NewFloat(2.5)
	run, err := c.RunInstances(req)
	if err != nil {
		t.Fatal(err)
	}
	id := run.InstanceIdSets.InstanceIdSet[0]
	status := func() (string, []ecs.LockReason, int) {
		resp := ecsDescribe(t, c, func(r *ecs.DescribeInstancesRequest) { r.InstanceIds = `["` + id + `"]` })
		if len(resp.Instances.Instance) == 0 {
			return "", nil, 0
		}
		in := resp.Instances.Instance[0]
		return in.Status, in.OperationLocks.LockReason, resp.TotalCount
	}
	steps := []struct {
		advance time.Duration
		want    string
	}{{0, "Pending"}, {25 * time.Second, "Starting"}, {20 * time.Second, "Running"}}
	for _, s := range steps {
		clk.Advance(s.advance)
		if got, _, _ := status(); got != s.want {
			t.Errorf("after %v more: %s, want %s", s.advance, got, s.want)
		}
	}
	emu.Interrupt(id, 5*time.Minute)
	if got, locks, _ := status(); got != "Running" || len(locks) != 1 || locks[0].LockReason != "Recycling" {
		t.Errorf("after the reclaim notice: %s %+v, want Running with the Recycling lock", got, locks)
	}
	clk.Advance(5 * time.Minute)
	if got, _, _ := status(); got != "Stopping" {
		t.Errorf("at the reclaim deadline: %s, want Stopping", got)
	}
	clk.Advance(40 * time.Second)
	if _, _, n := status(); n != 0 {
		t.Errorf("a released instance is still listed")
	}
}

func TestECSThrottlingFaultsAndProtocol(t *testing.T) {
	clk := newFakeClock()
	emu, c := newECS(t, emulator.Options{Throttle: true, Clock: clk.Now})
	for i := range int(emulator.ECSRunInstancesBucket.Capacity) {
		if _, err := c.RunInstances(ecsRun(1, 0, "", nil)); err != nil {
			t.Fatalf("call %d within the bucket: %v", i+1, err)
		}
	}
	_, err := c.RunInstances(ecsRun(1, 0, "", nil))
	var se *sdkerrors.ServerError
	if ecsCode(err) != "Throttling.User" || !errors.As(err, &se) || se.HttpStatus() != 400 {
		t.Fatalf("beyond the bucket: %v, want 400 Throttling.User", err)
	}
	clk.Advance(time.Second)
	if _, err := c.RunInstances(ecsRun(1, 0, "", nil)); err != nil {
		t.Errorf("after refill: %v", err)
	}
	emu.SetThrottle(false)
	emu.SetFaultRate(1)
	_, err = c.RunInstances(ecsRun(1, 0, "", nil))
	if code := ecsCode(err); code != "InternalError" && code != "ServiceUnavailable" {
		t.Errorf("fault rate 1: %v", err)
	}
	emu.SetFaultRate(0)

	// A request without Version, as a hand-written client might send it.
	srv := httptest.NewServer(emu.ECSHandler())
	defer srv.Close()
	hc := testHTTPClient(t)
	resp, err := hc.Get(srv.URL + "/?Action=DescribeInstances&RegionId=cn-hangzhou")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 400 || body["Code"] != "MissingParameter" || body["RequestId"] == "" || !strings.Contains(body["Message"], "Version") {
		t.Errorf("missing Version: %d %v", resp.StatusCode, body)
	}
}

func TestECSVCPUQuota(t *testing.T) {
	emu, c := newECS(t, emulator.Options{})
	emu.SetVCPUQuota(emulator.APIECS, "cn-hangzhou", 16) // two ecs.gn7i-c8g1.2xlarge
	if _, err := c.RunInstances(ecsRun(3, 0, "", nil)); ecsCode(err) != "QuotaExceed.ElasticQuota" {
		t.Errorf("3 x 8 vCPUs against 16: %v, want QuotaExceed.ElasticQuota", err)
	}
	out, err := c.RunInstances(ecsRun(3, 1, "", nil))
	if err != nil || len(out.InstanceIdSets.InstanceIdSet) != 2 {
		t.Fatalf("MinAmount 1 within the quota: %v, want 2 launched", err)
	}
}

func TestVCPUs(t *testing.T) {
	for typ, want := range map[string]int{"p4d.24xlarge": 96, "g5.xlarge": 4, "p5.48xlarge": 192, "t3.medium": 1,
		"m5.large": 2, "ecs.gn7i-c8g1.2xlarge": 8, "ecs.gn6v-c8g1.16xlarge": 64, "c5.metal": 96, "odd": 2} {
		if got := emulator.VCPUs(typ); got != want {
			t.Errorf("VCPUs(%s) = %d, want %d", typ, got, want)
		}
	}
}
