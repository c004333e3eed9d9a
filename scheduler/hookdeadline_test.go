package scheduler_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/scheduler"
)

// pausedCtx is a context whose deadline has passed while its timer has not
// fired yet: what a process resumed after a SIGSTOP (or starved on a
// loaded machine) holds until the timer's goroutine runs.
type pausedCtx struct {
	context.Context
	deadline time.Time
}

func (c pausedCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// TestDrainHookPastItsDeadlineIsNotRun: a leader's drain hook runs under a
// context ending with its term; exec and net/http check only whether that
// context is done, so a process resumed after a SIGSTOP (or starved) before
// the context's timer fired ran the command, or called the URL, after its
// term had ended, when another server may act. Neither runs now, and each
// fails as one cut by its deadline; a hook whose deadline is ahead runs.
func TestDrainHookPastItsDeadlineIsNotRun(t *testing.T) {
	ran := filepath.Join(t.TempDir(), "ran")
	cmdHook := scheduler.CommandHook([]string{"touch", ran}, 20*time.Second)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls.Add(1) }))
	t.Cleanup(srv.Close)
	httpHook := scheduler.HTTPHook(http.MethodPost, srv.URL+"/drain/{{.ID}}", 20*time.Second, srv.Client())
	in := config.InstanceFields{ID: "i-paused"}

	paused := pausedCtx{Context: t.Context(), deadline: time.Now().Add(-time.Second)}
	if err := cmdHook(paused, in); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("command hook past its deadline = %v, want context.DeadlineExceeded", err)
	}
	if _, err := os.Stat(ran); !os.IsNotExist(err) {
		t.Errorf("the command hook ran past its deadline (stat: %v)", err)
	}
	if err := httpHook(paused, in); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("HTTP hook past its deadline = %v, want context.DeadlineExceeded", err)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the HTTP hook was called %d times past its deadline, want 0", n)
	}

	ahead := pausedCtx{Context: t.Context(), deadline: time.Now().Add(time.Hour)}
	if err := cmdHook(ahead, in); err != nil {
		t.Errorf("command hook within its deadline: %v", err)
	}
	if err := httpHook(ahead, in); err != nil || calls.Load() != 1 {
		t.Errorf("HTTP hook within its deadline: %v, %d calls; want nil, 1", err, calls.Load())
	}
}
