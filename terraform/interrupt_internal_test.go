package terraform

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRunPastItsDeadlineReportsNoNegativeGrace: a command whose caller's
// deadline has already passed when it starts is interrupted at once, and
// its error is the context's, not an interrupt a negative grace before the deadline ("interrupted -2ms before its
// caller's deadline").
func TestRunPastItsDeadlineReportsNoNegativeGrace(t *testing.T) {
	p := &Provider{opts: options{waitDelay: time.Minute}, env: map[string]string{}}
	for range 20 {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		err := p.runTerraform(ctx, newRunMark(), slog.New(slog.NewTextHandler(io.Discard, nil)), nil, func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		})
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want it to wrap context.DeadlineExceeded", err)
		}
		if strings.Contains(err.Error(), "-") {
			t.Fatalf("err = %q: a negative grace", err)
		}
	}
}

// TestRunRecordDead: with the burst's lock held, a record of this host is
// of a run over when its process is gone or is this one (a server
// restarted in a container is PID 1 again: its earlier run's record names
// it); another host's record cannot be judged, and a live process's run
// is not over.
func TestRunRecordDead(t *testing.T) {
	const host = "node-a"
	live := os.Getppid() // the go tool or the shell that ran the test
	for _, tc := range []struct {
		name string
		rec  runRecord
		want bool
	}{
		{"cut short", runRecord{}, true},
		{"this process's PID", runRecord{PID: os.Getpid(), Host: host}, true},
		{"a live process", runRecord{PID: live, Host: host}, false},
		{"another host", runRecord{PID: os.Getpid(), Host: "node-b"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rec.dead(host); got != tc.want {
				t.Errorf("dead = %v, want %v", got, tc.want)
			}
		})
	}
}
