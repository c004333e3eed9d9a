package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/spillway-io/spillway/api"
)

func init() { register(newInstancesCmd) }

func newInstancesCmd() *cobra.Command {
	var f apiFlags
	var pool string
	cmd := &cobra.Command{
		Use:   "instances",
		Short: "List the burst instances Spillway runs",
		Long: `Instances lists every cloud instance Spillway has launched and still tracks:
its pool, offering, instance type, zone, state (booting, running, draining,
terminating), GPUs running work, launch time, price and the floor (schedule
or manual burst) that holds it: the one it was launched for, or an active
one that keeps it from scale-in. An instance launched for a pool the
server's config lacks that no row records, which the sweeper keeps as an
intent of its pool claims it, is listed too (as spillway status lists
it): state "no row", its type and price unknown.

` + operatorExitStatus,
		Example: `  spillway instances
  spillway instances --pool training -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			ins, lerr := c.Instances(cmd.Context(), pool)
			if err := f.readPoolListing(cmd.Context(), c, pool, lerr); err != nil {
				return err
			}
			if err := f.print(cmd.OutOrStdout(), ins, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "ID\tPOOL\tOFFERING\tTYPE\tZONE\tSTATE\tBUSY GPUS\tLAUNCHED\t$/HOUR\tFLOOR")
				for _, i := range ins {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i.ID, i.Pool, i.Offering, dash(i.InstanceType), dash(i.Zone),
						i.State, busyColumn(i), fmtTime(i.LaunchedAt), priceColumn(i), floorColumn(i))
				}
				if len(ins) == 0 {
					fmt.Fprintln(tw, "(no burst instances)")
				}
			}); err != nil {
				return err
			}
			return listed(lerr, "narrow it with --pool")
		},
	}
	f.bind(cmd)
	cmd.Flags().StringVar(&pool, "pool", "", "only this pool's instances")
	return cmd
}

// floorColumn is what the FLOOR column says of an instance: the floor that
// holds it, and for a manual burst the burst with its owner when that says
// more than the burst's ID.
func floorColumn(i api.Instance) string {
	switch {
	case i.Burst == "":
		return dash(i.Floor)
	case i.Floor == "" || i.Floor == i.Burst:
		return i.Burst
	}
	return i.Burst + " (" + i.Floor + ")"
}

// priceColumn is what the $/HOUR column says of an instance: its price,
// or "unknown" for one no row records (kept for an intent of a pool the
// config lacks, whose offering's price is in the config that lacks it).
func priceColumn(i api.Instance) string {
	if i.State == noRow {
		return "unknown"
	}
	return fmt.Sprintf("%.2f", i.PricePerHour)
}

// busyColumn is what the BUSY GPUS column says of an instance: its busy
// GPUs of its GPUs, or - for one no row records (its GPUs unknown: 0/0
// read as an instance without GPUs).
func busyColumn(i api.Instance) string {
	if i.State == noRow {
		return "-"
	}
	return fmt.Sprintf("%d/%d", i.BusyGPUs, i.GPUs)
}
