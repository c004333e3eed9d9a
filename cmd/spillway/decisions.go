package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/config"
)

func init() { register(newDecisionsCmd) }

// maxDecisionsLimit bounds --limit; limitRange says so.
const (
	maxDecisionsLimit = 100000
	limitRange        = "use 1 to 100000"
)

func newDecisionsCmd() *cobra.Command {
	var f apiFlags
	var q api.DecisionsQuery
	cmd := &cobra.Command{
		Use:   "decisions",
		Short: "Show what the policy decided, and why",
		Long: `Decisions lists the policy's decisions newest first: launches, drains and
terminations, each with the offering, the instances and the reason (the
overflow it answered, the floor it holds, the capacity error it skipped, the
break-even that ended an idle instance). A --since given as a duration is
counted back from the server's clock when the first page is read, and every
later page lists the same window; a date alone (2026-11-30) is its midnight
in UTC, the zone every time the CLI shows is in.

` + operatorExitStatus,
		Example: `  spillway decisions --since 1h
  spillway decisions --since 2026-11-30
  spillway decisions --pool training --limit 200 -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if q.Limit < 1 || q.Limit > maxDecisionsLimit {
				return usagef("--limit %d is out of range: %s", q.Limit, limitRange)
			}
			if q.Since != "" {
				// Checked here too, so a mistake is named before the
				// server is dialled (or when it cannot be).
				if _, err := api.ParseSince(q.Since, time.Now()); err != nil {
					return usagef("--since %q %v%s", q.Since, err, config.DurationHint(q.Since))
				}
			}
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			ds, lerr := c.Decisions(cmd.Context(), q)
			if err := f.readPoolListing(cmd.Context(), c, q.Pool, lerr); err != nil {
				return err
			}
			if err := f.print(cmd.OutOrStdout(), ds, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "TIME\tPOOL\tACTION\tOFFERING\tCOUNT\tINSTANCES\tREASON")
				for _, d := range ds {
					n := "-"
					if d.Count > 0 {
						n = fmt.Sprint(d.Count)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", fmtTime(d.Time), d.Pool, d.Kind, dash(d.Offering), n,
						dash(strings.Join(d.Instances, ",")), oneLine(d.Reason, 200))
				}
				if len(ds) == 0 {
					fmt.Fprintln(tw, "(no decisions)")
				}
			}); err != nil {
				return err
			}
			return listed(lerr, "narrow it with --pool, --since or --limit")
		},
	}
	f.bind(cmd)
	fl := cmd.Flags()
	fl.StringVar(&q.Pool, "pool", "", "only this pool's decisions")
	fl.StringVar(&q.Since, "since", "", "only decisions since this long ago (1h, at most 8784h), this RFC 3339 time, or this date's midnight UTC (2026-11-30)")
	fl.IntVar(&q.Limit, "limit", 50, fmt.Sprintf("at most this many, newest first, 1 to %d", maxDecisionsLimit))
	flagRange(fl, "limit", limitRange)
	return cmd
}
