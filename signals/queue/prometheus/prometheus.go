// Package prometheus reads queue demand from Prometheus: an instant PromQL
// query that returns one number, the pending jobs or the pending GPUs, or
// one that returns a sample per pending job holding its GPUs; and
// optionally another for the oldest job's wait in seconds.
package prometheus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/promapi"
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
	// JobGPUsQuery, instead of Query, returns one sample per pending job
	// whose value is the GPUs it asks, e.g. the GPU requests of pending
	// pods from kube-state-metrics; the engine then packs whole jobs.
	JobGPUsQuery string
	// JobWaitQuery, with JobGPUsQuery, returns one sample per pending job
	// with the same labels, whose value is how long it has waited in
	// seconds (e.g. time() - kube_pod_created); the engine then holds young
	// jobs for on-prem as the backtest does.
	JobWaitQuery string
	// OldestWaitQuery, when set, returns the oldest pending job's wait in seconds.
	OldestWaitQuery string
	// GPUsPerJob, when set with Query, is what every pending job asks:
	// the count becomes that many jobs of GPUsPerJob GPUs (of measure
	// gpus, ⌈GPUs / GPUsPerJob⌉ jobs), so that the engine packs whole jobs
	// instead of reading one-GPU ones (signals.SameSizeJobs).
	GPUsPerJob int
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
	switch {
	case cfg.Query == "" && cfg.JobGPUsQuery == "":
		return nil, fmt.Errorf("%s: query is empty: want a PromQL expression returning one number, e.g. sum(queue_pending_jobs), or a job_gpus_query returning a sample per pending job", name)
	case cfg.Query != "" && cfg.JobGPUsQuery != "":
		return nil, fmt.Errorf("%s: both query and job_gpus_query are set: want one (job_gpus_query counts the jobs and their GPUs itself)", name)
	case cfg.JobGPUsQuery != "" && cfg.Measure != "":
		return nil, fmt.Errorf("%s: measure %q is set with job_gpus_query, which reads each job's GPUs: drop measure", name, cfg.Measure)
	case cfg.JobWaitQuery != "" && cfg.JobGPUsQuery == "":
		return nil, fmt.Errorf("%s: job_wait_query is set without job_gpus_query (each wait belongs to a job that query lists: set both)", name)
	case cfg.GPUsPerJob < 0 || cfg.GPUsPerJob > signals.MaxJobGPUs:
		return nil, fmt.Errorf("%s: gpus_per_job %d is out of range: want 1 to %d, or 0 when jobs ask different numbers", name, cfg.GPUsPerJob, signals.MaxJobGPUs)
	case cfg.GPUsPerJob > 0 && cfg.JobGPUsQuery != "":
		return nil, fmt.Errorf("%s: gpus_per_job is set with job_gpus_query, which reads each job's GPUs: drop gpus_per_job", name)
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
	pa, err := promapi.New(cfg.URL, cfg.Client, cfg.Clock.Now)
	if err != nil {
		return nil, fmt.Errorf("%s: url %q: %w", name, cfg.URL, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Source{cfg: cfg, api: pa, log: log.WithGroup("prometheus").With("source", name)}, nil
}

// Name is "prometheus:<name>".
func (s *Source) Name() string { return "prometheus:" + s.cfg.Name }

// Demand runs the query (and the oldest-wait query) now.
func (s *Source) Demand(ctx context.Context) (signals.Demand, error) {
	var d signals.Demand
	if s.cfg.JobGPUsQuery != "" {
		var err error
		if d, err = s.jobs(ctx); err != nil {
			return signals.Demand{}, err
		}
	} else {
		n, at, err := s.number(ctx, s.cfg.Query)
		if err != nil {
			return signals.Demand{}, err
		}
		count, err := wholeCount(n)
		if err != nil {
			return signals.Demand{}, &QueryError{Source: s.Name(), Query: s.cfg.Query, Err: err}
		}
		d = signals.Demand{Source: s.Name(), Time: at}
		switch s.cfg.Measure {
		case PendingGPUs:
			d.PendingGPUs, d.PendingGPUsKnown = count, true
		default:
			d.PendingJobs = count
		}
		d = signals.SameSizeJobs(d, s.cfg.GPUsPerJob)
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

// jobs runs JobGPUsQuery: a vector of one sample per pending job, its
// value the job's GPUs (none when nothing is pending).
func (s *Source) jobs(ctx context.Context) (signals.Demand, error) {
	q := s.cfg.JobGPUsQuery
	fail := func(err error) (signals.Demand, error) {
		return signals.Demand{}, &QueryError{Source: s.Name(), Query: q, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	now := s.cfg.Clock.Now()
	vec, err := s.perJob(ctx, q, now)
	if err != nil {
		return signals.Demand{}, err
	}
	if err := signals.ListLength(len(vec)); err != nil {
		return fail(fmt.Errorf("the answer %w", err))
	}
	vec = onePerJob(vec)
	d := signals.Demand{Source: s.Name(), Time: now, PendingGPUsKnown: true, JobGPUs: make([]int, len(vec))}
	for i, smp := range vec {
		f := float64(smp.Value)
		if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > signals.MaxJobGPUs {
			return fail(fmt.Errorf("sample %s is %v: want a job's GPUs, from 0 to %d", series(smp.Metric), f, signals.MaxJobGPUs))
		}
		g, err := signals.Count(f) // a fraction of a GPU runs on a whole one
		if err != nil {
			return fail(fmt.Errorf("sample %s %w", series(smp.Metric), err))
		}
		d.JobGPUs[i] = g
		d.PendingGPUs += g
		if t := smp.Timestamp.Time(); i == 0 || t.Before(d.Time) {
			d.Time = t
		}
	}
	// A count of pending GPUs, bounded as a job list's sum is in the http
	// and command sources (signals.ListAgrees).
	if d.PendingGPUs > signals.MaxCount {
		return fail(fmt.Errorf("the answer's samples sum to %d GPUs, want at most %d", d.PendingGPUs, signals.MaxCount))
	}
	d.PendingJobs = len(vec)
	if s.cfg.JobWaitQuery != "" {
		waits, err := s.jobWaits(ctx, vec, now)
		if err != nil {
			return signals.Demand{}, err
		}
		d.JobWaits = waits
		if s.cfg.OldestWaitQuery == "" {
			for _, w := range waits {
				d.OldestWait = max(d.OldestWait, w)
			}
			d.OldestWaitKnown = true
		}
	}
	return d, nil
}

// onePerJob is the jobs of a job_gpus_query's answer, one sample each, in
// the order of their labels. A job is its labels less the metric name, as
// PromQL matches the sides of a binary operation and as jobWaits matches
// each job's wait: samples that differ by the name only (a query over a
// metric and its recording rule's copy, `{__name__=~"a|b"}`) are one job,
// not one per metric, asking the most GPUs of them (as a job with several
// waits has waited the longest), the earliest timestamp, and named in
// messages by its first series. A NaN among them is kept, to be refused.
func onePerJob(vec model.Vector) model.Vector {
	// Prometheus returns series in no set order: by labels, then by name,
	// for a reading that does not change while the queue does not (each
	// sample's labels written once, not at every comparison).
	type keyed struct {
		job, series string
		smp         *model.Sample
	}
	ks := make([]keyed, len(vec))
	for i, smp := range vec {
		ks[i] = keyed{job: jobLabels(smp.Metric).String(), series: smp.Metric.String(), smp: smp}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		if c := strings.Compare(a.job, b.job); c != 0 {
			return c
		}
		return strings.Compare(a.series, b.series)
	})
	out := make(model.Vector, 0, len(ks))
	for i, k := range ks {
		if i == 0 || k.job != ks[i-1].job {
			smp := *k.smp
			out = append(out, &smp)
			continue
		}
		last := out[len(out)-1]
		if f, prev := float64(k.smp.Value), float64(last.Value); math.IsNaN(f) || (!math.IsNaN(prev) && f > prev) {
			last.Value = k.smp.Value
		}
		last.Timestamp = min(last.Timestamp, k.smp.Timestamp)
	}
	return out
}

// jobLabels is a sample's labels less the metric name: the job it stands for.
func jobLabels(m model.Metric) model.Metric {
	m = m.Clone()
	delete(m, model.MetricNameLabel)
	return m
}

// jobWaits runs JobWaitQuery and matches its samples to the jobs by their
// labels: each job's wait, in the jobs' order.
func (s *Source) jobWaits(ctx context.Context, jobs model.Vector, now time.Time) ([]time.Duration, error) {
	q := s.cfg.JobWaitQuery
	fail := func(err error) ([]time.Duration, error) {
		return nil, &QueryError{Source: s.Name(), Query: q, Err: err}
	}
	vec, err := s.perJob(ctx, q, now)
	if err != nil {
		return nil, err
	}
	// Matched as PromQL matches the sides of a binary operation: on every
	// label but the metric name.
	labels := func(m model.Metric) model.Fingerprint { return jobLabels(m).Fingerprint() }
	// A job with several samples (the query's metrics differ by name
	// only, e.g. {__name__=~"a|b"}) has waited the longest of them, as
	// a GPU in several series is read at its highest: not whichever
	// Prometheus happens to list last. A NaN among them is kept, for
	// WaitSeconds to refuse.
	byJob := make(map[model.Fingerprint]float64, len(vec))
	for _, smp := range vec {
		k, f := labels(smp.Metric), float64(smp.Value)
		if prev, ok := byJob[k]; !ok || math.IsNaN(f) || (!math.IsNaN(prev) && f > prev) {
			byJob[k] = f
		}
	}
	waits := make([]time.Duration, len(jobs))
	for i, job := range jobs {
		sec, ok := byJob[labels(job.Metric)]
		if !ok {
			// The queue moved between the two queries, or the labels differ.
			return fail(fmt.Errorf("no sample for job %s of job_gpus_query: want one wait per job, with the same labels", series(job.Metric)))
		}
		w, err := signals.WaitSeconds(sec)
		if err != nil {
			return fail(fmt.Errorf("job %s: %w", series(job.Metric), err))
		}
		waits[i] = w
	}
	return waits, nil
}

// perJob runs an instant query at now that must yield a vector: one
// sample per pending job.
func (s *Source) perJob(ctx context.Context, q string, now time.Time) (model.Vector, error) {
	v, warnings, _, err := s.api.Query(ctx, q, now)
	if err != nil {
		return nil, &QueryError{Source: s.Name(), Query: q, Err: err}
	}
	for _, w := range warnings {
		s.log.Warn("query warning", "query", q, "warning", w)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, &QueryError{Source: s.Name(), Query: q, Err: fmt.Errorf("result is a %s: want a vector of one sample per pending job", v.Type())}
	}
	return vec, nil
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
			return 0, time.Time{}, &QueryError{Source: s.Name(), Query: q, Err: errors.New("no samples: the series does not exist (yet), or its exporter is down; to read absence as zero while the exporter is up, write `<query> or (max(up{job=\"<exporter's job>\"}) == 1) * 0` (`or vector(0)` reads 0 while the exporter is down too: a long queue read as empty)")}
		default:
			return 0, time.Time{}, &QueryError{Source: s.Name(), Query: q, Err: fmt.Errorf("%d series, e.g. %s: want one number; aggregate with sum(...)", len(r), series(r[0].Metric))}
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

// series is a series' labels for a message, cut short: a label's value
// may be any length.
func series(m model.Metric) string { return signals.Shorten(m.String(), 200) }

func wholeCount(f float64) (int, error) {
	// A fraction rounds up, as in every source: 0.3 GPUs pending is a job
	// waiting for one; float arithmetic's error about a whole number, 0
	// included (0.3 - 0.1 - 0.2 is -2.8e-17), is that number.
	n, err := signals.Count(f)
	switch {
	case err == nil:
		return n, nil
	case f < 0:
		return 0, fmt.Errorf("value %v is negative: want a count >= 0", f)
	default:
		// Converted, it would wrap to a negative count.
		return 0, fmt.Errorf("value %v is out of range: want a count from 0 to %d", f, signals.MaxCount)
	}
}
