package aws

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/spillway-io/spillway/providers"
)

// Terminate ends the named instances in batches of Options.TerminateBatch.
// EC2 accepts terminating an instance that is already shutting down or
// terminated, but fails a whole batch with InvalidInstanceID.NotFound when
// one id is unknown to it; Terminate then describes the batch and
// terminates only the instances still alive, so gone ids are not an error.
// An unknown id that this provider launched less than
// providers.ConsistencyWindow ago is not gone but not yet known (EC2 is
// eventually consistent): Terminate tries it again with backoff for up to
// providers.ConsistencyWait and, if EC2 still does not know it, returns a
// *providers.TransientError naming it, so the caller asks again later
// instead of leaving it running. Batches are ended in order; the first
// failure stops Terminate. When batches (or ids of the failed batch) were
// ended before it, Terminate returns a *providers.TerminateError naming
// the ids ended and those not (the failed batch's rest and the batches
// not tried), so the caller records the first as ending.
func (p *Provider) Terminate(ctx context.Context, ids []string) error {
	ids = providers.UniqueIDs(ids)
	var ended []string
	for start := 0; start < len(ids); start += p.opts.TerminateBatch {
		batch := ids[start:min(start+p.opts.TerminateBatch, len(ids))]
		notEnded, err := batch, p.terminate(ctx, batch)
		if providers.IsNotFound(err) {
			notEnded, err = p.terminateLive(ctx, batch)
		}
		if err == nil {
			ended = append(ended, batch...)
			continue
		}
		err = fmt.Errorf("terminating %d instances (%s…): %w", len(batch), batch[0], err)
		left := make(map[string]bool, len(notEnded))
		for _, id := range notEnded {
			left[id] = true
		}
		ended = append(ended, slices.DeleteFunc(slices.Clone(batch), func(id string) bool { return left[id] })...)
		if len(ended) == 0 {
			return err
		}
		failed := slices.DeleteFunc(slices.Clone(batch), func(id string) bool { return !left[id] })
		return &providers.TerminateError{Provider: p.name, Ended: ended, Failed: append(failed, ids[start+len(batch):]...), Err: err}
	}
	return nil
}

// terminateLive terminates those of ids that still exist and are not
// already terminated, and waits for those launched here that EC2 does not
// know yet. On failure it also returns those of ids that may not have
// ended.
func (p *Provider) terminateLive(ctx context.Context, ids []string) ([]string, error) {
	start, delay := p.opts.Clock.Now(), providers.ConsistencyPoll
	for {
		insts, err := p.Describe(ctx, ids)
		if err != nil {
			return ids, err
		}
		var live []string
		known := make(map[string]bool, len(insts))
		for _, i := range insts {
			known[i.ID] = true
			if i.State != providers.StateTerminated && i.State != providers.StateShuttingDown {
				live = append(live, i.ID)
			}
		}
		unknown := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return known[id] })
		fresh := p.launched.Fresh(unknown)
		if len(live) > 0 {
			// A NotFound here: gone between Describe and now, as wanted.
			if err := p.terminate(ctx, live); err != nil && !providers.IsNotFound(err) {
				return append(live, fresh...), err
			}
		}
		if len(fresh) == 0 {
			return nil, nil // the unknown ids are gone
		}
		if waited := p.opts.Clock.Since(start); waited+delay > providers.ConsistencyWait {
			return fresh, &providers.TransientError{Provider: p.name, Code: "InvalidInstanceID.NotFound", Err: fmt.Errorf(
				"instances %v, launched by this provider less than %s ago, are still unknown to EC2 after %s (eventual consistency); terminate them again later",
				fresh, providers.ConsistencyWindow, waited.Round(time.Millisecond))}
		}
		p.logger.DebugContext(ctx, "terminate: fresh instances not yet known to EC2; waiting", "instances", fresh, "wait", delay)
		if err := providers.WaitConsistency(ctx, p.opts.Clock, delay); err != nil {
			return fresh, &providers.TransientError{Provider: p.name, Code: "InvalidInstanceID.NotFound", Err: fmt.Errorf(
				"waiting for EC2 to know fresh instances %v: %w", fresh, err)}
		}
		ids, delay = fresh, delay*2
	}
}

func (p *Provider) terminate(ctx context.Context, ids []string) error {
	if err := p.pacer.Wait(ctx, bucketInstancesTerminated, len(ids)); err != nil {
		return &providers.TransientError{Provider: p.name, Code: "Paced", Err: err}
	}
	_, err := p.client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids})
	if err == nil {
		p.logger.DebugContext(ctx, "terminated", "instances", len(ids))
		p.launched.Ended(ids...)
		return nil
	}
	err = p.classify(err, "", "")
	var nf *providers.NotFoundError
	if errors.As(err, &nf) {
		nf.IDs = ids
	}
	return err
}
