package terraform_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/terraform"
)

// pausedCtx is a context whose deadline has passed while its timer has not
// fired yet: what a process resumed after a SIGSTOP (or starved on a
// loaded machine) holds until the timer's goroutine runs.
type pausedCtx struct {
	context.Context
	deadline time.Time
}

func (c pausedCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// TestTerraformPastItsDeadlineIsNotStarted: a leader's launch and
// terminate run under a context ending with its term; exec checks only
// whether that context is done, so a process resumed after a SIGSTOP (or
// starved) before the context's timer fired started `terraform plan` and
// `apply` after its term had ended, when another server may act (the
// interrupt that follows comes from a goroutine racing exec's start; won
// by the interrupt, the error said "interrupted 0s before its caller's
// deadline", a second after it). Neither starts now, and each call fails
// as one cut by its deadline, saying how late.
func TestTerraformPastItsDeadlineIsNotStarted(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	bin, runs := countingTerraform(t)
	p := newProvider(t, terraform.Config{Module: "testdata/plain", Region: region, Zones: zones, WorkDir: t.TempDir()},
		terraform.WithBinary(bin))
	insts, err := p.Launch(ctx, launchRequest("before", "before-1", 1))
	if err != nil {
		t.Fatal(err)
	}
	ranSince(t, runs)

	paused := pausedCtx{Context: ctx, deadline: time.Now().Add(-time.Second)}
	if _, err := p.Launch(paused, launchRequest("paused", "paused-1", 1)); !notStarted(err) {
		t.Errorf("Launch past its deadline = %v, want context.DeadlineExceeded, terraform not started", err)
	}
	if err := p.Terminate(paused, idsOf(insts)); !notStarted(err) {
		t.Errorf("Terminate past its deadline = %v, want context.DeadlineExceeded, terraform not started", err)
	}
	if ran := ranSince(t, runs); len(ran) != 0 {
		t.Errorf("terraform ran %v past its caller's deadline, want nothing started", ran)
	}
	if err := p.Terminate(ctx, idsOf(insts)); err != nil {
		t.Errorf("Terminate within its deadline: %v", err)
	}
}

// notStarted reports whether err is a call's that did not start Terraform
// as its caller's deadline had passed.
func notStarted(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) && strings.Contains(err.Error(), "terraform not started: its deadline passed")
}
