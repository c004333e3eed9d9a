package aws

import (
	"context"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/providers"
)

// sloppyEC2 ignores filters and pages its instances two at a time, as a
// misbehaving endpoint might.
type sloppyEC2 struct {
	ec2API
	instances []types.Instance
	calls     int
}

func (s *sloppyEC2) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	s.calls++
	start := 0
	if in.NextToken != nil {
		start = int((*in.NextToken)[0] - '0')
	}
	end := min(start+2, len(s.instances))
	out := &ec2.DescribeInstancesOutput{Reservations: []types.Reservation{{Instances: s.instances[start:end]}}}
	if end < len(s.instances) {
		out.NextToken = awssdk.String(string(rune('0' + end)))
	}
	return out, nil
}

func inst(id, cluster, pool string, st types.InstanceStateName) types.Instance {
	i := types.Instance{InstanceId: awssdk.String(id), State: &types.InstanceState{Name: st}, InstanceType: "p5.48xlarge"}
	if cluster != "" {
		i.Tags = append(i.Tags, types.Tag{Key: awssdk.String(providers.TagCluster), Value: awssdk.String(cluster)})
	}
	if pool != "" {
		i.Tags = append(i.Tags, types.Tag{Key: awssdk.String(providers.TagPool), Value: awssdk.String(pool)})
	}
	return i
}

// TestListNeverReturnsStrangers: even if the endpoint ignored the tag
// filters, List returns only the cluster's (and pool's) live instances,
// across every page.
func TestListNeverReturnsStrangers(t *testing.T) {
	fake := &sloppyEC2{instances: []types.Instance{
		inst("i-ours1", "c1", "gpu", types.InstanceStateNameRunning),
		inst("i-foreign", "", "", types.InstanceStateNameRunning),
		inst("i-other-cluster", "c2", "gpu", types.InstanceStateNameRunning),
		inst("i-ours-gone", "c1", "gpu", types.InstanceStateNameTerminated),
		inst("i-ours-otherpool", "c1", "cpu", types.InstanceStateNamePending),
		inst("i-ours2", "c1", "gpu", types.InstanceStateNameShuttingDown),
	}}
	cfg := config.ProviderConfig{Region: "us-east-1", Subnets: []config.Subnet{{Zone: "us-east-1a", ID: "subnet-1"}}, Image: "ami-1"}
	p, err := New(context.Background(), cfg, "aws", withClient(fake))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	tests := []struct {
		filter providers.ListFilter
		want   []string
	}{
		{providers.ListFilter{Cluster: "c1"}, []string{"i-ours1", "i-ours-otherpool", "i-ours2"}},
		{providers.ListFilter{Cluster: "c1", Pool: "gpu"}, []string{"i-ours1", "i-ours2"}},
	}
	for _, tt := range tests {
		fake.calls = 0
		got, err := p.List(context.Background(), tt.filter)
		if err != nil {
			t.Fatalf("List(%+v): %v", tt.filter, err)
		}
		var ids []string
		for _, i := range got {
			ids = append(ids, i.ID)
		}
		if len(ids) != len(tt.want) {
			t.Fatalf("List(%+v) = %v, want %v", tt.filter, ids, tt.want)
		}
		for i := range ids {
			if ids[i] != tt.want[i] {
				t.Errorf("List(%+v) = %v, want %v", tt.filter, ids, tt.want)
				break
			}
		}
		if fake.calls != 3 {
			t.Errorf("List read %d pages, want all 3", fake.calls)
		}
	}
}
