// Command spillway is the hybrid-cloud GPU burst orchestrator: one binary with
// a subcommand per role (see `spillway --help`).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

func main() {
	ctx, received, stop := interruptContext()
	_, stopCatching := catchClosedOutput()
	err := run(ctx, os.Args[1:])
	stop()
	stopCatching()
	if err != nil {
		code, msg := exitStatus(err)
		var chosen *exitCodeError // a status the command chose, interrupted or not
		if sig := received(); sig != nil && !outputClosed(err) && !errors.As(err, &chosen) {
			code, msg = interruptedStatus(sig, err)
		}
		if msg != "" {
			fmt.Fprintln(os.Stderr, msg)
		}
		os.Exit(code)
	}
}

// exitStatus is the status the process ends with for err, and the message
// it prints: 0 and none for a closed output (spillway simulate | head), an
// exitCodeError's own, 2 for a usageError, else 1.
func exitStatus(err error) (int, string) {
	if outputClosed(err) {
		return 0, ""
	}
	var ec *exitCodeError
	if errors.As(err, &ec) {
		return ec.code, ec.msg
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage, "spillway: " + err.Error()
	}
	return 1, "spillway: " + err.Error()
}

// interruptContext is a context cancelled at the first SIGINT (Ctrl-C) or
// SIGTERM, as signal.NotifyContext's, with received saying which one came
// (nil before): a command cut short by it ends with the shell's status for
// that signal (interruptedStatus).
func interruptContext() (ctx context.Context, received func() os.Signal, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	var (
		mu  sync.Mutex
		got os.Signal
	)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-c:
			mu.Lock()
			got = sig
			mu.Unlock()
			cancel()
		case <-done:
		}
	}()
	received = func() os.Signal {
		mu.Lock()
		defer mu.Unlock()
		return got
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			signal.Stop(c)
			close(done)
			cancel()
		})
	}
	return ctx, received, stop
}

// interruptedStatus is the status and message of a command that SIGINT or
// SIGTERM cut short before it finished (err is what it was doing): 128 plus
// the signal's number, as a shell reports a command the signal killed (130
// for Ctrl-C, 143 for SIGTERM), so a script tells it from a failure (1) and
// a wrong command line (2). A command whose work is to run until stopped
// (server, demo, agent, emulator) returns no error when stopped so, and
// exits 0; signals check --watch its last complete round's status.
func interruptedStatus(sig os.Signal, err error) (int, string) {
	name, code := "SIGTERM", 128+int(syscall.SIGTERM)
	if sig == os.Interrupt {
		name, code = "SIGINT (Ctrl-C)", 128+int(syscall.SIGINT)
	}
	if errors.Is(err, errDemoInterrupted) {
		return code, "spillway: " + err.Error() // it says so already
	}
	return code, fmt.Sprintf("spillway: interrupted by %s before it finished: %v", name, err)
}
