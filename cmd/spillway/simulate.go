package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/configs"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim"
	"github.com/spillway-io/spillway/sim/trace"
)

func init() { register(newSimulateCmd) }

type simulateFlags struct {
	config, pool, trace, plot string
	maxMemory                 string
	where                     []string
	traceZone                 string
	traceDates                string
	policies                  []string
	onprem                    onpremFlag
	json, progress            bool
	cloud                     string
	seed                      uint64
	baselineOpts              []string
	sweep                     []string
	seeds                     int
	maxRuns                   int
	maxJobRuns                int64
	jitter                    time.Duration
}

func newSimulateCmd() *cobra.Command {
	var f simulateFlags
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Backtest a pool's burst policy on a GPU job trace, against baseline policies",
		Long: `simulate replays a job trace through a discrete-event simulation of one pool
and reports what each policy would have cost and how long jobs would have waited.

The pool has nodes × gpus_per_node on-prem GPUs (or --onprem-gpus). Jobs are
placed in arrival order, best fit, skipping jobs that do not fit (greedy
backfill, no reservations); a job larger than a node takes whole nodes. A job that does not fit
on-prem goes onto a ready cloud instance. Instances take work once their
offering's boot time has passed and are billed by their billing rule from
launch to termination. A job runs duration ÷ the offering's performance on
it, and spans instances only of one offering with at least span.min_gpus
(8 by default) GPUs each, span.slowdown times longer.

The realistic cloud (--cloud realistic, the default; --seed picks its
draws): each offering goes out of stock now and then, or on the schedule
the config gives it (a launch into a stock-out fails and enters the
capacity cache; the policy is asked again at once), boot times spread
around the offering's boot (p95 twice the median; the spillway policy
plans with a bound the next boot stays within 19 times in 20, from the
boots it has seen, as the server does with its joins; one still booting
at the pool's join.timeout, three boots of its slowest offering by
default, is ended as a failed launch and its offering enters the capacity
cache unless an instance of it launched with it or after it has come up,
as the server does), and spot instances
are reclaimed with their cloud's notice, 2 minutes on AWS and 5 on
Alibaba, which reclaims none within its hour of protection after launch
(one reclaimed before it came up is
a failed launch, and its offering enters the capacity cache, as the
server does), their jobs killed and requeued (or
resumed from their last checkpoint when the pool has a checkpoint_interval;
without one, every policy rents spot only when nothing else can be
launched; with one, the spillway policy learns each spot offering's
reclaim rate from the notices, as the server does, and prices spot by the
GPU-hours left after what its reclaims lose). --cloud ideal turns all of that off. The config's simulate section sets the model, its
parameters and the baselines' knobs (--cloud, --seed and --baseline-opt
override it); docs/backtest.md gives the parameters, their defaults and
their sources.

Every policy is held to the pool's hard rules: max_gpus, max_cost_per_hour,
drain_timeout, max_lifetime, and a budget that is never exceeded (an
instance commits its cost until drain_timeout after the next evaluation;
when the budget cannot cover that, instances are drained early). Jobs that
fit neither on-prem nor in anything the limits let the pool rent, or that
are larger than on-prem and outlast every cloud instance (longer than
max_lifetime + drain_timeout, with no checkpoint within that), are never
launched for; they are counted apart and left out of the wait percentiles.

Policies, all on the same trace and offerings:
  spillway     the pool's own policy (policy.Decide every pool interval)
  onprem-only  no cloud at all
  threshold    target tracking (Nomad Autoscaler style): every 60 s size cloud
               GPUs so (busy + queued) / total GPUs approaches 80%, 5-minute
               cooldown, the largest offering only (the cheapest per GPU
               among those)
  per-job      Slurm power saving: resume a cloud node for every queued job
               that cannot start, suspend a node after 300 s idle; a node
               not up within ResumeTimeout (30m) is marked DOWN, a node type
               refusing a resume for capacity is DOWN for 600 s
               (ParallelCluster's insufficient_capacity_timeout)
  karpenter    Karpenter-style provisioner: bin-pack pending jobs onto new
               nodes of the cheapest offering per GPU that holds them, skip
               offerings in the capacity (ICE) cache, remove nodes empty 30 s,
               remove or replace with a cheaper node an under-used one whose
               jobs may move (the pool checkpoints, or karpenter.evict=true);
               spot by spot only with karpenter.spot_to_spot=true and 15
               cheaper spot types; a node not up within 15 minutes (its
               registration TTL) is deleted and provisioned again

Columns:
  cloud $       what the cloud instances were billed, in USD
  paid GPU-h    GPU-hours billed (instance GPUs × billed time)
  used GPU-h    GPU-hours that jobs ran on cloud instances
  lost GPU-h    GPU-hours of job runs killed (a spot reclaim, a drain cut short by
                drain_timeout) since their last checkpoint
  efficiency    work done on cloud × the lowest price per useful GPU-hour on
                offer (price ÷ (GPUs × performance); spot counts only for pools
                that checkpoint, or once the run rents it) ÷ cloud $; 1.00 is
                the limit (every dollar bought a working GPU-hour at the best
                price on offer); "-" when nothing was paid
  wait p50 … max  time queued over all jobs: from submit to start, less the
                runs a kill cut short (those are lost GPU-h) (! marks a p95
                above the pool's wait target)
  jobs on cloud jobs that ran on cloud instances
  launches      cloud instances launched

Below the table: launches failed by cause, cost by provider and offering,
spend per budget period against the budget, how long each limit bound and
what it cost (the same policy, seed and trace run again without it: p95
and p99 wait, job runs killed, GPU-hours lost, jobs left unserved, cost),
jobs never served and why, and any policy that another beats on both cost
and p95 wait (dominated). The same config, trace and seed print the same
report, byte for byte; how long the run took goes to stderr.

--json prints the same as one object: trace {name, jobs, span_s}, pool,
onprem_gpus, wait_target_s, notes (what the trace and the
pool's rules mean whatever the policy: jobs that asked for part of a GPU
and run on whole ones, and jobs that no cloud run can finish because they
outlast scale_in.max_lifetime + drain_timeout without a checkpoint), and
results, one per policy, with
policy, cloud_cost_usd, paid_gpu_hours, used_gpu_hours, efficiency,
wait_p50_s, wait_p95_s, wait_p99_s, wait_max_s, jobs_on_cloud, launches,
jobs_unstarted (with stopped, why the run gave up on queued jobs, when
it did), jobs_killed, gpu_hours_lost, jobs_never_served (with
never_served_largest_gpus and never_served_why), peak_cloud_gpus,
peak_cost_per_hour, failed_launches (by cause), interruptions, cost_by_offering, cost_by_provider, budget_periods (a
list of {start, end, budget_usd, spend_usd}, empty without a budget),
limit_bound_hours, without_limit (per limit that bound: bound_hours and the
run without it: cloud_cost_usd, wait_p95_s, wait_p99_s, jobs_killed,
gpu_hours_lost, jobs_unstarted, jobs_never_served) and dominated_by (a list
of policy names).

Traces (format recognised from the CSV header, or from the file's shape for
PAI's headerless table and Philly's JSON log; in every format a job of
duration 0 or empty never ran, and is skipped and counted): Microsoft ITP
(job_id,submission_time,duration,num_gpu), Microsoft Philly
(timestamp,duration,num_gpus,gpu_time,cluster), a scheduler's job log as
SenseTime Helios cluster_log.csv and Shanghai AI Lab Acme trace_*.csv give
it (…,gpu_num,…,submit_time,…,duration,…; CPU-only jobs and jobs that never
ran are skipped and counted; num_gpu and submit_time in seconds, as in
Tiresias-style job lists, also do, and gpu_request × worker_num, as in
Alibaba's spot GPU trace of 2026), Slurm's accounting log as sacct
--parsable2 writes it (JobID|Submit|Elapsed|AllocTRES…, '|'-separated; job
steps, CPU-only, never-run and still-running jobs and rows repeating a job
above are skipped and counted; a job on GPU shares, gres/shard or gres/mps,
takes a whole GPU a node; one held past its Submit is submitted when
Eligible, and one with Submit Unknown at its Start:
sacct --allusers --parsable2 --starttime 2024-01-01 --format
JobID,Partition,Submit,Eligible,Start,End,Elapsed,AllocTRES,State > jobs.txt), a
Kubernetes pod list as Alibaba's GPU traces of 2023 and 2025 give it
(…,num_gpu or gpu_request,…,creation_time,deletion_time,scheduled_time in
seconds; a GPU-sharing pod counts as a whole GPU), Alibaba PAI's task table
of 2020 (pai_task_table.csv, headerless as published or with its header: a
task runs from start_time to end_time on inst_num × ⌈plan_gpu/100⌉ GPUs,
submitted as long before as its job waited when pai_job_table.csv is beside
it; its seconds place Shanghai's time of day and weekday, fake dates in
1970), SenseTime Helios per-minute sequences
(time,…,running_gpu_num,pending_gpu_num,…), your own
(submit_s,duration_s,gpus, and optionally cpus and memory_gib; seconds from
any start, or Unix times in seconds, milliseconds, microseconds or
nanoseconds, told apart by size), or Microsoft Philly's raw job log, a JSON array
of jobs with their attempts (cluster_job_log; its times are Pacific: use
--trace-zone America/Los_Angeles). Where a trace gives jobs' CPUs or memory
(sacct's TRES cpu and mem, PAI's plan_cpu and plan_mem, a pod list's
cpu_milli and memory_mib, a job log's cpu_num), a job takes, on the cloud,
the smallest instance that holds them, as the server counts it. A trace
may be gzipped, bzip2ed, zstd- or xz-compressed or in a tar or zip archive
(.gz, .bz2, .zst, .xz, .tar, .tar.gz, .tar.zst, .tar.xz, .zip): the archive's first trace file is read, or the one named
after its path (--trace helios.tar.gz/saturn/cluster_log.csv);
--trace - reads one piped in; one that decompresses to more than 1000
times its size is refused. Files of one format may be concatenated, each
with its header. Date-times without an offset are
read in --trace-zone (UTC by default); dates with the year last
(11/29/2026 9:05, 29.11.2026) in the order --trace-dates gives, or a day
past 12 shows. Without --config and --trace it
backtests the bundled configs/examples/backtest.yaml on the bundled ITP
cluster02 trace.

Exit status: 0 when the report is written; 2 when a flag, the config or
the trace is refused; 1 when the run fails (stopped, more instances than
--max-memory holds, or its report or plot not written).`,
		Example: `  spillway simulate
  spillway simulate --trace configs/traces/philly/philly.csv --onprem-gpus 424
  spillway simulate --trace jobs.csv --onprem-gpus p50          # on-prem at the trace's median demand
  spillway simulate --config spillway.yaml --pool v100 --trace jobs.csv --json
  spillway simulate --policies spillway,per-job --plot timeline.svg
  spillway simulate --sweep wait_target=0s,2m,5m,10m,20m --sweep per-job.suspend=0s,60s,300s --seeds 5 --plot frontier.svg`,
		Args: func(cmd *cobra.Command, args []string) error { return asUsage(noArgs(cmd, args)) },
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := refuseEmpty(cmd, "config", "pool", "trace", "plot", "trace-zone"); err != nil {
				return asUsage(err)
			}
			err := runSimulate(cmd, f)
			var rf *runFailure
			if errors.As(err, &rf) {
				return err
			}
			return asUsage(err)
		},
	}
	cmd.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return asUsage(flagError(cmd, err)) })
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "config file (default: the embedded configs/examples/backtest.yaml)")
	fl.StringVar(&f.pool, "pool", "", "pool to simulate (default: the config's first pool)")
	fl.StringVar(&f.trace, "trace", "", "job trace CSV, or - to read it from standard input (default: the embedded "+configs.DefaultTraceName+")")
	fl.StringArrayVar(&f.where, "where", nil, "keep only the trace rows whose column holds one of the values, column=value,value,… (repeatable; all must match): one virtual cluster of a pooled trace, e.g. --where vc=vchbv (a Helios or Acme job log or Philly's JSON log), --where cluster=6214e9 (Philly) or --where Partition=gpu (sacct; a heterogeneous job is kept whole when any of its components matches) or --where gpu_type=V100 (PAI's task table)")
	fl.StringVar(&f.traceDates, "trace-dates", "", "order of day and month in the trace's dates written with the year last: month-first (11/29/2026) or day-first (29/11/2026); unset, the first date in the file whose day is past 12 tells it, and where none does a date that reads either way is refused")
	fl.StringVar(&f.traceZone, "trace-zone", "UTC", "time zone the trace's date-times were written in when they carry no offset, an IANA name such as Asia/Shanghai or America/Los_Angeles: it places budget periods and CRON_TZ schedules against the trace")
	fl.Var(&f.onprem, "onprem-gpus", fmt.Sprintf("on-prem GPUs, 0 (every job on the cloud) to %d, rounded up to whole nodes of the pool's gpus_per_node; or pNN, the trace's NN-th percentile demand (GPUs in use if every job started on arrival, time-weighted), e.g. p50, at least one node (default: the pool's onprem)", config.MaxPoolGPUs))
	fl.BoolVar(&f.json, "json", false, "print the report as JSON")
	fl.StringVar(&f.plot, "plot", "", "write an SVG timeline of every policy's run to this file (a panel each: GPUs, and cumulative cost per provider)")
	fl.StringSliceVar(&f.policies, "policies", sim.PolicyNames, "policies to run, comma-separated")
	fl.BoolVar(&f.progress, "progress", false, "show a progress line on stderr even when it is not a terminal (the share of the trace file read, then of trace time replayed; with --sweep, the runs ended)")
	fl.StringVar(&f.cloud, "cloud", "", "cloud model: realistic (stock-outs, boot-time spread, spot reclaims) or ideal (every launch succeeds at once); default: the config's simulate.cloud.model, else realistic")
	fl.StringArrayVar(&f.baselineOpts, "baseline-opt", nil, "tune a baseline, policy.knob=value (repeatable, over the config's simulate.baselines): threshold.target=0.7, threshold.cooldown=2m, threshold.interval=30s, per-job.suspend=0s, per-job.resume_rate=100, per-job.resume_timeout=10m, per-job.insufficient_capacity_timeout=0s, karpenter.consolidate_after=5m, karpenter.consolidation_policy=WhenEmpty, karpenter.evict=true, karpenter.spot_to_spot=true, karpenter.registration_ttl=20m")
	fl.StringArrayVar(&f.sweep, "sweep", nil, "sweep a setting, name=v1,v2,… (repeatable, one per policy): wait_target=0s,2m,5m,10m,20m for spillway, or a baseline knob such as per-job.suspend=0s,60s,300s; prints each point's cost and waits over --seeds, marks dominated points, and --plot draws the cost–wait frontier; at most --max-runs runs (points × --seeds)")
	fl.IntVar(&f.seeds, "seeds", 3, "with --sweep, runs per point (seeds S…S+N-1 from --seed S: jittered submit times and cloud draws), 1 to 100; 1 with --cloud ideal and --jitter 0s, which draw nothing")
	flagRange(fl, "seeds", seedsRange)
	fl.IntVar(&f.maxRuns, "max-runs", defaultMaxSweepRuns, "with --sweep, the most runs (points × --seeds) it may make before refusing to start, 1 to 100000: a run of a months-long trace takes seconds to a minute a core; raise it for a short trace")
	flagRange(fl, "max-runs", maxRunsRange)
	fl.Int64Var(&f.maxJobRuns, "max-job-runs", defaultMaxJobRuns, "with --sweep, the most jobs it may replay in all (the trace's jobs × its runs) before refusing to start, 1 to 1000000000000: 1000 runs of a 100,000-job trace by default; a run takes about a second a core per million jobs, more where a budget binds")
	flagRange(fl, "max-job-runs", maxJobRunsRange)
	flagRange(fl, "onprem-gpus", onpremRange)
	fl.DurationVar(&f.jitter, "jitter", time.Minute, "with --sweep, the most each submit time is moved later per seed, 0s to 24h")
	flagRange(fl, "jitter", jitterRange)
	fl.Uint64Var(&f.seed, "seed", 0, "seed of the realistic cloud's random draws; the same seed gives the same report; with --sweep, the first of --seeds seeds, which draw the cloud and the jitter (the ideal cloud takes one only there, with --jitter above 0s) (default: the config's simulate.cloud.seed, else 1)")
	fl.StringVar(&f.maxMemory, "max-memory", sim.FormatBytes(sim.DefaultMemoryLimit), "memory the backtest may use (e.g. 512MiB, 8GiB); a trace with more jobs than fit is refused")
	return cmd
}

func runSimulate(cmd *cobra.Command, f simulateFlags) error {
	if err := checkSimulateRanges(f); err != nil {
		return err
	}
	var (
		cfg *config.Config
		err error
	)
	if f.config == "" {
		cfg, err = config.Parse("configs/examples/backtest.yaml (embedded)", configs.BacktestYAML)
	} else {
		cfg, err = config.LoadContext(cmd.Context(), f.config)
		if err != nil && trace.IsTrace(f.config) {
			return fmt.Errorf("--config %s: this is a job trace, not a config: give it as --trace %s (the config reads it as: %w)", f.config, f.config, err)
		}
	}
	if err != nil {
		return err
	}
	cp, err := choosePool(cfg, f.pool)
	if err != nil {
		return err
	}
	pool := cp.Policy
	if !f.onprem.quantile && (f.onprem.gpus < 0 || f.onprem.gpus > config.MaxPoolGPUs) {
		return fmt.Errorf("--onprem-gpus %d: %s", f.onprem.gpus, onpremRange)
	}
	if f.onprem.set() && !f.onprem.quantile {
		pool = sim.WithOnPremGPUs(pool, int(f.onprem.gpus))
	}
	var sc config.Simulate
	if cfg.Simulate != nil {
		sc = *cfg.Simulate
	}
	cloudFor, seed, err := simCloud(cmd, f, sc.Cloud, cloudsOf(cfg, pool))
	if err != nil {
		return err
	}
	knobs := baselineKnobs(sc.Baselines)
	// The spillway policy ends instances that have not joined within the
	// pool's join.timeout, as the server does.
	knobs.JoinTimeout = cp.Join.Timeout.D()
	for _, o := range f.baselineOpts {
		if err := knobs.ParseBaselineKnob(o); err != nil {
			return fmt.Errorf("--baseline-opt: %w", err)
		}
	}
	running := make([]string, len(f.policies))
	for i, name := range f.policies {
		running[i] = strings.TrimSpace(name)
	}
	if err := knobs.CheckBoots(&pool, running); err != nil {
		return fmt.Errorf("simulate.baselines or --baseline-opt: %w", err)
	}
	var pols []sim.Policy
	for _, name := range f.policies {
		p, err := sim.PolicyWith(strings.TrimSpace(name), knobs)
		if err != nil {
			return fmt.Errorf("--policies: %w", err)
		}
		if slices.ContainsFunc(pols, func(q sim.Policy) bool { return q.Name == p.Name }) {
			// The report's rows, its dominated_by and its cost lines go by name.
			return fmt.Errorf("--policies: %s is listed twice (want each of %s at most once)", p.Name, strings.Join(sim.PolicyNames, ", "))
		}
		pols = append(pols, p)
	}
	if len(pols) == 0 {
		return fmt.Errorf("--policies: empty (want some of %s)", strings.Join(sim.PolicyNames, ", "))
	}
	if err := checkPlotPath(f.plot); err != nil {
		return err
	}
	limit, err := parseMemory(f.maxMemory)
	if err != nil {
		return err
	}
	// The limit is the runtime's soft limit too, so the collector keeps the
	// heap under it; the trace is refused as soon as it holds more jobs
	// than fit, before it takes more memory than that.
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(limit))
	maxJobs, maxInstances := sim.Limits(limit, len(pols))
	topts := trace.Options{MaxJobs: maxJobs}
	if topts.Zone, err = time.LoadLocation(f.traceZone); err != nil || f.traceZone == "" || strings.EqualFold(f.traceZone, "local") {
		return fmt.Errorf("--trace-zone %q: not a time zone (want an IANA name such as Asia/Shanghai, America/Los_Angeles or UTC)", f.traceZone)
	}
	if topts.DateOrder, err = trace.ParseDateOrder(f.traceDates); err != nil {
		return fmt.Errorf("--trace-dates %w", err)
	}
	for _, s := range f.where {
		w, err := trace.ParseWhere(s)
		if err != nil {
			return fmt.Errorf("--where %w", err)
		}
		topts.Where = append(topts.Where, w)
	}
	// Reading a long trace takes a while: the progress line says how
	// far it has come, and is cleared once it is read (the bundled
	// trace, in memory, reads at once).
	var loading *progressLine
	if (f.progress || isTerminal(cmd.ErrOrStderr())) && f.trace != "" {
		loading = &progressLine{w: cmd.ErrOrStderr()}
		topts.Progress = loading.reading
	}
	var tr *trace.Trace
	switch f.trace {
	case "":
		tr, err = trace.ReadWith(configs.DefaultTraceName, bytes.NewReader(configs.DefaultTraceCSV), topts)
	case "-":
		tr, err = readStdinTrace(cmd.Context(), cmd.InOrStdin(), topts)
	default:
		tr, err = trace.LoadContext(cmd.Context(), f.trace, topts)
	}
	if loading != nil {
		loading.clear()
	}
	if errors.Is(err, trace.ErrUnknownFormat) && f.trace != "" && f.trace != "-" {
		if _, cerr := config.Load(f.trace); cerr == nil {
			return fmt.Errorf("--trace %s: this is a Spillway config, not a job trace: give it as --config %s", f.trace, f.trace)
		}
	}
	if errors.Is(err, trace.ErrTooManyJobs) {
		// A quarter of the limit holds the jobs (the rest is for the
		// instances, the queues and the collector's headroom).
		return fmt.Errorf("%w: --max-memory %s holds %s for %s (a quarter of it for jobs, about %d bytes a job and %d more per policy); raise --max-memory (e.g. --max-memory %s for twice as many) or run fewer --policies",
			err, sim.FormatBytes(limit), sim.Counted(maxJobs, "job", "jobs"), sim.Counted(len(pols), "policy", "policies"), trace.JobBytes, sim.BytesPerJob, sim.FormatBytes(sim.MemoryFor(2*maxJobs, len(pols))))
	}
	if err != nil {
		return err
	}
	if err := hasJobs(tr); err != nil {
		return err
	}
	if f.onprem.quantile {
		f.onprem.demand = sim.DemandPercentile(tr.Jobs, f.onprem.q)
		pool = sim.WithOnPremGPUs(pool, sim.WholeNodes(f.onprem.demand, pool.OnPrem.GPUsPerNode))
	}
	if len(f.sweep) > 0 {
		return runSweep(cmd, f, pool, tr, knobs, cloudFor, seed, limit)
	}
	for _, name := range []string{"seeds", "jitter"} {
		if cmd.Flags().Changed(name) {
			// A single run has one seed (--seed) and no jitter: a user who
			// gave either expected runs over several seeds.
			return fmt.Errorf("--%s applies only with --sweep (a single run uses --seed): add --sweep wait_target=%s to run the pool's setting over seeds", name, pool.WaitTarget.D())
		}
	}

	bt := sim.Backtest{Pool: pool, Trace: tr, Policies: pols, Timeline: f.plot != "", MaxInstances: maxInstances, LimitCosts: true}
	if cloudFor != nil {
		bt.Cloud = cloudFor(seed)
	}
	stderr := cmd.ErrOrStderr()
	var prog *progressLine
	if f.progress || isTerminal(stderr) {
		prog = &progressLine{w: stderr}
		bt.Progress = prog.update
	}
	began := time.Now()
	rep, err := bt.Run(cmd.Context())
	if prog != nil {
		prog.clear()
	}
	if errors.Is(err, sim.ErrTooManyInstances) {
		return &runFailure{fmt.Errorf("%w: --max-memory %s holds %d instances per policy (about %d bytes each); raise --max-memory or run fewer --policies",
			err, sim.FormatBytes(limit), maxInstances, sim.BytesPerInstance)}
	}
	if err != nil {
		return ranFailed(cmd.Context(), err)
	}
	wall := time.Since(began)
	if f.onprem.quantile {
		rep.Notes = append([]string{f.onprem.note(pool)}, rep.Notes...)
	}

	if f.plot != "" {
		var buf bytes.Buffer
		if err := sim.WritePlot(&buf, rep); err != nil {
			return &runFailure{err}
		}
		if err := os.WriteFile(f.plot, buf.Bytes(), 0o644); err != nil {
			return &runFailure{fmt.Errorf("--plot: %w", err)}
		}
	}
	out := cmd.OutOrStdout()
	if f.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = rep.WriteTable(out)
	}
	if err != nil {
		return &runFailure{err}
	}
	// The wall time goes to stderr: the report on stdout is the same for
	// the same seed, byte for byte, and may be compared with diff.
	fmt.Fprintf(stderr, "simulated %s × %s in %.2fs\n", sim.Counted(rep.Trace.Jobs, "job", "jobs"), sim.Counted(len(rep.Results), "policy", "policies"), wall.Seconds())
	return nil
}

// runFailure is an error of a backtest whose inputs were accepted (it was
// stopped, ran past its memory or its simulated time, or its report could
// not be written): spillway exits 1. Every other error of simulate is one
// of its flags, config or trace, and exits 2 (usageError).
type runFailure struct{ err error }

func (e *runFailure) Error() string { return e.err.Error() }
func (e *runFailure) Unwrap() error { return e.err }

// ranFailed is err, an error of running the backtest, as a runFailure,
// unless the simulator refused the pool or the trace it was given (an
// interval under sim.MinInterval): that is bad input.
func ranFailed(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, sim.ErrTooManyInstances) || errors.Is(err, sim.ErrHorizon) {
		return &runFailure{err}
	}
	return err
}

// asUsage is err as a usageError (nil stays nil).
func asUsage(err error) error {
	if err == nil {
		return nil
	}
	return &usageError{err}
}

// hasJobs refuses a trace without a job to replay, saying why it has none.
func hasJobs(tr *trace.Trace) error {
	if len(tr.Jobs) > 0 {
		return nil
	}
	if len(tr.Skipped) > 0 {
		_, skipped := trace.SkippedText(tr.Skipped)
		return fmt.Errorf("trace %s has no jobs to replay: every row was skipped (%s): want at least one row of a GPU job that ran%s", tr.Name, skipped, whereHint(tr.Skipped))
	}
	if tr.Format == trace.FormatPhillyLog {
		return fmt.Errorf("trace %s has no jobs: want at least one job in its JSON array", tr.Name)
	}
	return fmt.Errorf("trace %s has no jobs: want at least one row after its header", tr.Name)
}

// whereHint is what to check when --where left every row out.
func whereHint(skips []trace.Skip) string {
	for _, s := range skips {
		if strings.HasPrefix(s.Why, "rows outside ") {
			return " (check --where's column and values)"
		}
	}
	return ""
}

// runSweep is simulate --sweep: every policy at every swept value, over
// several seeds, with the cost–wait frontier.
// Its runs are on seeds seed, seed+1, … (--seed, else the config's
// simulate.cloud.seed, else 1), so that a sweep of one seed without jitter
// draws the cloud a single run at that seed does.
func runSweep(cmd *cobra.Command, f simulateFlags, pool policy.Pool, tr *trace.Trace, knobs sim.BaselineKnobs, cloudFor func(uint64) *sim.Cloud, seed uint64, limit int64) error {
	if cloudFor == nil && f.jitter == 0 && f.seeds > 1 {
		// Nothing is drawn: every seed's run of a point is the same run.
		if cmd.Flags().Changed("seeds") {
			return fmt.Errorf("--seeds %d: the ideal cloud draws nothing, and with --jitter 0s each point's %d runs would be one run %d times over: leave --seeds out (one run a point), give --jitter above 0s to jitter submit times by seed, or add --cloud realistic", f.seeds, f.seeds, f.seeds)
		}
		f.seeds = 1
	}
	if seed > math.MaxUint64-uint64(f.seeds-1) {
		return fmt.Errorf("seed %d (--seed, else simulate.cloud.seed): a sweep's --seeds %d runs from it past the largest seed, %d: want a seed from 0 to %d", seed, f.seeds, uint64(math.MaxUint64), uint64(math.MaxUint64)-uint64(f.seeds-1))
	}
	names := f.policies
	if !cmd.Flags().Changed("policies") {
		// onprem-only's waits would stretch the frontier past reading.
		names = []string{sim.PolicySpillway, sim.PolicyThreshold, sim.PolicyPerJob, sim.PolicyKarpenter}
	}
	// The runs going at once share the instances' part of --max-memory,
	// as a backtest's policies do.
	_, maxInstances := sim.Limits(limit, sim.Workers())
	sw := sim.Sweep{Pool: pool, Trace: tr, Knobs: knobs, Seeds: f.seeds, FirstSeed: seed, Jitter: f.jitter, MaxInstances: maxInstances}
	for _, n := range names {
		n = strings.TrimSpace(n)
		if _, err := sim.PolicyByName(n); err != nil {
			return fmt.Errorf("--policies: %w", err)
		}
		sw.Policies = append(sw.Policies, n)
	}
	seen := map[string]bool{}
	for _, s := range f.sweep {
		p, err := sim.ParseSweepParam(s)
		if err != nil {
			return fmt.Errorf("--sweep: %w", err)
		}
		if err := p.CheckBoots(pool, knobs, sw.Policies); err != nil {
			return fmt.Errorf("--sweep: %w", err)
		}
		pol, _, _ := strings.Cut(p.Name, ".")
		if p.Name == "wait_target" {
			pol = sim.PolicySpillway
		}
		if seen[pol] {
			return fmt.Errorf("--sweep %s: %s is swept twice (one setting per policy)", s, pol)
		}
		if !slices.Contains(sw.Policies, pol) {
			// Its points would silently be missing from the table and the chart.
			return fmt.Errorf("--sweep %s: sweeps %s, which the sweep does not run (it runs %s): add %s to --policies", s, pol, strings.Join(sw.Policies, ","), pol)
		}
		seen[pol] = true
		sw.Params = append(sw.Params, p)
	}
	sw.Cloud = cloudFor
	points, runs := sw.Size()
	if runs > f.maxRuns {
		// More points than --max-runs: no --seeds fits them.
		want := "fewer points (sweep fewer values)"
		if most := f.maxRuns / points; most >= 1 {
			want = fmt.Sprintf("--seeds 1 to %d for these points, sweep fewer values", most)
		}
		return usagef("--seeds %d: a sweep of %d points (%s) runs %d × %d = %d simulations, more than --max-runs %d (hours to days on a long trace): want %s, or raise --max-runs (at most %d)",
			f.seeds, points, sweepPointsText(sw), points, f.seeds, runs, f.maxRuns, want, maxMaxRuns)
	}
	if err := checkJobRuns(f, points, runs, len(tr.Jobs)); err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	if runs > 1 {
		// What it will take, before it starts: a sweep may run for hours.
		fmt.Fprintf(stderr, "sweeping %s × %s = %s, %d at once\n", sim.Counted(points, "point", "points"), sim.Counted(f.seeds, "seed", "seeds"), sim.Counted(runs, "run", "runs"), min(sim.Workers(), runs))
	}
	var prog *progressLine
	if f.progress || isTerminal(stderr) {
		prog = &progressLine{w: stderr}
	}
	began := time.Now()
	sw.Progress = func(done, total int) {
		if done == f.seeds && done < total {
			// The first point's worth of runs: what the rest will take.
			took := time.Since(began)
			if prog != nil {
				prog.clear()
			}
			fmt.Fprintf(stderr, "the first %s took %s: about %s more for the other %d\n", sim.Counted(done, "run", "runs"),
				roundSpan(took), roundSpan(took*time.Duration(total-done)/time.Duration(done)), total-done)
		}
		if prog != nil {
			prog.runs(done, total)
		}
	}
	pts, err := sw.Run(cmd.Context())
	if prog != nil {
		prog.clear()
	}
	if errors.Is(err, sim.ErrTooManyInstances) {
		return &runFailure{fmt.Errorf("%w: --max-memory %s holds %d instances per run, %s at once (about %d bytes each); raise --max-memory, or sweep fewer settings that rent without a limit",
			err, sim.FormatBytes(limit), maxInstances, sim.Counted(sim.Workers(), "run", "runs"), sim.BytesPerInstance)}
	}
	if err != nil {
		return ranFailed(cmd.Context(), err)
	}
	if f.plot != "" {
		var buf bytes.Buffer
		if err := sim.WriteFrontier(&buf, fmt.Sprintf("cost–wait frontier on %s, %d on-prem GPUs, %s", tr.Name, pool.OnPrem.GPUs(), sim.Counted(f.seeds, "seed", "seeds")), pts); err != nil {
			return &runFailure{err}
		}
		if err := os.WriteFile(f.plot, buf.Bytes(), 0o644); err != nil {
			return &runFailure{fmt.Errorf("--plot: %w", err)}
		}
	}
	if err := writeSweep(cmd.OutOrStdout(), f, pool, tr, seed, pts); err != nil {
		return &runFailure{err}
	}
	return nil
}

// sweepPointsText says how a sweep's points come about: "spillway × 5
// wait_target values, threshold, per-job, karpenter".
func sweepPointsText(sw sim.Sweep) string {
	parts := make([]string, 0, len(sw.Policies))
	for _, name := range sw.Policies {
		part := name
		for _, p := range sw.Params {
			if pol, _, _ := strings.Cut(p.Name, "."); pol == name || p.Name == "wait_target" && name == sim.PolicySpillway {
				part = fmt.Sprintf("%s × %d %s values", name, len(p.Values), p.Name)
			}
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, ", ")
}

// roundSpan is a wall time as people read it: 1.2s, 45s, 3m10s, 2h5m.
func roundSpan(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
}

// writeSweep prints a sweep's points, as a table or in --json, and the
// seeds they ran on, from seed.
func writeSweep(out io.Writer, f simulateFlags, pool policy.Pool, tr *trace.Trace, seed uint64, pts []sim.SweepPoint) error {
	notes := sim.TraceNotes(&pool, tr)
	if f.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Trace     string           `json:"trace"`
			Seeds     int              `json:"seeds"`
			FirstSeed uint64           `json:"first_seed"`
			Notes     []string         `json:"notes,omitempty"`
			Points    []sim.SweepPoint `json:"points"`
			Pairs     []sim.SweepPair  `json:"pairs,omitempty"`
		}{tr.Name, f.seeds, seed, notes, pts, sim.Pairs(pts)})
	}
	jobs := fmt.Sprintf("%d jobs", len(tr.Jobs))
	if len(tr.Jobs) == 1 {
		jobs = "1 job"
	}
	if n, text := trace.SkippedText(tr.Skipped); n > 0 {
		jobs += fmt.Sprintf(" (rows skipped: %s)", text)
	}
	seeds := fmt.Sprintf("seed %d", seed)
	if f.seeds > 1 {
		seeds = fmt.Sprintf("seeds %d to %d", seed, seed+uint64(f.seeds-1))
	}
	fmt.Fprintf(out, "trace %s: %s; pool %s: %d on-prem GPUs; %s\n", tr.Name, jobs, pool.Name, pool.OnPrem.GPUs(), seeds)
	for _, n := range notes {
		fmt.Fprintf(out, "note: %s.\n", n)
	}
	return sim.WriteSweep(out, pts, f.seeds)
}

// simCloud is the cloud model of a run: the config's simulate.cloud, with
// --cloud and --seed overriding its model and seed when given. It returns
// the model as a function of the seed (nil for the ideal cloud; a sweep
// draws seeds seed…seed+N-1 from it) and the seed of a single run, the
// first of a sweep's.
func simCloud(cmd *cobra.Command, f simulateFlags, sc config.SimCloud, clouds offeringClouds) (func(uint64) *sim.Cloud, uint64, error) {
	model := sc.Model
	if model == "" {
		model = config.CloudRealistic
	}
	if cmd.Flags().Changed("cloud") {
		model = config.CloudModel(f.cloud)
	}
	seed := uint64(1)
	if sc.Seed != nil {
		seed = *sc.Seed
	}
	if cmd.Flags().Changed("seed") {
		seed = f.seed
	}
	switch model {
	case config.CloudIdeal:
		switch {
		case !cmd.Flags().Changed("seed"):
		case len(f.sweep) > 0 && f.jitter > 0:
			// A sweep's seeds also draw its jitter of the submit times.
		case len(f.sweep) > 0:
			return nil, 0, fmt.Errorf("--seed %d: the ideal cloud draws nothing, and with --jitter 0s neither does a sweep (its seeds draw the cloud and the jitter of submit times): leave --seed out, give --jitter above 0s (1m by default) to jitter submit times from seed %d on, or add --cloud realistic", f.seed, f.seed)
		default:
			// The config refuses a seed with model ideal the same way.
			return nil, 0, fmt.Errorf("--seed %d: the ideal cloud models no stock-outs, boot spread, spot reclaims or quotas, and draws nothing: leave --seed out, or add --cloud realistic", f.seed)
		}
		return nil, seed, nil
	case config.CloudRealistic:
		return func(seed uint64) *sim.Cloud { return realisticCloud(seed, sc, clouds) }, seed, nil
	}
	return nil, 0, fmt.Errorf("--cloud %q: want realistic or ideal", f.cloud)
}

// offeringClouds is what kind of cloud each provider is (by its name in
// the config) and which provider each of the pool's offerings is bought
// from (by the offering's name).
type offeringClouds struct {
	kinds    map[string]config.ProviderType
	provider map[string]string
}

// cloudsOf is the config's offeringClouds for the pool.
func cloudsOf(cfg *config.Config, pool policy.Pool) offeringClouds {
	oc := offeringClouds{kinds: map[string]config.ProviderType{}, provider: map[string]string{}}
	for name, pc := range cfg.Providers {
		oc.kinds[name] = pc.Type
	}
	for _, o := range pool.Offerings {
		oc.provider[o.Name] = o.Provider
	}
	return oc
}

// realisticCloud is sim.DefaultCloud with what the config's simulate.cloud
// sets instead; a per-offering stock or spot model takes the cloud's
// values for what it leaves out. Spot notices and protection the section
// leaves out follow each provider's cloud (sim.AlibabaSpotNotice and
// sim.AlibabaSpotProtection for Alibaba; the defaults, AWS's, for the
// others).
func realisticCloud(seed uint64, sc config.SimCloud, clouds offeringClouds) *sim.Cloud {
	c := sim.DefaultCloud(seed)
	set := func(dst *time.Duration, v *policy.Duration) {
		if v != nil {
			*dst = v.D()
		}
	}
	set(&c.MeanInStock, sc.MeanInStock)
	set(&c.MeanOutOfStock, sc.MeanOutOfStock)
	set(&c.CapacityTTL, sc.CapacityTTL)
	set(&c.SpotMeanLife, sc.SpotMeanLife)
	set(&c.SpotNotice, sc.SpotNotice)
	set(&c.SpotProtection, sc.SpotProtection)
	set(&c.QuotaTTL, sc.QuotaTTL)
	// spotOf is a provider's spot model: the cloud's, with its own
	// notice and protection where the section gives none.
	spotOf := func(provider string) (sim.SpotModel, bool) {
		m := sim.SpotModel{MeanLife: c.SpotMeanLife, Notice: c.SpotNotice, Protection: c.SpotProtection}
		if clouds.kinds[provider] != config.ProviderAlicloud || (sc.SpotNotice != nil && sc.SpotProtection != nil) {
			return m, false
		}
		if sc.SpotNotice == nil {
			m.Notice = sim.AlibabaSpotNotice
		}
		if sc.SpotProtection == nil {
			m.Protection = sim.AlibabaSpotProtection
		}
		return m, true
	}
	for name := range clouds.kinds {
		if m, own := spotOf(name); own {
			if c.SpotByProvider == nil {
				c.SpotByProvider = map[string]sim.SpotModel{}
			}
			c.SpotByProvider[name] = m
		}
	}
	if sc.BootP95 != nil {
		c.BootP95 = *sc.BootP95
	}
	for name, o := range sc.Offerings {
		if o.BootP95 != nil {
			if c.OfferingBootP95 == nil {
				c.OfferingBootP95 = map[string]float64{}
			}
			c.OfferingBootP95[name] = *o.BootP95
		}
		if o.MeanInStock != nil || o.MeanOutOfStock != nil || len(o.OutOfStock) > 0 {
			m := sim.StockModel{MeanInStock: c.MeanInStock, MeanOutOfStock: c.MeanOutOfStock}
			set(&m.MeanInStock, o.MeanInStock)
			set(&m.MeanOutOfStock, o.MeanOutOfStock)
			for _, w := range o.OutOfStock {
				m.OutOfStock = append(m.OutOfStock, sim.Window{From: w.From.D(), Until: w.From.D() + w.For.D()})
			}
			if c.Stock == nil {
				c.Stock = map[string]sim.StockModel{}
			}
			c.Stock[name] = m
		}
		if o.SpotMeanLife != nil || o.SpotNotice != nil || o.SpotProtection != nil {
			m, _ := spotOf(clouds.provider[name])
			set(&m.MeanLife, o.SpotMeanLife)
			set(&m.Notice, o.SpotNotice)
			set(&m.Protection, o.SpotProtection)
			if c.Spot == nil {
				c.Spot = map[string]sim.SpotModel{}
			}
			c.Spot[name] = m
		}
	}
	if len(sc.Quota) > 0 {
		c.Quota = make(map[string]int, len(sc.Quota))
		for k, n := range sc.Quota {
			c.Quota[k] = n
		}
	}
	return c
}

// baselineKnobs are the baselines' knobs the config's simulate.baselines
// sets (--baseline-opt is applied over them).
func baselineKnobs(b config.SimBaselines) sim.BaselineKnobs {
	var k sim.BaselineKnobs
	if b.Threshold.Target != nil {
		k.ThresholdTarget = *b.Threshold.Target
	}
	if b.Threshold.Cooldown != nil {
		k.ThresholdCooldown, k.ThresholdCooldownSet = b.Threshold.Cooldown.D(), true
	}
	if b.Threshold.Interval != nil {
		k.ThresholdInterval = b.Threshold.Interval.D()
	}
	if b.PerJob.Suspend != nil {
		k.PerJobSuspend, k.PerJobSuspendSet = b.PerJob.Suspend.D(), true
	}
	if b.PerJob.ResumeRate != nil {
		k.PerJobResumeRate = *b.PerJob.ResumeRate
	}
	if b.PerJob.ResumeTimeout != nil {
		k.PerJobResumeTimeout = b.PerJob.ResumeTimeout.D()
	}
	if b.PerJob.InsufficientCapacityTimeout != nil {
		k.PerJobICETimeout, k.PerJobICETimeoutSet = b.PerJob.InsufficientCapacityTimeout.D(), true
	}
	if b.Karpenter.ConsolidateAfter != nil {
		k.KarpenterConsolidateAfter, k.KarpenterConsolidateAfterSet = b.Karpenter.ConsolidateAfter.D(), true
	}
	if b.Karpenter.ConsolidationPolicy != nil {
		k.KarpenterConsolidation = *b.Karpenter.ConsolidationPolicy
	}
	if b.Karpenter.Evict != nil {
		k.KarpenterEvict = *b.Karpenter.Evict
	}
	if b.Karpenter.SpotToSpot != nil {
		k.KarpenterSpotToSpot = *b.Karpenter.SpotToSpot
	}
	if b.Karpenter.RegistrationTTL != nil {
		k.KarpenterRegistrationTTL = b.Karpenter.RegistrationTTL.D()
	}
	return k
}

func choosePool(cfg *config.Config, name string) (*config.Pool, error) {
	if len(cfg.Pools) == 0 {
		return nil, fmt.Errorf("config has no pools to simulate")
	}
	if name == "" {
		return &cfg.Pools[0], nil
	}
	var names []string
	for i, p := range cfg.Pools {
		if p.Policy.Name == name {
			return &cfg.Pools[i], nil
		}
		names = append(names, p.Policy.Name)
	}
	return nil, fmt.Errorf("--pool %q: no such pool (the config has %s)", name, strings.Join(names, ", "))
}

// seedsRange says what --seeds takes, where a value is out of range.
const (
	maxSeeds   = 100
	seedsRange = "want 1 to 100"
)

// jitterRange says what --jitter takes, where a value is out of range: a
// day moves a submit time past any daily pattern the trace has.
const (
	maxJitter   = 24 * time.Hour
	jitterRange = "want 0s to 24h"
)

// defaultMaxSweepRuns bounds a sweep's runs (points × --seeds) unless
// --max-runs says otherwise: a run of a months-long trace takes seconds to
// a minute a core, so more than this many would take hours to days.
const (
	defaultMaxSweepRuns = 1000
	maxMaxRuns          = 100000
	maxRunsRange        = "want 1 to 100000"
)

// defaultMaxJobRuns bounds the jobs a sweep replays in all (the trace's
// jobs × its runs) unless --max-job-runs says otherwise: --max-runs alone
// let 1000 runs of a million-job trace start, a billion jobs replayed.
const (
	defaultMaxJobRuns = 100_000_000
	maxMaxJobRuns     = 1_000_000_000_000
	maxJobRunsRange   = "want 1 to 1000000000000"
)

// checkJobRuns refuses a sweep of runs runs (points × --seeds) of a
// trace of jobs jobs that replays more than --max-job-runs jobs in all,
// naming both numbers, the --seeds these points allow and the flag.
func checkJobRuns(f simulateFlags, points, runs, jobs int) error {
	total := int64(jobs) * int64(runs) // at most 1e7 jobs × 1e5 runs
	if total <= f.maxJobRuns {
		return nil
	}
	want := "sweep fewer values or a part of the trace (--where)"
	if most := f.maxJobRuns / (int64(jobs) * int64(points)); most >= 1 {
		want = fmt.Sprintf("--seeds 1 to %d for these points, %s", most, want)
	}
	return usagef("--sweep: %s × %s = %s of a trace of %s replay %d jobs in all, more than --max-job-runs %d (hours to days): want %s, or raise --max-job-runs (at most %d)",
		sim.Counted(points, "point", "points"), sim.Counted(f.seeds, "seed", "seeds"), sim.Counted(runs, "run", "runs"), sim.Counted(jobs, "job", "jobs"),
		total, f.maxJobRuns, want, int64(maxMaxJobRuns))
}

// checkSimulateRanges refuses a numeric flag out of its range before the
// config and the trace are read (a large trace takes a while). --seed
// takes any uint64, which pflag checks.
func checkSimulateRanges(f simulateFlags) error {
	if f.seeds < 1 || f.seeds > maxSeeds {
		return usagef("--seeds %d: %s", f.seeds, seedsRange)
	}
	if f.jitter < 0 || f.jitter > maxJitter {
		return usagef("--jitter %s: %s", config.DurationString(f.jitter), jitterRange)
	}
	if f.maxRuns < 1 || f.maxRuns > maxMaxRuns {
		return usagef("--max-runs %d: %s", f.maxRuns, maxRunsRange)
	}
	if f.maxJobRuns < 1 || f.maxJobRuns > maxMaxJobRuns {
		return usagef("--max-job-runs %d: %s", f.maxJobRuns, maxJobRunsRange)
	}
	return nil
}

// onpremRange says what --onprem-gpus takes, where a value is out of range.
var onpremRange = fmt.Sprintf("want 0 (no on-prem GPUs: every job runs on the cloud) to %d, or a percentile of the trace's demand such as p50", config.MaxPoolGPUs)

// onpremFlag is --onprem-gpus: a GPU count, or pNN, a quantile of the
// trace's demand (sim.OnPremAt).
type onpremFlag struct {
	gpus     int64
	quantile bool
	q        float64 // 0 to 1, when quantile
	text     string
	demand   int // the trace's demand at q, once read
}

func (o *onpremFlag) String() string {
	if o.text == "" {
		return "0"
	}
	return o.text
}

// set reports whether the flag was given (else the config's onprem holds).
func (o *onpremFlag) set() bool { return o.text != "" }

// Type names what the flag takes in --help and in flagError's wants.
func (o *onpremFlag) Type() string { return "gpus" }

func (o *onpremFlag) Set(s string) error {
	if rest, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(s)), "p"); ok {
		pct, err := strconv.ParseFloat(rest, 64)
		if err != nil || math.IsNaN(pct) || pct < 0 || pct > 100 {
			return fmt.Errorf("percentile %q: not a number from 0 to 100", rest)
		}
		*o = onpremFlag{quantile: true, q: pct / 100, text: s}
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return err
	}
	*o = onpremFlag{gpus: n, text: s}
	return nil
}

// note says how --onprem-gpus pNN sized the pool.
func (o *onpremFlag) note(pool policy.Pool) string {
	return fmt.Sprintf("on-prem sized at the trace's %s demand, %s in use if every job started on arrival, in whole %d-GPU nodes (at least one)",
		o.text, policyPlural(o.demand, "GPU"), pool.OnPrem.GPUsPerNode)
}

// readStdinTrace reads --trace - : a trace piped in, streamed (gzip, bzip2,
// zstd, xz and tar are read as they come; a zip archive needs its path).
func readStdinTrace(ctx context.Context, in io.Reader, opts trace.Options) (*trace.Trace, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return nil, errors.New("--trace -: standard input is a terminal, not a trace: pipe one in (e.g. zcat jobs.csv.gz | spillway simulate --trace -) or give its path")
	}
	return trace.ReadContext(ctx, "stdin", in, opts)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressLine rewrites one stderr line at most four times a second.
type progressLine struct {
	mu    sync.Mutex
	w     io.Writer
	last  time.Time
	shown bool
}

func (p *progressLine) update(done float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now := time.Now(); now.Sub(p.last) >= 250*time.Millisecond {
		p.last = now
		p.shown = true
		if done >= 1 {
			// Past the trace's span, runs go on until their last jobs end.
			fmt.Fprint(p.w, "\rsimulating… trace time replayed, finishing the jobs still queued or running\033[K")
			return
		}
		fmt.Fprintf(p.w, "\rsimulating… %3.0f%% of trace time\033[K", done*100)
	}
}

// reading shows how much of the trace file is read: the share of its
// size, or the bytes read when its size is not known (a pipe).
func (p *progressLine) reading(read, size int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now := time.Now(); now.Sub(p.last) >= 250*time.Millisecond {
		p.last = now
		p.shown = true
		if size > 0 {
			fmt.Fprintf(p.w, "\rreading the trace… %3.0f%% of %s\033[K", 100*float64(min(read, size))/float64(size), sim.FormatBytes(size))
			return
		}
		fmt.Fprintf(p.w, "\rreading the trace… %s\033[K", sim.FormatBytes(read))
	}
}

// runs shows a sweep's progress: runs ended of all, the last always.
func (p *progressLine) runs(done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now := time.Now(); now.Sub(p.last) >= 250*time.Millisecond || done == total {
		p.last = now
		p.shown = true
		fmt.Fprintf(p.w, "\rsweeping… %d of %d runs\033[K", done, total)
	}
}

func (p *progressLine) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// Bounds of --max-memory.
const (
	minMemory = 64 << 20
	maxMemory = 1 << 40
)

// parseMemory reads --max-memory: a number of bytes with an optional KiB,
// MiB, GiB or TiB suffix (KB, MB, GB, TB are read as the same powers of
// two), from 64MiB to 1TiB.
func parseMemory(s string) (int64, error) {
	bad := func(why string) error {
		return fmt.Errorf("--max-memory %q: %s (want bytes from 64MiB to 1TiB, e.g. 512MiB or 8GiB)", s, why)
	}
	num := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"TB", 1 << 40}} {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, bad("not a size")
	}
	if f != f || f*float64(mult) < minMemory || f*float64(mult) > maxMemory {
		return 0, bad("out of range")
	}
	return int64(f * float64(mult)), nil
}

// checkPlotPath refuses, before the run, a --plot file the chart could not
// be written to when the run ends (a directory that is not there, a
// directory itself) or one named as another image format: the chart is SVG.
func checkPlotPath(path string) error {
	if path == "" {
		return nil
	}
	if ext := strings.ToLower(filepath.Ext(path)); ext != "" && ext != ".svg" {
		return fmt.Errorf("--plot %s: the chart is written as SVG; name the file with .svg (e.g. %s.svg)", path, strings.TrimSuffix(path, filepath.Ext(path)))
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("--plot %s: a directory; name a file such as %s", path, filepath.Join(path, "timeline.svg"))
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("--plot %s: its directory: %w", path, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("--plot %s: %s is not a directory", path, dir)
	}
	// The chart is written once the backtest is over, which may be minutes
	// away, and before the report: a file that cannot be written is
	// refused now, not after the run, its report lost with it.
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("--plot %s: cannot be written: %w (want a file this user may create or overwrite)", path, err)
	}
	f.Close()
	if errors.Is(statErr, fs.ErrNotExist) {
		// What the probe made: path, or the file a dangling link at path
		// names (removing path would take the link and leave that file).
		if made, err := filepath.EvalSymlinks(path); err == nil {
			os.Remove(made)
		}
	}
	return nil
}
