package main

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/internal/connlimit"
)

func init() { register(newServerCmd) }

type serverOptions struct {
	config         string
	dryRun         bool
	listen         string
	logLevel       string
	insecureListen bool
}

func newServerCmd() *cobra.Command {
	o := serverOptions{}
	cmd := &cobra.Command{
		Use:   "server --config FILE",
		Short: "Run the controller: signals → policy → cloud calls, schedules, manual bursts, API, metrics",
		Long: `The server evaluates every pool of the config each server.tick (default 10s):
it reads the pool's signals, lists the cloud's instances under this cluster's
tags, joins them with its state (server.state, a SQLite file by default),
asks the policy for a plan and executes it. Before every launch it writes an
intent with a client token, so a crash or a lost answer never launches twice;
instances are drained through the pool's hook before they are terminated; an
instance whose agent does not answer within join.timeout is replaced; tagged
instances no state row claims are swept after server.sweep_grace.

With --dry-run the server reads the real signals and decides every tick,
records and logs the decisions, and makes no mutating cloud call: try a policy
against production signals before it spends anything.

It serves /metrics (Prometheus), /healthz, /readyz, the operator API under /v1/
and the status page on server.listen (default 127.0.0.1:8700). The API and
the page take a token of server.tokens_file ('spillway token create' makes
one; reads need none with server.anonymous_read): while the file does not
exist yet, holds no token, or is not set, the server warns at start that it
refuses every call; it warns too (at WARN) of each schedule policy validate
warns of: windows that overlap, firings that cost more than the budget, a
schedule read in EST or MST. SIGTERM or Ctrl-C cancels the read-only cloud calls in flight (lists) at
once, lets the mutating ones finish (each within its provider's call_timeout:
1m for aws and alicloud, 10m for terraform; a drain hook within 60s), records
them, and exits 0.

Credentials come from each SDK's default chain (AWS_ACCESS_KEY_ID, profiles,
instance roles; ALIBABA_CLOUD_ACCESS_KEY_ID, …), or, for a provider that
names one (profile:), from that profile of the SDK's shared files, so two
providers of one type can sign for two accounts. Against 'spillway emulator'
any values do.

Exit status: 0 after SIGTERM or Ctrl-C, once the cloud calls in flight are
recorded; 2 when a flag or the config is refused (what policy validate
--server reports); 1 when it cannot start (server.listen in use, the state
held by another server or not readable) or fails while running.`,
		Example: `  spillway policy validate --server spillway.yaml
  spillway server --config spillway.yaml --dry-run
  spillway server --config configs/examples/emulator.yaml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := refuseEmpty(cmd, "config", "listen", "log-level"); err != nil {
				return err
			}
			return runServer(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.config, "config", "", "the config file, spillway.yaml (required)")
	f.BoolVar(&o.dryRun, "dry-run", false, "decide and record every tick, but make no mutating cloud call and run no hook")
	f.StringVar(&o.listen, "listen", "", "override server.listen (host:port)")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	f.BoolVar(&o.insecureListen, "insecure-listen", false, "allow a non-loopback listen address without TLS")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

func runServer(ctx context.Context, o serverOptions) error {
	level, err := parseLogLevel(o.logLevel)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg, err := config.LoadContext(ctx, o.config)
	if err != nil {
		if ctx.Err() != nil {
			return stoppedWhileStarting(log, err)
		}
		return configRefused(err.Error())
	}
	if err := cfg.ValidateForServer(config.Context(ctx), config.InsecureListen(o.insecureListen), config.ListenFromFlag(o.listen != "")); err != nil {
		if ctx.Err() != nil {
			return stoppedWhileStarting(log, err)
		}
		return configRefused(err.Error())
	}
	if o.listen != "" {
		// Checked here, as the file's address is by ValidateForServer:
		// before the state is opened.
		if err := config.CheckListen(o.listen, cfg.Server.TLS != nil, o.insecureListen); err != nil {
			return configRefused("--listen: " + err.Error())
		}
		cfg.Server.Listen = o.listen
	}
	srv, err := newServer(ctx, cfg, serverDeps{log: log, clock: clock.RealClock{}, dryRun: o.dryRun, insecureListen: o.insecureListen, listenFlag: o.listen != ""})
	if err != nil {
		if ctx.Err() != nil {
			return stoppedWhileStarting(log, err)
		}
		return err
	}
	return srv.run(ctx)
}

// configRefused is a config (or --listen) the server will not start with:
// exit 2, the message prefixed "spillway: " as every other command's
// errors are, so a log collecting stderr tells whose line it is.
func configRefused(msg string) error {
	return &exitCodeError{code: 2, msg: "spillway: " + msg}
}

// stoppedWhileStarting is a stop (SIGTERM, Ctrl-C) that came before the
// server had started: a clean exit, not a failure, whatever step it cut
// short (reading the config, opening the state, taking the lease). Nothing
// has been launched or changed yet.
func stoppedWhileStarting(log *slog.Logger, cut error) error {
	log.Info("stopped before it had started", "cut_short", cut)
	return nil
}

// Bounds on what one connection to the server may hold, beside its
// timeouts: server.max_connections counts connections, so they bound a
// client's requests and memory only with these.
const (
	// maxStreamsPerConn is the most requests an HTTP/2 connection (over
	// TLS) carries at once; Go's default, 250, let one connection hold as
	// many requests as 250 HTTP/1.1 ones. A browser loading the page
	// needs a few; its further requests wait for one to end.
	maxStreamsPerConn = 8
	// maxHeaderBytes bounds a request's headers (431 past it), HTTP/1.1
	// and HTTP/2; Go's default is 1 MB. A bearer token is at most 512
	// bytes; the rest is room for a browser's cookies.
	maxHeaderBytes = 64 << 10
)

// listenAndServe serves h on ln until ctx ends, then shuts down gracefully.
// With tlsCfg (its key pair loaded) it serves HTTPS, HTTP/2 included. An
// error serving, such as a listener that fails, is returned at once.
func listenAndServe(ctx context.Context, ln net.Listener, h http.Handler, tlsCfg *tls.Config) error {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, TLSConfig: tlsCfg,
		MaxHeaderBytes: maxHeaderBytes, HTTP2: &http.HTTP2Config{MaxConcurrentStreams: maxStreamsPerConn}}
	if cl, ok := ln.(*connlimit.Listener); ok {
		hs.ConnState = cl.ConnState // it learns which connections are idle
	}
	errc := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			errc <- hs.ServeTLS(ln, "", "")
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		// Requests still running after the grace are cut: a shutdown is
		// not a failure because a client was slow.
		_ = hs.Close()
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return nil
}
