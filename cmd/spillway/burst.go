package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/sim"
)

func init() { register(newBurstCmd) }

func newBurstCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "burst",
		Short: "Create, list and cancel manual bursts",
		Long: `A manual burst holds a floor of burst GPUs in a pool until its time is up,
for an incident or a deadline. Operators may ask for at most the pool's
manual.max_gpus GPUs for at most its manual.max_ttl, in each burst; admins are
not bound by those. Bursts open at once add up: what they hold together is
bounded by the pool's own limits and budget, which apply to everyone. When a burst ends or
is cancelled, the instances launched for it are drained, then terminated; those it only
kept from scale-in (launched for the queue or a schedule) scale in as usual.`,
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
		Long: `Create opens a manual burst: the server holds at least --gpus burst GPUs in
--pool (a floor: kept busy or idle; the queue's overflow may rent more) from
now until --for has passed, launching instances of the pool's offerings in
the policy's order (--offering: only that one), then drains and terminates
what the queue no longer needs. spillway burst cancel ID ends it sooner.

The pool's limits (max_gpus, max_cost_per_hour, the budget) still hold:
a burst they leave no room for is held short of its GPUs, and its
manual.max_gpus and manual.max_ttl bound each burst (the server refuses
more). It needs an operator or admin token (SPILLWAY_TOKEN, or
--token-file). It prints the burst, with the ID burst list and burst
cancel take.

` + operatorExitStatus,
		Example: `  spillway burst create --pool training --gpus 16 --for 2h --reason "INC-4211: eval backlog"
  spillway burst create --pool training --gpus 8 --for 90m --reason "release" --offering aws-h100-ondemand`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r.For = api.Duration(dur)
			if !cmd.Flags().Changed("idempotency-key") {
				r.IdempotencyKey = "cli-" + rand.Text()
			}
			if err := checkCreateFlags(r); err != nil {
				// A wrong command line (exit 2), told before any token
				// or server is needed, with the pointer to --help
				// pflag's own refusals carry.
				return usagef("%w (see %s --help)", err, cmd.CommandPath())
			}
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			b, err := c.CreateBurst(cmd.Context(), r)
			var ae *api.Error
			if errors.As(err, &ae) && ae.Code == api.CodeKeyReused {
				return fmt.Errorf("refused (%d): %w\nTo open a new burst, run the command without --idempotency-key (each run then sends a new key); to get that burst, repeat its flags", ae.Status, ae)
			}
			if err != nil {
				return outcomeUnknown(f.explainPool(cmd.Context(), c, r.Pool, err), r.IdempotencyKey)
			}
			return f.print(cmd.OutOrStdout(), b, func(tw *tabwriter.Writer) {
				if b.Replayed {
					fmt.Fprintf(tw, "burst %s was created earlier with idempotency key %s; nothing new was opened. It is %s: %s in pool %s until %s (owner %s)\n",
						b.ID, r.IdempotencyKey, b.State, sim.Counted(b.GPUs, "GPU", "GPUs"), b.Pool, fmtTime(b.Until), b.Owner)
				} else {
					fmt.Fprintf(tw, "created burst %s: %s in pool %s until %s (owner %s)\n", b.ID, sim.Counted(b.GPUs, "GPU", "GPUs"), b.Pool, fmtTime(b.Until), b.Owner)
				}
				if b.State == "active" {
					fmt.Fprintf(tw, "cancel it early with: spillway burst cancel %s\n", b.ID)
				} else {
					fmt.Fprintln(tw, "to open a new burst, run the command without --idempotency-key (each run then sends a new key)")
				}
			})
		},
	}
	f.bind(cmd)
	fl := cmd.Flags()
	fl.StringVar(&r.Pool, "pool", "", "the pool to burst (required)")
	fl.IntVar(&r.GPUs, "gpus", 0, fmt.Sprintf("how many burst GPUs to hold (required); 1 to %d, within the pool's manual.max_gpus", api.MaxBurstGPUs))
	fl.Var((*unsignedDuration)(&dur), "for", "how long, e.g. 2h or 90m (required); 1m to 720h, within the pool's manual.max_ttl")
	flagRange(fl, "for", "a burst lasts from 1m to 720h (the pool's manual.max_ttl may allow less)") // as api.CheckCreateBurst says
	fl.StringVar(&r.Reason, "reason", "", "why, e.g. the incident (required)")
	fl.StringVar(&r.Offering, "offering", "", "pin one of the pool's offerings (default: the policy chooses)")
	fl.StringVar(&r.IdempotencyKey, "idempotency-key", "", "send this Idempotency-Key (default: a new one each run): running the command again with the same key and flags returns the burst the first run made instead of opening a second")
	flagRange(fl, "gpus", fmt.Sprintf("ask for 1 to %d GPUs (the pool's manual.max_gpus may allow fewer)", api.MaxBurstGPUs))
	for _, n := range []string{"pool", "gpus", "for", "reason"} {
		_ = cmd.MarkFlagRequired(n)
	}
	return cmd
}

// unsignedDuration is a duration flag that refuses a leading +, as the API
// refuses a burst's "for" of "+2h": pflag's duration flag, through
// time.ParseDuration, reads it as 2h. flagError words the refusal.
type unsignedDuration time.Duration

// errDurationSign is unsignedDuration's refusal of a "+".
var errDurationSign = errors.New("a duration with a sign")

func (d *unsignedDuration) Set(s string) error {
	if strings.HasPrefix(s, "+") {
		return errDurationSign
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = unsignedDuration(v)
	return nil
}

func (d *unsignedDuration) Type() string { return "duration" }

// String is "0" when unset, which --help takes for no default, as it
// takes a duration flag's "0s".
func (d *unsignedDuration) String() string {
	if *d == 0 {
		return "0"
	}
	return time.Duration(*d).String()
}

// checkCreateFlags refuses the flags of burst create the server would
// refuse, naming the flag.
func checkCreateFlags(r api.CreateBurstRequest) error {
	if !utf8.ValidString(r.Reason) {
		// JSON would carry each bad byte as U+FFFD.
		return errors.New("--reason is not valid UTF-8 (a terminal in another encoding?): give it as UTF-8 text")
	}
	if r.Pool != "" {
		// In the config's words, as every --pool (checkPoolFlag).
		if err := config.CheckName(r.Pool); err != nil {
			return fmt.Errorf("--pool: %w", err)
		}
	}
	if err := api.CheckCreateBurst(r); err != nil {
		return fmt.Errorf("--%w", err)
	}
	return checkIdempotencyKey(r.IdempotencyKey)
}

// checkIdempotencyKey refuses an --idempotency-key the server would.
func checkIdempotencyKey(k string) error {
	if k == "" || len(k) > 255 || strings.ContainsFunc(k, func(r rune) bool { return r < '!' || r > '~' }) {
		return fmt.Errorf("--idempotency-key %q is not a key: use 1 to 255 printable ASCII characters without spaces", k)
	}
	return nil
}

// outcomeUnknown adds to err, when the server may have created the burst
// without the answer arriving (the connection lost or timed out once the
// request could be sent, or a 5xx), how to retry without opening a second
// one. A request that never left (no connection, no such host, a
// certificate refused) created nothing.
func outcomeUnknown(err error, key string) error {
	var ae *api.Error
	var ue *api.UnreachableError
	var oe *net.OpError
	var dnse *net.DNSError
	var cve *tls.CertificateVerificationError
	if errors.As(err, &dnse) || errors.As(err, &cve) || (errors.As(err, &oe) && oe.Op == "dial") {
		return err
	}
	if errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ae) && ae.Status >= 500) {
		return fmt.Errorf("%w\nThe burst may have been created. Run the same command with --idempotency-key %s to get it if it was, without opening a second; `spillway burst list` shows the bursts", err, key)
	}
	return err
}

func newBurstListCmd() *cobra.Command {
	var f apiFlags
	var pool string
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List active manual bursts (--all: ended and cancelled ones too)",
		Long: "List active manual bursts (--all: ended and cancelled ones too). A burst its pool's last\n" +
			"evaluation left short of its GPUs gets a line under the table saying why: \"ID waits (HELD_BY):\n" +
			"…\", the limit with its numbers (max_gpus, max_cost_per_hour, budget), no_offering (out of\n" +
			"stock, held after a failed launch, quota), launch_held (its launch is committed and held back\n" +
			"from its call: after a call that timed out, or after a restart) or no_pool (the config no\n" +
			"longer has its pool).\n\n" + operatorExitStatus,
		Example: `  spillway burst list
  spillway burst list --pool training --all -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			bs, lerr := c.Bursts(cmd.Context(), pool, all)
			if err := f.readPoolListing(cmd.Context(), c, pool, lerr); err != nil {
				return err
			}
			if err := f.print(cmd.OutOrStdout(), bs, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "ID\tPOOL\tGPUS\tOFFERING\tOWNER\tCREATED\tUNTIL\tSTATE\tINSTANCES\tLAUNCHING_GPUS\tREASON")
				for _, b := range bs {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", b.ID, b.Pool, b.GPUs, dash(b.Offering), b.Owner,
						fmtTime(b.CreatedAt), fmtTime(b.Until), b.State, b.Instances, b.LaunchingGPUs, oneLine(b.Reason, 80))
				}
				if len(bs) == 0 {
					fmt.Fprintln(tw, "(no bursts)")
				}
				// Why a burst is short of its GPUs, as its pool's last
				// evaluation said: too long for a column. A follower does
				// not know, and says who does, once.
				unknown := ""
				for _, b := range bs {
					if b.Waiting != "" {
						fmt.Fprintf(tw, "%s waits (%s): %s\n", b.ID, b.HeldBy, oneLine(b.Waiting, 400))
					}
					if unknown == "" {
						unknown = b.WaitingUnknown
					}
				}
				if unknown != "" {
					fmt.Fprintf(tw, "what the bursts wait for: %s\n", oneLine(unknown, 400))
				}
			}); err != nil {
				return err
			}
			return listed(lerr, "narrow it with --pool")
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
		Short: "End a manual burst now: the instances launched for it are drained, then terminated",
		Long: "End a manual burst now: the instances launched for it are drained, then terminated; those it\n" +
			"only kept from scale-in (launched for the queue or a schedule, which it listed as held) are\n" +
			"no longer held, and scale in as usual (drained once idle past scale_in.idle and the break-even).\n\n" + operatorExitStatus,
		Example: `  spillway burst cancel b-20260302t090000-1a2b3c   # an ID from spillway burst list`,
		Args:    wantArgs(1, 1, "one burst ID (spillway burst list shows them)", "spillway burst cancel b-20260302t090000-1a2b3c"),
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
				fmt.Fprintf(tw, "cancelled burst %s in pool %s: %s\n", b.ID, b.Pool, api.CancelledDrains(b.Instances))
				if b.LaunchingGPUs > 0 {
					// They appear after the cancel: say so before someone
					// takes them for a burst that did not stop.
					fmt.Fprintf(tw, "a launch of %s for it was already under way: its instances appear, then drain and terminate too\n", sim.Counted(b.LaunchingGPUs, "GPU", "GPUs"))
				}
			})
		},
	}
	f.bind(cmd)
	return cmd
}
