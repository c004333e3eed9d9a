// Package policy is Spillway's pool model and the pure decision engine that
// turns a pool's observed state into a Plan.
//
// Nothing in this package performs I/O, reads the clock or draws random
// numbers: the simulator and the server call the same Decide. It imports
// nothing of Spillway's own; the config package reads spillway.yaml into
// these types (their yaml tags name the fields of the file).
package policy

import (
	"math"
	"time"
)

// Pool is one burst domain: an on-prem baseline, what may be rented for it,
// and the rules for doing so.
type Pool struct {
	// Name identifies the pool; it is written into every instance's
	// spillway:pool tag. Required and unique; same characters as Cluster.
	Name string `yaml:"name"`
	// OnPrem is the owned baseline. The server observes the real one; the
	// simulator uses these numbers.
	OnPrem OnPrem `yaml:"onprem"`
	// WaitTarget: burst only when work would wait longer than this.
	// Default 5m; 0s bursts as soon as anything waits.
	WaitTarget Duration `yaml:"wait_target"`
	// Interval is how often the server (and the simulator) evaluates the
	// pool. Default 30s; must be greater than 0.
	Interval Duration `yaml:"interval,omitempty"`
	// TickSlack is the longest a tick may take: how much later than
	// Interval an evaluation may come, and how long after an evaluation
	// an end it orders may reach the cloud. The server's tick of a pool
	// waits for each of its cloud calls, one after another, each up to
	// the provider's call_timeout (a Terraform apply waits for its
	// instances: 10 minutes by default): the list, the drain hooks, the
	// terminations; the next evaluation comes after it. A hard budget
	// counts each instance's cost until the evaluation that can end it
	// and until that end reaches the cloud, so that slow calls do not let
	// it run past the money. Not read from the config: the server sets it
	// to twice the longest call_timeout of the pool's providers, and the
	// drain hook's longest timeout (60s) when the pool has one
	// (config.TickLength); 0 in the simulator, which evaluates every
	// Interval.
	TickSlack Duration `yaml:"-"`
	// StaleAfter is how old a signal may be before the policy holds (no
	// launch on demand, no scale-in). Default 2m; at least Interval.
	StaleAfter Duration `yaml:"stale_after,omitempty"`
	// WholeJobs says the pool's jobs cannot span instances (e.g. Slurm jobs
	// asking --gres=gpu:N per node): a job is then launched for on one
	// instance that holds it whole, and spans several only when no offering
	// holds it. When false (the default), a multi-GPU job may run across
	// several smaller instances (e.g. --gpus=N over nodes), and at an equal
	// price per GPU the smaller shapes, released GPU by GPU, are preferred.
	WholeJobs bool `yaml:"whole_jobs,omitempty"`
	// Span says which instances a job larger than one instance may run
	// across (never with WholeJobs while some offering holds it whole).
	Span Span `yaml:"span,omitempty"`
	// CheckpointInterval, when above 0, says the pool's jobs checkpoint at
	// least this often: a job killed (a spot reclaim, a drain cut short)
	// resumes from its last checkpoint instead of starting over. 0 (the
	// default) means jobs do not checkpoint.
	CheckpointInterval Duration `yaml:"checkpoint_interval,omitempty"`
	// Offerings are what the pool may rent. Required: at least one, with
	// unique names.
	Offerings []Offering `yaml:"offerings"`
	// Limits are the pool's hard caps.
	Limits Limits `yaml:"limits"`
	// ScaleIn says when idle burst instances are drained and ended.
	ScaleIn ScaleIn `yaml:"scale_in"`
	// Schedules pre-warm capacity for known peaks.
	Schedules []Schedule `yaml:"schedules,omitempty"`
	// Manual bounds operator-triggered bursts.
	Manual Manual `yaml:"manual"`
}

// OnPrem is the owned baseline of a pool.
type OnPrem struct {
	// Nodes is the number of on-prem GPU nodes (0 or more).
	Nodes int `yaml:"nodes"`
	// GPUsPerNode is the GPUs in each node; required when Nodes > 0.
	GPUsPerNode int `yaml:"gpus_per_node"`
}

// GPUs is the total on-prem GPU count.
func (o OnPrem) GPUs() int { return o.Nodes * o.GPUsPerNode }

// Market is how an offering is bought.
type Market string

// Markets.
const (
	// MarketOnDemand is the list-price market (the default).
	MarketOnDemand Market = "on-demand"
	// MarketSpot is spare capacity the cloud may reclaim, at a lower price.
	MarketSpot Market = "spot"
)

// Billing is how a provider charges for an instance's lifetime.
type Billing string

const (
	// BillingPerSecondMin60 bills per second with a 60 s minimum (EC2 Linux).
	BillingPerSecondMin60 Billing = "per-second-min-60s"
	// BillingPerSecond bills per second with no minimum (Alibaba pay-as-you-go).
	BillingPerSecond Billing = "per-second"
	// BillingHourly bills each started hour in full.
	BillingHourly Billing = "hourly"
)

// Offering is one thing that can be rented: a provider, a place, an
// instance type and a market, with its price and shape.
type Offering struct {
	// Name identifies the offering in plans and reasons; defaults to
	// "provider/region[/zone]/instance_type/market".
	Name string `yaml:"name,omitempty"`
	// Provider names an entry of the config's providers. Required.
	Provider string `yaml:"provider"`
	// Region defaults to the provider's region (and may not differ from it
	// for aws and alicloud).
	Region string `yaml:"region,omitempty"`
	// Zone, when set, pins launches to one zone; the provider must have a
	// subnet there. Empty lets the provider try its subnets in order.
	Zone string `yaml:"zone,omitempty"`
	// InstanceType is the cloud's instance type, e.g. p5.48xlarge. Required.
	InstanceType string `yaml:"instance_type"`
	// GPUs per instance (> 0). Taken from the catalog when left out.
	GPUs int `yaml:"gpus,omitempty"`
	// PricePerHour is USD per instance-hour (> 0). Taken from the catalog
	// (its spot column for market spot) when left out; a value written in
	// the config always overrides the catalog.
	PricePerHour float64 `yaml:"price_per_hour,omitempty"`
	// Boot is the time from launch until the instance can take work (0 or
	// more; 0 when left out).
	Boot Duration `yaml:"boot,omitempty"`
	// Market is on-demand (the default) or spot.
	Market Market `yaml:"market,omitempty"`
	// SpotProtection is, for a spot offering, the time after launch in
	// which its cloud never reclaims an instance: Alibaba's protection
	// period (RunInstances' SpotDuration, one hour when left out, as
	// Spillway leaves it), none on AWS. Not written in the config: it
	// follows from the provider's type (config.DefaultSpotProtection).
	// Reclaims are learnt, and priced, only for the hours past it.
	SpotProtection Duration `yaml:"-"`
	// Performance weighs a GPU of this offering against a reference GPU
	// (1.0 when unset); price per useful GPU-hour is price / (gpus × performance).
	Performance float64 `yaml:"performance,omitempty"`
	// Billing is how the instance's lifetime is charged; it defaults per
	// provider type (aws per-second-min-60s, alicloud per-second,
	// terraform hourly).
	Billing Billing `yaml:"billing,omitempty"`
	// VCPUs and MemoryGiB are the instance's vCPUs and memory, taken from
	// the catalog when left out (0: unknown). A demand source that knows
	// each pending job's CPUs and memory (slurm; http and command with
	// job_cpus and job_memory_gib), and the simulator for a trace that
	// gives them, count a job as the smallest shape that holds it
	// (FitShape); Decide does not read them.
	VCPUs     int     `yaml:"vcpus,omitempty"`
	MemoryGiB float64 `yaml:"memory_gib,omitempty"`
}

// Key identifies the offering in the capacity cache.
func (o Offering) Key() OfferingKey {
	return OfferingKey{Provider: o.Provider, Region: o.Region, Zone: o.Zone, InstanceType: o.InstanceType, Market: o.Market}
}

// OfferingKey identifies a (provider, region/zone, instance type, market)
// combination, the unit a stock-out applies to.
type OfferingKey struct {
	Provider     string
	Region       string
	Zone         string
	InstanceType string
	Market       Market
}

// OfferingName is the name of the pool's offering with key k, or k's own
// name (String) when the pool has none: what a hold on k is shown as.
func (p *Pool) OfferingName(k OfferingKey) string {
	for i := range p.Offerings {
		if p.Offerings[i].Key() == k {
			return p.Offerings[i].Name
		}
	}
	return k.String()
}

// String names the key as offerings without a name are named:
// provider/region[/zone]/instance type/market.
func (k OfferingKey) String() string {
	o := Offering{Provider: k.Provider, Region: k.Region, Zone: k.Zone, InstanceType: k.InstanceType, Market: k.Market}
	return decOfferingName(&o)
}

// Limits are hard caps a pool never exceeds.
type Limits struct {
	// MaxGPUs caps the burst GPUs held at once; 0 (left out) is no GPU
	// cap, and config refuses a 0 written out, which reads as "none".
	// Schedules and manual bursts may not ask for more.
	MaxGPUs int `yaml:"max_gpus,omitempty"`
	// MaxCostPerHour caps the USD per hour of all burst instances together;
	// 0 (left out) is no cap, and config refuses a 0 written out.
	MaxCostPerHour float64 `yaml:"max_cost_per_hour,omitempty"`
	// Budget caps spend per calendar period; nil is no budget.
	Budget *Budget `yaml:"budget,omitempty"`
}

// BudgetPeriod is the window a budget amount applies to.
type BudgetPeriod string

// Budget periods (calendar periods in UTC).
const (
	PeriodDay   BudgetPeriod = "day"
	PeriodWeek  BudgetPeriod = "week"
	PeriodMonth BudgetPeriod = "month"
)

// Budget caps cloud spend per calendar period (UTC).
type Budget struct {
	// Amount is the most USD the pool may spend per period (> 0). Required.
	Amount float64 `yaml:"amount"`
	// Period is day, week or month. Required.
	Period BudgetPeriod `yaml:"period"`
	// Mode is hard (the default: the period's spend never exceeds Amount;
	// instances are drained early, and cut at their drain timeout, when
	// the remainder cannot cover the fleet) or soft (no launch is admitted
	// whose cost until the period's end would exceed what remains, and
	// running work is never cut for money).
	Mode BudgetMode `yaml:"mode,omitempty"`
}

// BudgetMode is how a budget binds.
type BudgetMode string

// Budget modes.
const (
	// BudgetHard never lets a period's spend exceed the amount (the
	// default, also when Mode is empty).
	BudgetHard BudgetMode = "hard"
	// BudgetSoft admits no launch beyond the amount but never cuts
	// running work for money.
	BudgetSoft BudgetMode = "soft"
)

// Soft reports whether the budget binds softly (nil and empty are hard).
func (b *Budget) Soft() bool { return b != nil && b.Mode == BudgetSoft }

// Span says which instances a job larger than one instance may span.
type Span struct {
	// MinGPUs is the smallest instance a job may span (0 means
	// SpanMinGPUs, 8: the nodes multi-node jobs are built for).
	MinGPUs int `yaml:"min_gpus,omitempty"`
	// Slowdown is how much longer a job runs when it spans instances (≥ 1;
	// 0 means 1, no slowdown): network between instances is slower than
	// within one.
	Slowdown float64 `yaml:"slowdown,omitempty"`
}

// MaxSpotLoss bounds SpotLoss: a spot offering is never taken to deliver
// less than a tenth of its GPU-hours.
const MaxSpotLoss = 0.9

// SpotLoss is the share of a spot instance's GPU-hours that reclaims throw
// away, at reclaims per instance-hour rate (lives exponential), for jobs
// that checkpoint every checkpoint (0: never): each reclaim loses the work
// since the last checkpoint and pays the boot of an instance in its place.
// The work lost is, on average, 1/rate − checkpoint/(e^(rate·checkpoint) − 1):
// half an interval when reclaims are rare, the whole life when they come
// before a checkpoint. At most MaxSpotLoss.
func SpotLoss(rate float64, checkpoint, boot time.Duration) float64 {
	if !(rate > 0) {
		return 0
	}
	lost := 1.0 // the whole life: rate × 1/rate
	if c := rate * checkpoint.Hours(); c > 0 {
		lost = 1 - c/math.Expm1(c)
	}
	return min(MaxSpotLoss, lost+rate*boot.Hours())
}

// SpotExposed is the share of a spot instance's hours that can be
// reclaimed: those past its protection, for an instance used for life
// (the mean life of the pool's recent instances, Snapshot.BurstLife).
// An instance used no longer than its protection is never reclaimed (0);
// one used six hours after a one-hour protection is exposed for five of
// them. Without a protection, or with the life unknown (0), every hour is
// (1).
func SpotExposed(protection, life time.Duration) float64 {
	if protection <= 0 || life <= 0 {
		return 1
	}
	if life <= protection {
		return 0
	}
	return float64(life-protection) / float64(life)
}

// SpotLastResort reports whether offering o is rented only when no other
// offering can be: a spot offering of a pool whose jobs do not checkpoint
// (CheckpointInterval 0). A reclaim then loses every run on the instance,
// so spot's list price says nothing of its price per useful GPU-hour;
// operators of such jobs keep them off spot (Karpenter's NodePools, for
// one, launch on-demand unless spot is listed). The engine ranks these
// offerings after every other that can be launched, and the simulator's
// baselines and efficiency figure follow the same rule.
func (p *Pool) SpotLastResort(o Offering) bool {
	return o.Market == MarketSpot && p.CheckpointInterval <= 0
}

// A pool's default join timeout, the server's join.timeout when its config
// sets none: JoinTimeoutBoots times its slowest offering's boot, at least
// MinJoinTimeout. An instance is written off as never joined only well
// past the boots the pool plans with: at twice its boot, boots spread as
// the simulator's realistic cloud draws them (p95 at twice the median)
// would see one healthy instance in twenty ended; at three boots, one in
// two hundred. Karpenter waits 15 minutes for a node to register, three
// boots of a 5-minute offering.
const (
	MinJoinTimeout   = 10 * time.Minute
	JoinTimeoutBoots = 3
)

// DefaultJoinTimeout is the pool's join timeout when its config sets none.
func (p *Pool) DefaultJoinTimeout() time.Duration {
	slowest := time.Duration(0)
	for _, o := range p.Offerings {
		slowest = max(slowest, o.Boot.D())
	}
	if slowest > math.MaxInt64/JoinTimeoutBoots {
		return math.MaxInt64
	}
	return max(MinJoinTimeout, JoinTimeoutBoots*slowest)
}

// SpanMin is the smallest instance a job of this pool may span.
func (p *Pool) SpanMin() int {
	if p.Span.MinGPUs > 0 {
		return p.Span.MinGPUs
	}
	return SpanMinGPUs
}

// SpanSlowdown is the factor a spanning job's run time is multiplied by.
func (p *Pool) SpanSlowdown() float64 {
	if p.Span.Slowdown > 1 {
		return p.Span.Slowdown
	}
	return 1
}

// ScaleIn says when idle burst capacity is released.
type ScaleIn struct {
	// Idle is how long an instance may sit idle before it is drained.
	// When Auto is set, it is the ski-rental break-even computed per
	// offering. Written "auto" (the default) or a duration.
	Idle IdleSetting `yaml:"idle"`
	// MaxLifetime ends an instance regardless of work (after draining);
	// 0 (left out) is no limit, and config refuses a 0 written out.
	MaxLifetime Duration `yaml:"max_lifetime,omitempty"`
	// DrainTimeout bounds how long a drain may take before termination.
	// Default 10m.
	DrainTimeout Duration `yaml:"drain_timeout,omitempty"`
}

// IdleSetting is a duration or "auto".
type IdleSetting struct {
	Auto     bool
	Duration time.Duration
	// Fixed says Duration was given, 0 included (release an instance as
	// soon as it idles, as its billing allows); a config's "0s" sets it.
	// The zero IdleSetting, neither auto nor fixed, is auto.
	Fixed bool
}

// IsAuto reports whether the threshold is the ski-rental break-even.
func (s IdleSetting) IsAuto() bool { return s.Auto || (!s.Fixed && s.Duration <= 0) }

// Schedule pre-warms capacity: from each cron firing, for Duration, the pool
// keeps at least GPUs burst GPUs.
type Schedule struct {
	// Name is the floor's owner in plans; defaults to "schedule[i]" and is
	// unique within the pool.
	Name string `yaml:"name,omitempty"`
	// Cron is a standard 5-field expression, optionally prefixed
	// "CRON_TZ=Area/City "; without the prefix it is read in UTC. Required.
	Cron string `yaml:"cron"`
	// GPUs is the floor each firing holds (> 0, at most Limits.MaxGPUs).
	// Required.
	GPUs int `yaml:"gpus"`
	// Duration is how long each firing holds the floor (> 0). Required.
	Duration Duration `yaml:"duration"`
}

// Manual bounds operator-triggered bursts.
type Manual struct {
	// MaxGPUs is the most one manual burst may ask for (at most
	// Limits.MaxGPUs); 0 refuses manual bursts.
	MaxGPUs int `yaml:"max_gpus,omitempty"`
	// MaxTTL is the longest a manual burst may last; 0 (left out) is no
	// limit, and config refuses a 0 written out.
	MaxTTL Duration `yaml:"max_ttl,omitempty"`
}

// Duration is a time.Duration written as "90s", "5m", "1h30m" in YAML.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
