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
	"sync/atomic"
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
	// AgentUnhealthyQuery is the spillway agent's GPUs it reports
	// unhealthy (1): broken memory, a reset required, fallen off the bus.
	AgentUnhealthyQuery = "spillway_gpu_unhealthy"
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
	// UnhealthyQuery returns one series per GPU, 1 when the GPU is
	// unhealthy and 0 when not (AgentUnhealthyQuery when empty; an exporter without
	// such a series, dcgm-exporter's, reads as every GPU healthy), matched
	// to UtilQuery's series by UUID and node, which each series it lists
	// unhealthy must carry. Such a GPU is never free: Unhealthy, its
	// readings as read. One with no series in UtilQuery (fallen off the
	// bus, no other series of it) is counted, neither busy nor idle: on
	// any node when UnhealthyQuery is set (narrow it to the pool as
	// UtilQuery is) or UtilQuery is a default (DCGMUtilQuery or
	// AgentUtilQuery: every GPU is the pool's), and otherwise only on a
	// node UtilQuery lists (the default UnhealthyQuery lists every pool's
	// GPUs), so that a node all of whose GPUs are lost is seen only
	// with UnhealthyQuery set.
	UnhealthyQuery string
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
	// shared says, once a UUID, that two GPUs report it, of the UUIDs
	// the last baseline lists.
	shared sharedUUIDs
	// migWarned is set once the source has said that GPUs split by MIG
	// need MemoryUsedQuery (warnMIG).
	migWarned atomic.Bool
	// unhealthyAnyNode: a GPU UnhealthyQuery lists is the pool's on any
	// node, not only on those UtilQuery lists (see UnhealthyQuery).
	unhealthyAnyNode bool
	// otherNodesWarned is set once the source has said that it left out
	// unhealthy GPUs of nodes UtilQuery does not list (markUnhealthy).
	otherNodesWarned atomic.Bool
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
	anyNode := cfg.UnhealthyQuery != "" || cfg.UtilQuery == DCGMUtilQuery || cfg.UtilQuery == AgentUtilQuery
	if cfg.UnhealthyQuery == "" {
		cfg.UnhealthyQuery = AgentUnhealthyQuery
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
	return &Prometheus{cfg: cfg, api: pa, log: log.WithGroup("baseline").With("source", "prometheus:"+cfg.Name), unhealthyAnyNode: anyNode}, nil
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
	l := p.cfg.Labels
	// mem is each GPU's memory readings, by UUID; mig marks the GPUs split
	// by MIG: dcgm-exporter gives each slice a series of its own, with the
	// GPU's UUID and the slice's GPU_I_ID.
	// memByID is the same by GPU (UUID and index): two GPUs that report
	// one UUID are told apart by it.
	mem := map[string]*gpuMemory{}
	memByID := map[gpuID]*gpuMemory{}
	mig := map[string]bool{}
	if p.cfg.MemoryUsedQuery != "" {
		mv, _, err := p.vector(ctx, p.cfg.MemoryUsedQuery)
		if err != nil {
			return signals.Baseline{}, err
		}
		for _, s := range mv {
			u := string(s.Metric[model.LabelName(l.UUID)])
			m := mem[u]
			if m == nil {
				m = &gpuMemory{series: s.Metric, slices: map[string]float64{}}
				mem[u] = m
			}
			slice := string(s.Metric[MIGInstanceLabel])
			mig[u] = mig[u] || slice != ""
			// One GPU (or slice) in several series: its largest
			// reading, whatever the series' order (NaN kept, to be
			// refused below).
			if v, ok := m.slices[slice]; !ok || float64(s.Value) > v || math.IsNaN(float64(s.Value)) {
				m.slices[slice] = float64(s.Value)
			}
			id := p.id(s.Metric)
			mi := memByID[id]
			if mi == nil {
				mi = &gpuMemory{series: s.Metric, slices: map[string]float64{}}
				memByID[id] = mi
			}
			if v, ok := mi.slices[slice]; !ok || float64(s.Value) > v || math.IsNaN(float64(s.Value)) {
				mi.slices[slice] = float64(s.Value)
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
	seen := newGPUSeen(len(util))
	seenSlices := map[string]bool{} // "UUID/gpu/GPU_I_ID" of the MIG slices read
	dups := 0
	for _, s := range util {
		g := p.gpu(s.Metric)
		if g.UUID == "" || g.Node == "" {
			return signals.Baseline{}, &QueryError{Source: p.Name(), Query: p.cfg.UtilQuery, Err: fmt.Errorf("series %s lacks the %q or %q label: keep the GPU labels (do not aggregate them away) or set the label names", signals.Shorten(s.Metric.String(), 200), l.Node, l.UUID)}
		}
		v := float64(s.Value)
		if !(v >= 0 && v <= maxUtil) { // NaN fails both
			return signals.Baseline{}, &QueryError{Source: p.Name(), Query: p.cfg.UtilQuery, Err: fmt.Errorf("GPU %s on %s: utilisation %v is not a percentage (want 0 to 100 per GPU: a ratio times 100, not a sum over GPUs)", g.UUID, g.Node, v)}
		}
		slice := string(s.Metric[MIGInstanceLabel])
		mig[g.UUID] = mig[g.UUID] || slice != ""
		id := p.id(s.Metric)
		if i, ok := seen.byID[id]; ok {
			// One GPU in several series: its MIG slices, or the GPU
			// scraped by two jobs (or by two Prometheus servers
			// behind one query). Counted once, at its highest
			// reading, as max by (…) would (the first one read
			// depended on the series' order).
			if k := id.uuid + "/" + id.index + "/" + slice; slice == "" || seenSlices[k] {
				dups++
			} else {
				seenSlices[k] = true
			}
			b.GPUs[i].Utilization = max(b.GPUs[i].Utilization, v)
			continue
		}
		if first, ok := seen.byUUID[g.UUID]; ok {
			// Two GPUs that report one UUID, under two indexes: two
			// GPUs, not one read twice.
			p.shared.warn(p.log, p.Name(), b.GPUs[first], g)
		}
		seen.add(id, len(b.GPUs))
		if slice != "" {
			seenSlices[id.uuid+"/"+id.index+"/"+slice] = true
		}
		g.Utilization = v
		b.GPUs = append(b.GPUs, g)
	}
	// A MIG GPU has no series of DCGM_FI_DEV_GPU_UTIL (DCGM does not
	// measure a MIG GPU's utilisation): the memory query's slices are
	// what shows it. A whole GPU the utilisation query leaves out is
	// another pool's, left out on purpose.
	for u, m := range mem {
		if _, ok := seen.byUUID[u]; ok || !mig[u] || u == "" {
			continue
		}
		g := p.gpu(m.series)
		if g.Node == "" {
			return signals.Baseline{}, &QueryError{Source: p.Name(), Query: p.cfg.MemoryUsedQuery, Err: fmt.Errorf("series %s lacks the %q label: keep the GPU labels (do not aggregate them away) or set the label names", signals.Shorten(m.series.String(), 200), l.Node)}
		}
		seen.add(p.id(m.series), len(b.GPUs))
		b.GPUs = append(b.GPUs, g)
	}
	ids := seen.ids(len(b.GPUs))
	for i := range b.GPUs {
		g := &b.GPUs[i]
		// The GPU's own memory series, or, where one query keeps the
		// index label and the other not, its UUID's.
		m, read := memByID[ids[i]]
		if !read {
			m, read = mem[g.UUID]
		}
		if read {
			var used, largest float64
			for _, v := range m.slices {
				if !(v >= 0 && v <= maxMemoryBytes) {
					return signals.Baseline{}, &QueryError{Source: p.Name(), Query: p.cfg.MemoryUsedQuery, Err: fmt.Errorf("GPU %s on %s: memory used %v is not a number of bytes (want 0 to 2^50 per GPU; dcgm-exporter's DCGM_FI_DEV_FB_USED is in MiB: multiply it by 1048576)", g.UUID, g.Node, v)}
				}
				used += v
				largest = max(largest, v)
			}
			// A MIG GPU holds the memory of all its slices, and is
			// allocated when any one of them is.
			g.MemoryUsed = uint64(used)
			g.Allocated = uint64(largest) >= p.cfg.AllocatedMemory
		}
		if mig[g.UUID] {
			// A MIG GPU is one GPU, as the agents source and
			// onprem.gpus_per_node count it, busy while any of its
			// slices runs a job: a job asking a whole GPU cannot start
			// on it. Its utilisation reads 0 or nothing in DCGM, so it
			// is never idle (nor allocated-but-idle waste), and with no
			// memory read to tell its slices' jobs, it is busy.
			g.Idle = false
			g.Busy = g.Utilization >= p.cfg.BusyUtil || g.Allocated || !read
			continue
		}
		g.Idle = g.Utilization < p.cfg.BusyUtil
		g.Busy = !g.Idle || g.Allocated
	}
	if err := p.markUnhealthy(ctx, &b, seen); err != nil {
		return signals.Baseline{}, err
	}
	p.shared.keep(b.GPUs)
	p.warnMIG(mig)
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

// warnMIG says, once a source, that the GPUs split by MIG it read need
// MemoryUsedQuery: without it each reads busy however idle its slices
// are (the pool may rent for jobs they could run), and one whose
// utilisation DCGM does not serve is not read at all.
func (p *Prometheus) warnMIG(mig map[string]bool) {
	if p.cfg.MemoryUsedQuery != "" || p.migWarned.Load() {
		return
	}
	var split []string
	for u, is := range mig {
		if is {
			split = append(split, u)
		}
	}
	if len(split) == 0 || p.migWarned.Swap(true) {
		return
	}
	sort.Strings(split)
	p.log.Warn("GPUs split by MIG read busy, never free, as no memory_used_query tells whether their slices run jobs; MIG GPUs without a series in util_query are not read at all: set memory_used_query (dcgm-exporter: "+DCGMMemoryUsedQuery+", narrowed to the pool as util_query is)",
		"gpus", len(split), "first", split[0], "query", p.cfg.UtilQuery)
}

// MIGInstanceLabel is dcgm-exporter's label of a MIG slice's series (its
// GPU instance ID); the slice's series carries its GPU's UUID.
const MIGInstanceLabel = "GPU_I_ID"

// gpuMemory is one GPU's memory readings.
type gpuMemory struct {
	// series is the first series read, naming the GPU.
	series model.Metric
	// slices is the bytes used by each MIG slice, by GPU instance ID
	// ("" for a GPU not split), at its largest reading.
	slices map[string]float64
}

// markUnhealthy reads UnhealthyQuery and marks the GPUs it reports
// unhealthy (value 1; 0 and NaN are healthy, any other value fails the
// read), as the agents source has them: never free.
// A GPU with no other series (the agent serves only this one of a GPU
// fallen off the bus) is added, so that it is counted, neither busy nor
// idle, when the source takes every GPU the query lists for the pool's
// (unhealthyAnyNode) or UtilQuery lists its node; otherwise it is
// another pool's. A series listed unhealthy without the UUID or node
// label fails the read: it names no GPU. seen is each GPU's index in
// b.GPUs.
func (p *Prometheus) markUnhealthy(ctx context.Context, b *signals.Baseline, seen gpuSeen) error {
	uv, _, err := p.vector(ctx, p.cfg.UnhealthyQuery)
	if err != nil {
		return err
	}
	nodes := make(map[string]bool, len(b.GPUs))
	for _, g := range b.GPUs {
		nodes[g.Node] = true
	}
	why := fmt.Sprintf("%q reports it unhealthy", p.cfg.UnhealthyQuery)
	var other []string // UUIDs of unhealthy GPUs left out as another pool's
	for _, s := range uv {
		v := float64(s.Value)
		if v == 0 || math.IsNaN(v) { // healthy
			continue
		}
		g := p.gpu(s.Metric)
		if v != 1 {
			// A count or a code (Xid 79, 3 errors) read as a verdict, or
			// a utilisation: one busy GPU read as broken.
			return &QueryError{Source: p.Name(), Query: p.cfg.UnhealthyQuery, Err: fmt.Errorf("GPU %s on %s: %v is not 0 (healthy) or 1 (unhealthy): compare a count or code to a bound with bool (e.g. DCGM_FI_DEV_XID_ERRORS > bool 0)", signals.Shorten(g.UUID, 100), signals.Shorten(g.Node, 100), v)}
		}
		if g.UUID == "" || g.Node == "" {
			l := p.cfg.Labels
			return &QueryError{Source: p.Name(), Query: p.cfg.UnhealthyQuery, Err: fmt.Errorf("series %s lacks the %q or %q label: want one series per GPU carrying them, as util_query's do (do not aggregate them away, e.g. max by (%s, %s) (...)), or set the label names", signals.Shorten(s.Metric.String(), 200), l.Node, l.UUID, l.Node, l.UUID)}
		}
		if i, ok := seen.find(p.id(s.Metric)); ok {
			b.GPUs[i].Unhealthy, b.GPUs[i].Health = true, why
			continue
		}
		if !p.unhealthyAnyNode && !nodes[g.Node] {
			other = append(other, g.UUID+" on "+g.Node)
			continue
		}
		g.Unhealthy, g.Health = true, why
		seen.add(p.id(s.Metric), len(b.GPUs))
		b.GPUs = append(b.GPUs, g)
	}
	if len(other) > 0 && !p.otherNodesWarned.Swap(true) {
		sort.Strings(other)
		p.log.Warn("unhealthy GPUs of nodes util_query does not list were left out as another pool's; a node of this pool all of whose GPUs are lost is among them: set unhealthy_query, narrowed to the pool as util_query is (e.g. "+AgentUnhealthyQuery+"{cluster=\"a\"}), to count them",
			"gpus", len(other), "first", other[0], "query", p.cfg.UnhealthyQuery)
	}
	return nil
}

// id is the GPU a series names, by its UUID and index labels.
func (p *Prometheus) id(m model.Metric) gpuID {
	l := p.cfg.Labels
	id := gpuID{uuid: string(m[model.LabelName(l.UUID)])}
	if l.GPU != "" {
		id.index = string(m[model.LabelName(l.GPU)])
	}
	return id
}

// gpuSeen is each GPU's index in a baseline's GPUs, by gpuID and by
// UUID (the first GPU of each); shared marks the UUIDs two GPUs report.
type gpuSeen struct {
	byID   map[gpuID]int
	byUUID map[string]int
	shared map[string]bool
}

func newGPUSeen(n int) gpuSeen {
	return gpuSeen{byID: make(map[gpuID]int, n), byUUID: make(map[string]int, n), shared: map[string]bool{}}
}

func (s gpuSeen) add(id gpuID, i int) {
	s.byID[id] = i
	if _, ok := s.byUUID[id.uuid]; ok {
		s.shared[id.uuid] = true
	} else {
		s.byUUID[id.uuid] = i
	}
}

// find is the GPU id names, or, where the query kept no index label (or
// another index than the others), the GPU of its UUID if one GPU reports
// it.
func (s gpuSeen) find(id gpuID) (int, bool) {
	if i, ok := s.byID[id]; ok {
		return i, true
	}
	if s.shared[id.uuid] {
		return 0, false
	}
	i, ok := s.byUUID[id.uuid]
	return i, ok
}

// ids is the gpuID of each GPU of a baseline's GPUs, by their index.
func (s gpuSeen) ids(n int) []gpuID {
	ids := make([]gpuID, n)
	for id, i := range s.byID {
		ids[i] = id
	}
	return ids
}

// gpu is the GPU a series names, by the configured labels.
func (p *Prometheus) gpu(m model.Metric) signals.GPU {
	l := p.cfg.Labels
	g := signals.GPU{
		Node:  string(m[model.LabelName(l.Node)]),
		UUID:  string(m[model.LabelName(l.UUID)]),
		Model: string(m[model.LabelName(l.Model)]),
	}
	if l.GPU != "" {
		g.Index, _ = strconv.Atoi(string(m[model.LabelName(l.GPU)]))
	}
	return g
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
