package terraform

import (
	"errors"
	"strings"
	"testing"

	"github.com/spillway-io/spillway/providers"
)

// Diagnostics as the official providers write them: the cloud's error code
// decides the type, as in the SDK providers.
func TestClassify(t *testing.T) {
	tests := []struct {
		name, text string
		class      errClass
		code       string
	}{
		{"aws stock-out", `creating EC2 Instance: operation error EC2: RunInstances, https response error StatusCode: 500, RequestID: 1a2b, api error InsufficientInstanceCapacity: We currently do not have sufficient p4d.24xlarge capacity in the Availability Zone you requested (us-east-1a).`, classCapacity, "InsufficientInstanceCapacity"},
		{"aws quota", `creating EC2 Instance: operation error EC2: RunInstances, https response error StatusCode: 400, RequestID: 3c4d, api error VcpuLimitExceeded: You have requested more vCPU capacity than your current vCPU limit of 0 allows`, classQuota, "VcpuLimitExceeded"},
		{"aws throttled", `api error RequestLimitExceeded: Request limit exceeded.`, classThrottled, "RequestLimitExceeded"},
		{"aws bad image", `api error InvalidAMIID.NotFound: The image id '[ami-1]' does not exist`, classInvalid, "InvalidAMIID.NotFound"},
		{"ecs stock-out", `[ERROR] terraform-provider-alicloud/alicloud/resource_alicloud_instance.go:812: Resource alicloud_instance RunInstances Failed!!! [SDK alibaba-cloud-sdk-go ERROR]: SDK.ServerError ErrorCode: OperationDenied.NoStock Recommend: https://api.aliyun.com/troubleshoot?q=OperationDenied.NoStock RequestId: 5e6f Message: The requested resource is sold out in the specified zone`, classCapacity, "OperationDenied.NoStock"},
		{"ecs quota", `ErrorCode: QuotaExceed.ElasticQuota Message: The total number of vCPUs of the specified instance type exceeds the quota`, classQuota, "QuotaExceed.ElasticQuota"},
		{"ecs throttled", `ErrorCode: Throttling.User Message: Request was denied due to user flow control.`, classThrottled, "Throttling.User"},
		{"terraform's own unsupported argument", `Unsupported argument: An argument named "instance_types" is not expected here.`, classTransient, ""},
		{"script failure", `local-exec provisioner error: Error running command 'exit 3': exit status 3.`, classTransient, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			class, code := classify(tt.text)
			if class != tt.class || code != tt.code {
				t.Errorf("classify = (%d, %q), want (%d, %q)", class, code, tt.class, tt.code)
			}
		})
	}
}

// An error that names its burst is not named again: the Reconcile of a
// burst whose state was over the bound said "burst KEY: burst KEY: its
// Terraform state ...".
func TestInBurstNamesTheBurstOnce(t *testing.T) {
	const key = "nightly-0a1b2c3d4e"
	size := &StateSizeError{Burst: key, Dir: "/w/bursts/" + key, Where: "/w/bursts/" + key + "/terraform.tfstate", Limit: 64 << 20}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"a state over the bound", size, size.Error()},
		{"a state over the bound, typed", &providers.InvalidError{Provider: "tf", Code: "StateTooLarge", Err: size}, "tf: invalid request (StateTooLarge): " + size.Error()},
		{"one the burst named, joined", errors.Join(&burstError{key: key, err: errors.New("its state is gone")}, nil), "burst " + key + ": its state is gone"},
		{"another burst's", &StateSizeError{Burst: "other-5f6a7b8c9d", Where: "x", Limit: 1}, "burst " + key + ": burst other-5f6a7b8c9d: its Terraform state (x)"},
		{"one naming no burst", errors.New("exit status 1"), "burst " + key + ": exit status 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := inBurst(key, tt.err).Error()
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("inBurst:\n got %s\nwant %s", got, tt.want)
			}
			if !errors.Is(inBurst(key, tt.err), tt.err) {
				t.Errorf("inBurst does not wrap %v", tt.err)
			}
		})
	}
	if inBurst(key, nil) != nil {
		t.Errorf("inBurst(nil) is not nil")
	}
}
