package providers

import (
	"errors"
	"sync"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// Default lifetimes of capacity-cache entries.
const (
	// DefaultCapacityTTL is how long an offering that stocked out is skipped.
	// Stock-outs are usually short-lived; three minutes lets the policy try
	// the next offering at once without hammering the empty one every tick.
	DefaultCapacityTTL = 3 * time.Minute
	// DefaultQuotaTTL is how long a region or provider that hit an account
	// quota is blocked. Quotas only move when instances end or a limit
	// increase is granted, so the block is wider and longer.
	DefaultQuotaTTL = 15 * time.Minute
)

// Codes of the capacity errors the scheduler records for a launch that
// delivered nothing though the cloud ran it: an instance that never
// joined, a spot instance reclaimed before it joined, an instance the
// cloud ran in the other market than asked (on-demand for spot, or the
// reverse), and one it ran as another type than asked.
const (
	CodeJoinTimeout      = "JoinTimeout"
	CodeSpotInterruption = "SpotInterruption"
	CodeOtherMarket      = "OtherMarket"
	CodeResized          = "Resized"
)

// CapacityCache remembers recent capacity and quota failures so the policy
// skips what just failed: an offering (provider, region/zone, instance type,
// market) that stocked out is unavailable for a TTL (the scheduler records a
// join timeout and a spot reclaim before joining the same way), and a quota error
// blocks its whole region (or the provider, when the region is unknown) for
// a longer one. It is safe for concurrent use.
type CapacityCache struct {
	capacityTTL time.Duration
	quotaTTL    time.Duration
	now         func() time.Time

	mu          sync.Mutex
	unavailable map[policy.OfferingKey]time.Time
	// causes says why an unavailable offering is, when not for a
	// stock-out: the cause of its latest failure (causeOf).
	causes  map[policy.OfferingKey]string
	blocked map[string]time.Time
	// blockCauses is the quota error that set each block.
	blockCauses map[string]string
}

// CapacityCacheOption configures a CapacityCache.
type CapacityCacheOption func(*CapacityCache)

// WithCapacityTTL sets how long a stocked-out offering is skipped.
func WithCapacityTTL(d time.Duration) CapacityCacheOption {
	return func(c *CapacityCache) { c.capacityTTL = d }
}

// WithQuotaTTL sets how long a region or provider is blocked after a quota error.
func WithQuotaTTL(d time.Duration) CapacityCacheOption {
	return func(c *CapacityCache) { c.quotaTTL = d }
}

// WithCacheClock injects the clock Record uses to compute expiries.
func WithCacheClock(now func() time.Time) CapacityCacheOption {
	return func(c *CapacityCache) { c.now = now }
}

// NewCapacityCache returns an empty cache with DefaultCapacityTTL,
// DefaultQuotaTTL and the wall clock unless options say otherwise.
func NewCapacityCache(opts ...CapacityCacheOption) *CapacityCache {
	c := &CapacityCache{
		capacityTTL: DefaultCapacityTTL,
		quotaTTL:    DefaultQuotaTTL,
		now:         time.Now,
		unavailable: make(map[policy.OfferingKey]time.Time),
		causes:      make(map[policy.OfferingKey]string),
		blocked:     make(map[string]time.Time),
		blockCauses: make(map[string]string),
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// BlockKey is the key a quota block is stored under: "provider/region", or
// the provider name alone when the region is unknown. policy.Snapshot's
// Blocked map uses the same keys.
func BlockKey(provider, region string) string {
	if region == "" {
		return provider
	}
	return provider + "/" + region
}

// Record classifies the outcome of a launch of the offering identified by
// key and reports whether it changed the cache:
//   - a *CapacityError marks key unavailable for the capacity TTL;
//   - a *QuotaError blocks key's provider/region (or the provider, when
//     neither key nor the error names a region) for the quota TTL;
//   - nil (a launch that succeeded) clears key's unavailability, since the
//     offering evidently has stock again;
//   - every other error (throttling, transient, invalid) says nothing about
//     capacity and is ignored.
//
// An expiry is only ever extended by a new failure, never shortened.
func (c *CapacityCache) Record(err error, key policy.OfferingKey) bool {
	return c.record(err, key, c.now())
}

// Hold marks key unavailable until `until` (an entry the state kept, read
// back by a restarted server or a new leader), for why (a cause such as
// policy.WhyNeverJoined; "" for a stock-out). Like Record, it only ever
// extends an entry, and a cause comes with the entry that holds longest.
func (c *CapacityCache) Hold(key policy.OfferingKey, until time.Time, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !extend(c.unavailable, key, until) {
		return
	}
	if why != "" {
		c.causes[key] = why
	} else {
		delete(c.causes, key)
	}
}

// Block blocks the provider/region block (BlockKey) until `until`, as the
// quota error why would have; an entry is only ever extended.
func (c *CapacityCache) Block(block string, until time.Time, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if extend(c.blocked, block, until) {
		c.blockCauses[block] = why
	}
}

// record is Record as of now.
func (c *CapacityCache) record(err error, key policy.OfferingKey, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		if _, ok := c.unavailable[key]; ok {
			delete(c.unavailable, key)
			delete(c.causes, key)
			return true
		}
		return false
	}
	var qe *QuotaError
	if errors.As(err, &qe) {
		region := key.Region
		if region == "" {
			region = qe.Region
		}
		provider := key.Provider
		if provider == "" {
			provider = qe.Provider
		}
		if b := BlockKey(provider, region); extend(c.blocked, b, now.Add(c.quotaTTL)) {
			c.blockCauses[b] = err.Error()
		}
		return true
	}
	if IsCapacity(err) {
		if !extend(c.unavailable, key, now.Add(c.capacityTTL)) {
			return false // a later failure holds it longer (Hold), and says why
		}
		if why := causeOf(err); why != "" {
			c.causes[key] = why
		} else {
			delete(c.causes, key)
		}
		return true
	}
	return false
}

// causeOf says why a capacity error makes its offering unavailable when
// it is not a stock-out (policy.Snapshot's UnavailableWhy), else "".
func causeOf(err error) string {
	var ce *CapacityError
	if !errors.As(err, &ce) {
		return ""
	}
	switch ce.Code {
	case CodeJoinTimeout:
		return policy.WhyNeverJoined
	case CodeSpotInterruption:
		return policy.WhyReclaimedBooting
	case CodeOtherMarket:
		return policy.WhyOtherMarket
	case CodeResized:
		return policy.WhyResized
	}
	return ""
}

// extend sets m[k] to until unless it is already later, and reports
// whether it did.
func extend[K comparable](m map[K]time.Time, k K, until time.Time) bool {
	if cur, ok := m[k]; !ok || !until.Before(cur) {
		m[k] = until
		return true
	}
	return false
}

// Available reports whether key is neither marked unavailable nor blocked
// (by its provider/region or its provider) at now.
func (c *CapacityCache) Available(key policy.OfferingKey, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if until, ok := c.unavailable[key]; ok && now.Before(until) {
		return false
	}
	for _, b := range []string{BlockKey(key.Provider, key.Region), key.Provider} {
		if until, ok := c.blocked[b]; ok && now.Before(until) {
			return false
		}
	}
	return true
}

// Snapshot returns copies of the entries still in force at now, in the
// shape of policy.Snapshot's Unavailable and Blocked fields, and forgets
// the expired ones. The maps are never nil.
func (c *CapacityCache) Snapshot(now time.Time) (map[policy.OfferingKey]time.Time, map[string]time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return live(c.unavailable, now), live(c.blocked, now)
}

// Causes returns, for the unavailable offerings whose latest failure was
// not a stock-out, why (policy.Snapshot's UnavailableWhy); nil when none.
func (c *CapacityCache) Causes(now time.Time) map[policy.OfferingKey]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return policy.UnavailableCauses(c.causes, c.unavailable, now)
}

// BlockCauses returns, for the blocks in force at now, the quota error
// that set each; nil when none.
func (c *CapacityCache) BlockCauses(now time.Time) map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out map[string]string
	for b, why := range c.blockCauses {
		if until, ok := c.blocked[b]; !ok || !now.Before(until) {
			delete(c.blockCauses, b)
			continue
		}
		if out == nil {
			out = make(map[string]string, len(c.blockCauses))
		}
		out[b] = why
	}
	return out
}

func live[K comparable](m map[K]time.Time, now time.Time) map[K]time.Time {
	out := make(map[K]time.Time, len(m))
	for k, until := range m {
		if !now.Before(until) {
			delete(m, k)
			continue
		}
		out[k] = until
	}
	return out
}
