package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/internal/fixture"
)

// tlsServerConfig is the server fixtures' config with server.tls (a
// certificate made for the test, beside the config) and anonymous reads;
// it returns the certificate's files and the pool that verifies it.
func tlsServerConfig(t *testing.T) (cfg *config.Config, certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	_, cfgPath := startServerFixtures(t)
	certFile, keyFile, pool, err := fixture.SelfSigned(filepath.Dir(cfgPath))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), "server:\n", "server:\n  anonymous_read: true\n  tls: {cert_file: cert.pem, key_file: key.pem}\n", 1)
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err = config.Load(cfgPath); err != nil {
		t.Fatal(err)
	}
	return cfg, certFile, keyFile, pool
}

func TestServerServesHTTPSWithServerTLS(t *testing.T) {
	cfg, certFile, keyFile, pool := tlsServerConfig(t)
	if cfg.Server.TLS == nil || cfg.Server.TLS.CertFile != certFile || cfg.Server.TLS.KeyFile != keyFile {
		t.Fatalf("tls = %+v, want the files beside the config", cfg.Server.TLS)
	}
	srv := startServer(t, cfg)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	url := "https://" + srv.addr
	// The listener exists already: the connection waits in its backlog
	// until the server accepts it.
	resp, err := client.Get(url + "/v1/status")
	if err != nil {
		t.Fatalf("GET /v1/status over TLS: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"cluster":"server-test"`) {
		t.Fatalf("anonymous read over TLS: %d %s, want 200 with the status", resp.StatusCode, body)
	}
	// A plain-HTTP request to the TLS listener gets no page.
	if r, err := http.Get("http://" + srv.addr + "/healthz"); err == nil {
		r.Body.Close()
		if r.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP served by a TLS server")
		}
	}
}

// TestServerTLSMissingFilesFailsAtStart: server.tls naming files that do
// not exist stops `spillway server` before it starts (exit 2, the file
// named at its place in the config), with no cloud call made; it used to
// log "started", tick, and hold a port it never served on.
func TestServerTLSMissingFilesFailsAtStart(t *testing.T) {
	emu, cfgPath := startServerFixtures(t)
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), "server:\n", "server:\n  tls: {cert_file: nope.crt, key_file: nope.key}\n", 1)
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	err = runFor(t, serverOptions{config: cfgPath, dryRun: true, logLevel: "warn", listen: "127.0.0.1:0"}, func() bool { return emu.Calls("DescribeInstances") > 0 })
	var ee *exitCodeError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(ee.msg, "server.tls.cert_file: the certificate cannot be read") {
		t.Fatalf("server with missing TLS files: %v, want exit 2 naming server.tls.cert_file", err)
	}
	if n := emu.Calls("DescribeInstances"); n != 0 {
		t.Errorf("the server ticked (%d DescribeInstances calls) though it could not serve", n)
	}

	// Built without the config check (the demo, tests), the server loads
	// the pair before it opens its state or anything else.
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv, err := newServer(context.Background(), cfg, serverDeps{log: slog.New(slog.DiscardHandler), clock: clock.RealClock{}, listener: ln})
	if err == nil {
		srv.close()
		t.Fatal("newServer with missing TLS files succeeded")
	}
	var te *config.TLSError
	if !errors.As(err, &te) || te.Field != "cert_file" || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("newServer: %v, want a *config.TLSError of cert_file wrapping os.ErrNotExist", err)
	}
	if _, err := os.Stat(cfg.Server.State); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the state %s was opened before the key pair was loaded (%v)", cfg.Server.State, err)
	}
}

// TestServerStopsWhenItCannotServe: a server whose listener fails stops
// ticking and returns the error, instead of running on unreachable.
func TestServerStopsWhenItCannotServe(t *testing.T) {
	_, cfgPath := startServerFixtures(t)
	cfg := loadConfig(t, cfgPath)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := newServer(context.Background(), cfg, serverDeps{log: slog.New(slog.DiscardHandler), clock: clock.RealClock{}, listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // Serve fails at its first Accept
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = srv.run(ctx)
	if ctx.Err() != nil {
		t.Fatalf("run went on until its 30s deadline (%v) with no listener", err)
	}
	if !errors.Is(err, net.ErrClosed) {
		t.Errorf("run = %v, want the listener's error", err)
	}
}
