package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/api/tokens"
	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/internal/connlimit"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/providers/alicloud"
	"github.com/spillway-io/spillway/providers/aws"
	"github.com/spillway-io/spillway/scheduler"
	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/sources"
	"github.com/spillway-io/spillway/state"
	"github.com/spillway-io/spillway/state/postgres"
	"github.com/spillway-io/spillway/state/sqlite"
	"github.com/spillway-io/spillway/terraform"
)

// serverDeps are what a server is built with besides its config: the demo
// passes its own clock, logger and provider options.
type serverDeps struct {
	log            *slog.Logger
	clock          clock.WithTicker
	dryRun         bool
	insecureListen bool
	// awsOpts and aliOpts are added to every provider of that type.
	awsOpts []aws.Option
	aliOpts []alicloud.Option
	// listener, when set, is used instead of listening on server.listen.
	listener net.Listener
	// listenFlag says that server.listen was set by --listen, which its
	// errors then name.
	listenFlag bool
	// sessionTTL is how long a page login lasts on clock (0: the api's
	// default); the demo's clock runs fast, so it asks for the longest.
	sessionTTL time.Duration
}

// portOf is the port of a host:port address, the address itself if it
// has none.
func portOf(addr string) string {
	if _, port, err := net.SplitHostPort(addr); err == nil {
		return port
	}
	return addr
}

// server is one running `spillway server`: the scheduler over its state,
// providers and signal sources, and the HTTP surface.
type server struct {
	cfg     *config.Config
	deps    serverDeps
	log     *slog.Logger
	store   state.Store
	sched   *scheduler.Scheduler
	reg     *prometheus.Registry
	ln      net.Listener
	api     http.Handler      // an *api.Server, but for tests of the rest of the mux
	elector *postgres.Elector // the leader lease with several servers on PostgreSQL; nil: always leads
	tls     *tls.Config       // server.tls's key pair, loaded before anything starts; nil: plain HTTP
	closers []func()

	mu    sync.Mutex
	ready bool
}

// warnSchedules logs at WARN what policy validate warns of under each
// pool (schedules that overlap, cost more than the budget, or are read in
// EST or MST), so that a config never validated by hand still says so.
func (s *server) warnSchedules(now time.Time) {
	for i, cp := range s.cfg.Pools {
		for _, msg := range s.cfg.ScheduleWarnings(i, now) {
			s.log.Warn(msg, "pool", cp.Policy.Name)
		}
	}
}

func newServer(ctx context.Context, cfg *config.Config, deps serverDeps) (_ *server, err error) {
	s := &server{cfg: cfg, deps: deps, log: deps.log, reg: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	// The key pair first: a server that cannot serve must not open its
	// state, take the lease or tick.
	if t := cfg.Server.TLS; t != nil {
		cert, err := t.Load()
		if err != nil {
			return nil, err
		}
		if msg := config.CertificateDates(cert, deps.clock.Now()); msg != "" {
			s.log.Warn("server.tls.cert_file: "+msg, "cert_file", t.CertFile)
		}
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	s.warnSchedules(deps.clock.Now())
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// st is what the API reads and writes; schedStore is what the
	// scheduler writes through (fenced by the leader lease with several
	// servers on PostgreSQL).
	var st, schedStore state.Store
	if cfg.Server.StateIsPostgres() {
		pst, elector, err := openHA(ctx, cfg, deps)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, func() { _ = pst.Close() })
		st, s.elector = pst, elector
		schedStore = pst.FencedBy(leaseName(cfg.Cluster), elector.Acting)
	} else {
		sst, err := sqlite.Open(ctx, cfg.Server.State, sqlite.WithLogger(deps.log), sqlite.WithServerLock())
		if err != nil {
			return nil, fmt.Errorf("server.state %s: %w", cfg.Server.State, err)
		}
		s.closers = append(s.closers, func() { _ = sst.Close() })
		st, schedStore = sst, sst
	}
	s.store = st

	provs, err := s.buildProviders(ctx)
	if err != nil {
		return nil, err
	}
	poolMetrics := signals.NewPoolMetrics(s.reg)
	var pools []scheduler.Pool
	client := &http.Client{Timeout: 10 * time.Second}
	for i := range cfg.Pools {
		cp := &cfg.Pools[i]
		set, err := cp.BuildSignals(sources.WithLogger(deps.log.WithGroup("signals")), sources.WithClock(deps.clock))
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, set.Close)
		p := scheduler.FromConfig(cp, cfg.Providers, client)
		name := cp.Policy.Name
		p.Snapshot = func(ctx context.Context) policy.Snapshot {
			snap := signals.Read(ctx, set.Pool, deps.clock.Now, set.Baseline, set.Demands)
			poolMetrics.Observe(name, snap)
			return snap
		}
		pools = append(pools, p)
	}
	opts := schedulerOptions(cfg, deps)
	opts.Pools, opts.Providers, opts.Store, opts.Registerer, opts.Leader = pools, provs, schedStore, s.reg, s.leader()
	s.sched, err = scheduler.New(opts)
	if err != nil {
		return nil, err
	}
	s.api, err = api.NewServer(api.Options{
		Backend:       &backend{cluster: cfg.Cluster, sched: s.sched, store: st, clock: deps.clock, elector: s.elector},
		TokensFile:    cfg.Server.TokensFile,
		AnonymousRead: cfg.Server.AnonymousRead,
		Logger:        deps.log,
		Clock:         deps.clock,
		SessionTTL:    deps.sessionTTL,
	})
	if err != nil {
		return nil, err
	}
	s.ln = deps.listener
	if s.ln == nil {
		if err := config.CheckListen(cfg.Server.Listen, cfg.Server.TLS != nil, deps.insecureListen); err != nil {
			return nil, err
		}
		if s.ln, err = net.Listen("tcp", cfg.Server.Listen); err != nil {
			from, hint := "server.listen", ""
			if deps.listenFlag {
				from = "--listen"
			}
			if errors.Is(err, syscall.EADDRINUSE) {
				hint = fmt.Sprintf("; another program (another spillway server?) listens there: stop it, or give another address (--listen or server.listen); ss -ltnp 'sport = :%s' names it", portOf(cfg.Server.Listen))
			}
			return nil, fmt.Errorf("%s %s: %w%s", from, cfg.Server.Listen, err, hint)
		}
	}
	// As the agent's server (nvml.Server.Serve): a further client takes
	// the place of the oldest connection silent for a second, else
	// of the connection idle longest, else of one stalled in its
	// first request's headers, or in writing an answer its client
	// does not read, from the address holding the most places, or waits while every one is in a request or just
	// accepted (connlimit; listenAndServe hooks it to the HTTP server).
	s.ln = connlimit.New(s.ln, cfg.Server.MaxConnections)
	return s, nil
}

// schedulerOptions are the scheduler's options that the config and deps
// set: each provider's calls are bounded by its call_timeout (a Terraform
// apply waits for its instances, an SDK call answers in seconds); the
// state's calls keep the scheduler's CallTimeout.
func schedulerOptions(cfg *config.Config, deps serverDeps) scheduler.Options {
	timeouts := make(map[string]time.Duration, len(cfg.Providers))
	for name, pc := range cfg.Providers {
		timeouts[name] = pc.CallTimeout.D()
	}
	return scheduler.Options{
		Cluster: cfg.Cluster, Clock: deps.clock, Logger: deps.log.WithGroup("scheduler"), DryRun: deps.dryRun,
		Tick: cfg.Server.Tick.D(), SweepGrace: cfg.Server.SweepGrace.D(), Retention: cfg.Server.Retention.D(),
		CallTimeouts: timeouts,
	}
}

func (s *server) buildProviders(ctx context.Context) (map[string]providers.Provider, error) {
	out := map[string]providers.Provider{}
	var errs []error
	for _, name := range sortedNames(s.cfg.Providers) {
		pc := s.cfg.Providers[name]
		switch pc.Type {
		case config.ProviderAWS:
			p, err := aws.New(ctx, pc, name, append([]aws.Option{aws.WithLogger(s.log), aws.WithClock(s.deps.clock)}, s.deps.awsOpts...)...)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			s.closers = append(s.closers, p.Close)
			out[name] = p
		case config.ProviderAlicloud:
			p, err := alicloud.New(ctx, pc, name, append([]alicloud.Option{alicloud.WithLogger(s.log), alicloud.WithClock(s.deps.clock)}, s.deps.aliOpts...)...)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			s.closers = append(s.closers, func() { _ = p.Close() })
			out[name] = p
		case config.ProviderTerraform:
			opts := []terraform.Option{terraform.WithLogger(s.log), terraform.WithClock(s.deps.clock.Now)}
			if s.elector != nil {
				// A run of a leader term that has ended left its backend
				// lock: the next leader releases it.
				opts = append(opts, terraform.WithLeader(s.elector))
			}
			p, err := terraform.New(name, pc.TerraformConfig(), opts...)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out[name] = p
		default:
			errs = append(errs, fmt.Errorf("providers.%s: unknown type %s", name, pc.Type))
		}
	}
	return out, errors.Join(errs...)
}

func sortedNames[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// handler is the server's HTTP surface.
func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", s.readyz)
	for _, p := range []string{"/metrics", "/healthz", "/readyz"} {
		// Another method is refused here; "/" would answer 404.
		mux.HandleFunc(p, getOnly)
	}
	mux.Handle("/", oneLeaseRead(s.elector, s.api))
	return mux
}

func getOnly(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, fmt.Sprintf("%s %s is not served: %s takes GET", r.Method, r.URL.Path, r.URL.Path), http.StatusMethodNotAllowed)
}

func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ready := s.ready
	s.mu.Unlock()
	type poolState struct {
		LastTick time.Time `json:"last_tick"`
		Error    string    `json:"error,omitempty"`
	}
	body := struct {
		Ready  bool                 `json:"ready"`
		DryRun bool                 `json:"dry_run"`
		Leader bool                 `json:"leader"`
		Lease  *api.LeaderInfo      `json:"lease,omitempty"`
		Pools  map[string]poolState `json:"pools"`
	}{Ready: ready, DryRun: s.deps.dryRun, Leader: true, Pools: map[string]poolState{}}
	if s.elector != nil {
		_, body.Leader = s.elector.Acting()
		body.Lease = leaderInfo(r.Context(), s.elector)
		if body.Lease.Error != "" {
			body.Ready = false // the database does not answer: nothing to serve
		}
	}
	for _, p := range s.sched.Pools() {
		st, _ := s.sched.LastStatus(p)
		if !body.Leader {
			// The pool's last tick was of this server's last term: its
			// error is not the pool's now (the leader's /readyz says
			// that); lease.last_term says why the term ended.
			body.Pools[p] = poolState{LastTick: st.Time}
			continue
		}
		ps := poolState{LastTick: st.Time, Error: st.Err}
		if ps.Error == "" && st.ReadErr != "" {
			ps.Error = "state not readable: " + st.ReadErr
		}
		if ps.Error == "" && st.StateErr != "" {
			ps.Error = "state not writable: " + st.StateErr
		}
		body.Pools[p] = ps
	}
	// As the API's answers: &, < and > as they are (encoding/json's
	// default wrote them \u0026, \u003c and \u003e, so an error naming
	// <nil> or a path read otherwise to curl and grep than in /v1), and
	// never read as HTML.
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if !body.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(body)
}

// run serves HTTP and runs the scheduler until ctx ends; then the cloud
// calls in flight finish and are recorded, and everything is closed.
func (s *server) run(ctx context.Context) error {
	defer s.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	httpErr := make(chan error, 1)
	go func() {
		err := listenAndServe(ctx, s.ln, s.handler(), s.tls)
		if err != nil {
			cancel() // a server that cannot serve stops ticking
		}
		httpErr <- err
	}()
	s.log.Info("spillway server started", "listen", s.ln.Addr().String(), "state", stateName(s.cfg.Server.State),
		"pools", len(s.cfg.Pools), "dry_run", s.deps.dryRun, "tick", s.cfg.Server.Tick.D())
	warnNoTokens(s.log, &s.cfg.Server)
	stopElector := s.startElector(ctx)
	go s.markReady(ctx)
	err := s.sched.Run(ctx)
	cancel()
	stopElector() // releases the lease once the scheduler's calls are recorded
	if herr := <-httpErr; herr != nil && !errors.Is(herr, http.ErrServerClosed) && err == nil {
		err = herr
	}
	// No request is in flight: the audit counts held in memory go to the
	// state before it closes.
	if a, ok := s.api.(*api.Server); ok {
		fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		a.FlushAudit(fctx)
		fcancel()
	}
	s.log.Info("spillway server stopped")
	return err
}

// markReady sets ready once every pool has been evaluated once.
func (s *server) markReady(ctx context.Context) {
	t := s.deps.clock.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		done := true
		if s.elector != nil {
			if _, leads := s.elector.Acting(); !leads {
				// A follower is ready once it has tried the lease: it
				// serves the API and the page from the database.
				s.mu.Lock()
				s.ready = true
				s.mu.Unlock()
				return
			}
		}
		for _, p := range s.sched.Pools() {
			if st, _ := s.sched.LastStatus(p); st.Time.IsZero() {
				done = false
			}
		}
		if done {
			s.mu.Lock()
			s.ready = true
			s.mu.Unlock()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

func (s *server) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// warnNoTokens warns, once the server has started (one that fails to start
// says only why), that it accepts no token yet: no
// server.tokens_file, one that does not exist yet (the config allows
// it, as spillway token create makes it, and the server reads it once it
// does), or one that holds no token, so that every API call is refused,
// but reads when server.anonymous_read is set, until a token is created.
// A file it cannot read or parse the tokens store reports at the first
// call, as it does while the server runs.
func warnNoTokens(log *slog.Logger, s *config.Server) {
	refused := "every API call is refused"
	if s.AnonymousRead {
		refused = "every API call but anonymous reads is refused"
	}
	if s.TokensFile == "" {
		log.Warn("server.tokens_file is not set, so the API accepts no token: " + refused + "; set it and create a token with spillway token create --name NAME --role admin --file FILE")
		return
	}
	create := fmt.Sprintf("create a token with spillway token create --name NAME --role admin --file %s (the server reads the file once it changes, no restart needed)", s.TokensFile)
	f, err := tokens.Read(s.TokensFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		log.Warn(fmt.Sprintf("server.tokens_file %s does not exist yet: %s until it does; %s", s.TokensFile, refused, create), "tokens_file", s.TokensFile)
	case err == nil && len(f.Entries) == 0:
		log.Warn(fmt.Sprintf("server.tokens_file %s holds no token yet: %s until it does; %s", s.TokensFile, refused, create), "tokens_file", s.TokensFile)
	}
}
