package terraform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spillway-io/spillway/providers"
)

// How a Terraform command ends when its caller's time is up.
//
// A command starts Terraform as terraform-exec does (terraformCmd), in a
// process group of its own; when the context it is given ends it sends
// Terraform SIGINT, and kills it a WaitDelay later. Terraform, interrupted, stops its provisioners (it
// kills a local-exec provisioner's shell), waits for the operations in
// flight and writes its state: what it created is recorded, a resource
// whose create-time provisioner was cut off as tainted, so the next apply
// replaces it. Killed, it writes nothing: what it created since its last
// state write is recorded nowhere (leaked, and created again by the next
// apply, create-time provisioners and all). Left at that, two things go
// wrong:
//
//   - the interrupt comes only when the caller's context ends, and the
//     kill a WaitDelay after it, so a run outlives its caller's deadline by
//     that much. The scheduler bounds every mutating call (on shutdown too:
//     the calls in flight get their provider's call_timeout to finish, and
//     a leader's calls end with its term); a server stopped when that bound is up
//     takes its Terraform with it (terraform-exec sets the parent-death
//     signal, SIGKILL) before the state was written.
//   - the kill ends Terraform's process and nothing else: a provisioner's
//     shell and whatever it started keep running, orphaned. Even a
//     graceful stop leaves the children of the shell Terraform killed.
//
// So each command runs on a context of its own, interrupted when the
// caller's is cancelled, or grace before the caller's deadline (but not
// before half the time left) so that Terraform stops and writes its state
// by then; grace after the interrupt, every process of the run is killed,
// Terraform's whole process group included; and after an interrupted
// command, whatever of the run is still running is killed. A run's
// processes are found by a mark in their environment (runMarkEnv), which
// everything Terraform starts inherits, wherever it was reparented; the
// mark is kept in the burst's run record, so the next run on the burst
// also ends what a run that died with its server left behind.

// runMarkEnv is the environment variable that marks every process of one
// Terraform command.
const runMarkEnv = "SPILLWAY_TF_RUN"

// newRunMark returns a mark no other run has.
func newRunMark() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// interruptedBeforeDeadline is the cause of a run interrupted grace before
// its caller's deadline.
type interruptedBeforeDeadline struct{ grace time.Duration }

func (e interruptedBeforeDeadline) Error() string {
	return fmt.Sprintf("interrupted %s before its caller's deadline, to leave Terraform time to stop and write its state", e.grace.Round(time.Millisecond))
}

func (e interruptedBeforeDeadline) Unwrap() error { return context.DeadlineExceeded }

// runTerraform runs one command (cmd, on the context it is handed) with
// Terraform tf, its processes marked with mark, and sees that it ends in
// time and leaves nothing running when it was interrupted (see above).
// An interrupted command's error is the cause of the interrupt (it wraps
// context.Canceled or context.DeadlineExceeded), so callers tell it from a
// failure of Terraform's.
//
// started, when not nil, is handed the process the command started
// (Terraform, or a wrapper script that runs it) once it is found, before
// runTerraform returns.
func (p *Provider) runTerraform(ctx context.Context, mark string, log *slog.Logger, started func(childProc), cmd func(ctx context.Context) error) error {
	grace := p.opts.waitDelay
	deadline, hasDeadline := ctx.Deadline()
	if err := providers.PastDeadline(ctx, "terraform not started"); err != nil {
		return err
	}
	if hasDeadline {
		// A deadline already past leaves no grace (not a negative one).
		grace = max(0, min(grace, time.Until(deadline)/2))
	}
	// The command kills Terraform its wait delay after the interrupt, too
	// (terraformCmd): the kill of last resort where no process of the run
	// can be found.
	runCtx, interrupt := context.WithCancelCause(context.WithValue(context.WithoutCancel(ctx), graceKey{}, grace))
	defer interrupt(nil)
	done, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		var early <-chan time.Time
		if hasDeadline {
			t := time.NewTimer(time.Until(deadline) - grace)
			defer t.Stop()
			early = t.C
		}
		select {
		case <-done:
			return
		case <-ctx.Done():
			interrupt(causeOf(ctx))
		case <-early:
			if ctx.Err() != nil {
				// The deadline had passed: the run was not interrupted
				// ahead of it.
				interrupt(causeOf(ctx))
			} else {
				interrupt(interruptedBeforeDeadline{grace: grace})
			}
		}
		log.Info("interrupting terraform", "cause", context.Cause(runCtx), "grace", grace)
		kill := time.NewTimer(grace)
		defer kill.Stop()
		select {
		case <-done:
			return
		case <-kill.C:
		}
		n, err := killMarked(mark)
		log.Warn("terraform did not stop within its grace after the interrupt: killed it and every process it started; what it created since its last state write is not recorded",
			"grace", grace, "killed", n, "err", err)
	}()
	found := make(chan struct{})
	go func() {
		defer close(found)
		if started == nil {
			return
		}
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if c, ok := findChild(mark); ok {
				started(c)
				return
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	err := cmd(runCtx)
	close(done)
	<-watched
	<-found
	if errors.Is(err, errOutputHeld) {
		// runPiped killed the command's process group; a process that
		// left it (a daemon's setsid) holds the output on, and would
		// once more after each retry: it carries the run's mark.
		if n, kerr := killMarked(mark); n > 0 || (kerr != nil && !errors.Is(kerr, errors.ErrUnsupported)) {
			log.Warn("ended processes of a terraform run that held its output", "killed", n, "err", kerr)
		}
	}
	if err == nil || runCtx.Err() == nil {
		return err
	}
	// Terraform stopped (or was killed), but a provisioner's shell it
	// killed may have left children running: end them.
	if n, kerr := killMarked(mark); n > 0 || (kerr != nil && !errors.Is(kerr, errors.ErrUnsupported)) {
		log.Warn("ended processes an interrupted terraform run left running", "killed", n, "err", kerr)
	}
	// The command's own error says only that the process was
	// interrupted; Terraform's output is in the run's log.
	return context.Cause(runCtx)
}

// endDeadRun ends what a run that died with its process (its record is
// rec) left running. Terraform itself dies with Spillway (the parent-death
// signal), but one started by a wrapper script that does not exec it
// outlives it, applying on: it is interrupted (SIGINT), as a cancelled
// run's is, so that it stops its provisioners and writes its state, and
// the next run waits for it to exit, for the interrupt grace at most
// (half the time ctx leaves, at most). Then whatever of the run is left
// (a provisioner's shell and its children, a Terraform that did not stop)
// is killed.
func (p *Provider) endDeadRun(ctx context.Context, rec *runRecord, log *slog.Logger) {
	if rec.Mark == "" {
		return
	}
	if tfs, _ := survivingTerraform(rec.Mark, rec.Child); len(tfs) > 0 {
		grace := p.opts.waitDelay
		if deadline, ok := ctx.Deadline(); ok {
			grace = max(0, min(grace, time.Until(deadline)/2))
		}
		log.Warn("a terraform of a dead run is still running: interrupting it, so that it stops and writes its state",
			"dead_pid", rec.PID, "op", rec.Op, "terraform_pids", tfs, "grace", grace)
		for _, pr := range tfs {
			_ = interruptProcess(pr)
		}
		if left := waitExited(ctx, tfs, grace); len(left) > 0 {
			log.Warn("the dead run's terraform did not stop within its grace: killing it; what it created since its last state write is not recorded",
				"terraform_pids", left, "grace", grace)
		}
	}
	n, err := killMarked(rec.Mark)
	if n > 0 || (err != nil && !errors.Is(err, errors.ErrUnsupported)) {
		log.Warn("ended processes a dead terraform run left running", "dead_pid", rec.PID, "op", rec.Op, "killed", n, "err", err)
	}
}

// waitExited waits until none of procs is running, for d at most, and
// returns those still running.
func waitExited(ctx context.Context, procs []procID, d time.Duration) []procID {
	timer := time.NewTimer(d)
	defer timer.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	pids := procs
	for {
		var left []procID
		for _, pr := range pids {
			if running(pr) {
				left = append(left, pr)
			}
		}
		if len(left) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return left
		case <-timer.C:
			return left
		case <-tick.C:
		}
		pids = left
	}
}

// causeOf is why ctx ended: its cause, wrapping ctx.Err() (a cause
// given to context.WithCancelCause or WithTimeoutCause need not).
func causeOf(ctx context.Context) error {
	err, cause := ctx.Err(), context.Cause(ctx)
	if errors.Is(cause, err) {
		return cause
	}
	return fmt.Errorf("%w: %w", err, cause)
}

// graceKey is the context key of a run's grace (runTerraform).
type graceKey struct{}

// waitDelayOf is the wait delay of a command run on ctx: its run's grace,
// or def outside runTerraform. A WaitDelay of 0 would never kill it.
func waitDelayOf(ctx context.Context, def time.Duration) time.Duration {
	if g, ok := ctx.Value(graceKey{}).(time.Duration); ok {
		def = g
	}
	return max(def, time.Millisecond)
}

// interrupted reports whether err is a command's that was interrupted (its
// caller's context ended, or is about to) rather than one that failed.
func interrupted(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
