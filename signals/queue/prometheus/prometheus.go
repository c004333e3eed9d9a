// Package prometheus reads queue demand from Prometheus: an instant PromQL
// query that returns one number, the pending jobs or the pending GPUs, and
// optionally a second one for the oldest job's wait in seconds.
package prometheus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/signals"
)

// Measure says what the query counts.
type Measure string

const (
	// PendingJobs: the query returns the number of pending jobs.
	PendingJobs Measure = "jobs"
	// PendingGPUs: the query returns the number of GPUs pending jobs request.
	PendingGPUs Measure = "gpus"
)

// Config describes one Prometheus demand source.
type Config struct {
	// Name identifies the source ("prometheus:<Name>").
	Name string
	// URL is the Prometheus base URL, e.g. http://prometheus:9090.
	URL string
	// Query is an instant PromQL query returning one number (a scalar or a
	// one-sample vector), e.g. sum(slurm_queue_pending{partition="gpu"}).
	Query string
	// Measure says whether Query counts jobs (default) or GPUs.
	Measure Measure
	// OldestWaitQuery, when set, returns the oldest pending job's wait in seconds.
	OldestWaitQuery string
	// Timeout bounds each query (10 s when zero).
	Timeout time.Duration
	// Client is the HTTP client (http.DefaultClient's transport when nil).
	Client *http.Client
	// Logger receives query warnings (silent when nil).
	Logger *slog.Logger
	// Clock gives the instant each query is evaluated at
	// (clock.RealClock{} when nil).
	Clock clock.PassiveClock
}

// QueryError is a failed or unusable query: it names the source and the query.
type QueryError = signals.QueryError

// Source is a Prometheus demand source.
type Source struct {
	cfg Config
	api v1.API
	log *slog.Logger
}

var _ signals.DemandSource = (*Source)(nil)

// New checks cfg and builds the source; nothing is queried yet.
func New(cfg Config) (*Source, error) {
	if cfg.Name == "" {
		return nil, errors.New("prometheus demand source: name is empty")
	}
	name := "prometheus:" + cfg.Name
	if cfg.URL == "" {
		return nil, fmt.Errorf("%s: url is empty: want the Prometheus base URL, e.g. http://127.0.0.1:9090", name)
	}
	if cfg.Query == "" {
		return nil, fmt.Errorf("%s: query is empty: want a PromQL expression returning one number, e.g. sum(queue_pending_jobs)", name)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	switch cfg.Measure {
	case "":
		cfg.Measure = PendingJobs
	case PendingJobs, PendingGPUs:
	default:
		return nil, fmt.Errorf("%s: measure %q: want %q or %q", name, cfg.Measure, PendingJobs, PendingGPUs)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	var rt http.RoundTripper = api.DefaultRoundTripper
	if cfg.Client != nil && cfg.Client.Transport != nil {
		rt = cfg.Client.Transport
	}
	c, err := api.NewClient(api.Config{Address: cfg.URL, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("%s: url %q: %w", name, cfg.URL, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Source{cfg: cfg, api: v1.NewAPI(c), log: log.WithGroup("prometheus").With("source", name)}, nil
}

// Name is "prometheus:<name>".
func (s *Source) Name() string { return "prometheus:" + s.cfg.Name }

// Demand runs the query (and the oldest-wait query) now.
func (s *Source) Demand(ctx context.Context) (signals.Demand, error) {
	n, at, err := s.number(ctx, s.cfg.Query)
	if err != nil {
		return signals.Demand{}, err
	}
	count, err := wholeCount(n)
	if err != nil {
		return signals.Demand{}, &QueryError{Source: s.Name(), Query: s.cfg.Query, Err: err}
	}
	d := signals.Demand{Source: s.Name(), Time: at}
	switch s.cfg.Measure {
	case PendingGPUs:
		d.PendingGPUs, d.PendingGPUsKnown = count, true
	default:
		d.PendingJobs = count
	}
	if s.cfg.OldestWaitQuery != "" {
		w, wat, err := s.number(ctx, s.cfg.OldestWaitQuery)
		if err != nil {
			return signals.Demand{}, err
		}
		wait, err := signals.WaitSeconds(w)
		if err != nil {
			return signals.Demand{}, &QueryError{Source: s.Name(), Query: s.cfg.OldestWaitQuery, Err: err}
		}
		d.OldestWait, d.OldestWaitKnown = wait, true
		if wat.Before(d.Time) {
			d.Time = wat
		}
	}
	return d, nil
}

// number runs an instant query that must yield exactly one finite number.
func (s *Source) number(ctx context.Context, q string) (float64, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	v, warnings, _, err := s.api.Query(ctx, q, s.cfg.Clock.Now())
	if err != nil {
		return 0, time.Time{}, &QueryError{Source: s.Name(), Query: q, Err: err}
	}
	for _, w := range warnings {
		s.log.Warn("query warning", "query", q, "warning", w)
	}
	var val model.SampleValue
	var ts model.Time
	switch r := v.(type) {
	case *model.Scalar:
		val, ts = r.Value, r.Timestamp
	case model.Vector:
		switch len(r) {
		case 1:
			val, ts = r[0].Value, r[0].Timestamp
		case 0:
			return 0, time.Time{}, &QueryError{Source: s.Name(), Query: q, Err: errors.New("no samples: the series does not exist (yet); write `<query> or vector(0)` to read absence as zero")}
		default:
			return 0, time.Time{}, &QueryError{Source: s.Name(), Query: q, Err: fmt.Errorf("%d series, e.g. %v: want one number; aggregate with sum(...)", len(r), r[0].Metric)}
		}
	default:
		return 0, time.Time{}, &QueryError{Source: s.Name(), Query: q, Err: fmt.Errorf("result is a %s: want a scalar or a one-sample vector", v.Type())}
	}
	f := float64(val)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, time.Time{}, &QueryError{Source: s.Name(), Query: q, Err: fmt.Errorf("value %v is not a finite number", f)}
	}
	return f, ts.Time(), nil
}

func wholeCount(f float64) (int, error) {
	if f < 0 {
		return 0, fmt.Errorf("value %v is negative: want a count >= 0", f)
	}
	return int(math.Round(f)), nil
}
