package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// Default values, in one place. applyDefaults documents how each is chosen.
const (
	DefaultListen       = "127.0.0.1:8700"
	DefaultState        = "spillway.db"
	DefaultTick         = 10 * time.Second
	DefaultSweepGrace   = 10 * time.Minute
	DefaultRetention    = 90 * 24 * time.Hour
	DefaultInterval     = 30 * time.Second
	DefaultStaleAfter   = 2 * time.Minute
	DefaultWaitTarget   = 5 * time.Minute
	DefaultDrainTimeout = 10 * time.Minute
	DefaultPerformance  = 1.0
	// DefaultAgentURL is where the server looks for a burst instance's
	// spillway agent: its private address, the agent's default port.
	DefaultAgentURL = "http://{{.PrivateIP}}:9401"
	// DefaultDrainHookTimeout bounds one run of a pool's drain hook.
	DefaultDrainHookTimeout = 30 * time.Second
	// MaxDrainHookTimeout is the longest drain.timeout: the server bounds
	// each hook run by its call timeout (scheduler.DefaultCallTimeout).
	MaxDrainHookTimeout    = 60 * time.Second
	DefaultDrainHTTPMethod = "POST"
	// DefaultMaxConnections bounds the server's HTTP connections:
	// operators' CLIs and pages, a scraper and health checks use a few
	// dozen.
	DefaultMaxConnections = 256
)

// DefaultLeaseTTL is the term of a leader of several servers sharing a
// PostgreSQL state; the renew interval defaults to a quarter of it.
const DefaultLeaseTTL = 10 * time.Second

// DefaultCallTimeout is the call_timeout of a provider whose config leaves
// it out, by provider type. The SDK providers' API calls answer in seconds,
// so a minute is already a hung call, and a hung call holds up its pool's
// tick. A Terraform apply waits until the instances it creates run (the
// AWS provider's aws_instance waits for "running"; its own create timeout
// is 10m), for every instance of a burst, and is interrupted its grace
// (60s) before this bound: an apply cut short is resumed by the next one,
// which replaces what was cut off mid-provisioner, so too short a bound can
// repeat a launch for ever.
func DefaultCallTimeout(t ProviderType) time.Duration {
	if t == ProviderTerraform {
		return 10 * time.Minute
	}
	return time.Minute
}

// DefaultBilling is the billing rule of an offering whose config leaves
// billing out, by provider type: EC2 Linux bills per second with a 60 s
// minimum, Alibaba pay-as-you-go per second, and a Terraform module is
// assumed to bill each started hour.
func DefaultBilling(t ProviderType) policy.Billing {
	switch t {
	case ProviderAWS:
		return policy.BillingPerSecondMin60
	case ProviderAlicloud:
		return policy.BillingPerSecond
	default:
		return policy.BillingHourly
	}
}

// DefaultSpotProtection is how long after launch a spot instance of a
// provider of type t cannot be reclaimed: Alibaba's protection period,
// one hour, RunInstances' SpotDuration when left out, as the alicloud
// provider leaves it; none for AWS (and Terraform modules, which may
// launch anywhere).
func DefaultSpotProtection(t ProviderType) time.Duration {
	if t == ProviderAlicloud {
		return time.Hour
	}
	return 0
}

// DefaultOfferingName is the name an offering gets when its config gives
// none: "provider/region[/zone]/instance_type/market".
func DefaultOfferingName(o policy.Offering) string {
	parts := []string{o.Provider, o.Region}
	if o.Zone != "" {
		parts = append(parts, o.Zone)
	}
	parts = append(parts, o.InstanceType, string(o.Market))
	return strings.Join(parts, "/")
}

// applyDefaults fills every value a config may leave out. explicit reports
// whether the config wrote a field path (so that an explicit 0 such as
// `wait_target: 0s` is kept); nil means "a zero value is absent".
func applyDefaults(cfg *Config, explicit func(path string) bool) {
	if explicit == nil {
		explicit = func(string) bool { return false }
	}
	s := &cfg.Server
	// listen: "" or state: "" written out (a template whose variable was
	// unset) is refused by checkServer, not read as the default.
	if s.Listen == "" && !explicit("server.listen") {
		s.Listen = DefaultListen
	}
	if s.State == "" && !explicit("server.state") {
		s.State = DefaultState
	}
	if s.Tick == 0 && !explicit("server.tick") {
		s.Tick = policy.Duration(DefaultTick)
	}
	if s.Retention == 0 && !explicit("server.retention") {
		s.Retention = policy.Duration(DefaultRetention)
	}
	if s.SweepGrace == 0 && !explicit("server.sweep_grace") {
		s.SweepGrace = policy.Duration(DefaultSweepGrace)
	}
	if s.LeaseTTL == 0 && !explicit("server.lease_ttl") {
		s.LeaseTTL = policy.Duration(DefaultLeaseTTL)
	}
	if s.LeaseRenew == 0 && !explicit("server.lease_renew") {
		s.LeaseRenew = s.LeaseTTL / 4
	}
	if s.MaxConnections == 0 && !explicit("server.max_connections") {
		s.MaxConnections = DefaultMaxConnections
	}
	for name, pc := range cfg.Providers {
		if pc.CallTimeout == 0 && !explicit("providers."+name+".call_timeout") {
			pc.CallTimeout = policy.Duration(DefaultCallTimeout(pc.Type))
			cfg.Providers[name] = pc
		}
	}
	for i := range cfg.Pools {
		cp := &cfg.Pools[i]
		p := &cp.Policy
		pp := fmt.Sprintf("pools[%d]", i)
		if p.Interval == 0 && !explicit(pp+".interval") {
			p.Interval = policy.Duration(DefaultInterval)
		}
		if p.StaleAfter == 0 && !explicit(pp+".stale_after") {
			p.StaleAfter = policy.Duration(DefaultStaleAfter)
		}
		if p.WaitTarget == 0 && !explicit(pp+".wait_target") {
			p.WaitTarget = policy.Duration(DefaultWaitTarget)
		}
		if b := p.Limits.Budget; b != nil && b.Mode == "" {
			b.Mode = policy.BudgetHard
		}
		if p.ScaleIn.Idle == (policy.IdleSetting{}) && !explicit(pp+".scale_in.idle") {
			p.ScaleIn.Idle = policy.IdleSetting{Auto: true}
		}
		if p.ScaleIn.DrainTimeout == 0 && !explicit(pp+".scale_in.drain_timeout") {
			p.ScaleIn.DrainTimeout = policy.Duration(DefaultDrainTimeout)
		}
		for j := range p.Offerings {
			o := &p.Offerings[j]
			prov, ok := cfg.Providers[o.Provider]
			if o.Region == "" && ok {
				o.Region = prov.Region
			}
			if o.Market == "" {
				o.Market = policy.MarketOnDemand
			}
			if o.Billing == "" && ok {
				o.Billing = DefaultBilling(prov.Type)
			}
			if o.Market == policy.MarketSpot && ok {
				o.SpotProtection = policy.Duration(DefaultSpotProtection(prov.Type))
			}
			if o.Performance == 0 && !explicit(fmt.Sprintf("%s.offerings[%d].performance", pp, j)) {
				o.Performance = DefaultPerformance
			}
			if o.Name == "" {
				o.Name = DefaultOfferingName(*o)
			}
		}
		for j := range p.Schedules {
			if p.Schedules[j].Name == "" {
				p.Schedules[j].Name = fmt.Sprintf("schedule[%d]", j)
			}
		}
		if cp.Join.AgentURL == "" {
			cp.Join.AgentURL = DefaultAgentURL
		}
		if cp.Join.Timeout == 0 && !explicit(pp+".join.timeout") {
			cp.Join.Timeout = policy.Duration(cp.Policy.DefaultJoinTimeout())
		}
		if cp.Drain.Timeout == 0 && !explicit(pp+".drain.timeout") {
			cp.Drain.Timeout = policy.Duration(DefaultDrainHookTimeout)
		}
		if h := cp.Drain.HTTP; h != nil && h.Method == "" {
			h.Method = DefaultDrainHTTPMethod
		}
	}
}
