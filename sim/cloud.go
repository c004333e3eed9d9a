package sim

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/sim/trace"
)

// Cloud is how the simulated clouds behave beyond prices and billing. The
// zero value (or a nil *Cloud in Options) is the ideal cloud: every launch
// succeeds, boots in exactly the offering's boot time, and spot capacity is
// never reclaimed.
type Cloud struct {
	// Seed drives every random draw; the same seed gives the same run.
	Seed uint64
	// MeanInStock and MeanOutOfStock: each offering alternates between
	// available and out of stock, each state lasting an exponentially
	// distributed time with these means (a seeded random process per
	// offering). A launch into a stock-out fails as the providers'
	// capacity error does (InsufficientInstanceCapacity on EC2,
	// OperationDenied.NoStock on ECS). MeanOutOfStock 0 means never out.
	MeanInStock, MeanOutOfStock time.Duration
	// CapacityTTL is how long a capacity failure keeps the offering in the
	// snapshot's Unavailable (the server's capacity cache).
	CapacityTTL time.Duration
	// BootP95 is the p95 boot time as a multiple of the median, which is
	// the offering's boot: boot times are lognormal. 0 or 1: fixed.
	// OfferingBootP95 overrides it per offering (by the name reports use,
	// as Stock): an image that pulls a large container spreads more than
	// one baked with its drivers.
	BootP95         float64
	OfferingBootP95 map[string]float64
	// SpotMeanLife is the mean time from launch to reclaim of a spot
	// instance (exponential); 0: never reclaimed. SpotNotice is the warning
	// before it ends: the instance takes no new work from the notice on.
	// SpotProtection is the time after launch during which the cloud
	// never reclaims a spot instance (Alibaba's protection period); the
	// reclaims come at the mean life's rate after it.
	SpotMeanLife   time.Duration
	SpotNotice     time.Duration
	SpotProtection time.Duration
	// Spot overrides SpotMeanLife, SpotNotice and SpotProtection per spot
	// offering (by the name reports use, as Stock): reclaim rates differ
	// by instance type and place (AWS Spot Advisor publishes them per type
	// and region). SpotByProvider does per provider (by its name in the
	// config) what an offering's entry does not: notices and protection
	// differ by cloud (AWSSpotNotice, AlibabaSpotNotice,
	// AlibabaSpotProtection).
	Spot           map[string]SpotModel
	SpotByProvider map[string]SpotModel
	// Stock overrides MeanInStock and MeanOutOfStock per offering (by the
	// name reports use: its name, or provider/region/type/market).
	Stock map[string]StockModel
	// Quota caps the GPUs held at once per provider ("aws-east") or per
	// provider and region ("aws-east/us-east-1"); a launch beyond it fails
	// as the providers' quota error does and blocks that provider or
	// region in the snapshot's Blocked for QuotaTTL. None by default:
	// quotas belong to an account.
	Quota    map[string]int
	QuotaTTL time.Duration
}

// StockModel is one offering's availability: the mean time in stock and
// out of stock, or, when OutOfStock lists any window, a schedule: out of
// stock within the windows, in stock outside them (the means unused).
type StockModel struct {
	MeanInStock, MeanOutOfStock time.Duration
	OutOfStock                  []Window
}

// Window is a stretch of simulated time, from From to Until (exclusive),
// both counted from the trace's first submission.
type Window struct {
	From, Until time.Duration
}

// DefaultCloud is the realistic cloud `spillway simulate` uses unless told
// otherwise (docs/backtest.md gives the sources):
//   - stock-outs: each offering out of stock for 30 minutes on average,
//     available for 12 hours on average between (an assumption: providers
//     publish no stock-out rates; capacity errors are routine for GPU
//     shapes);
//   - the server's capacity cache lifetimes: a stocked-out offering is
//     skipped for 3 minutes (providers.DefaultCapacityTTL), a provider or
//     region over its quota blocked for 15 (providers.DefaultQuotaTTL);
//   - boot p95 at twice the median (an assumption);
//   - spot: 2-minute notice (AWS's documented interruption notice; the
//     simulate command gives an Alibaba provider's offerings 5 minutes
//     and a protection hour, SpotByProvider), mean life of 7 days (about
//     13% in a day): a pessimistic assumption inside AWS Spot Advisor's
//     open-ended ">20% a month" band.
func DefaultCloud(seed uint64) *Cloud {
	return &Cloud{Seed: seed, MeanInStock: 12 * time.Hour, MeanOutOfStock: 30 * time.Minute,
		CapacityTTL: providers.DefaultCapacityTTL, QuotaTTL: providers.DefaultQuotaTTL, BootP95: 2, SpotMeanLife: 7 * 24 * time.Hour, SpotNotice: AWSSpotNotice}
}

// SpotModel is one spot offering's reclaims: the mean life until a reclaim
// notice (0: never reclaimed) after the protection period, and the notice.
type SpotModel struct {
	MeanLife, Notice, Protection time.Duration
}

// The clouds' documented spot notices and protection, for a provider's
// offerings when the config sets neither:
//   - AWS: a 2-minute interruption notice, no protection (EC2 User Guide,
//     "Spot Instance interruption notices");
//   - Alibaba Cloud: a preemptible instance is released 5 minutes after
//     ECS announces it (the Recycling operation lock, which
//     providers/alicloud dates the same way), and is not reclaimed within
//     its protection period, one hour unless RunInstances' SpotDuration
//     says otherwise, which Spillway leaves to its default (ECS User
//     Guide, "Preemptible instances").
const (
	AWSSpotNotice         = 2 * time.Minute
	AlibabaSpotNotice     = 5 * time.Minute
	AlibabaSpotProtection = time.Hour
)

// stock is one offering's availability process.
type stock struct {
	rng   *rand.Rand
	out   bool
	until time.Duration
}

// cloudState is the cloud model's state in one run.
type cloudState struct {
	c       Cloud
	stocks  map[string]*stock // by offering name
	rng     *rand.Rand        // boot times and spot lives, in launch order
	unavail map[policy.OfferingKey]time.Time
	// why says why an offering in unavail is, when not out of stock.
	why     map[policy.OfferingKey]string
	blocked map[string]time.Time
}

func newCloudState(c *Cloud) *cloudState {
	if c == nil {
		return nil
	}
	return &cloudState{c: *c, stocks: map[string]*stock{}, rng: rand.New(rand.NewPCG(c.Seed, 0x600d)),
		unavail: map[policy.OfferingKey]time.Time{}, blocked: map[string]time.Time{}}
}

// overQuota names the quota (provider, or provider/region) that one more
// instance of o would break, given the GPUs held per key, or "".
func (cs *cloudState) overQuota(o policy.Offering, use map[string]int) string {
	if cs == nil || len(cs.c.Quota) == 0 {
		return ""
	}
	for _, key := range [2]string{o.Provider, o.Provider + "/" + o.Region} {
		if q, ok := cs.c.Quota[key]; ok && use[key]+o.GPUs > q {
			return key
		}
	}
	return ""
}

// blockedAt is the quota blocks the snapshot carries (expired ones
// dropped); nil when none.
func (cs *cloudState) blockedAt(now time.Time) map[string]time.Time {
	if cs == nil {
		return nil
	}
	return liveAt(cs.blocked, now)
}

// liveAt drops m's entries that have expired at now and returns m, or nil
// when none is left: the snapshot's view of holds that each last until
// their time.
func liveAt[K comparable](m map[K]time.Time, now time.Time) map[K]time.Time {
	for k, until := range m {
		if !until.After(now) {
			delete(m, k)
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// seedOf mixes an offering's name into the seed: each offering draws its
// own stream, whatever the order offerings are first asked about.
func seedOf(seed uint64, name string) uint64 {
	h := uint64(1469598103934665603)
	for i := 0; i < len(name); i++ {
		h = (h ^ uint64(name[i])) * 1099511628211
	}
	return seed ^ h
}

func expDraw(r *rand.Rand, mean time.Duration) time.Duration {
	return time.Duration(r.ExpFloat64() * float64(mean))
}

// inStock says whether the offering can be launched at now.
func (cs *cloudState) inStock(name string, now time.Duration) bool {
	if cs == nil {
		return true
	}
	m := StockModel{MeanInStock: cs.c.MeanInStock, MeanOutOfStock: cs.c.MeanOutOfStock}
	if o, ok := cs.c.Stock[name]; ok {
		m = o
	}
	if len(m.OutOfStock) > 0 {
		for _, w := range m.OutOfStock {
			if w.From <= now && now < w.Until {
				return false
			}
		}
		return true
	}
	if m.MeanOutOfStock <= 0 || m.MeanInStock <= 0 {
		return true
	}
	st := cs.stocks[name]
	if st == nil {
		r := rand.New(rand.NewPCG(seedOf(cs.c.Seed, name), 0x57c))
		in, out := float64(m.MeanInStock), float64(m.MeanOutOfStock)
		st = &stock{rng: r, out: r.Float64() < out/(in+out)}
		mean := m.MeanInStock
		if st.out {
			mean = m.MeanOutOfStock
		}
		st.until = expDraw(r, mean)
		cs.stocks[name] = st
	}
	for st.until <= now {
		st.out = !st.out
		mean := m.MeanInStock
		if st.out {
			mean = m.MeanOutOfStock
		}
		st.until += max(time.Second, expDraw(st.rng, mean))
	}
	return !st.out
}

// boot draws a launch's boot time around the offering's median, its boot.
func (cs *cloudState) boot(o policy.Offering) time.Duration {
	median := o.Boot.D()
	if cs == nil || median <= 0 {
		return median
	}
	p95 := cs.c.BootP95
	if len(cs.c.OfferingBootP95) > 0 {
		if v, ok := cs.c.OfferingBootP95[policyOfferingName(o)]; ok {
			p95 = v
		}
	}
	if p95 <= 1 {
		return median
	}
	sigma := math.Log(p95) / 1.6448536269514722
	// At most trace.MaxSpan: a median of a year drawn 8σ high would
	// overflow the clock.
	return time.Duration(min(float64(median)*math.Exp(sigma*cs.rng.NormFloat64()), float64(trace.MaxSpan)))
}

// spotLife draws how long a spot instance lives before its reclaim notice;
// 0 means it is never reclaimed.
func (cs *cloudState) spotLife(o policy.Offering) time.Duration {
	if cs == nil || o.Market != policy.MarketSpot {
		return 0
	}
	m := cs.spot(o)
	if m.MeanLife <= 0 {
		return 0
	}
	return m.Protection + max(time.Second, expDraw(cs.rng, m.MeanLife))
}

// spot is a spot offering's reclaim model: its own, else its provider's,
// else the cloud's.
func (cs *cloudState) spot(o policy.Offering) SpotModel {
	if len(cs.c.Spot) > 0 {
		if m, ok := cs.c.Spot[policyOfferingName(o)]; ok {
			return m
		}
	}
	if len(cs.c.SpotByProvider) > 0 {
		if m, ok := cs.c.SpotByProvider[o.Provider]; ok {
			return m
		}
	}
	return SpotModel{MeanLife: cs.c.SpotMeanLife, Notice: cs.c.SpotNotice, Protection: cs.c.SpotProtection}
}

// markUnavailable puts an offering that failed a launch at now in the
// capacity cache for the capacity TTL, never shortening an entry, with
// why when it was not out of stock (policy.WhyNeverJoined,
// policy.WhyReclaimedBooting), as providers.CapacityCache records it.
func (cs *cloudState) markUnavailable(key policy.OfferingKey, now time.Time, why string) {
	if cs == nil {
		return
	}
	if until := now.Add(cs.c.CapacityTTL); until.After(cs.unavail[key]) {
		cs.unavail[key] = until
	}
	switch {
	case why != "":
		if cs.why == nil {
			cs.why = map[policy.OfferingKey]string{}
		}
		cs.why[key] = why
	case cs.why != nil:
		delete(cs.why, key)
	}
}

// causes is the snapshot's UnavailableWhy: why the offerings in the
// capacity cache at now that are not out of stock are there; nil when
// none.
func (cs *cloudState) causes(now time.Time) map[policy.OfferingKey]string {
	if cs == nil || len(cs.why) == 0 {
		return nil
	}
	return policy.UnavailableCauses(cs.why, cs.unavail, now)
}

// unavailable is the capacity cache the snapshot carries (expired entries
// dropped); nil when empty.
func (cs *cloudState) unavailable(now time.Time) map[policy.OfferingKey]time.Time {
	if cs == nil {
		return nil
	}
	return liveAt(cs.unavail, now)
}
