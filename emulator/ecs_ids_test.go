package emulator_test

import (
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/spillway-io/spillway/emulator"
)

// DescribeInstances' InstanceIds narrows the answer to the ids listed. A
// client that marshals an empty Go slice sends JSON null; that must not
// widen the answer to every instance (a caller that ends what it
// described would end them all).
func TestECSInstanceIdsNeverWiden(t *testing.T) {
	_, c := newECS(t, emulator.Options{})
	if _, err := c.RunInstances(ecsRun(3, 3, "", nil)); err != nil {
		t.Fatalf("RunInstances: %v", err)
	}
	cases := []struct {
		ids      string
		wantCode string
		want     int
	}{
		{`null`, "InvalidInstanceIds.Malformed", 0},
		{`[]`, "", 0},
		{`["i-absent0000000000000"]`, "", 0},
		{`{}`, "InvalidInstanceIds.Malformed", 0},
		{`"i-absent0000000000000"`, "InvalidInstanceIds.Malformed", 0},
	}
	for _, tc := range cases {
		t.Run(tc.ids, func(t *testing.T) {
			req := ecs.CreateDescribeInstancesRequest()
			req.RegionId = "cn-hangzhou"
			req.InstanceIds = tc.ids
			resp, err := c.DescribeInstances(req)
			if code := ecsCode(err); code != tc.wantCode {
				t.Fatalf("DescribeInstances InstanceIds=%s: %v, want code %q", tc.ids, err, tc.wantCode)
			}
			if err == nil && len(resp.Instances.Instance) != tc.want {
				t.Errorf("DescribeInstances InstanceIds=%s listed %d instances, want %d", tc.ids, len(resp.Instances.Instance), tc.want)
			}
		})
	}
}
