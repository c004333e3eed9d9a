package main

import (
	"context"
	"io"
	"regexp"
	"strconv"
	"sync"
	"testing"
)

// bannerWatch is the demo's stdout: it closes ready once the banner says
// the page is ready, keeping the readiness time the demo measured.
type bannerWatch struct {
	mu    sync.Mutex
	buf   []byte
	ready chan struct{}
	secs  float64
}

var readyAfter = regexp.MustCompile(`ready after ([0-9.]+)s`)

func (w *bannerWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.secs == 0 {
		w.buf = append(w.buf, p...)
		if m := readyAfter.FindSubmatch(w.buf); m != nil {
			w.secs, _ = strconv.ParseFloat(string(m[1]), 64)
			close(w.ready)
		}
	}
	return len(p), nil
}

// BenchmarkDemoStartupToPageReady starts the whole demo in-process (emulator,
// simulated cluster, server with new SQLite state and tokens file) until
// the page's /readyz answers 200, then stops it with everything it started.
// s_to_ready is the demo's own measure, from the command's start to the
// page being ready; ns/op also counts the shutdown.
func BenchmarkDemoStartupToPageReady(b *testing.B) {
	var total float64
	n := 0
	for b.Loop() {
		ctx, cancel := context.WithCancel(context.Background())
		w := &bannerWatch{ready: make(chan struct{})}
		done := make(chan error, 1)
		go func() {
			done <- runDemo(ctx, demoOptions{speed: defaultDemoSpeed, start: defaultDemoStart, listen: "127.0.0.1:0", onprem: 2, logLevel: "info"}, w, io.Discard)
		}()
		select {
		case <-w.ready:
		case err := <-done:
			cancel()
			b.Fatalf("the demo stopped before it was ready: %v", err)
		}
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		total += w.secs
		n++
	}
	b.ReportMetric(total/float64(n), "s_to_ready")
}
