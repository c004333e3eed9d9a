package sources

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/baseline"
	"github.com/spillway-io/spillway/signals/queue"
	"github.com/spillway-io/spillway/signals/queue/prometheus"
)

// Spec is what Build builds: one pool's signal settings.
type Spec struct {
	// Pool is the pool the sources feed: its name names sources that have
	// none, and it is carried into Set.Pool.
	Pool     policy.Pool
	Baseline *Baseline
	Demand   []Demand
}

// Set is a pool's built sources. Close it when done.
type Set struct {
	// Pool is Spec.Pool, as signals.Read and signals.Assemble take it
	// (its name, stale_after and onprem).
	Pool policy.Pool
	// Baseline is nil when the file has none.
	Baseline signals.BaselineSource
	// Demands are in file order, each wrapped with its timeout and retries.
	Demands []signals.DemandSource

	closers []func()
}

// Close releases connections the sources hold.
func (s *Set) Close() {
	for _, c := range s.closers {
		c()
	}
	s.closers = nil
}

// Option changes how Build builds sources.
type Option func(*buildOptions)

type buildOptions struct {
	log   *slog.Logger
	queue []queue.Option
	clock clock.Clock
}

// WithLogger passes a logger to every source (silent by default).
func WithLogger(l *slog.Logger) Option { return func(o *buildOptions) { o.log = l } }

// WithQueueOptions adds options to every demand source's wrapper, after
// the file's own (tests inject a clock this way).
func WithQueueOptions(opts ...queue.Option) Option {
	return func(o *buildOptions) { o.queue = append(o.queue, opts...) }
}

// WithClock sets the clock every source runs on: the agents baseline
// judges sample ages by it, Prometheus queries are evaluated at its
// instant, and demand reads are retried and timed out on it
// (clock.RealClock{} by default; tests pass a fake one).
func WithClock(c clock.Clock) Option { return func(o *buildOptions) { o.clock = c } }

// SourceError is one source Build could not build.
type SourceError struct {
	// Demand is the index of the demand source, or -1 for the baseline.
	Demand int
	Err    error
}

// Where names the source as in the settings: "baseline" or "demand[i]".
func (e SourceError) Where() string {
	if e.Demand < 0 {
		return "baseline"
	}
	return fmt.Sprintf("demand[%d]", e.Demand)
}

// BuildError lists every source Build could not build.
type BuildError struct {
	Pool   string
	Errors []SourceError
}

func (e *BuildError) Error() string {
	lines := make([]string, len(e.Errors))
	for i, se := range e.Errors {
		lines[i] = fmt.Sprintf("pool %s: signals.%s: %v", e.Pool, se.Where(), se.Err)
	}
	return strings.Join(lines, "\n")
}

// Build builds a pool's sources. Every source that cannot be built is
// reported in one *BuildError. Settings are assumed checked by config
// (e.g. a baseline with both agents and prometheus builds the agents).
func Build(spec Spec, opts ...Option) (*Set, error) {
	o := buildOptions{log: slog.New(slog.DiscardHandler), clock: clock.RealClock{}}
	for _, opt := range opts {
		opt(&o)
	}
	s := &Set{Pool: spec.Pool}
	var errs []SourceError
	names := map[string]string{}
	unique := func(i int, name string) {
		where := SourceError{Demand: i}.Where()
		if prev, dup := names[name]; dup {
			errs = append(errs, SourceError{Demand: i, Err: fmt.Errorf("source name %q is already used by %s: give one of them a different name", name, prev)})
		}
		names[name] = where
	}

	if b := spec.Baseline; b != nil {
		src, closer, err := buildBaseline(spec.Pool.Name, b, o)
		if err != nil {
			errs = append(errs, SourceError{Demand: -1, Err: err})
		} else {
			s.Baseline = src
			s.closers = append(s.closers, closer)
			unique(-1, src.Name())
		}
	}
	for i, d := range spec.Demand {
		src, err := buildDemand(&spec.Pool, d, o)
		if err != nil {
			errs = append(errs, SourceError{Demand: i, Err: err})
			continue
		}
		s.Demands = append(s.Demands, src)
		s.closers = append(s.closers, func() { src.Close() })
		unique(i, src.Name())
	}
	if len(errs) > 0 {
		s.Close()
		return nil, &BuildError{Pool: spec.Pool.Name, Errors: errs}
	}
	return s, nil
}

// ownClient is an HTTP client whose idle connections Close can drop.
func ownClient() (*http.Client, func()) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return &http.Client{Transport: tr}, tr.CloseIdleConnections
}

func buildBaseline(pool string, b *Baseline, o buildOptions) (signals.BaselineSource, func(), error) {
	if a := b.Agents; a != nil {
		name := a.Name
		if name == "" {
			name = pool
		}
		targetsFile := a.TargetsFile
		src, err := baseline.NewAgents(baseline.AgentsConfig{
			Name: name, Targets: a.URLs, TargetsFile: targetsFile, Match: a.Match,
			Concurrency: a.Concurrency, Timeout: a.Timeout.D(), MaxSampleAge: a.MaxSampleAge.D(),
			Now: o.clock.Now, Logger: o.log,
		})
		if err != nil {
			return nil, nil, err
		}
		return src, src.CloseIdleConnections, nil
	}
	p := b.Prometheus
	if p == nil {
		return nil, nil, fmt.Errorf("want one of agents or prometheus")
	}
	name := p.Name
	if name == "" {
		name = pool
	}
	cfg := baseline.PrometheusConfig{
		Name: name, URL: p.URL, UtilQuery: p.UtilQuery, MemoryUsedQuery: p.MemoryUsedQuery,
		AllocatedMemory: p.AllocatedMemoryBytes, UnknownQuery: p.UnknownQuery, UnknownLabel: p.UnknownLabel,
		UnhealthyQuery: p.UnhealthyQuery,
		BusyUtil:       p.BusyUtil, Timeout: p.Timeout.D(), Logger: o.log, Clock: o.clock,
	}
	if l := p.Labels; l != nil {
		cfg.Labels = baseline.Labels{Node: l.Node, GPU: l.GPU, UUID: l.UUID, Model: l.Model}
	}
	if p.BusyUtil < 0 || p.BusyUtil > 100 {
		return nil, nil, fmt.Errorf("prometheus:%s: busy_util %v: want a percentage from 0 to 100", name, p.BusyUtil)
	}
	client, closer := ownClient()
	cfg.Client = client
	src, err := baseline.NewPrometheus(cfg)
	if err != nil {
		return nil, nil, err
	}
	// A 429 or 503 with Retry-After holds it off as it holds a demand source.
	return queue.HoldBaseline(src, o.clock), closer, nil
}

func buildDemand(pool *policy.Pool, d Demand, o buildOptions) (*queue.Source, error) {
	qopts := append([]queue.Option{queue.WithLogger(o.log), queue.WithClock(o.clock)}, o.queue...)
	if d.Type != TypePrometheus {
		if d.Type != "" && d.Type != queue.TypeSlurm && d.Type != queue.TypeRedis && d.Type != queue.TypeHTTP && d.Type != queue.TypeCommand {
			return nil, fmt.Errorf("type %q: want one of %s", d.Type, strings.Join(DemandTypes, ", "))
		}
		// The sources that read jobs' CPUs and memory match them to the
		// pool's shapes.
		shapes := policy.Shapes(pool.Offerings)
		switch {
		case d.Slurm != nil:
			c := *d.Slurm
			c.Shapes = shapes
			d.Slurm = &c
		case d.HTTP != nil:
			c := *d.HTTP
			c.Shapes = shapes
			d.HTTP = &c
		case d.Command != nil:
			c := *d.Command
			c.Shapes = shapes
			d.Command = &c
		}
		return queue.New(d.Config, qopts...)
	}
	// queue.New refuses type prometheus; give it an empty type-less copy
	// to check the shared settings, then wrap the prometheus source the
	// same way queue.New wraps its own.
	if d.Slurm != nil || d.Redis != nil || d.HTTP != nil || d.Command != nil {
		return nil, fmt.Errorf("type prometheus takes only prometheus: settings")
	}
	if d.Timeout < 0 || d.Attempts < 0 || d.Backoff < 0 || d.MaxBackoff < 0 {
		return nil, fmt.Errorf("timeout, attempts, backoff and max_backoff must not be negative")
	}
	p := d.Prometheus
	if p == nil {
		return nil, fmt.Errorf("type prometheus has no prometheus: settings")
	}
	name := p.Name
	if name == "" {
		name = pool.Name
	}
	client, closer := ownClient()
	src, err := prometheus.New(prometheus.Config{
		Name: name, URL: p.URL, Query: p.Query, JobGPUsQuery: p.JobGPUsQuery, JobWaitQuery: p.JobWaitQuery, Measure: prometheus.Measure(p.Measure),
		OldestWaitQuery: p.OldestWaitQuery, GPUsPerJob: p.GPUsPerJob, Timeout: d.Timeout, Client: client, Logger: o.log, Clock: o.clock,
	})
	if err != nil {
		return nil, err
	}
	var own []queue.Option
	if d.Timeout > 0 {
		own = append(own, queue.WithTimeout(d.Timeout))
	}
	if d.Attempts > 0 {
		own = append(own, queue.WithAttempts(d.Attempts))
	}
	if d.Backoff > 0 || d.MaxBackoff > 0 {
		base, maxDelay := d.Backoff, d.MaxBackoff
		if base == 0 {
			base = queue.DefaultBaseDelay
		}
		if maxDelay == 0 {
			maxDelay = max(queue.DefaultMaxDelay, base)
		}
		own = append(own, queue.WithBackoff(base, maxDelay))
	}
	return queue.Wrap(closingSource{src, closer}, append(own, qopts...)...), nil
}

// closingSource gives a prometheus demand source a Close that drops its
// client's idle connections, which queue.Source.Close calls.
type closingSource struct {
	*prometheus.Source
	close func()
}

func (c closingSource) Close() error {
	c.close()
	return nil
}
