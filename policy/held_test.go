package policy

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestBudgetNeverCountsOnEndingAHeldCommitment: the scheduler hands the
// policy commitments it cannot end as booting instances (a row held after
// it vanished unlisted, a pending launch's instances). Over a hard budget
// the policy ended them as idle ones: its plan terminated them (the
// scheduler could not), its note said "ended 2 idle instance(s)", and it
// counted the money as freed, so it drained nothing that could end. A held
// commitment (Instance.Held) is never ended: the note counts what the plan
// ends, and the budget ends what it can instead (here it drains the busy
// instance); an instance not held is ended as before.
func TestBudgetNeverCountsOnEndingAHeldCommitment(t *testing.T) {
	o := dtP4d()
	for _, tc := range []struct {
		name      string
		held      bool
		wantNote  string
		wantEnded []string // terminated, in order
	}{
		{"held: counted, never ended", true, "ended 0 idle instance(s)", nil},
		{"not held: ended as an idle instance", false, "ended 2 idle instance(s)", []string{"b1", "b2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := dtPool(o)
			pool.Limits = Limits{Budget: &Budget{Amount: 35, Period: PeriodDay, Mode: BudgetHard}}
			insts := []Instance{
				dtInst("run", o, StateRunning, dtT0.Add(-time.Hour), 8),
				dtInst("b1", o, StateBooting, dtT0.Add(-time.Minute), 0),
				dtInst("b2", o, StateBooting, dtT0.Add(-time.Minute), 0),
			}
			insts[1].Held, insts[2].Held = tc.held, tc.held
			p := Decide(pool, dtBusySnap(time.Minute), insts, Spend{Accrued: 30, PeriodStart: dtT0.Truncate(24 * time.Hour), PeriodEnd: dtT0.Truncate(24 * time.Hour).Add(24 * time.Hour)}, dtT0)
			if got := dtIDs(p.Terminates); !slices.Equal(got, tc.wantEnded) {
				t.Errorf("terminated %v, want %v; notes %v", got, tc.wantEnded, p.Notes)
			}
			for _, a := range append(slices.Clone(p.Drains), p.Terminates...) {
				if tc.held && (a.InstanceID == "b1" || a.InstanceID == "b2") {
					t.Errorf("the plan ends held commitment %s: %s", a.InstanceID, a.Reason)
				}
			}
			if !slices.ContainsFunc(p.Notes, func(n string) bool { return strings.Contains(n, tc.wantNote) }) {
				t.Errorf("notes %v, want one saying %q", p.Notes, tc.wantNote)
			}
			if tc.held && !slices.Contains(dtIDs(p.Drains), "run") {
				t.Errorf("drained %v, want the busy instance drained: the held ones cannot be ended, and the budget still breaks; notes %v", dtIDs(p.Drains), p.Notes)
			}
		})
	}
}
