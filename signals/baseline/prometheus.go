package baseline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"sort"
	"strconv"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/promapi"
)

// Queries for sites that run dcgm-exporter, and for Prometheus scraping
// spillway agents (which carry the same labels).
const (
	// DCGMUtilQuery is dcgm-exporter's GPU utilisation, in percent.
	DCGMUtilQuery = "DCGM_FI_DEV_GPU_UTIL"
	// DCGMMemoryUsedQuery is dcgm-exporter's framebuffer use, in bytes.
	DCGMMemoryUsedQuery = "DCGM_FI_DEV_FB_USED * 1048576"
	// AgentUtilQuery is the spillway agent's utilisation, in percent.
	AgentUtilQuery = "spillway_gpu_utilization_ratio * 100"
	// AgentMemoryUsedQuery is the spillway agent's memory use, in bytes.
	AgentMemoryUsedQuery = "spillway_gpu_memory_used_bytes"
)

// Bounds on what one GPU's series may read.
const (
	// maxUtil is 100 percent.
	maxUtil = 100
	// maxMemoryBytes is a pebibyte, far above any GPU's memory: a value
	// past it is a query in the wrong unit or summed over GPUs.
	maxMemoryBytes = 1 << 50
)

// Labels name the series labels that identify a GPU (dcgm-exporter's by default).
type Labels struct {
	Node, GPU, UUID, Model string
}

// DCGMLabels are dcgm-exporter's label names, which the spillway agent shares.
var DCGMLabels = Labels{Node: "Hostname", GPU: "gpu", UUID: "UUID", Model: "modelName"}

// PrometheusConfig describes a Prometheus baseline source.
type PrometheusConfig struct {
	// Name identifies the source ("prometheus:<Name>").
	Name string
	// URL is the Prometheus base URL.
	URL string
	// UtilQuery returns one series per GPU with its utilisation in percent
	// (DCGMUtilQuery when empty). Narrow it to the pool with a selector,
	// e.g. DCGM_FI_DEV_GPU_UTIL{cluster="a100"}.
	UtilQuery string
	// MemoryUsedQuery, when set, returns one series per GPU with the bytes
	// of memory in use, matched to UtilQuery's series by UUID. A GPU
	// holding at least AllocatedMemory bytes counts as allocated to a job.
	MemoryUsedQuery string
	// AllocatedMemory is the memory use from which a GPU is allocated (1 GiB when zero).
	AllocatedMemory uint64
	// UnknownQuery, when set, returns series for targets that failed
	// (e.g. `up{job="dcgm"} == 0`); their UnknownLabel value (default
	// "instance") is listed in Baseline.Unknown.
	UnknownQuery string
	UnknownLabel string
	// Labels name the GPU-identifying labels (DCGMLabels when zero).
	Labels Labels
	// BusyUtil is the utilisation in percent from which a GPU is busy (10 when zero).
	BusyUtil float64
	// Timeout bounds each query (10 s when zero).
	Timeout time.Duration
	// Client is the HTTP client (api.DefaultRoundTripper when nil).
	Client *http.Client
	// Logger receives query warnings (silent when nil).
	Logger *slog.Logger
	// Clock gives the instant each query is evaluated at
	// (clock.RealClock{} when nil).
	Clock clock.PassiveClock
}

// Prometheus reads the baseline from GPU metrics in Prometheus.
type Prometheus struct {
	cfg PrometheusConfig
	api v1.API
	log *slog.Logger
}

var _ signals.BaselineSource = (*Prometheus)(nil)

// QueryError is a failed or unusable query: it names the source and the query.
type QueryError = signals.QueryError

// NewPrometheus checks cfg and builds the source.
func NewPrometheus(cfg PrometheusConfig) (*Prometheus, error) {
	if cfg.Name == "" {
		return nil, errors.New("prometheus baseline: name is empty")
	}
	if cfg.URL == "" {
		return nil, fmt.Errorf("prometheus:%s: url is empty: want the Prometheus base URL, e.g. http://127.0.0.1:9090", cfg.Name)
	}
	if cfg.UtilQuery == "" {
		cfg.UtilQuery = DCGMUtilQuery
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Labels == (Labels{}) {
		cfg.Labels = DCGMLabels
	}
	if cfg.Labels.UUID == "" || cfg.Labels.Node == "" {
		return nil, fmt.Errorf("prometheus:%s: labels must name at least the node and UUID labels (dcgm-exporter: Hostname, UUID)", cfg.Name)
	}
	if cfg.UnknownLabel == "" {
		cfg.UnknownLabel = "instance"
	}
	if cfg.AllocatedMemory == 0 {
		cfg.AllocatedMemory = 1 << 30
	}
	if cfg.BusyUtil == 0 {
		cfg.BusyUtil = 10
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	pa, err := promapi.New(cfg.URL, cfg.Client, cfg.Clock.Now)
	if err != nil {
		return nil, fmt.Errorf("prometheus:%s: url %q: %w", cfg.Name, cfg.URL, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Prometheus{cfg: cfg, api: pa, log: log.WithGroup("baseline").With("source", "prometheus:"+cfg.Name)}, nil
}

// Name is "prometheus:<name>".
func (p *Prometheus) Name() string { return "prometheus:" + p.cfg.Name }

// Baseline runs the queries now. GPUs come from UtilQuery; a GPU is busy
// when its utilisation reaches BusyUtil or it is allocated (memory held).
func (p *Prometheus) Baseline(ctx context.Context) (signals.Baseline, error) {
	util, at, err := p.vector(ctx, p.cfg.UtilQuery)
	if err != nil {
		return signals.Baseline{}, err
	}
	mem := map[string]float64{}
	if p.cfg.MemoryUsedQuery != "" {
		mv, _, err := p.vector(ctx, p.cfg.MemoryUsedQuery)
		if err != nil {
			return signals.Baseline{}, err
		}
		for _, s := range mv {
			// One GPU in several series: its largest reading, whatever
			// the series' order (NaN kept, to be refused below).
			u := string(s.Metric[model.LabelName(p.cfg.Labels.UUID)])
			if m, ok := mem[u]; !ok || float64(s.Value) > m || math.IsNaN(float64(s.Value)) {
				mem[u] = float64(s.Value)
			}
		}
	}
	b := signals.Baseline{Source: p.Name(), Time: at}
	if p.cfg.UnknownQuery != "" {
		uv, _, err := p.vector(ctx, p.cfg.UnknownQuery)
		if err != nil {
			return signals.Baseline{}, err
		}
		for _, s := range uv {
			n := string(s.Metric[model.LabelName(p.cfg.UnknownLabel)])
			if n == "" {
				n = s.Metric.String()
			}
			if _, listed := b.UnknownCauses[n]; listed {
				// One target in several series (two jobs, or two
				// Prometheus servers behind one query): one node,
				// whose GPUs the snapshot counts once.
				continue
			}
			b.Unknown = append(b.Unknown, n)
			if b.UnknownCauses == nil {
				b.UnknownCauses = map[string]string{}
			}
			b.UnknownCauses[n] = fmt.Sprintf("listed by %q", p.cfg.UnknownQuery)
		}
		sort.Strings(b.Unknown)
	}
	l := p.cfg.Labels
	seen := make(map[string]int, len(util)) // a GPU's index in b.GPUs, by UUID
	dups := 0
	for _, s := range util {
		g := signals.GPU{
			Node:  string(s.Metric[model.LabelName(l.Node)]),
			UUID:  string(s.Metric[model.LabelName(l.UUID)]),
			Model: string(s.Metric[model.LabelName(l.Model)]),
		}
		if g.UUID == "" || g.Node == "" {
			return signals.Baseline{}, &QueryError{Source: p.Name(), Query: p.cfg.UtilQuery, Err: fmt.Errorf("series %s lacks the %q or %q label: keep the GPU labels (do not aggregate them away) or set the label names", signals.Shorten(s.Metric.String(), 200), l.Node, l.UUID)}
		}
		v := float64(s.Value)
		if !(v >= 0 && v <= maxUtil) { // NaN fails both
			return signals.Baseline{}, &QueryError{Source: p.Name(), Query: p.cfg.UtilQuery, Err: fmt.Errorf("GPU %s on %s: utilisation %v is not a percentage (want 0 to 100 per GPU: a ratio times 100, not a sum over GPUs)", g.UUID, g.Node, v)}
		}
		if i, ok := seen[g.UUID]; ok {
			// One GPU in several series (scraped by two jobs, or
			// by two Prometheus servers behind one query): counted
			// once, at its highest reading, as max by (…) would
			// (the first one read depended on the series' order).
			dups++
			b.GPUs[i].Utilization = max(b.GPUs[i].Utilization, v)
			continue
		}
		seen[g.UUID] = len(b.GPUs)
		if l.GPU != "" {
			g.Index, _ = strconv.Atoi(string(s.Metric[model.LabelName(l.GPU)]))
		}
		g.Utilization = v
		b.GPUs = append(b.GPUs, g)
	}
	for i := range b.GPUs {
		g := &b.GPUs[i]
		if m, ok := mem[g.UUID]; ok {
			if !(m >= 0 && m <= maxMemoryBytes) {
				return signals.Baseline{}, &QueryError{Source: p.Name(), Query: p.cfg.MemoryUsedQuery, Err: fmt.Errorf("GPU %s on %s: memory used %v is not a number of bytes (want 0 to 2^50 per GPU; dcgm-exporter's DCGM_FI_DEV_FB_USED is in MiB: multiply it by 1048576)", g.UUID, g.Node, m)}
			}
			g.MemoryUsed = uint64(m)
			g.Allocated = g.MemoryUsed >= p.cfg.AllocatedMemory
		}
		g.Idle = g.Utilization < p.cfg.BusyUtil
		g.Busy = !g.Idle || g.Allocated
	}
	if dups > 0 {
		p.log.Debug("GPUs in more than one series, counted once at their highest reading: aggregate the query by the GPU's labels (e.g. max by (Hostname, UUID) (…)) to keep one", "series", dups, "query", p.cfg.UtilQuery)
	}
	sort.Slice(b.GPUs, func(i, j int) bool {
		if b.GPUs[i].Node != b.GPUs[j].Node {
			return b.GPUs[i].Node < b.GPUs[j].Node
		}
		return b.GPUs[i].Index < b.GPUs[j].Index
	})
	if len(b.GPUs) == 0 && len(b.Unknown) == 0 {
		return b, &QueryError{Source: p.Name(), Query: p.cfg.UtilQuery, Err: errors.New("no GPU series: is the exporter scraped, and does the selector match the pool's nodes?")}
	}
	return b, nil
}

func (p *Prometheus) vector(ctx context.Context, q string) (model.Vector, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	now := p.cfg.Clock.Now()
	v, warnings, _, err := p.api.Query(ctx, q, now)
	if err != nil {
		return nil, time.Time{}, &QueryError{Source: p.Name(), Query: q, Err: err}
	}
	for _, w := range warnings {
		p.log.Warn("query warning", "query", q, "warning", w)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, time.Time{}, &QueryError{Source: p.Name(), Query: q, Err: fmt.Errorf("result is a %s: want an instant vector, one series per GPU", v.Type())}
	}
	at := now
	if len(vec) > 0 {
		at = vec[0].Timestamp.Time()
	}
	return vec, at, nil
}
