package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

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
	policies                  []string
	onpremGPUs                int
	json, progress            bool
}

func newSimulateCmd() *cobra.Command {
	var f simulateFlags
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Backtest a pool's burst policy on a GPU job trace, against baseline policies",
		Long: `simulate replays a job trace through a discrete-event simulation of one pool
and reports what each policy would have cost and how long jobs would have waited.

The pool has nodes × gpus_per_node on-prem GPUs (or --onprem-gpus). Jobs are
placed in arrival order, first fit, skipping jobs that do not fit (greedy
backfill); a job larger than a node takes whole nodes. A job that does not fit
on-prem goes onto a ready cloud instance. Instances take work once their
offering's boot time has passed and are billed by their billing rule from
launch to termination. Spot interruptions and stock-outs are not simulated.

Policies, all on the same trace and offerings:
  spillway     the pool's own policy (policy.Decide every pool interval)
  onprem-only  no cloud at all
  threshold    target tracking (Nomad Autoscaler style): every 60 s size cloud
               GPUs so (busy + queued) / total GPUs approaches 80%, 5-minute
               cooldown, cheapest offering only
  per-job      Slurm power saving: resume a cloud node for every queued job
               that cannot start, suspend a node after 300 s idle

Columns:
  cloud $       what the cloud instances were billed, in USD
  paid GPU-h    GPU-hours billed (instance GPUs × billed time)
  used GPU-h    GPU-hours that jobs ran on cloud instances
  efficiency    used GPU-h × the cheapest offering's price per GPU-hour ÷ cloud $;
                1.00 is the limit (every dollar bought a working GPU-hour at the
                best price on offer); "-" when nothing was paid
  wait p50 … max  time from submit to start over all jobs (! marks a p95 above
                the pool's wait target)
  jobs on cloud jobs that ran on cloud instances
  launches      cloud instances launched

--json prints the same as one object: trace {name, jobs, span_s}, pool,
onprem_gpus, wait_target_s, wall_seconds, and results, one per policy, with
policy, cloud_cost_usd, paid_gpu_hours, used_gpu_hours, efficiency,
wait_p50_s, wait_p95_s, wait_p99_s, wait_max_s, jobs_on_cloud, launches,
jobs_unstarted and jobs_killed.

Traces (format recognised from the CSV header): Microsoft ITP
(job_id,submission_time,duration,num_gpu), Microsoft Philly
(timestamp,duration,num_gpus,gpu_time,cluster), SenseTime Helios per-minute
sequences (time,…,running_gpu_num,pending_gpu_num,…), or your own
(submit_s,duration_s,gpus). Without --config and --trace it backtests the
bundled configs/examples/backtest.yaml on the bundled ITP cluster02 trace.`,
		Example: `  spillway simulate
  spillway simulate --trace configs/traces/philly/philly.csv --onprem-gpus 424
  spillway simulate --config spillway.yaml --pool v100 --trace jobs.csv --json
  spillway simulate --policies spillway,per-job --plot timeline.svg`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSimulate(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "config file (default: the embedded configs/examples/backtest.yaml)")
	fl.StringVar(&f.pool, "pool", "", "pool to simulate (default: the config's first pool)")
	fl.StringVar(&f.trace, "trace", "", "job trace CSV (default: the embedded "+configs.DefaultTraceName+")")
	fl.IntVar(&f.onpremGPUs, "onprem-gpus", 0, "on-prem GPUs, rounded up to whole nodes of the pool's gpus_per_node (default: the pool's onprem)")
	fl.BoolVar(&f.json, "json", false, "print the report as JSON")
	fl.StringVar(&f.plot, "plot", "", "write an SVG timeline of the first policy's run to this file")
	fl.StringSliceVar(&f.policies, "policies", sim.PolicyNames, "policies to run, comma-separated")
	fl.BoolVar(&f.progress, "progress", false, "show a progress line on stderr even when it is not a terminal")
	fl.StringVar(&f.maxMemory, "max-memory", sim.FormatBytes(sim.DefaultMemoryLimit), "memory the backtest may use (e.g. 512MiB, 8GiB); a trace with more jobs than fit is refused")
	return cmd
}

func runSimulate(cmd *cobra.Command, f simulateFlags) error {
	var (
		cfg *config.Config
		err error
	)
	if f.config == "" {
		cfg, err = config.Parse("configs/examples/backtest.yaml (embedded)", configs.BacktestYAML)
	} else {
		cfg, err = config.LoadContext(cmd.Context(), f.config)
	}
	if err != nil {
		return err
	}
	pool, err := choosePool(cfg, f.pool)
	if err != nil {
		return err
	}
	if f.onpremGPUs < 0 || f.onpremGPUs > config.MaxPoolGPUs {
		return fmt.Errorf("--onprem-gpus %d: want 0 (use the config) to %d", f.onpremGPUs, config.MaxPoolGPUs)
	}
	if f.onpremGPUs > 0 {
		pool = sim.WithOnPremGPUs(pool, f.onpremGPUs)
	}
	var pols []sim.Policy
	for _, name := range f.policies {
		p, err := sim.PolicyByName(strings.TrimSpace(name))
		if err != nil {
			return fmt.Errorf("--policies: %w", err)
		}
		pols = append(pols, p)
	}
	if len(pols) == 0 {
		return fmt.Errorf("--policies: empty (want some of %s)", strings.Join(sim.PolicyNames, ", "))
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
	var tr *trace.Trace
	if f.trace == "" {
		tr, err = trace.ReadWith(configs.DefaultTraceName, bytes.NewReader(configs.DefaultTraceCSV), topts)
	} else {
		tr, err = trace.LoadWith(f.trace, topts)
	}
	if errors.Is(err, trace.ErrTooManyJobs) {
		return fmt.Errorf("%w: --max-memory %s holds %d jobs for %d policies (about %d bytes a job each); raise --max-memory (e.g. --max-memory %s for twice as many) or run fewer --policies",
			err, sim.FormatBytes(limit), maxJobs, len(pols), sim.BytesPerJob, sim.FormatBytes(sim.MemoryFor(2*maxJobs, len(pols))))
	}
	if err != nil {
		return err
	}
	if len(tr.Jobs) == 0 {
		return fmt.Errorf("trace %s has no jobs", tr.Name)
	}

	bt := sim.Backtest{Pool: pool, Trace: tr, Policies: pols, Timeline: f.plot != "", MaxInstances: maxInstances}
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
		return fmt.Errorf("%w: --max-memory %s holds %d instances per policy (about %d bytes each); raise --max-memory or run fewer --policies",
			err, sim.FormatBytes(limit), maxInstances, sim.BytesPerInstance)
	}
	if err != nil {
		return err
	}
	rep.WallSeconds = time.Since(began).Seconds()

	if f.plot != "" {
		var buf bytes.Buffer
		if err := sim.WritePlot(&buf, rep, rep.Results[0]); err != nil {
			return err
		}
		if err := os.WriteFile(f.plot, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
	}
	out := cmd.OutOrStdout()
	if f.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteTable(out)
}

func choosePool(cfg *config.Config, name string) (policy.Pool, error) {
	if len(cfg.Pools) == 0 {
		return policy.Pool{}, fmt.Errorf("config has no pools to simulate")
	}
	if name == "" {
		return cfg.Pools[0].Policy, nil
	}
	var names []string
	for _, p := range cfg.Pools {
		if p.Policy.Name == name {
			return p.Policy, nil
		}
		names = append(names, p.Policy.Name)
	}
	return policy.Pool{}, fmt.Errorf("--pool %q: no such pool (the config has %s)", name, strings.Join(names, ", "))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
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
		fmt.Fprintf(p.w, "\rsimulating… %3.0f%% of trace time", done*100)
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
