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
	_, stopCatching := catchClosedOutput()
	err := run(ctx, os.Args[1:])
	stop()
	stopCatching()
	if err != nil {
		code, msg := exitStatus(err)
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
