package sim

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spillway-io/spillway/sim/trace"
)

// skippedRows says which rows of the trace were left out, and why: " (also
// 120 rows skipped: 100 CPU-only jobs (0 GPUs), 20 jobs that never
// ran …)"; "" when none was.
func skippedRows(skips []trace.Skip) string {
	if len(skips) == 0 {
		return ""
	}
	n, text := trace.SkippedText(skips)
	if n == 1 {
		return fmt.Sprintf(" (1 row skipped: %s)", text)
	}
	return fmt.Sprintf(" (%d rows skipped: %s)", n, text)
}

// WriteTable prints the report as an aligned table, one row per policy.
func (r Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "trace %s: %s over %s%s; pool %s: %d on-prem GPUs, wait target %s\n\n",
		r.Trace.Name, Counted(r.Trace.Jobs, "job", "jobs"), humanSpan(r.Trace.SpanS), skippedRows(r.Trace.Skipped), r.Pool, r.OnPremGPUs, humanSeconds(r.WaitTargetS))
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s.\n\n", n)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy\tcloud $\tpaid GPU-h\tused GPU-h\tlost GPU-h\tefficiency\twait p50\tp95\tp99\tmax\tjobs on cloud\tlaunches\t")
	for _, res := range r.Results {
		eff := efficiencyText(res)
		p50, p95, p99, pmax := humanSeconds(res.WaitP50S), humanSeconds(res.WaitP95S), humanSeconds(res.WaitP99S), humanSeconds(res.WaitMaxS)
		if r.WaitTargetS > 0 && res.WaitP95S > r.WaitTargetS {
			p95 += "!"
		}
		if res.JobsNeverServed == r.Trace.Jobs {
			// No job was served: there are no waits to take percentiles of.
			p50, p95, p99, pmax = "-", "-", "-", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			res.Policy, money(res.CloudCostUSD), hours(res.PaidGPUHours), hours(res.UsedGPUHours), hours(res.GPUHoursLost), eff,
			p50, p95, p99, pmax,
			thousands(strconv.Itoa(res.JobsOnCloud)), thousands(strconv.Itoa(res.Launches)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	dominated := false
	for _, res := range r.Results {
		if res.JobsUnstarted > 0 {
			why := "larger than any capacity the policy provides, or held back by a limit until the run ended"
			if res.StoppedText != "" {
				why = res.StoppedText
			} else if res.Stopped != "" {
				why = res.Stopped
			}
			fmt.Fprintf(w, "\n%s: %s (%s); the wait counts until the run ended, a lower bound.", res.Policy, Counted(res.JobsUnstarted, "job never started", "jobs never started"), why)
		}
		if res.JobsKilled > 0 {
			fmt.Fprintf(w, "\n%s: %s (spot reclaims, drains cut short by scale_in.drain_timeout, evictions) and requeued; %.0f GPU-hours of work lost.", res.Policy, Counted(res.JobsKilled, "job run was killed before it finished", "job runs were killed before they finished"), res.GPUHoursLost)
		}
		if res.JobsNeverServed > 0 {
			fmt.Fprintf(w, "\n%s: never served: %s, largest %d GPUs, because it is %s; left out of the wait percentiles.", res.Policy, Counted(res.JobsNeverServed, "job", "jobs"), res.NeverServedGPUs, res.NeverServedWhy)
		}
		if len(res.FailedLaunches) > 0 {
			writeFailedLaunches(w, res)
		}
		if unused := res.PaidGPUHours - res.UsedGPUHours; unused >= 0.5 {
			floors := ""
			if res.FloorIdleGPUHours >= 0.5 {
				floors = fmt.Sprintf(" (%.0f of them held for schedule floors, which the baselines do not keep)", res.FloorIdleGPUHours)
			}
			rounded := ""
			if res.RoundedGPUHours >= 0.5 {
				rounded = fmt.Sprintf(", %.0f billed after instances ended (billing rounded up to its minimum or to whole hours)", res.RoundedGPUHours)
			}
			lost := ""
			if res.GPUHoursLost >= 0.5 {
				lost = fmt.Sprintf(", %.0f of killed runs' work (lost GPU-h)", res.GPUHoursLost)
			}
			fmt.Fprintf(w, "\n%s: %.0f GPU-h paid and not used: %.0f booting, %.0f on whole idle instances%s%s, %.0f idle beside jobs on part-used instances%s.",
				res.Policy, unused, res.BootGPUHours, res.IdleGPUHours, floors, lost, max(0, unused-res.BootGPUHours-res.IdleGPUHours-res.RoundedGPUHours-res.GPUHoursLost), rounded)
		}
		if res.Interruptions > 0 {
			fmt.Fprintf(w, "\n%s: %s reclaimed by the cloud.", res.Policy, Counted(res.Interruptions, "spot instance", "spot instances"))
		}
		writeSplit(w, res.Policy+": cost by provider", res.CostByProvider)
		if len(res.CostByOffering) > 1 {
			writeSplit(w, res.Policy+": cost by offering", res.CostByOffering)
		}
		if _, budgetBound := res.WithoutLimit["budget"]; len(res.BudgetPeriods) > 0 && (res.CloudCostUSD > 0 || budgetBound) {
			writeBudgetPeriods(w, res.Policy, res.BudgetPeriods)
		}
		bound := maps.Clone(res.LimitBoundHours)
		if bound == nil {
			bound = map[string]float64{}
		}
		for l := range res.WithoutLimit {
			bound[l] += 0
		}
		for _, l := range slices.Sorted(maps.Keys(bound)) {
			lc, ok := res.WithoutLimit[l]
			var what []string
			if h := res.LimitBoundHours[l]; h > 0 {
				what = append(what, fmt.Sprintf("bound for %s of evaluations (held back launches or ended capacity)", humanSeconds(h*3600)))
			}
			if ok && lc.KeptOffCloudGPUs > 0 {
				what = append(what, fmt.Sprintf("keeps jobs of %d GPUs off the cloud (no instance that holds one fits under it)", lc.KeptOffCloudGPUs))
			}
			if ok && lc.UnpaidJobs > 0 {
				what = append(what, fmt.Sprintf("keeps %s off the cloud (every cloud run of %s costs more than a period's amount)", Counted(lc.UnpaidJobs, "job", "jobs"), plural(lc.UnpaidJobs, "it", "each")))
			}
			fmt.Fprintf(w, "\n%s: limit %s %s", res.Policy, l, strings.Join(what, " and "))
			if ok {
				fmt.Fprintf(w, "; %s", limitCostSentence(res, lc, r.Trace.Jobs))
			}
			fmt.Fprint(w, ".")
		}
		if len(res.DominatedBy) > 0 {
			by := make([]string, len(res.DominatedBy))
			for i, name := range res.DominatedBy {
				by[i] = name
				if j := slices.IndexFunc(r.Results, func(o Result) bool { return o.Policy == name }); j >= 0 {
					by[i] += " (" + dominance(&res, &r.Results[j]) + ")"
				}
			}
			fmt.Fprintf(w, "\n%s is dominated by %s: cheaper and no slower at p95, or as cheap and faster, with no more jobs left unserved nor never served.", res.Policy, strings.Join(by, ", "))
			dominated = true
		}
	}
	if dominated {
		fmt.Fprintf(w, "\nOne run (one seed) decides who dominates: --sweep wait_target=%s --seeds 5 compares the policies seed by seed.",
			time.Duration(r.WaitTargetS*float64(time.Second)))
	}
	_, err := fmt.Fprint(w, "\n! marks a p95 wait above the wait target\n")
	return err
}

// dominance says by how much d beats res: its cost and how much less it
// is, and the two p95 waits.
func dominance(res, d *Result) string {
	cost := "as cheap"
	if diff := res.CloudCostUSD - d.CloudCostUSD; diff > 0 {
		cost = fmt.Sprintf("%.1f%% cheaper", diff/res.CloudCostUSD*100)
		if diff/res.CloudCostUSD < 0.0005 {
			// "0.0% cheaper" reads as "as cheap": say by how much.
			cost = fmt.Sprintf("$%s cheaper, under 0.1%%", money(diff))
		}
	}
	return fmt.Sprintf("$%s, %s, p95 %s against %s", money(d.CloudCostUSD), cost, humanSeconds(d.WaitP95S), humanSeconds(res.WaitP95S))
}

// Counted is n with the noun that follows it: "1 job", "2 jobs".
func Counted(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// failureCause explains a failed-launch cause of policy pol's run.
func failureCause(cause, pol string) string {
	switch cause {
	case "capacity":
		return "offering out of stock, skipped for the capacity cache's TTL"
	case "quota":
		return "over the account's quota, the provider or region blocked for a while"
	case "reclaimed_booting":
		return "spot reclaimed before it came up, the offering skipped for the capacity cache's TTL"
	case "join_timeout":
		return "never came up within the policy's join timeout (spillway: the pool's join.timeout, after which the server skips the offering for the capacity cache's TTL unless an instance of it launched with it or after has come up; karpenter: its registration TTL, 15 minutes by default)"
	case "not_up":
		if pol == PolicyPerJob {
			return "ended while still booting: not up within ResumeTimeout, which marks the node DOWN, or cut for a budget or limit"
		}
		return "ended while still booting: cut for a budget or limit"
	}
	return "see docs/backtest.md"
}

// writeFailedLaunches says how many of a run's launches failed, by cause,
// apart from the launches the cloud refused (capacity, quota), which made
// no instance and are not among Result.Launches: "3 launches, 2 of them
// failed: 2 not_up (…); and 4 launches refused, not among them: 3
// capacity (…); 1 quota (…).".
func writeFailedLaunches(w io.Writer, res Result) {
	var failed, refused []string
	nFailed, nRefused := 0, 0
	for _, cause := range slices.Sorted(maps.Keys(res.FailedLaunches)) {
		n := res.FailedLaunches[cause]
		text := fmt.Sprintf("%d %s (%s)", n, cause, failureCause(cause, res.Policy))
		if refusedCause(cause) {
			refused, nRefused = append(refused, text), nRefused+n
		} else {
			failed, nFailed = append(failed, text), nFailed+n
		}
	}
	fmt.Fprintf(w, "\n%s: %s", res.Policy, Counted(res.Launches, "launch", "launches"))
	if nFailed > 0 {
		fmt.Fprintf(w, ", %d of them failed: %s", nFailed, strings.Join(failed, "; "))
	}
	if nRefused > 0 {
		fmt.Fprint(w, ";")
		if nFailed > 0 {
			fmt.Fprint(w, " and")
		}
		fmt.Fprintf(w, " %s, not among them: %s", Counted(nRefused, "launch refused", "launches refused"), strings.Join(refused, "; "))
	}
	fmt.Fprint(w, ".")
}

// refusedCause reports whether a failed-launch cause is a launch the cloud
// refused, which made no instance (not counted in Result.Launches), as
// opposed to an instance launched that failed to come up.
func refusedCause(cause string) bool { return cause == "capacity" || cause == "quota" }

// limitCostSentence says what lifting a limit would have changed: waits,
// killed work, jobs served, and the cost; jobs is the trace's count. A run
// that served no job has no wait to compare: the table shows '-', and the
// sentence says none.
func limitCostSentence(res Result, lc LimitCost, jobs int) string {
	if lc.Error != "" {
		return "no run without it: " + lc.Error
	}
	var b strings.Builder
	if res.JobsNeverServed == jobs && jobs > 0 {
		fmt.Fprintf(&b, "without it p95 wait would have been %s, p99 %s (vs none: no job served)", humanSeconds(lc.WaitP95S), humanSeconds(lc.WaitP99S))
	} else {
		fmt.Fprintf(&b, "without it p95 wait would have been %s (vs %s), p99 %s (vs %s)",
			humanSeconds(lc.WaitP95S), humanSeconds(res.WaitP95S), humanSeconds(lc.WaitP99S), humanSeconds(res.WaitP99S))
	}
	fewer := func(n int, one, many string) {
		switch {
		case n > 0:
			fmt.Fprintf(&b, ", %s", Counted(n, "fewer "+one, "fewer "+many))
		case n < 0:
			fmt.Fprintf(&b, ", %s", Counted(-n, "more "+one, "more "+many))
		}
	}
	fewer(res.JobsKilled-lc.JobsKilled, "job run killed", "job runs killed")
	if d := res.GPUHoursLost - lc.GPUHoursLost; math.Abs(d) >= 0.5 {
		if d > 0 {
			fmt.Fprintf(&b, " / %.0f GPU-h fewer lost", d)
		} else {
			fmt.Fprintf(&b, " / %.0f GPU-h more lost", -d)
		}
	}
	fewer((res.JobsUnstarted+res.JobsNeverServed)-(lc.JobsUnstarted+lc.JobsNeverServed), "job left unserved", "jobs left unserved")
	d := lc.CloudCostUSD - res.CloudCostUSD
	switch {
	case d >= 0:
		fmt.Fprintf(&b, ", at $%s more ($%s in all)", money(d), money(lc.CloudCostUSD))
	default:
		fmt.Fprintf(&b, ", at $%s less ($%s in all)", money(-d), money(lc.CloudCostUSD))
	}
	return b.String()
}

// writeSplit prints a cost split, largest first.
func writeSplit(w io.Writer, title string, m map[string]float64) {
	if len(m) == 0 {
		return
	}
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			if m[a] > m[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	items := make([]string, len(keys))
	for i, k := range keys {
		items[i] = fmt.Sprintf("%s $%s", k, money(m[k]))
	}
	fmt.Fprintf(w, "\n%s: %s.", title, strings.Join(items, "; "))
}

// maxListedPeriods is how many budget periods the table lists one by one:
// a year of monthly budgets. Beyond it (daily budgets, long traces) a line
// of hundreds of periods would be unreadable, so it sums them up instead;
// --json lists each.
const maxListedPeriods = 12

// writeBudgetPeriods prints a policy's spend per budget period: each
// period, or with more than maxListedPeriods the count, the highest spend
// and how many periods came near or went over their budget.
func writeBudgetPeriods(w io.Writer, pol string, periods []BudgetPeriod) {
	fmt.Fprintf(w, "\n%s: spend per budget period:", pol)
	share := func(bp BudgetPeriod) string {
		over := ""
		if bp.SpendUSD > bp.BudgetUSD+1e-9 {
			over = " OVER"
		}
		return fmt.Sprintf("$%s of $%s (%.0f%%%s)", money(bp.SpendUSD), money(bp.BudgetUSD), 100*bp.SpendUSD/bp.BudgetUSD, over)
	}
	if len(periods) <= maxListedPeriods {
		items := make([]string, len(periods))
		for i, bp := range periods {
			items[i] = bp.Start.Format(time.DateOnly) + " " + share(bp)
		}
		fmt.Fprintf(w, " %s.%s", strings.Join(items, "; "), softOver(periods))
		return
	}
	// Shares are compared to the cent: a hard budget spends many periods
	// whole, and the first of them is named rather than one a
	// rounding error ($19999.9999999 against $20000.0000001) picks.
	cents := func(bp BudgetPeriod) float64 { return math.Round(bp.SpendUSD*100) / bp.BudgetUSD }
	top, near, over := periods[0], 0, 0
	for _, bp := range periods {
		if cents(bp) > cents(top) {
			top = bp
		}
		switch {
		case bp.SpendUSD > bp.BudgetUSD+1e-9:
			over++
		case bp.SpendUSD >= 0.95*bp.BudgetUSD:
			near++
		}
	}
	fmt.Fprintf(w, " %d periods from %s to %s; the highest %s from %s; %d reached 95%% of their budget without going over, %d went over; --json lists each (budget_periods).%s",
		len(periods), periods[0].Start.Format(time.DateOnly), periods[len(periods)-1].End.Format(time.DateOnly), share(top), top.Start.Format(time.DateOnly), near, over, softOver(periods))
}

// softOver says why a soft budget's periods went over, after the list of
// them ("" when none went over, or the budget is hard): a soft budget
// never cuts running work for money, so what runs on past a period's end
// bills on into the next, whatever that one's amount.
func softOver(periods []BudgetPeriod) string {
	for _, bp := range periods {
		if bp.Soft && bp.SpendUSD > bp.BudgetUSD+1e-9 {
			return " A soft budget (budget.mode: soft) goes OVER by design: it admits no launch beyond what remains, but never cuts running work for money, " +
				"so instances that run on past a period's end bill on into the next, over its amount if need be."
		}
	}
	return ""
}

// hours writes GPU-hours for the table: whole, with thousands separators.
func hours(v float64) string { return thousands(strconv.FormatFloat(v, 'f', 0, 64)) }

// money writes an amount of USD for the report: cents below $1,000,
// whole dollars with thousands separators above (168,183).
func money(v float64) string {
	if v >= 1000 {
		return strings.TrimPrefix(dollars(v), "$")
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// humanSeconds writes a wait compactly: 0s, 45s, 12m30s, 3h05m, 2d04h.
func humanSeconds(s float64) string {
	d := time.Duration(s * float64(time.Second)).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

func humanSpan(s float64) string {
	if s >= 2*86400 {
		return fmt.Sprintf("%.1f days", s/86400)
	}
	return humanSeconds(s)
}

// dollars writes an axis or label amount with thousands separators:
// $171,000, $38.50.
func dollars(v float64) string {
	if math.Abs(v) < 100 && v != math.Trunc(v) {
		return "$" + strconv.FormatFloat(v, 'f', 2, 64)
	}
	s := thousands(strconv.FormatFloat(math.Abs(v), 'f', 0, 64))
	if v < 0 {
		return "-$" + s
	}
	return "$" + s
}

// thousands puts separators into a whole number's digits: 55650 → 55,650.
func thousands(digits string) string {
	sign, d := "", digits
	if strings.HasPrefix(d, "-") {
		sign, d = "-", d[1:]
	}
	var b strings.Builder
	for i := range len(d) {
		if i > 0 && (len(d)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(d[i])
	}
	return sign + b.String()
}

// efficiencyText is a run's efficiency as the table and the plot show it:
// "-" when it paid nothing (Result.Efficiency is then 1, and there is no
// work bought to rate).
func efficiencyText(res Result) string {
	if res.CloudCostUSD <= 0 {
		return "-"
	}
	return strconv.FormatFloat(res.Efficiency, 'f', 2, 64)
}
