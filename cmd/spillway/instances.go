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
one that keeps it from scale-in.

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
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%.2f\t%s\n", i.ID, i.Pool, i.Offering, i.InstanceType, dash(i.Zone),
						i.State, i.BusyGPUs, i.GPUs, fmtTime(i.LaunchedAt), i.PricePerHour, floorColumn(i))
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
