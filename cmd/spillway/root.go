package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

// subcommands are registered by each subcommand's file in init, so that a
// new command is one new file.
var subcommands []func() *cobra.Command

func register(f func() *cobra.Command) { subcommands = append(subcommands, f) }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "spillway",
		Short: "Hybrid-cloud GPU burst orchestrator",
		Long: `Spillway rents cloud GPUs (AWS EC2, Alibaba Cloud ECS, or a Terraform module)
when the on-prem GPU queue overflows, lets them take the overflow, and tears them
down when the queue drains.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(flagError)
	for _, f := range subcommands {
		root.AddCommand(f())
	}
	return root
}

func run(ctx context.Context, args []string) error {
	root := newRootCmd()
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// exitCodeError ends the process with a given code (e.g. validation failures).
type exitCodeError struct {
	code int
	msg  string
}

func (e *exitCodeError) Error() string { return fmt.Sprintf("exit %d: %s", e.code, e.msg) }
