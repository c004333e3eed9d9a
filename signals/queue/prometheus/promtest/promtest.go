// Package promtest starts a real Prometheus server (the Debian package's
// /usr/bin/prometheus) for tests: a child process of the test on a loopback
// port, with its storage in a temp dir, scraping the given targets every
// second. A missing binary fails the test; it never skips.
package promtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Job is one scrape job: a name and its targets ("host:port").
type Job struct {
	Name        string
	Targets     []string
	MetricsPath string
}

// Server is a running Prometheus.
type Server struct {
	// URL is the server's base URL ("http://127.0.0.1:port").
	URL string
	API v1.API
	cmd *exec.Cmd
	log *syncBuffer
}

// syncBuffer collects the server's output for failure messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start runs Prometheus scraping jobs every second, waits until it is
// ready, and stops it when the test ends.
func Start(t testing.TB, jobs ...Job) *Server {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("the prometheus binary is not installed (%v): install it with `apt-get install -y prometheus` (Debian package, /usr/bin/prometheus); this test needs a real server and does not skip", err)
	}
	dir := t.TempDir()
	var cfg strings.Builder
	cfg.WriteString("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\nscrape_configs:\n")
	for _, j := range jobs {
		fmt.Fprintf(&cfg, "  - job_name: %q\n", j.Name)
		if j.MetricsPath != "" {
			fmt.Fprintf(&cfg, "    metrics_path: %q\n", j.MetricsPath)
		}
		cfg.WriteString("    static_configs:\n      - targets: [")
		for i, tg := range j.Targets {
			if i > 0 {
				cfg.WriteString(", ")
			}
			fmt.Fprintf(&cfg, "%q", tg)
		}
		cfg.WriteString("]\n")
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	s := &Server{URL: "http://" + addr, log: &syncBuffer{}}
	s.cmd = exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	t.Cleanup(s.stop)
	client, err := api.NewClient(api.Config{Address: s.URL})
	if err != nil {
		t.Fatal(err)
	}
	s.API = v1.NewAPI(client)

	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus at %s not ready after 15s: %v\n%s", s.URL, err, s.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitFor polls an instant query until ok accepts its result (up to 20 s:
// the first scrape lands about 6 s after start) and returns that result.
func (s *Server) WaitFor(t testing.TB, query string, ok func(model.Value) bool) model.Value {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last model.Value
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		v, _, _, err := s.API.Query(ctx, query, time.Now())
		cancel()
		if err == nil && ok(v) {
			return v
		}
		last, lastErr = v, err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("prometheus query %q: no acceptable result in 20s (last %v, err %v)\n%s", query, last, lastErr, s.log.String())
	return nil
}

// NonEmpty accepts a vector with at least n samples.
func NonEmpty(n int) func(model.Value) bool {
	return func(v model.Value) bool {
		vec, ok := v.(model.Vector)
		return ok && len(vec) >= n
	}
}

func (s *Server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	// Drop the keep-alive connections to the stopped server, so that leak
	// checks see no stray reader goroutines.
	for _, rt := range []http.RoundTripper{http.DefaultTransport, api.DefaultRoundTripper} {
		if tr, ok := rt.(interface{ CloseIdleConnections() }); ok {
			tr.CloseIdleConnections()
		}
	}
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
