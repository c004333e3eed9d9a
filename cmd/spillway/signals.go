package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/sources"
)

// What signals check's --watch and --timeout take.
const (
	signalsWatchRange   = "want 0 (check once) or a positive duration such as 10s"
	signalsTimeoutRange = "want a positive duration such as 30s"
)

func init() { register(newSignalsCmd) }

// Exit codes of `spillway signals check`.
const (
	exitSignalsFailed  = 1 // a source failed or a signal is stale: the policy would hold
	exitSignalsBadFile = 2
)

func newSignalsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "signals",
		Short: "Try the pools' signal sources (GPU baseline and queue demand) without a server",
		Long: `Work with the signals of spillway.yaml's pools: where each pool's on-prem
GPU baseline (spillway agents or Prometheus) and its queue demand (Slurm,
Redis, HTTP, a command, Prometheus) come from (pools[].signals).

See configs/examples/spillway.yaml for an annotated example and
docs/signals.md for the guide.`,
	}
	cmd.AddCommand(newSignalsCheckCmd())
	return cmd
}

type signalsCheckOptions struct {
	pool    string
	json    bool
	watch   time.Duration
	timeout time.Duration
	verbose bool
	// now is the clock the snapshot is assembled at (time.Now when nil).
	now func() time.Time
}

func newSignalsCheckCmd() *cobra.Command {
	o := signalsCheckOptions{}
	cmd := &cobra.Command{
		Use:   "check FILE",
		Short: "Read every signal source of spillway.yaml's pools once and print what the policy would see",
		Long: `Check reads spillway.yaml strictly, builds the signal sources of every pool
that has signals (or only of --pool), reads every one of them once,
concurrently, and prints, per pool:

  - per source, its reading (GPUs busy and free, pending jobs and GPUs, job
    sizes, oldest wait) or its error, naming the source and the cause;
  - the snapshot the policy would get: on-prem GPUs total, busy and free,
    GPUs allocated on-prem but idle (waste), pending jobs and GPUs, the
    pending jobs' sizes, the oldest wait, and the stale signals. While any
    signal is stale the policy holds: no launch on demand, no scale-in;
  - a warning when the baseline's nodes and GPUs are not what the pool's
    onprem says (the server counts the baseline's: an agent left out of its
    list is a node it never sees); the exit status stays 0.

A baseline node that does not answer is listed as unknown (its GPUs count as
busy, never as free); a failed demand source is left out of the sums and
marked stale.

Each source is read with its own timeout, attempts and backoff from the file,
and at most --timeout in all.

Exit status: 0 when every source answered and nothing is stale, 1 when any
source or baseline node failed or a signal is stale (the snapshot is still
printed), 2 when the command line is wrong (a flag value it refuses, a
--pool naming no pool), the file is bad (every problem is printed as
FILE:LINE:COL: FIELD: MESSAGE) or no pool has signals. With --watch, the
status is that of the last complete round.`,
		Example: `  spillway signals check configs/examples/spillway.yaml
  spillway signals check --pool training --json spillway.yaml | jq .snapshot
  spillway signals check --watch 10s spillway.yaml`,
		Args: wantArgs(1, 1, "one config file (--pool picks a pool)", "spillway signals check spillway.yaml"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSignalsCheck(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.pool, "pool", "", "check only this pool (default: every pool with signals)")
	f.BoolVar(&o.json, "json", false, "print the per-source results and the snapshot as JSON (one object per pool and round)")
	f.DurationVar(&o.watch, "watch", 0, "check again every DURATION (e.g. 10s) until interrupted; 0 checks once")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "the longest one source may take, retries included")
	flagRange(f, "watch", signalsWatchRange)
	flagRange(f, "timeout", signalsTimeoutRange)
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log each source's retries and target-file reloads to stderr")
	return cmd
}

func runSignalsCheck(ctx context.Context, stdout, stderr io.Writer, path string, o signalsCheckOptions) error {
	if o.watch < 0 {
		return usagef("--watch %s: %s", o.watch, signalsWatchRange)
	}
	if o.timeout <= 0 {
		return usagef("--timeout %s: %s", o.timeout, signalsTimeoutRange)
	}
	if o.now == nil {
		o.now = time.Now
	}
	sets, err := buildPoolSignals(path, o, stderr)
	if err != nil {
		return err
	}
	defer func() {
		for _, set := range sets {
			set.Close()
		}
	}()

	var last []signalsReport
	for round := 1; ; round++ {
		reports := make([]signalsReport, len(sets))
		for i, set := range sets {
			reports[i] = readSignals(ctx, set, o.timeout, o.now)
			reports[i].File = path
		}
		if o.watch > 0 && ctx.Err() != nil {
			break // interrupted mid-round: its errors are ours, not the sources'
		}
		for i, r := range reports {
			if o.json {
				enc := json.NewEncoder(stdout)
				if o.watch == 0 {
					enc.SetIndent("", "  ")
				}
				if err := enc.Encode(r); err != nil {
					return err
				}
			} else {
				if round > 1 || i > 0 {
					fmt.Fprintln(stdout)
				}
				printSignalsReport(stdout, r)
			}
		}
		last = reports
		if o.watch == 0 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(o.watch):
		}
		if ctx.Err() != nil {
			break
		}
	}
	var failed []string
	for _, r := range last {
		if !r.OK {
			failed = append(failed, r.summary())
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &exitCodeError{code: exitSignalsFailed, msg: strings.Join(failed, "\n")}
}

// buildPoolSignals reads the config at path and builds the signal sources
// of the pools to check; a bad file, an unknown --pool or a pool without
// signals is an exitSignalsBadFile error.
func buildPoolSignals(path string, o signalsCheckOptions, stderr io.Writer) ([]*sources.Set, error) {
	bad := func(msg string) error { return &exitCodeError{code: exitSignalsBadFile, msg: msg} }
	cfg, err := config.Load(path)
	if err != nil {
		return nil, bad(err.Error())
	}
	var pools []*config.Pool
	var names []string
	for i := range cfg.Pools {
		p := &cfg.Pools[i]
		names = append(names, p.Policy.Name)
		if o.pool == p.Policy.Name || (o.pool == "" && p.Signals != nil) {
			pools = append(pools, p)
		}
	}
	switch {
	case o.pool != "" && len(pools) == 0:
		return nil, bad(fmt.Sprintf("--pool %q: no such pool in %s (its pools are %s)", o.pool, path, strings.Join(names, ", ")))
	case len(pools) == 0:
		return nil, bad(fmt.Sprintf("%s: no pool has signals: add signals (baseline and demand) to a pool; see configs/examples/spillway.yaml", path))
	case pools[0].Signals == nil:
		return nil, bad(fmt.Sprintf("%s: pool %q has no signals: add signals (baseline and demand) to it; see configs/examples/spillway.yaml", path, o.pool))
	}
	var bopts []sources.Option
	if o.verbose {
		bopts = append(bopts, sources.WithLogger(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	var sets []*sources.Set
	var problems []string
	for _, p := range pools {
		set, err := p.BuildSignals(bopts...)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		sets = append(sets, set)
	}
	if len(problems) > 0 {
		for _, set := range sets {
			set.Close()
		}
		return nil, bad(strings.Join(problems, "\n"))
	}
	return sets, nil
}

// signalsReport is one round of a check: what each source gave and the
// snapshot assembled from it. It is also the --json output.
type signalsReport struct {
	Pool     string         `json:"pool"`
	File     string         `json:"file"`
	Time     time.Time      `json:"time"`
	OK       bool           `json:"ok"`
	Sources  []sourceResult `json:"sources"`
	Snapshot snapshotJSON   `json:"snapshot"`
	// OnPremDiffers says how the pool's onprem (nodes × gpus_per_node)
	// differs from what its baseline found; "" when they agree or either
	// is missing. A warning: the exit status stays 0.
	OnPremDiffers string `json:"onprem_differs,omitempty"`
}

// sourceResult is one source's reading or error.
type sourceResult struct {
	Name        string          `json:"name"`
	Kind        string          `json:"kind"` // baseline or demand
	OK          bool            `json:"ok"`
	Error       string          `json:"error,omitempty"`
	TookSeconds float64         `json:"took_seconds"`
	Baseline    *baselineResult `json:"baseline,omitempty"`
	Demand      *demandResult   `json:"demand,omitempty"`
}

type baselineResult struct {
	Time     time.Time `json:"time"`
	Nodes    int       `json:"nodes"`
	GPUs     int       `json:"gpus"`
	BusyGPUs int       `json:"busy_gpus"`
	FreeGPUs int       `json:"free_gpus"`
	// UnhealthyGPUs are of BusyGPUs: unhealthy, they take no job.
	UnhealthyGPUs int               `json:"unhealthy_gpus"`
	IdleAllocated int               `json:"idle_allocated_gpus"`
	Models        map[string]int    `json:"models,omitempty"`
	Unknown       map[string]string `json:"unknown_nodes,omitempty"`
	// Wedged are nodes whose agent says its driver wedged before it
	// opened any GPU, each with the agent's error: the pool counts
	// gpus_per_node unhealthy GPUs for each.
	Wedged map[string]string `json:"wedged_nodes,omitempty"`
}

type demandResult struct {
	Time              time.Time `json:"time"`
	PendingJobs       int       `json:"pending_jobs"`
	PendingGPUs       *int      `json:"pending_gpus,omitempty"`
	JobGPUs           []int     `json:"job_gpus,omitempty"`
	JobWaitSeconds    []float64 `json:"job_wait_seconds,omitempty"`
	OldestWaitSeconds *float64  `json:"oldest_wait_seconds,omitempty"`
	// LeftOut is the queued jobs the source did not count, by why.
	LeftOut []leftOutJSON `json:"left_out,omitempty"`
	// CountedLarger is the jobs counted as the GPUs of the smallest
	// offering that holds their CPUs and memory.
	CountedLarger int `json:"counted_larger,omitempty"`
}

type leftOutJSON struct {
	Why  string `json:"why"`
	Jobs int    `json:"jobs"`
}

type snapshotJSON struct {
	Time           time.Time `json:"time"`
	OnPremGPUs     int       `json:"onprem_gpus"`
	OnPremBusyGPUs int       `json:"onprem_busy_gpus"`
	OnPremFreeGPUs int       `json:"onprem_free_gpus"`
	// OnPremUnhealthyGPUs are of OnPremBusyGPUs: their agent reports them
	// unhealthy (a wedged driver, broken memory, fallen off the bus).
	OnPremUnhealthyGPUs int   `json:"onprem_unhealthy_gpus"`
	IdleAllocatedGPUs   int   `json:"idle_allocated_gpus"`
	PendingJobs         int   `json:"pending_jobs"`
	PendingGPUs         int   `json:"pending_gpus"`
	PendingJobGPUs      []int `json:"pending_job_gpus"`
	// PendingJobWaitSeconds is null unless every source gives each job's wait.
	PendingJobWaitSeconds []float64 `json:"pending_job_wait_seconds"`
	OldestWaitSeconds     float64   `json:"oldest_wait_seconds"`
	Stale                 []string  `json:"stale"`
}

// readSignals reads every source of set once, concurrently, each bounded
// by timeout, and assembles the pool's snapshot at now().
func readSignals(ctx context.Context, set *sources.Set, timeout time.Duration, now func() time.Time) signalsReport {
	var wg sync.WaitGroup
	results := make([]sourceResult, len(set.Demands))
	readings := make([]signals.DemandReading, len(set.Demands))
	var br *signals.BaselineReading
	var bres sourceResult
	// timed runs one read bounded by timeout, records how long it took,
	// and says so in the error when --timeout cut it off.
	timed := func(res *sourceResult, read func(ctx context.Context) error) error {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		start := time.Now()
		err := read(rctx)
		res.TookSeconds = time.Since(start).Seconds()
		if err != nil && ctx.Err() == nil && errors.Is(rctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w (cut off by --timeout %s)", err, timeout)
		}
		res.OK = err == nil
		if err != nil {
			res.Error = err.Error()
		}
		return err
	}
	if b := set.Baseline; b != nil {
		br = &signals.BaselineReading{Source: b.Name()}
		bres = sourceResult{Name: b.Name(), Kind: "baseline"}
		wg.Add(1)
		go func() {
			defer wg.Done()
			br.Err = timed(&bres, func(ctx context.Context) (err error) {
				br.Baseline, err = b.Baseline(ctx)
				return err
			})
		}()
	}
	for i, d := range set.Demands {
		readings[i].Source = d.Name()
		results[i] = sourceResult{Name: d.Name(), Kind: "demand"}
		wg.Add(1)
		go func() {
			defer wg.Done()
			readings[i].Err = timed(&results[i], func(ctx context.Context) (err error) {
				readings[i].Demand, err = d.Demand(ctx)
				return err
			})
		}()
	}
	wg.Wait()

	at := now()
	r := signalsReport{Pool: set.Pool.Name, Time: at}
	if br != nil {
		if br.Err == nil {
			bres.Baseline = summarizeBaseline(br.Baseline)
			if len(br.Baseline.Unknown) > 0 {
				bres.OK = false
				bres.Error = fmt.Sprintf("%d of %d nodes did not answer", len(br.Baseline.Unknown), bres.Baseline.Nodes+len(br.Baseline.Unknown))
			}
		}
		r.Sources = append(r.Sources, bres)
	}
	for i, res := range results {
		if readings[i].Err == nil {
			res.Demand = summarizeDemand(readings[i].Demand)
		}
		r.Sources = append(r.Sources, res)
	}
	snap := signals.Assemble(set.Pool, at, br, readings)
	r.Snapshot = snapshotView(snap)
	if b := bres.Baseline; b != nil {
		r.OnPremDiffers = onPremDiffers(set.Pool.OnPrem, b.Nodes+len(b.Unknown)+len(b.Wedged), snap.OnPremGPUs)
	}
	r.OK = len(snap.Stale) == 0
	for _, s := range r.Sources {
		r.OK = r.OK && s.OK
	}
	return r
}

// onPremDiffers says how onprem differs from the nodes and GPUs a baseline
// found: the server counts the baseline's (spillway simulate onprem's), so
// an agent left out of the list shrinks the pool's on-prem GPUs silently.
// "" when they agree, or when onprem is left out.
func onPremDiffers(o policy.OnPrem, nodes, gpus int) string {
	if o.Nodes == 0 || (nodes == o.Nodes && gpus == o.GPUs()) {
		return ""
	}
	return fmt.Sprintf("onprem says %s × %d = %s, the baseline found %s on %s: the server counts what the baseline finds (spillway simulate counts onprem); give the baseline every node (the agents' urls or targets_file, or the Prometheus query) or make onprem say what there is",
		policyPlural(o.Nodes, "node"), o.GPUsPerNode, policyPlural(o.GPUs(), "GPU"), policyPlural(gpus, "GPU"), policyPlural(nodes, "node"))
}

// unhealthyOf is " (N unhealthy)", or "" for none.
func unhealthyOf(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d unhealthy)", n)
}

func summarizeBaseline(b signals.Baseline) *baselineResult {
	res := &baselineResult{Time: b.Time, Models: map[string]int{}}
	nodes := map[string]bool{}
	for _, g := range b.GPUs {
		nodes[g.Node] = true
		res.GPUs++
		// An unhealthy GPU takes no job: never free, as Assemble counts it.
		if g.Busy || g.Unhealthy {
			res.BusyGPUs++
		} else {
			res.FreeGPUs++
		}
		if g.Unhealthy {
			res.UnhealthyGPUs++
		}
		if g.Allocated && g.Idle {
			res.IdleAllocated++
		}
		if g.Model != "" {
			res.Models[g.Model]++
		}
	}
	res.Nodes = len(nodes)
	res.Wedged = b.Wedged
	if len(b.Unknown) > 0 {
		res.Unknown = map[string]string{}
		for _, n := range b.Unknown {
			why := b.UnknownCauses[n]
			if why == "" {
				why = "did not answer"
			}
			res.Unknown[n] = why
		}
	}
	return res
}

func summarizeDemand(d signals.Demand) *demandResult {
	res := &demandResult{Time: d.Time, PendingJobs: d.PendingJobs, JobGPUs: d.JobGPUs, JobWaitSeconds: signalsSeconds(d.JobWaits), CountedLarger: d.Larger}
	for _, l := range d.LeftOut {
		res.LeftOut = append(res.LeftOut, leftOutJSON{Why: l.Why, Jobs: l.Jobs})
	}
	if d.PendingGPUsKnown {
		n := d.PendingGPUs
		res.PendingGPUs = &n
	}
	if d.OldestWaitKnown {
		s := d.OldestWait.Seconds()
		res.OldestWaitSeconds = &s
	}
	return res
}

func snapshotView(s policy.Snapshot) snapshotJSON {
	v := snapshotJSON{
		Time: s.Time, OnPremGPUs: s.OnPremGPUs, OnPremBusyGPUs: s.OnPremBusyGPUs, OnPremFreeGPUs: s.OnPremFreeGPUs, OnPremUnhealthyGPUs: s.OnPremUnhealthyGPUs,
		IdleAllocatedGPUs: s.IdleAllocatedGPUs, PendingJobs: s.PendingJobs, PendingGPUs: s.PendingGPUs,
		PendingJobGPUs: s.PendingJobGPUs, PendingJobWaitSeconds: signalsSeconds(s.PendingJobWaits),
		OldestWaitSeconds: s.OldestWait.Seconds(), Stale: s.Stale,
	}
	if v.Stale == nil {
		v.Stale = []string{}
	}
	return v
}

// signalsSeconds is waits in seconds (nil for nil).
func signalsSeconds(waits []time.Duration) []float64 {
	if waits == nil {
		return nil
	}
	out := make([]float64, len(waits))
	for i, w := range waits {
		out[i] = w.Seconds()
	}
	return out
}

// summary is the one line a failed check ends with on stderr. A baseline
// that lost some of its nodes answered in part: it is named apart from
// the sources that failed outright.
func (r signalsReport) summary() string {
	var failed, partial []string
	for _, s := range r.Sources {
		switch {
		case s.OK:
		case s.Baseline != nil:
			partial = append(partial, s.Name)
		default:
			failed = append(failed, s.Name)
		}
	}
	var parts []string
	if len(failed) > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d sources failed (%s)", len(failed), len(r.Sources), strings.Join(failed, ", ")))
	}
	if len(partial) > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d answered in part (%s)", len(partial), len(r.Sources), strings.Join(partial, ", ")))
	}
	if len(parts) == 0 {
		parts = append(parts, "every source answered")
	}
	return fmt.Sprintf("spillway signals check: %s: pool %s: %s; %s stale: the policy would hold",
		r.File, r.Pool, strings.Join(parts, ", "), policyPlural(len(r.Snapshot.Stale), "signal"))
}

func printSignalsReport(w io.Writer, r signalsReport) {
	fmt.Fprintf(w, "pool %s (%s) at %s\n\nsources:\n", r.Pool, r.File, r.Time.Format(time.RFC3339))
	for _, s := range r.Sources {
		took := signalsDur(time.Duration(s.TookSeconds * float64(time.Second)))
		switch {
		case s.Baseline != nil:
			b := s.Baseline
			status := "ok"
			if !s.OK {
				status = "PARTIAL"
			}
			fmt.Fprintf(w, "  %-7s %s (baseline, %s): %s on %s: %d busy%s, %d free, %d allocated but idle%s\n",
				status, s.Name, took, policyPlural(b.GPUs, "GPU"), policyPlural(b.Nodes, "node"),
				b.BusyGPUs, unhealthyOf(b.UnhealthyGPUs), b.FreeGPUs, b.IdleAllocated, signalsModels(b.Models))
			nodes := make([]string, 0, len(b.Unknown))
			for n := range b.Unknown {
				nodes = append(nodes, n)
			}
			sort.Strings(nodes)
			for _, n := range nodes {
				fmt.Fprintf(w, "          node %s unknown: %s\n", n, indentRest(b.Unknown[n], signalsDetailIndent))
			}
			for _, n := range slices.Sorted(maps.Keys(b.Wedged)) {
				fmt.Fprintf(w, "          node %s wedged, its GPUs counted unhealthy (gpus_per_node): %s\n", n, b.Wedged[n])
			}
		case s.Demand != nil:
			fmt.Fprintf(w, "  %-7s %s (demand, %s): %s\n", "ok", s.Name, took, signalsDemand(s.Demand))
			if left := signalsLeftOut(s.Demand.LeftOut); left != "" {
				fmt.Fprintf(w, "          left out: %s\n", left)
			}
			if n := s.Demand.CountedLarger; n > 0 {
				fmt.Fprintf(w, "          counted larger: %s, as the GPUs of the smallest offering that holds their CPUs and memory\n", policyPlural(n, "job"))
			}
		default:
			fmt.Fprintf(w, "  %-7s %s (%s, %s): %s\n", "FAILED", s.Name, s.Kind, took, indentRest(s.Error, signalsDetailIndent))
		}
	}
	s := r.Snapshot
	fmt.Fprintf(w, "\nsnapshot (what the policy would see):\n")
	fmt.Fprintf(w, "  on-prem GPUs  %d total, %d busy, %d free", s.OnPremGPUs, s.OnPremBusyGPUs, s.OnPremFreeGPUs)
	if n := s.OnPremUnhealthyGPUs; n > 0 {
		fmt.Fprintf(w, " (%d of the busy unhealthy: they take no job until their node is rebooted; its agent's /healthz says why)", n)
	}
	if idle := s.OnPremGPUs - s.OnPremBusyGPUs; idle > s.OnPremFreeGPUs {
		// Assemble counts only free GPUs on nodes with room for the
		// smallest pending job.
		fmt.Fprintf(w, " (%d idle: the rest sit on nodes with no room for the smallest pending job)", idle)
	}
	fmt.Fprintln(w)
	if r.OnPremDiffers != "" {
		fmt.Fprintf(w, "  warning       %s\n", r.OnPremDiffers)
	}
	waste := "none"
	if s.IdleAllocatedGPUs > 0 {
		waste = fmt.Sprintf("%s allocated but idle: fix these before renting cloud", policyPlural(s.IdleAllocatedGPUs, "GPU"))
	}
	fmt.Fprintf(w, "  waste         %s\n", waste)
	fmt.Fprintf(w, "  pending       %s, %s\n", policyPlural(s.PendingJobs, "job"), policyPlural(s.PendingGPUs, "GPU"))
	fmt.Fprintf(w, "  job sizes     %s\n", signalsSnapshotSizes(s))
	fmt.Fprintf(w, "  job waits     %s\n", signalsSnapshotWaits(s))
	wait := signalsDur(time.Duration(s.OldestWaitSeconds * float64(time.Second)))
	if !signalsWaitKnown(r.Sources) {
		wait += " (no source reports waits)"
	}
	fmt.Fprintf(w, "  oldest wait   %s\n", wait)
	if len(s.Stale) == 0 {
		fmt.Fprintf(w, "  stale         none: the policy would act on this snapshot\n")
		return
	}
	fmt.Fprintf(w, "  stale         %d: the policy would hold (no launch on demand, no scale-in)\n", len(s.Stale))
	for _, st := range s.Stale {
		fmt.Fprintf(w, "    - %s\n", indentRest(st, "      "))
	}
}

// signalsSnapshotSizes says what the policy knows of the pending jobs'
// sizes. An empty queue reads as none, not as unknown: the snapshot
// carries no list then, even from sources that list each job's GPUs.
func signalsSnapshotSizes(s snapshotJSON) string {
	switch {
	case s.PendingJobGPUs != nil:
		return signalsSizes(s.PendingJobGPUs)
	case s.PendingJobs == 0 && s.PendingGPUs == 0:
		return "none: nothing pending"
	}
	return "unknown (not every source lists each job's GPUs): pending GPUs are read as one-GPU jobs"
}

// signalsSnapshotWaits says what the policy knows of the pending jobs'
// waits; an empty queue reads as none, as for their sizes.
func signalsSnapshotWaits(s snapshotJSON) string {
	switch {
	case s.PendingJobWaitSeconds != nil:
		return "known for each job: the youngest are left to on-prem, launches only for those that would wait past the target"
	case s.PendingJobs == 0 && s.PendingGPUs == 0:
		return "none: nothing pending"
	}
	return "unknown (not every source gives each job's wait): launches for the queue wait on its oldest job"
}

// signalsDetailIndent is the column of what a source's line says under it
// (left out, a node unknown, the lines of a failure).
const signalsDetailIndent = "          "

// indentRest indents every line of s after its first, so that an error of
// several lines (squeue's standard error, a command's) stays under the
// item it belongs to instead of starting lines of its own at column 0.
func indentRest(s, indent string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+indent)
}

// signalsWaitKnown reports whether any demand source that answered told
// how long its oldest job has waited.
func signalsWaitKnown(rs []sourceResult) bool {
	for _, r := range rs {
		if r.Demand != nil && r.Demand.OldestWaitSeconds != nil {
			return true
		}
	}
	return false
}

func signalsDemand(d *demandResult) string {
	parts := []string{policyPlural(d.PendingJobs, "job")}
	if d.PendingGPUs != nil {
		parts = append(parts, policyPlural(*d.PendingGPUs, "GPU"))
	} else {
		parts = append(parts, "GPUs not reported")
	}
	if d.JobGPUs != nil {
		parts = append(parts, "job sizes "+signalsSizes(d.JobGPUs))
	}
	if d.JobWaitSeconds != nil {
		parts = append(parts, "each job's wait known")
	}
	if d.OldestWaitSeconds != nil {
		parts = append(parts, "oldest wait "+signalsDur(time.Duration(*d.OldestWaitSeconds*float64(time.Second))))
	}
	return strings.Join(parts, ", ")
}

// signalsLeftOut says which queued jobs a source did not count as demand:
// "2 jobs pending for QOSMaxGRESPerUser, 1 job pending for Licenses".
func signalsLeftOut(left []leftOutJSON) string {
	parts := make([]string, len(left))
	for i, l := range left {
		parts[i] = policyPlural(l.Jobs, "job") + " " + l.Why
	}
	return strings.Join(parts, ", ")
}

// signalsSizes prints job sizes compactly: "1 2 4", or "1×40 8×3" for long lists.
func signalsSizes(sizes []int) string {
	if len(sizes) == 0 {
		return "none"
	}
	if len(sizes) <= 12 {
		s := make([]string, len(sizes))
		for i, n := range sizes {
			s[i] = fmt.Sprint(n)
		}
		return strings.Join(s, " ")
	}
	count := map[int]int{}
	for _, n := range sizes {
		count[n]++
	}
	keys := make([]int, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = fmt.Sprintf("%d GPU×%d", k, count[k])
	}
	return strings.Join(s, ", ")
}

func signalsModels(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		names[i] = fmt.Sprintf("%d× %s", m[n], n)
	}
	return " (" + strings.Join(names, ", ") + ")"
}

// signalsDur rounds a duration for people: µs below a millisecond, ms
// below a second, else seconds.
func signalsDur(d time.Duration) string {
	if d < time.Millisecond {
		return d.Round(time.Microsecond).String()
	}
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
