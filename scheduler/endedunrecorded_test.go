package scheduler_test

import (
	"context"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

// TestResumeOfAnInstanceEndedBeforeItWasRecorded: a launch whose answer
// was lost (cut off at its 10-minute call timeout) leaves its intent
// pending, backed off; its instance is terminated outside Spillway (by
// another tool, the real AWS SDK on the emulator) before any tick adopts
// it. The intent's resume, which the cloud answers with that instance
// terminated, recorded it booting: counted as capacity, and its cost,
// until the next tick ended it as vanished. It is now recorded ended at
// once, said ended outside Spillway before it was recorded.
func TestResumeOfAnInstanceEndedBeforeItWasRecorded(t *testing.T) {
	h := newHarness(t, testPool(), func(h *harness) {
		h.opts.Tick = 30 * time.Second
		h.opts.CallTimeouts = map[string]time.Duration{provName: 10 * time.Minute}
		h.prov = &firstAnswerLost{Provider: h.prov, h: h, took: 11 * time.Minute}
	})
	h.setDemand(2*time.Minute, 8)
	h.tick()
	if n := len(h.emu.Instances()); n != 1 || len(h.rows(true)) != 0 {
		t.Fatalf("after the lost answer: %d instances, %d rows; want 1 instance and no row", n, len(h.rows(true)))
	}
	first := h.emu.Instances()[0].ID
	if err := h.newProvider().Terminate(context.Background(), []string{first}); err != nil {
		t.Fatalf("terminating %s outside Spillway: %v", first, err)
	}
	h.setDemand(0)
	resumed := false
	for i := 0; i < 30 && !resumed; i++ {
		h.step(30 * time.Second)
		for _, r := range h.rows(false) {
			if r.ID != first {
				continue
			}
			resumed = true
			if r.State != state.InstanceEnded || r.EndReason != "ended outside Spillway before it was recorded" {
				t.Errorf("after the intent's resume the instance %s, terminated outside Spillway, has row state %s, end reason %q; want ended, \"ended outside Spillway before it was recorded\"",
					first, r.State, r.EndReason)
			}
		}
	}
	if !resumed {
		t.Fatalf("no row for %s in 15 minutes: the intent was not resumed", first)
	}
	ins, err := h.store.Intents(context.Background(), state.IntentFilter{Pool: h.pool.Name, Status: state.IntentPending})
	if err != nil || len(ins) != 0 {
		t.Errorf("pending intents after the resume: %v (%v), want none", ins, err)
	}
}
