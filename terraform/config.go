package terraform

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
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

// ConfigError lists every problem of a Config.
type ConfigError struct {
	Provider string
	Problems []string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("terraform provider %q: %s", e.Provider, strings.Join(e.Problems, "; "))
}

var (
	zoneRE       = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	tfVariableRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
	backendKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Validate checks c for the provider named name and returns a *ConfigError
// naming every bad field, its value and what would be valid. It reads the
// file system only to check that Module is a directory.
func (c Config) Validate(name string) error {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	switch {
	case c.Module == "":
		add("module is empty: want the directory of a Terraform module")
	default:
		if problem, _ := moduleDirProblem(c.Module); problem != "" {
			add("module %q: %s", c.Module, problem)
		}
	}
	if len(c.Zones) == 0 {
		add("zones is empty: want at least one zone to launch in, e.g. [us-east-1a, us-east-1b]")
	}
	for i, z := range c.Zones {
		if !zoneRE.MatchString(z) {
			add("zones[%d] %q is not a zone name: want lower-case letters, digits and '-', e.g. us-east-1a", i, z)
		}
		if slices.Index(c.Zones, z) < i {
			add("zones[%d] %q is listed twice", i, z)
		}
	}
	for _, k := range sortedKeys(c.Variables) {
		switch {
		case !tfVariableRE.MatchString(k):
			add("variables.%s: not a Terraform variable name (want a letter or '_' then letters, digits, '_' or '-')", k)
		case slices.Contains(contractVariables, k):
			add("variables.%s: %q is set by Spillway on every run (the module contract's variables are %s); remove it", k, k, strings.Join(contractVariables, ", "))
		}
	}
	if _, err := json.Marshal(c.Variables); err != nil {
		add("variables: %v: want values Terraform can read from JSON (strings, numbers, booleans, lists, maps)", err)
	}
	for _, k := range sortedKeys(c.BackendConfig) {
		if !backendKeyRE.MatchString(k) {
			add("backend_config.%s: not a backend setting name (want letters, digits and '_')", k)
		}
	}
	switch {
	case c.WorkDir == "":
		add("work_dir is empty: want a directory Spillway may write (one sub-directory per burst)")
	case !filepath.IsAbs(c.WorkDir):
		add("work_dir %q is relative: want an absolute path", c.WorkDir)
	}
	if len(p) > 0 {
		return &ConfigError{Provider: name, Problems: p}
	}
	return nil
}

// Option tunes a Provider; defaultOptions holds every default.
type Option func(*options)

type options struct {
	logger *slog.Logger
	clock  func() time.Time
	binary string
	env    map[string]string
	// waitDelay is how long a cancelled Terraform gets, after its
	// interrupt, to write its state before it is killed.
	waitDelay time.Duration
}

func defaultOptions() options {
	return options{
		logger:    slog.New(slog.DiscardHandler),
		clock:     time.Now,
		waitDelay: 60 * time.Second,
	}
}

// WithLogger sets the logger (silent by default).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithClock sets the clock that stamps launch times (time.Now by default).
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

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

// WithInterruptGrace sets how long a cancelled run may take, after
// Terraform was interrupted, to finish its in-flight operations and write
// its state before it is killed (60s by default).
func WithInterruptGrace(d time.Duration) Option { return func(o *options) { o.waitDelay = d } }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
