package main

import (
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/spillway-io/spillway/config"
)

// badFlagValue matches pflag's message for a value its flag cannot parse:
// invalid argument "x" for "-s, --seeds" flag: strconv.ParseInt: …
var badFlagValue = regexp.MustCompile(`^invalid argument "((?:[^"\\]|\\.)*)" for "(?:-\w, )?--([\w.-]+)" flag: (.*)$`)

// flagWants says what a flag of each pflag type takes.
var flagWants = map[string]string{
	"int":      "a whole number",
	"int32":    "a whole number",
	"int64":    "a whole number",
	"uint":     "a whole number of 0 or more",
	"uint32":   "a whole number of 0 or more",
	"uint64":   "a whole number of 0 or more",
	"float32":  "a number",
	"float64":  "a number",
	"duration": "a duration such as 90s, 5m or 1h30m (no day unit: 24h)",
	"bool":     "true or false",
	"gpus":     "a whole number of GPUs, or a percentile of the trace's demand from p0 to p100 such as p50",
}

// flagError turns pflag's parse error for a flag's value into the flag,
// the value and what the flag wants, as the commands' own checks word
// theirs: `--seeds "x": want a whole number`, not strconv's message.
func flagError(cmd *cobra.Command, err error) error {
	if hint := unknownFlagHint(cmd, err.Error()); hint != "" {
		return fmt.Errorf("%w%s", err, hint)
	}
	m := badFlagValue.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	f := cmd.Flags().Lookup(m[2])
	if f == nil {
		return err
	}
	want, ok := flagWants[f.Value.Type()]
	if !ok {
		return err
	}
	if m[3] == errDurationSign.Error() {
		return fmt.Errorf("--%s %q is a duration with a sign: write it without one, such as 2h or 90m (see %s --help)", m[2], unquote(m[1]), cmd.CommandPath())
	}
	if strings.Contains(m[3], "value out of range") || (f.Value.Type() == "duration" && wellFormedDuration.MatchString(unquote(m[1]))) {
		// A value past what Go's numbers hold (--gpus 99999999999999999999,
		// --speed 1e400, --timeout 99999999999h): it is a number or a
		// duration, out of range, not "want a whole number" or "want a
		// duration such as 90s", which it is.
		rng, ok := typeRange[f.Value.Type()]
		if r := f.Annotations[flagRangeKey]; len(r) == 1 {
			rng, ok = r[0], true // the range the command's own check names
		}
		if ok {
			return fmt.Errorf("--%s %s is out of range: %s (see %s --help)", m[2], unquote(m[1]), rng, cmd.CommandPath())
		}
		want = "out of range: want " + want
	} else {
		want = "want " + want
	}
	if f.Value.Type() == "duration" {
		want += config.DurationHint(unquote(m[1])) // --for 2h30: did you mean 2h30m?
	}
	return fmt.Errorf("--%s %q: %s (see %s --help)", m[2], unquote(m[1]), want, cmd.CommandPath())
}

// typeRange is what a flag of each pflag type can hold at all, said of a
// value past it when the flag names no range of its own (flagRange).
var typeRange = map[string]string{
	"int":      fmt.Sprintf("want a whole number from %d to %d", math.MinInt, math.MaxInt),
	"int64":    fmt.Sprintf("want a whole number from %d to %d", int64(math.MinInt64), int64(math.MaxInt64)),
	"int32":    fmt.Sprintf("want a whole number from %d to %d", math.MinInt32, math.MaxInt32),
	"uint":     fmt.Sprintf("want a whole number from 0 to %d", uint(math.MaxUint)),
	"uint64":   fmt.Sprintf("want a whole number from 0 to %d", uint64(math.MaxUint64)),
	"uint32":   fmt.Sprintf("want a whole number from 0 to %d", math.MaxUint32),
	"float64":  "want a number from -1.7e308 to 1.7e308",
	"float32":  "want a number from -3.4e38 to 3.4e38",
	"duration": "want a duration of at most 2562047h",
}

// wellFormedDuration is what time.ParseDuration reads when the value is
// not too long: one that matches it and is refused is out of range.
var wellFormedDuration = regexp.MustCompile(`^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$`)

// flagRangeKey is the annotation that holds what a flag's values range
// over, as the command's own check of its value words it after "is out
// of range: " (flagRange).
const flagRangeKey = "spillway/range"

// flagRange says, for flagError, what flag name's values range over: a
// value past what its Go integer holds (--gpus 99999999999999999999) is
// refused as the command refuses one in that type's range but not in
// rng, not as "a whole number", which it is.
func flagRange(fs *pflag.FlagSet, name, rng string) {
	if err := fs.SetAnnotation(name, flagRangeKey, []string{rng}); err != nil {
		panic(err) // no such flag: a mistake in the command's code
	}
}

// requiredFlags matches cobra's refusal of a command line without its
// required flags: required flag(s) "for", "reason" not set.
var requiredFlags = regexp.MustCompile(`^required flag\(s\) (.+) not set$`)

// requiredFlagsError turns cobra's "required flag(s) "reason" not set"
// into each missing flag with what it takes (its usage line), e.g.
// `missing --reason (why, e.g. the incident): see spillway burst create
// --help`; any other error is returned as it is.
func requiredFlagsError(cmd *cobra.Command, err error) error {
	m := requiredFlags.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	var parts []string
	for _, q := range strings.Split(m[1], ", ") {
		name := unquote(strings.Trim(q, `"`))
		part := "--" + name
		if f := cmd.Flags().Lookup(name); f != nil && f.Usage != "" {
			usage, _, _ := strings.Cut(f.Usage, "; ") // the first clause says what it is
			part += " (" + strings.TrimSuffix(usage, " (required)") + ")"
		}
		parts = append(parts, part)
	}
	return &explained{msg: fmt.Sprintf("missing %s: see %s --help", strings.Join(parts, " and "), cmd.CommandPath()), err: err}
}

// unquote undoes the %q pflag put the value in; a value it cannot undo is
// shown as it came.
func unquote(s string) string {
	var v string
	if _, err := fmt.Sscanf(`"`+s+`"`, "%q", &v); err != nil {
		return s
	}
	return v
}

// wantArgs accepts min to max positional arguments (max < 0: no limit), as
// cobra.RangeArgs does, with a message that says what they are and how to
// pass them, not "accepts 1 arg(s), received 0".
func wantArgs(min, max int, what, example string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= min && (max < 0 || len(args) <= max) {
			return nil
		}
		got := "none"
		if len(args) > 0 {
			q := make([]string, len(args))
			for i, a := range args {
				q[i] = fmt.Sprintf("%q", a)
			}
			got = strings.Join(q, " ")
		}
		return fmt.Errorf("%s wants %s, e.g. %s; got %s", subPath(cmd), what, example, got)
	}
}

// noArgs refuses positional arguments, as cobra.NoArgs does, saying that
// the command's inputs are flags (cobra's "unknown command" reads as if
// the argument were a misspelt subcommand).
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return fmt.Errorf("%s takes no arguments, got %q: its inputs are flags (see %s --help)", subPath(cmd), args[0], cmd.CommandPath())
}

// subPath is the command's path below the root ("policy validate"): the
// error line already begins with the root's name.
func subPath(cmd *cobra.Command) string {
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}

// refuseEmpty refuses each of the named flags given with an empty value
// (`--trace "$TRACE"` with TRACE unset): left out, such a flag takes its
// default, so an empty one would quietly run on the default instead.
func refuseEmpty(cmd *cobra.Command, names ...string) error {
	for _, name := range names {
		f := cmd.Flags().Lookup(name)
		if f != nil && f.Changed && strings.TrimSpace(f.Value.String()) == "" {
			return usagef("--%s is empty (an unset variable?): give a value, or leave the flag out for its default (see %s --help)", name, cmd.CommandPath())
		}
	}
	return nil
}

// pflag's messages for a flag the command does not have: "unknown flag:
// --sever", and "unknown shorthand flag: 'f' in -for" for a long flag
// typed with one dash.
var (
	unknownLong  = regexp.MustCompile(`^unknown flag: --([^=\s]+)`)
	unknownShort = regexp.MustCompile(`^unknown shorthand flag: '.' in -([^-=\s][^=\s]*)`)
)

// serverCheckFlags are the flags other servers check their config with
// (nginx -t, sshd -t, --check, --validate, --config-test), which a person
// tries on spillway server.
var serverCheckFlags = map[string]bool{
	"t": true, "check": true, "validate": true, "test": true, "config-test": true,
	"check-config": true, "verify": true, "configtest": true,
}

// unknownFlagHint is what follows pflag's message for an unknown flag: the
// command's flag it was likely meant as (one dash short, or a letter or two
// off) and where the flags are listed; "" for any other error.
func unknownFlagHint(cmd *cobra.Command, msg string) string {
	var typed string
	if m := unknownLong.FindStringSubmatch(msg); m != nil {
		typed = m[1]
	} else if m := unknownShort.FindStringSubmatch(msg); m != nil {
		typed = m[1]
		if f := cmd.Flags().Lookup(typed); f != nil {
			return fmt.Sprintf("; did you mean --%s? (long flags take two dashes; see %s --help)", typed, cmd.CommandPath())
		}
	} else {
		return ""
	}
	if cmd.Name() == "server" && serverCheckFlags[typed] {
		return "; spillway server has no check mode: spillway policy validate --server FILE checks its config without starting it (see spillway policy validate --help)"
	}
	best, bestD := "", 3 // at most two edits away
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		if d := config.EditDistance(typed, f.Name); d < bestD {
			best, bestD = f.Name, d
		}
	})
	if best != "" {
		return fmt.Sprintf("; did you mean --%s? (see %s --help)", best, cmd.CommandPath())
	}
	return fmt.Sprintf(" (see %s --help for its flags)", cmd.CommandPath())
}
