package aws_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/providers/aws"
)

// A Terminate of more instances than one TerminateInstances batch, whose
// later batch EC2 refuses, reports which instances it ended and which not:
// the scheduler records the first as ending, instead of taking the whole
// call for failed and finding them "vanished" at the next tick.
func TestTerminatePartialFailureNamesEndedInstances(t *testing.T) {
	cases := []struct {
		name       string
		failCall   int // the TerminateInstances call (from 1) EC2 throttles; 0 none
		wantEnded  int // of the 6, the first ones (batches of 2)
		wantFailed int
		wantErr    func(error) bool
	}{
		{name: "every batch ended", wantEnded: 6, wantErr: func(err error) bool { return err == nil }},
		{name: "second batch throttled", failCall: 2, wantEnded: 2, wantFailed: 4, wantErr: providers.IsThrottled},
		{name: "first batch throttled", failCall: 1, wantFailed: 6, wantErr: providers.IsThrottled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScripted(t, func(action string, n int, _ map[string][]string) (int, string, bool) {
				return 503, "RequestLimitExceeded", action == "TerminateInstances" && n == tc.failCall
			})
			p := s.provider(t, aws.WithTerminateBatch(2))
			ctx := context.Background()
			var all []string
			for i := range 3 {
				insts, err := p.Launch(ctx, launchReq("partial-"+string(rune('a'+i))))
				if err != nil {
					t.Fatal(err)
				}
				for _, in := range insts {
					all = append(all, in.ID)
				}
			}

			err := p.Terminate(ctx, all)
			if !tc.wantErr(err) {
				t.Fatalf("Terminate: %v", err)
			}
			if ended := providers.Ended(all, err); !slices.Equal(ended, all[:tc.wantEnded]) {
				t.Errorf("Terminate reports %v ended, want %v", ended, all[:tc.wantEnded])
			}
			var te *providers.TerminateError
			if errors.As(err, &te) != (tc.wantEnded > 0 && tc.wantFailed > 0) {
				t.Fatalf("Terminate's error %v: a *TerminateError only when some ended and some not", err)
			}
			if te != nil && !slices.Equal(te.Failed, all[tc.wantEnded:]) {
				t.Errorf("TerminateError.Failed is %v, want %v", te.Failed, all[tc.wantEnded:])
			}
			live := 0
			for _, in := range s.emu.Instances() {
				if in.State == "pending" || in.State == "running" {
					live++
				}
			}
			if live != tc.wantFailed {
				t.Errorf("%d instances still live in the emulator, want %d (those reported not ended)", live, tc.wantFailed)
			}
		})
	}
}
