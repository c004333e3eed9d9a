package sim

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/sim/trace"
)

// SweepParam varies one setting: "wait_target" (the pool's, so the
// spillway policy's) or a baseline knob "policy.knob" (see
// BaselineKnobs.ParseBaselineKnob), over Values as written on the command
// line, in ascending order when they are all durations or all numbers
// (sortSweepValues).
type SweepParam struct {
	Name   string
	Values []string
}

// ParseSweepParam reads "name=v1,v2,…".
func ParseSweepParam(s string) (SweepParam, error) {
	name, vals, ok := strings.Cut(s, "=")
	if !ok || name == "" || vals == "" {
		return SweepParam{}, fmt.Errorf("sweep %q: want name=value,value,… (wait_target=0s,5m or per-job.suspend=0s,300s)", clipArg(s))
	}
	p := SweepParam{Name: name, Values: strings.Split(vals, ",")}
	if len(p.Values) > maxSweepValues {
		// The values themselves would fill the screen.
		return SweepParam{}, fmt.Errorf("sweep %s: %d values: want at most %d (sweep fewer at once, or a wider step)", clipArg(name), len(p.Values), maxSweepValues)
	}
	type setting struct {
		pool policy.Duration
		k    BaselineKnobs
	}
	seen := make(map[setting]string, len(p.Values))
	for _, v := range p.Values {
		pool, k, err := p.apply(v, policy.Pool{}, BaselineKnobs{})
		if err != nil {
			return SweepParam{}, err
		}
		// Two spellings of one setting (5m and 300s) would be two points
		// of the same runs, each dominating the other.
		at := setting{pool.WaitTarget, k}
		if first, ok := seen[at]; ok {
			return SweepParam{}, fmt.Errorf("sweep %s=%q: the same setting as %q: want each value once", p.Name, v, first)
		}
		seen[at] = v
	}
	sortSweepValues(p.Values)
	return p, nil
}

// sortSweepValues puts values in ascending order when all are durations
// (wait_target=10m,0s,2m: 0s, 2m, 10m) or all numbers
// (threshold.target=0.9,0.5), so that the table lists a policy's points,
// and the frontier's line joins them, in the order of the setting; other
// values (karpenter.evict=true,false) keep the order given.
func sortSweepValues(values []string) {
	key := make(map[string]float64, len(values))
	for _, v := range values {
		d, err := time.ParseDuration(v)
		if err != nil {
			key = nil
			break
		}
		key[v] = float64(d)
	}
	if key == nil {
		key = make(map[string]float64, len(values))
		for _, v := range values {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return
			}
			key[v] = f
		}
	}
	slices.SortStableFunc(values, func(a, b string) int { return cmp.Compare(key[a], key[b]) })
}

// policy is the policy the parameter tunes.
func (p SweepParam) policy() string {
	if p.Name == "wait_target" {
		return PolicySpillway
	}
	name, _, _ := strings.Cut(p.Name, ".")
	return name
}

func (p SweepParam) apply(v string, pool policy.Pool, k BaselineKnobs) (policy.Pool, BaselineKnobs, error) {
	if p.Name == "wait_target" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > 7*24*time.Hour {
			return pool, k, fmt.Errorf("sweep wait_target=%q: want a duration from 0s to 168h%s", v, config.DurationHint(v))
		}
		pool.WaitTarget = policy.Duration(d)
		return pool, k, nil
	}
	err := k.ParseBaselineKnob(p.Name + "=" + v)
	if errors.Is(err, errUnknownKnob) {
		return pool, k, fmt.Errorf("sweep %q: unknown setting (want wait_target, spillway's, or a baseline's knob: %s)", clipArg(p.Name), knobNames)
	}
	return pool, k, err
}

// maxSweepValues is the most values one --sweep takes.
const maxSweepValues = 64

// clipArg is s cut to 64 bytes (at a rune), for a message that quotes a
// command-line argument of any length.
func clipArg(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// CheckBoots refuses, before any run, a value of p that
// BaselineKnobs.CheckBoots refuses on pool over k for policies.
func (p SweepParam) CheckBoots(pool policy.Pool, k BaselineKnobs, policies []string) error {
	for _, v := range p.Values {
		pl, kv, err := p.apply(v, pool, k)
		if err == nil {
			err = kv.CheckBoots(&pl, policies)
		}
		if err != nil {
			return fmt.Errorf("sweep %s=%s: %w", p.Name, v, err)
		}
	}
	return nil
}

// Sweep runs each policy at each value of its swept parameter (or once, at
// its settings, when none is swept) over several seeds: each seed jitters
// submit times and draws its own cloud.
type Sweep struct {
	Pool     policy.Pool
	Trace    *trace.Trace
	Policies []string
	Knobs    BaselineKnobs
	Params   []SweepParam
	// Seeds is the number of runs per point (at least 1), on seeds
	// FirstSeed, FirstSeed+1, … (simulate's --seed, else the config's
	// simulate.cloud.seed, else 1); seed s jitters every submit time by up
	// to Jitter and draws Cloud(s).
	Seeds     int
	FirstSeed uint64
	Jitter    time.Duration
	Cloud     func(seed uint64) *Cloud
	// MaxInstances bounds each run's launches (Options.MaxInstances);
	// Workers runs go at once.
	MaxInstances int
	// Progress, when set, is told each time a run ends: how many have
	// ended of how many. It is called from the runs' goroutines, one call
	// at a time.
	Progress func(done, total int)
}

// SweepPoint is one policy at one setting, over the seeds: means, and the
// spread (min–max) of cost and p95 wait.
type SweepPoint struct {
	Policy      string  `json:"policy"`
	Setting     string  `json:"setting"`
	Runs        int     `json:"runs"`
	CostUSD     float64 `json:"cost_usd"`
	CostMinUSD  float64 `json:"cost_min_usd"`
	CostMaxUSD  float64 `json:"cost_max_usd"`
	WaitP95S    float64 `json:"wait_p95_s"`
	WaitP95MinS float64 `json:"wait_p95_min_s"`
	WaitP95MaxS float64 `json:"wait_p95_max_s"`
	WaitP99S    float64 `json:"wait_p99_s"`
	Efficiency  float64 `json:"efficiency"`
	// JobsUnstarted is the mean number of jobs that never started
	// (Result.JobsUnstarted and JobsNeverServed): their waits count only
	// until the run ended, or not at all, so a point that leaves more of
	// them unstarted dominates none.
	JobsUnstarted float64 `json:"jobs_unstarted"`
	// neverServed is the mean number of those never served
	// (Result.JobsNeverServed), left out of the waits.
	neverServed float64
	DominatedBy []string `json:"dominated_by"`
	// CostsUSD and WaitP95sS are each seed's cost and p95 wait, the first
	// seed (Sweep.FirstSeed) first: every point's seed s ran the same jittered trace and drew the
	// same cloud, so points compare seed by seed (Pairs).
	CostsUSD  []float64 `json:"costs_usd"`
	WaitP95sS []float64 `json:"wait_p95s_s"`
}

// Label names the point: "policy" or "policy setting".
func (p SweepPoint) Label() string {
	if p.Setting == "" {
		return p.Policy
	}
	return p.Policy + " " + p.Setting
}

// Size is how many points the sweep has (each policy at each value of
// its swept parameter, or once) and how many runs (points × Seeds).
func (sw Sweep) Size() (points, runs int) {
	for _, name := range sw.Policies {
		n := 1
		for i := range sw.Params {
			if sw.Params[i].policy() == name {
				n = len(sw.Params[i].Values)
			}
		}
		points += n
	}
	return points, points * max(1, sw.Seeds)
}

// Run simulates every point and seed, on every core, and returns the
// points in policy then value order; the result does not depend on
// scheduling.
func (sw Sweep) Run(ctx context.Context) ([]SweepPoint, error) {
	seeds := max(1, sw.Seeds)
	first := sw.FirstSeed
	type run struct {
		point int
		seed  uint64
		opts  Options
	}
	var points []SweepPoint
	var runs []run
	traces := make([]*trace.Trace, seeds)
	for s := range seeds {
		traces[s] = jitter(sw.Trace, first+uint64(s), sw.Jitter)
	}
	for _, name := range sw.Policies {
		settings := []string{""}
		var param *SweepParam
		for i := range sw.Params {
			if sw.Params[i].policy() == name {
				param = &sw.Params[i]
				settings = param.Values
			}
		}
		for _, v := range settings {
			pool, knobs := sw.Pool, sw.Knobs
			label := ""
			if param != nil {
				var err error
				if pool, knobs, err = param.apply(v, pool, knobs); err != nil {
					return nil, err
				}
				label = param.Name + "=" + v
			}
			pol, err := PolicyWith(name, knobs)
			if err != nil {
				return nil, err
			}
			points = append(points, SweepPoint{Policy: name, Setting: label})
			for s := range seeds {
				p := pool
				o := Options{Pool: &p, Trace: traces[s], Policy: pol, MaxInstances: sw.MaxInstances,
					Floors: scheduleFloors}
				if sw.Cloud != nil {
					o.Cloud = sw.Cloud(first + uint64(s))
				}
				runs = append(runs, run{point: len(points) - 1, seed: first + uint64(s), opts: o})
			}
		}
	}
	results := make([]Result, len(runs))
	errs := make([]error, len(runs))
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ended := 0
	for range Workers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i], errs[i] = Run(ctx, runs[i].opts)
				if sw.Progress != nil {
					mu.Lock()
					ended++
					sw.Progress(ended, len(runs))
					mu.Unlock()
				}
			}
		}()
	}
	for i := range runs {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("%s seed %d: %w", points[runs[i].point].Label(), runs[i].seed, err)
		}
	}
	for i := range points {
		pt := &points[i]
		pt.CostMinUSD, pt.WaitP95MinS = math.Inf(1), math.Inf(1)
		for k, r := range runs {
			if r.point != i {
				continue
			}
			res := results[k]
			pt.Runs++
			pt.CostUSD += res.CloudCostUSD
			pt.WaitP95S += res.WaitP95S
			pt.WaitP99S += res.WaitP99S
			pt.Efficiency += res.Efficiency
			pt.JobsUnstarted += float64(res.JobsUnstarted + res.JobsNeverServed)
			pt.neverServed += float64(res.JobsNeverServed)
			pt.CostsUSD, pt.WaitP95sS = append(pt.CostsUSD, res.CloudCostUSD), append(pt.WaitP95sS, res.WaitP95S)
			pt.CostMinUSD, pt.CostMaxUSD = min(pt.CostMinUSD, res.CloudCostUSD), max(pt.CostMaxUSD, res.CloudCostUSD)
			pt.WaitP95MinS, pt.WaitP95MaxS = min(pt.WaitP95MinS, res.WaitP95S), max(pt.WaitP95MaxS, res.WaitP95S)
		}
		n := float64(pt.Runs)
		pt.CostUSD, pt.WaitP95S, pt.WaitP99S, pt.Efficiency = pt.CostUSD/n, pt.WaitP95S/n, pt.WaitP99S/n, pt.Efficiency/n
		pt.JobsUnstarted, pt.neverServed = pt.JobsUnstarted/n, pt.neverServed/n
	}
	markSweepDominated(points)
	return points, nil
}

// markSweepDominated sets each point's DominatedBy: the points of other
// policies that, on their means over the seeds, cost less and wait no
// longer at p95, or cost no more and wait less, with no more jobs left
// unserved (unstarted or never served) nor never served: the single report's
// rule (markDominated), so
// that a sweep on one seed marks what a backtest of that point does.
func markSweepDominated(points []SweepPoint) {
	for i := range points {
		a := &points[i]
		a.DominatedBy = []string{}
		for _, b := range points {
			if b.Policy != a.Policy && b.JobsUnstarted <= a.JobsUnstarted && b.neverServed <= a.neverServed &&
				((b.CostUSD < a.CostUSD && b.WaitP95S <= a.WaitP95S) || (b.CostUSD <= a.CostUSD && b.WaitP95S < a.WaitP95S)) {
				a.DominatedBy = append(a.DominatedBy, b.Label())
			}
		}
	}
}

// Workers is how many runs a sweep makes at once: one per core the Go
// runtime uses.
func Workers() int { return runtime.GOMAXPROCS(0) }

// SweepPair compares a spillway point with another policy's point seed by
// seed. On each seed both ran the same jittered trace and drew the same
// cloud (common random numbers), so the difference between them varies
// far less over the seeds than either figure does: a difference whose
// min–max excludes zero is not seed noise.
type SweepPair struct {
	Point   string `json:"point"`   // the spillway point's label
	Against string `json:"against"` // the other point's label
	Seeds   int    `json:"seeds"`
	// CostDiffPct is the mean over seeds of Point's cost against
	// Against's, in percent (−5: 5% cheaper), with its min and max.
	CostDiffPct    float64 `json:"cost_diff_pct"`
	CostDiffMinPct float64 `json:"cost_diff_min_pct"`
	CostDiffMaxPct float64 `json:"cost_diff_max_pct"`
	// CheaperSeeds counts the seeds on which Point cost less.
	CheaperSeeds int `json:"cheaper_seeds"`
	// WaitP95DiffS is the mean over seeds of Point's p95 wait less
	// Against's, in seconds, with its min and max.
	WaitP95DiffS    float64 `json:"wait_p95_diff_s"`
	WaitP95DiffMinS float64 `json:"wait_p95_diff_min_s"`
	WaitP95DiffMaxS float64 `json:"wait_p95_diff_max_s"`
}

// Pairs compares every spillway point with every point of each other
// policy that rents (a point that cost nothing on some seed, onprem-only's,
// has no cost to compare with), seed by seed; nil without a spillway point.
func Pairs(pts []SweepPoint) []SweepPair {
	var out []SweepPair
	for _, a := range pts {
		if a.Policy != PolicySpillway {
			continue
		}
		for _, b := range pts {
			n := min(len(a.CostsUSD), len(b.CostsUSD))
			if b.Policy == PolicySpillway || n == 0 || slices.Min(b.CostsUSD[:n]) <= 0 {
				continue
			}
			pr := SweepPair{Point: a.Label(), Against: b.Label(), Seeds: n,
				CostDiffMinPct: math.Inf(1), CostDiffMaxPct: math.Inf(-1), WaitP95DiffMinS: math.Inf(1), WaitP95DiffMaxS: math.Inf(-1)}
			for s := range n {
				c := (a.CostsUSD[s]/b.CostsUSD[s] - 1) * 100
				w := a.WaitP95sS[s] - b.WaitP95sS[s]
				pr.CostDiffPct += c / float64(n)
				pr.WaitP95DiffS += w / float64(n)
				pr.CostDiffMinPct, pr.CostDiffMaxPct = min(pr.CostDiffMinPct, c), max(pr.CostDiffMaxPct, c)
				pr.WaitP95DiffMinS, pr.WaitP95DiffMaxS = min(pr.WaitP95DiffMinS, w), max(pr.WaitP95DiffMaxS, w)
				if a.CostsUSD[s] < b.CostsUSD[s] {
					pr.CheaperSeeds++
				}
			}
			out = append(out, pr)
		}
	}
	return out
}

// jitter returns tr with every submit time moved later by up to d, drawn
// from seed, sorted again; d 0 returns tr.
func jitter(tr *trace.Trace, seed uint64, d time.Duration) *trace.Trace {
	if d <= 0 {
		return tr
	}
	r := rand.New(rand.NewPCG(seed, 0x717))
	out := *tr
	out.Jobs = slices.Clone(tr.Jobs)
	for i := range out.Jobs {
		out.Jobs[i].Submit += time.Duration(r.Int64N(int64(d)))
	}
	slices.SortStableFunc(out.Jobs, func(a, b trace.Job) int {
		if a.Submit < b.Submit {
			return -1
		}
		if a.Submit > b.Submit {
			return 1
		}
		return 0
	})
	first := out.Jobs[0].Submit
	for i := range out.Jobs {
		out.Jobs[i].Submit -= first
	}
	return &out
}

// WriteSweep prints the points as a table: mean cost and p95 wait with
// their spread over the seeds, and the points that dominate each.
func WriteSweep(w io.Writer, pts []SweepPoint, seeds int) error {
	fmt.Fprintf(w, "%s per point: mean [min–max] over seeds; a point is dominated when another policy's point costs less and waits no longer at p95, or costs no more and waits less, with no more jobs left unserved nor never served (means)\n\n", Counted(max(1, seeds), "seed", "seeds"))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "policy\tsetting\tcloud $\tp95 wait\tp99 wait\tefficiency\tdominated by\t")
	for _, p := range pts {
		set := p.Setting
		if set == "" {
			set = "-"
		}
		dom := strings.Join(p.DominatedBy, ", ")
		if dom == "" {
			dom = "-"
		}
		eff := "-" // rented nothing on any seed, as the run's report shows it
		if p.CostMaxUSD > 0 {
			eff = strconv.FormatFloat(p.Efficiency, 'f', 2, 64)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s [%s–%s]\t%s [%s–%s]\t%s\t%s\t%s\t\n", p.Policy, set,
			money(p.CostUSD), money(p.CostMinUSD), money(p.CostMaxUSD),
			humanSeconds(p.WaitP95S), humanSeconds(p.WaitP95MinS), humanSeconds(p.WaitP95MaxS),
			humanSeconds(p.WaitP99S), eff, dom)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writePairs(w, Pairs(pts))
}

// writePairs prints the seed-by-seed comparisons of spillway's points.
func writePairs(w io.Writer, prs []SweepPair) error {
	if len(prs) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\nspillway seed by seed (each seed: the same jittered trace and cloud draw for every policy): its cost and p95 wait against each point, mean [min–max] of the per-seed differences\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "spillway	against	cost	cheaper on	p95 wait	")
	for _, p := range prs {
		fmt.Fprintf(tw, "%s	%s	%s [%s – %s]	%d of %s	%s [%s – %s]	\n", settingOr(p.Point), p.Against,
			signedPct(p.CostDiffPct), signedPct(p.CostDiffMinPct), signedPct(p.CostDiffMaxPct), p.CheaperSeeds, Counted(p.Seeds, "seed", "seeds"),
			signedSeconds(p.WaitP95DiffS), signedSeconds(p.WaitP95DiffMinS), signedSeconds(p.WaitP95DiffMaxS))
	}
	return tw.Flush()
}

// settingOr is a spillway point's label without the policy's name, or "-".
func settingOr(label string) string {
	if s, ok := strings.CutPrefix(label, PolicySpillway+" "); ok {
		return s
	}
	return "-"
}

// signedPct shows a difference in percent to a tenth, with its sign ("+0.0%"
// when it rounds to none).
func signedPct(v float64) string {
	v = math.Round(v*10) / 10
	if v == 0 {
		v = 0 // not -0
	}
	return fmt.Sprintf("%+.1f%%", v)
}

// signedSeconds shows a difference of waits with its sign.
func signedSeconds(v float64) string {
	if v < 0 {
		return "-" + humanSeconds(-v)
	}
	return "+" + humanSeconds(v)
}
