package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestHelpExamplesUseRealFlags: every command a user runs shows an example
// in its --help, and the examples pass only flags the command has.
func TestHelpExamplesUseRealFlags(t *testing.T) {
	root := newRootCmd()
	root.InitDefaultHelpFlag()
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.Runnable() || c.HasSubCommands() || c.Name() == "help" || c.HasParent() && c.Parent().Name() == "completion" || c == root {
			return
		}
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s --help shows no example", c.CommandPath())
		}
		runsItself := false
		for _, line := range strings.Split(c.Example, "\n") {
			for _, words := range spillwayInvocations(line) {
				p, bad := unknownFlags(root, words)
				runsItself = runsItself || p == c.CommandPath()
				if p == "" || len(bad) > 0 {
					t.Errorf("%s --help: example %q: %s has no flag %s", c.CommandPath(), strings.TrimSpace(line), p, strings.Join(bad, ", "))
				}
			}
		}
		if !runsItself {
			t.Errorf("%s --help: no example runs it", c.CommandPath())
		}
	}
	walk(root)
}

// TestHelpSaysExitStatus: every command a user runs says in its --help
// what its exit statuses mean, 2 (a refused command line) among them, as
// a script calling it needs to know. The server, the emulator, the demo,
// token create and the operator commands said nothing of them.
func TestHelpSaysExitStatus(t *testing.T) {
	root := newRootCmd()
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.Runnable() || c.HasSubCommands() || c.Name() == "help" || c.HasParent() && c.Parent().Name() == "completion" || c == root {
			return
		}
		i := strings.Index(c.Long, "Exit status: ")
		if i < 0 {
			t.Errorf("%s --help does not say what its exit statuses mean (no \"Exit status: \")", c.CommandPath())
			return
		}
		if st := strings.Join(strings.Fields(c.Long[i:]), " "); !strings.Contains(st, "0 ") || !strings.Contains(st, "2 when") {
			t.Errorf("%s --help: %q names neither 0 nor 2 (a refused command line)", c.CommandPath(), st)
		}
	}
	walk(root)
	// spillway alone, what a new user runs first, says it too, and where to start.
	if long := strings.Join(strings.Fields(root.Long), " "); !strings.Contains(long, "exits 2 when its command line is wrong") || !strings.Contains(long, "spillway demo") {
		t.Errorf("spillway --help says neither the exit status of a wrong command line nor where to start (spillway demo):\n%s", root.Long)
	}
	// And the statuses every command shares: a lost output, an interrupt.
	for _, want := range []string{"cannot be written (a full disk) exits 1", "Ctrl-C or SIGTERM cuts short exits 130 or 143"} {
		if long := strings.Join(strings.Fields(root.Long), " "); !strings.Contains(long, want) {
			t.Errorf("spillway --help does not say %q:\n%s", want, root.Long)
		}
	}
}

// TestBurstCreateHelpSaysWhatItDoes: burst create --help said only "Hold
// burst GPUs in a pool for a while.", where the on-call engineer who runs
// it needs to know what the server then does and until when, what bounds
// it, how to end it sooner and which token it needs.
func TestBurstCreateHelpSaysWhatItDoes(t *testing.T) {
	cmd, _, err := newRootCmd().Find([]string{"burst", "create"})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Join(strings.Fields(cmd.Long), " ")
	for _, want := range []string{"holds at least --gpus burst GPUs", "until --for has passed", "drains and terminates",
		"spillway burst cancel ID ends it sooner", "manual.max_gpus and manual.max_ttl", "operator or admin token"} {
		if !strings.Contains(long, want) {
			t.Errorf("burst create --help does not say %q:\n%s", want, cmd.Long)
		}
	}
}

// TestAgentHelpNamesEveryMetric: spillway agent --help names every metric
// the agent serves (each spillway_… name signals/nvml/agent.go declares),
// so that an alert or dashboard author reading it finds them all. It left
// out spillway_agent_sample_errors_total and
// spillway_agent_busy_utilization_threshold_ratio.
func TestAgentHelpNamesEveryMetric(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot, "signals", "nvml", "agent.go"))
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`= "(spillway_[a-z_]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(names) < 10 {
		t.Fatalf("found %d metric names in signals/nvml/agent.go: is the parser still finding them?", len(names))
	}
	root := newRootCmd()
	agent, _, err := root.Find([]string{"agent"})
	if err != nil {
		t.Fatal(err)
	}
	help := strings.Join(strings.Fields(agent.Long), " ")
	for _, m := range names {
		if !regexp.MustCompile(`\b` + m[1] + `\b`).MatchString(help) {
			t.Errorf("spillway agent --help does not name the metric %s", m[1])
		}
	}
}

// TestExamplesNameBundledPoolsAndOfferings: burst create --help pinned
// --offering aws-p5-spot, which no bundled config defines, so a new user
// trying it on configs/examples/spillway.yaml was refused. Every --pool
// and --offering that a command's --help, README, docs/*.md or a bundled
// config's comments pass names a pool or offering of a bundled config.
func TestExamplesNameBundledPoolsAndOfferings(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(repoRoot, "configs", "examples", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no configs/examples/*.yaml (%v)", err)
	}
	known := map[string]map[string]bool{"--pool": {}, "--offering": {}}
	for _, p := range paths {
		for _, cp := range loadConfig(t, p).Pools {
			known["--pool"][cp.Policy.Name] = true
			for _, o := range cp.Policy.Offerings {
				known["--offering"][o.Name] = true
			}
		}
	}
	var lines []string
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		lines = append(lines, strings.Split(c.Example, "\n")...)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
	for _, doc := range docsAndExamples(t) {
		lines = append(lines, docCommandLines(doc)...)
	}
	for _, line := range lines {
		for _, words := range spillwayInvocations(line) {
			for i, w := range words {
				flag, value, ok := strings.Cut(w, "=")
				if !ok && i+1 < len(words) {
					value = words[i+1]
				}
				if names := known[flag]; names != nil && !names[value] && value != strings.ToUpper(value) && !strings.ContainsAny(value, "$<") {
					t.Errorf("%q: %s %s is in no bundled config (configs/examples)", strings.TrimSpace(line), flag, value)
				}
			}
		}
	}
}
