package config

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spillway-io/spillway/policy"
)

// cfgNameRE is what cluster, provider and pool names may look like: they
// end up in instance tags and in metric labels.
var cfgNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

const cfgNameRule = "use 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit"

// cfgValidator checks a decoded config and records problems in its decoder.
type cfgValidator struct {
	d   *cfgDecoder
	cat *Catalog
}

func (v *cfgValidator) errf(path, format string, args ...any) {
	v.d.errAt(path, fmt.Sprintf(format, args...))
}

func (v *cfgValidator) has(path string) bool { return v.d.explicit(path) }

func (v *cfgValidator) missing(path, hint string) {
	msg := "missing required field"
	if hint != "" {
		msg += ": " + hint
	}
	v.d.errAt(path, msg)
}

func (v *cfgValidator) name(path, value string) {
	if err := CheckName(value); err != nil {
		v.errf(path, "%v", err)
	}
}

// CheckName checks a cluster, provider or pool name as the config does,
// with its words (`bad name "../x": use 1 to 63 letters, …`), for a
// command given one on its command line.
func CheckName(name string) error {
	if !cfgNameRE.MatchString(name) {
		return fmt.Errorf("bad name %q: %s", name, cfgNameRule)
	}
	return nil
}

// maxLabelBytes bounds a label: an offering's or a schedule's name, an
// instance type, a zone, a subnet's or an image's id.
const maxLabelBytes = 255

// label checks a value that names something, shown in plans, reasons,
// tables and logs and sent to the clouds: one line of printable text
// without spaces around it, of at most maxLabelBytes ("" is left to the
// field's own check); a problem is reported once, here.
func (v *cfgValidator) label(path, value string) {
	var why string
	switch i := strings.IndexFunc(value, func(r rune) bool { return unicode.IsControl(r) || r == utf8.RuneError }); {
	case value == "":
		return
	case len(value) > maxLabelBytes:
		why = fmt.Sprintf("is too long: want at most %d bytes", maxLabelBytes)
	case i >= 0:
		r, _ := utf8.DecodeRuneInString(value[i:])
		why = fmt.Sprintf("holds the control character %U: want one line of printable text", r)
	case strings.TrimSpace(value) != value:
		why = "has spaces around it: remove them"
	default:
		return
	}
	v.errf(path, "%q %s", value, why)
	v.d.failed[path] = true // later checks of the value would repeat it
}

func (v *cfgValidator) nonNegativeDuration(path string, d policy.Duration) {
	if d < 0 {
		v.errf(path, "duration %s is negative: use 0 or more, such as 90s, 5m or 1h30m", time.Duration(d))
	}
}

func (v *cfgValidator) positiveDuration(path string, d policy.Duration) {
	if v.has(path) && d <= 0 {
		v.errf(path, "duration %s must be greater than 0, such as 90s, 5m or 1h30m", time.Duration(d))
	}
}

// durationIn checks an explicit duration against its range.
func (v *cfgValidator) durationIn(path string, d policy.Duration, lo, hi time.Duration) {
	if v.has(path) && (d.D() < lo || d.D() > hi) {
		v.errf(path, "duration %s is out of range: want %s to %s", d.D(), lo, hi)
	}
}

func cfgNames[K ~string, V any](m map[K]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, string(k))
	}
	sort.Strings(out)
	return out
}

var (
	cfgProviderTypes = []ProviderType{ProviderAWS, ProviderAlicloud, ProviderTerraform}
	cfgMarkets       = []policy.Market{policy.MarketOnDemand, policy.MarketSpot}
	cfgBillings      = []policy.Billing{policy.BillingPerSecondMin60, policy.BillingPerSecond, policy.BillingHourly}
	cfgPeriods       = []policy.BudgetPeriod{policy.PeriodDay, policy.PeriodWeek, policy.PeriodMonth}
	cfgBudgetModes   = []policy.BudgetMode{policy.BudgetHard, policy.BudgetSoft}
)

// cfgEnumAdverbs are the words people write for a budget's period.
var cfgEnumAdverbs = map[string]string{"daily": "day", "weekly": "week", "monthly": "month"}

// cfgEnumGuess is " (did you mean X?)" for the valid value a person most
// likely meant by s: one that differs only in letter case, hyphens,
// underscores or spaces (OnDemand, per_second), or a period's adverb
// (weekly); "" when none.
func cfgEnumGuess[T ~string](s T, valid []T) string {
	norm := func(x string) string {
		return strings.NewReplacer("-", "", "_", "", " ", "").Replace(strings.ToLower(x))
	}
	n := norm(string(s))
	if w, ok := cfgEnumAdverbs[n]; ok {
		n = w
	}
	for _, v := range valid {
		if norm(string(v)) == n {
			return fmt.Sprintf(" (did you mean %q?)", v)
		}
	}
	return ""
}

func cfgJoinEnum[T ~string](vals []T) string {
	s := make([]string, len(vals))
	for i, x := range vals {
		s[i] = string(x)
	}
	return strings.Join(s, ", ")
}

// checkExplicit checks what the config wrote, before defaults are applied.
func (v *cfgValidator) checkExplicit(cfg *Config) {
	if cfg.Cluster == "" {
		v.missing("cluster", "name this installation, e.g. cluster: acme-prod; it tags every instance Spillway launches")
	} else {
		v.name("cluster", cfg.Cluster)
	}

	if len(cfg.Providers) == 0 {
		v.missing("providers", "define at least one provider, e.g. providers: {aws: {type: aws, region: us-east-1}}")
	}
	for _, name := range cfgNames(cfg.Providers) {
		v.checkProvider("providers."+name, name, cfg.Providers[name])
	}

	if len(cfg.Pools) == 0 {
		v.missing("pools", "define at least one pool with a name and offerings")
	}
	poolAt := map[string]int{}
	for i := range cfg.Pools {
		p := &cfg.Pools[i].Policy
		pp := fmt.Sprintf("pools[%d]", i)
		if p.Name == "" {
			v.missing(pp+".name", "every pool needs a name, e.g. name: training")
		} else {
			v.name(pp+".name", p.Name)
			if j, dup := poolAt[p.Name]; dup {
				v.errf(pp+".name", "pool name %q is already used by pools[%d] (line %d): pool names must be unique", p.Name, j, v.line(fmt.Sprintf("pools[%d].name", j)))
			} else {
				poolAt[p.Name] = i
			}
		}
		v.checkPool(cfg, pp, p)
		v.checkServerPool(cfg, pp, &cfg.Pools[i])
	}
}

func (v *cfgValidator) line(path string) int {
	if n, ok := v.d.nodes[path]; ok {
		return n.Line
	}
	return 0
}

func (v *cfgValidator) checkProvider(pp, name string, pc ProviderConfig) {
	v.name(pp, name)
	for _, pr := range pc.problems() {
		if pr.serverOnly {
			continue // ValidateForServer reports these
		}
		v.d.errAt(cfgJoin(pp, pr.Field), pr.Msg)
	}
	for i, s := range pc.Subnets {
		v.label(fmt.Sprintf("%s.subnets[%d].zone", pp, i), s.Zone)
		v.label(fmt.Sprintf("%s.subnets[%d].id", pp, i), s.ID)
		v.checkZoneRegion(fmt.Sprintf("%s.subnets[%d].zone", pp, i), pc, s.Zone)
	}
	for i, g := range pc.SecurityGroups {
		if strings.TrimSpace(g) != "" { // else problems says it is empty
			v.label(fmt.Sprintf("%s.security_groups[%d]", pp, i), g)
		}
	}
	v.label(pp+".image", pc.Image)
	v.label(pp+".launch_template", pc.LaunchTemplate)
	v.userData(pp+".user_data", pc.UserData, pc.Type)
	v.callTimeout(pp+".call_timeout", pc)
}

// Bounds of a provider's call_timeout.
const (
	minCallTimeout = 5 * time.Second
	maxCallTimeout = time.Hour
)

// callTimeout checks an explicit call_timeout against its range.
func (v *cfgValidator) callTimeout(path string, pc ProviderConfig) {
	d := pc.CallTimeout.D()
	if !v.has(path) || (d >= minCallTimeout && d <= maxCallTimeout) {
		return
	}
	why := "each call to the provider (launch, list, termination) is cut off after it"
	switch pc.Type {
	case ProviderTerraform:
		why = "the default for terraform: an apply waits until its instances run, and one cut short is started again"
	case ProviderAWS, ProviderAlicloud:
		why = fmt.Sprintf("the default for %s: its API calls answer in seconds, and a hung call holds up its pool's tick", pc.Type)
	}
	v.errf(path, "call_timeout %s is out of range: want %s to %s, such as %s (%s)", d, minCallTimeout, maxCallTimeout, DefaultCallTimeout(pc.Type), why)
}

func (v *cfgValidator) checkPool(cfg *Config, pp string, p *policy.Pool) {
	if p.OnPrem.Nodes < 0 {
		v.errf(pp+".onprem.nodes", "%d nodes is negative: use 0 or more", p.OnPrem.Nodes)
	}
	if p.OnPrem.GPUsPerNode < 0 {
		v.errf(pp+".onprem.gpus_per_node", "%d GPUs per node is negative: use 0 or more", p.OnPrem.GPUsPerNode)
	} else if p.OnPrem.Nodes > 0 && p.OnPrem.GPUsPerNode == 0 {
		v.missing(pp+".onprem.gpus_per_node", fmt.Sprintf("onprem has %d nodes: say how many GPUs each has, e.g. gpus_per_node: 8", p.OnPrem.Nodes))
	}
	v.nonNegativeDuration(pp+".wait_target", p.WaitTarget)
	v.positiveDuration(pp+".interval", p.Interval)
	v.positiveDuration(pp+".stale_after", p.StaleAfter)

	if len(p.Offerings) == 0 {
		v.missing(pp+".offerings", "list at least one offering (provider and instance_type) the pool may rent")
	}
	for j := range p.Offerings {
		v.checkOffering(cfg, fmt.Sprintf("%s.offerings[%d]", pp, j), &p.Offerings[j])
	}

	lp := pp + ".limits"
	if p.Limits.MaxGPUs < 0 {
		v.errf(lp+".max_gpus", "%d is negative: use the most burst GPUs the pool may hold, or leave it out for no GPU cap", p.Limits.MaxGPUs)
	}
	if p.Limits.MaxCostPerHour < 0 {
		v.errf(lp+".max_cost_per_hour", "%s is negative: use the most USD per hour the pool may spend, or leave it out for no cap", cfgFloat(p.Limits.MaxCostPerHour))
	}
	if b := p.Limits.Budget; b != nil && !v.d.failed[lp+".budget"] {
		bp := lp + ".budget"
		switch {
		case !v.has(bp + ".amount"):
			v.missing(bp+".amount", "the most USD the pool may spend per period, e.g. amount: 2000")
		case b.Amount <= 0:
			v.errf(bp+".amount", "budget %s must be greater than 0 USD%s", cfgFloat(b.Amount), budgetAmountHint(b.Amount))
		}
		switch {
		case b.Period == "":
			v.missing(bp+".period", "valid periods are "+cfgJoinEnum(cfgPeriods))
		case !slices.Contains(cfgPeriods, b.Period):
			v.errf(bp+".period", "unknown budget period %q%s: valid periods are %s", b.Period, cfgEnumGuess(b.Period, cfgPeriods), cfgJoinEnum(cfgPeriods))
		}
		if b.Mode != "" && !slices.Contains(cfgBudgetModes, b.Mode) {
			v.errf(bp+".mode", "unknown budget mode %q%s: valid modes are %s (hard, the default: the period's spend never exceeds the amount; soft: no launch beyond it, running work never cut)", b.Mode, cfgEnumGuess(b.Mode, cfgBudgetModes), cfgJoinEnum(cfgBudgetModes))
		}
	}
	v.checkSpan(pp, p)

	sp := pp + ".scale_in"
	if !p.ScaleIn.Idle.Auto && p.ScaleIn.Idle.Duration < 0 {
		v.errf(sp+".idle", `idle %s is negative: use "auto" or a duration of 0 or more`, p.ScaleIn.Idle.Duration)
	}
	v.nonNegativeDuration(sp+".max_lifetime", p.ScaleIn.MaxLifetime)
	if life := p.ScaleIn.MaxLifetime.D(); life > 0 {
		for j, o := range p.Offerings {
			if boot := o.Boot.D(); boot >= life {
				v.errf(sp+".max_lifetime", "max_lifetime %s is not longer than the boot of offerings[%d] (%s, %s): every instance would be drained before it took work, and launched again; set it well above the slowest boot, e.g. 24h, or leave it out",
					life, j, o.InstanceType, boot)
				break
			}
		}
	}
	v.positiveDuration(sp+".drain_timeout", p.ScaleIn.DrainTimeout)

	names := map[string]int{}
	for j, s := range p.Schedules {
		sc := fmt.Sprintf("%s.schedules[%d]", pp, j)
		v.label(sc+".name", s.Name)
		if s.Name != "" {
			if k, dup := names[s.Name]; dup {
				v.errf(sc+".name", "schedule name %q is already used by schedules[%d]: schedule names in a pool must be unique", s.Name, k)
			}
			names[s.Name] = j
		}
		switch {
		case s.Cron == "":
			v.missing(sc+".cron", `when the schedule starts, as a 5-field cron expression, e.g. cron: "CRON_TZ=Europe/Berlin 0 8 * * 1-5"`)
		default:
			if err := policy.CheckCron(s.Cron); err != nil {
				v.errf(sc+".cron", "%v%s", err, cronHint(s.Cron))
			}
		}
		switch {
		case !v.has(sc + ".gpus"):
			v.missing(sc+".gpus", "how many burst GPUs the schedule holds, e.g. gpus: 16")
		case s.GPUs <= 0:
			v.errf(sc+".gpus", "%d GPUs: a schedule must hold more than 0 GPUs", s.GPUs)
		}
		switch {
		case !v.has(sc + ".duration"):
			v.missing(sc+".duration", "how long each firing holds the GPUs, e.g. duration: 10h")
		case s.Duration <= 0:
			v.errf(sc+".duration", "duration %s must be greater than 0, such as 90m or 10h", s.Duration.D())
		}
	}

	mp := pp + ".manual"
	if p.Manual.MaxGPUs < 0 {
		v.errf(mp+".max_gpus", "%d is negative: use the most GPUs one manual burst may ask for, or 0 to refuse manual bursts", p.Manual.MaxGPUs)
	}
	v.nonNegativeDuration(mp+".max_ttl", p.Manual.MaxTTL)
}

// checkSpan checks checkpoint_interval and span, the settings of how a
// pool's jobs run on rented instances.
func (v *cfgValidator) checkSpan(pp string, p *policy.Pool) {
	if c := p.CheckpointInterval.D(); v.has(pp+".checkpoint_interval") && c != 0 && (c < MinCheckpointInterval || c > MaxCheckpointInterval) {
		v.errf(pp+".checkpoint_interval", "duration %s is out of range: want 0s (jobs do not checkpoint) or how often they do, from %s to %s (7 days)", c, MinCheckpointInterval, MaxCheckpointInterval)
	}
	if n := p.Span.MinGPUs; v.has(pp+".span.min_gpus") && (n < 1 || n > MaxSpanMinGPUs) {
		v.errf(pp+".span.min_gpus", "%d GPUs is out of range: want the smallest instance a job may span, 1 to %d GPUs (left out: %d)", n, MaxSpanMinGPUs, policy.SpanMinGPUs)
	}
	if f := p.Span.Slowdown; v.has(pp+".span.slowdown") && (f < MinSpanSlowdown || f > MaxSpanSlowdown) {
		v.errf(pp+".span.slowdown", "%s is out of range: want how many times longer a job runs across instances than within one, from %s (no slowdown, the default) to %s", cfgFloat(f), cfgFloat(MinSpanSlowdown), cfgFloat(MaxSpanSlowdown))
	}
}

func (v *cfgValidator) checkOffering(cfg *Config, op string, o *policy.Offering) {
	prov, provOK := cfg.Providers[o.Provider]
	switch {
	case o.Provider == "":
		v.missing(op+".provider", "name one of the providers defined under providers: "+strings.Join(cfgNames(cfg.Providers), ", "))
	case !provOK && !v.d.failed["providers"]:
		defined := strings.Join(cfgNames(cfg.Providers), ", ")
		if defined == "" {
			defined = "none"
		}
		v.errf(op+".provider", "offering names provider %q, which is not defined under providers: defined providers are %s", o.Provider, defined)
	}
	if o.InstanceType == "" {
		v.missing(op+".instance_type", "the cloud's instance type, e.g. instance_type: p5.48xlarge")
	}
	v.label(op+".name", o.Name)
	v.label(op+".instance_type", o.InstanceType)
	v.label(op+".zone", o.Zone)
	if provOK && o.Region != "" && prov.Region != "" && o.Region != prov.Region &&
		(prov.Type == ProviderAWS || prov.Type == ProviderAlicloud) {
		v.errf(op+".region", "region %q differs from provider %q's region %q: a provider serves one region; define another provider for %s", o.Region, o.Provider, prov.Region, o.Region)
	}
	if provOK && o.Zone != "" && len(prov.Subnets) > 0 {
		var zones []string
		for _, s := range prov.Subnets {
			zones = append(zones, s.Zone)
		}
		if !slices.Contains(zones, o.Zone) {
			v.errf(op+".zone", "zone %q has no subnet under provider %q: its subnets are in %s", o.Zone, o.Provider, strings.Join(zones, ", "))
		}
	}
	if v.has(op+".gpus") && o.GPUs <= 0 {
		v.errf(op+".gpus", "%d GPUs: an offering must have more than 0 GPUs per instance", o.GPUs)
	}
	if v.has(op+".price_per_hour") && o.PricePerHour <= 0 {
		v.errf(op+".price_per_hour", "price %s must be greater than 0: use the instance's price in USD per hour, e.g. 12.5", cfgFloat(o.PricePerHour))
	}
	v.nonNegativeDuration(op+".boot", o.Boot)
	if o.Market != "" && !slices.Contains(cfgMarkets, o.Market) {
		v.errf(op+".market", "unknown market %q%s: valid markets are %s", o.Market, cfgEnumGuess(o.Market, cfgMarkets), cfgJoinEnum(cfgMarkets))
	}
	if o.Billing != "" && !slices.Contains(cfgBillings, o.Billing) {
		v.errf(op+".billing", "unknown billing %q%s: valid billings are %s", o.Billing, cfgEnumGuess(o.Billing, cfgBillings), cfgJoinEnum(cfgBillings))
	}
	if v.has(op+".performance") && o.Performance <= 0 {
		v.errf(op+".performance", "performance %s must be greater than 0: it weighs one GPU of this offering against a reference GPU (1.0)", cfgFloat(o.Performance))
	}
	if v.has(op+".vcpus") && o.VCPUs <= 0 {
		v.errf(op+".vcpus", "%d vCPUs: an instance has more than 0 vCPUs; leave vcpus out when unknown", o.VCPUs)
	}
	if v.has(op+".memory_gib") && o.MemoryGiB <= 0 {
		v.errf(op+".memory_gib", "memory %s GiB must be greater than 0; leave memory_gib out when unknown", cfgFloat(o.MemoryGiB))
	}
}

// fillFromCatalog gives offerings that leave out gpus or price_per_hour
// the catalog's values; an explicit value always wins.
func (v *cfgValidator) fillFromCatalog(cfg *Config) {
	for i := range cfg.Pools {
		for j := range cfg.Pools[i].Policy.Offerings {
			o := &cfg.Pools[i].Policy.Offerings[j]
			op := fmt.Sprintf("pools[%d].offerings[%d]", i, j)
			prov, ok := cfg.Providers[o.Provider]
			if !ok || o.InstanceType == "" || v.d.failed[op] || !slices.Contains(cfgMarkets, o.Market) || !slices.Contains(cfgProviderTypes, prov.Type) {
				continue // already reported (a provider of no known type: at its type)
			}
			if v.upperCaseType(prov.Type, op, o.InstanceType) {
				continue
			}
			needGPUs := !v.has(op+".gpus") && !v.d.failed[op+".gpus"]
			needPrice := !v.has(op+".price_per_hour") && !v.d.failed[op+".price_per_hour"]
			if !needGPUs && !needPrice {
				v.shapeFromCatalog(prov.Type, op, o)
				continue
			}
			var miss []string
			if needGPUs {
				miss = append(miss, "gpus")
			}
			if needPrice {
				miss = append(miss, "price_per_hour")
			}
			if prov.Type == ProviderTerraform {
				v.errf(op, "an offering of terraform provider %q takes nothing from the catalog: set %s", o.Provider, strings.Join(miss, " and "))
				continue
			}
			e, found := v.cat.Lookup(prov.Type, o.InstanceType)
			if !found {
				var mean string
				if c := v.cat.Closest(prov.Type, o.InstanceType); c != "" {
					mean = fmt.Sprintf(" (did you mean %q?)", c)
				}
				v.errf(op+".instance_type", "instance type %q is not in the %s catalog%s: set %s", o.InstanceType, prov.Type, mean, strings.Join(miss, " and "))
				continue
			}
			if needGPUs {
				o.GPUs = e.GPUs
			}
			if needPrice {
				price, ok := e.Price(o.Market)
				if !ok {
					v.missing(op+".price_per_hour", fmt.Sprintf("the catalog has no %s price for %s (%d× %s): set price_per_hour", o.Market, o.InstanceType, e.GPUs, e.GPUModel))
					continue
				}
				o.PricePerHour = price
			}
			v.shapeFromCatalog(prov.Type, op, o)
		}
	}
}

// upperCaseType refuses an AWS or Alibaba instance type written with
// capital letters (P5.48xlarge), which the catalog would miss and the cloud
// refuses (EC2: InvalidParameterValue; ECS: InvalidInstanceType), even when
// gpus and price_per_hour are set; it reports whether it did. A terraform
// module names types as it likes.
func (v *cfgValidator) upperCaseType(t ProviderType, op, instanceType string) bool {
	lower := strings.ToLower(instanceType)
	if lower == instanceType || (t != ProviderAWS && t != ProviderAlicloud) {
		return false
	}
	cloud := map[ProviderType]string{ProviderAWS: "EC2", ProviderAlicloud: "ECS"}[t]
	v.errf(op+".instance_type", "instance type %q has capital letters: %s's instance types are lower case and it refuses this one at launch; write %s", instanceType, cloud, lower)
	return true
}

// shapeFromCatalog gives an offering that leaves out vcpus or memory_gib
// the catalog's, when the catalog knows its instance type and the GPUs
// agree (an instance type written with other GPUs is another shape).
func (v *cfgValidator) shapeFromCatalog(t ProviderType, op string, o *policy.Offering) {
	e, found := v.cat.Lookup(t, o.InstanceType)
	if !found || e.GPUs != o.GPUs {
		return
	}
	if !v.has(op+".vcpus") && e.VCPUs > 0 {
		o.VCPUs = e.VCPUs
	}
	if !v.has(op+".memory_gib") && e.MemGiB > 0 {
		o.MemoryGiB = e.MemGiB
	}
}

// staleAfterOutlastsInterval refuses a stale_after shorter than the
// interval. When stale_after is its default, the problem is the interval
// written: it is named there, with the default it passed.
func (v *cfgValidator) staleAfterOutlastsInterval(pp string, p *policy.Pool) {
	if p.StaleAfter <= 0 || p.Interval <= 0 || p.StaleAfter >= p.Interval {
		return
	}
	stale, interval := DurationString(time.Duration(p.StaleAfter)), DurationString(time.Duration(p.Interval))
	if !v.has(pp + ".stale_after") {
		v.errf(pp+".interval", "interval %s is longer than stale_after, which is not set and defaults to %s: every signal would be stale; set stale_after: %s (or longer) beside it, or use an interval of at most %s", interval, stale, interval, stale)
		return
	}
	v.errf(pp+".stale_after", "stale_after %s is shorter than interval %s: every signal would be stale; use at least the interval", stale, interval)
}

// checkCross checks relations between fields, after defaults and the catalog.
func (v *cfgValidator) checkCross(cfg *Config) {
	for i := range cfg.Pools {
		p := &cfg.Pools[i].Policy
		pp := fmt.Sprintf("pools[%d]", i)
		v.joinOutlastsBoots(pp, &cfg.Pools[i])
		v.staleAfterOutlastsInterval(pp, p)

		names := map[string]int{}
		minGPUs, minPrice := 0, 0.0
		for j, o := range p.Offerings {
			op := fmt.Sprintf("%s.offerings[%d]", pp, j)
			if k, dup := names[o.Name]; dup && o.Name != "" {
				path := op + ".name"
				if !v.has(path) {
					path = op
				}
				v.errf(path, "offering name %q is already used by offerings[%d]: give one of them a distinct name", o.Name, k)
			} else {
				names[o.Name] = j
			}
			if o.GPUs > 0 && (minGPUs == 0 || o.GPUs < minGPUs) {
				minGPUs = o.GPUs
			}
			if o.PricePerHour > 0 && (minPrice == 0 || o.PricePerHour < minPrice) {
				minPrice = o.PricePerHour
			}
		}

		v.explicitZeros(pp, p, minGPUs, minPrice)
		v.budgetAdmitsALaunch(cfg, i)
		max := p.Limits.MaxGPUs
		if max > 0 && minGPUs > 0 && max < minGPUs {
			v.errf(pp+".limits.max_gpus", "max_gpus %d is below the smallest offering's %d GPUs: no instance could ever launch", max, minGPUs)
		}
		if c := p.Limits.MaxCostPerHour; c > 0 && minPrice > 0 && c < minPrice {
			v.errf(pp+".limits.max_cost_per_hour", "max_cost_per_hour %s is below the cheapest offering's %s USD/h: no instance could ever launch", cfgFloat(c), cfgFloat(minPrice))
		}
		if max > 0 {
			for j, s := range p.Schedules {
				if s.GPUs > max {
					v.errf(fmt.Sprintf("%s.schedules[%d].gpus", pp, j), "schedule holds %d GPUs, more than limits.max_gpus %d: use at most %d or raise the limit", s.GPUs, max, max)
				}
			}
			if p.Manual.MaxGPUs > max {
				v.errf(pp+".manual.max_gpus", "%d is more than limits.max_gpus %d: a manual burst can never exceed the pool's limit; use at most %d", p.Manual.MaxGPUs, max, max)
			}
		}
	}
}

// budgetAmountHint says how to have no budget after an amount of 0 or
// less, and how not to burst at all after 0, what a budget of 0 might mean.
func budgetAmountHint(amount float64) string {
	hint := ": give the most USD the pool may spend per period, e.g. amount: 2000, or leave limits.budget out for no budget"
	if amount == 0 {
		hint += "; to stop the pool from bursting, remove the pool or run the server with --dry-run"
	}
	return hint
}

// explicitZeros refuses a 0 written for a limit whose 0 means "none"
// (limits.max_gpus, limits.max_cost_per_hour, manual.max_ttl,
// scale_in.max_lifetime): an operator writing 0 to stop a pool, or to
// recycle its instances at once, would get the opposite, no cap at all.
// Left out, each is no cap; manual.max_gpus: 0, which does refuse manual
// bursts, is another matter.
func (v *cfgValidator) explicitZeros(pp string, p *policy.Pool, minGPUs int, minPrice float64) {
	if path := pp + ".limits.max_gpus"; v.has(path) && p.Limits.MaxGPUs == 0 {
		v.errf(path, "max_gpus: 0 would cap the pool at no GPUs, which is never what a burst pool wants: leave it out for no GPU cap, or give at least %d (the smallest offering's GPUs); to stop the pool from bursting, remove the pool or run the server with --dry-run", max(minGPUs, 1))
	}
	if path := pp + ".limits.max_cost_per_hour"; v.has(path) && p.Limits.MaxCostPerHour == 0 {
		least := "more than 0 USD/h"
		if minPrice > 0 {
			least = fmt.Sprintf("at least %s USD/h (the cheapest offering's price)", cfgFloat(minPrice))
		}
		v.errf(path, "max_cost_per_hour: 0 would cap the pool at no spend, which is never what a burst pool wants: leave it out for no cost cap, or give %s", least)
	}
	if path := pp + ".manual.max_ttl"; v.has(path) && p.Manual.MaxTTL == 0 {
		v.errf(path, "max_ttl: 0s would end every manual burst at once: leave it out for no limit on how long one lasts, or give the longest, e.g. 12h; manual.max_gpus: 0 refuses manual bursts")
	}
	if path := pp + ".scale_in.max_lifetime"; v.has(path) && p.ScaleIn.MaxLifetime == 0 {
		v.errf(path, "max_lifetime: 0s would end every instance as soon as it launched: leave it out for no limit on how long one lives, or give the longest, well above the slowest offering's boot, e.g. 24h")
	}
}

// budgetAdmitsALaunch refuses a budget below what one launch of the
// cheapest offering certainly commits within a period
// (policy.LeastLaunchCommit), as max_cost_per_hour below the cheapest
// price is refused: no instance could ever launch. This is pool i's
// policy alone, as a backtest runs it; the server counts more
// (ServerPolicy, serverBudgetErrors), and the message says how much.
func (v *cfgValidator) budgetAdmitsALaunch(cfg *Config, i int) {
	p := &cfg.Pools[i].Policy
	b := p.Limits.Budget
	path := fmt.Sprintf("pools[%d].limits.budget.amount", i)
	if b == nil || b.Amount <= 0 || !slices.Contains(cfgPeriods, b.Period) || v.d.failed[path] {
		return // none, or already reported
	}
	least, cheapest := leastBudget(p)
	if cheapest < 0 || b.Amount >= least {
		return
	}
	msg := budgetTooSmall(p, least, cheapest, "")
	if sp, from := cfg.ServerPolicy(i); !b.Soft() && from != "" {
		if sl, sc := leastBudget(&sp); sc >= 0 && sl > least {
			msg += fmt.Sprintf("; spillway server needs at least %s, as its tick of the pool may take %s (%s), so that it may evaluate the pool that late and end an instance that long after deciding to, and a hard budget counts each instance until then",
				cfgMoney(sl), DurationString(sp.TickSlack.D()), cfg.tickWhy(i, from))
		}
	}
	v.errf(path, "%s", msg)
}

// leastBudget is the least budget amount that admits a launch of pool p
// (policy.LeastLaunchCommit of its cheapest offering) and that offering's
// index; -1 when some offering has no price (nothing is certain).
func leastBudget(p *policy.Pool) (least float64, cheapest int) {
	cheapest = -1
	for j := range p.Offerings {
		c := policy.LeastLaunchCommit(p, p.Offerings[j])
		if c <= 0 {
			return 0, -1
		}
		if cheapest < 0 || c < least {
			least, cheapest = c, j
		}
	}
	return least, cheapest
}

// budgetTooSmall says why p's budget admits no launch: least is
// leastBudget's amount for offerings[cheapest]; slackWhy, when not "",
// says where the pool's TickSlack comes from (the server's check).
func budgetTooSmall(p *policy.Pool, least float64, cheapest int, slackWhy string) string {
	b, o := p.Limits.Budget, p.Offerings[cheapest]
	why := "its minimum charge, all a soft budget counts of a launch at a period's very end"
	switch {
	case b.Soft():
	case slackWhy != "":
		why = fmt.Sprintf("half its cost until drain_timeout after the next evaluation, which the server may make %s late, and until the end it orders reaches the cloud, up to %s after it (a tick's length: %s), as a period's end may split that, and at least its minimum charge", DurationString(p.TickSlack.D()), DurationString(p.TickSlack.D()), slackWhy)
	default:
		why = "half its cost until drain_timeout after the next evaluation, as a period's end may split that, and at least its minimum charge"
	}
	return fmt.Sprintf("budget %s USD per %s is below %s USD, the least any launch commits within one period (offerings[%d], %s at %s USD/h: %s): no instance could ever launch; give at least %s, or leave budget out",
		cfgFloat(b.Amount), b.Period, cfgMoney(least), cheapest, o.InstanceType, cfgFloat(o.PricePerHour), why, cfgMoney(least))
}

// cfgMoney shows an amount of USD rounded up to the cent, so that "at
// least" it is enough.
func cfgMoney(f float64) string {
	return strconv.FormatFloat(math.Ceil(f*100)/100, 'f', 2, 64)
}

func cfgFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
