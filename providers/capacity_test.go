package providers

import (
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func TestCapacityCacheRecord(t *testing.T) {
	a100 := policy.OfferingKey{Provider: "aws", Region: "us-east-1", Zone: "us-east-1a", InstanceType: "p4d.24xlarge", Market: policy.MarketSpot}
	a100b := a100
	a100b.Zone = "us-east-1b"
	regionless := policy.OfferingKey{Provider: "ali", InstanceType: "ecs.gn7"}

	capErr := &CapacityError{Provider: "aws", Region: "us-east-1", Zone: "us-east-1a", InstanceType: "p4d.24xlarge", Code: "InsufficientInstanceCapacity", Err: errors.New("boom")}
	quotaErr := &QuotaError{Provider: "aws", Region: "us-east-1", Code: "VcpuLimitExceeded", Err: errors.New("limit")}

	type step struct {
		after time.Duration // advance the clock before recording
		err   error
		key   policy.OfferingKey
		want  bool // Record's result
	}
	tests := []struct {
		name            string
		steps           []step
		at              time.Duration // snapshot time offset from t0
		wantUnavailable map[policy.OfferingKey]time.Time
		wantBlocked     map[string]time.Time
	}{
		{
			name:            "capacity error marks the offering for the capacity TTL",
			steps:           []step{{err: capErr, key: a100, want: true}},
			at:              time.Minute,
			wantUnavailable: map[policy.OfferingKey]time.Time{a100: t0.Add(3 * time.Minute)},
			wantBlocked:     map[string]time.Time{},
		},
		{
			name:            "wrapped capacity error is recognised",
			steps:           []step{{err: fmt.Errorf("launch: %w", capErr), key: a100, want: true}},
			wantUnavailable: map[policy.OfferingKey]time.Time{a100: t0.Add(3 * time.Minute)},
			wantBlocked:     map[string]time.Time{},
		},
		{
			name:            "capacity entry expires after its TTL",
			steps:           []step{{err: capErr, key: a100, want: true}},
			at:              3 * time.Minute,
			wantUnavailable: map[policy.OfferingKey]time.Time{},
			wantBlocked:     map[string]time.Time{},
		},
		{
			name:            "other zones stay available",
			steps:           []step{{err: capErr, key: a100b, want: true}},
			wantUnavailable: map[policy.OfferingKey]time.Time{a100b: t0.Add(3 * time.Minute)},
			wantBlocked:     map[string]time.Time{},
		},
		{
			name:            "quota error blocks provider/region for the quota TTL",
			steps:           []step{{err: quotaErr, key: a100, want: true}},
			at:              14 * time.Minute,
			wantUnavailable: map[policy.OfferingKey]time.Time{},
			wantBlocked:     map[string]time.Time{"aws/us-east-1": t0.Add(15 * time.Minute)},
		},
		{
			name:            "quota error without a region blocks the provider",
			steps:           []step{{err: &QuotaError{Provider: "ali", Code: "QuotaExceed.ElasticQuota"}, key: regionless, want: true}},
			wantUnavailable: map[policy.OfferingKey]time.Time{},
			wantBlocked:     map[string]time.Time{"ali": t0.Add(15 * time.Minute)},
		},
		{
			name: "success clears the offering",
			steps: []step{
				{err: capErr, key: a100, want: true},
				{after: time.Minute, err: nil, key: a100, want: true},
				{err: nil, key: a100, want: false},
			},
			wantUnavailable: map[policy.OfferingKey]time.Time{},
			wantBlocked:     map[string]time.Time{},
		},
		{
			name: "a later failure extends, an earlier expiry never shortens",
			steps: []step{
				{err: capErr, key: a100, want: true},
				{after: 2 * time.Minute, err: capErr, key: a100, want: true},
			},
			at:              4 * time.Minute,
			wantUnavailable: map[policy.OfferingKey]time.Time{a100: t0.Add(5 * time.Minute)},
			wantBlocked:     map[string]time.Time{},
		},
		{
			name: "throttling, transient, invalid and not-found say nothing about capacity",
			steps: []step{
				{err: &ThrottledError{Provider: "aws", Code: "RequestLimitExceeded"}, key: a100},
				{err: &TransientError{Provider: "aws", Code: "InternalError"}, key: a100},
				{err: &InvalidError{Provider: "aws", Code: "AuthFailure"}, key: a100},
				{err: &NotFoundError{Provider: "aws"}, key: a100},
				{err: errors.New("plain"), key: a100},
			},
			wantUnavailable: map[policy.OfferingKey]time.Time{},
			wantBlocked:     map[string]time.Time{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &fakeClock{t: t0}
			c := NewCapacityCache(WithCacheClock(clk.Now))
			for i, s := range tt.steps {
				clk.Advance(s.after)
				if got := c.Record(s.err, s.key); got != s.want {
					t.Errorf("step %d: Record(%v) = %v, want %v", i, s.err, got, s.want)
				}
			}
			un, bl := c.Snapshot(t0.Add(tt.at))
			if !equalMaps(un, tt.wantUnavailable) {
				t.Errorf("Unavailable = %v, want %v", un, tt.wantUnavailable)
			}
			if !equalMaps(bl, tt.wantBlocked) {
				t.Errorf("Blocked = %v, want %v", bl, tt.wantBlocked)
			}
		})
	}
}

// TestCapacityCacheCauses: a launch that delivered nothing (an instance
// that never joined, a spot instance reclaimed before it joined) is named
// in Causes for as long as its entry lasts; a stock-out, or a success,
// after it clears the cause.
func TestCapacityCacheCauses(t *testing.T) {
	clk := &fakeClock{t: t0}
	c := NewCapacityCache(WithCacheClock(clk.Now), WithCapacityTTL(3*time.Minute))
	a := policy.OfferingKey{Provider: "aws", Region: "us-east-1", InstanceType: "p4d.24xlarge", Market: policy.MarketSpot}
	b := a
	b.InstanceType = "p5.48xlarge"
	c.Record(&CapacityError{Code: CodeJoinTimeout}, a)
	c.Record(&CapacityError{Code: CodeSpotInterruption}, b)
	want := map[policy.OfferingKey]string{a: policy.WhyNeverJoined, b: policy.WhyReclaimedBooting}
	if got := c.Causes(t0.Add(time.Minute)); !maps.Equal(got, want) {
		t.Errorf("Causes = %v, want %v", got, want)
	}
	clk.Advance(time.Minute)
	c.Record(&CapacityError{Code: "InsufficientInstanceCapacity"}, a)
	c.Record(nil, b)
	if got := c.Causes(t0.Add(2 * time.Minute)); len(got) != 0 {
		t.Errorf("after a stock-out of one and a success of the other: Causes = %v, want none", got)
	}
	c.Record(&CapacityError{Code: CodeJoinTimeout}, a)
	if got := c.Causes(t0.Add(3 * time.Minute)); got[a] != policy.WhyNeverJoined {
		t.Errorf("Causes = %v, want %s: %q", got, a.InstanceType, policy.WhyNeverJoined)
	}
	if got := c.Causes(t0.Add(5 * time.Minute)); len(got) != 0 {
		t.Errorf("past the TTL: Causes = %v, want none", got)
	}
}

func TestCapacityCacheAvailable(t *testing.T) {
	clk := &fakeClock{t: t0}
	c := NewCapacityCache(WithCacheClock(clk.Now), WithCapacityTTL(time.Minute), WithQuotaTTL(10*time.Minute))
	spot := policy.OfferingKey{Provider: "aws", Region: "us-east-1", Zone: "us-east-1a", InstanceType: "g5.xlarge", Market: policy.MarketSpot}
	onDemand := spot
	onDemand.Market = policy.MarketOnDemand
	otherRegion := spot
	otherRegion.Region, otherRegion.Zone = "us-west-2", "us-west-2a"

	c.Record(&CapacityError{Code: "InsufficientInstanceCapacity"}, spot)
	if c.Available(spot, t0) {
		t.Error("spot offering available right after a stock-out")
	}
	if !c.Available(onDemand, t0) {
		t.Error("on-demand offering blocked by a spot stock-out")
	}
	if !c.Available(spot, t0.Add(time.Minute)) {
		t.Error("spot offering still unavailable after its TTL")
	}

	c.Record(&QuotaError{Code: "VcpuLimitExceeded"}, onDemand)
	if c.Available(spot, t0.Add(2*time.Minute)) || c.Available(onDemand, t0.Add(2*time.Minute)) {
		t.Error("offerings in a quota-blocked region are available")
	}
	if !c.Available(otherRegion, t0.Add(2*time.Minute)) {
		t.Error("another region is blocked by a regional quota")
	}
	c.Record(&QuotaError{Code: "Blocked"}, policy.OfferingKey{Provider: "aws"})
	if c.Available(otherRegion, t0.Add(2*time.Minute)) {
		t.Error("a provider-wide block does not cover every region")
	}
}

func TestCapacityCacheConcurrent(t *testing.T) {
	c := NewCapacityCache()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				k := policy.OfferingKey{Provider: "aws", Zone: fmt.Sprint(j % 7), InstanceType: fmt.Sprint(i)}
				c.Record(&CapacityError{}, k)
				c.Available(k, time.Now())
				c.Snapshot(time.Now())
				c.Record(nil, k)
			}
		}()
	}
	wg.Wait()
	if un, _ := c.Snapshot(time.Now()); len(un) != 0 {
		t.Errorf("every entry was cleared by a success, yet %d remain", len(un))
	}
}

func equalMaps[K comparable](a, b map[K]time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !w.Equal(v) {
			return false
		}
	}
	return true
}

// TestCapacityCacheHoldAndBlock: entries read back from the state extend
// the cache as Record's would, never shorten it, and carry their cause.
func TestCapacityCacheHoldAndBlock(t *testing.T) {
	a := policy.OfferingKey{Provider: "aws", Region: "us-east-1", InstanceType: "p4d.24xlarge", Market: policy.MarketOnDemand}
	b := policy.OfferingKey{Provider: "aws", Region: "us-west-2", InstanceType: "p5.48xlarge", Market: policy.MarketOnDemand}
	clk := &fakeClock{t: t0}
	c := NewCapacityCache(WithCacheClock(clk.Now), WithCapacityTTL(3*time.Minute))

	c.Hold(a, t0.Add(5*time.Minute), policy.WhyNeverJoined)
	c.Hold(a, t0.Add(4*time.Minute), "") // earlier: changes nothing, the cause stays
	c.Record(&CapacityError{}, b)        // a stock-out until t0+3m
	c.Hold(b, t0.Add(time.Minute), policy.WhyReclaimedBooting)
	c.Block(BlockKey("aws", "us-west-2"), t0.Add(10*time.Minute), "aws: quota exceeded in us-west-2")
	c.Block(BlockKey("aws", "us-west-2"), t0.Add(2*time.Minute), "shorter")
	c.Record(&QuotaError{Provider: "ali", Region: "cn-hangzhou", Code: "QuotaExceed.ElasticQuota", Err: errors.New("no more GPUs")},
		policy.OfferingKey{Provider: "ali", Region: "cn-hangzhou", InstanceType: "ecs.gn7"})

	un, bl := c.Snapshot(t0)
	if !un[a].Equal(t0.Add(5*time.Minute)) || !un[b].Equal(t0.Add(3*time.Minute)) {
		t.Errorf("unavailable = %v, want %s until +5m and %s until +3m", un, a.InstanceType, b.InstanceType)
	}
	if why := c.Causes(t0); why[a] != policy.WhyNeverJoined || why[b] != "" {
		t.Errorf("causes = %v, want %s's %q and none for the stock-out of %s", why, a.InstanceType, policy.WhyNeverJoined, b.InstanceType)
	}
	if !bl["aws/us-west-2"].Equal(t0.Add(10 * time.Minute)) {
		t.Errorf("blocked = %v, want aws/us-west-2 until +10m", bl)
	}
	want := map[string]string{"aws/us-west-2": "aws: quota exceeded in us-west-2",
		"ali/cn-hangzhou": "ali: quota exceeded in cn-hangzhou (QuotaExceed.ElasticQuota): no more GPUs"}
	if got := c.BlockCauses(t0); !maps.Equal(got, want) {
		t.Errorf("block causes = %v, want %v", got, want)
	}

	if c.Available(b, t0.Add(9*time.Minute)) || !c.Available(a, t0.Add(5*time.Minute)) {
		t.Error("the blocked region's offering is available, or a held one past its until is not")
	}
	c.Snapshot(t0.Add(16 * time.Minute)) // forgets the lapsed blocks
	if got := c.BlockCauses(t0.Add(16 * time.Minute)); got != nil {
		t.Errorf("block causes past every block = %v, want none", got)
	}
}
