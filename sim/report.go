package sim

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
)

// WriteTable prints the report as an aligned table, one row per policy.
func (r Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "trace %s: %d jobs over %s; pool %s: %d on-prem GPUs, wait target %s\n\n",
		r.Trace.Name, r.Trace.Jobs, humanSpan(r.Trace.SpanS), r.Pool, r.OnPremGPUs, humanSeconds(r.WaitTargetS))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy\tcloud $\tpaid GPU-h\tused GPU-h\tefficiency\twait p50\tp95\tp99\tmax\tjobs on cloud\tlaunches\t")
	for _, res := range r.Results {
		eff := "-"
		if res.CloudCostUSD > 0 {
			eff = strconv.FormatFloat(res.Efficiency, 'f', 2, 64)
		}
		p95 := humanSeconds(res.WaitP95S)
		if r.WaitTargetS > 0 && res.WaitP95S > r.WaitTargetS {
			p95 += "!"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t\n",
			res.Policy, money(res.CloudCostUSD), res.PaidGPUHours, res.UsedGPUHours, eff,
			humanSeconds(res.WaitP50S), p95, humanSeconds(res.WaitP99S), humanSeconds(res.WaitMaxS),
			res.JobsOnCloud, res.Launches)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, res := range r.Results {
		if res.JobsUnstarted > 0 {
			fmt.Fprintf(w, "\n%s: %d jobs never started (larger than any capacity the policy provides); their wait counts until the run ended.", res.Policy, res.JobsUnstarted)
		}
		if res.JobsKilled > 0 {
			fmt.Fprintf(w, "\n%s: %d job runs were killed by a terminate before they finished (a drain cut short by scale_in.drain_timeout) and requeued.", res.Policy, res.JobsKilled)
		}
	}
	_, err := fmt.Fprintf(w, "\nwall time %.2fs; ! marks a p95 wait above the wait target\n", r.WallSeconds)
	return err
}

func money(v float64) string {
	if v >= 1000 {
		return strconv.FormatFloat(v, 'f', 0, 64)
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
