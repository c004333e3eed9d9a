package config

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spillway-io/spillway/signals/baseline"
	"github.com/spillway-io/spillway/signals/queue"
	"github.com/spillway-io/spillway/signals/sources"
)

// checkSignals checks a pool's signals as far as it can without building
// the sources (which BuildSignals does, e.g. for `spillway signals check`).
func (v *cfgValidator) checkSignals(sp string, s *Signals) {
	if b := s.Baseline; b != nil && !v.d.failed[sp+".baseline"] {
		bp := sp + ".baseline"
		switch {
		case (b.Agents == nil) == (b.Prometheus == nil):
			v.errf(bp, "want exactly one of agents (spillway agents' URLs) or prometheus (dcgm-exporter metrics)")
		case b.Agents != nil:
			a, ap := b.Agents, bp+".agents"
			if len(a.URLs) == 0 && a.TargetsFile == "" {
				v.missing(ap+".urls", "list the agents as http://host:port or host:port, e.g. urls: [http://127.0.0.1:9401], or set targets_file")
			}
			if a.Concurrency < 0 {
				v.errf(ap+".concurrency", "%d is negative: use the most agents scraped at once, or leave it out for 64", a.Concurrency)
			}
			v.nonNegativeDuration(ap+".timeout", a.Timeout)
			v.nonNegativeDuration(ap+".max_sample_age", a.MaxSampleAge)
		default:
			p, pp := b.Prometheus, bp+".prometheus"
			if p.URL == "" {
				v.missing(pp+".url", "the Prometheus server, e.g. url: http://127.0.0.1:9090")
			}
			if p.BusyUtil < 0 || p.BusyUtil > 100 {
				v.errf(pp+".busy_util", "%s is not a percentage: use 0 to 100 (10 when left out)", cfgFloat(p.BusyUtil))
			}
			v.nonNegativeDuration(pp+".timeout", p.Timeout)
			if p.UnhealthyQuery != "" && strings.TrimSpace(p.UnhealthyQuery) == "" {
				v.errf(pp+".unhealthy_query", "blank: write a PromQL query returning one series per GPU, 1 when it is unhealthy and 0 when not, carrying the node and UUID labels (e.g. spillway_gpu_unhealthy{cluster=\"a\"}), or leave it out for spillway_gpu_unhealthy")
			}
			if p.UnhealthyQuery != "" && strings.TrimSpace(p.UnhealthyQuery) == strings.TrimSpace(cmp.Or(p.UtilQuery, baseline.DCGMUtilQuery)) {
				v.errf(pp+".unhealthy_query", "%q is util_query: every GPU at 1%% or more would read unhealthy; want a query returning 1 for an unhealthy GPU and 0 for a healthy one (e.g. spillway_gpu_unhealthy{cluster=\"a\"}), or leave it out for spillway_gpu_unhealthy", p.UnhealthyQuery)
			}
		}
	}
	if len(s.Demand) == 0 && !v.d.failed[sp+".demand"] {
		v.missing(sp+".demand", "list at least one demand source (type "+strings.Join(sources.DemandTypes, ", ")+"); without one the policy always holds")
	}
	for i, d := range s.Demand {
		dp := fmt.Sprintf("%s.demand[%d]", sp, i)
		if v.d.failed[dp] {
			continue
		}
		settings := map[string]bool{queue.TypeSlurm: d.Slurm != nil, queue.TypeRedis: d.Redis != nil,
			queue.TypeHTTP: d.HTTP != nil, queue.TypeCommand: d.Command != nil, sources.TypePrometheus: d.Prometheus != nil}
		switch {
		case d.Type == "":
			v.missing(dp+".type", "valid types are "+strings.Join(sources.DemandTypes, ", "))
		case !slices.Contains(sources.DemandTypes, d.Type):
			v.errf(dp+".type", "unknown demand source type %q: valid types are %s", d.Type, strings.Join(sources.DemandTypes, ", "))
		case !settings[d.Type]:
			v.missing(dp+"."+d.Type, fmt.Sprintf("a demand source of type %s takes its settings under %s:", d.Type, d.Type))
		}
		for _, t := range sources.DemandTypes {
			if settings[t] && t != d.Type && d.Type != "" {
				v.errf(dp+"."+t, "%s: settings on a source of type %q: remove them or set type: %s", t, d.Type, t)
			}
		}
		if d.Attempts < 0 {
			v.errf(dp+".attempts", "%d is negative: use 1 or more (tries per reading), or leave it out", d.Attempts)
		}
		for _, f := range []struct {
			name string
			val  int64
		}{{"timeout", int64(d.Timeout)}, {"backoff", int64(d.Backoff)}, {"max_backoff", int64(d.MaxBackoff)}} {
			if f.val < 0 {
				v.errf(dp+"."+f.name, "duration %s is negative: use 0 or more, such as 90s, 5m or 1h30m", v.d.nodes[dp+"."+f.name].Value)
			}
		}
		if p := d.Prometheus; p != nil && d.Type == sources.TypePrometheus {
			pp := dp + ".prometheus"
			if p.URL == "" {
				v.missing(pp+".url", "the Prometheus server, e.g. url: http://127.0.0.1:9090")
			}
			if p.Query == "" {
				v.missing(pp+".query", `an instant PromQL query returning the pending jobs (or GPUs), e.g. query: sum(slurm_partition_jobs_pending{partition="gpu"})`)
			}
			if p.Measure != "" && p.Measure != "jobs" && p.Measure != "gpus" {
				v.errf(pp+".measure", "unknown measure %q: valid measures are jobs, gpus", p.Measure)
			}
		}
	}
}

// source remembers where a config's fields were written, for problems
// found after Parse (ValidateForServer, BuildSignals).
type source struct {
	file string
	pos  map[string][2]int // field path -> line, column
}

func (d *cfgDecoder) source() *source {
	s := &source{file: d.file, pos: make(map[string][2]int, len(d.nodes))}
	for p, n := range d.nodes {
		line, col := d.position(n, p)
		s.pos[p] = [2]int{line, col}
	}
	return s
}

// fieldError places a problem at path, or at its nearest written parent.
func (s *source) fieldError(path, msg string) FieldError {
	fe := FieldError{Field: path, Msg: msg}
	if s == nil {
		return fe
	}
	fe.File = s.file
	for p := path; ; p = cfgParentPath(p) {
		if at, ok := s.pos[p]; ok {
			fe.Line, fe.Col = at[0], at[1]
			break
		}
		if p == "" {
			fe.Line, fe.Col = 1, 1
			break
		}
	}
	return fe
}

// ErrNoSignals is returned (wrapped) by BuildSignals for a pool without signals.
var ErrNoSignals = errors.New("the pool has no signals")

// BuildSignals builds the pool's signal sources (see sources.Build), ready
// for signals.Read(ctx, p.Policy, now, set.Baseline, set.Demands). A
// source that cannot be built (e.g. a password_env that is not set, a
// targets file that cannot be read) is reported as a *ValidationError
// placed at the source in the file, with every other such problem. Close
// the set when done.
func (p *Pool) BuildSignals(opts ...sources.Option) (*sources.Set, error) {
	if p.Signals == nil {
		return nil, fmt.Errorf("pool %q: %w: add signals (baseline and demand) to it in spillway.yaml", p.Policy.Name, ErrNoSignals)
	}
	set, err := sources.Build(sources.Spec{Pool: p.Policy, Baseline: p.Signals.Baseline, Demand: p.Signals.Demand}, opts...)
	var be *sources.BuildError
	if !errors.As(err, &be) {
		return set, err
	}
	verr := &ValidationError{}
	for _, se := range be.Errors {
		verr.Errors = append(verr.Errors, p.src.fieldError(p.path+".signals."+se.Where(), se.Err.Error()))
	}
	sortFieldErrors(verr.Errors)
	return nil, verr
}

// ValidateForServer reports, as one *ValidationError in the style of Parse,
// what `spillway server` needs beyond what Parse checks (which is all a
// backtest needs): every pool without signals, every signal source that
// cannot be built as the server builds it when it starts (BuildSignals:
// a malformed skip_reasons pattern, a password_env that is not set, a
// targets file that cannot be read; nothing is contacted), and every aws
// or alicloud provider without a subnet or without an image or launch
// template, and every terraform provider that the server's terraform.New
// would refuse: a zone, variable or backend_config name it refuses, a
// work_dir it cannot make, no terraform binary on PATH, a module that is
// missing, does not parse or breaks the module contract
// (terraform.CheckModule); every hard budget that admits no launch once
// the server's tick slack is counted (ServerPolicy: each evaluation may
// come, and each end reach the cloud, a tick's length late: TickLength);
// and what the
// server opens when it starts (CheckListen,
// CheckStatePath, TLS.Load): a listen address it would refuse, a state
// file in a folder that does not exist or that is a directory, a TLS
// certificate or key that does not load.
func (c *Config) ValidateForServer(opts ...ServerOption) error {
	checks := serverChecks{ctx: context.Background()}
	for _, o := range opts {
		o(&checks)
	}
	errs := c.serverSectionErrors(checks)
	for _, name := range cfgNames(c.Providers) {
		for _, pr := range c.Providers[name].problems() {
			if pr.serverOnly {
				errs = append(errs, c.src.fieldError(cfgJoin("providers."+name, pr.Field), pr.Msg))
			}
		}
	}
	errs = append(errs, c.terraformErrors(checks.ctx)...)
	errs = append(errs, c.serverBudgetErrors()...)
	for i, p := range c.Pools {
		if p.Signals == nil {
			errs = append(errs, c.src.fieldError(fmt.Sprintf("pools[%d].signals", i), fmt.Sprintf(
				"missing required field: the server reads pool %q's signals every tick: add signals with a baseline (agents or prometheus) and at least one demand source", p.Policy.Name)))
			continue
		}
		set, err := p.BuildSignals()
		var verr *ValidationError
		switch {
		case errors.As(err, &verr):
			errs = append(errs, verr.Errors...)
		case err != nil:
			errs = append(errs, c.src.fieldError(fmt.Sprintf("pools[%d].signals", i), err.Error()))
		default:
			set.Close()
		}
	}
	if len(errs) == 0 {
		return nil
	}
	sortFieldErrors(errs)
	return &ValidationError{Errors: errs}
}
