package scheduler_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

// TestIntentWhoseWriteAnswerWasLostIsCalledAtOnce: a launch intent whose
// write failed was not called ("not launched"), yet a write can fail
// after the database committed it (a PostgreSQL COMMIT whose answer the
// leader's term cut off: TestHAFailoverWithLaunchPending/lost, under
// load, saw "launch 2× p4d: not launched" after a tick failed at its
// term's end, then no launch for 37 s). The next tick found the intent
// pending, took it for one an earlier process had called, and held it
// back for providers.ConsistencyWindow (2 minutes), counted as booting:
// nothing was launched for the queue meanwhile. The server that wrote it
// knows it called nothing: it resumes it at the next tick, once.
//
// Run on EC2 and ECS, each through its real SDK on the emulator.
func TestIntentWhoseWriteAnswerWasLostIsCalledAtOnce(t *testing.T) {
	for _, c := range lagClouds {
		t.Run(c.name, func(t *testing.T) {
			lost := &lostIntentWrite{}
			rig := newLagRigWith(t, c, 0, func(h *harness) {
				h.wrap = func(st state.Store) state.Store { lost.Store = st; return lost }
			})
			h := rig.harness
			lost.armed.Store(true)
			h.setDemand(2*time.Minute, 8)
			h.tick()
			if n := h.emu.Calls("RunInstances"); n != 0 {
				t.Fatalf("%d RunInstances calls for an intent whose write failed, want none", n)
			}
			ins, err := h.store.Intents(context.Background(), state.IntentFilter{Pool: h.pool.Name, Status: state.IntentPending})
			if err != nil || len(ins) != 1 {
				t.Fatalf("pending intents %+v (%v), want the one whose write's answer was lost", ins, err)
			}
			h.step(30 * time.Second)
			if n := len(rig.launched()); n != 1 {
				var notes []string
				for _, d := range h.decisions() {
					notes = append(notes, d.Summary)
					notes = append(notes, d.Notes...)
				}
				t.Fatalf("%d instances launched at the tick after the intent's write failed, want 1 (its resume): %s", n, strings.Join(notes, "; "))
			}
			h.step(30 * time.Second)
			if n, rs := len(rig.launched()), h.rows(true); n != 1 || len(rs) != 1 || rs[0].IntentID != ins[0].ID {
				t.Errorf("%d instances and live rows %+v; want one, under intent %s", n, rs, ins[0].ID)
			}
		})
	}
}

// lostIntentWrite writes its first intent, then answers with an error,
// as a commit whose answer was lost.
type lostIntentWrite struct {
	state.Store
	armed atomic.Bool
}

func (s *lostIntentWrite) CreateIntent(ctx context.Context, in state.Intent) error {
	if err := s.Store.CreateIntent(ctx, in); err != nil || !s.armed.CompareAndSwap(true, false) {
		return err
	}
	return fmt.Errorf("writing intent %s: the commit's answer was lost: %w", in.ID, context.DeadlineExceeded)
}
