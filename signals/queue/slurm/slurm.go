// Package slurm reads pending GPU demand of a Slurm partition with squeue:
// each pending job's GPU request and how long it has waited.
package slurm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/signals"
)

// Config says which pending jobs count as demand.
type Config struct {
	// Name identifies the source; "slurm:<partition>" when empty.
	Name string `yaml:"name,omitempty"`
	// Squeue is the squeue program; "squeue" (looked up in PATH) when empty.
	Squeue string `yaml:"squeue,omitempty"`
	// Scontrol is the scontrol program, used to check that Partition
	// exists; beside Squeue when that is a path, else "scontrol".
	Scontrol string `yaml:"scontrol,omitempty"`
	// SlurmConf is passed to squeue as SLURM_CONF; when empty squeue
	// inherits SLURM_CONF from the environment, or uses its default.
	SlurmConf string `yaml:"slurm_conf,omitempty"`
	// Partition limits the jobs to one partition; all partitions when empty.
	Partition string `yaml:"partition,omitempty"`
	// Accounts and QOS further limit the jobs when set.
	Accounts []string `yaml:"accounts,omitempty"`
	QOS      []string `yaml:"qos,omitempty"`
	// SkipReasons lists pending reasons of jobs that could not run even
	// with free GPUs, so are not demand; DefaultSkipReasons when empty.
	// A reason may be a pattern, * standing for any text (QOSMax*).
	SkipReasons []string `yaml:"skip_reasons,omitempty"`
	// CountAll counts every pending job, whatever its reason.
	CountAll bool `yaml:"count_all,omitempty"`
	// GPUTypes, when set, are the GPU types (TYPE in gres/gpu:TYPE:N, as
	// the burst nodes' gres.conf names them) that the pool's instances
	// offer: a pending job that asks for another type is not demand, since
	// no instance the pool rents could start it. A job that asks for GPUs
	// of no type counts. Empty: every job counts, whatever type it asks.
	GPUTypes []string `yaml:"gpu_types,omitempty"`
	// Shapes are the GPUs, vCPUs and memory of the instances the pool
	// rents (from its offerings, not the config's slurm: section). A
	// pending job on one node that asks for more CPUs or memory than the
	// smallest shape holding its GPUs counts as the GPUs of the smallest
	// shape that holds it all, so the launch for it can start it; one no
	// shape holds is not demand. Empty: jobs count by their GPUs alone.
	Shapes []policy.Shape `yaml:"-"`
	// Features, when set, are the node features (slurm.conf's Features)
	// the burst nodes have: a pending job whose --constraint they cannot
	// meet (an on-prem rack, a node type the pool does not rent) is not
	// demand, since no instance the pool rents could start it. Empty:
	// constraints are not read.
	Features []string `yaml:"features,omitempty"`
}

// DefaultSkipReasons are the pending reasons that do not make a job demand:
// held jobs (also once requeued too often), jobs that may not start yet,
// jobs waiting on other jobs, and jobs held back by something more nodes
// would not give them: an association's or QOS's limit (Assoc*, QOS*,
// Max*PerAccount, and the AccountingPolicy fallback), an account or QOS
// the partition refuses, a partition that is down, whose time limit the
// job exceeds, or whose per-node limits its request does (PartitionConfig:
// MaxCPUsPerNode; MaxMemPerLimit: MaxMemPerNode or MaxMemPerCPU, which a
// burst node in the partition has too), a license, constraints no node
// meets, an array task beyond its array's limit of tasks running at once
// (--array=1-100%4), an advanced reservation the job waits for (its
// nodes are the reservation's, never a burst node) or that was deleted,
// and a deadline the job can no longer meet (Slurm's job reason codes).
// Resources and Priority, a job waiting for nodes, are demand, and so is
// ReqNodeNotAvail (the nodes it could use are down, drained or reserved),
// and PartitionNodeLimit (it asks more nodes than the partition has up).
var DefaultSkipReasons = []string{"JobHeldUser", "JobHeldAdmin", "JobHoldMaxRequeue", "BeginTime", "Dependency", "DependencyNeverSatisfied",
	"Assoc*", "QOS*", "Max*PerAccount", "AccountingPolicy", "AccountNotAllowed", "InvalidAccount", "InvalidQOS",
	"PartitionDown", "PartitionInactive", "PartitionTimeLimit", "PartitionConfig", "MaxMemPerLimit", "Licenses", "BadConstraints", "JobArrayTaskLimit",
	"Reservation", "ReservationDeleted", "DeadLine"}

// Problems lists what is wrong with cfg: a skip reason that is a malformed
// pattern, a GPU type that could not name one.
func (cfg Config) Problems() []string {
	var problems []string
	for i, t := range cfg.GPUTypes {
		if t == "" || strings.ContainsAny(t, ":,=()/ ") {
			problems = append(problems, fmt.Sprintf("gpu_types[%d] %q is not a GPU type (want the TYPE of gres/gpu:TYPE:N, such as h100)", i, signals.Shorten(t, 60)))
		}
	}
	for i, f := range cfg.Features {
		if f == "" || strings.ContainsAny(f, "&|,[]()*!: ") {
			problems = append(problems, fmt.Sprintf("features[%d] %q is not a node feature (want a name as slurm.conf's Features lists it, such as ib)", i, signals.Shorten(f, 60)))
		}
	}
	for i, r := range cfg.SkipReasons {
		if _, err := path.Match(r, ""); err != nil || r == "" {
			problems = append(problems, fmt.Sprintf("skip_reasons[%d] %q is not a reason or a pattern of reasons (* stands for any text, e.g. QOSMax*)", i, signals.Shorten(r, 60)))
		}
	}
	return problems
}

// reasonSkipped is a pending reason matched against skip_reasons.
type reasonSkipped struct {
	reason  string
	skipped bool
}

// skippedOnce is skipped, remembering the first 16 reasons of a read in
// seen.
func (s *Source) skippedOnce(seen *[]reasonSkipped, reason string) bool {
	for _, r := range *seen {
		if r.reason == reason {
			return r.skipped
		}
	}
	skip := s.skipped(reason)
	if len(*seen) < 16 {
		*seen = append(*seen, reasonSkipped{reason, skip})
	}
	return skip
}

// skipped reports whether a job pending for reason is not demand.
func (s *Source) skipped(reason string) bool {
	for _, r := range s.skip {
		if r == reason {
			return true
		}
		if strings.ContainsAny(r, `*?[\`) {
			if ok, _ := path.Match(r, reason); ok {
				return true
			}
		}
	}
	return false
}

// Fields squeue prints, one job per line, each field followed by "|".
// JobArrayID is the job's id, ARRAY_TASK for an array's task (1234_7).
// tres-per-* hold GPU requests (--gpus under tres-per-job, --gres=gpu under
// tres-per-node, --gpus-per-task under tres-per-task).
// MinMemory and tres-alloc (for a pending job, what it asks: cpu=N,mem=M)
// hold its CPUs and memory, matched to the pool's shapes, HetJobID the
// job id of a heterogeneous job's leader on each of its components (N/A
// for another job), tres-per-socket --gpus-per-socket's GPUs, SCT the
// job's sockets per node first (--sockets-per-node, "2:*:*"), and Feature
// its --constraint, last, as a constraint may hold a |; a line without them
// (an older format) reads as a job, not a component, that asks for none.
var fields = []string{"JobArrayID", "tres-per-job", "tres-per-node", "tres-per-task", "NumNodes", "NumTasks", "Reason", "SubmitTime", "EligibleTime",
	"MinMemory", "tres-alloc", "HetJobID", "tres-per-socket", "SCT", "Feature"}

const (
	fJobID = iota
	fPerJob
	fPerNode
	fPerTask
	fNodes
	fTasks
	fReason
	fSubmit
	fEligible
	fMinMemory
	fTRES
	fHetJob
	fPerSocket
	fSCT
	fFeature

	// minFields are the fields a line must have.
	minFields = fEligible + 1
)

// Option changes a Source.
type Option func(*Source)

// WithNow injects the clock used for reading times and waits.
func WithNow(now func() time.Time) Option { return func(s *Source) { s.now = now } }

// WithLocation sets the time zone squeue prints times in (time.Local by default).
func WithLocation(loc *time.Location) Option { return func(s *Source) { s.loc = loc } }

// Source reads pending jobs of a partition with squeue.
type Source struct {
	cfg  Config
	name string
	skip []string
	now  func() time.Time
	loc  *time.Location

	// reasons are the codes squeue --json gave for the last read's
	// described reasons, by job ID and description (resolveReasons): a
	// job held for hours costs one JSON listing of the whole queue, not
	// one every read.
	mu      sync.Mutex
	reasons map[string]string
}

var _ signals.DemandSource = (*Source)(nil)

// New returns a Source for cfg.
func New(cfg Config, opts ...Option) *Source {
	s := &Source{cfg: cfg, now: time.Now, loc: time.Local, skip: cfg.SkipReasons}
	if s.cfg.Squeue == "" {
		s.cfg.Squeue = "squeue"
	}
	if len(s.skip) == 0 {
		s.skip = DefaultSkipReasons
	}
	s.name = cfg.Name
	if s.name == "" {
		s.name = "slurm:" + cfg.Partition
		if cfg.Partition == "" {
			s.name = "slurm"
		}
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Name identifies the source.
func (s *Source) Name() string { return s.name }

// Args returns squeue's arguments (without the program name).
func (s *Source) Args() []string {
	format := make([]string, len(fields))
	for i, f := range fields {
		format[i] = f + ":|"
	}
	// -r lists each pending array task on its own line; the sort is
	// priority, highest first, then job id: the order Slurm starts them in.
	// --all lists the jobs of hidden partitions and of partitions the
	// server's user may not use, which squeue leaves out for a user other
	// than root or SlurmUser: a hidden partition's queue read as empty.
	args := []string{"--noheader", "--all", "--array", "--states=PENDING", "--sort=-p,i", "--Format=" + strings.Join(format, ",")}
	if s.cfg.Partition != "" {
		args = append(args, "--partition="+s.cfg.Partition)
	}
	if len(s.cfg.Accounts) > 0 {
		args = append(args, "--account="+strings.Join(s.cfg.Accounts, ","))
	}
	if len(s.cfg.QOS) > 0 {
		args = append(args, "--qos="+strings.Join(s.cfg.QOS, ","))
	}
	return args
}

// Error is a failed squeue read.
type Error struct {
	Source string
	// Output is what the failed program printed on standard error (on
	// standard output when its standard error was empty), trimmed.
	Output string
	Err    error
	// permanent marks output that squeue will keep printing (a parse error).
	permanent bool
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("slurm source %q: %v", e.Source, e.Err)
	if e.Output != "" {
		msg += ": " + e.Output
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether retrying cannot help.
func (e *Error) Permanent() bool { return e.permanent }

// Demand runs squeue once and sums the pending jobs' GPU requests. When
// nothing is pending in the configured partition, it checks with scontrol
// that the partition exists, so that a misspelt name is an error rather than
// a queue that always reads empty.
func (s *Source) Demand(ctx context.Context) (signals.Demand, error) {
	out, err := s.run(ctx, s.cfg.Squeue, s.Args()...)
	if err != nil {
		return signals.Demand{}, err
	}
	jobs, err := pendingJobs(out)
	if err != nil {
		return signals.Demand{}, &Error{Source: s.name, Err: err, permanent: true}
	}
	if !s.cfg.CountAll {
		s.resolveReasons(ctx, jobs)
	}
	var arr *arrays
	if !s.cfg.CountAll && slices.ContainsFunc(jobs, func(j job) bool { return arrayID(j[0]) != "" }) {
		if arr, err = s.arrayRoom(ctx); err != nil {
			return signals.Demand{}, err
		}
	}
	d, err := s.count(jobs, s.now(), arr)
	if err != nil {
		return signals.Demand{}, &Error{Source: s.name, Err: err, permanent: true}
	}
	if strings.TrimSpace(out) == "" && s.cfg.Partition != "" {
		if _, err := s.run(ctx, s.scontrol(), "--all", "show", "partition", "--oneliner", s.cfg.Partition); err != nil {
			var serr *Error
			if errors.As(err, &serr) && ctx.Err() == nil && serr.Output != "" {
				serr.Err = fmt.Errorf("checking partition %q (squeue listed no jobs in it): %w", s.cfg.Partition, serr.Err)
				serr.permanent = true
			}
			return signals.Demand{}, err
		}
	}
	return d, nil
}

// scontrol is the scontrol program: beside squeue when squeue is a path.
func (s *Source) scontrol() string {
	if s.cfg.Scontrol != "" {
		return s.cfg.Scontrol
	}
	if strings.ContainsRune(s.cfg.Squeue, filepath.Separator) {
		return filepath.Join(filepath.Dir(s.cfg.Squeue), "scontrol")
	}
	return "scontrol"
}

// MaxOutput is the most of a Slurm client's output read: about 250
// bytes a job for signals.MaxListedJobs jobs. A program printing without
// end (a wrapper gone wrong) was held whole in memory until its timeout.
const MaxOutput = 256 << 20

// run runs a Slurm client and returns its standard output (at most
// MaxOutput of it; past it, an error naming the limit).
func (s *Source) run(ctx context.Context, prog string, args ...string) (string, error) {
	// Output past MaxOutput fails the read whatever follows: the program
	// is ended there, not left to print until the read's deadline.
	run, stop := context.WithCancel(ctx)
	defer stop()
	cmd := exec.CommandContext(run, prog, args...)
	cmd.WaitDelay = time.Second
	cmd.Env = s.env(os.Environ())
	stdout, stderr := signals.LimitedBuffer{Max: MaxOutput, Full: stop}, signals.LimitedBuffer{Max: 4096}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A wrapper (an ssh to the login node) ends with what it started.
	err := signals.RunGroup(cmd)
	if stdout.Truncated() {
		return "", &Error{Source: s.name, Err: fmt.Errorf("%s printed more than %d bytes, the most of its output read (a queue of about %d jobs; is it %s?)", prog, MaxOutput, signals.MaxListedJobs, filepath.Base(prog))}
	}
	if err == nil {
		return stdout.String(), nil
	}
	name := filepath.Base(prog)
	switch {
	case ctx.Err() != nil:
		err = fmt.Errorf("running %s: %w (%v)", prog, ctx.Err(), err)
	case errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist):
		return "", &Error{Source: s.name, permanent: true,
			Err: fmt.Errorf("%s program %q not found (set its path in the source's config, or install slurm-client): %w", name, prog, err)}
	default:
		err = fmt.Errorf("running %s: %w", prog, err)
	}
	out := strings.TrimSpace(stderr.String())
	if out == "" {
		out = strings.TrimSpace(stdout.String())
	}
	return "", &Error{Source: s.name, Output: signals.Shorten(out, 500), Err: err}
}

// env is the Slurm clients' environment: environ (the server's), less
// what would change which jobs squeue lists or how it prints them, so
// that the queue read is the one the config names whoever runs the server
// or `signals check`. Each SQUEUE_* variable stands for one of squeue's
// options (a login profile's SQUEUE_USERS=$USER listed that user's jobs
// alone, SQUEUE_PRIORITY=1 listed a job pending in partitions p1,p2 once
// a partition, SQUEUE_PARTITION narrowed a source set to read every
// partition), SLURM_TIME_FORMAT=relative printed a submit time as
// "12:38:45", which no read could parse, and SLURM_CLUSTERS (squeue's
// --clusters) read another cluster's queue, or failed every read where
// no slurmdbd knows the cluster; and SLURM_BITSTR_LEN (64 unset) cut an
// array's pending tasks past that many characters ("2-3,5,…,73,7..."), so
// the array run could not tell which still pended and counted all the
// queue's run had listed (TestLongArrayTaskListIsReadWhole): times are
// read in the standard format, the queue is the local cluster's
// (SLURM_CONF's), an array's tasks are listed whole (0: no limit), and
// SLURM_CONF is the source's when it sets one.
func (s *Source) env(environ []string) []string {
	env := make([]string, 0, len(environ)+3)
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "SQUEUE_"), k == "SLURM_TIME_FORMAT", k == "SLURM_CLUSTERS", k == "SLURM_BITSTR_LEN":
		case k == "SLURM_CONF" && s.cfg.SlurmConf != "":
		default:
			env = append(env, kv)
		}
	}
	env = append(env, "SLURM_TIME_FORMAT=standard", "SLURM_BITSTR_LEN=0")
	if s.cfg.SlurmConf != "" {
		env = append(env, "SLURM_CONF="+s.cfg.SlurmConf)
	}
	return env
}

// ArrayArgs are the arguments (without the program name) of the squeue
// run that reads the tasks arrays may start: each array's pending
// record, whose task range ends in %N when the array runs at most N tasks
// at once (--array=1-100%N, kept however long the range), and each of
// its tasks that runs, in any partition (a task pending in p1,p2 runs in
// either).
func ArrayArgs() []string {
	return []string{"--noheader", "--all", "--states=PENDING,RUNNING,CONFIGURING,SUSPENDED", "--Format=ArrayJobID:|,ArrayTaskID:|,StateCompact:|"}
}

// arrayRoom reads, with squeue's ArrayArgs, the tasks each array has
// pending and how many more each array with a limit of tasks at once
// (--array=1-100%N) may start: N less its tasks running. Slurm says
// JobArrayTaskLimit only of the tasks pending once N run; until then they
// all pend for Resources or Priority, and all of them read as demand,
// however few may run at once.
func (s *Source) arrayRoom(ctx context.Context) (*arrays, error) {
	out, err := s.run(ctx, s.cfg.Squeue, ArrayArgs()...)
	if err != nil {
		return nil, err
	}
	return parseArrayRoom(out), nil
}

// arrays is what the second squeue run (ArrayArgs) read of the arrays. It
// runs after the queue's: tasks may stop pending in between (cancelled,
// or started), and it is the later of the two, so a task the queue listed
// counts only if it still pends there (TestArrayChangedBetweenSqueueRuns:
// an array cancelled in between read as one without a limit, every task
// demand).
type arrays struct {
	// room is how many more tasks each array with a limit may start; an
	// array without a limit, or with one that does not read, has no
	// entry: its tasks count as before.
	room map[string]int
	// pending are the tasks each array has pending, by array job id, as
	// sorted ranges; an array with none has no entry, and one whose tasks
	// squeue did not list in full ("5,7,...", as it shortens a long list)
	// or that do not read, a nil one: any of its tasks may pend.
	pending map[string][]taskRange
}

// taskRange is the array tasks lo to hi.
type taskRange struct{ lo, hi int }

// maxTaskRanges bounds the ranges of pending tasks kept from one read:
// past it an array's tasks read as any (a nil entry), its room alone
// bounding them.
const maxTaskRanges = 1 << 20

// pends reports whether task (the TASK of ARRAY_TASK, as the queue's run
// lists it) of array a still pended at the array run.
func (a *arrays) pends(array, task string) bool {
	if a == nil {
		return true
	}
	ranges, ok := a.pending[array]
	if !ok {
		return false
	}
	n, err := atoi(strings.TrimSpace(task))
	if ranges == nil || err != nil {
		return true
	}
	i, _ := slices.BinarySearchFunc(ranges, n, func(r taskRange, n int) int { return cmp.Compare(r.hi, n) })
	return i < len(ranges) && ranges[i].lo <= n
}

// parseArrayRoom reads ArrayArgs' output: ARRAY_JOB_ID|TASKS|STATE| a
// line, TASKS of a pending record the tasks it holds (1-10%3, 4,7-9, 5),
// with the array's limit after %.
func parseArrayRoom(out string) *arrays {
	limit, running := map[string]int{}, map[string]int{}
	a := &arrays{pending: map[string][]taskRange{}}
	kept := 0
	for line := range strings.Lines(out) {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) < 3 || f[1] == "N/A" || f[1] == "" {
			continue // not an array
		}
		id := strings.TrimSpace(f[0])
		if strings.TrimSpace(f[2]) != "PD" {
			running[id]++
			continue
		}
		tasks := f[1]
		if i := strings.LastIndexByte(f[1], '%'); i >= 0 {
			tasks = f[1][:i]
			if n, err := atoi(strings.TrimSpace(f[1][i+1:])); err == nil && n > 0 {
				limit[id] = n
			}
		}
		ranges, known := a.pending[id]
		if known && ranges == nil {
			continue // already any
		}
		more, ok := taskRanges(tasks, maxTaskRanges-kept)
		if !ok {
			a.pending[id] = nil
			continue
		}
		kept += len(more)
		a.pending[id] = append(ranges, more...)
	}
	for id, r := range a.pending {
		slices.SortFunc(r, func(x, y taskRange) int { return cmp.Compare(x.lo, y.lo) })
		a.pending[id] = r
	}
	a.room = make(map[string]int, len(limit))
	for id, n := range limit {
		a.room[id] = max(n-running[id], 0)
	}
	return a
}

// taskRanges reads a pending record's tasks (1-10, 4,7-9, [5], 1-9:2, the
// limit cut off) as at most max ranges; false when they do not read, or
// squeue shortened them (5,7,...).
func taskRanges(tasks string, max int) ([]taskRange, bool) {
	tasks = strings.TrimSpace(tasks)
	tasks = strings.TrimSuffix(strings.TrimPrefix(tasks, "["), "]")
	var ranges []taskRange
	for t := range strings.SplitSeq(tasks, ",") {
		if len(ranges) >= max {
			return nil, false
		}
		t, _, _ = strings.Cut(t, ":") // a step: its range holds its tasks
		lo, hi, isRange := strings.Cut(t, "-")
		l, err := atoi(strings.TrimSpace(lo))
		if err != nil || l < 0 {
			return nil, false
		}
		h := l
		if isRange {
			if h, err = atoi(strings.TrimSpace(hi)); err != nil || h < l {
				return nil, false
			}
		}
		ranges = append(ranges, taskRange{l, h})
	}
	return ranges, true
}

// arrayID is the array's job id on the line of one of its tasks (1234
// of 1234_7), "" on another job's.
func arrayID(f []string) string {
	id, _ := arrayTask(f)
	return id
}

// arrayTask is the array's job id and the task's on the line of one of
// its tasks (1234 and 7 of 1234_7), "" on another job's.
func arrayTask(f []string) (id, task string) {
	id, task, ok := strings.Cut(strings.TrimSpace(f[fJobID]), "_")
	if !ok {
		return "", ""
	}
	return id, task
}

// beyondArrayLimit is why an array's tasks beyond what it may start are
// not demand.
const beyondArrayLimit = "beyond their array's %N limit of tasks running at once"

// noLongerPending is why an array's tasks that stopped pending between
// squeue's two runs (cancelled, or started) are not demand.
const noLongerPending = "no longer pending when squeue read their array's limit"

// parse reads squeue's output, with no array limits known.
func (s *Source) parse(out string, now time.Time) (signals.Demand, error) {
	jobs, err := pendingJobs(out)
	if err != nil {
		return signals.Demand{Source: s.name, Time: now, PendingGPUsKnown: true, JobGPUs: []int{}, JobWaits: []time.Duration{}}, err
	}
	return s.count(jobs, now, nil)
}

// count sums the pending jobs that are demand. arr, when read
// (arrayRoom), says which array tasks still pend and how many more tasks
// each array with a limit of tasks at once may start: of the tasks still
// pending, its first in squeue's order (the order Slurm starts them in)
// up to that many are demand, the rest are left out.
func (s *Source) count(jobs []job, now time.Time, arr *arrays) (signals.Demand, error) {
	d := signals.Demand{Source: s.name, Time: now, PendingGPUsKnown: true, JobGPUs: []int{}, JobWaits: []time.Duration{}}
	taken := map[string]int{}
	var oldest time.Time
	// A queue's jobs pend for a handful of reasons: each is matched
	// against skip_reasons once a read.
	var seen []reasonSkipped
	// Each job's CPUs and memory per node, with shapes to match them to.
	var cpus []int
	var mem []int64
	for _, j := range jobs {
		if why := s.leftOut(&seen, j); why != "" {
			d.AddLeftOut(why)
			continue
		}
		if a, task := arrayTask(j[0]); a != "" && arr != nil {
			if !arr.pends(a, task) {
				d.AddLeftOut(noLongerPending)
				continue
			}
			if r, limited := arr.room[a]; limited {
				if taken[a] >= r {
					d.AddLeftOut(beyondArrayLimit)
					continue
				}
				taken[a]++
			}
		}
		gpus, start, err := s.asks(j, now)
		if err != nil {
			return d, err
		}
		if len(s.cfg.Shapes) > 0 {
			// A job on several nodes spans instances, which the policy
			// decides: it counts by its GPUs, as a job without GPUs
			// does, and as a heterogeneous job does.
			n := need{}
			if gpus > 0 && len(j) == 1 {
				if n = jobNeed(j[0]); n.nodes > 1 {
					n = need{}
				}
			}
			cpus, mem = append(cpus, n.cpus), append(mem, n.memMiB)
		}
		d.PendingJobs++
		d.PendingGPUs += gpus
		d.JobGPUs = append(d.JobGPUs, gpus)
		d.JobWaits = append(d.JobWaits, signals.WaitSince(now, start))
		if oldest.IsZero() || start.Before(oldest) {
			oldest = start
		}
	}
	if !oldest.IsZero() {
		d.OldestWaitKnown = true
		d.OldestWait = signals.WaitSince(now, oldest)
	}
	signals.FitJobs(&d, s.cfg.Shapes, cpus, mem)
	return d, nil
}

// job is one pending job as squeue lists it: the fields of its line, or
// of each component of a heterogeneous job, in squeue's order.
type job [][]string

// pendingJobs reads squeue's lines into jobs, in the order of each job's
// first line. squeue lists each component of a heterogeneous job (sbatch
// ... : ..., shown as JOBID+0, JOBID+1 by squeue -o %i) as a line of its
// own, with its own GPU request and the leader's id as HetJobID: its
// components start together, so they are one job.
func pendingJobs(out string) ([]job, error) {
	var jobs []job
	het := map[string]int{} // HetJobID: its job's index in jobs
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := strings.Split(line, "|")
		if len(f) < minFields {
			// 120 bytes: quoted, a byte that is no character's takes 4.
			return nil, fmt.Errorf("squeue line %q has %d fields, want at least %d (%s)", signals.Shorten(line, 120), len(f), minFields, strings.Join(fields, ","))
		}
		if id := hetJobID(f); id != "" {
			if i, ok := het[id]; ok {
				jobs[i] = append(jobs[i], f)
				continue
			}
			het[id] = len(jobs)
		}
		jobs = append(jobs, job{f})
	}
	return jobs, nil
}

// hetJobID is the leader's job id on a component of a heterogeneous job,
// "" on another job (N/A) or a line without the field.
func hetJobID(f []string) string {
	if len(f) <= fHetJob {
		return ""
	}
	switch id := strings.TrimSpace(f[fHetJob]); id {
	case "", "N/A", "0", "(null)":
		return ""
	default:
		return id
	}
}

// leftOut says why job j is not demand, "" when it is: a heterogeneous
// job's components start together, so it is left out when any one of them
// is (pending for a skipped reason, asking for a GPU type or a constraint
// the burst nodes do not offer).
func (s *Source) leftOut(seen *[]reasonSkipped, j job) string {
	for _, f := range j {
		if !s.cfg.CountAll && s.skippedOnce(seen, f[fReason]) {
			return "pending for " + signals.Shorten(f[fReason], 60)
		}
		if len(s.cfg.GPUTypes) > 0 {
			if t := otherGPUType(f, s.cfg.GPUTypes); t != "" {
				return "asking for GPU type " + signals.Shorten(t, 40) + ", not in gpu_types"
			}
		}
		if len(s.cfg.Features) > 0 && len(f) > fFeature {
			// The last field: a constraint's | split it.
			c := strings.Join(f[fFeature:len(f)-1], "|")
			if f[len(f)-1] != "" {
				c = strings.Join(f[fFeature:], "|")
			}
			if !meets(c, s.cfg.Features) {
				return "asking for nodes with " + signals.Shorten(strings.TrimSpace(c), 40) + ", not in features"
			}
		}
	}
	return ""
}

// asks is the GPUs job j asks for, the sum of its components' for a
// heterogeneous job, and when it began to wait (its earliest component).
func (s *Source) asks(j job, now time.Time) (gpus int, start time.Time, err error) {
	for i, f := range j {
		g, err := jobGPUs(f)
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("job %s: %w", signals.Shorten(f[fJobID], 40), err)
		}
		if g > signals.MaxJobGPUs-gpus {
			return 0, time.Time{}, fmt.Errorf("heterogeneous job %s: its components ask for more than %d GPUs in all, out of range for a job", signals.Shorten(f[fHetJob], 40), signals.MaxJobGPUs)
		}
		gpus += g
		t, err := s.waitStart(f, now)
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("job %s: %w", signals.Shorten(f[fJobID], 40), err)
		}
		if i == 0 || t.Before(start) {
			start = t
		}
	}
	return gpus, start, nil
}

// waitStart is when the job began to wait: when it became eligible to run,
// or when it was submitted if Slurm does not know that yet. A start more
// than MaxWait before now (a job held for years and counted with
// count_all, or a mangled date) reads as MaxWait before now: one old job
// must not make the whole queue unreadable.
func (s *Source) waitStart(f []string, now time.Time) (time.Time, error) {
	const layout = "2006-01-02T15:04:05"
	t, err := time.ParseInLocation(layout, f[fEligible], s.loc)
	if err != nil || t.After(now) {
		if t, err = time.ParseInLocation(layout, f[fSubmit], s.loc); err != nil {
			return time.Time{}, fmt.Errorf("SubmitTime %q is not a time like %s", signals.Shorten(f[fSubmit], 40), layout)
		}
	}
	if bound := now.Add(-signals.MaxWait); t.Before(bound) {
		return bound, nil
	}
	return t, nil
}

// jobGPUs is the GPUs one pending job asks for: the most of its
// requests, as Slurm gives it every one of them: per job, per node ×
// nodes, per task × tasks, and per socket × sockets a node × nodes
// (--gpus-per-socket, which Slurm takes only with --sockets-per-node).
func jobGPUs(f []string) (int, error) {
	perJob, err := ParseGPUs(f[fPerJob])
	if err != nil {
		return 0, fmt.Errorf("tres-per-job: %w", err)
	}
	gpus := perJob
	perNode, err := ParseGPUs(f[fPerNode])
	if err != nil {
		return 0, fmt.Errorf("tres-per-node: %w", err)
	}
	if perNode > 0 {
		n, err := leadingInt(f[fNodes])
		if err != nil {
			return 0, fmt.Errorf("NumNodes %q: %w", signals.Shorten(f[fNodes], 20), err)
		}
		g, err := signals.JobGPUs(perNode, max(n, 1))
		if err != nil {
			return 0, err
		}
		gpus = max(gpus, g)
	}
	perTask, err := ParseGPUs(f[fPerTask])
	if err != nil {
		return 0, fmt.Errorf("tres-per-task: %w", err)
	}
	if perTask > 0 {
		n, err := leadingInt(f[fTasks])
		if err != nil {
			return 0, fmt.Errorf("NumTasks %q: %w", signals.Shorten(f[fTasks], 20), err)
		}
		g, err := signals.JobGPUs(perTask, max(n, 1))
		if err != nil {
			return 0, err
		}
		gpus = max(gpus, g)
	}
	if len(f) <= fSCT {
		return gpus, nil // an older format
	}
	perSocket, err := ParseGPUs(f[fPerSocket])
	if err != nil {
		return 0, fmt.Errorf("tres-per-socket: %w", err)
	}
	if perSocket > 0 {
		n, err := leadingInt(f[fNodes])
		if err != nil {
			return 0, fmt.Errorf("NumNodes %q: %w", signals.Shorten(f[fNodes], 20), err)
		}
		// SCT is "2:*:*", sockets first; * (none asked) is one.
		sockets, err := leadingInt(strings.TrimSpace(f[fSCT]))
		if err != nil {
			sockets = 1
		}
		g, err := signals.JobGPUs(perSocket, max(n, 1))
		if err == nil {
			g, err = signals.JobGPUs(g, max(sockets, 1))
		}
		if err != nil {
			return 0, fmt.Errorf("tres-per-socket %q on %s sockets: %w", signals.Shorten(f[fPerSocket], 40), signals.Shorten(f[fSCT], 20), err)
		}
		gpus = max(gpus, g)
	}
	return gpus, nil
}

// ParseGPUs returns the GPU count in a Slurm TRES string, 0 when it asks for
// none. It accepts a comma-separated list whose GPU item is written
// "gres/gpu:N", "gres:gpu:N", "gres/gpu:TYPE:N", "gpu:N", "gpu:TYPE:N",
// "gres/gpu=N" or "gres/gpu:TYPE=N", or "gres:gpu:TYPE" and "gpu" for one;
// "N/A" and "" mean none. Several typed items add up.
func ParseGPUs(tres string) (int, error) {
	tres = strings.TrimSpace(tres)
	if tres == "" || tres == "N/A" || tres == "(null)" {
		return 0, nil
	}
	total := 0
	for item := range strings.SplitSeq(tres, ",") {
		item = strings.TrimSpace(item)
		for _, p := range []string{"gres/", "gres:", "tres/"} {
			item = strings.TrimPrefix(item, p)
		}
		if item != "gpu" && !strings.HasPrefix(item, "gpu:") && !strings.HasPrefix(item, "gpu=") {
			continue
		}
		// A request may carry a suffix: "gpu:2(IDX:0-1)" or "gpu:a100:2(S:0)".
		if i := strings.IndexByte(item, '('); i >= 0 {
			item = item[:i]
		}
		count := "1"
		if i := strings.LastIndexByte(item, '='); i >= 0 {
			count = item[i+1:]
		} else if parts := strings.Split(item, ":"); len(parts) > 2 || (len(parts) == 2 && !typeName(parts[1])) {
			count = parts[len(parts)-1]
		}
		n, err := atoi(count)
		if err != nil || n < 0 {
			if err == nil {
				err = errors.New("negative")
			}
			return 0, fmt.Errorf("GPU request %q in %q: count %q is not a whole number (want gres/gpu:N or gres/gpu:TYPE:N): %w",
				signals.Shorten(item, 40), signals.Shorten(tres, 100), signals.Shorten(count, 20), err)
		}
		if n > signals.MaxJobGPUs-total {
			return 0, fmt.Errorf("GPU request %q in %q: %d GPUs is out of range: want at most %d for a job", signals.Shorten(item, 40), signals.Shorten(tres, 100), n, signals.MaxJobGPUs)
		}
		total += n
	}
	return total, nil
}

// otherGPUType is a GPU type that a job's TRES fields ask for and types
// does not hold (compared without case), "" when there is none: the job
// asks for GPUs of no type, or of the listed types only.
func otherGPUType(f []string, types []string) string {
	for _, tres := range [...]string{f[fPerJob], f[fPerNode], f[fPerTask]} {
		for item := range strings.SplitSeq(tres, ",") {
			t := gpuType(item)
			if t != "" && !containsFold(types, t) {
				return t
			}
		}
	}
	return ""
}

// gpuType is the TYPE of one TRES item, gres/gpu:TYPE:N or
// gres/gpu:TYPE=N; "" for an item that asks for no GPU or names no type.
func gpuType(item string) string {
	item = strings.TrimSpace(item)
	for _, p := range []string{"gres/", "gres:", "tres/"} {
		item = strings.TrimPrefix(item, p)
	}
	rest, ok := strings.CutPrefix(item, "gpu:")
	if !ok {
		return ""
	}
	if i := strings.IndexByte(rest, '('); i >= 0 {
		rest = rest[:i] // gpu:a100:2(S:0)
	}
	if i := strings.IndexByte(rest, '='); i >= 0 {
		return rest[:i] // gpu:a100=2
	}
	t, _, typed := strings.Cut(rest, ":")
	if !typed && !typeName(t) {
		return "" // gpu:2
	}
	return t // gpu:a100:2, or gpu:a100 (one GPU)
}

// typeName reports whether s, what follows gpu: in a TRES item with no
// other ':', is a GPU type rather than a count: sbatch --gres=gpu:a100 (or
// --gpus=a100) asks for one GPU of type a100, which squeue shows as
// gres:gpu:a100. A count is digits, maybe signed; a type, as gres.conf
// names it, is anything else (a100, or a MIG profile such as 3g.20gb).
func typeName(s string) bool {
	digits := strings.TrimLeft(s, "+-")
	return digits != "" && strings.Trim(digits, "0123456789") != ""
}

func leadingInt(s string) (int, error) {
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	return atoi(s[:end])
}

// atoi is strconv.Atoi with an error that leaves the number out (it may be
// any length): the caller quotes it, truncated.
func atoi(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err == nil {
		return n, nil // before errors.As, whose target would escape on every call
	}
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		return n, ne.Err
	}
	return n, err
}
