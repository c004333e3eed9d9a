// Package policy holds Spillway's configuration model, its validation, and the
// pure decision engine that turns a pool's observed state into a Plan.
//
// Nothing in this package performs I/O during a decision, reads the clock or
// draws random numbers: the simulator and the server call the same Decide.
package policy

import "time"

// Config is the whole spillway.yaml.
type Config struct {
	// Cluster names this Spillway installation; it is written into every
	// instance's spillway:cluster tag.
	Cluster string `yaml:"cluster"`
	// Providers maps a provider name to how Spillway reaches it.
	Providers map[string]ProviderConfig `yaml:"providers"`
	// Pools are the independent burst domains.
	Pools []Pool `yaml:"pools"`
}

// ProviderType is the kind of cloud a provider entry talks to.
type ProviderType string

const (
	ProviderAWS       ProviderType = "aws"
	ProviderAlicloud  ProviderType = "alicloud"
	ProviderTerraform ProviderType = "terraform"
)

// ProviderConfig says how to reach one cloud account/region.
type ProviderConfig struct {
	Type   ProviderType `yaml:"type"`
	Region string       `yaml:"region"`
	// Endpoint overrides the SDK's endpoint (e.g. `spillway emulator`).
	Endpoint string `yaml:"endpoint,omitempty"`
	// Subnets (AWS) or vSwitches (Alibaba) keyed by zone, tried in order.
	Subnets []Subnet `yaml:"subnets,omitempty"`
	// LaunchTemplate (AWS) or Image to boot.
	LaunchTemplate string   `yaml:"launch_template,omitempty"`
	Image          string   `yaml:"image,omitempty"`
	SecurityGroups []string `yaml:"security_groups,omitempty"`
	// UserData is a bootstrap template that joins the node to the on-prem scheduler.
	UserData string `yaml:"user_data,omitempty"`
	// Module is the Terraform module directory (type terraform).
	Module string `yaml:"module,omitempty"`
}

// Subnet is one placement target: an AWS subnet or an Alibaba vSwitch.
type Subnet struct {
	Zone string `yaml:"zone"`
	ID   string `yaml:"id"`
}

// Pool is one burst domain: an on-prem baseline, what may be rented for it,
// and the rules for doing so.
type Pool struct {
	Name   string `yaml:"name"`
	OnPrem OnPrem `yaml:"onprem"`
	// WaitTarget: burst only when work would wait longer than this.
	WaitTarget Duration `yaml:"wait_target"`
	// Interval is how often the server (and the simulator) evaluates the pool.
	Interval Duration `yaml:"interval,omitempty"`
	// StaleAfter is how old a signal may be before the policy holds.
	StaleAfter Duration   `yaml:"stale_after,omitempty"`
	Offerings  []Offering `yaml:"offerings"`
	Limits     Limits     `yaml:"limits"`
	ScaleIn    ScaleIn    `yaml:"scale_in"`
	Schedules  []Schedule `yaml:"schedules,omitempty"`
	Manual     Manual     `yaml:"manual"`
}

// OnPrem is the owned baseline of a pool.
type OnPrem struct {
	Nodes       int `yaml:"nodes"`
	GPUsPerNode int `yaml:"gpus_per_node"`
}

// GPUs is the total on-prem GPU count.
func (o OnPrem) GPUs() int { return o.Nodes * o.GPUsPerNode }

// Market is how an offering is bought.
type Market string

const (
	MarketOnDemand Market = "on-demand"
	MarketSpot     Market = "spot"
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
	Name         string  `yaml:"name,omitempty"`
	Provider     string  `yaml:"provider"`
	Region       string  `yaml:"region,omitempty"`
	Zone         string  `yaml:"zone,omitempty"`
	InstanceType string  `yaml:"instance_type"`
	GPUs         int     `yaml:"gpus,omitempty"`
	PricePerHour float64 `yaml:"price_per_hour,omitempty"`
	// Boot is the time from launch until the instance can take work.
	Boot   Duration `yaml:"boot,omitempty"`
	Market Market   `yaml:"market,omitempty"`
	// Performance weighs a GPU of this offering against a reference GPU
	// (1.0 when unset); price per useful GPU-hour is price / (gpus × performance).
	Performance float64 `yaml:"performance,omitempty"`
	Billing     Billing `yaml:"billing,omitempty"`
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

// Limits are hard caps a pool never exceeds.
type Limits struct {
	MaxGPUs        int     `yaml:"max_gpus,omitempty"`
	MaxCostPerHour float64 `yaml:"max_cost_per_hour,omitempty"`
	Budget         *Budget `yaml:"budget,omitempty"`
}

// BudgetPeriod is the window a budget amount applies to.
type BudgetPeriod string

const (
	PeriodDay   BudgetPeriod = "day"
	PeriodWeek  BudgetPeriod = "week"
	PeriodMonth BudgetPeriod = "month"
)

// Budget caps cloud spend per calendar period (UTC).
type Budget struct {
	Amount float64      `yaml:"amount"`
	Period BudgetPeriod `yaml:"period"`
}

// ScaleIn says when idle burst capacity is released.
type ScaleIn struct {
	// Idle is how long an instance may sit idle before it is drained.
	// When Auto is set, it is the ski-rental break-even computed per offering.
	Idle IdleSetting `yaml:"idle"`
	// MaxLifetime ends an instance regardless of work (after draining).
	MaxLifetime Duration `yaml:"max_lifetime,omitempty"`
	// DrainTimeout bounds how long a drain may take before termination.
	DrainTimeout Duration `yaml:"drain_timeout,omitempty"`
}

// IdleSetting is a duration or "auto".
type IdleSetting struct {
	Auto     bool
	Duration time.Duration
}

// Schedule pre-warms capacity: from each cron firing, for Duration, the pool
// keeps at least GPUs burst GPUs.
type Schedule struct {
	Name string `yaml:"name,omitempty"`
	// Cron is a standard 5-field expression, optionally prefixed "CRON_TZ=Area/City ".
	Cron     string   `yaml:"cron"`
	GPUs     int      `yaml:"gpus"`
	Duration Duration `yaml:"duration"`
}

// Manual bounds operator-triggered bursts.
type Manual struct {
	MaxGPUs int      `yaml:"max_gpus,omitempty"`
	MaxTTL  Duration `yaml:"max_ttl,omitempty"`
}

// Duration is a time.Duration written as "90s", "5m", "1h30m" in YAML.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
