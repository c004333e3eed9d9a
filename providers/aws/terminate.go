package aws

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/spillway-io/spillway/providers"
)

// Terminate ends the named instances in batches of Options.TerminateBatch.
// EC2 accepts terminating an instance that is already shutting down or
// terminated, but fails a whole batch with InvalidInstanceID.NotFound when
// one id no longer exists; Terminate then describes the batch and
// terminates only the instances still alive, so gone ids are not an error.
// Batches are ended in order; the first failure stops Terminate and is
// returned, with every batch's progress before it kept.
func (p *Provider) Terminate(ctx context.Context, ids []string) error {
	ids = dedupe(ids)
	for batch := range slices.Chunk(ids, p.opts.TerminateBatch) {
		err := p.terminate(ctx, batch)
		if providers.IsNotFound(err) {
			err = p.terminateLive(ctx, batch)
		}
		if err != nil {
			return fmt.Errorf("terminating %d instances (%s…): %w", len(batch), batch[0], err)
		}
	}
	return nil
}

// terminateLive terminates those of ids that still exist and are not
// already terminated.
func (p *Provider) terminateLive(ctx context.Context, ids []string) error {
	insts, err := p.Describe(ctx, ids)
	if err != nil {
		return err
	}
	var live []string
	for _, i := range insts {
		if i.State != providers.StateTerminated && i.State != providers.StateShuttingDown {
			live = append(live, i.ID)
		}
	}
	if len(live) == 0 {
		return nil
	}
	err = p.terminate(ctx, live)
	if providers.IsNotFound(err) {
		// Gone between Describe and now: that is what we wanted.
		return nil
	}
	return err
}

func (p *Provider) terminate(ctx context.Context, ids []string) error {
	if err := p.pacer.Wait(ctx, bucketInstancesTerminated, len(ids)); err != nil {
		return &providers.TransientError{Provider: p.name, Code: "Paced", Err: err}
	}
	_, err := p.client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids})
	if err == nil {
		p.logger.DebugContext(ctx, "terminated", "instances", len(ids))
		return nil
	}
	err = p.classify(err, "", "")
	var nf *providers.NotFoundError
	if errors.As(err, &nf) {
		nf.IDs = ids
	}
	return err
}
