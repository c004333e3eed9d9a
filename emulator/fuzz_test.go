package emulator_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/emulator"
)

// knownCalls are the call-count keys the emulator may hold: its own action
// names, never a name a client made up.
var knownCalls = map[string]bool{
	"ec2:RunInstances": true, "ec2:DescribeInstances": true, "ec2:TerminateInstances": true,
	"ec2:DescribeInstanceStatus": true, "ec2:DescribeSubnets": true, "ec2:DescribeAvailabilityZones": true,
	"ec2:DescribeSpotInstanceRequests": true,
	"ecs:RunInstances":                 true, "ecs:DescribeInstances": true, "ecs:DeleteInstances": true, "ecs:DescribeZones": true,
}

// fuzzCall sends one form body, with a stock limit and a vCPU quota set so
// the launch paths that consult them run, and checks the answer: a status
// the API uses, a bounded body, only known actions counted.
func fuzzCall(t *testing.T, handler func(*emulator.Emulator) http.Handler, body, authorization string) {
	clock := func() time.Time { return time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) }
	emu := emulator.New(emulator.Options{Clock: clock, Seed: 1})
	emu.SetStock("p4d.24xlarge", "us-east-1a", 3)
	emu.SetVCPUQuota(emulator.APIECS, "", 64)
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	handler(emu).ServeHTTP(rec, req)
	switch rec.Code {
	case 200, 400, 401, 403, 404, 412, 413, 500, 503:
	default:
		t.Fatalf("status %d for %q", rec.Code, body)
	}
	if n := rec.Body.Len(); n > 16<<20 { // 5000 instances are about 5 MB
		t.Fatalf("%d-byte response for a %d-byte request", n, len(body))
	}
	for k := range emu.Snapshot().Calls {
		if !knownCalls[k] {
			t.Fatalf("call count kept for unknown action %.100q", k)
		}
	}
}

func FuzzEC2Request(f *testing.F) {
	for _, s := range []string{
		"Action=RunInstances&Version=2016-11-15&ImageId=ami-1&MinCount=1&MaxCount=9223372036854775807",
		"Action=RunInstances&Version=2016-11-15&ImageId=ami-1&MinCount=1&MaxCount=1000000&InstanceType=p4d.24xlarge",
		"Action=RunInstances&Version=2016-11-15&ImageId=ami-1&MinCount=2&MaxCount=5&InstanceType=p4d.24xlarge&Placement.AvailabilityZone=us-east-1a",
		"Action=RunInstances&Version=2016-11-15&ImageId=ami-1&MinCount=1&MaxCount=1&InstanceType=p4d.4611686018427387904xlarge",
		"Action=RunInstances&Version=2016-11-15&ImageId=ami-1&MinCount=1&MaxCount=1&TagSpecification.1.ResourceType=instance&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=a",
		"Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag:Name&Filter.1.Value.1=*a*a*a*a*a*a*a*b",
		"Action=DescribeInstances&Version=2016-11-15&MaxResults=5&NextToken=ZW11bGF0b3ItcGFnZTo5OTk5OTk5OTk5OTk5OTk5OTk5",
		"Action=DescribeInstances&Version=2016-11-15&MaxResults=&NextToken=",
		"Action=DescribeSubnets&Version=2016-11-15&MaxResults=5&NextToken=ZW11bGF0b3ItcGFnZTplY3MuRGVzY3JpYmVJbnN0YW5jZXM6MDEyMzQ1Njc4OWFiY2RlZjo1",
		"Action=DescribeInstances&Version=2016-11-15&MaxResults=5&NextToken=ZW11bGF0b3ItcGFnZTplYzIuRGVzY3JpYmVJbnN0YW5jZXM6MDEyMzQ1Njc4OWFiY2RlZjo5OTk5OTk5OTk5OTk5OTk5OTk5OQ",
		"Action=TerminateInstances&Version=2016-11-15&InstanceId.1=i-0123456789abcdef0",
		"Action=DescribeSpotInstanceRequests&Version=2016-11-15&Filter.1.Name=instance-id&Filter.1.Value.1=i-1",
		"Action=DescribeSubnets&Version=2016-11-15&Filter.1.Name=availability-zone&Filter.1.Value.1=us-east-1a",
		"Action=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&Version=1",
		"Action=DescribeInstanceStatus&Version=2016-11-15&IncludeAllInstances=true",
		"Action=DescribeAvailabilityZones&Version=2016-11-15",
		"%zz",
	} {
		f.Add(s, "AWS4-HMAC-SHA256 Credential=AKID/20260302/us-east-1/ec2/aws4_request")
	}
	f.Add("Action=DescribeInstances&Version=2016-11-15", "AWS4-HMAC-SHA256 Credential=AKID/20260302/"+strings.Repeat("a-", 40)+"1/ec2/aws4_request")
	f.Fuzz(func(t *testing.T, body, authorization string) {
		fuzzCall(t, (*emulator.Emulator).EC2Handler, body, authorization)
	})
}

func FuzzECSRequest(f *testing.F) {
	for _, s := range []string{
		"Action=RunInstances&Version=2014-05-26&RegionId=cn-hangzhou&ImageId=m-1&InstanceType=ecs.gn7i-c8g1.2xlarge&Amount=9223372036854775807",
		"Action=RunInstances&Version=2014-05-26&RegionId=cn-hangzhou&ImageId=m-1&InstanceType=ecs.gn7i-c8g1.2xlarge&Amount=10&MinAmount=2",
		"Action=RunInstances&Version=2014-05-26&RegionId=cn-hangzhou&ImageId=m-1&InstanceType=ecs.gn7i-c8g1.2xlarge&SpotStrategy=SpotWithPriceLimit&SpotPriceLimit=NaN",
		"Action=RunInstances&Version=2014-05-26&RegionId=cn-hangzhou&ImageId=m-1&InstanceType=ecs.g7.99999999999999999999xlarge&Tag.1.Key=a&Tag.1.Value=b",
		"Action=DescribeInstances&Version=2014-05-26&RegionId=cn-hangzhou&PageNumber=9223372036854775807&PageSize=100",
		"Action=DescribeInstances&Version=2014-05-26&RegionId=cn-hangzhou&InstanceIds=%5B%22i-1%22%5D&Status=Running",
		"Action=DescribeInstances&Version=2014-05-26&RegionId=cn-hangzhou&MaxResults=1&NextToken=ZW11bGF0b3ItcGFnZTox",
		"Action=DescribeInstances&Version=2014-05-26&RegionId=cn-hangzhou&MaxResults=&PageSize=&PageNumber=",
		"Action=DescribeInstances&Version=2014-05-26&RegionId=cn-hangzhou&PageNumber=2&NextToken=ZW11bGF0b3ItcGFnZTplYzIuRGVzY3JpYmVJbnN0YW5jZXM6MDEyMzQ1Njc4OWFiY2RlZjo5OTk5OTk5OTk5OTk5OTk5OTk5OQ",
		"Action=DeleteInstances&Version=2014-05-26&RegionId=cn-hangzhou&InstanceId.1=i-1&Force=true",
		"Action=DescribeZones&Version=2014-05-26&RegionId=cn-hangzhou",
		"Action=Nope&Version=2014-05-26&RegionId=cn-hangzhou",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		fuzzCall(t, (*emulator.Emulator).ECSHandler, body, "")
	})
}
