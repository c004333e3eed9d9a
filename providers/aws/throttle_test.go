package aws_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/providers/aws"
)

// EC2 throttling a TerminateInstances for longer than the caller's
// deadline: with the default retry settings (5 attempts, backoff up to
// 20s) the provider gives up at the deadline, not after its retries, and
// says the instances were not terminated (a typed, retryable error: the
// scheduler keeps the row and asks again next tick). The instances run on.
func TestThrottledTerminateStopsAtTheDeadline(t *testing.T) {
	s := newScripted(t, func(action string, _ int, _ map[string][]string) (int, string, bool) {
		return 503, "RequestLimitExceeded", action == "TerminateInstances"
	})
	p := s.provider(t, aws.WithRetry(5, 20*time.Second))
	insts, err := p.Launch(context.Background(), launchReq("throttled-1"))
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	const deadline = 1500 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	err = p.Terminate(ctx, []string{insts[0].ID, insts[1].ID})
	took := time.Since(start)
	if err == nil {
		t.Fatal("Terminate succeeded while EC2 throttled every TerminateInstances")
	}
	if !providers.IsThrottled(err) && !providers.IsTransient(err) {
		t.Errorf("Terminate under throttling: %v, want a *ThrottledError or *TransientError", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) && !providers.IsThrottled(err) {
		t.Errorf("Terminate under throttling: %v, want it to say the deadline ended it or EC2 throttled it", err)
	}
	if took > deadline+time.Second {
		t.Errorf("Terminate took %s under a %s deadline", took, deadline)
	}
	for _, in := range s.emu.Instances() {
		if in.State == "shutting-down" || in.State == "terminated" {
			t.Errorf("instance %s is %s though every terminate was throttled", in.ID, in.State)
		}
	}
	t.Logf("gave up after %s and %d TerminateInstances calls: %v", took.Round(time.Millisecond), len(s.callsOf("TerminateInstances")), err)
}
