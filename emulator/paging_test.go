package emulator_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	sdk "github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	alicreds "github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spillway-io/spillway/emulator"
)

// bothAPIs serves one emulator's EC2 and ECS APIs and returns the real
// SDKs' clients on them: EC2 in us-east-1 and us-west-2, ECS in
// cn-hangzhou.
func bothAPIs(t *testing.T) (east, west *ec2.Client, ali *ecs.Client) {
	t.Helper()
	emu := emulator.New(emulator.Options{})
	ec2Srv := httptest.NewServer(emu.EC2Handler())
	t.Cleanup(ec2Srv.Close)
	ecsSrv := httptest.NewServer(emu.ECSHandler())
	t.Cleanup(ecsSrv.Close)
	ec2In := func(region string) *ec2.Client {
		return ec2.New(ec2.Options{
			Region:       region,
			Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
			BaseEndpoint: aws.String(ec2Srv.URL),
			HTTPClient:   testHTTPClient(t),
			Retryer:      aws.NopRetryer{},
		})
	}
	cfg := sdk.NewConfig().WithScheme("HTTP").WithAutoRetry(false)
	ali, err := ecs.NewClientWithOptions("cn-hangzhou", cfg, alicreds.NewAccessKeyCredential("LTAIexample", "secret"))
	if err != nil {
		t.Fatal(err)
	}
	ali.Domain = strings.TrimPrefix(ecsSrv.URL, "http://")
	return ec2In("us-east-1"), ec2In("us-west-2"), ali
}

// TestPageTokensAreBoundToTheirListing: a NextToken continues only the
// listing that answered it, as EC2's and ECS's opaque tokens do. Given to
// another action, API or region, or with other filters, it is refused
// naming why, where a bare offset paged the other listing from a position
// it never had (items skipped, with success). Only the page size may
// change between pages; PageNumber beside a NextToken is of no effect, as
// ECS documents.
func TestPageTokensAreBoundToTheirListing(t *testing.T) {
	ctx := context.Background()
	east, west, ali := bothAPIs(t)
	tags := map[string]string{"spillway:cluster": "lab"}
	if _, err := east.RunInstances(ctx, runInput(12, 12, "", tags)); err != nil {
		t.Fatal(err)
	}
	westIn := runInput(12, 12, "", tags)
	westIn.SubnetId = aws.String("subnet-us-west-2a")
	if _, err := west.RunInstances(ctx, westIn); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := ali.RunInstances(ecsRun(4, 0, "", tags)); err != nil {
			t.Fatal(err)
		}
	}
	lab := []types.Filter{{Name: aws.String("tag:spillway:cluster"), Values: []string{"lab"}}}
	first, err := east.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: lab, MaxResults: aws.Int32(5)})
	if err != nil || first.NextToken == nil {
		t.Fatalf("first page: %v (token %v)", err, first)
	}
	tok := first.NextToken
	aliFirst := ecsDescribe(t, ali, func(r *ecs.DescribeInstancesRequest) { r.MaxResults = requests.NewInteger(5) })
	if aliFirst.NextToken == "" {
		t.Fatal("ECS first page answered no NextToken")
	}

	for _, tc := range []struct {
		name     string
		call     func() error
		wantCode string
		wantMsg  string
	}{
		{"other filters", func() error {
			_, err := east.DescribeInstances(ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5), NextToken: tok, Filters: append(lab,
				types.Filter{Name: aws.String("instance-state-name"), Values: []string{"running"}})})
			return err
		}, "InvalidPaginationToken", "other filters"},
		{"no filters", func() error {
			_, err := east.DescribeInstances(ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5), NextToken: tok})
			return err
		}, "InvalidPaginationToken", "other filters"},
		{"other region", func() error {
			_, err := west.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: lab, MaxResults: aws.Int32(5), NextToken: tok})
			return err
		}, "InvalidPaginationToken", "another region"},
		{"DescribeInstanceStatus", func() error {
			_, err := east.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{MaxResults: aws.Int32(5), NextToken: tok})
			return err
		}, "InvalidPaginationToken", "continues a listing of EC2 DescribeInstances"},
		{"DescribeSubnets", func() error {
			_, err := east.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{MaxResults: aws.Int32(5), NextToken: tok})
			return err
		}, "InvalidPaginationToken", "continues a listing of EC2 DescribeInstances"},
		{"DescribeSpotInstanceRequests", func() error {
			_, err := east.DescribeSpotInstanceRequests(ctx, &ec2.DescribeSpotInstanceRequestsInput{MaxResults: aws.Int32(5), NextToken: tok})
			return err
		}, "InvalidPaginationToken", "continues a listing of EC2 DescribeInstances"},
		{"ECS given EC2's token", func() error {
			r := ecs.CreateDescribeInstancesRequest()
			r.RegionId = "cn-hangzhou"
			r.MaxResults = requests.NewInteger(5)
			r.NextToken = *tok
			_, err := ali.DescribeInstances(r)
			return err
		}, "InvalidParameter", "continues a listing of EC2 DescribeInstances"},
		{"EC2 given ECS's token", func() error {
			_, err := east.DescribeInstances(ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5), NextToken: aws.String(aliFirst.NextToken)})
			return err
		}, "InvalidPaginationToken", "continues a listing of ECS DescribeInstances"},
		{"ECS other tags", func() error {
			r := ecs.CreateDescribeInstancesRequest()
			r.RegionId = "cn-hangzhou"
			r.MaxResults = requests.NewInteger(5)
			r.NextToken = aliFirst.NextToken
			r.Tag = &[]ecs.DescribeInstancesTag{{Key: "spillway:cluster", Value: "lab"}}
			_, err := ali.DescribeInstances(r)
			return err
		}, "InvalidParameter", "other filters, ids or tags"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if code := apiCode(err) + ecsCode(err); code != tc.wantCode || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("got %v; want %s saying %q", err, tc.wantCode, tc.wantMsg)
			}
		})
	}

	// The same listing goes on, whatever the page size: every one of the
	// 12 once.
	seen := map[string]int{}
	count := func(out *ec2.DescribeInstancesOutput) {
		for _, r := range out.Reservations {
			for _, in := range r.Instances {
				seen[aws.ToString(in.InstanceId)]++
			}
		}
	}
	count(first)
	for size := int32(6); tok != nil; size++ {
		out, err := east.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: lab, MaxResults: aws.Int32(size), NextToken: tok})
		if err != nil {
			t.Fatalf("next page of %d: %v", size, err)
		}
		count(out)
		tok = out.NextToken
	}
	if len(seen) != 12 {
		t.Errorf("EC2 paging listed %d instances, want 12", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s listed %d times", id, n)
		}
	}

	// ECS: PageNumber and PageSize beside a NextToken do nothing.
	aliSeen := map[string]bool{}
	for _, in := range aliFirst.Instances.Instance {
		aliSeen[in.InstanceId] = true
	}
	for next := aliFirst.NextToken; next != ""; {
		resp := ecsDescribe(t, ali, func(r *ecs.DescribeInstancesRequest) {
			r.MaxResults = requests.NewInteger(5)
			r.NextToken = next
			r.PageNumber = requests.NewInteger(7)
			r.PageSize = requests.NewInteger(1)
		})
		for _, in := range resp.Instances.Instance {
			aliSeen[in.InstanceId] = true
		}
		next = resp.NextToken
	}
	if len(aliSeen) != 12 {
		t.Errorf("ECS paging listed %d instances, want 12", len(aliSeen))
	}
}

// TestEmptyPagingParameters: a paging parameter given with no value is no
// number, and is refused naming it and its range, where it was taken for
// one left out (the whole listing answered at once).
func TestEmptyPagingParameters(t *testing.T) {
	ec2URL, ecsURL, call := serveForms(t, emulator.New(emulator.Options{}))
	for _, tc := range []struct {
		name, url, action, param, wantCode, wantMsg string
	}{
		{"EC2 DescribeInstances", ec2URL, "DescribeInstances", "MaxResults", "InvalidParameterValue", "Value (  ) for parameter maxResults is invalid. Expecting a value between 5 and 1000."},
		{"EC2 DescribeInstanceStatus", ec2URL, "DescribeInstanceStatus", "MaxResults", "InvalidParameterValue", "between 5 and 1000"},
		{"EC2 DescribeSubnets", ec2URL, "DescribeSubnets", "MaxResults", "InvalidParameterValue", "between 5 and 1000"},
		{"EC2 DescribeSpotInstanceRequests", ec2URL, "DescribeSpotInstanceRequests", "MaxResults", "InvalidParameterValue", "between 5 and 1000"},
		{"ECS MaxResults", ecsURL, "DescribeInstances", "MaxResults", "InvalidParameter", "an integer from 1 to 100"},
		{"ECS PageSize", ecsURL, "DescribeInstances", "PageSize", "InvalidParameter", "an integer from 1 to 100"},
		{"ECS PageNumber", ecsURL, "DescribeInstances", "PageNumber", "InvalidParameter", "an integer from 1 to 2147483647"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := ec2Form("Action", tc.action)
			if tc.url == ecsURL {
				form = ecsForm("Action", tc.action)
			}
			form.Set(tc.param, "")
			status, code, body := call(tc.url, form)
			if status != 400 || code != tc.wantCode || !strings.Contains(strings.ToLower(body), strings.ToLower(tc.param)) || !strings.Contains(body, tc.wantMsg) {
				t.Errorf("%s=: %d %s %s; want 400 %s saying %q", tc.param, status, code, body, tc.wantCode, tc.wantMsg)
			}
		})
	}
}
