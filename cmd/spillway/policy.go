package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/state/postgres"
)

func init() { register(newPolicyCmd) }

func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Work with burst policies (spillway.yaml) without running them",
		Long: `Work with Spillway's config file, spillway.yaml, without running anything.

See configs/examples/spillway.yaml for a complete, annotated example.`,
	}
	cmd.AddCommand(newPolicyValidateCmd())
	return cmd
}

func newPolicyValidateCmd() *cobra.Command {
	var server, insecureListen bool
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check configs and print every problem, or a summary of what they allow",
		Long: `Validate checks each config file strictly, without contacting any cloud.

Every problem is printed at once, one per line (the first 100, then how many
more), as

  FILE:LINE:COL: FIELD: MESSAGE

where FIELD is the path of the bad field (e.g. pools[0].offerings[1].price_per_hour)
and MESSAGE names the bad value and what would be valid. Unknown fields, bad
durations, negative or missing prices, offerings naming undefined providers,
unparsable cron expressions, duplicate pool names and limits that contradict each
other are all errors.

Offerings may leave out gpus and price_per_hour for instance types in the bundled
catalog (configs/catalog); values written in the config override the catalog.

Templates (user_data, join.agent_url, drain.command, drain.http.url) are
executed on a sample instance, so a field that does not exist is reported here.

A config fit for a backtest (spillway simulate) may lack what the server
needs: with --server, validate also reports every pool without signals,
every signal source that cannot be built (a malformed skip_reasons pattern,
a password_env that is not set here, a targets file that cannot be read;
no source is contacted), every aws or alicloud provider without a
subnet or an image, every terraform provider whose module is missing, does
not parse, breaks the Spillway module contract (a variable of the wrong
type, a fixed variable's value its type cannot take) or asks for a newer
terraform than the one on PATH (required_version), every hard budget below
the least one launch commits on the server (whose tick of a pool may take
twice its providers' longest call_timeout, and 60s more with a drain hook,
so it may evaluate the pool that late and end an instance that long after
deciding to, and counts each instance until then;
without --server the summary warns of it), and what the server opens
when it starts: a listen address it would refuse (a host name, or an address
that is not loopback without server.tls, unless --insecure-listen), a state
file whose folder does not exist, is a directory, is empty or not a SQLite database,
or sits in a folder the server cannot write to (validate makes and removes
a file there to find out), a state_password_file that cannot be read,
a tokens file that does not parse, and a TLS
certificate and key that do not load; as spillway server would, which
refuses the same at start. A certificate that has expired or is not valid
yet is a warning (on stdout, after the summary), not a problem: the server
starts with it, so that its ticks still end bursts, and logs the same
warning, but no client will connect until it is renewed.

When a file is valid, validate prints a summary of it with defaults applied: the
server, (with --server) where each aws and alicloud provider's SDK finds
credentials on this machine (environment, profile, shared files; "none" when
only an instance or RAM role could give them, which validate does not ask), the pools, their limits, signals, join and drain hooks, each schedule's
next two firings from now (in its CRON_TZ zone and in UTC, as the server opens
them across daylight-saving changes) and until when one holds now, and their
offerings ordered by price per useful GPU-hour (price / (gpus × performance)),
the order in which the policy prefers them. Under a pool it warns (a warning,
not a problem: the exit status stays 0) of schedules whose windows overlap in
the next 35 days, as their floors add up (when first, and the GPUs held then),
and of schedules whose firing, or a budget period's firings together, cost more
on the cheapest offering than the pool's budget, which then ends them early,
and of schedules read in EST or MST, which keep no summer time (New York's
and Denver's clocks are America/New_York and America/Denver), and of
schedules whose gpus the pool's limits never let it hold in full (more than
max_cost_per_hour pays for at the cheapest price per GPU, or, where every
offering has one size, more whole instances than max_gpus has room for).

Exit status: 0 when every file is valid, 1 when any has a problem (a file
missing or unreadable too), 2 when the command line is wrong.`,
		Example: `  spillway policy validate spillway.yaml
  spillway policy validate --server configs/examples/emulator.yaml
  spillway policy validate configs/examples/*.yaml`,
		Args: wantArgs(1, -1, "one or more config files", "spillway policy validate spillway.yaml"),
		RunE: func(cmd *cobra.Command, args []string) error {
			problems, badFiles, summaries := 0, 0, 0
			for _, path := range args {
				cfg, err := config.LoadContext(cmd.Context(), path)
				if err == nil && server {
					err = cfg.ValidateForServer(config.Context(cmd.Context()), config.InsecureListen(insecureListen))
				}
				if cerr := cmd.Context().Err(); cerr != nil {
					return fmt.Errorf("validating %s: %w", path, cerr) // interrupted: not the file's fault
				}
				if err != nil {
					badFiles++
					var verr *config.ValidationError
					if errors.As(err, &verr) {
						problems += len(verr.Errors)
					} else {
						problems++
					}
					fmt.Fprintln(cmd.ErrOrStderr(), err) // a file it cannot read too: a *config.ReadError, named first
					continue
				}
				if summaries++; summaries > 1 {
					fmt.Fprintln(cmd.OutOrStdout())
				}
				var creds func(config.ProviderConfig) string
				if server {
					creds = func(pc config.ProviderConfig) string {
						return policyCredentials(cmd.Context(), pc, os.Getenv, policyFileExists)
					}
				}
				policySummary(cmd.OutOrStdout(), path, cfg, time.Now(), creds)
				if t := cfg.Server.TLS; server && t != nil {
					// Loaded by ValidateForServer already; its dates are
					// a warning: the server starts, no client connects.
					if cert, err := t.Load(); err == nil {
						if msg := config.CertificateDates(cert, time.Now()); msg != "" {
							fmt.Fprintf(cmd.OutOrStdout(), "warning: server.tls.cert_file %s: %s\n", t.CertFile, msg)
						}
					}
				}
			}
			if problems > 0 {
				return &exitCodeError{code: 1, msg: fmt.Sprintf("%s in %s",
					policyPlural(problems, "problem"), policyPlural(badFiles, "file"))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&server, "server", false, "also check what spillway server needs (signals on every pool that can be built, subnets and images, the listen address, the state file's folder, the TLS key pair)")
	cmd.Flags().BoolVar(&insecureListen, "insecure-listen", false, "with --server: allow a non-loopback listen address without TLS, as spillway server --insecure-listen does")
	return cmd
}

// policySummary prints what a valid config allows, defaults applied.
// Its schedules' next firings are counted from now; creds, when not nil,
// says where each provider's credentials come from (with --server).
func policySummary(w io.Writer, path string, cfg *config.Config, now time.Time, creds func(config.ProviderConfig) string) {
	fmt.Fprintf(w, "%s: valid\n", path)
	fmt.Fprintf(w, "cluster %s\n", cfg.Cluster)
	names := make([]string, 0, len(cfg.Providers))
	for n := range cfg.Providers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := cfg.Providers[n]
		line := fmt.Sprintf("provider %s: %s", n, p.Type)
		if p.Region != "" {
			line += " " + p.Region
		}
		if p.Endpoint != "" {
			line += ", endpoint " + p.Endpoint
		}
		if p.Module != "" {
			line += ", module " + p.Module
		}
		fmt.Fprintln(w, line)
		if creds != nil {
			if c := creds(p); c != "" {
				fmt.Fprintf(w, "  credentials here: %s\n", c)
			}
		}
	}
	srv := cfg.Server
	state := srv.State
	if srv.StateIsPostgres() {
		state = postgres.Redact(state) // the summary ends up in CI logs
	}
	line := fmt.Sprintf("server: listen %s, state %s, tick %s, sweep grace %s", srv.Listen, state, config.DurationString(srv.Tick.D()), config.DurationString(srv.SweepGrace.D()))
	if srv.TLS != nil {
		line += ", TLS"
	}
	fmt.Fprintln(w, line)
	for i, cp := range cfg.Pools {
		p := cp.Policy
		every := config.DurationString(p.Interval.D())
		if tick := srv.Tick.D(); tick != p.Interval.D() {
			// The server evaluates every server.tick (and its policy counts
			// on no evaluation sooner than the longer of the two).
			every = fmt.Sprintf("%s by simulate (interval), every %s by the server (server.tick)", every, config.DurationString(tick))
		}
		fmt.Fprintf(w, "\npool %s: on-prem %d×%d = %s, wait target %s, evaluated every %s\n",
			p.Name, p.OnPrem.Nodes, p.OnPrem.GPUsPerNode, policyPlural(p.OnPrem.GPUs(), "GPU"), config.DurationString(p.WaitTarget.D()), every)
		fmt.Fprintf(w, "  limits: %s\n", policyLimits(p.Limits))
		if msg := cfg.ServerBudgetProblem(i); msg != "" {
			// Fit for a backtest, not for the server (--server refuses it).
			fmt.Fprintf(w, "  warning: on spillway server, %s\n", msg)
		}
		idle := "auto (break-even)"
		if !p.ScaleIn.Idle.IsAuto() {
			idle = config.DurationString(p.ScaleIn.Idle.Duration)
		}
		lifetime := "none"
		if p.ScaleIn.MaxLifetime > 0 {
			lifetime = config.DurationString(p.ScaleIn.MaxLifetime.D())
		}
		fmt.Fprintf(w, "  scale-in: idle %s, max lifetime %s, drain timeout %s\n", idle, lifetime, config.DurationString(p.ScaleIn.DrainTimeout.D()))
		for _, s := range p.Schedules {
			fmt.Fprintf(w, "  schedule %s: %q holds %s for %s; %s\n", s.Name, s.Cron, policyPlural(s.GPUs, "GPU"), config.DurationString(s.Duration.D()), policyFirings(s, now))
		}
		for _, msg := range cfg.ScheduleWarnings(i, now) {
			fmt.Fprintf(w, "  warning: %s\n", msg)
		}
		if p.Manual.MaxGPUs > 0 {
			ttl := "no ttl limit"
			if p.Manual.MaxTTL > 0 {
				ttl = "ttl at most " + config.DurationString(p.Manual.MaxTTL.D())
			}
			fmt.Fprintf(w, "  manual bursts: up to %s, %s\n", policyPlural(p.Manual.MaxGPUs, "GPU"), ttl)
		} else {
			fmt.Fprintln(w, "  manual bursts: not allowed (manual.max_gpus is 0)")
		}

		fmt.Fprintf(w, "  signals: %s\n", policySignals(cp.Signals))
		fmt.Fprintf(w, "  join: agent at %s within %s; drain: %s\n", cp.Join.AgentURL, config.DurationString(cp.Join.Timeout.D()), policyDrain(cp.Drain))

		offs := append([]policy.Offering(nil), p.Offerings...)
		sort.SliceStable(offs, func(i, j int) bool { return policyUseful(offs[i]) < policyUseful(offs[j]) })
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  OFFERING\tGPUS\tUSD/H\tUSD/USEFUL-GPU-H\tBOOT\tBILLING")
		for _, o := range offs {
			fmt.Fprintf(tw, "  %s\t%d\t%.2f\t%.2f\t%s\t%s\n", o.Name, o.GPUs, o.PricePerHour, policyUseful(o), config.DurationString(o.Boot.D()), o.Billing)
		}
		tw.Flush()
	}
}

// policySignals says in one line where a pool's signals come from.
func policySignals(s *config.Signals) string {
	if s == nil {
		return "none (fine for spillway simulate; spillway server refuses the pool)"
	}
	base := "no baseline (every on-prem GPU counts as busy)"
	if b := s.Baseline; b != nil && b.Agents != nil {
		base = fmt.Sprintf("baseline from agents (%s", policyPlural(len(b.Agents.URLs), "URL"))
		if b.Agents.TargetsFile != "" {
			base += " and " + b.Agents.TargetsFile
		}
		base += ")"
	} else if b != nil && b.Prometheus != nil {
		base = "baseline from Prometheus at " + b.Prometheus.URL
	}
	types := make([]string, len(s.Demand))
	for i, d := range s.Demand {
		types[i] = d.Type
	}
	return fmt.Sprintf("%s; demand from %s", base, strings.Join(types, ", "))
}

// policyDrain says in a few words what the drain hook runs.
func policyDrain(d config.Drain) string {
	switch {
	case len(d.Command) > 0:
		return fmt.Sprintf("command %s (at most %s)", strings.Join(d.Command, " "), config.DurationString(d.Timeout.D()))
	case d.HTTP != nil:
		return fmt.Sprintf("%s %s (at most %s)", d.HTTP.Method, d.HTTP.URL, config.DurationString(d.Timeout.D()))
	}
	return "no hook (terminated once idle or after drain_timeout)"
}

func policyUseful(o policy.Offering) float64 {
	return o.PricePerHour / (float64(o.GPUs) * o.Performance)
}

func policyLimits(l policy.Limits) string {
	var parts []string
	if l.MaxGPUs > 0 {
		parts = append(parts, "at most "+policyPlural(l.MaxGPUs, "GPU"))
	} else {
		parts = append(parts, "no GPU cap")
	}
	if l.MaxCostPerHour > 0 {
		parts = append(parts, fmt.Sprintf("at most %.2f USD/h", l.MaxCostPerHour))
	}
	if l.Budget != nil {
		mode := l.Budget.Mode
		if mode == "" {
			mode = policy.BudgetHard
		}
		parts = append(parts, fmt.Sprintf("budget %.2f USD per %s (%s)", l.Budget.Amount, l.Budget.Period, mode))
	} else {
		parts = append(parts, "no budget")
	}
	return strings.Join(parts, ", ")
}

// policyFileExists reports whether a regular file is at path.
func policyFileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// policyFirings says when schedule s holds its GPUs, seen from now: until
// when, if a firing holds them now, and its next two firings, in the
// schedule's own zone and in UTC, as the server will open them (a time a
// daylight-saving change skips shows when the clock jumps past it), so
// that a cron expression that reads right but fires wrong (a day-of-week
// off by one, a zone left out) shows here before it is run.
func policyFirings(s policy.Schedule, now time.Time) string {
	one := policy.Pool{Schedules: []policy.Schedule{s}}
	loc := policyCronZone(s.Cron)
	at := func(t time.Time, withYear bool) string {
		layout := "Mon 2 Jan 15:04 MST"
		if withYear {
			layout = "Mon 2 Jan 2006 15:04 MST"
		}
		out := t.In(loc).Format(layout)
		if loc != time.UTC {
			out += t.UTC().Format(" (15:04 UTC)")
		}
		return out
	}
	var parts []string
	if fl := policy.ScheduleFloors(one, now); len(fl) > 0 {
		parts = append(parts, "holding now until "+at(fl[0].Until, fl[0].Until.In(loc).Year() != now.In(loc).Year()))
	}
	next, ok := policy.NextScheduleFiring(one, now)
	if !ok {
		return strings.Join(append(parts, "fires no more"), "; ")
	}
	line := fmt.Sprintf("next fires %s, in %s", at(next, true), policyIn(next.Sub(now)))
	if then, ok := policy.NextScheduleFiring(one, next); ok {
		line += ", then " + at(then, then.In(loc).Year() != next.In(loc).Year())
	}
	return strings.Join(append(parts, line), "; ")
}

// policyIn is how long until a firing, to the minute: 4m, 18h19m, 4d19h.
func policyIn(d time.Duration) string {
	d = d.Truncate(time.Minute)
	if d < 48*time.Hour {
		return config.DurationString(d)
	}
	days := d / (24 * time.Hour)
	return fmt.Sprintf("%dd%dh", days, (d-days*24*time.Hour)/time.Hour)
}

// policyCronZone is the zone of a valid cron expression's CRON_TZ= or TZ=
// prefix, UTC without one.
func policyCronZone(spec string) *time.Location {
	s := strings.TrimSpace(spec)
	for _, prefix := range []string{"CRON_TZ=", "TZ="} {
		if rest, ok := strings.CutPrefix(s, prefix); ok {
			name, _, _ := strings.Cut(rest, " ")
			if loc, err := time.LoadLocation(strings.TrimSpace(name)); err == nil {
				return loc
			}
		}
	}
	return time.UTC
}

func policyPlural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
