package emulator_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/spillway-io/spillway/emulator"
)

// DescribeSubnets checks MaxResults as EC2 does (5 to 1000) instead of
// ignoring it, refuses a NextToken it did not hand out, and pages.
func TestEC2DescribeSubnetsPages(t *testing.T) {
	_, c := newEC2(t, emulator.Options{})
	ctx := context.Background()
	cases := []struct {
		name      string
		in        *ec2.DescribeSubnetsInput
		wantCode  string
		wantCount int
	}{
		{"MaxResults 0", &ec2.DescribeSubnetsInput{MaxResults: aws.Int32(0)}, "InvalidParameterValue", 0},
		{"MaxResults -1", &ec2.DescribeSubnetsInput{MaxResults: aws.Int32(-1)}, "InvalidParameterValue", 0},
		{"MaxResults 1e9", &ec2.DescribeSubnetsInput{MaxResults: aws.Int32(1_000_000_000)}, "InvalidParameterValue", 0},
		{"a forged NextToken", &ec2.DescribeSubnetsInput{NextToken: aws.String("forged")}, "InvalidPaginationToken", 0},
		{"MaxResults 5", &ec2.DescribeSubnetsInput{MaxResults: aws.Int32(5)}, "", 3},
		{"no paging", &ec2.DescribeSubnetsInput{}, "", 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.DescribeSubnets(ctx, tc.in)
			if code := apiCode(err); code != tc.wantCode {
				t.Fatalf("DescribeSubnets: %v, want code %q", err, tc.wantCode)
			}
			if err == nil && (len(out.Subnets) != tc.wantCount || out.NextToken != nil) {
				t.Errorf("DescribeSubnets: %d subnets, next token %v; want %d and none", len(out.Subnets), out.NextToken, tc.wantCount)
			}
		})
	}
}
