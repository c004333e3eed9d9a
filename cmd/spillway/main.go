// Command spillway is the hybrid-cloud GPU burst orchestrator: one binary with
// a subcommand per role (see `spillway --help`).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		code, msg := exitStatus(err)
		if msg != "" {
			fmt.Fprintln(os.Stderr, msg)
		}
		os.Exit(code)
	}
}

// exitStatus is the status the process ends with for err, and the message
// it prints: an exitCodeError's own, 2 for a usageError, else 1.
func exitStatus(err error) (int, string) {
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
