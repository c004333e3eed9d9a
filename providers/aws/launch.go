package aws

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
)

// maxClientToken is EC2's limit on ClientToken's length.
const maxClientToken = 64

// Launch starts between req.MinCount and req.Count instances of
// req.Offering. It tries the configured subnets of the offering's zone (all
// of them, in order, when the offering names no zone) and moves to the next
// subnet only on a capacity error; any other error ends the launch. A
// partial launch (fewer than Count, at least MinCount, as EC2 decides) is
// returned as it is; the remainder is the next tick's decision.
//
// Each subnet attempt uses its own client token derived from
// req.ClientToken and the subnet's position in the config, so a retry of
// the same request reaches the same subnet with the same token. Before
// walking several subnets, Launch looks (DescribeInstances, client-token
// filter) for instances an earlier try of the request launched in any of
// them, and replays RunInstances in that subnet: a retried request whose
// first try landed in a later subnet must not launch again in an earlier
// one whose stock has come back, and EC2 still answers
// IdempotentParameterMismatch when the parameters differ. EC2 may not list
// instances for some seconds after it launched them, so the subnet where
// this provider's own earlier try succeeded or lost its answer is
// remembered (providers.LaunchAttempts) and replayed first.
func (p *Provider) Launch(ctx context.Context, req providers.LaunchRequest) ([]providers.Instance, error) {
	if err := p.validateLaunch(req); err != nil {
		return nil, err
	}
	subnets := p.subnetsFor(req.Offering)
	if len(subnets) == 0 {
		return nil, &providers.InvalidError{Provider: p.name, Code: "NoSubnet", Err: fmt.Errorf(
			"offering %q wants zone %q, but provider %q has subnets only in %s",
			offeringName(req.Offering), req.Offering.Zone, p.name, strings.Join(zonesOf(p.cfg.Subnets), ", "))}
	}
	if len(subnets) > 1 {
		if s, found := p.attemptedIn(req.ClientToken, subnets); found {
			// An earlier try from this process may have launched there,
			// which EC2 may not list yet (eventual consistency): replay it
			// first. A stock-out there means it launched nothing.
			p.logger.DebugContext(ctx, "replaying an earlier attempt", "token", req.ClientToken, "subnet", s.ID)
			insts, err := p.runIn(ctx, req, s)
			if !providers.IsCapacity(err) {
				return insts, err
			}
		}
		if s, found, err := p.priorLaunch(ctx, req.ClientToken, subnets); err != nil {
			return nil, err
		} else if found {
			// Replay the launch where it happened: EC2 returns the same
			// instances, or IdempotentParameterMismatch if this request
			// differs from the one that launched them.
			p.logger.DebugContext(ctx, "replaying an earlier launch", "token", req.ClientToken, "subnet", s.ID)
			return p.runIn(ctx, req, s)
		}
	}

	var capErrs []error
	for _, s := range subnets {
		insts, err := p.runIn(ctx, req, s)
		if err == nil {
			return insts, nil
		}
		if !providers.IsCapacity(err) {
			return nil, err
		}
		p.logger.DebugContext(ctx, "no capacity, trying the next subnet", "subnet", s.ID, "zone", s.Zone, "type", req.Offering.InstanceType, "error", err)
		capErrs = append(capErrs, err)
	}
	if len(capErrs) == 1 {
		return nil, capErrs[0]
	}
	var last *providers.CapacityError
	errors.As(capErrs[len(capErrs)-1], &last)
	return nil, &providers.CapacityError{
		Provider: p.name, Region: p.cfg.Region, Zone: req.Offering.Zone, InstanceType: req.Offering.InstanceType,
		Code: last.Code,
		Err:  fmt.Errorf("every subnet tried (%d) is out of capacity: %w", len(capErrs), errors.Join(capErrs...)),
	}
}

// attemptedIn is the subnet where this provider's last call with token may
// have launched instances, when one of subnets.
func (p *Provider) attemptedIn(token string, subnets []indexedSubnet) (indexedSubnet, bool) {
	where := p.attempts.Where(token)
	for i := len(where) - 1; i >= 0; i-- {
		for _, s := range subnets {
			if s.ID == where[i] {
				return s, true
			}
		}
	}
	return indexedSubnet{}, false
}

// priorLaunch finds the subnet in which an earlier launch with token
// created instances, if any did.
func (p *Provider) priorLaunch(ctx context.Context, token string, subnets []indexedSubnet) (indexedSubnet, bool, error) {
	bySubnetToken := make(map[string]indexedSubnet, len(subnets))
	tokens := make([]string, 0, len(subnets))
	for _, s := range subnets {
		t := attemptToken(token, s.index)
		bySubnetToken[t] = s
		tokens = append(tokens, t)
	}
	prior, err := p.describeRaw(ctx, &ec2.DescribeInstancesInput{
		Filters:    []types.Filter{{Name: awssdk.String("client-token"), Values: tokens}},
		MaxResults: awssdk.Int32(p.opts.PageSize),
	})
	if err != nil {
		return indexedSubnet{}, false, fmt.Errorf("looking for earlier launches of client token %q: %w", token, err)
	}
	for _, i := range prior {
		if s, ok := bySubnetToken[awssdk.ToString(i.ClientToken)]; ok {
			return s, true, nil
		}
	}
	return indexedSubnet{}, false, nil
}

// runIn makes one RunInstances call into one subnet.
func (p *Provider) runIn(ctx context.Context, req providers.LaunchRequest, s indexedSubnet) ([]providers.Instance, error) {
	count, minCount := req.Count, req.MinCount
	if minCount == 0 {
		minCount = count
	}
	in := &ec2.RunInstancesInput{
		MinCount:          awssdk.Int32(int32(minCount)),
		MaxCount:          awssdk.Int32(int32(count)),
		ClientToken:       awssdk.String(attemptToken(req.ClientToken, s.index)),
		InstanceType:      types.InstanceType(req.Offering.InstanceType),
		SubnetId:          awssdk.String(s.ID),
		TagSpecifications: tagSpecifications(req.Tags),
	}
	if lt := p.cfg.LaunchTemplate; lt != "" {
		in.LaunchTemplate = launchTemplate(lt)
	}
	if p.cfg.Image != "" {
		in.ImageId = awssdk.String(p.cfg.Image)
	}
	if len(p.cfg.SecurityGroups) > 0 {
		in.SecurityGroupIds = p.cfg.SecurityGroups
	}
	if req.UserData != "" {
		in.UserData = awssdk.String(base64.StdEncoding.EncodeToString([]byte(req.UserData)))
	}
	if req.Offering.Market == policy.MarketSpot {
		in.InstanceMarketOptions = &types.InstanceMarketOptionsRequest{
			MarketType: types.MarketTypeSpot,
			SpotOptions: &types.SpotMarketOptions{
				SpotInstanceType:             types.SpotInstanceTypeOneTime,
				InstanceInterruptionBehavior: types.InstanceInterruptionBehaviorTerminate,
			},
		}
	}
	if err := p.pacer.Wait(ctx, bucketInstancesLaunched, count); err != nil {
		return nil, &providers.TransientError{Provider: p.name, Code: "Paced", Err: err}
	}
	out, err := p.client.RunInstances(ctx, in)
	err = p.classify(err, s.Zone, req.Offering.InstanceType)
	if !providers.IsCapacity(err) {
		// It launched, or may have: a retry of the request replays it here.
		p.attempts.Note(req.ClientToken, s.ID)
	}
	if err != nil {
		return nil, err
	}
	p.logger.DebugContext(ctx, "launched", "subnet", s.ID, "zone", s.Zone, "type", req.Offering.InstanceType, "count", len(out.Instances), "token", awssdk.ToString(in.ClientToken))
	insts := make([]providers.Instance, 0, len(out.Instances))
	for _, i := range out.Instances {
		insts = append(insts, p.convert(i))
		p.launched.Add(awssdk.ToString(i.InstanceId))
	}
	return insts, nil
}

func (p *Provider) validateLaunch(req providers.LaunchRequest) error {
	var problems []string
	if req.Offering.InstanceType == "" {
		problems = append(problems, "the offering names no instance type")
	}
	if req.Offering.Provider != "" && req.Offering.Provider != p.name {
		problems = append(problems, fmt.Sprintf("the offering belongs to provider %q, not %q", req.Offering.Provider, p.name))
	}
	if req.Offering.Region != "" && req.Offering.Region != p.cfg.Region {
		problems = append(problems, fmt.Sprintf("the offering is in region %q, this provider in %q", req.Offering.Region, p.cfg.Region))
	}
	switch req.Offering.Market {
	case "", policy.MarketOnDemand, policy.MarketSpot:
	default:
		problems = append(problems, fmt.Sprintf("market %q is neither %q nor %q", req.Offering.Market, policy.MarketOnDemand, policy.MarketSpot))
	}
	if req.Count < 1 {
		problems = append(problems, fmt.Sprintf("count %d is below 1", req.Count))
	}
	if req.MinCount < 0 || req.MinCount > req.Count {
		problems = append(problems, fmt.Sprintf("min count %d is outside 0..%d (0 means all)", req.MinCount, req.Count))
	}
	if req.ClientToken == "" {
		problems = append(problems, "the client token is empty; launches must be idempotent")
	}
	if req.Tags[providers.TagCluster] == "" {
		problems = append(problems, fmt.Sprintf("tag %s is missing; an instance without it could never be found again", providers.TagCluster))
	}
	if len(problems) == 0 {
		return nil
	}
	return &providers.InvalidError{Provider: p.name, Code: "InvalidLaunchRequest", Err: fmt.Errorf(
		"launch of %d × %s (token %q): %s", req.Count, req.Offering.InstanceType, req.ClientToken, strings.Join(problems, "; "))}
}

// attemptToken derives the client token of the attempt in the subnet at
// index from the request's token: token-index when that fits EC2's 64
// characters, otherwise a SHA-256 of the token (hex, 40 characters) and the
// index. It is deterministic, so a retry reuses it.
func attemptToken(token string, index int) string {
	suffix := "-" + strconv.Itoa(index)
	if len(token)+len(suffix) <= maxClientToken {
		return token + suffix
	}
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])[:40] + suffix
}

// tagSpecifications tags the instances and their volumes, keys sorted so
// that a retried request carries identical parameters.
func tagSpecifications(tags map[string]string) []types.TagSpecification {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	list := make([]types.Tag, 0, len(keys))
	for _, k := range keys {
		list = append(list, types.Tag{Key: awssdk.String(k), Value: awssdk.String(tags[k])})
	}
	return []types.TagSpecification{
		{ResourceType: types.ResourceTypeInstance, Tags: list},
		{ResourceType: types.ResourceTypeVolume, Tags: list},
	}
}

// launchTemplate reads the config's launch_template: "lt-…" is an id,
// anything else a name; a ":version" suffix picks a version ($Default
// otherwise).
func launchTemplate(s string) *types.LaunchTemplateSpecification {
	spec := &types.LaunchTemplateSpecification{Version: awssdk.String("$Default")}
	if name, version, ok := strings.Cut(s, ":"); ok && version != "" {
		s, spec.Version = name, awssdk.String(version)
	}
	if strings.HasPrefix(s, "lt-") {
		spec.LaunchTemplateId = awssdk.String(s)
	} else {
		spec.LaunchTemplateName = awssdk.String(s)
	}
	return spec
}

func offeringName(o policy.Offering) string {
	if o.Name != "" {
		return o.Name
	}
	return strings.Join([]string{o.Provider, o.Region, o.Zone, o.InstanceType, string(o.Market)}, "/")
}
