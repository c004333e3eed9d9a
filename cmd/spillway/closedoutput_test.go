package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spillway-io/spillway/api/tokens"
)

// TestClosedOutputStopsQuietly: a command whose output is closed under it
// (spillway simulate | head, spillway decisions | head) exits 0 without a
// message, as the demo does. It was killed by SIGPIPE: exit 141, and
// "signal: broken pipe" in the calling script.
func TestClosedOutputStopsQuietly(t *testing.T) {
	url, toks := opServer(t)
	for _, args := range [][]string{
		{"simulate", "--trace", "../../sim/testdata/burst.csv", "--onprem-gpus", "3"},
		{"simulate", "--trace", "../../sim/testdata/burst.csv", "--onprem-gpus", "3", "--json"},
		{"decisions"},
		{"instances", "-o", "json"},
		{"burst", "list", "--all"},
		{"status"},
		{"--help"},
		{"--version"},
		{"version"},
		{"completion", "bash"},
		{"policy", "validate", "../../configs/examples/spillway.yaml"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			r.Close() // as head does after its lines, here before the first
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], args...)
			cmd.Env = append(os.Environ(), haChildEnv+"=1", "SPILLWAY_SERVER="+url, "SPILLWAY_TOKEN="+toks[tokens.Viewer])
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = w, &stderr
			err = cmd.Run()
			w.Close()
			if err != nil {
				t.Fatalf("spillway %s with its output closed: %v, want exit 0\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
			}
			if stderr.Len() != 0 {
				t.Errorf("spillway %s with its output closed printed on stderr:\n%s", strings.Join(args, " "), stderr.String())
			}
		})
	}
}

// TestStopOnClosedOutputOnlyForItsOwn: the demo stops at a SIGPIPE only
// when its own output closed (spillway demo | head). Once SIGPIPE is
// caught, one arrives for any write to a closed connection too, such as a
// browser leaving the demo's page while the server wrote to it; the demo
// stopped for those as well, "interrupted" with the user still watching.
func TestStopOnClosedOutputOnlyForItsOwn(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sig := make(chan os.Signal)
	stopped, seen := make(chan struct{}), make(chan struct{})
	go stopOnClosedOutput(ctx, sig, func() { close(stopped) }, func() { seen <- struct{}{} }, os.Stderr, w)

	sig <- syscall.SIGPIPE // another write's: the outputs are open
	select {
	case <-seen:
	case <-stopped:
		t.Fatal("stopped at a SIGPIPE while its outputs were open")
	case <-ctx.Done():
		t.Fatal("the SIGPIPE was not looked at")
	}
	if closedFile(w) {
		t.Fatal("closedFile = true for a pipe whose reader is open")
	}
	r.Close()
	if !closedFile(w) {
		t.Fatal("closedFile = false for a pipe whose reader closed")
	}
	sig <- syscall.SIGPIPE
	select {
	case <-stopped:
	case <-seen:
		t.Fatal("not stopped at a SIGPIPE with its output closed")
	case <-ctx.Done():
		t.Fatal("not stopped within 30s of its output closing")
	}
}
