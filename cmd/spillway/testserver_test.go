package main

import (
	"context"
	"log/slog"
	"net"
	"testing"

	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/config"
)

// testServer is `spillway server` running a loaded config on a loopback
// port, on the wall clock (or a clock given), with its log discarded.
type testServer struct {
	*server
	addr string // host:port
	// stop stops it and returns what its run returned; it is called again,
	// and the error reported, when the test ends.
	stop func() error
}

func startServer(t *testing.T, cfg *config.Config) *testServer {
	t.Helper()
	return startServerOn(t, cfg, clock.RealClock{})
}

// startServerOn is startServer on the given clock.
func startServerOn(t *testing.T, cfg *config.Config, clk clock.WithTicker) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := newServer(ctx, cfg, serverDeps{log: slog.New(slog.DiscardHandler), clock: clk, listener: ln})
	if err != nil {
		cancel()
		ln.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.run(ctx) }()
	stopped := false
	s := &testServer{server: srv, addr: ln.Addr().String(), stop: func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("server stop: %v", err)
		}
	})
	return s
}

// loadConfig loads the config at path, failing the test on an error.
func loadConfig(t *testing.T, path string) *config.Config {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// emuProvider is a test config's providers: section: one aws provider,
// emu, at the EC2 emulator's endpoint.
func emuProvider(endpoint string) string {
	return `providers:
  emu:
    type: aws
    region: us-east-1
    endpoint: ` + endpoint + `
    subnets: [{zone: us-east-1a, id: subnet-us-east-1a}]
    image: ami-0123456789abcdef0
`
}
