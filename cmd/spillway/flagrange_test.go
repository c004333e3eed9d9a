package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// pastType is, for each numeric pflag type, a value past what its Go type
// holds: parsed, it is refused by pflag itself, before the command's own
// check of the flag's range.
var pastType = map[string]string{
	"int": "99999999999999999999", "int64": "99999999999999999999", "int32": "99999999999",
	"uint": "99999999999999999999", "uint64": "99999999999999999999", "uint32": "99999999999",
	"float64": "1e400", "float32": "1e40", "duration": "99999999999h",
	"gpus": "99999999999999999999", // simulate --onprem-gpus
}

// TestEveryNumericFlagSaysItsRange: every numeric flag of every command,
// given a value past what its type holds, is refused (exit 2) naming the
// flag, the value, that it is out of range, and the range: the flag's own
// (flagRange), or, for a flag that names none, what its type holds. A
// duration too long for Go (--timeout 99999999999h) was "want a duration
// such as 90s, 5m or 1h30m", which it is, and a number past a float
// (--speed 1e400) "out of range: want a number", naming no range.
func TestEveryNumericFlagSaysItsRange(t *testing.T) {
	shape := regexp.MustCompile(`^--(\S+) (\S+) is out of range: (want|use|ask for|a burst lasts) .*\d.* \(see (spillway [a-z ]+) --help\)$`)
	var walk func(c *cobra.Command)
	flags := 0
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			value, numeric := pastType[f.Value.Type()]
			if !numeric {
				return
			}
			flags++
			args := append(strings.Fields(strings.TrimPrefix(c.CommandPath(), "spillway ")), "--"+f.Name+"="+value)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				err := run(context.Background(), args)
				var ue *usageError
				if !errors.As(err, &ue) {
					t.Fatalf("got %v, want a usage error (exit 2)", err)
				}
				m := shape.FindStringSubmatch(err.Error())
				if m == nil || m[1] != f.Name || m[2] != value || m[4] != c.CommandPath() {
					t.Fatalf("got\n%v\nwant --%s %s is out of range: RANGE (see %s --help)", err, f.Name, value, c.CommandPath())
				}
				if rng := f.Annotations[flagRangeKey]; len(rng) == 1 && !strings.Contains(err.Error(), rng[0]) {
					t.Errorf("got\n%v\nwant the flag's range %q", err, rng[0])
				}
			})
		})
	}
	walk(newRootCmd())
	if flags < 25 {
		t.Fatalf("walked %d numeric flags: the walk misses commands", flags)
	}
}

// TestFlagRangesAreTheChecks: a flag's range as named for a value past
// its type (flagRange) is the one its command's own check names for a
// value within the type, so the two never tell different ranges; and the
// demo's --speed said "--speed: speed 0: want …", the clock's words.
func TestFlagRangesAreTheChecks(t *testing.T) {
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"status", "--timeout", "0s"}, "timeout"},
		{[]string{"decisions", "--limit", "0", "--server", "http://127.0.0.1:1"}, "limit"},
		{[]string{"demo", "--speed", "0"}, "speed"},
		{[]string{"demo", "--speed", "NaN"}, "speed"},
		{[]string{"demo", "--for", "-1s"}, "for"},
		{[]string{"demo", "--start", "-1s"}, "start"},
		{[]string{"demo", "--onprem-nodes", "0"}, "onprem-nodes"},
		{[]string{"emulator", "--boot-delay", "25h"}, "boot-delay"},
		{[]string{"emulator", "--latency", "-1s"}, "latency"},
		{[]string{"emulator", "--fault-rate", "2"}, "fault-rate"},
		{[]string{"signals", "check", "x.yaml", "--watch", "-1s"}, "watch"},
		{[]string{"signals", "check", "x.yaml", "--timeout", "0s"}, "timeout"},
		{[]string{"agent", "--max-connections", "0"}, "max-connections"},
		{[]string{"agent", "--interval", "0s"}, "interval"},
		{[]string{"agent", "--sample-timeout", "2h"}, "sample-timeout"},
		{[]string{"agent", "--busy-util", "101"}, "busy-util"},
		{[]string{"agent", "--busy-processes", "4097"}, "busy-processes"},
		{[]string{"agent", "--simulate", "dgxh100", "--replay-speed", "0"}, "replay-speed"},
		{[]string{"agent", "--simulate", "dgxh100", "--idle-allocated", "2"}, "idle-allocated"},
		{[]string{"burst", "create", "--pool", "p", "--gpus", "1", "--reason", "r", "--for", "1s"}, "for"},
		{[]string{"burst", "create", "--pool", "p", "--gpus", "0", "--reason", "r", "--for", "1h"}, "gpus"},
		{[]string{"simulate", "--onprem-gpus", "-1"}, "onprem-gpus"},
		{[]string{"simulate", "--seeds", "0", "--sweep", "wait_target=1m"}, "seeds"},
		{[]string{"simulate", "--seeds", "101", "--sweep", "wait_target=1m"}, "seeds"},
		{[]string{"simulate", "--jitter", "25h", "--sweep", "wait_target=1m"}, "jitter"},
		{[]string{"simulate", "--jitter", "-1s", "--sweep", "wait_target=1m"}, "jitter"},
		{[]string{"simulate", "--max-runs", "0", "--sweep", "wait_target=1m"}, "max-runs"},
		{[]string{"simulate", "--max-runs", "100001", "--sweep", "wait_target=1m"}, "max-runs"},
		{[]string{"simulate", "--max-job-runs", "0", "--sweep", "wait_target=1m"}, "max-job-runs"},
		{[]string{"simulate", "--max-job-runs", "1000000000001", "--sweep", "wait_target=1m"}, "max-job-runs"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd, _, err := newRootCmd().Find(tc.args)
			if err != nil {
				t.Fatal(err)
			}
			rng := cmd.Flags().Lookup(tc.flag).Annotations[flagRangeKey]
			if len(rng) != 1 {
				t.Fatalf("--%s names no range (flagRange)", tc.flag)
			}
			err = refusedPointingToHelp(t, tc.args, fmt.Sprintf("--%s %s", tc.flag, tc.args[slices.Index(tc.args, "--"+tc.flag)+1]))
			if err != nil && !strings.Contains(err.Error(), rng[0]) {
				t.Errorf("got %v, want it to say %q", err, rng[0])
			}
		})
	}
}

// TestFlagRefusalsPointToHelp: a command's own refusal of a flag's value
// (before any server is dialled) names the flag and the value and ends
// with where to read what it takes, as pflag's refusals do: decisions
// --limit 0 and --since +1h, agent --interval 0s and status -o yaml ended
// without "(see spillway decisions --help)", burst create's alone had it.
func TestFlagRefusalsPointToHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"decisions", "--limit", "0", "--server", "http://127.0.0.1:1"}, "--limit 0 is out of range"},
		{[]string{"decisions", "--since", "+1h", "--server", "http://127.0.0.1:1"}, `--since "+1h" is a duration with a sign`},
		{[]string{"decisions", "--since", "-1h", "--server", "http://127.0.0.1:1"}, `--since "-1h" is out of range`},
		{[]string{"decisions", "--since", "1d", "--server", "http://127.0.0.1:1"}, `--since "1d" is neither`},
		{[]string{"status", "-o", "yaml", "--server", "http://127.0.0.1:1"}, `--output "yaml" is not a format`},
		{[]string{"instances", "--timeout", "0s", "--server", "http://127.0.0.1:1"}, "--timeout 0s is out of range"},
		{[]string{"agent", "--interval", "0s"}, "--interval 0s"},
		{[]string{"agent", "--node", ""}, "--node is empty"},
		{[]string{"emulator", "--ec2", "", "--ecs", ""}, "--ec2 and --ecs are both empty"},
		{[]string{"burst", "create", "--pool", "p", "--gpus", "0", "--reason", "r", "--for", "1h"}, "--gpus 0 is out of range"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			refusedPointingToHelp(t, tc.args, tc.want)
		})
	}
}

// refusedPointingToHelp runs spillway with args and checks it refuses
// them as a usage error (exit 2) starting want and ending with the
// command's --help; it returns the error.
func refusedPointingToHelp(t *testing.T, args []string, want string) error {
	t.Helper()
	cmd, _, err := newRootCmd().Find(args)
	if err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), args)
	var ue *usageError
	help := "(see " + cmd.CommandPath() + " --help)"
	if !errors.As(err, &ue) || !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), help) {
		t.Errorf("got %v, want a usage error starting %q, ending %q", err, want, help)
	}
	return err
}

// rangeBound is a number or duration in a flag's range ("1", "0.01",
// "720h", "10ms").
var rangeBound = regexp.MustCompile(`\d+(?:\.\d+)?(?:ms|s|m|h)?`)

// TestEveryFlagsHelpSaysItsRange: each flag whose range the command checks
// (flagRange) names that range's bounds in its --help line, so that a user
// reads the range before a refusal tells it: decisions --limit, burst
// create --gpus and --for, the emulator's --boot-delay, --latency and
// --fault-rate, signals check --watch's 0 and simulate --onprem-gpus's 0
// and 1048576 were named only once refused. An example after "such as" in
// the range is not a bound.
func TestEveryFlagsHelpSaysItsRange(t *testing.T) {
	whole := regexp.MustCompile(`(\d+h)0m0s|(\d+m)0s`)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			rng := f.Annotations[flagRangeKey]
			if len(rng) != 1 {
				return
			}
			bounds, _, _ := strings.Cut(rng[0], "such as")
			bounds = whole.ReplaceAllString(bounds, "$1$2") // 24h0m0s is 24h
			for _, b := range rangeBound.FindAllString(bounds, -1) {
				said := regexp.MustCompile(`(^|[^\w.])` + regexp.QuoteMeta(b) + `($|[^\w.])`)
				if !said.MatchString(f.Usage) {
					t.Errorf("%s --%s: its help %q does not name %s, a bound of its range %q", c.CommandPath(), f.Name, f.Usage, b, rng[0])
				}
			}
		})
	}
	walk(newRootCmd())
}
