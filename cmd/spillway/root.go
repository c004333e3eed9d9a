package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spillway-io/spillway/config"
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
down when the queue drains.

New here? spillway demo runs the whole product on loopback: emulated clouds,
a simulated GPU cluster replaying a real trace, the server and its page; no
cloud account, no GPU.

Every command exits 2 when its command line is wrong (an unknown command or
flag, a value that does not parse or is out of range); its --help says what
its other exit statuses mean. A command whose output is closed under it
(spillway simulate | head) stops there and exits 0 (token create exits 1:
its token went nowhere, and is not added); one whose output cannot be
written (a full disk) exits 1. A command that Ctrl-C or SIGTERM cuts short
exits 130 or 143, as a shell reports a command a signal ended; one that
runs until stopped (server, demo, agent, emulator) exits 0 then, and
signals check --watch with its last complete round's status.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildVersion(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.InitDefaultVersionFlag() // now, so that --version is a flag the docs tests see
	root.SetFlagErrorFunc(flagError)
	for _, f := range subcommands {
		root.AddCommand(f())
	}
	rejectUnknownSubcommands(root)
	return root
}

// rejectUnknownSubcommands makes each command that only groups others
// (spillway burst, policy, signals, token) refuse a subcommand it does not
// have, as the root does, instead of printing its help and exiting 0: a
// script calling "spillway policy check" must not pass.
func rejectUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		rejectUnknownSubcommands(sub)
	}
	if !c.HasParent() || !c.HasSubCommands() || c.Runnable() {
		return
	}
	c.DisableFlagsInUseLine = true
	c.SuggestionsMinimumDistance = 2 // the root's default
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		var names []string
		for _, sub := range cmd.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		return usagef("%s (want one of: %s; see %s --help)", msg, strings.Join(names, ", "), cmd.CommandPath())
	}
}

func run(ctx context.Context, args []string) error {
	root := newRootCmd()
	started := false
	markStarts(root, &started)
	root.SetArgs(args)
	out := &checkedOutput{w: os.Stdout}
	root.SetOut(out)
	cmd, err := root.ExecuteContextC(ctx)
	if werr := out.failed(); werr != nil && (err == nil || !started) {
		// What was asked for did not reach its reader: a failure (exit 1;
		// 0 for a closed output), not a wrong command line.
		return werr
	}
	if err != nil && !started {
		// cobra refused the command line before the command ran: an
		// unknown command or flag, a flag value that does not parse, a
		// required flag left out, arguments the command does not take.
		if hint := configCheckHint(root, args); hint != "" {
			err = fmt.Errorf("%w%s", err, hint)
		}
		if cmd, _, ferr := root.Find(args); ferr == nil {
			err = requiredFlagsError(cmd, err)
		}
		return &usageError{err: err}
	}
	return pointToHelp(cmd, err)
}

// pointToHelp adds to a command's refusal of a flag's value (a
// usageError that begins with the flag), unless it points to a --help
// already, where to read what its flags take, as pflag's refusals of a
// value (flagError) say it: "--limit 0 is out of range: use 1 to 100000
// (see spillway decisions --help)".
func pointToHelp(cmd *cobra.Command, err error) error {
	var ue *usageError
	if cmd == nil || !errors.As(err, &ue) || !strings.HasPrefix(err.Error(), "--") || strings.Contains(err.Error(), "--help") {
		return err
	}
	return &usageError{err: fmt.Errorf("%w (see %s --help)", err, cmd.CommandPath())}
}

// configCheckWords are the commands other tools check a config with
// (promtool check config, nomad config validate, caddy validate,
// terraform validate), which a person new to spillway tries first.
var configCheckWords = map[string]bool{
	"validate": true, "check": true, "config": true, "lint": true, "verify": true,
	"check-config": true, "configtest": true, "test": true,
}

// configCheckHint is what follows cobra's refusal of a command line whose
// first word is one of configCheckWords (or validate misspelt) and not a
// command of spillway's: the command that checks a config. "" for any other.
func configCheckHint(root *cobra.Command, args []string) string {
	if len(args) == 0 || !(configCheckWords[args[0]] || config.EditDistance(args[0], "validate") <= 2) {
		return ""
	}
	if c, _, err := root.Find(args); err == nil && c != root {
		return "" // a command of that name exists
	}
	return "; to check a config without running anything: " + configCheckCommand
}

// configCheckCommand is how a config is checked without running it.
const configCheckCommand = "spillway policy validate FILE (--server: also what spillway server needs)"

// markStarts makes each command's RunE set *started when it begins, so
// that run can tell cobra's refusals of the command line from what the
// command itself returns.
func markStarts(c *cobra.Command, started *bool) {
	for _, sub := range c.Commands() {
		markStarts(sub, started)
	}
	if runE := c.RunE; runE != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			*started = true
			return runE(cmd, args)
		}
	}
}

// usageError is a command line the command cannot run as given: an
// unknown command or flag, a flag value out of range, a missing argument.
// It exits 2, as a bad config does; a command that ran and failed, or that
// a server refused, exits 1.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// parseLogLevel reads a --log-level flag: debug, info, warn or error.
func parseLogLevel(s string) (slog.Level, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(s)); err != nil {
		return 0, usagef("--log-level %q: want debug, info, warn or error", s)
	}
	return level, nil
}

// usagef is a usageError with a formatted message.
func usagef(format string, a ...any) error {
	return &usageError{err: fmt.Errorf(format, a...)}
}

// exitCodeError ends the process with a given code (e.g. validation failures).
type exitCodeError struct {
	code int
	msg  string
}

func (e *exitCodeError) Error() string { return fmt.Sprintf("exit %d: %s", e.code, e.msg) }

// exitUsage is the exit status of a usageError.
const exitUsage = 2
