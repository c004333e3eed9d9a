package aws

import (
	"context"
	"fmt"
	"slices"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
)

// maxFilterValues is how many values EC2 accepts in one filter.
const maxFilterValues = 200

// liveStates are every instance state but terminated.
var liveStates = []string{"pending", "running", "shutting-down", "stopping", "stopped"}

// List returns the instances tagged with filter.Cluster (and filter.Pool,
// when set) in any state but terminated, through DescribeInstances
// pagination. An empty cluster is an *InvalidError: it would list every
// instance in the account.
func (p *Provider) List(ctx context.Context, filter providers.ListFilter) ([]providers.Instance, error) {
	if filter.Cluster == "" {
		return nil, &providers.InvalidError{Provider: p.name, Code: "InvalidFilter", Err: fmt.Errorf(
			"list with an empty cluster would match instances that are not Spillway's; name the cluster (spillway.yaml's cluster)")}
	}
	filters := []types.Filter{
		{Name: awssdk.String("tag:" + providers.TagCluster), Values: []string{filter.Cluster}},
		{Name: awssdk.String("instance-state-name"), Values: liveStates},
	}
	if filter.Pool != "" {
		filters = append(filters, types.Filter{Name: awssdk.String("tag:" + providers.TagPool), Values: []string{filter.Pool}})
	}
	insts, err := p.describe(ctx, &ec2.DescribeInstancesInput{Filters: filters, MaxResults: awssdk.Int32(p.opts.PageSize)})
	if err != nil {
		return nil, fmt.Errorf("listing cluster %q pool %q: %w", filter.Cluster, filter.Pool, err)
	}
	// The filter already did this; checking again costs nothing and keeps a
	// stranger out even if a filter were ever ignored.
	return slices.DeleteFunc(insts, func(i providers.Instance) bool {
		return i.Tags[providers.TagCluster] != filter.Cluster ||
			(filter.Pool != "" && i.Tags[providers.TagPool] != filter.Pool) ||
			i.State == providers.StateTerminated
	}), nil
}

// Describe returns the named instances that exist, terminated ones
// included while EC2 still reports them. It filters by instance-id rather
// than passing InstanceIds, so ids that no longer exist are omitted instead
// of failing the whole call with InvalidInstanceID.NotFound.
func (p *Provider) Describe(ctx context.Context, ids []string) ([]providers.Instance, error) {
	ids = providers.UniqueIDs(ids)
	var out []providers.Instance
	for batch := range slices.Chunk(ids, maxFilterValues) {
		insts, err := p.describe(ctx, &ec2.DescribeInstancesInput{
			Filters:    []types.Filter{{Name: awssdk.String("instance-id"), Values: batch}},
			MaxResults: awssdk.Int32(p.opts.PageSize),
		})
		if err != nil {
			return nil, fmt.Errorf("describing %d instances: %w", len(batch), err)
		}
		out = append(out, insts...)
	}
	return out, nil
}

// describe runs DescribeInstances through every page, then, when spot
// instances are among the results, DescribeSpotInstanceRequests for their
// interruption notices.
func (p *Provider) describe(ctx context.Context, in *ec2.DescribeInstancesInput) ([]providers.Instance, error) {
	raw, err := p.describeRaw(ctx, in)
	if err != nil {
		return nil, err
	}
	notices, err := p.spotNotices(ctx, raw)
	if err != nil {
		return nil, err
	}
	out := make([]providers.Instance, 0, len(raw))
	for _, i := range raw {
		inst := p.convert(i)
		if at, ok := notices[inst.ID]; ok && inst.InterruptionNotice == nil {
			inst.InterruptionNotice = &at
		}
		out = append(out, inst)
	}
	return out, nil
}

// spotNoticeCode is the spot request status EC2 shows during the two-minute
// interruption notice.
const spotNoticeCode = "marked-for-termination"

// spotNotices returns, by instance id, when EC2 announced the interruption
// of each live spot instance among insts that is under notice: its spot
// request's status is marked-for-termination, and the status's update time
// is the notice. It makes no call when insts holds no live spot instance.
func (p *Provider) spotNotices(ctx context.Context, insts []types.Instance) (map[string]time.Time, error) {
	var spot []string
	for _, i := range insts {
		if i.InstanceLifecycle == types.InstanceLifecycleTypeSpot && i.State != nil &&
			i.State.Name != types.InstanceStateNameTerminated && i.InstanceId != nil {
			spot = append(spot, *i.InstanceId)
		}
	}
	if len(spot) == 0 {
		return nil, nil
	}
	out := map[string]time.Time{}
	for batch := range slices.Chunk(spot, maxFilterValues) {
		in := &ec2.DescribeSpotInstanceRequestsInput{
			Filters: []types.Filter{{Name: awssdk.String("instance-id"), Values: batch}},
		}
		var tokens providers.PageTokens
		for more := true; more; {
			page, err := p.client.DescribeSpotInstanceRequests(ctx, in)
			if err == nil {
				more, err = tokens.Next(p.name, "DescribeSpotInstanceRequests", awssdk.ToString(page.NextToken))
				in.NextToken = page.NextToken
			} else {
				err = p.classify(err, "", "")
			}
			if err != nil {
				return nil, fmt.Errorf("reading the spot requests of %d spot instances for interruption notices: %w", len(batch), err)
			}
			for _, r := range page.SpotInstanceRequests {
				if r.Status == nil || awssdk.ToString(r.Status.Code) != spotNoticeCode || r.InstanceId == nil {
					continue
				}
				at := awssdk.ToTime(r.Status.UpdateTime)
				if at.IsZero() {
					at = p.opts.Clock.Now()
				}
				out[*r.InstanceId] = at
			}
		}
	}
	return out, nil
}

// describeRaw runs DescribeInstances through every page and returns EC2's
// instances. A NextToken EC2 answers twice fails the listing with a
// *providers.TransientError (see providers.PageTokens) instead of looping
// until the call's deadline, as the SDK's paginator does by default.
func (p *Provider) describeRaw(ctx context.Context, in *ec2.DescribeInstancesInput) ([]types.Instance, error) {
	var (
		out    []types.Instance
		tokens providers.PageTokens
	)
	in = copyDescribeInput(in)
	for more := true; more; {
		page, err := p.client.DescribeInstances(ctx, in)
		if err != nil {
			return nil, p.classify(err, "", "")
		}
		for _, r := range page.Reservations {
			out = append(out, r.Instances...)
		}
		if more, err = tokens.Next(p.name, "DescribeInstances", awssdk.ToString(page.NextToken)); err != nil {
			return nil, err
		}
		in.NextToken = page.NextToken
	}
	return out, nil
}

// copyDescribeInput is a shallow copy of in, so that paging does not write
// NextToken into the caller's input.
func copyDescribeInput(in *ec2.DescribeInstancesInput) *ec2.DescribeInstancesInput {
	c := *in
	return &c
}

// convert maps an EC2 instance to Spillway's model.
func (p *Provider) convert(i types.Instance) providers.Instance {
	out := providers.Instance{
		ID:           awssdk.ToString(i.InstanceId),
		Provider:     p.name,
		Region:       p.cfg.Region,
		InstanceType: string(i.InstanceType),
		Market:       policy.MarketOnDemand,
		LaunchTime:   awssdk.ToTime(i.LaunchTime),
		PrivateIP:    awssdk.ToString(i.PrivateIpAddress),
		Tags:         make(map[string]string, len(i.Tags)),
	}
	if i.Placement != nil {
		out.Zone = awssdk.ToString(i.Placement.AvailabilityZone)
	}
	if i.InstanceLifecycle == types.InstanceLifecycleTypeSpot {
		out.Market = policy.MarketSpot
	}
	for _, t := range i.Tags {
		out.Tags[awssdk.ToString(t.Key)] = awssdk.ToString(t.Value)
	}
	if i.State != nil {
		out.State = state(i.State.Name)
	}
	if i.StateReason != nil && awssdk.ToString(i.StateReason.Code) == "Server.SpotInstanceTermination" {
		// The reclaim has begun; a notice read from the spot request
		// earlier (see describe) is not overwritten.
		now := p.opts.Clock.Now()
		out.InterruptionNotice = &now
	}
	return out
}

func state(s types.InstanceStateName) providers.State {
	switch s {
	case types.InstanceStateNamePending:
		return providers.StatePending
	case types.InstanceStateNameRunning:
		return providers.StateRunning
	case types.InstanceStateNameShuttingDown:
		return providers.StateShuttingDown
	case types.InstanceStateNameTerminated:
		return providers.StateTerminated
	case types.InstanceStateNameStopping:
		return providers.StateStopping
	case types.InstanceStateNameStopped:
		// Stopped outside Spillway: no longer running, yet billing its
		// volumes until terminated.
		return providers.StateStopped
	}
	return providers.StateUnknown // a state EC2 added later
}
