package alicloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
)

const (
	// pageSize is the most instances one DescribeInstances page holds.
	pageSize = 100
	// maxIDsPerCall is the most instance ids DescribeInstances and
	// DeleteInstances accept in one call.
	maxIDsPerCall = 100
	// lockRecycling is the operation lock ECS sets on a spot instance it
	// is reclaiming.
	lockRecycling = "Recycling"
)

// List returns every instance tagged spillway:cluster=filter.Cluster (and
// spillway:pool=filter.Pool when set), following DescribeInstances pages.
// Instances whose tags do not match are dropped even if ECS returned them.
func (p *Provider) List(ctx context.Context, filter providers.ListFilter) ([]providers.Instance, error) {
	if filter.Cluster == "" {
		return nil, &providers.InvalidError{Provider: p.name, Code: "InvalidListFilter",
			Err: errors.New("list filter has no cluster: Spillway lists only instances tagged with its cluster name")}
	}
	want := map[string]string{providers.TagCluster: filter.Cluster}
	if filter.Pool != "" {
		want[providers.TagPool] = filter.Pool
	}
	return p.list(ctx, want)
}

func (p *Provider) list(ctx context.Context, want map[string]string) ([]providers.Instance, error) {
	raw, err := p.listRaw(ctx, want)
	if err != nil {
		return nil, err
	}
	out := make([]providers.Instance, 0, len(raw))
	for _, in := range raw {
		out = append(out, p.instance(in))
	}
	p.pruneReclaims()
	return out, nil
}

// listRaw pages through DescribeInstances filtered by want's tags and keeps
// the instances that carry every tag of want and are not terminated.
func (p *Provider) listRaw(ctx context.Context, want map[string]string) ([]ecs.Instance, error) {
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tags := make([]ecs.DescribeInstancesTag, 0, len(keys))
	for _, k := range keys {
		tags = append(tags, ecs.DescribeInstancesTag{Key: k, Value: want[k]})
	}
	var (
		out    []ecs.Instance
		next   string
		seen   = map[string]bool{}
		tokens providers.PageTokens
	)
	for page := 1; ; page++ {
		r := ecs.CreateDescribeInstancesRequest()
		r.RegionId = p.region
		r.Tag = &tags
		r.MaxResults = requests.NewInteger(pageSize)
		r.NextToken = next
		var resp *ecs.DescribeInstancesResponse
		err := p.call(ctx, ActionDescribeInstances, func(c ecsAPI) error {
			var err error
			resp, err = c.DescribeInstances(r)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("listing instances tagged %v (page %d): %w", want, page, p.withRetryAfter(classify(errContext{provider: p.name, region: p.region}, err)))
		}
		for _, in := range resp.Instances.Instance {
			if seen[in.InstanceId] || p.stateOf(in) == providers.StateTerminated || !hasTags(tagsOf(in), want) {
				continue
			}
			seen[in.InstanceId] = true
			out = append(out, in)
		}
		more, err := tokens.Next(p.name, ActionDescribeInstances, resp.NextToken)
		if err != nil {
			return nil, fmt.Errorf("listing instances tagged %v (page %d): %w", want, page, err)
		}
		if !more {
			return out, nil
		}
		next = resp.NextToken
	}
}

func hasTags(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// Describe returns the named instances that still exist, each once however
// often it is named, in batches of 100 ids per DescribeInstances call.
func (p *Provider) Describe(ctx context.Context, ids []string) ([]providers.Instance, error) {
	ids = providers.UniqueIDs(ids)
	var out []providers.Instance
	for start := 0; start < len(ids); start += maxIDsPerCall {
		batch := ids[start:min(start+maxIDsPerCall, len(ids))]
		found, err := p.describeBatch(ctx, batch)
		if err != nil {
			return nil, err
		}
		out = append(out, found...)
	}
	return out, nil
}

func (p *Provider) describeBatch(ctx context.Context, ids []string) ([]providers.Instance, error) {
	idsJSON, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	var (
		out    []providers.Instance
		next   string
		tokens providers.PageTokens
	)
	for {
		r := ecs.CreateDescribeInstancesRequest()
		r.RegionId = p.region
		r.InstanceIds = string(idsJSON)
		r.MaxResults = requests.NewInteger(pageSize)
		r.NextToken = next
		var resp *ecs.DescribeInstancesResponse
		err = p.call(ctx, ActionDescribeInstances, func(c ecsAPI) error {
			var err error
			resp, err = c.DescribeInstances(r)
			return err
		})
		if err != nil {
			err = classify(errContext{provider: p.name, region: p.region, ids: ids}, err)
			if providers.IsNotFound(err) {
				return nil, nil // none of them exists any more
			}
			return nil, fmt.Errorf("describing %d instances: %w", len(ids), p.withRetryAfter(err))
		}
		for _, in := range resp.Instances.Instance {
			out = append(out, p.instance(in))
		}
		more, err := tokens.Next(p.name, ActionDescribeInstances, resp.NextToken)
		if err != nil {
			return nil, fmt.Errorf("describing %d instances: %w", len(ids), err)
		}
		if !more {
			return out, nil
		}
		next = resp.NextToken
	}
}

// Terminate deletes the named instances with DeleteInstances Force=true,
// 100 ids per call. Ids that are already gone are not an error: when ECS
// answers InvalidInstanceId.NotFound for a batch, the batch is described
// and only the instances that still exist are deleted again. An id ECS
// does not know that this provider launched less than
// providers.ConsistencyWindow ago is not gone but not yet known (ECS is
// eventually consistent): it is tried again with backoff for up to
// providers.ConsistencyWait, then reported in a *providers.TransientError
// so that the caller deletes it later instead of leaving it running.
// When some batches (or some ids of a batch) ended and others failed,
// Terminate goes on with the remaining batches and returns a
// *providers.TerminateError naming the ids ended and those not.
func (p *Provider) Terminate(ctx context.Context, ids []string) error {
	var (
		errs          []error
		ended, failed []string
	)
	for start := 0; start < len(ids); start += maxIDsPerCall {
		batch := ids[start:min(start+maxIDsPerCall, len(ids))]
		notEnded, err := p.terminateBatch(ctx, batch)
		if err == nil {
			ended = append(ended, batch...)
			continue
		}
		errs = append(errs, err)
		left := make(map[string]bool, len(notEnded))
		for _, id := range notEnded {
			left[id] = true
		}
		for _, id := range batch {
			if left[id] {
				failed = append(failed, id)
			} else {
				ended = append(ended, id)
			}
		}
	}
	err := errors.Join(errs...)
	if err == nil || len(ended) == 0 {
		return err
	}
	return &providers.TerminateError{Provider: p.name, Ended: ended, Failed: failed, Err: err}
}

// terminateBatch deletes ids (at most maxIDsPerCall); on failure it also
// returns those of ids that may not have ended.
func (p *Provider) terminateBatch(ctx context.Context, ids []string) ([]string, error) {
	start, delay := p.opts.clock.Now(), providers.ConsistencyPoll
	for {
		err := p.deleteInstances(ctx, ids)
		if err == nil {
			p.opts.logger.InfoContext(ctx, "deleted", "instances", len(ids))
			p.forgetReclaims(ids)
			p.deleted.Add(ids...)
			p.recent.Ended(ids...)
			return nil, nil
		}
		if !providers.IsNotFound(err) {
			return ids, fmt.Errorf("deleting %d instances %v: %w", len(ids), ids, err)
		}
		// Some of the batch are unknown: gone, or too fresh for ECS to
		// know yet. Delete the ones ECS shows; wait for the fresh ones.
		remaining, derr := p.Describe(ctx, ids)
		if derr != nil {
			return ids, fmt.Errorf("deleting %d instances: some were not found, and describing them failed: %w", len(ids), derr)
		}
		shown := make(map[string]bool, len(remaining))
		var pending []string
		for _, in := range remaining {
			shown[in.ID] = true
			if in.State != providers.StateTerminated {
				pending = append(pending, in.ID)
			}
		}
		var unknown []string
		for _, id := range ids {
			if !shown[id] {
				unknown = append(unknown, id)
			}
		}
		fresh := p.recent.Fresh(unknown)
		if len(pending) > 0 {
			err := p.deleteInstances(ctx, pending)
			switch {
			case err == nil:
				p.opts.logger.InfoContext(ctx, "deleted", "instances", len(pending))
				p.forgetReclaims(pending)
				p.deleted.Add(pending...)
				p.recent.Ended(pending...)
				pending = nil
			case !providers.IsNotFound(err):
				return append(pending, fresh...), fmt.Errorf("deleting %d instances %v: %w", len(pending), pending, err)
			}
			// NotFound for instances ECS just showed: it has not caught up; retry them.
		}
		pending = append(pending, fresh...)
		if len(pending) == 0 {
			return nil, nil // the unknown ids are gone
		}
		if waited := p.opts.clock.Since(start); waited+delay > providers.ConsistencyWait {
			return pending, &providers.TransientError{Provider: p.name, Code: "InvalidInstanceId.NotFound",
				Err: fmt.Errorf("instances %v are still unknown to ECS, or still refused as not found, after %s: too fresh for ECS to know yet (launched by this provider less than %s ago) or inconsistent; delete them again later",
					pending, waited.Round(time.Millisecond), providers.ConsistencyWindow)}
		}
		p.opts.logger.DebugContext(ctx, "delete: instances not yet known to ECS; waiting", "instances", pending, "wait", delay)
		if err := providers.WaitConsistency(ctx, p.opts.clock, delay); err != nil {
			return pending, &providers.TransientError{Provider: p.name, Code: "InvalidInstanceId.NotFound",
				Err: fmt.Errorf("waiting for ECS to know instances %v: %w", pending, err)}
		}
		ids, delay = pending, delay*2
	}
}

func (p *Provider) deleteInstances(ctx context.Context, ids []string) error {
	r := ecs.CreateDeleteInstancesRequest()
	r.RegionId = p.region
	batch := append([]string(nil), ids...)
	r.InstanceId = &batch
	r.Force = requests.NewBoolean(true)
	err := p.call(ctx, ActionDeleteInstances, func(c ecsAPI) error {
		_, err := c.DeleteInstances(r)
		return err
	})
	err = p.withRetryAfter(classify(errContext{provider: p.name, region: p.region, ids: ids}, err))
	if deleteMayHaveRun(err) {
		// The answer was lost (a timeout, a dropped connection, a 5xx):
		// ECS may be releasing them. Remembered as deleted, they read as
		// ending while Stopping, not as stopped by hand, which would have
		// the scheduler call the release it asked for a stop by an
		// operator; Running, they are still deleted again.
		p.deleted.Add(ids...)
	}
	return err
}

// deleteMayHaveRun reports whether a DeleteInstances that returned err may
// have released its instances all the same: every failure but ECS's
// refusals (throttled, invalid, not found, quota), which change nothing.
func deleteMayHaveRun(err error) bool {
	return err != nil && !providers.IsThrottled(err) && !providers.IsInvalid(err) && !providers.IsNotFound(err) &&
		!providers.IsQuota(err) && !providers.IsCapacity(err)
}

// instance converts an ECS instance description.
func (p *Provider) instance(in ecs.Instance) providers.Instance {
	out := providers.Instance{
		ID:           in.InstanceId,
		Provider:     p.name,
		Region:       in.RegionId,
		Zone:         in.ZoneId,
		InstanceType: in.InstanceType,
		Market:       policy.MarketOnDemand,
		State:        p.stateOf(in),
		LaunchTime:   parseECSTime(in.CreationTime),
	}
	if out.Region == "" {
		out.Region = p.region
	}
	switch in.SpotStrategy {
	case spotAsPriceGo, spotPriceLimited:
		out.Market = policy.MarketSpot
	}
	out.Tags = tagsOf(in)
	switch {
	case len(in.VpcAttributes.PrivateIpAddress.IpAddress) > 0:
		out.PrivateIP = in.VpcAttributes.PrivateIpAddress.IpAddress[0]
	case len(in.InnerIpAddress.IpAddress) > 0:
		out.PrivateIP = in.InnerIpAddress.IpAddress[0]
	}
	for _, l := range in.OperationLocks.LockReason {
		if l.LockReason == lockRecycling {
			at := p.reclaimTime(in.InstanceId)
			out.InterruptionNotice = &at
			break
		}
	}
	return out
}

// reclaimMemory is how long the notice of a reclaimed spot instance is
// remembered after a listing or a description last showed the instance:
// ECS releases it itself (without a DeleteInstances from this provider),
// and from then on no listing shows it. It is long beside the release's
// few minutes and a pool's tick, so a notice is never re-dated while its
// instance is still being looked at.
const reclaimMemory = time.Hour

// reclaim is a spot instance's reclamation notice: when ECS will release
// it, and when this provider last saw the instance.
type reclaim struct {
	at, seen time.Time
}

// reclaimTime is when a spot instance seen with the Recycling lock will be
// released. ECS releases a reclaimed spot instance about five minutes after
// it announces the reclamation and the lock carries no time, so the notice
// is dated from when this provider first saw the lock, and stays the same
// on later looks. Notices of instances not seen for reclaimMemory are
// forgotten.
func (p *Provider) reclaimTime(id string) time.Time {
	now := p.opts.clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := p.reclaims[id]; ok {
		r.seen = now
		p.reclaims[id] = r
		return r.at
	}
	p.pruneReclaimsLocked(now)
	at := now.Add(p.opts.reclaimWarning)
	p.reclaims[id] = reclaim{at: at, seen: now}
	return at
}

// pruneReclaims forgets the notices of instances not seen for
// reclaimMemory: gone, released by ECS.
func (p *Provider) pruneReclaims() {
	now := p.opts.clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pruneReclaimsLocked(now)
}

func (p *Provider) pruneReclaimsLocked(now time.Time) {
	for id, r := range p.reclaims {
		if now.Sub(r.seen) >= reclaimMemory {
			delete(p.reclaims, id)
		}
	}
}

// forgetReclaims drops the notices of deleted instances.
func (p *Provider) forgetReclaims(ids []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		delete(p.reclaims, id)
	}
}

// tagsOf is an ECS instance's tags as a map.
func tagsOf(in ecs.Instance) map[string]string {
	out := make(map[string]string, len(in.Tags.Tag))
	for _, t := range in.Tags.Tag {
		k, v := t.TagKey, t.TagValue
		if k == "" {
			k, v = t.Key, t.Value
		}
		out[k] = v
	}
	return out
}

// deleteMemory is how long this provider remembers that it deleted an
// instance: ECS releases one in a few minutes, showing it Stopping
// meanwhile.
const deleteMemory = 30 * time.Minute

// maxUnknownStatuses bounds the unknown ECS statuses remembered (to log
// each once).
const maxUnknownStatuses = 64

// stateOf maps an ECS instance's status (DescribeInstances documents
// Pending, Starting, Running, Stopping and Stopped) to Spillway's states.
// Deleted instances disappear from ECS; "Deleted" is accepted for
// emulators. Stopping is the release of an instance this provider deleted,
// or asked to delete without learning the outcome (shutting-down), else
// stopping: a stop by someone else, or a release this provider asked
// before it restarted, which ECS lists alike. Stopped is a stop by someone
// else that is done: the instance keeps billing until it is deleted. A status ECS
// may add later is StateUnknown, logged once: not capacity the scheduler
// waits for, and not gone either.
func (p *Provider) stateOf(in ecs.Instance) providers.State {
	switch in.Status {
	case "Pending", "Starting":
		return providers.StatePending
	case "Running":
		return providers.StateRunning
	case "Stopping":
		if len(p.deleted.Fresh([]string{in.InstanceId})) > 0 {
			return providers.StateShuttingDown
		}
		return providers.StateStopping
	case "Stopped":
		return providers.StateStopped
	case "Deleted", "Released":
		return providers.StateTerminated
	}
	p.mu.Lock()
	first := !p.unknown[in.Status] && len(p.unknown) < maxUnknownStatuses
	if first {
		p.unknown[in.Status] = true
	}
	p.mu.Unlock()
	if first {
		p.opts.logger.Warn("ECS reported an instance status this provider does not know: the instance is taken as billing, not as capacity",
			"status", in.Status, "instance", in.InstanceId, "known", "Pending, Starting, Running, Stopping, Stopped")
	}
	return providers.StateUnknown
}

// parseECSTime reads ECS's times ("2006-01-02T15:04Z", or with seconds).
func parseECSTime(s string) time.Time {
	for _, layout := range []string{"2006-01-02T15:04Z", time.RFC3339, "2006-01-02T15:04:05Z"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}
