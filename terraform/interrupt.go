package terraform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"maps"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
)

// How a Terraform command ends when it is interrupted.
//
// terraform-exec starts Terraform in a process group of its own; when the
// context it is given ends it sends Terraform SIGINT, and kills it a
// WaitDelay later. Terraform, interrupted, stops its provisioners (it
// kills a local-exec provisioner's shell), waits for the operations in
// flight and writes its state: what it created is recorded, a resource
// whose create-time provisioner was cut off as tainted, so the next apply
// replaces it. Killed, it writes nothing more. But the kill ends
// Terraform's process and nothing else: a provisioner's shell and
// whatever it started keep running, orphaned; and even a graceful stop
// leaves the children of the shell Terraform killed.
//
// So grace after the interrupt, every process of the run is killed,
// Terraform's whole process group included; and after an interrupted
// command, whatever of the run is still running is killed. A run's
// processes are found by a mark in their environment (runMarkEnv), which
// everything Terraform starts inherits, wherever it was reparented.

// runMarkEnv is the environment variable that marks every process of one
// Terraform command.
const runMarkEnv = "SPILLWAY_TF_RUN"

// newRunMark returns a mark no other run has.
func newRunMark() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// runTerraform runs one command (cmd, on the context it is handed) with
// Terraform tf, its processes marked with mark, and sees that it leaves
// nothing running when it was interrupted (see above). An interrupted
// command's error is the cause of the interrupt.
func (p *Provider) runTerraform(ctx context.Context, tf *tfexec.Terraform, mark string, log *slog.Logger, cmd func(ctx context.Context) error) error {
	grace := p.opts.waitDelay
	// terraform-exec kills Terraform a WaitDelay after the interrupt, too:
	// the kill of last resort where no process of the run can be found.
	// A WaitDelay of 0 would never kill it.
	env := maps.Clone(p.env)
	env[runMarkEnv] = mark
	if err := tf.SetEnv(env); err != nil {
		return err
	}
	if err := tf.SetWaitDelay(max(grace, time.Millisecond)); err != nil {
		return err
	}

	runCtx, interrupt := context.WithCancelCause(context.WithoutCancel(ctx))
	defer interrupt(nil)
	done, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-done:
			return
		case <-ctx.Done():
			interrupt(context.Cause(ctx))
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
	err := cmd(runCtx)
	close(done)
	<-watched
	if err == nil || runCtx.Err() == nil {
		return err
	}
	// Terraform stopped (or was killed), but a provisioner's shell it
	// killed may have left children running: end them.
	if n, kerr := killMarked(mark); n > 0 || (kerr != nil && !errors.Is(kerr, errors.ErrUnsupported)) {
		log.Warn("ended processes an interrupted terraform run left running", "killed", n, "err", kerr)
	}
	// terraform-exec's own error says only that the process was
	// interrupted; Terraform's output is in the run's log.
	return context.Cause(runCtx)
}
