package main

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/sim"
)

func init() { register(newStatusCmd) }

func newStatusCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every pool: on-prem GPUs, queue, burst instances, spend against budget",
		Long: `Status asks the server for a summary of each pool: on-prem GPUs busy of
total and those allocated but idle (waste), the queue (pending jobs and GPUs,
the oldest wait), burst instances and their GPUs (booting, running or
draining; those terminating apart, "2 (+1 terminating)": asked to end, they
bill until the cloud ends them), spend this budget period
(the budget's calendar day, week from Monday or month, in UTC; this month
for a pool without a budget) against the budget, in USD, and the number of
active floors (schedules and manual bursts). Below the table, each active floor (its GPUs, end and reason: a
schedule's firing that opened late says so; floors add up; the server sends
the schedules' and the 10 newest manual bursts', and the line after them
counts the older ones, which burst list shows), then the instances draining,
those whose drain hook runs first (for how long, and since when), then the
longest draining (the server sends 10 a pool and counts the rest, which
instances lists), then what each
pool does not launch now, why and until when: offerings out of stock or left unused by the queue, providers or regions
blocked by a quota or refused requests, then the instances of pools this server's
config lacks (a pool removed, or one the leader's older config lacks mid-rollout):
no pool drains or ends them, the sweeper keeps them, and they bill until the pool
is back in the config or someone ends them in the cloud (only the leader says
which: a follower's config is not the one that counts). A pool this server has not evaluated (it
has just started, it follows the leader, or the leader's config lacks it: no
server evaluates it), or whose last evaluation failed,
shows ? for its on-prem and queue figures, with a line saying why; one not
evaluated for three intervals (and a minute) and the longest a tick may wait
on its cloud calls (twice the longest call_timeout, and 60s more with a
drain hook) says since when, and one
overdue while its tick waits on a cloud call says which provider's.

` + operatorExitStatus,
		Example: `  spillway status
  SPILLWAY_SERVER=https://spillway.internal:8700 spillway status -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			st, err := c.Status(cmd.Context())
			if err != nil {
				return f.explain(err)
			}
			return f.print(cmd.OutOrStdout(), st, func(tw *tabwriter.Writer) {
				dry := ""
				if st.DryRun {
					dry = " (dry run: no cloud calls)"
				}
				fmt.Fprintf(tw, "cluster %s at %s%s\n", st.Cluster, fmtTime(st.Time), dry)
				if l := st.Leader; l != nil {
					fmt.Fprintln(tw, leaderLine(l))
					if line := lastTermLine(l); line != "" {
						fmt.Fprintln(tw, line)
					}
					if line := l.MixedConfigs(st.Pools); line != "" {
						fmt.Fprintln(tw, line)
					}
				}
				fmt.Fprintln(tw)
				fmt.Fprintln(tw, "POOL\tON-PREM BUSY\tIDLE ALLOCATED\tPENDING JOBS\tPENDING GPUS\tOLDEST WAIT\tINSTANCES\tCLOUD GPUS\tSPEND\tBUDGET\tFLOORS")
				for _, p := range st.Pools {
					budget := "none"
					if p.Budget > 0 {
						budget = fmt.Sprintf("$%.2f", p.Budget)
					}
					signals := fmt.Sprintf("%d/%d\t%d\t%d\t%d\t%s", p.OnPremBusy, p.OnPremTotal, p.IdleAllocated,
						p.PendingJobs, p.PendingGPUs, api.Duration(time.Duration(p.OldestWait).Round(time.Second)))
					if !snapshotOf(p).Known() {
						// Zeros here would read as an idle pool with an
						// empty queue.
						signals = "?\t?\t?\t?\t?"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t$%.2f\t%s\t%d\n", p.Name, signals, withTerminating(p.Instances, p.Terminating),
						withTerminating(p.CloudGPUs, p.TerminatingGPUs), p.Spend, budget, p.Floors)
				}
				for _, p := range st.Pools {
					if line := evaluationLine(snapshotOf(p), st.Time, notEvaluatedWhy(st.Leader, p.Name)); line != "" {
						fmt.Fprintf(tw, "\n%s: %s\n", p.Name, line)
					}
				}
				for _, p := range st.Pools {
					if line := unhealthyLine(p); line != "" {
						fmt.Fprintf(tw, "\n%s: %s\n", p.Name, line)
					}
				}
				for _, p := range st.Pools {
					if len(p.ActiveFloors) > 0 {
						// What holds burst GPUs up, whatever the queue:
						// floors add up, within the pool's limits.
						fmt.Fprintf(tw, "\n%s: active floors (they add up, within the pool's limits):\n", p.Name)
						for _, fl := range p.ActiveFloors {
							fmt.Fprintf(tw, "  %s\n", floorLine(fl))
							if fl.Waiting != "" {
								// Short of its GPUs at the last evaluation.
								fmt.Fprintf(tw, "    waits (%s): %s\n", fl.HeldBy, oneLine(fl.Waiting, 400))
							}
						}
						if u := p.ActiveFloors[0].WaitingUnknown; u != "" {
							// A follower's: the same for every floor.
							fmt.Fprintf(tw, "  what the floors wait for: %s\n", oneLine(u, 400))
						}
						if n := p.FloorsOmitted; n > 0 {
							// The server answers the newest few.
							fmt.Fprintf(tw, "  … and %s, not shown: spillway burst list --pool %s lists them all\n", policyPlural(n, "older manual burst"), p.Name)
						}
					}
				}
				for _, p := range st.Pools {
					if len(p.Draining) > 0 {
						// What is being taken away, and what waits on a
						// drain hook: billed until it ends.
						fmt.Fprintf(tw, "\n%s: draining (terminated once their jobs end or the drain times out):\n", p.Name)
						for _, in := range p.Draining {
							fmt.Fprintf(tw, "  %s\n", drainingLine(in, st.Time))
						}
						if n := p.DrainingOmitted; n > 0 {
							fmt.Fprintf(tw, "  … and %s, not shown: spillway instances --pool %s lists them all\n", policyPlural(n, "more draining instance"), p.Name)
						}
					}
				}
				for _, p := range st.Pools {
					if len(p.Stale) > 0 {
						// The row's queue reads as empty while it is unknown.
						fmt.Fprintf(tw, "\n%s: signals stale or missing, so the policy holds (no launch for queue demand, no idle scale-in):\n", p.Name)
						for _, s := range p.Stale {
							fmt.Fprintf(tw, "  %s\n", indentRest(s, "    "))
						}
					}
				}
				for _, p := range st.Pools {
					if len(p.Held) > 0 {
						fmt.Fprintf(tw, "\n%s: not launched now:\n", p.Name)
						for _, h := range p.Held {
							fmt.Fprintf(tw, "  %s\n", heldLine(h))
						}
					}
				}
				unconfiguredLines(tw, st)
			})
		},
	}
	f.bind(cmd)
	return cmd
}

// withTerminating is an INSTANCES or CLOUD GPUS cell: the burst
// capacity's count n, and those terminating apart ("2 (+1 terminating)"),
// which bill until the cloud ends them but hold no job.
func withTerminating(n, terminating int) string {
	if terminating == 0 {
		return strconv.Itoa(n)
	}
	return fmt.Sprintf("%d (+%d terminating)", n, terminating)
}

// floorLine is one active floor under the status table: its kind, who
// holds it, its GPUs, its end and its reason (the leader's reason for a
// burst starts with the burst and its owner, said once here).
func floorLine(fl api.Floor) string {
	who, reason := fl.Owner, fl.Reason
	if fl.Burst != "" {
		who = "burst " + fl.Burst
		if fl.Owner != "" {
			who += " by " + fl.Owner
		}
		reason, _ = strings.CutPrefix(reason, "manual burst "+fl.Burst+" by "+fl.Owner+": ")
	}
	until := "no end"
	if !fl.Until.IsZero() {
		until = "until " + fmtTime(fl.Until)
	}
	return fmt.Sprintf("%s %s: %s %s: %s", fl.Kind, who, sim.Counted(fl.GPUs, "GPU", "GPUs"), until, reason)
}

// drainingLine is one draining instance under the status table, at now
// (the server's time): its offering and GPUs busy, and since when it
// drains or its drain hook runs, as the page says it.
func drainingLine(in api.Instance, now time.Time) string {
	age := func(t time.Time) string { return api.Duration(max(now.Sub(t), 0).Round(time.Second)).String() }
	line := fmt.Sprintf("%s (%s, %d/%d GPUs busy): ", in.ID, in.Offering, in.BusyGPUs, in.GPUs)
	if in.DrainHook == api.DrainHookRunning {
		return line + fmt.Sprintf("the drain hook has been running for %s, since %s; the instance is recorded as draining once it returns", age(in.DrainHookSince), fmtTime(in.DrainHookSince))
	}
	line += fmt.Sprintf("draining for %s, since %s", age(in.DrainingSince), fmtTime(in.DrainingSince))
	if in.DrainHook == api.DrainHookDone {
		line += "; its drain hook ran at " + fmtTime(in.DrainHookSince)
	}
	return line
}

func snapshotOf(p api.PoolSummary) api.Snapshot {
	return api.Snapshot{Time: p.Evaluated, Interval: p.Interval, Error: p.Error, TickLength: p.TickLength, Waiting: p.Waiting, WaitingSince: p.WaitingSince}
}

// unhealthyLine says, under the status table, how many of a pool's
// on-prem GPUs their agents report unhealthy, or "": ON-PREM BUSY counts
// them, and a busy GPU reads as work running, not as a node to reboot.
func unhealthyLine(p api.PoolSummary) string {
	if p.OnPremUnhealthy <= 0 || !snapshotOf(p).Known() {
		return ""
	}
	verb, they := "are", "they take no job until their node is rebooted; their agent's"
	if p.OnPremUnhealthy == 1 {
		verb, they = "is", "it takes no job until its node is rebooted; its agent's"
	}
	return fmt.Sprintf("%d of the %s counted busy %s unhealthy (a wedged driver, broken memory, fallen off the bus): %s /healthz says why",
		p.OnPremUnhealthy, sim.Counted(p.OnPremBusy, "on-prem GPU", "on-prem GPUs"), verb, they)
}

// notEvaluatedWhy says why a pool the answering server has not evaluated
// is not, as the page says it: the leader, l, runs a config without it
// (no server evaluates it), this server follows (the leader does), or,
// alone or leading, its first evaluation has not finished.
func notEvaluatedWhy(l *api.LeaderInfo, pool string) string {
	switch {
	case l.Lacks(pool):
		return fmt.Sprintf("it follows, and the leader, %s, runs a config without pool %s: no server evaluates it", l.Holder, pool)
	case l != nil && !l.Leads:
		return "it follows: the leader reads the on-prem GPUs and the queue"
	}
	return "its first evaluation has not finished: it has just started, or taken the lease"
}

// evaluationLine says, under the status table, why a pool's row is
// unknown (?) or out of date at now (the server's time), or "";
// notEvaluated says why when this server has not evaluated it.
func evaluationLine(s api.Snapshot, now time.Time, notEvaluated string) string {
	switch {
	case s.Time.IsZero():
		return "not evaluated by this server yet (" + notEvaluated + "): on-prem and queue figures unknown (?)"
	case s.Error != "":
		return fmt.Sprintf("the last evaluation, at %s, failed: %s: on-prem and queue figures unknown (?) until one succeeds", fmtTime(s.Time), s.Error)
	case s.Late(now):
		line := fmt.Sprintf("not evaluated since %s, %s ago (every %s", fmtTime(s.Time), api.Duration(now.Sub(s.Time).Round(time.Second)), s.Interval)
		if w := s.TickWait(); w != "" {
			line += "; " + w
		}
		line += "): its row is out of date"
		if w := s.WaitingOn(now); w != "" {
			line += "; its tick is waiting on " + w
		}
		return line
	case s.Overdue(now) && s.Waiting != "":
		line := fmt.Sprintf("evaluated at %s, %s ago (every %s): the next evaluation is waiting on %s", fmtTime(s.Time), api.Duration(now.Sub(s.Time).Round(time.Second)), s.Interval, s.WaitingOn(now))
		if w := s.TickWait(); w != "" {
			line += " (" + w + ")"
		}
		return line
	}
	return ""
}

// heldLine says what is held, why and until when: "out of stock until
// 2026-11-29 09:07Z", or, after a cloud's message that ends a sentence,
// "... Request an adjustment to this limit. Held until 2026-11-29 09:07Z";
// a reason of several lines (a terraform error's) indented under its first.
func heldLine(h api.Held) string {
	why := strings.TrimSpace(h.Why)
	until := "until " + fmtTime(h.Until)
	if strings.HasSuffix(why, ".") || strings.HasSuffix(why, "!") || strings.HasSuffix(why, "?") {
		until = "Held " + until
	}
	return indentRest(fmt.Sprintf("%s: %s %s", h.What, why, until), "    ")
}

// unconfiguredLines lists, under the status table, the instances of pools
// this server's config lacks and what to do about them, or, from a
// follower, who knows.
func unconfiguredLines(tw *tabwriter.Writer, st api.Status) {
	u := st.UnconfiguredUnknown
	if len(st.Unconfigured) == 0 {
		if u != "" {
			fmt.Fprintf(tw, "\ninstances of pools not in the config: %s\n", oneLine(u, 400))
		}
		return
	}
	if u != "" { // a follower's list, of pools the leader's config lacks
		fmt.Fprintln(tw, "\ninstances of pools not in the leader's config (kept, never swept, billing: no pool of the leader drains or ends them):")
	} else {
		fmt.Fprintln(tw, "\ninstances of pools not in this server's config (kept, never swept, billing: no pool here drains or ends them):")
	}
	for _, in := range st.Unconfigured {
		fmt.Fprintf(tw, "  %s\n", unconfiguredLine(in, st.Time))
	}
	if u != "" {
		fmt.Fprintf(tw, "  %s\n", oneLine(u, 400))
	}
	if n := st.UnconfiguredOmitted; n > 0 {
		fmt.Fprintf(tw, "  … and %s, not shown: spillway instances --pool POOL lists each pool's\n", policyPlural(n, "more instance"))
	}
	fmt.Fprintln(tw, "  to end them: put their pool back in the config (its ticks drain and end them as usual; remove it once they have ended),")
	fmt.Fprintln(tw, "  or end them in the cloud by hand (the sweeper then ends the row of each the cloud no longer lists)")
}

// unconfiguredLine is one instance of a pool the config lacks, at now
// (the server's time): where it runs, since when, and what it costs.
func unconfiguredLine(in api.UnconfiguredInstance, now time.Time) string {
	age := api.Duration(max(now.Sub(in.Since), 0).Round(time.Second))
	cost := "price unknown"
	if in.PricePerHour > 0 {
		cost = fmt.Sprintf("$%.2f/h, about $%.2f so far", in.PricePerHour, in.CostSoFar)
	}
	return fmt.Sprintf("pool %s: %s %s (%s, %s) since %s, %s ago: %s", in.Pool, in.Provider, in.ID, in.Offering, in.State, fmtTime(in.Since), age, cost)
}
