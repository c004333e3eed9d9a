package terraform

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Config is what a `providers.NAME` entry of type terraform says. The
// config package maps its fields onto this struct (see docs/terraform.md);
// Validate checks it.
type Config struct {
	// Module is the directory of the team's Terraform module (a root module:
	// it may declare its own backend and providers). Required.
	Module string
	// Region is reported on every instance and offering of this provider
	// (e.g. us-east-1). Optional: a module may span regions.
	Region string
	// Zones are tried in order when an offering names no zone: a key that
	// fails for capacity in one zone is retried in the next. Required: at
	// least one, no duplicates.
	Zones []string
	// Variables are fixed values for the module's own variables (VPC ids,
	// images, credentials profile...), passed on every run. They must be
	// declared by the module and may not name a variable of the Spillway
	// contract (cluster, pool, burst, instances).
	Variables map[string]any
	// BackendConfig is passed to `terraform init` as -backend-config
	// key=value pairs. "{burst}" in a value is replaced by the burst's
	// key, so a shared remote backend keeps one state per burst
	// (e.g. key = "spillway/{burst}.tfstate"). Empty for the local backend,
	// whose state lives in the burst's own directory.
	BackendConfig map[string]string
	// WorkDir holds one directory per burst (its copy of the module, its
	// local state, its run logs) and the module snapshots. Required.
	WorkDir string
}

// Problem is one thing wrong with a Config. Field names the setting as a
// provider entry of spillway.yaml writes it (module, zones[1],
// variables.vpc_id, backend_config.key, work_dir), so that the config
// package places the problem at its key's line; Msg says what is wrong with
// the value and what would be valid.
type Problem struct {
	Field string
	Msg   string
}

func (p Problem) String() string { return p.Field + ": " + p.Msg }

// ConfigError lists every problem of a Config.
type ConfigError struct {
	Provider string
	Problems []Problem
}

func (e *ConfigError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.String()
	}
	return fmt.Sprintf("terraform provider %q: %s", e.Provider, strings.Join(msgs, "; "))
}

var (
	zoneRE       = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	tfVariableRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
	backendKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Validate checks c for the provider named name and returns a *ConfigError
// naming every bad field, its value and what would be valid: the module's
// directory, then every problem of Problems. New calls it; the config
// package reports the same problems (Problems, and CheckModule for the
// module) before the server opens its state.
func (c Config) Validate(name string) error {
	var p []Problem
	if c.Module != "" {
		if problem, _ := moduleDirProblem(c.Module); problem != "" {
			p = append(p, Problem{"module", fmt.Sprintf("%q: %s", c.Module, problem)})
		}
	}
	p = append(p, c.Problems()...)
	if len(p) > 0 {
		return &ConfigError{Provider: name, Problems: p}
	}
	return nil
}

// Problems reports every setting of c that New refuses, each at its field,
// but for what CheckModule reports of the module's directory and contents.
// It reads the file system only to check that WorkDir is a directory, or
// can be made one.
func (c Config) Problems() []Problem {
	var p []Problem
	add := func(field, format string, args ...any) {
		p = append(p, Problem{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if c.Module == "" {
		add("module", "missing: want the directory of a Terraform module")
	}
	if len(c.Zones) == 0 {
		add("zones", "none listed: want at least one zone to launch in, e.g. [us-east-1a, us-east-1b]")
	}
	for i, z := range c.Zones {
		field := fmt.Sprintf("zones[%d]", i)
		if !zoneRE.MatchString(z) {
			add(field, "%q is not a zone name: want lower-case letters, digits and '-', at most 63, e.g. us-east-1a", z)
		}
		if slices.Index(c.Zones, z) < i {
			add(field, "%q is listed twice", z)
		}
	}
	for _, k := range sortedKeys(c.Variables) {
		switch {
		case !tfVariableRE.MatchString(k):
			add("variables."+k, "not a Terraform variable name (want a letter or '_' then letters, digits, '_' or '-')")
		case slices.Contains(contractVariables, k):
			add("variables."+k, "%q is set by Spillway on every run (the module contract's variables are %s); remove it", k, strings.Join(contractVariables, ", "))
		}
	}
	if _, err := json.Marshal(c.Variables); err != nil {
		add("variables", "%v: want values Terraform can read from JSON (strings, numbers, booleans, lists, maps)", err)
	}
	for _, k := range sortedKeys(c.BackendConfig) {
		if !backendKeyRE.MatchString(k) {
			add("backend_config."+k, "not a backend setting name (want letters, digits and '_')")
		}
	}
	switch {
	case c.WorkDir == "":
		add("work_dir", "missing: want a directory Spillway may write (one sub-directory per burst)")
	case !filepath.IsAbs(c.WorkDir):
		add("work_dir", "%q is relative: want an absolute path", c.WorkDir)
	default:
		if problem := workDirProblem(c.WorkDir); problem != "" {
			add("work_dir", "%s", problem)
		}
	}
	return p
}

// workDirProblem says why dir cannot be the work directory, which New
// creates with its parents when missing: it is not a directory, or the
// nearest of its parents that exists is not one.
func workDirProblem(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		switch {
		case (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) && d != filepath.Dir(d):
			continue // missing, which New makes, or under a file
		case err != nil:
			return fmt.Sprintf("%q cannot be used: %v", dir, err)
		case st.IsDir():
			return ""
		case d == dir:
			return fmt.Sprintf("%q is a file: want a directory Spillway may write (one sub-directory per burst)", dir)
		default:
			return fmt.Sprintf("%q cannot be created: %s is a file, not a directory", dir, d)
		}
	}
}

// LookBinary finds the terraform executable that New runs without
// WithBinary: the first on PATH. Its error wraps exec's.
func LookBinary() (string, error) {
	bin, err := exec.LookPath("terraform")
	if err != nil {
		return "", fmt.Errorf("no terraform binary on PATH (%w): install Terraform 1.5 or later in a directory on the server's PATH", err)
	}
	return bin, nil
}

// Option tunes a Provider; defaultOptions holds every default.
type Option func(*options)

type options struct {
	logger *slog.Logger
	clock  func() time.Time
	binary string
	env    map[string]string
	// waitDelay is how long an interrupted Terraform gets to stop and
	// write its state before it is killed (runTerraform).
	waitDelay time.Duration
	// maxOutput bounds what is read of the module's instances output
	// (maxOutputBytes; smaller in tests).
	maxOutput int
	// maxState bounds what is read of a burst's state (maxStateBytes;
	// smaller in tests).
	maxState int
	// leader, with several servers, says which leader term this one acts
	// in (nil: one server).
	leader Leader
}

func defaultOptions() options {
	return options{
		logger:    slog.New(slog.DiscardHandler),
		clock:     time.Now,
		waitDelay: 60 * time.Second,
		maxOutput: maxOutputBytes,
		maxState:  maxStateBytes,
	}
}

// WithLogger sets the logger (silent by default).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithClock sets the clock that stamps launch times (time.Now by default).
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// Leader says which term of the leader lease this server acts in, with
// several servers sharing one PostgreSQL state (postgres.Elector is one):
// epoch is the term's, ok whether this server acts now. Terms are
// numbered upwards, and a server acts under an epoch only once every
// earlier term has ended (the database's lease says so), the calls of a
// term ending with it.
type Leader interface {
	Term() (epoch int64, until time.Time, ok bool)
}

// WithLeader records, with each Terraform run, the leader term it runs
// in. A run the next leader finds recorded under a term that has ended
// (its server was killed mid-apply, or lost the lease) is over: the
// backend lock it left is released (terraform force-unlock) instead of
// failing every run on the burst until a person does.
func WithLeader(l Leader) Option { return func(o *options) { o.leader = l } }

// WithBinary sets the terraform executable (by default the first
// `terraform` on PATH).
func WithBinary(path string) Option { return func(o *options) { o.binary = path } }

// WithEnv adds environment variables to every Terraform run (cloud
// credentials, TF_LOG...). Terraform also inherits Spillway's environment.
func WithEnv(env map[string]string) Option {
	return func(o *options) {
		o.env = make(map[string]string, len(env))
		for k, v := range env {
			o.env[k] = v
		}
	}
}

// WithInterruptGrace sets how long an interrupted Terraform may take to
// finish its in-flight operations and write its state before it is killed,
// with every process it started (60s by default; d ≤ 0 keeps it). A run
// whose context has a deadline is interrupted this long before it (but
// not before half the time left), so that it ends by the deadline.
func WithInterruptGrace(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.waitDelay = d
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
