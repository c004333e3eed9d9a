package main

import (
	"fmt"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/spillway-io/spillway/api"
)

func init() { register(newBurstCmd) }

func newBurstCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "burst",
		Short: "Create, list and cancel manual bursts",
		Long: `A manual burst holds a floor of burst GPUs in a pool until its time is up,
for an incident or a deadline. Operators may ask for at most the pool's
manual.max_gpus GPUs for at most its manual.max_ttl; admins are not bound by
those (the pool's own limits and budget still apply). When a burst ends or
is cancelled, its instances are drained, then terminated.`,
	}
	cmd.AddCommand(newBurstCreateCmd(), newBurstListCmd(), newBurstCancelCmd())
	return cmd
}

func newBurstCreateCmd() *cobra.Command {
	var f apiFlags
	var r api.CreateBurstRequest
	var dur time.Duration
	cmd := &cobra.Command{
		Use:   "create --pool P --gpus N --for 2h --reason \"…\"",
		Short: "Hold burst GPUs in a pool for a while",
		Example: `  spillway burst create --pool training --gpus 16 --for 2h --reason "INC-4211: eval backlog"
  spillway burst create --pool training --gpus 8 --for 90m --reason "release" --offering aws-p5-spot`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r.For = api.Duration(dur)
			if !utf8.ValidString(r.Reason) {
				// JSON would carry each bad byte as U+FFFD.
				return usagef("--reason is not valid UTF-8 (a terminal in another encoding?): give it as UTF-8 text")
			}
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			b, err := c.CreateBurst(cmd.Context(), r)
			if err != nil {
				return f.explain(err)
			}
			return f.print(cmd.OutOrStdout(), b, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "created burst %s: %d GPUs in pool %s until %s (owner %s)\n", b.ID, b.GPUs, b.Pool, fmtTime(b.Until), b.Owner)
				fmt.Fprintf(tw, "cancel it early with: spillway burst cancel %s\n", b.ID)
			})
		},
	}
	f.bind(cmd)
	fl := cmd.Flags()
	fl.StringVar(&r.Pool, "pool", "", "the pool to burst (required)")
	fl.IntVar(&r.GPUs, "gpus", 0, "how many burst GPUs to hold (required)")
	fl.DurationVar(&dur, "for", 0, "how long, e.g. 2h or 90m (required)")
	fl.StringVar(&r.Reason, "reason", "", "why, e.g. the incident (required)")
	fl.StringVar(&r.Offering, "offering", "", "pin one of the pool's offerings (default: the policy chooses)")
	for _, n := range []string{"pool", "gpus", "for", "reason"} {
		_ = cmd.MarkFlagRequired(n)
	}
	return cmd
}

func newBurstListCmd() *cobra.Command {
	var f apiFlags
	var pool string
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List active manual bursts (--all: ended and cancelled ones too)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			bs, err := c.Bursts(cmd.Context(), pool, all)
			if err != nil {
				return f.explain(err)
			}
			return f.print(cmd.OutOrStdout(), bs, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "ID\tPOOL\tGPUS\tOFFERING\tOWNER\tCREATED\tUNTIL\tSTATE\tINSTANCES\tREASON")
				for _, b := range bs {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", b.ID, b.Pool, b.GPUs, dash(b.Offering), b.Owner,
						fmtTime(b.CreatedAt), fmtTime(b.Until), b.State, b.Instances, oneLine(b.Reason, 80))
				}
				if len(bs) == 0 {
					fmt.Fprintln(tw, "(no bursts)")
				}
			})
		},
	}
	f.bind(cmd)
	cmd.Flags().StringVar(&pool, "pool", "", "only this pool's bursts")
	cmd.Flags().BoolVar(&all, "all", false, "include ended and cancelled bursts")
	return cmd
}

func newBurstCancelCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "cancel ID",
		Short: "End a manual burst now: its instances are drained, then terminated",
		Args:  wantArgs(1, 1, "one burst ID (spillway burst list shows them)", "spillway burst cancel b-20260302t090000-1a2b3c"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !api.IsBurstID(args[0]) {
				return usagef("%q is not a burst ID: they look like b-20260302t090000-1a2b3c (spillway burst list shows them)", args[0])
			}
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			b, err := c.CancelBurst(cmd.Context(), args[0])
			if err != nil {
				return f.explain(err)
			}
			return f.print(cmd.OutOrStdout(), b, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "cancelled burst %s in pool %s: its instances drain, then terminate\n", b.ID, b.Pool)
			})
		},
	}
	f.bind(cmd)
	return cmd
}
