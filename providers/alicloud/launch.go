package alicloud

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
)

const (
	// maxAmount is the most instances one RunInstances call creates.
	maxAmount = 100
	// maxClientToken is ECS's limit on ClientToken, in ASCII characters.
	maxClientToken = 64
	// maxUserData is ECS's limit on user data after base64 encoding.
	maxUserData = 32 * 1024
	// maxTags is ECS's limit on tags per instance.
	maxTags = 20
)

// ECS values for the launch's billing and market.
const (
	chargePostPaid   = "PostPaid"
	spotNone         = "NoSpot"
	spotAsPriceGo    = "SpotAsPriceGo"
	spotTerminate    = "Terminate"
	spotPriceLimited = "SpotWithPriceLimit"
)

// Launch starts up to req.Count instances of req.Offering, at least
// req.MinCount (zero means Count), trying the configured vSwitches in order
// (only those in req.Offering.Zone when it is set). A stock-out in one
// vSwitch moves on to the next in the same call; once at least MinCount
// instances run, the rest of Count is still sought in later vSwitches.
//
// Each RunInstances call carries a ClientToken derived from req.ClientToken,
// the vSwitch and the number of instances already obtained, so repeating a
// Launch repeats the same calls and ECS answers them with the same
// instances. With several vSwitches, Launch first looks for instances
// already tagged with the request's intent and resumes at the vSwitch that
// holds them, so a retry cannot land in a zone that was out of stock the
// first time and launch twice. ECS may not list new instances for some
// seconds, so the vSwitches where this provider's own earlier tries
// created instances or lost their answer (providers.LaunchAttempts) count
// as holding them too.
//
// Errors: *providers.InvalidError for a bad request (before any call),
// *providers.CapacityError when fewer than MinCount could be had in every
// vSwitch (instances obtained on the way are deleted), and otherwise the
// typed error of the ECS answer that stopped it (see stopEarly for what
// happens to instances obtained before it).
//
// Only a launch of more than 100 instances can get fewer than MinCount and
// still have created some (each call is all-or-nothing down to its
// MinAmount). A later Launch with the same client token after such a
// launch was abandoned replays its calls, and ECS answers them with the
// deleted instances' ids; callers use a fresh token for a new attempt.
func (p *Provider) Launch(ctx context.Context, req providers.LaunchRequest) ([]providers.Instance, error) {
	minCount := req.MinCount
	if minCount == 0 {
		minCount = req.Count
	}
	if err := p.validateLaunch(req, minCount); err != nil {
		return nil, &providers.InvalidError{Provider: p.name, Code: "InvalidLaunchRequest", Err: err}
	}
	vsws := p.vSwitchesFor(req.Offering.Zone)
	if len(vsws) == 0 {
		zones := make([]string, 0, len(p.cfg.Subnets))
		for _, s := range p.cfg.Subnets {
			zones = append(zones, s.Zone)
		}
		return nil, &providers.InvalidError{Provider: p.name, Code: "InvalidLaunchRequest",
			Err: fmt.Errorf("offering %q asks for zone %q but provider %q has no vSwitch there; its vSwitches are in %s",
				req.Offering.Name, req.Offering.Zone, p.name, strings.Join(zones, ", "))}
	}
	tags := p.launchTags(req)
	intent := tags[providers.TagIntent]

	if len(vsws) > 1 {
		// ECS may not list instances for some seconds after it created
		// them: the vSwitches this provider's earlier tries reached count
		// as well as the ones the listing shows.
		start := attemptedAt(vsws, p.attempts.Where(req.ClientToken))
		if p.opts.intentLookup {
			prior, err := p.listRaw(ctx, map[string]string{providers.TagIntent: intent})
			if err != nil {
				return nil, fmt.Errorf("looking for instances of intent %q before launching: %w", intent, err)
			}
			if len(prior) > 0 {
				start = min(start, resumeAt(vsws, prior))
			}
		}
		if start > 0 && start < len(vsws) {
			p.opts.logger.InfoContext(ctx, "resuming an earlier launch", "intent", intent, "vswitch", vsws[start].ID)
			vsws = vsws[start:]
		}
	}

	var (
		got     []providers.Instance
		capErrs []error
		last    *providers.CapacityError
	)
	for _, vsw := range vsws {
		for len(got) < req.Count {
			amount := min(req.Count-len(got), maxAmount)
			minAmount := min(max(minCount-len(got), 1), amount)
			token := vSwitchToken(req.ClientToken, vsw.ID, len(got))
			ids, err := p.runInstances(ctx, req, vsw, tags, amount, minAmount, token)
			if err != nil {
				err = p.withRetryAfter(classify(errContext{provider: p.name, region: p.region, zone: vsw.Zone, instanceType: req.Offering.InstanceType}, err))
			}
			if !providers.IsCapacity(err) {
				// It created instances, or may have: a retry resumes here.
				p.attempts.Note(req.ClientToken, vsw.ID)
			}
			if err != nil {
				var ce *providers.CapacityError
				if !errors.As(err, &ce) {
					err = fmt.Errorf("launching %d×%s in %s (vSwitch %s): %w", amount, req.Offering.InstanceType, vsw.Zone, vsw.ID, err)
					return p.stopEarly(ctx, got, minCount, err)
				}
				p.opts.logger.InfoContext(ctx, "no stock in vSwitch", "zone", vsw.Zone, "vswitch", vsw.ID, "instance_type", req.Offering.InstanceType, "code", ce.Code)
				capErrs = append(capErrs, err)
				last = ce
				break
			}
			for _, id := range ids {
				got = append(got, p.launched(id, req, vsw, tags))
			}
			if len(ids) < amount {
				break // this zone ran out part way: ask the next vSwitch
			}
		}
		if len(got) >= req.Count {
			break
		}
	}
	if len(got) >= minCount {
		return got, nil
	}
	code := "OperationDenied.NoStock" // ECS answered fewer than MinAmount without an error
	if last != nil {
		code = last.Code
	}
	err := &providers.CapacityError{Provider: p.name, Region: p.region, Zone: req.Offering.Zone, InstanceType: req.Offering.InstanceType, Code: code,
		Err: fmt.Errorf("got %d of at least %d instances from %d vSwitch(es): %w", len(got), minCount, len(vsws), errors.Join(capErrs...))}
	if len(vsws) == 1 {
		err.Zone = vsws[0].Zone
	}
	return nil, p.abandon(ctx, got, err)
}

// stopEarly ends a launch that hit an error other than a stock-out after
// obtaining got. Enough instances are a success (the rest of Count is not
// to be had now). Too few after a throttling or transient error are kept
// and the error returned: the caller retries with the same client token,
// whose calls ECS answers with these same instances. Too few after a quota
// or invalid-request error, which a retry will not cure, are deleted.
func (p *Provider) stopEarly(ctx context.Context, got []providers.Instance, minCount int, err error) ([]providers.Instance, error) {
	if len(got) > 0 && len(got) >= minCount {
		p.opts.logger.WarnContext(ctx, "launch stopped short of its count", "got", len(got), "error", err)
		return got, nil
	}
	if providers.IsThrottled(err) || providers.IsTransient(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil, err
	}
	return nil, p.abandon(ctx, got, err)
}

// abandon deletes instances launched before a failure that leaves fewer
// than the caller accepts, so nothing is left untracked; err is returned
// (with the cleanup failure, if any).
func (p *Provider) abandon(ctx context.Context, got []providers.Instance, err error) error {
	if len(got) == 0 {
		return err
	}
	ids := make([]string, len(got))
	for i, in := range got {
		ids[i] = in.ID
	}
	if terr := p.Terminate(context.WithoutCancel(ctx), ids); terr != nil {
		return fmt.Errorf("%w; deleting the %d instances launched before it also failed: %w", err, len(ids), terr)
	}
	return err
}

// attemptedAt is the index of the first of vsws that where names (the
// vSwitches an earlier try of the launch reached), len(vsws) when none.
func attemptedAt(vsws []config.Subnet, where []string) int {
	for i, v := range vsws {
		if slices.Contains(where, v.ID) {
			return i
		}
	}
	return len(vsws)
}

// resumeAt is the index of the first vSwitch holding an instance of an
// earlier attempt of the same intent (0 when there is none). The launch
// resumes there: that attempt's calls are repeated with their client
// tokens, so ECS answers them with the same instances (or with
// IdempotentParameterMismatch when the parameters changed), and the
// vSwitches before it, which were out of stock then, are not asked again.
func resumeAt(vsws []config.Subnet, prior []ecs.Instance) int {
	if len(prior) == 0 {
		return 0
	}
	byID, byZone := map[string]bool{}, map[string]bool{}
	for _, in := range prior {
		if in.VpcAttributes.VSwitchId != "" {
			byID[in.VpcAttributes.VSwitchId] = true
		} else {
			byZone[in.ZoneId] = true
		}
	}
	for i, v := range vsws {
		if byID[v.ID] || byZone[v.Zone] {
			return i
		}
	}
	return 0
}

func (p *Provider) validateLaunch(req providers.LaunchRequest, minCount int) error {
	var problems []string
	if req.Count < 1 {
		problems = append(problems, fmt.Sprintf("count is %d, want at least 1", req.Count))
	}
	if minCount < 0 || minCount > req.Count {
		problems = append(problems, fmt.Sprintf("min count is %d, want 0..%d (the count)", req.MinCount, req.Count))
	}
	if req.ClientToken == "" || len(req.ClientToken) > maxClientToken || !printableASCII(req.ClientToken) {
		problems = append(problems, fmt.Sprintf("client token %q must be 1..%d printable ASCII characters", req.ClientToken, maxClientToken))
	}
	if req.Offering.InstanceType == "" {
		problems = append(problems, "offering has no instance type")
	}
	if req.Offering.Region != "" && req.Offering.Region != p.region {
		problems = append(problems, fmt.Sprintf("offering region %q differs from provider %q's region %q", req.Offering.Region, p.name, p.region))
	}
	switch req.Offering.Market {
	case "", policy.MarketOnDemand, policy.MarketSpot:
	default:
		problems = append(problems, fmt.Sprintf("market %q, want %q or %q", req.Offering.Market, policy.MarketOnDemand, policy.MarketSpot))
	}
	if n := base64.StdEncoding.EncodedLen(len(req.UserData)); n > maxUserData {
		problems = append(problems, fmt.Sprintf("user data is %d bytes once base64-encoded, ECS accepts at most %d", n, maxUserData))
	}
	if n := len(p.launchTags(req)); n > maxTags {
		problems = append(problems, fmt.Sprintf("%d tags, ECS accepts at most %d per instance", n, maxTags))
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "; "))
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// vSwitchesFor is the configured vSwitches, in order, restricted to zone
// when it is set.
func (p *Provider) vSwitchesFor(zone string) []config.Subnet {
	if zone == "" {
		return p.cfg.Subnets
	}
	var out []config.Subnet
	for _, s := range p.cfg.Subnets {
		if s.Zone == zone {
			out = append(out, s)
		}
	}
	return out
}

// launchTags is the request's tags with the intent tag set (to the client
// token when the caller named no intent).
func (p *Provider) launchTags(req providers.LaunchRequest) map[string]string {
	tags := make(map[string]string, len(req.Tags)+1)
	for k, v := range req.Tags {
		tags[k] = v
	}
	if tags[providers.TagIntent] == "" {
		tags[providers.TagIntent] = req.ClientToken
	}
	return tags
}

// vSwitchToken derives the ClientToken of one RunInstances call from the
// launch's token, the vSwitch and how many instances were already obtained:
// deterministic, so a repeated Launch repeats each call's token, and
// at most 64 ASCII characters.
func vSwitchToken(token, vSwitchID string, offset int) string {
	sum := sha256.Sum256([]byte(token + "\x00" + vSwitchID + "\x00" + fmt.Sprint(offset)))
	suffix := "-" + hex.EncodeToString(sum[:])[:10]
	if len(token)+len(suffix) <= maxClientToken {
		return token + suffix
	}
	return "spw-" + hex.EncodeToString(sum[:])[:maxClientToken-4]
}

func (p *Provider) runInstances(ctx context.Context, req providers.LaunchRequest, vsw config.Subnet, tags map[string]string, amount, minAmount int, token string) ([]string, error) {
	r := ecs.CreateRunInstancesRequest()
	r.RegionId = p.region
	r.ZoneId = vsw.Zone
	r.VSwitchId = vsw.ID
	r.InstanceType = req.Offering.InstanceType
	r.Amount = requests.NewInteger(amount)
	r.MinAmount = requests.NewInteger(minAmount)
	r.ClientToken = token
	r.InstanceChargeType = chargePostPaid
	if req.Offering.Market == policy.MarketSpot {
		r.SpotStrategy = spotAsPriceGo
		r.SpotInterruptionBehavior = spotTerminate
	} else {
		r.SpotStrategy = spotNone
	}
	if p.cfg.Image != "" {
		r.ImageId = p.cfg.Image
	}
	if lt := p.cfg.LaunchTemplate; lt != "" {
		if strings.HasPrefix(lt, "lt-") {
			r.LaunchTemplateId = lt
		} else {
			r.LaunchTemplateName = lt
		}
	}
	switch len(p.cfg.SecurityGroups) {
	case 0:
	case 1:
		r.SecurityGroupId = p.cfg.SecurityGroups[0]
	default:
		sgs := append([]string(nil), p.cfg.SecurityGroups...)
		r.SecurityGroupIds = &sgs
	}
	if req.UserData != "" {
		r.UserData = base64.StdEncoding.EncodeToString([]byte(req.UserData))
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same parameters on every try, for idempotency
	rt := make([]ecs.RunInstancesTag, 0, len(keys))
	for _, k := range keys {
		rt = append(rt, ecs.RunInstancesTag{Key: k, Value: tags[k]})
	}
	r.Tag = &rt

	var ids []string
	err := p.call(ctx, ActionRunInstances, func(c ecsAPI) error {
		resp, err := c.RunInstances(r)
		if err != nil {
			return err
		}
		ids = resp.InstanceIdSets.InstanceIdSet
		return nil
	})
	if err != nil {
		return nil, err
	}
	p.recent.Add(ids...)
	p.opts.logger.InfoContext(ctx, "launched", "zone", vsw.Zone, "vswitch", vsw.ID, "instance_type", req.Offering.InstanceType, "asked", amount, "min", minAmount, "got", len(ids))
	return ids, nil
}

// launched is what Launch knows of a new instance without describing it.
func (p *Provider) launched(id string, req providers.LaunchRequest, vsw config.Subnet, tags map[string]string) providers.Instance {
	market := req.Offering.Market
	if market == "" {
		market = policy.MarketOnDemand
	}
	t := make(map[string]string, len(tags))
	for k, v := range tags {
		t[k] = v
	}
	return providers.Instance{
		ID: id, Provider: p.name, Region: p.region, Zone: vsw.Zone,
		InstanceType: req.Offering.InstanceType, Market: market,
		State: providers.StatePending, LaunchTime: p.opts.clock.Now(), Tags: t,
	}
}
