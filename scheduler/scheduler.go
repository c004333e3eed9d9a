// Package scheduler is Spillway's controller: every tick, for each pool
// independently, it reads the pool's signals, lists the cloud's instances
// under this cluster's tags, joins them with the durable state, asks
// policy.Decide for a plan and executes it — launches behind write-ahead
// intents with deterministic client tokens, drains through the pool's hook
// before any termination, join checks against each burst instance's agent,
// and an orphan sweeper for tagged instances no state row claims. Schedules
// and manual bursts are floors kept in state, so they open and close on time
// across restarts.
//
// The scheduler is level-triggered: it reconciles from what the cloud and
// the state say each tick, never from memory of what it did.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/boottime"
	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/idlegap"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/signals/httpclient"
	"github.com/spillway-io/spillway/spotlife"
	"github.com/spillway-io/spillway/state"
)

// Defaults of Options and Pool.
const (
	DefaultTick         = 10 * time.Second
	DefaultSweepGrace   = 10 * time.Minute
	DefaultProbeTimeout = 3 * time.Second
	// DefaultCallTimeout bounds each state call and each call to a
	// provider without a CallTimeouts entry; on shutdown the calls in
	// flight get their bound to finish and be recorded.
	DefaultCallTimeout = 60 * time.Second
	// listGrace is how long a freshly launched instance may be missing from
	// the cloud's list (eventual consistency) before it counts as vanished:
	// the providers' worst-case lag. A cloud that lags longer makes the
	// pool take its fresh instances for vanished (docs/server.md).
	listGrace = providers.ConsistencyWindow
	// intentMaxAge is how long a pending intent is resumed; after it the
	// intent is failed (an instance it did launch is still adopted through
	// its spillway:intent tag). Providers keep client tokens this long
	// (providers.ResumeWindow says so to them).
	intentMaxAge = providers.ResumeWindow
	// maxRedecide bounds how often one tick decides again after capacity
	// failures.
	maxRedecide = 8
)

// Options configure a Scheduler.
type Options struct {
	// Cluster is written into every instance's spillway:cluster tag.
	Cluster string
	Pools   []Pool
	// Providers by the names offerings use.
	Providers map[string]providers.Provider
	Store     state.Store
	// Clock is the one clock; nil means the wall clock.
	Clock clock.WithTicker
	// Logger; nil means silent.
	Logger *slog.Logger
	// Registerer receives the scheduler's metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// DryRun decides and records every tick but makes no mutating cloud
	// call and runs no hook.
	DryRun bool
	// Tick is how often each pool is evaluated (DefaultTick when 0).
	Tick time.Duration
	// SweepGrace is how long a tagged instance no row claims may live
	// before the sweeper ends it (DefaultSweepGrace when 0).
	SweepGrace time.Duration
	// Capacity is the capacity-failure cache; nil makes one.
	Capacity *providers.CapacityCache
	// HTTPClient probes agents; nil uses a client with ProbeTimeout.
	// Either way, redirects are followed within an agent_url's host only
	// (httpclient.Confine).
	HTTPClient   *http.Client
	ProbeTimeout time.Duration
	// CallTimeout bounds each state call of a tick, each drain hook's run
	// and each call to a provider CallTimeouts leaves out
	// (DefaultCallTimeout). With a Leader, a tick's or sweep's state calls
	// also end with the term (boundedStore).
	CallTimeout time.Duration
	// CallTimeouts bound each call to a provider, by the provider's name
	// (its config's call_timeout): a Terraform apply waits until its
	// instances run, an SDK call answers in seconds. A provider left out,
	// or with 0, takes CallTimeout.
	CallTimeouts map[string]time.Duration
	// Retention: history older than this is pruned from the state once an
	// hour (0: never).
	Retention time.Duration
	// Leader, when set, gates every tick and sweep and every mutating
	// call: the scheduler acts only while it answers ok (leader.go). nil:
	// this server always acts.
	Leader Leader
}

// Pool is one pool as the scheduler runs it.
type Pool struct {
	Policy policy.Pool
	// Snapshot reads the pool's signals now (signals.Read over the pool's
	// sources). The scheduler fills in floors, capacity and spend.
	Snapshot func(ctx context.Context) policy.Snapshot
	// UserData renders the bootstrap script of a launch; nil sends none.
	UserData func(in config.InstanceFields) (string, error)
	// AgentURL renders the base URL of a burst instance's agent; nil
	// counts an instance as joined (and idle) once the cloud runs it.
	AgentURL func(in config.InstanceFields) (string, error)
	// JoinTimeout: an instance whose agent has not answered this long after
	// launch is ended and counted as a failed launch; 0: the pool's
	// default (policy.Pool.DefaultJoinTimeout).
	JoinTimeout time.Duration
	// Drain runs the pool's drain hook once for an instance; nil: no hook.
	Drain func(ctx context.Context, in config.InstanceFields) error
}

// Scheduler runs the pools. Create it with New; Run drives it, Tick and
// Sweep run one step each (tests, benchmarks).
type Scheduler struct {
	opts    Options
	log     *slog.Logger
	clock   clock.WithTicker
	cache   *providers.CapacityCache
	client  *http.Client
	metrics *metrics
	pools   map[string]*poolRun
	order   []string

	mu       sync.Mutex
	blocks   map[string]block // provider → block from throttling or invalid requests
	prunedAt time.Time
	// unconfigured: the instances of pools the config lacks that the
	// sweeper has said it keeps (provider/id, intent/provider/id for one
	// claimed by an intent only); Sweep's own.
	unconfigured map[string]bool
	// kmu guards keptForIntents: the instances of unconfigured kept for
	// an intent only (intent/provider/id), as Sweep last saw them, read by
	// KeptForIntents.
	kmu            sync.Mutex
	keptForIntents map[string]KeptForIntent
	// strangers: when the sweeper first listed each stranger whose
	// launch time the cloud gives as none or ahead of now
	// (provider/id), as stored (state.Sighting) or, where the store
	// failed, as this server saw it; Sweep's own (strangerSince).
	strangers map[string]time.Time

	// smu guards stored: what is held out of launches as last stored,
	// until when (saveUnavailable).
	smu    sync.Mutex
	stored map[unavailableKey]time.Time
}

type block struct {
	until time.Time
	why   string
	// invalid: the provider refused a request as invalid, so the pools
	// using it are misconfigured until an operator fixes them.
	invalid bool
}

// poolRun is one pool's runtime: its spec and what the API shows of it.
type poolRun struct {
	spec Pool
	// callSlack is the longest call_timeout of the pool's providers: a
	// tick's launch calls end at most that long after its evaluation.
	callSlack time.Duration
	offs      map[string]policy.Offering
	mu        sync.Mutex // serialises the pool's ticks
	// boots learns the pool's boot times from its joins (guarded by mu);
	// seeded says the joins and idle gaps already recorded in the state
	// were read.
	boots  *boottime.Tracker
	seeded bool
	// spot learns how often the pool's spot offerings are reclaimed from
	// the notices its instances get (guarded by mu); a restart, or a new
	// leader, reads the notices and lives stored in the instances' rows
	// back (seedSpot).
	spot *spotlife.Tracker
	// epoch is the leader term the trackers were seeded in (0 without a
	// Leader): a new term seeds them afresh (newTerm).
	epoch int64
	// idle learns how long the pool's idle instances wait for their next
	// job (guarded by mu): from its agents' reports, its releases and its
	// launches. Each gap it resolves is stored (unsaved holds those a
	// failed write left for the next tick), and a restart reads them back.
	idle    *idlegap.Tracker
	unsaved []state.IdleGap
	// unused holds the offerings held out of the pool's launches because
	// the queue left their instances unused, until when (guarded by mu;
	// seeded from the state); unsavedHolds those a failed write left for
	// the next tick.
	unused       map[policy.OfferingKey]time.Time
	unsavedHolds []state.Hold
	// counted is what was counted of the live instances (a join timeout,
	// a spot notice), so that an event that stays (a notice on a draining
	// instance, anything in a dry run) is counted once and not at every
	// tick (guarded by mu).
	counted map[instEvent]bool
	// termFailed holds, for each live instance whose last terminate call
	// failed, the kind of its failure (failureKey), so that a failure
	// that repeats at every tick is logged once (guarded by mu).
	termFailed map[string]string
	// launchFailed holds, for each pending intent whose last launch call
	// failed for now, the kind of its failure (failureKey), so that a
	// failure that repeats at every tick is logged once (guarded by mu).
	launchFailed map[string]string
	// unknown holds, for each instance whose agent reported GPUs it could
	// not read at the last probe, how many and since when every one of
	// them has been unknown (guarded by mu; rebuilt at every probe).
	unknown map[string]unknownGPUs
	// unhealthy holds, for each instance whose agent reported GPUs
	// unhealthy and not busy at the last probe that answered, how many
	// (guarded by mu; rebuilt at every probe): they are no room for the
	// queue (policy.Instance.UnhealthyGPUs).
	unhealthy map[string]int
	// backoff holds the pending intents whose last launch call timed out
	// out of resumes for a while (guarded by mu; in memory only: a restart
	// resumes at once).
	backoff map[string]resumeBackoff
	// resumeAt holds when each pending intent may be called (guarded by
	// mu; in memory only, forgotten at a new term): at once for one this
	// process wrote, a consistency window after it was first found for
	// one it found pending (resumeAfter).
	resumeAt map[string]time.Time
	// adopted holds, for each pending intent, the instances this process
	// adopted under it (guarded by mu; in memory only): once they have
	// ended they leave the live rows, and without them the intent's whole
	// count was taken for booting instances again until its resume.
	adopted map[string]map[string]bool
	// spendPeriod is the budget period whose spend the pool's ticks
	// accrue (guarded by mu): the first tick of a new one (or after a
	// restart or a new term) first closes the one before it.
	spendPeriod time.Time
	// unwritten holds the instance rows whose last write failed, by id,
	// laid over the rows the next tick reads and written again by its flush
	// (guarded by mu; dropped at a new term: another server may have acted
	// on them). unspent holds the spend entries whose write failed, counted
	// into the spend until written (kept across terms: the ledger keeps an
	// entry's larger amount); ledger what this process last wrote of each
	// entry of a live instance (see unwritten.go).
	unwritten map[string]state.Instance
	unspent   map[spendKey]state.SpendEntry
	ledger    map[spendKey]float64
	// vanished holds the rows ended as vanished, booting and unlisted,
	// by id, for vanishedHold after their end (guarded by mu; seeded from
	// the state): the budget still counts them (vanished.go).
	vanished map[string]state.Instance
	// unwritable is why the state took no writes at the pool's last tick
	// ("" when it did): pending intents are not resumed meanwhile.
	unwritable string
	// mem is what the pool's ticks last read from the state, for a tick
	// that cannot read it (see unread.go; guarded by mu; forgotten at a new
	// term).
	mem recall
	// opened is when each of the pool's current schedule firings was
	// opened (its row written), by floor id (guarded by mu): a firing
	// opened well after it fired says so.
	opened map[string]time.Time
	// smu guards last and timeline, so readers (the API, the page) never
	// wait for a tick that is slow on a cloud call.
	smu  sync.Mutex
	last Status
	// lastSummary and lastRecorded say what was stored last, so an
	// unchanged decision is not stored every tick.
	lastSummary  string
	lastRecorded time.Time
	// lastNow is the clock at the pool's last tick (zero before the
	// first): a tick whose clock reads earlier saw it stepped back
	// (clockstep.go).
	lastNow time.Time
	// stepFrom and stepBy are the pool's last tick before the clock's
	// last step back seen, and the step: intents written by then were
	// written ahead (written).
	stepFrom time.Time
	stepBy   time.Duration
	// lastFailed is the key of the last decision stored whose only
	// actions were terminates that failed (failedEndsKey; "" when the
	// last stored was another), and repeats the ticks since that decided
	// the same and were not stored, the first at repeatSince.
	lastFailed  string
	repeats     int
	repeatSince time.Time
	// timeline holds the last maxSamples samples, oldest first.
	timeline []Sample
	// calls are the tick's cloud calls in flight (waiting.go).
	calls inFlight
}

// maxSamples bounds a pool's timeline: 12 hours at the default tick.
const maxSamples = 4320

// Sample is one tick's figures of a pool, for the status page's chart.
type Sample struct {
	Time       time.Time
	OnPremBusy int
	CloudGPUs  int
	QueuedGPUs int
	Spend      float64
}

// Timeline returns the pool's samples since the given time, oldest first.
func (s *Scheduler) Timeline(pool string, since time.Time) ([]Sample, bool) {
	pr, ok := s.pools[pool]
	if !ok {
		return nil, false
	}
	pr.smu.Lock()
	defer pr.smu.Unlock()
	i, _ := slices.BinarySearchFunc(pr.timeline, since, func(x Sample, t time.Time) int { return x.Time.Compare(t) })
	return slices.Clone(pr.timeline[i:]), true
}

// Status is what the last tick of a pool saw and did.
type Status struct {
	Pool          string
	Time          time.Time
	Snapshot      policy.Snapshot
	Plan          policy.Plan
	Spend         policy.Spend
	Misconfigured string
	Err           string
	// StateErr says why the state took no writes in the tick, which went
	// on from memory (see unwritten.go); "" when every write succeeded.
	StateErr string
	// ReadErr says why the state could not be read in the tick, which went
	// on from what the pool's ticks last read (see unread.go); "" when
	// every read succeeded.
	ReadErr string
	// Unavailable is what the capacity cache and the providers' back-offs
	// held out of every pool's launches after the tick, with why; a
	// follower reads the cache's part (offerings, quota blocks) from the
	// state.
	Unavailable []state.Unavailable
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// New checks opts and returns a Scheduler.
func New(opts Options) (*Scheduler, error) {
	if opts.Cluster == "" {
		return nil, errors.New("scheduler: no cluster name")
	}
	if opts.Store == nil {
		return nil, errors.New("scheduler: no state store")
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Tick <= 0 {
		opts.Tick = DefaultTick
	}
	if opts.SweepGrace <= 0 {
		opts.SweepGrace = DefaultSweepGrace
	}
	if opts.ProbeTimeout <= 0 {
		opts.ProbeTimeout = DefaultProbeTimeout
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = DefaultCallTimeout
	}
	opts.CallTimeouts = maps.Clone(opts.CallTimeouts)
	// Each state call gets its own CallTimeout (boundedStore).
	opts.Store = boundedStore{st: opts.Store, timeout: opts.CallTimeout}
	if opts.Capacity == nil {
		opts.Capacity = providers.NewCapacityCache(providers.WithCacheClock(opts.Clock.Now))
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: opts.ProbeTimeout}
	}
	// An agent's answer is its instance's only if it comes from the
	// instance's agent_url: a redirect elsewhere (another machine's
	// agent) is refused, as the agents baseline source refuses it.
	opts.HTTPClient = httpclient.Confine(opts.HTTPClient)
	s := &Scheduler{
		opts: opts, log: opts.Logger, clock: opts.Clock, cache: opts.Capacity, client: opts.HTTPClient,
		metrics: newMetrics(opts.Registerer), pools: map[string]*poolRun{}, blocks: map[string]block{}, stored: map[unavailableKey]time.Time{},
	}
	for _, p := range opts.Pools {
		if p.Snapshot == nil {
			return nil, fmt.Errorf("scheduler: pool %q has no signals", p.Policy.Name)
		}
		if _, dup := s.pools[p.Policy.Name]; dup {
			return nil, fmt.Errorf("scheduler: pool %q twice", p.Policy.Name)
		}
		if p.JoinTimeout <= 0 {
			p.JoinTimeout = p.Policy.DefaultJoinTimeout()
		}
		// The pool is evaluated every Tick: the policy must not count on
		// an evaluation sooner (a hard budget commits each instance's cost
		// until the next one), so a shorter interval is taken as Tick.
		if p.Policy.Interval.D() < opts.Tick {
			p.Policy.Interval = policy.Duration(opts.Tick)
		}
		pr := &poolRun{spec: p, offs: map[string]policy.Offering{}}
		pr.freshTrackers()
		for _, o := range p.Policy.Offerings {
			if _, ok := opts.Providers[o.Provider]; !ok {
				return nil, fmt.Errorf("scheduler: pool %q offering %q: no provider %q", p.Policy.Name, o.Name, o.Provider)
			}
			pr.offs[o.Name] = o
			if d := s.callTimeout(o.Provider); d > pr.callSlack {
				pr.callSlack = d
			}
		}
		// A tick waits for its calls, one after another: the list, the
		// drain hooks, the terminations (launches end at callSlack after
		// the evaluation, and come after the ends). The next evaluation
		// may come that late, and an end the evaluation orders reaches the
		// cloud that late after it; a hard budget must hold until then.
		pr.spec.Policy.TickSlack = policy.Duration(config.TickLength(pr.callSlack, p.Drain != nil))
		s.pools[p.Policy.Name] = pr
		s.order = append(s.order, p.Policy.Name)
	}
	return s, nil
}

// Pools lists the pool names in config order.
func (s *Scheduler) Pools() []string { return append([]string(nil), s.order...) }

// PoolSpec returns a pool's policy.
func (s *Scheduler) PoolSpec(name string) (policy.Pool, bool) {
	pr, ok := s.pools[name]
	if !ok {
		return policy.Pool{}, false
	}
	return pr.spec.Policy, true
}

// LastStatus returns what the pool's last tick saw and did.
func (s *Scheduler) LastStatus(pool string) (Status, bool) {
	pr, ok := s.pools[pool]
	if !ok {
		return Status{}, false
	}
	pr.smu.Lock()
	defer pr.smu.Unlock()
	return pr.last, true
}

// DryRun reports whether the scheduler makes no mutating cloud call.
func (s *Scheduler) DryRun() bool { return s.opts.DryRun }

// Run ticks every pool (each in its own goroutine, so one slow provider or
// source never stalls another pool) and sweeps orphans, once at start and
// then every Tick, until ctx ends. Calls in flight when ctx ends finish
// (each bounded by its provider's CallTimeouts entry, else CallTimeout)
// and are recorded before Run returns.
func (s *Scheduler) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	loop := func(name string, step func(context.Context) error) {
		defer wg.Done()
		t := s.clock.NewTicker(s.opts.Tick)
		defer t.Stop()
		for {
			if err := step(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("tick failed", "pool", name, "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C():
			}
		}
	}
	for _, name := range s.order {
		wg.Add(1)
		go loop(name, func(ctx context.Context) error { return s.Tick(ctx, name) })
	}
	wg.Add(1)
	go loop("sweeper", s.Sweep)
	wg.Wait()
	return nil
}

// detached is ctx without its cancellation, for the mutating cloud calls
// and the state calls of a tick, so a shutdown lets them finish and be
// recorded. It carries no deadline: each call bounds itself to its
// provider's call timeout or CallTimeout (actingCtx, callCtx,
// boundedStore), so one call that hangs delays the rest of the tick but
// cannot use up its time. Read-only calls (lists,
// probes) run on ctx and end at once on shutdown.
func detached(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// callCtx is ctx bounded to the call timeout of provider (callTimeout),
// for one call to it; when that bound ends the call, context.Cause of the
// context is errCallTimeout.
func (s *Scheduler) callCtx(ctx context.Context, provider string) (context.Context, context.CancelFunc) {
	own := time.Now().Add(s.callTimeout(provider))
	cctx, cancel := context.WithDeadlineCause(ctx, own, errCallTimeout)
	return context.WithValue(cctx, callDeadlineKey{}, own), s.calling(ctx, provider, cancel)
}

// callDeadlineKey holds, in a call's context, the deadline its call
// timeout set (an earlier one, the leader's term, may bound it).
type callDeadlineKey struct{}

// callTimedOut reports whether a call on ctx (callCtx, actingCtx) that
// failed with err ran out of its call timeout: ctx ended by it, or the
// provider gave up ahead of it, as the terraform provider does (it
// interrupts Terraform its grace before the deadline, so that Terraform
// has stopped and written its state by then, and returns an error
// wrapping context.DeadlineExceeded before ctx ends), when the deadline
// was the call timeout's and not the leader term's.
func callTimedOut(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return errors.Is(context.Cause(ctx), errCallTimeout)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	dl, ok := ctx.Deadline()
	own, set := ctx.Value(callDeadlineKey{}).(time.Time)
	return ok && set && !dl.Before(own)
}

// callTimeout is how long one call to provider may take: its CallTimeouts
// entry, else CallTimeout ("" names no provider: a drain hook).
func (s *Scheduler) callTimeout(provider string) time.Duration {
	if d := s.opts.CallTimeouts[provider]; d > 0 {
		return d
	}
	return s.opts.CallTimeout
}

// errCallTimeout is the cause of a cloud call ended by its call timeout
// (not by the end of the leader term, nor by a shutdown).
var errCallTimeout = errors.New("the call took longer than its timeout")

// blocked reports whether calls to a provider are held back now.
func (s *Scheduler) blocked(provider string, now time.Time) (block, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.blocks[provider]
	if !ok || !now.Before(b.until) {
		return block{}, false
	}
	return b, true
}

// block holds a provider back until b.until; a longer block wins, and a
// misconfiguration is kept while its block lasts.
func (s *Scheduler) block(provider string, b block) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.blocks[provider]
	if ok && !b.until.After(cur.until) {
		return
	}
	if ok && cur.invalid && !b.invalid {
		b.invalid, b.why = true, cur.why
	}
	s.blocks[provider] = b
}
