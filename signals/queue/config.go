package queue

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/queue/command"
	httpsource "github.com/spillway-io/spillway/signals/queue/http"
	redissource "github.com/spillway-io/spillway/signals/queue/redis"
	"github.com/spillway-io/spillway/signals/queue/slurm"
)

// Source types New builds. The prometheus demand source is built by its own
// package and can be wrapped with Wrap.
const (
	TypeSlurm   = "slurm"
	TypeRedis   = "redis"
	TypeHTTP    = "http"
	TypeCommand = "command"
)

// DefaultSlurmTimeout bounds one squeue run when the config sets no timeout:
// longer than Slurm's default MessageTimeout, so that an unreachable
// controller is reported in squeue's own words.
const DefaultSlurmTimeout = 20 * time.Second

// Config is one demand source as written in a config file: its type, the
// matching type's settings, and how it is retried.
type Config struct {
	Type string `yaml:"type"`
	// Timeout bounds each attempt (when zero: DefaultSlurmTimeout for
	// slurm, DefaultTimeout for the others).
	Timeout time.Duration `yaml:"timeout,omitempty"`
	// Attempts is how many times a read is tried (DefaultAttempts when zero).
	Attempts int `yaml:"attempts,omitempty"`
	// Backoff is the first retry's delay and MaxBackoff its cap
	// (DefaultBaseDelay and DefaultMaxDelay when zero).
	Backoff    time.Duration `yaml:"backoff,omitempty"`
	MaxBackoff time.Duration `yaml:"max_backoff,omitempty"`

	Slurm   *slurm.Config       `yaml:"slurm,omitempty"`
	Redis   *redissource.Config `yaml:"redis,omitempty"`
	HTTP    *httpsource.Config  `yaml:"http,omitempty"`
	Command *command.Config     `yaml:"command,omitempty"`
}

// New builds the source cfg describes, wrapped with its timeout and retries.
// opts come after the config's own settings, so they win (tests inject a
// clock and jitter this way). Close the result when done.
func New(cfg Config, opts ...Option) (*Source, error) {
	var problems []string
	if cfg.Timeout < 0 {
		problems = append(problems, fmt.Sprintf("timeout %s is negative", cfg.Timeout))
	}
	if cfg.Attempts < 0 {
		problems = append(problems, fmt.Sprintf("attempts %d is negative", cfg.Attempts))
	}
	if cfg.Backoff < 0 || cfg.MaxBackoff < 0 {
		problems = append(problems, "backoff and max_backoff must not be negative")
	}
	set := map[string]bool{TypeSlurm: cfg.Slurm != nil, TypeRedis: cfg.Redis != nil, TypeHTTP: cfg.HTTP != nil, TypeCommand: cfg.Command != nil}
	for typ, ok := range set {
		if ok && typ != cfg.Type {
			problems = append(problems, fmt.Sprintf("has %s: settings but type is %q", typ, cfg.Type))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("demand source (type %q): %s", cfg.Type, strings.Join(problems, "; "))
	}
	var (
		src signals.DemandSource
		err error
	)
	missing := func() error {
		return fmt.Errorf("demand source of type %s has no %s: settings", cfg.Type, cfg.Type)
	}
	switch cfg.Type {
	case TypeSlurm:
		if cfg.Slurm == nil {
			return nil, missing()
		}
		if problems := cfg.Slurm.Problems(); len(problems) > 0 {
			return nil, fmt.Errorf("demand source (type %q): %s", cfg.Type, strings.Join(problems, "; "))
		}
		src = slurm.New(*cfg.Slurm)
	case TypeRedis:
		if cfg.Redis == nil {
			return nil, missing()
		}
		timeout := cfg.Timeout
		if timeout == 0 {
			timeout = DefaultTimeout
		}
		src, err = redissource.New(*cfg.Redis, redissource.WithTimeout(timeout))
	case TypeHTTP:
		if cfg.HTTP == nil {
			return nil, missing()
		}
		src, err = httpsource.New(*cfg.HTTP)
	case TypeCommand:
		if cfg.Command == nil {
			return nil, missing()
		}
		src, err = command.New(*cfg.Command)
	default:
		return nil, fmt.Errorf("demand source type %q is not one of slurm, redis, http, command (prometheus is built by signals/queue/prometheus)", cfg.Type)
	}
	if err != nil {
		return nil, err
	}
	var own []Option
	if cfg.Type == TypeSlurm && cfg.Timeout == 0 {
		// squeue keeps trying an unreachable controller for about
		// MessageTimeout (10 s by default) before it says so.
		cfg.Timeout = DefaultSlurmTimeout
	}
	if cfg.Timeout > 0 {
		own = append(own, WithTimeout(cfg.Timeout))
	}
	if cfg.Attempts > 0 {
		own = append(own, WithAttempts(cfg.Attempts))
	}
	if cfg.Backoff > 0 || cfg.MaxBackoff > 0 {
		base, maxDelay := cfg.Backoff, cfg.MaxBackoff
		if base == 0 {
			base = DefaultBaseDelay
		}
		if maxDelay == 0 {
			maxDelay = max(DefaultMaxDelay, base)
		}
		own = append(own, WithBackoff(base, maxDelay))
	}
	return Wrap(src, append(own, opts...)...), nil
}

// Close releases what the wrapped source holds (connections), if anything.
func (s *Source) Close() error {
	if c, ok := s.src.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
