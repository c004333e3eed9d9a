package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
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

// closedFile reports whether f's reader has gone: a pipe whose reading
// end is closed (or a socket shut down) polls as an error or hang-up for a
// writer. A terminal, a file, or an open pipe does not.
func closedFile(f *os.File) bool {
	fds := []unix.PollFd{{Fd: int32(f.Fd()), Events: unix.POLLOUT}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0 && fds[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0
}

// stopOnClosedOutput calls stop at the first SIGPIPE (from sigpipe) that
// finds one of outputs closed, until ctx ends. A SIGPIPE from any other
// write (a browser that closed its connection to the demo's page while the
// server wrote to it) is passed over: seen, when not nil, is called after
// each SIGPIPE was looked at.
func stopOnClosedOutput(ctx context.Context, sigpipe <-chan os.Signal, stop func(), seen func(), outputs ...*os.File) {
	for {
		select {
		case <-sigpipe:
			if slices.ContainsFunc(outputs, closedFile) {
				stop()
				return
			}
			if seen != nil {
				seen()
			}
		case <-ctx.Done():
			return
		}
	}
}

// checkedOutput is standard output as the commands write to it (their
// cmd.OutOrStdout()), remembering the first write that failed: cobra's
// --help and --version, and a command that prints as it goes (policy
// validate's summary), drop a write's error, so output lost to a full disk
// (spillway policy validate F > report, the disk full) exited 0, and
// --version exited 2 as if the command line were wrong.
type checkedOutput struct {
	w   io.Writer
	mu  sync.Mutex
	err error
}

func (o *checkedOutput) Write(p []byte) (int, error) {
	n, err := o.w.Write(p)
	if err != nil {
		o.mu.Lock()
		if o.err == nil {
			o.err = err
		}
		o.mu.Unlock()
	}
	return n, err
}

// failed is the first write that failed, or nil.
func (o *checkedOutput) failed() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}
