// Package live runs a GPU cluster model on a clock, for `spillway demo`: it
// replays a job trace into a queue, places jobs on on-prem nodes and on burst
// instances the (emulated) cloud reports running, and serves what a real
// cluster would show Spillway: a simulated `spillway agent` per node (NVML
// readings from go-nvml's mock DGX servers, busy where a job runs), the queue
// as a JSON document for the http demand source, and a drain endpoint for
// the pool's drain hook.
package live

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/sim/trace"
)

// CloudInstance is what the cloud says of one burst instance.
type CloudInstance struct {
	ID           string
	InstanceType string
	PrivateIP    string
	// Running is true once the cloud reports the instance running (and
	// not yet shutting down).
	Running bool
}

// Options configure a Model. Clock, Trace and Cloud are required.
type Options struct {
	Clock clock.WithTicker
	// Trace is replayed from Start (an offset into it): jobs still running
	// at Start are queued first with what is left of them.
	Trace *trace.Trace
	Start time.Duration
	// OnPremNodes of OnPremModel (a signals/nvml simulated model, e.g.
	// "dgxh100"). Default 2 nodes of dgxh100.
	OnPremNodes int
	OnPremModel string
	// Cloud lists the cloud's burst instances of this cluster.
	Cloud func() []CloudInstance
	// NodeModel names the simulated model of an instance type (its GPU
	// count comes from the model); "" means the type is not a GPU node the
	// cluster can use. Default: dgxh100 for everything.
	NodeModel func(instanceType string) string
	// AgentPort is the port a burst instance's agent serves on at its
	// private address (default 9401, as `spillway agent`).
	AgentPort int
	// Step is the simulated time between two placement rounds (default 15s).
	Step   time.Duration
	Logger *slog.Logger
}

// Stats are the model's figures so far.
type Stats struct {
	Submitted, Started, Finished int
	// Narrowed counts jobs wider than MaxJobGPUs, run on MaxJobGPUs.
	Narrowed int
	// OnCloud counts jobs started on a burst instance.
	OnCloud int
	// Requeued counts jobs killed because their burst instance went away
	// (queued again at the front).
	Requeued int
	// Dropped and Cut count jobs queued, and running, when WindDown ended the replay.
	Dropped, Cut int
	Queued       int
	// WaitP95 is the 95th percentile wait of the jobs started.
	WaitP95 time.Duration
	// CloudGPUs are the GPUs of burst nodes in the cluster now; MaxCloudGPUs
	// the most at once.
	CloudGPUs, MaxCloudGPUs int
}

type job struct {
	id       int
	gpus     int
	submit   time.Time // simulated
	duration time.Duration
	end      time.Time
	node     *node
}

// Model is the live cluster. Create it with New, then Run it.
type Model struct {
	opts  Options
	log   *slog.Logger
	queue *http.Server
	qln   net.Listener

	mu       sync.Mutex
	t0       time.Time // simulated time of Start
	next     int       // next trace job to submit
	nodes    []*node   // on-prem first, then burst nodes in join order
	waiting  []*job
	running  map[int]*job
	drained  map[string]bool // instance ids the drain hook named
	failed   map[string]bool // instance ids whose agent could not listen
	waits    []time.Duration
	stats    Stats
	windDown bool
	done     bool
	wg       sync.WaitGroup
}

// New checks opts, builds the on-prem nodes and binds the queue's and the
// on-prem agents' listeners on 127.0.0.1, so that their URLs are known
// before Run. Close releases them when Run is not called.
func New(opts Options) (*Model, error) {
	if opts.Clock == nil || opts.Trace == nil || opts.Cloud == nil {
		return nil, errors.New("live: Clock, Trace and Cloud are required")
	}
	if len(opts.Trace.Jobs) == 0 {
		return nil, fmt.Errorf("trace %s: no jobs to replay", opts.Trace.Name)
	}
	if span := opts.Trace.Span(); opts.Start < 0 || opts.Start >= span {
		return nil, fmt.Errorf("start %v: want an offset from 0 to the trace's span %v (%s)", opts.Start, span, opts.Trace.Name)
	}
	if opts.OnPremNodes == 0 {
		opts.OnPremNodes = 2
	}
	if opts.OnPremNodes < 0 || opts.OnPremNodes > 64 {
		return nil, fmt.Errorf("on-prem nodes %d: want 1 to 64", opts.OnPremNodes)
	}
	opts.OnPremModel = cmp.Or(opts.OnPremModel, "dgxh100")
	if opts.NodeModel == nil {
		opts.NodeModel = func(string) string { return "dgxh100" }
	}
	if opts.AgentPort == 0 {
		opts.AgentPort = 9401
	}
	if opts.Step <= 0 {
		opts.Step = 15 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Model{opts: opts, log: opts.Logger, running: map[int]*job{}, drained: map[string]bool{}, failed: map[string]bool{}}
	for i := range opts.OnPremNodes {
		n, err := m.newNode(fmt.Sprintf("onprem-%02d", i+1), "", opts.OnPremModel, "127.0.0.1:0")
		if err != nil {
			m.Close()
			return nil, err
		}
		m.nodes = append(m.nodes, n)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("live: queue listener: %w", err)
	}
	m.qln = ln
	mux := http.NewServeMux()
	mux.HandleFunc("GET /queue", m.serveQueue)
	mux.HandleFunc("POST /drain/{id}", m.serveDrain)
	m.queue = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return m, nil
}

// QueueURL is the URL of the queue document: {"pending": {"job_gpus":
// [...], "oldest_wait_seconds": N}}.
func (m *Model) QueueURL() string { return "http://" + m.qln.Addr().String() + "/queue" }

// DrainURL is a drain.http.url template that drains an instance's node.
func (m *Model) DrainURL() string { return "http://" + m.qln.Addr().String() + "/drain/{{.ID}}" }

// AgentURLs are the on-prem agents' base URLs.
func (m *Model) AgentURLs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, n := range m.nodes {
		if n.instance == "" {
			out = append(out, "http://"+n.ln.Addr().String())
		}
	}
	return out
}

// Run replays the trace until ctx ends, then stops every agent and the
// queue server and returns once they have.
func (m *Model) Run(ctx context.Context) error {
	m.start()
	t := m.opts.Clock.NewTicker(m.opts.Step)
	defer t.Stop()
	defer m.Close()
	for {
		m.step()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
}

// start begins the replay at the clock's time and serves the on-prem
// agents and the queue.
func (m *Model) start() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.t0 = m.opts.Clock.Now()
	m.seedRunning()
	for _, n := range m.nodes {
		m.serve(n.srv, n.ln)
	}
	m.serve(m.queue, m.qln)
}

func (m *Model) serve(s *http.Server, ln net.Listener) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		_ = s.Serve(ln)
	}()
}

// Close stops every server and listener of the model and waits for them.
func (m *Model) Close() {
	m.mu.Lock()
	if m.done {
		m.mu.Unlock()
		return
	}
	m.done = true
	nodes := slices.Clone(m.nodes)
	m.mu.Unlock()
	for _, n := range nodes {
		n.close()
	}
	if m.queue != nil {
		_ = m.queue.Close()
	}
	if m.qln != nil {
		_ = m.qln.Close()
	}
	m.wg.Wait()
}

// seedRunning queues the jobs running at Start with what is left of them,
// submitted as the replay starts (t0).
func (m *Model) seedRunning() {
	jobs := m.opts.Trace.Jobs
	m.next = sort.Search(len(jobs), func(i int) bool { return jobs[i].Submit >= m.opts.Start })
	for i := range m.next {
		j := jobs[i]
		if left := j.Submit + j.Duration - m.opts.Start; left > 0 {
			m.enqueue(m.t0, i, j.GPUs, left)
		}
	}
}

// MaxJobGPUs is the widest job the model places: one node's GPUs (every
// simulated model has 8). Wider trace jobs run as one-node jobs (counted in
// Stats.Narrowed), since a burst of a few nodes could never start them.
const MaxJobGPUs = 8

func (m *Model) enqueue(now time.Time, id, gpus int, d time.Duration) {
	if gpus > MaxJobGPUs {
		gpus = MaxJobGPUs
		m.stats.Narrowed++
	}
	gpus = max(1, gpus)
	m.waiting = append(m.waiting, &job{id: id, gpus: gpus, submit: now, duration: d})
	m.stats.Submitted++
}

// step is one placement round: jobs end, the trace submits, burst nodes
// come and go with the cloud, and waiting jobs start where they fit.
func (m *Model) step() {
	cloud := m.opts.Cloud() // outside the lock: it may call the emulator
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done {
		return
	}
	now := m.opts.Clock.Now()
	for id, j := range m.running {
		if !j.end.After(now) {
			j.node.release(j)
			delete(m.running, id)
			m.stats.Finished++
		}
	}
	if !m.windDown {
		jobs := m.opts.Trace.Jobs
		pos := m.opts.Start + now.Sub(m.t0)
		for ; m.next < len(jobs) && jobs[m.next].Submit <= pos; m.next++ {
			m.enqueue(now, m.next, jobs[m.next].GPUs, jobs[m.next].Duration)
		}
	}
	m.syncCloud(cloud)
	m.place(now)
	gpus := 0
	for _, n := range m.nodes {
		if n.instance != "" {
			gpus += len(n.slots)
		}
	}
	m.stats.CloudGPUs = gpus
	m.stats.MaxCloudGPUs = max(m.stats.MaxCloudGPUs, gpus)
}

// syncCloud adds a node for each running burst instance, with its agent at
// the instance's private address, and removes the nodes of instances that
// stopped running; their jobs are queued again at the front.
func (m *Model) syncCloud(cloud []CloudInstance) {
	live := map[string]CloudInstance{}
	for _, ci := range cloud {
		if ci.Running {
			live[ci.ID] = ci
		}
	}
	kept := m.nodes[:0]
	var gone []*node
	for _, n := range m.nodes {
		if _, ok := live[n.instance]; n.instance == "" || ok {
			kept = append(kept, n)
			delete(live, n.instance)
			continue
		}
		gone = append(gone, n)
	}
	m.nodes = kept
	for _, n := range gone {
		var back []*job
		for _, j := range n.jobs() {
			delete(m.running, j.id)
			j.node, j.end = nil, time.Time{}
			back = append(back, j)
			m.stats.Requeued++
		}
		m.waiting = append(back, m.waiting...)
		m.log.Info("burst node left the cluster", "instance", n.instance, "requeued_jobs", len(back))
		n.close()
	}
	ids := make([]string, 0, len(live))
	for id := range live {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		ci := live[id]
		model := m.opts.NodeModel(ci.InstanceType)
		if model == "" || m.failed[id] || ci.PrivateIP == "" {
			continue
		}
		n, err := m.newNode(id, id, model, net.JoinHostPort(ci.PrivateIP, strconv.Itoa(m.opts.AgentPort)))
		if err != nil {
			m.failed[id] = true
			m.log.Warn("burst node's agent cannot listen; the server will see it never join", "instance", id, "err", err)
			continue
		}
		n.draining = m.drained[id]
		m.nodes = append(m.nodes, n)
		m.serve(n.srv, n.ln)
		m.log.Info("burst node joined the cluster", "instance", id, "type", ci.InstanceType, "gpus", len(n.slots), "agent", n.ln.Addr().String())
	}
}

// place starts waiting jobs in queue order wherever they fit (smaller jobs
// may pass a larger one that does not fit yet), on-prem nodes first.
func (m *Model) place(now time.Time) {
	left := m.waiting[:0]
	for _, j := range m.waiting {
		n := m.fit(j.gpus)
		if n == nil {
			left = append(left, j)
			continue
		}
		n.take(j)
		j.end = now.Add(j.duration)
		m.running[j.id] = j
		m.stats.Started++
		m.waits = append(m.waits, now.Sub(j.submit))
		if n.instance != "" {
			m.stats.OnCloud++
		}
	}
	clear(m.waiting[len(left):])
	m.waiting = left
}

// fit returns the node with the fewest free GPUs that still fits gpus,
// preferring on-prem nodes; nil if none fits.
func (m *Model) fit(gpus int) *node {
	var best *node
	for _, n := range m.nodes {
		if n.draining || n.free() < gpus {
			continue
		}
		if best == nil || (best.instance != "") && n.instance == "" || (best.instance == "") == (n.instance == "") && n.free() < best.free() {
			best = n
		}
	}
	return best
}

// WindDown ends the replay: no more jobs are submitted, the queue is
// emptied and running jobs end now, so that the server sees the demand
// drain and scales the burst in.
func (m *Model) WindDown() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.windDown = true
	m.stats.Dropped += len(m.waiting)
	m.waiting = nil
	for id, j := range m.running {
		j.node.release(j)
		delete(m.running, id)
		m.stats.Cut++
	}
}

// Stats returns the model's figures so far.
func (m *Model) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.stats
	st.Queued = len(m.waiting)
	if len(m.waits) > 0 {
		w := slices.Clone(m.waits)
		slices.Sort(w)
		st.WaitP95 = w[min(len(w)-1, (len(w)*95+99)/100-1)]
	}
	return st
}

// queueDoc is the document the http demand source reads.
type queueDoc struct {
	Time    time.Time `json:"time"`
	Pending struct {
		JobGPUs           []int     `json:"job_gpus"`
		JobWaitSeconds    []float64 `json:"job_wait_seconds"`
		OldestWaitSeconds float64   `json:"oldest_wait_seconds"`
	} `json:"pending"`
	Running struct {
		Jobs int `json:"jobs"`
		GPUs int `json:"gpus"`
	} `json:"running"`
}
