package aws_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/providers/aws"
)

// TestLargePagesSurviveTheRequestBodyRace reads 300 pages of 100 instances
// with the SDK's retries off, so that no retry can hide a failed attempt.
// Without the provider's buffered request bodies (aws-sdk-go-v2 #2737) about
// a third of these pages failed with "deserialization failed … use of
// closed network connection" although the emulator answered 200.
func TestLargePagesSurviveTheRequestBodyRace(t *testing.T) {
	e := startEmulator(t, emulator.Options{Seed: 3})
	ctx := context.Background()
	if _, err := e.launchRaw(ctx, 1000, map[string]string{providers.TagCluster: "race", providers.TagPool: "p"}); err != nil {
		t.Fatalf("LaunchRaw 1000: %v", err)
	}
	p := e.provider(t, aws.WithRetry(1, time.Millisecond), aws.WithBuckets(nil), aws.WithPageSize(100))
	failed := 0
	const lists = 30 // 10 pages each
	for i := range lists {
		insts, err := p.List(ctx, providers.ListFilter{Cluster: "race"})
		switch {
		case err != nil:
			failed++
			if failed <= 3 {
				t.Errorf("list %d: %v", i, err)
			}
		case len(insts) != 1000:
			t.Fatalf("list %d returned %d instances, want 1000", i, len(insts))
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d 10-page lists failed with retries off", failed, lists)
	}
	if got := e.emu.Calls("DescribeInstances"); got != lists*10 {
		t.Errorf("the emulator received %d DescribeInstances calls, want %d (one per page)", got, lists*10)
	}
}

// pausedCtx is a context whose deadline has passed while its timer has not
// fired yet: what a process resumed after a SIGSTOP (or starved on a
// loaded machine) holds until the timer's goroutine runs.
type pausedCtx struct {
	context.Context
	deadline time.Time
}

func (c pausedCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// TestCallPastItsDeadlineIsNotSent: a leader's launch and terminate run
// under a context ending with its term; a process paused past that end
// (SIGSTOP, then SIGCONT) or starved resumed the goroutine sending the
// call before the context's timer fired, and net/http, which checks only
// whether the context is done, sent it: RunInstances reached EC2 after
// the term had ended, when another server may act. Neither call is sent
// now, and each fails as one cut by its deadline.
func TestCallPastItsDeadlineIsNotSent(t *testing.T) {
	s := newScripted(t, func(string, int, map[string][]string) (int, string, bool) { return 0, "", false })
	p := s.provider(t)
	insts, err := p.Launch(t.Context(), launchReq("paused-before"))
	if err != nil || len(insts) == 0 {
		t.Fatalf("Launch: %v, %v", insts, err)
	}
	paused := pausedCtx{Context: t.Context(), deadline: time.Now().Add(-time.Second)}
	if got, err := p.Launch(paused, launchReq("paused")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Launch past its deadline = %v, %v; want context.DeadlineExceeded", got, err)
	}
	if err := p.Terminate(paused, []string{insts[0].ID}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Terminate past its deadline = %v; want context.DeadlineExceeded", err)
	}
	if n, m := len(s.callsOf("RunInstances")), len(s.callsOf("TerminateInstances")); n != 1 || m != 0 {
		t.Errorf("EC2 got %d RunInstances and %d TerminateInstances calls, want 1 (before the pause) and 0", n, m)
	}
}
