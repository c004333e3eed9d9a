package aws

import (
	"context"

	"github.com/aws/smithy-go/middleware"

	"github.com/spillway-io/spillway/providers"
)

// Bucket names in Options.Buckets. Request buckets are per action, as EC2
// evaluates each API separately; the two resource buckets count instances.
const (
	bucketRunInstances        = "RunInstances"
	bucketTerminateInstances  = "TerminateInstances"
	bucketDescribeInstances   = "DescribeInstances"
	bucketDescribeSpot        = "DescribeSpotInstanceRequests"
	bucketInstancesLaunched   = "instances-launched"
	bucketInstancesTerminated = "instances-terminated"
)

// Published EC2 request buckets for the calls this provider makes (EC2 API
// reference, "Request throttling"): mutating actions hold 200 tokens and
// refill 10 per second, non-mutating ones 100 and 20; RunInstances also
// draws one resource token per instance from a bucket of 1,000 refilled 2
// per second, TerminateInstances from one of 1,000 refilled 20 per second.
var publishedBuckets = map[string]providers.Bucket{
	bucketRunInstances:        {Burst: 200, Rate: 10},
	bucketTerminateInstances:  {Burst: 200, Rate: 10},
	bucketDescribeInstances:   {Burst: 100, Rate: 20},
	bucketDescribeSpot:        {Burst: 100, Rate: 20},
	bucketInstancesLaunched:   {Burst: 1000, Rate: 2},
	bucketInstancesTerminated: {Burst: 1000, Rate: 20},
}

// PacingMargin is the share of each published bucket DefaultBuckets uses:
// a little headroom, so that network jitter reordering two paced calls, or
// another client of the same account, does not push EC2's bucket past empty.
const PacingMargin = 0.9

// DefaultBuckets returns the client-side buckets a Provider paces its calls
// under: EC2's published buckets scaled by PacingMargin. The EC2 buckets are
// per account and region; providers sharing one should share a budget by
// passing smaller buckets.
func DefaultBuckets() map[string]providers.Bucket {
	out := make(map[string]providers.Bucket, len(publishedBuckets))
	for k, b := range publishedBuckets {
		out[k] = providers.Bucket{Burst: int(float64(b.Burst) * PacingMargin), Rate: b.Rate * PacingMargin}
	}
	return out
}

// addPacing inserts, right after the SDK's retry middleware, a step that
// takes a token from the action's request bucket, so that every attempt,
// retries included, is paced.
func (p *Provider) addPacing(stack *middleware.Stack) error {
	return stack.Finalize.Insert(middleware.FinalizeMiddlewareFunc("SpillwayPacing",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			if err := p.pacer.Wait(ctx, middleware.GetOperationName(ctx), 1); err != nil {
				return middleware.FinalizeOutput{}, middleware.Metadata{}, err
			}
			return next.HandleFinalize(ctx, in)
		}), "Retry", middleware.After)
}
