package policy

import (
	"testing"
	"time"
)

// TestTickSlackLengthensAHardBudgetsCommitment: a hard budget counts a
// launch until the latest the next evaluation may come and its drain ends.
// A server's tick waits for its cloud calls (a Terraform apply, up to its
// call timeout), so the next evaluation may come Pool.TickSlack after the
// interval, the one after drain_timeout as late, and the end it orders
// reaches the cloud Pool.TickSlack after that: a p4d at $21.96/h commits
// 30 s + 10 m of drain ($3.84) without slack, 3 m more ($4.94) with 1 m of
// it, 30 m more ($14.82) with 10 m, and a $5 budget admits the first two
// and not the last.
func TestTickSlackLengthensAHardBudgetsCommitment(t *testing.T) {
	for _, tc := range []struct {
		name  string
		slack time.Duration
		want  int
	}{
		{"no slack (the simulator)", 0, 1},
		{"a call timeout of 1m", time.Minute, 1},
		{"a call timeout of 10m", 10 * time.Minute, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := dtP4d()
			pool := dtPool(o)
			pool.TickSlack = Duration(tc.slack)
			pool.Limits = Limits{Budget: &Budget{Amount: 5, Period: PeriodDay, Mode: BudgetHard}}
			p := Decide(pool, dtBusySnap(time.Hour, 8), nil, Spend{}, dtT0)
			if got := dtLaunched(p)[o.Name]; got != tc.want {
				t.Errorf("launched %d, want %d; notes %v", got, tc.want, p.Notes)
			}
			if got := dtLaunched(Admit(pool, dtBusySnap(time.Hour, 8), nil, Spend{}, dtT0, Plan{Launches: []Launch{{Offering: o, Count: 1}}}))[o.Name]; got != tc.want {
				t.Errorf("Admit: admitted %d, want %d", got, tc.want)
			}
		})
	}
}
