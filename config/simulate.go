package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// Simulate is the simulate section: how `spillway simulate` models the
// clouds and tunes the baseline policies it compares with. The server
// ignores it. Every field may be left out; a field that is set overrides
// the simulator's default (docs/backtest.md gives them and their sources),
// and the command line's --cloud, --seed and --baseline-opt override the
// file. The simulator's own types are not used here (config does not
// import sim): cmd/spillway maps these values onto sim.Cloud and
// sim.BaselineKnobs.
type Simulate struct {
	// Cloud is the cloud model.
	Cloud SimCloud `yaml:"cloud,omitempty"`
	// Baselines are the baseline policies' knobs.
	Baselines SimBaselines `yaml:"baselines,omitempty"`
}

// CloudModel names a simulated cloud.
type CloudModel string

// Cloud models.
const (
	// CloudRealistic has stock-outs, boot-time spread, spot reclaims and,
	// when set, quotas (the default).
	CloudRealistic CloudModel = "realistic"
	// CloudIdeal launches every instance at once, boots it in exactly its
	// offering's boot time and never reclaims it.
	CloudIdeal CloudModel = "ideal"
)

// SimCloud is the simulated clouds' behaviour. A nil field keeps the
// realistic model's default; every field but model is refused with model
// ideal, which models none of them.
type SimCloud struct {
	// Model is realistic (the default) or ideal.
	Model CloudModel `yaml:"model,omitempty"`
	// Seed drives every random draw (default 1); the same seed gives the
	// same report.
	Seed *uint64 `yaml:"seed,omitempty"`
	// MeanInStock and MeanOutOfStock: each offering alternates between in
	// stock and out of stock, each state lasting an exponential time of
	// this mean. mean_in_stock 1m to 366 days; mean_out_of_stock 0s (never
	// out of stock) or 1m to 366 days.
	MeanInStock    *policy.Duration `yaml:"mean_in_stock,omitempty"`
	MeanOutOfStock *policy.Duration `yaml:"mean_out_of_stock,omitempty"`
	// Offerings override the cloud's stock-out means and spot reclaims
	// per offering, by the offering's name (its name, or
	// provider/region[/zone]/instance_type/market); what an entry leaves
	// out is the cloud's.
	Offerings map[string]SimOffering `yaml:"offerings,omitempty"`
	// CapacityTTL is how long a stocked-out offering stays in the capacity
	// cache; 1s to 24h.
	CapacityTTL *policy.Duration `yaml:"capacity_ttl,omitempty"`
	// BootP95 is the p95 boot time as a multiple of the median (the
	// offering's boot); 1 (fixed boots) to 10.
	BootP95 *float64 `yaml:"boot_p95,omitempty"`
	// SpotMeanLife is the mean time from launch (after the protection) to
	// a spot instance's reclaim notice: 0s (never reclaimed) or 1m to 366
	// days. SpotNotice is the warning before the reclaim: 0s to 1h.
	// SpotProtection is the time after launch the cloud never reclaims
	// in: 0s to 6h (Alibaba's longest). Left out, both follow the
	// offering's cloud: 2 minutes and none on AWS, 5 minutes and an hour
	// on Alibaba (sim.AlibabaSpotNotice, sim.AlibabaSpotProtection).
	SpotMeanLife   *policy.Duration `yaml:"spot_mean_life,omitempty"`
	SpotNotice     *policy.Duration `yaml:"spot_notice,omitempty"`
	SpotProtection *policy.Duration `yaml:"spot_protection,omitempty"`
	// Quota caps the GPUs held at once per provider ("aws-east") or per
	// provider and region ("aws-east/us-east-1"); 1 to 1048576 GPUs.
	Quota map[string]int `yaml:"quota,omitempty"`
	// QuotaTTL is how long a provider or region that hit its quota is
	// blocked; 1s to 24h.
	QuotaTTL *policy.Duration `yaml:"quota_ttl,omitempty"`
}

// SimOffering is one offering's stock-out means, or its stock-out
// schedule, its boot spread and, for a spot offering, its mean life until
// a reclaim notice, the notice and the protection (same ranges as the
// cloud's).
type SimOffering struct {
	MeanInStock    *policy.Duration `yaml:"mean_in_stock,omitempty"`
	MeanOutOfStock *policy.Duration `yaml:"mean_out_of_stock,omitempty"`
	// OutOfStock, when it lists any window, replaces the random process:
	// the offering is out of stock within the windows and in stock
	// outside them. At most MaxStockWindows windows.
	OutOfStock     []SimWindow      `yaml:"out_of_stock,omitempty"`
	SpotMeanLife   *policy.Duration `yaml:"spot_mean_life,omitempty"`
	SpotNotice     *policy.Duration `yaml:"spot_notice,omitempty"`
	SpotProtection *policy.Duration `yaml:"spot_protection,omitempty"`
	// BootP95 is the offering's own boot spread (as the cloud's).
	BootP95 *float64 `yaml:"boot_p95,omitempty"`
}

// SimWindow is a stretch of simulated time: from From (0s to 366 days
// after the trace's first submission) for For (1m to 366 days).
type SimWindow struct {
	From policy.Duration `yaml:"from"`
	For  policy.Duration `yaml:"for"`
}

// MaxStockWindows bounds an offering's out_of_stock windows.
const MaxStockWindows = 1000

// SimBaselines are the baselines' knobs, as --baseline-opt sets them
// (per-job.suspend=0s is baselines: {per-job: {suspend: 0s}}).
type SimBaselines struct {
	Threshold SimThreshold `yaml:"threshold,omitempty"`
	PerJob    SimPerJob    `yaml:"per-job,omitempty"`
	Karpenter SimKarpenter `yaml:"karpenter,omitempty"`
}

// SimThreshold tunes the threshold baseline.
type SimThreshold struct {
	// Target is the GPU utilisation it sizes for; MinThresholdTarget to 1.
	Target *float64 `yaml:"target,omitempty"`
	// Cooldown after every scaling action; 0s to 720h.
	Cooldown *policy.Duration `yaml:"cooldown,omitempty"`
	// Interval between its evaluations; 1s to 720h.
	Interval *policy.Duration `yaml:"interval,omitempty"`
}

// SimPerJob tunes the per-job (Slurm power saving) baseline.
type SimPerJob struct {
	// Suspend is Slurm's SuspendTime: how long a node sits idle before it
	// is suspended; 0s to 720h.
	Suspend *policy.Duration `yaml:"suspend,omitempty"`
	// ResumeRate is Slurm's ResumeRate: nodes resumed a minute; 1 to
	// 100000.
	ResumeRate *int `yaml:"resume_rate,omitempty"`
	// ResumeTimeout is Slurm's ResumeTimeout: a node still booting this
	// long after its resume is ended and its jobs requeued; 1s to 8784h
	// (a year: it must outlast every boot).
	ResumeTimeout *policy.Duration `yaml:"resume_timeout,omitempty"`
	// InsufficientCapacityTimeout is how long a node type that failed for
	// capacity stays DOWN (AWS ParallelCluster's fast insufficient capacity
	// fail-over); 0s turns the fail-over off, as in plain Slurm; to 720h.
	InsufficientCapacityTimeout *policy.Duration `yaml:"insufficient_capacity_timeout,omitempty"`
}

// SimKarpenter tunes the karpenter baseline.
type SimKarpenter struct {
	// ConsolidateAfter is consolidateAfter: how long a node's jobs must be
	// unchanged before it may be consolidated; 0s to 720h.
	ConsolidateAfter *policy.Duration `yaml:"consolidate_after,omitempty"`
	// ConsolidationPolicy is WhenEmpty or WhenEmptyOrUnderutilized.
	ConsolidationPolicy *string `yaml:"consolidation_policy,omitempty"`
	// Evict lets consolidation move running jobs that do not checkpoint
	// (their work is lost and counted).
	Evict *bool `yaml:"evict,omitempty"`
	// SpotToSpot is Karpenter's SpotToSpotConsolidation feature gate (off
	// by default): a spot node may be replaced by a cheaper spot node when
	// at least 15 cheaper spot instance types hold its jobs.
	SpotToSpot *bool `yaml:"spot_to_spot,omitempty"`
	// RegistrationTTL is how long a node may take to register before
	// Karpenter deletes it and provisions again (15m); 1s to 720h.
	RegistrationTTL *policy.Duration `yaml:"registration_ttl,omitempty"`
}

// Karpenter's consolidation policies.
var cfgConsolidationPolicies = []string{"WhenEmpty", "WhenEmptyOrUnderutilized"}

var cfgCloudModels = []CloudModel{CloudRealistic, CloudIdeal}

// checkSimulate checks the simulate section, after defaults (offering
// names are known).
func (v *cfgValidator) checkSimulate(cfg *Config) {
	s := cfg.Simulate
	if s == nil || v.d.failed["simulate"] {
		return
	}
	c := &s.Cloud
	const cp = "simulate.cloud"
	if c.Model != "" && !slices.Contains(cfgCloudModels, c.Model) {
		v.errf(cp+".model", "unknown cloud model %q: valid models are %s", c.Model, cfgJoinEnum(cfgCloudModels))
	}
	if c.Model == CloudIdeal {
		// Every field the ideal cloud does not model.
		for _, f := range cfgFields(cfgSimCloudType).names {
			if f != "model" && v.has(cp+"."+f) {
				v.errf(cp+"."+f, "model ideal models no stock-outs, boot spread, spot reclaims or quotas, and draws nothing: remove %s, or use model: realistic (--cloud ideal on the command line overrides a realistic file instead)", f)
			}
		}
		return
	}
	v.simDuration(cp+".mean_in_stock", c.MeanInStock, false, time.Minute, MaxDuration, "")
	v.simDuration(cp+".mean_out_of_stock", c.MeanOutOfStock, true, time.Minute, MaxDuration, "never out of stock")
	markets := map[string]policy.Market{} // offering name -> market
	for i := range cfg.Pools {
		for _, o := range cfg.Pools[i].Policy.Offerings {
			markets[o.Name] = o.Market
		}
	}
	for _, name := range cfgNames(c.Offerings) {
		op := cp + ".offerings." + name
		market, ok := markets[name]
		if !ok {
			v.errf(op, "no offering is named %q: name one of the pools' offerings: %s", name, strings.Join(cfgNames(markets), ", "))
			continue
		}
		o := c.Offerings[name]
		v.simDuration(op+".mean_in_stock", o.MeanInStock, false, time.Minute, MaxDuration, "")
		v.simDuration(op+".mean_out_of_stock", o.MeanOutOfStock, true, time.Minute, MaxDuration, "never out of stock")
		v.stockWindows(op, o)
		v.bootP95(op+".boot_p95", o.BootP95)
		for field, d := range map[string]*policy.Duration{"spot_mean_life": o.SpotMeanLife, "spot_notice": o.SpotNotice, "spot_protection": o.SpotProtection} {
			if d != nil && market != policy.MarketSpot {
				v.errf(op+"."+field, "offering %q is bought %s, and only spot instances are reclaimed: remove %s, or give it to a spot offering", name, market, field)
			}
		}
		if market == policy.MarketSpot {
			v.simDuration(op+".spot_mean_life", o.SpotMeanLife, true, time.Minute, MaxDuration, "never reclaimed")
			v.simDuration(op+".spot_notice", o.SpotNotice, false, 0, time.Hour, "")
			v.simDuration(op+".spot_protection", o.SpotProtection, false, 0, MaxSpotProtection, "")
		}
	}
	v.simDuration(cp+".capacity_ttl", c.CapacityTTL, false, time.Second, 24*time.Hour, "")
	v.bootP95(cp+".boot_p95", c.BootP95)
	v.simDuration(cp+".spot_mean_life", c.SpotMeanLife, true, time.Minute, MaxDuration, "never reclaimed")
	v.simDuration(cp+".spot_notice", c.SpotNotice, false, 0, time.Hour, "")
	v.simDuration(cp+".spot_protection", c.SpotProtection, false, 0, MaxSpotProtection, "")
	for _, key := range cfgNames(c.Quota) {
		qp := cp + ".quota." + key
		prov, region, hasRegion := strings.Cut(key, "/")
		pc, ok := cfg.Providers[prov]
		switch {
		case !ok:
			v.errf(qp, "quota names provider %q, which is not defined under providers: want a provider (%s) or provider/region", prov, strings.Join(cfgNames(cfg.Providers), ", "))
			continue
		case hasRegion && !slices.Contains(cfgRegions(cfg, prov, pc), region):
			v.errf(qp, "provider %q has no region %q: its offerings are in %s", prov, region, strings.Join(cfgRegions(cfg, prov, pc), ", "))
			continue
		}
		if n := c.Quota[key]; n < 1 || n > MaxPoolGPUs {
			v.errf(qp, "%d GPUs is out of range: want the GPUs the account may hold at once, 1 to %d", n, MaxPoolGPUs)
		}
	}
	v.simDuration(cp+".quota_ttl", c.QuotaTTL, false, time.Second, 24*time.Hour, "")

	const tp = "simulate.baselines.threshold"
	if f := s.Baselines.Threshold.Target; f != nil && !(*f >= MinThresholdTarget && *f <= 1) {
		v.errf(tp+".target", "%s is out of range: want the GPU utilisation the threshold baseline sizes for, from %s to 1 (e.g. 0.8; below %s it rents more than %s GPUs for each one in use)", cfgFloat(*f), cfgFloat(MinThresholdTarget), cfgFloat(MinThresholdTarget), cfgFloat(1/MinThresholdTarget))
	}
	v.simDuration(tp+".cooldown", s.Baselines.Threshold.Cooldown, false, 0, MaxBaselineDuration, "")
	v.simDuration(tp+".interval", s.Baselines.Threshold.Interval, false, time.Second, MaxBaselineDuration, "")
	const pj = "simulate.baselines.per-job"
	v.simDuration(pj+".suspend", s.Baselines.PerJob.Suspend, false, 0, MaxBaselineDuration, "")
	if n := s.Baselines.PerJob.ResumeRate; n != nil && (*n < 1 || *n > MaxResumeRate) {
		v.errf(pj+".resume_rate", "%d is out of range: want the nodes Slurm resumes a minute, 1 to %d", *n, MaxResumeRate)
	}
	// As long as a boot may be, which it must outlast (sim.CheckBoots).
	v.simDuration(pj+".resume_timeout", s.Baselines.PerJob.ResumeTimeout, false, time.Second, MaxDuration, "")
	v.simDuration(pj+".insufficient_capacity_timeout", s.Baselines.PerJob.InsufficientCapacityTimeout, false, 0, MaxBaselineDuration, "")
	const kp = "simulate.baselines.karpenter"
	v.simDuration(kp+".consolidate_after", s.Baselines.Karpenter.ConsolidateAfter, false, 0, MaxBaselineDuration, "")
	if p := s.Baselines.Karpenter.ConsolidationPolicy; p != nil && !slices.Contains(cfgConsolidationPolicies, *p) {
		v.errf(kp+".consolidation_policy", "unknown consolidation policy %q: want %s", *p, strings.Join(cfgConsolidationPolicies, " or "))
	}
	// As long as a boot may be, which it must outlast (sim.CheckBoots).
	v.simDuration(kp+".registration_ttl", s.Baselines.Karpenter.RegistrationTTL, false, time.Second, MaxDuration, "")
	v.registrationOutlastsBoots(cfg, kp+".registration_ttl", s.Baselines.Karpenter.RegistrationTTL)
}

// registrationOutlastsBoots refuses a karpenter registration_ttl that an
// offering's boot reaches, as joinOutlastsBoots refuses a join.timeout:
// the karpenter baseline would end every instance of it as never
// registered (a run made 3.2 million launches, none of which joined).
func (v *cfgValidator) registrationOutlastsBoots(cfg *Config, path string, ttl *policy.Duration) {
	if ttl == nil || ttl.D() <= 0 {
		return // the default, or refused as out of range
	}
	for i := range cfg.Pools {
		for j, o := range cfg.Pools[i].Policy.Offerings {
			if boot := o.Boot.D(); boot >= ttl.D() {
				v.errf(path, "registration_ttl %s is not longer than the boot of pools[%d].offerings[%d] (%s, %s): Karpenter ends a node that has not registered within it, so every launch of it would time out; set it well above the slowest boot, or leave it out for the default, 15m",
					ttl.D(), i, j, o.InstanceType, boot)
				return
			}
		}
	}
}

var cfgSimCloudType = reflect.TypeFor[SimCloud]()

// simDuration checks an optional duration of the simulate section against
// lo to hi; zero, when named, is also allowed and means zeroMeans.
func (v *cfgValidator) simDuration(path string, d *policy.Duration, zeroOK bool, lo, hi time.Duration, zeroMeans string) {
	if d == nil || (zeroOK && *d == 0) {
		return
	}
	if x := d.D(); x < lo || x > hi {
		want := fmt.Sprintf("%s to %s", lo, hi)
		if zeroOK {
			want = fmt.Sprintf("0s (%s) or %s", zeroMeans, want)
		}
		v.errf(path, "duration %s is out of range: want %s", x, want)
	}
}

// bootP95 checks a boot_p95.
func (v *cfgValidator) bootP95(path string, f *float64) {
	if f != nil && !(*f >= MinBootP95 && *f <= MaxBootP95) {
		v.errf(path, "%s is out of range: want the p95 boot time as a multiple of the median (the offering's boot), from %s (fixed boots) to %s", cfgFloat(*f), cfgFloat(MinBootP95), cfgFloat(MaxBootP95))
	}
}

// stockWindows checks an offering's out_of_stock schedule.
func (v *cfgValidator) stockWindows(op string, o SimOffering) {
	wp := op + ".out_of_stock"
	if len(o.OutOfStock) == 0 {
		return
	}
	for _, f := range []string{"mean_in_stock", "mean_out_of_stock"} {
		if v.has(op + "." + f) {
			v.errf(op+"."+f, "the offering has an out_of_stock schedule, which replaces the random stock-outs: remove %s, or the schedule", f)
		}
	}
	if len(o.OutOfStock) > MaxStockWindows {
		v.errf(wp, "%d windows: want at most %d", len(o.OutOfStock), MaxStockWindows)
		return
	}
	for i, w := range o.OutOfStock {
		ip := fmt.Sprintf("%s[%d]", wp, i)
		if !v.has(ip + ".from") {
			v.missing(ip+".from", "when the stock-out begins, after the trace's first submission, e.g. from: 36h")
		} else {
			v.simDuration(ip+".from", &w.From, false, 0, MaxDuration, "")
		}
		if !v.has(ip + ".for") {
			v.missing(ip+".for", "how long the stock-out lasts, e.g. for: 6h")
		} else {
			v.simDuration(ip+".for", &w.For, false, time.Minute, MaxDuration, "")
		}
	}
}

// cfgRegions are the regions a provider's offerings are in, and its own.
func cfgRegions(cfg *Config, name string, pc ProviderConfig) []string {
	var out []string
	if pc.Region != "" {
		out = append(out, pc.Region)
	}
	for i := range cfg.Pools {
		for _, o := range cfg.Pools[i].Policy.Offerings {
			if o.Provider == name && o.Region != "" && !slices.Contains(out, o.Region) {
				out = append(out, o.Region)
			}
		}
	}
	slices.Sort(out)
	return out
}
