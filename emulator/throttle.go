package emulator

import "time"

// bucket is a token bucket refilled continuously from the injected clock.
type bucket struct {
	capacity float64
	refill   float64 // tokens per second
	tokens   float64
	last     time.Time
}

// take removes n tokens if the bucket holds them.
func (b *bucket) take(now time.Time, n float64) bool {
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(b.capacity, b.tokens+el*b.refill)
	}
	b.last = now
	if b.tokens < n {
		return false
	}
	b.tokens -= n
	return true
}

// BucketSpec is a token bucket's size and refill rate per second.
type BucketSpec struct {
	Capacity float64 `json:"capacity"`
	Refill   float64 `json:"refill_per_second"`
}

// EC2 request-rate buckets, as the EC2 API reference's "Request throttling"
// page publishes them: every action has its own bucket sized by its class,
// and RunInstances and TerminateInstances also draw one resource token per
// instance from a resource bucket.
var (
	EC2MutatingBucket    = BucketSpec{Capacity: 200, Refill: 10}
	EC2NonMutatingBucket = BucketSpec{Capacity: 100, Refill: 20}
	// EC2UnfilteredBucket applies to a non-mutating call with neither a
	// filter, an id list nor pagination (e.g. a bare DescribeInstances).
	EC2UnfilteredBucket       = BucketSpec{Capacity: 50, Refill: 10}
	EC2RunInstancesResource   = BucketSpec{Capacity: 1000, Refill: 2}
	EC2TerminateInstancesRsrc = BucketSpec{Capacity: 1000, Refill: 20}
)

// ECS flow-control buckets. Alibaba Cloud does not publish fixed per-API
// limits (they are per-account quotas shown in its Quota Center), so these
// are conservative per-action figures; a call beyond them is refused with
// Throttling.User.
var (
	ECSRunInstancesBucket      = BucketSpec{Capacity: 20, Refill: 10}
	ECSDeleteInstancesBucket   = BucketSpec{Capacity: 20, Refill: 10}
	ECSDescribeInstancesBucket = BucketSpec{Capacity: 100, Refill: 50}
	ECSOtherBucket             = BucketSpec{Capacity: 50, Refill: 20}
)

// admit draws tokens from the named bucket when throttling is on; it reports
// whether the call may proceed.
func (e *Emulator) admit(name string, spec BucketSpec, n float64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.throttle {
		return true
	}
	now := e.clock()
	b, ok := e.buckets[name]
	if !ok {
		b = &bucket{capacity: spec.Capacity, refill: spec.Refill, tokens: spec.Capacity, last: now}
		e.buckets[name] = b
	}
	return b.take(now, n)
}

// refund returns tokens taken by admit to a bucket (when a later bucket of
// the same call refused it, so the call drew nothing).
func (e *Emulator) refund(name string, n float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if b, ok := e.buckets[name]; ok {
		b.tokens = min(b.capacity, b.tokens+n)
	}
}
