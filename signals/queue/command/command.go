// Package command reads queue demand by running a program (no shell) and
// reading what it prints: a bare number, or a JSON object
// {"pending_jobs", "pending_gpus", "oldest_wait_s", "job_gpus": [...],
// "job_wait_s": [...]}.
package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/signals"
)

// What a bare number in the output counts.
const (
	NumberPendingGPUs = "pending_gpus"
	NumberPendingJobs = "pending_jobs"
)

// Config says which program to run and how to read its output.
type Config struct {
	// Name identifies the source; "command:<program's base name>" when empty.
	Name string `yaml:"name,omitempty"`
	// Command is the program and its arguments; no shell is involved.
	Command []string `yaml:"command"`
	// Dir is the working directory (the server's when empty).
	Dir string `yaml:"dir,omitempty"`
	// Env adds KEY=VALUE entries to the server's environment.
	Env []string `yaml:"env,omitempty"`
	// Number says what a bare number counts: pending_gpus (the default)
	// or pending_jobs.
	Number string `yaml:"number,omitempty"`
	// Timeout bounds one run; the process group is killed past it. Zero
	// leaves the bound to the caller's context.
	Timeout time.Duration `yaml:"timeout,omitempty"`
	// GPUsPerJob, when set, is what every pending job asks, for output
	// that lists no job_gpus: a count of jobs becomes that many jobs of
	// GPUsPerJob GPUs (a count of GPUs alone, ⌈GPUs / GPUsPerJob⌉ jobs),
	// so that the engine packs whole jobs instead of reading one-GPU ones
	// (signals.SameSizeJobs).
	GPUsPerJob int `yaml:"gpus_per_job,omitempty"`
	// Shapes are the pool's instances' GPUs, vCPUs and memory (from its
	// offerings, not the config's command: section): with job_cpus or
	// job_memory_gib in the output, a job counts as the smallest shape
	// that holds it (signals.FitJobs).
	Shapes []policy.Shape `yaml:"-"`
}

// MaxOutput is the most of standard output the source reads: room for
// signals.MaxListedJobs jobs, each with its GPUs, wait, CPUs and memory
// written at their longest and indented (75 MiB), as the http source
// reads them (1 MiB refused a list of 2^20 jobs' GPUs alone).
const MaxOutput = 128 << 20

// MaxValues bounds the JSON values and keys an object printed may hold,
// counted before it is decoded: room for four per-job lists of
// signals.MaxListedJobs numbers and as many values around them.
const MaxValues = 5 * signals.MaxListedJobs

// Option changes a Source.
type Option func(*Source)

// WithNow injects the clock used for reading times.
func WithNow(now func() time.Time) Option { return func(s *Source) { s.now = now } }

// Source runs one program per read.
type Source struct {
	cfg  Config
	name string
	now  func() time.Time
}

var _ signals.DemandSource = (*Source)(nil)

// New checks cfg and returns a Source.
func New(cfg Config, opts ...Option) (*Source, error) {
	s := &Source{cfg: cfg, name: cfg.Name, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	if s.cfg.Number == "" {
		s.cfg.Number = NumberPendingGPUs
	}
	if s.name == "" {
		s.name = "command"
		if len(cfg.Command) > 0 {
			s.name += ":" + filepath.Base(cfg.Command[0])
		}
	}
	var problems []string
	if len(cfg.Command) == 0 || cfg.Command[0] == "" {
		problems = append(problems, "command is empty (want the program and its arguments, e.g. [/usr/local/bin/queue-depth, --gpus])")
	}
	if s.cfg.Number != NumberPendingGPUs && s.cfg.Number != NumberPendingJobs {
		problems = append(problems, fmt.Sprintf("number %q is not pending_gpus or pending_jobs", cfg.Number))
	}
	if cfg.Timeout < 0 {
		problems = append(problems, fmt.Sprintf("timeout %s is negative", cfg.Timeout))
	}
	if cfg.GPUsPerJob < 0 || cfg.GPUsPerJob > signals.MaxJobGPUs {
		problems = append(problems, fmt.Sprintf("gpus_per_job %d is out of range (want 1 to %d, or 0 when jobs ask different numbers)", cfg.GPUsPerJob, signals.MaxJobGPUs))
	}
	for _, e := range cfg.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			problems = append(problems, fmt.Sprintf("env entry %q is not KEY=VALUE", e))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("command source %q: %s", s.name, strings.Join(problems, "; "))
	}
	return s, nil
}

// Name identifies the source.
func (s *Source) Name() string { return s.name }

// Error is a failed read.
type Error struct {
	Source string
	// Command is the program and arguments as run.
	Command []string
	// ExitCode is the program's exit status when it ran and failed, else -1.
	ExitCode int
	// Stderr is the program's standard error (truncated), when it failed.
	Stderr string
	Err    error
	// permanent marks a missing program or output it will keep printing.
	permanent bool
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("command source %q: %s: %v", e.Source, quoteCommand(e.Command), e.Err)
	if e.Stderr != "" {
		msg += fmt.Sprintf("; stderr: %q", e.Stderr)
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether running the program again cannot help: it is
// missing, or it printed something that is not a reading.
func (e *Error) Permanent() bool { return e.permanent }

func quoteCommand(c []string) string {
	q := make([]string, len(c))
	for i, a := range c {
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\$") {
			a = strconv.Quote(a)
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// Demand runs the program once and reads its output.
func (s *Source) Demand(ctx context.Context) (signals.Demand, error) {
	if s.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.Timeout)
		defer cancel()
	}
	// Output past MaxOutput fails the read whatever follows: the program
	// is ended there, not left to print until the timeout.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	fail := func(code int, stderr string, permanent bool, err error) (signals.Demand, error) {
		return signals.Demand{}, &Error{Source: s.name, Command: s.cfg.Command, ExitCode: code, Stderr: stderr, Err: err, permanent: permanent}
	}
	cmd := exec.CommandContext(ctx, s.cfg.Command[0], s.cfg.Command[1:]...)
	cmd.Dir = s.cfg.Dir
	if len(s.cfg.Env) > 0 {
		cmd.Env = append(os.Environ(), s.cfg.Env...)
	}
	// Its own process group, so that a timeout, or its exit, also ends
	// what it started.
	cmd.WaitDelay = time.Second
	stdout, stderr := signals.LimitedBuffer{Max: MaxOutput, Full: stop}, signals.LimitedBuffer{Max: 4096}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := signals.RunGroup(cmd)
	errText := signals.Shorten(strings.TrimSpace(stderr.String()), 500)
	if err != nil && !stdout.Truncated() {
		var exitErr *exec.ExitError
		switch {
		case ctx.Err() != nil:
			return fail(-1, errText, false, fmt.Errorf("did not finish: %w", ctx.Err()))
		case errors.Is(err, exec.ErrWaitDelay):
			return fail(-1, errText, false, fmt.Errorf("exited, but a process it started outside its process group (setsid, a daemon) still held its output open %s later: start that one with its output redirected (e.g. >/dev/null)", cmd.WaitDelay))
		case errors.As(err, &exitErr):
			return fail(exitErr.ExitCode(), errText, false, fmt.Errorf("failed: %w", err))
		case errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission):
			return fail(-1, "", true, fmt.Errorf("cannot run the program: %w", err))
		default:
			return fail(-1, errText, false, err)
		}
	}
	if stdout.Truncated() {
		return fail(0, "", true, fmt.Errorf("printed more than %d bytes (%d MiB), the most of its output read: room for a JSON object listing %d jobs (want a number or one JSON object; read a longer queue by its counts)", MaxOutput, MaxOutput>>20, signals.MaxListedJobs))
	}
	d, err := s.parse(stdout.String())
	if err != nil {
		return fail(0, "", true, err)
	}
	d.Source, d.Time = s.name, s.now()
	return signals.SameSizeJobs(d, s.cfg.GPUsPerJob), nil
}

// reading is the JSON object a program may print.
type reading struct {
	PendingJobs *float64  `json:"pending_jobs"`
	PendingGPUs *float64  `json:"pending_gpus"`
	OldestWaitS *float64  `json:"oldest_wait_s"`
	JobGPUs     []float64 `json:"job_gpus"`
	// JobWaitS is how long each job of JobGPUs has waited, in seconds.
	JobWaitS []float64 `json:"job_wait_s"`
	// JobCPUs and JobMemoryGiB are each job of JobGPUs' CPUs and memory.
	JobCPUs      []float64 `json:"job_cpus"`
	JobMemoryGiB []float64 `json:"job_memory_gib"`
}

// perJob converts vals, one per job of job_gpus (what says what a value
// is), with conv, whose error follows "name[i]" after sep.
func perJob[T any](quoted, name string, vals []float64, jobs int, what [2]string, sep string, conv func(float64) (T, error)) ([]T, error) {
	if vals == nil {
		return nil, nil
	}
	if len(vals) != jobs {
		return nil, fmt.Errorf("printed %s: %s has %d %s for %d jobs in job_gpus (want one %s per job, in the same order)", quoted, name, len(vals), what[1], jobs, what[0])
	}
	out := make([]T, len(vals))
	for i, v := range vals {
		var err error
		if out[i], err = conv(v); err != nil {
			return nil, fmt.Errorf("printed %s: %s[%d]%s%w", quoted, name, i, sep, err)
		}
	}
	return out, nil
}

func (s *Source) parse(out string) (signals.Demand, error) {
	var d signals.Demand
	// A byte order mark (a file written by a Windows editor, cat'ed) is
	// no part of the number or the object: it failed every read.
	text := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(out), "\ufeff"))
	quoted := strconv.Quote(signals.Shorten(text, 200))
	if strings.HasPrefix(text, "{") {
		if n := signals.JSONValues(text, MaxValues); n > MaxValues {
			return d, fmt.Errorf("printed %s: more than %d JSON values and keys, the most this source decodes (room for %d jobs' GPUs, waits, CPUs and memory)", quoted, MaxValues, signals.MaxListedJobs)
		}
		var r reading
		dec := json.NewDecoder(strings.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			// The error may quote a key or number of any length.
			return d, fmt.Errorf("printed %s, not a JSON object with pending_jobs, pending_gpus, oldest_wait_s, job_gpus, job_wait_s, job_cpus, job_memory_gib: %s", quoted, signals.Shorten(err.Error(), 200))
		}
		if dec.InputOffset() < int64(len(text)) {
			return d, fmt.Errorf("printed %s: more after the JSON object at byte %d (want one object)", quoted, dec.InputOffset())
		}
		if err := signals.DuplicateKey([]byte(text)); err != nil {
			return d, fmt.Errorf("printed %s: %w", quoted, err)
		}
		if r.PendingJobs == nil && r.PendingGPUs == nil && r.JobGPUs == nil {
			return d, fmt.Errorf("printed %s: the object has none of pending_jobs, pending_gpus, job_gpus", quoted)
		}
		if r.JobGPUs != nil {
			if err := signals.ListLength(len(r.JobGPUs)); err != nil {
				return d, fmt.Errorf("printed %s: job_gpus %w", quoted, err)
			}
			d.JobGPUs = make([]int, len(r.JobGPUs))
			for i, g := range r.JobGPUs {
				n, err := signals.Count(g)
				if err != nil {
					return d, fmt.Errorf("printed %s: job_gpus[%d] %w", quoted, i, err)
				}
				if n > signals.MaxJobGPUs {
					return d, fmt.Errorf("printed %s: job_gpus[%d] is %d GPUs, want at most %d for a job", quoted, i, n, signals.MaxJobGPUs)
				}
				d.JobGPUs[i] = n
				d.PendingGPUs += n
			}
			d.PendingJobs, d.PendingGPUsKnown = len(r.JobGPUs), true
		}
		waits, err := perJob(quoted, "job_wait_s", r.JobWaitS, len(r.JobGPUs), [2]string{"wait", "waits"}, ": ", signals.WaitSeconds)
		if err != nil {
			return d, err
		}
		if waits != nil {
			d.JobWaits = waits
			for _, w := range waits {
				if r.OldestWaitS == nil {
					d.OldestWait, d.OldestWaitKnown = max(d.OldestWait, w), true
				}
			}
		}
		cpus, err := perJob(quoted, "job_cpus", r.JobCPUs, len(r.JobGPUs), [2]string{"CPU count", "CPU counts"}, " ", signals.Count)
		if err != nil {
			return d, err
		}
		mem, err := perJob(quoted, "job_memory_gib", r.JobMemoryGiB, len(r.JobGPUs), [2]string{"memory size", "memory sizes"}, " ", signals.MemoryMiB)
		if err != nil {
			return d, err
		}
		if r.PendingJobs != nil {
			if d.PendingJobs, err = signals.Count(*r.PendingJobs); err != nil {
				return d, fmt.Errorf("printed %s: pending_jobs %w", quoted, err)
			}
		}
		if r.PendingGPUs != nil {
			if d.PendingGPUs, err = signals.Count(*r.PendingGPUs); err != nil {
				return d, fmt.Errorf("printed %s: pending_gpus %w", quoted, err)
			}
			d.PendingGPUsKnown = true
		}
		if r.OldestWaitS != nil {
			wait, err := signals.WaitSeconds(*r.OldestWaitS)
			if err != nil {
				return d, fmt.Errorf("printed %s: oldest_wait_s: %w", quoted, err)
			}
			d.OldestWait, d.OldestWaitKnown = wait, true
		}
		if r.JobGPUs != nil {
			var jobs, gpus *int
			if r.PendingJobs != nil {
				jobs = &d.PendingJobs
			}
			if r.PendingGPUs != nil {
				gpus = &d.PendingGPUs
			}
			if err := signals.ListAgrees(d.JobGPUs, jobs, gpus); err != nil {
				return d, fmt.Errorf("printed %s: %w", quoted, err)
			}
		}
		signals.FitJobs(&d, s.cfg.Shapes, cpus, mem)
		return d, nil
	}
	f, err := signals.ParseDecimal(text)
	if err != nil {
		return d, fmt.Errorf("printed %s, want a bare number (of %s) or a JSON object {\"pending_jobs\",\"pending_gpus\",\"oldest_wait_s\",\"job_gpus\",\"job_wait_s\"}", quoted, s.cfg.Number)
	}
	n, err := signals.Count(f)
	if err != nil {
		return d, fmt.Errorf("printed %s: %w", quoted, err)
	}
	if s.cfg.Number == NumberPendingJobs {
		d.PendingJobs = n
	} else {
		d.PendingGPUs, d.PendingGPUsKnown = n, true
	}
	return d, nil
}
