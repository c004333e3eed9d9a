package main

import (
	"errors"
	"os"
	"os/signal"
	"syscall"
)

// catchClosedOutput makes a write to a closed standard output (spillway
// simulate | head, spillway decisions | head) fail with EPIPE, which the
// command sees and stops on, instead of the process being killed by
// SIGPIPE (exit 141, and the demo left its directory behind). The channel
// receives the SIGPIPE; stop ends the catching.
//
// Once caught, a SIGPIPE also arrives for a write to any closed socket,
// not only to standard output: the channel says only that some write
// failed, and outputClosed is what tells a closed output apart.
func catchClosedOutput() (sigpipe <-chan os.Signal, stop func()) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGPIPE)
	return c, func() { signal.Stop(c) }
}

// outputClosed reports whether err is a write to a pipe whose reader has
// gone: a command stopped by it has done what was asked of it as far as
// anyone reads, and spillway exits 0 without a message, as the demo does.
func outputClosed(err error) bool { return errors.Is(err, syscall.EPIPE) }
