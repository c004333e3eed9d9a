package scheduler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"time"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/providers"
)

// maxHookOutput bounds what a failing hook's output adds to its error.
const maxHookOutput = 2048

// FromConfig returns the scheduler's view of a configured pool: its
// policy, user data, agent URL, join timeout and drain hook, all rendered
// from the pool's templates. The caller sets Snapshot (it owns the pool's
// signal sources).
func FromConfig(p *config.Pool, provs map[string]config.ProviderConfig, client *http.Client) Pool {
	out := Pool{Policy: p.Policy, JoinTimeout: p.Join.Timeout.D()}
	out.UserData = func(f config.InstanceFields) (string, error) {
		tmpl := p.UserDataTemplate(provs[f.Provider])
		if tmpl == "" {
			return "", nil
		}
		return config.Render(tmpl, f)
	}
	if p.Join.AgentURL != "" {
		out.AgentURL = func(f config.InstanceFields) (string, error) { return config.Render(p.Join.AgentURL, f) }
	}
	timeout := p.Drain.Timeout.D()
	switch {
	case len(p.Drain.Command) > 0:
		out.Drain = CommandHook(p.Drain.Command, timeout)
	case p.Drain.HTTP != nil:
		out.Drain = HTTPHook(p.Drain.HTTP.Method, p.Drain.HTTP.URL, timeout, client)
	}
	return out
}

// HookError is a drain hook that failed: which one, and its output.
type HookError struct {
	Hook   string
	Output string
	Err    error
}

func (e *HookError) Error() string {
	if e.Output == "" {
		return fmt.Sprintf("drain hook %s: %v", e.Hook, e.Err)
	}
	return fmt.Sprintf("drain hook %s: %v: %s", e.Hook, e.Err, e.Output)
}

func (e *HookError) Unwrap() error { return e.Err }

// CommandHook runs argv (each element a template over the instance; no
// shell) with a timeout; a non-zero exit is an error carrying its output.
func CommandHook(argv []string, timeout time.Duration) func(context.Context, config.InstanceFields) error {
	return func(ctx context.Context, f config.InstanceFields) error {
		args := make([]string, len(argv))
		for i, a := range argv {
			s, err := config.Render(a, f)
			if err != nil {
				return &HookError{Hook: fmt.Sprint(argv), Err: err}
			}
			args[i] = s
		}
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		if err := providers.PastDeadline(ctx, "drain hook not started"); err != nil {
			return &HookError{Hook: fmt.Sprint(args), Err: err}
		}
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.WaitDelay = time.Second
		var out bytes.Buffer
		w := &limited{w: &out, n: maxHookOutput} // one writer: exec then serialises its writes
		cmd.Stdout, cmd.Stderr = w, w
		if err := cmd.Run(); err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("%w (after %s)", ctx.Err(), timeout)
			}
			return &HookError{Hook: fmt.Sprint(args), Output: string(bytes.TrimSpace(out.Bytes())), Err: err}
		}
		return nil
	}
}

// HTTPHook calls a URL (a template over the instance); any status but 2xx
// is an error.
func HTTPHook(method, urlTmpl string, timeout time.Duration, client *http.Client) func(context.Context, config.InstanceFields) error {
	if client == nil {
		client = http.DefaultClient
	}
	return func(ctx context.Context, f config.InstanceFields) error {
		u, err := config.Render(urlTmpl, f)
		if err != nil {
			return &HookError{Hook: urlTmpl, Err: err}
		}
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		req, err := http.NewRequestWithContext(ctx, method, u, nil)
		if err != nil {
			return &HookError{Hook: method + " " + u, Err: err}
		}
		if err := providers.PastDeadline(ctx, "drain hook not started"); err != nil {
			return &HookError{Hook: method + " " + u, Err: err}
		}
		resp, err := client.Do(req)
		if err != nil {
			return &HookError{Hook: method + " " + u, Err: err}
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxHookOutput))
		if resp.StatusCode/100 != 2 {
			return &HookError{Hook: method + " " + u, Output: string(bytes.TrimSpace(body)), Err: errors.New(resp.Status)}
		}
		return nil
	}
}

// limited writes at most n bytes to w and drops the rest.
type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.n -= k
		if _, err := l.w.Write(p[:k]); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}
