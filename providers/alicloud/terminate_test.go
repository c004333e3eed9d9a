package alicloud

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/providers"
)

// A Terminate of more instances than one DeleteInstances call takes, whose
// later batch ECS refuses (here its flow control, exhausted by other
// callers of the account), reports which instances it deleted and which
// not: the scheduler records the first as ending, instead of taking the
// whole call for failed and finding them "vanished" at the next tick.
func TestTerminatePartialFailureNamesEndedInstances(t *testing.T) {
	frozen := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	cases := []struct {
		name       string
		spent      int // DeleteInstances flow-control tokens (of 20) used by others first
		wantEnded  int // of the 150, the first ones
		wantFailed int
		wantErr    func(error) bool
	}{
		{name: "every batch deleted", spent: 0, wantEnded: 150, wantErr: func(err error) bool { return err == nil }},
		{name: "second batch throttled", spent: 19, wantEnded: 100, wantFailed: 50, wantErr: providers.IsThrottled},
		{name: "every batch throttled", spent: 20, wantFailed: 150, wantErr: providers.IsThrottled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// A frozen emulator clock: its flow-control buckets never refill.
			e, srv := startEmulator(t, emulator.Options{Throttle: true, Clock: func() time.Time { return frozen }})
			p := newEmulatorProvider(t, srv.URL, WithRetries(2, time.Millisecond, time.Millisecond))
			ctx := context.Background()
			insts, err := p.Launch(ctx, emuLaunchReq("partial", 150, 0))
			if err != nil {
				t.Fatal(err)
			}
			all := ids(insts)
			raw := rawClient(t, srv.URL)
			for range tc.spent {
				r := ecs.CreateDeleteInstancesRequest()
				r.RegionId = emuRegion
				r.InstanceId = &[]string{"i-bp1other000000000000"}
				_, _ = raw.DeleteInstances(r) // refused as not found, or throttled
			}

			err = p.Terminate(ctx, all)
			if !tc.wantErr(err) {
				t.Fatalf("Terminate: %v", err)
			}
			ended := providers.Ended(all, err)
			if !slices.Equal(ended, all[:tc.wantEnded]) {
				t.Errorf("Terminate reports %d instances ended, want the first %d", len(ended), tc.wantEnded)
			}
			var te *providers.TerminateError
			if errors.As(err, &te) != (tc.wantEnded > 0 && tc.wantFailed > 0) {
				t.Fatalf("Terminate's error %v: a *TerminateError only when some ended and some not", err)
			}
			if te != nil && !slices.Equal(te.Failed, all[tc.wantEnded:]) {
				t.Errorf("TerminateError.Failed has %d ids, want the last %d", len(te.Failed), tc.wantFailed)
			}
			if live := liveECS(e); sum(live) != tc.wantFailed {
				t.Errorf("%d instances still live in the emulator, want %d (those reported not ended)", sum(live), tc.wantFailed)
			}
		})
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// pausedCtx is a context whose deadline has passed while its timer has not
// fired yet: what a process resumed after a SIGSTOP (or starved on a
// loaded machine) holds until the timer's goroutine runs.
type pausedCtx struct {
	context.Context
	deadline time.Time
}

func (c pausedCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// TestCallPastItsDeadlineIsNotSent: a leader's launch and delete run under
// a context ending with its term; a process paused past that end
// (SIGSTOP, then SIGCONT) or starved resumed the goroutine sending the
// call before the context's timer fired, and net/http, which checks only
// whether the context is done, sent it: RunInstances reached ECS after the
// term had ended, when another server may act. Neither call is sent now,
// and each fails as one cut by its deadline.
func TestCallPastItsDeadlineIsNotSent(t *testing.T) {
	e, srv := startEmulator(t, emulator.Options{})
	p := newEmulatorProvider(t, srv.URL, WithRetries(1, time.Millisecond, time.Millisecond))
	insts, err := p.Launch(t.Context(), emuLaunchReq("paused-before", 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	paused := pausedCtx{Context: t.Context(), deadline: time.Now().Add(-time.Second)}
	if got, err := p.Launch(paused, emuLaunchReq("paused", 1, 1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Launch past its deadline = %v, %v; want context.DeadlineExceeded", got, err)
	}
	if err := p.Terminate(paused, ids(insts)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Terminate past its deadline = %v; want context.DeadlineExceeded", err)
	}
	if n, m := e.Calls("RunInstances"), e.Calls("DeleteInstances"); n != 1 || m != 0 {
		t.Errorf("ECS got %d RunInstances and %d DeleteInstances calls, want 1 (before the pause) and 0", n, m)
	}
}
