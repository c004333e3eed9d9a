package scheduler_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/internal/fixture"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/state"
	"github.com/spillway-io/spillway/state/postgres"
)

// startPostgres starts a PostgreSQL server for one test and returns the
// URL of a new database on it.
func startPostgres(t *testing.T) string {
	t.Helper()
	pg, err := fixture.StartPostgres()
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	t.Cleanup(pg.Stop)
	db, err := pg.CreateDatabase("sched")
	if err != nil {
		t.Fatal(err)
	}
	return pg.DSN(db)
}

// leading makes the harness's scheduler lead as a server on PostgreSQL
// does: a real elector on the cluster's lease, renewing every 200ms on the
// wall clock, and the scheduler's writes fenced by it.
func leading(t *testing.T) harnessOption {
	return func(h *harness) {
		h.wrap = func(st state.Store) state.Store {
			pst := st.(*postgres.Store)
			lease, err := pst.Lease("spillway/"+cluster, "test/"+t.Name(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			el := postgres.NewElector(lease, 200*time.Millisecond, clock.RealClock{}, nil)
			ctx, cancel := context.WithCancel(context.Background())
			el.Step(ctx)
			if _, ok := el.Acting(); !ok {
				t.Fatal("the elector did not take a free lease")
			}
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); el.Run(ctx) }()
			t.Cleanup(func() { cancel(); wg.Wait() })
			h.opts.Leader = el
			return pst.FencedBy("spillway/"+cluster, el.Acting)
		}
	}
}

// TestHardBudgetHoldsWhileTheInstancesTableIsLocked: on a real
// PostgreSQL, an operator's session holds the instances table locked (a
// LOCK TABLE left open in psql, a VACUUM FULL, an ALTER TABLE waiting):
// the leader keeps its lease (another table), but every tick failed at
// reading the instances, after its call timeout, before deciding, so
// three busy instances ran on past a $30 hard budget for as long as the
// lock lasted. The ticks now go on from the rows they last read: the
// budget drains and ends the instances, nothing is launched, each
// decision (the decisions table is not locked) says the state cannot be
// read, and when the lock goes the rows catch up.
func TestHardBudgetHoldsWhileTheInstancesTableIsLocked(t *testing.T) {
	dsn := startPostgres(t)
	p := testPool()
	p.Limits.Budget = &policy.Budget{Amount: 30, Period: policy.PeriodDay}
	p.Interval = policy.Duration(2 * time.Minute)
	reg := prometheus.NewRegistry()
	h := newHarness(t, p, leading(t), func(h *harness) {
		h.pgDSN = dsn
		h.opts.Registerer = reg
		// A locked read waits for its call timeout; the cloud's calls
		// keep theirs.
		h.opts.CallTimeout = time.Second
		h.opts.CallTimeouts = map[string]time.Duration{provName: 30 * time.Second}
	})
	b := &billing{h: h, ended: map[string]time.Time{}}
	h.setDemand(2*time.Minute, 8, 8, 8)
	for range 5 {
		h.agents.setBusy(8)
		h.step(time.Minute)
		b.see()
	}
	if len(h.live()) == 0 {
		t.Fatal("no instance runs before the lock")
	}
	launches := h.emu.Calls("RunInstances")

	ctx := context.Background()
	op, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close(ctx)
	if _, err := op.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := op.Exec(ctx, "LOCK TABLE instances IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	var failed error
	for range 12 { // 24 minutes
		h.agents.setBusy(8)
		h.stepFull(2*time.Minute, b, &failed)
	}
	billed := b.total(p.Offerings[0])
	if billed > p.Limits.Budget.Amount || len(h.live()) != 0 || failed != nil {
		t.Fatalf("24 minutes with the instances table locked: the emulator billed $%.2f of a $%.0f budget, %d instances still run, tick error: %v; want within the budget, none running, no error",
			billed, p.Limits.Budget.Amount, len(h.live()), failed)
	}
	if n := h.emu.Calls("RunInstances"); n != launches {
		t.Fatalf("%d launch calls while the instances table was locked, want none", n-launches)
	}
	st, _ := h.sched.LastStatus(p.Name)
	if !strings.Contains(st.ReadErr, "reading the instances of pool train") || gaugeOf(t, reg, "spillway_state_unreadable") != 1 {
		t.Fatalf("status with the table locked: read error %q, spillway_state_unreadable %v; want the instances' read named, and 1", st.ReadErr, gaugeOf(t, reg, "spillway_state_unreadable"))
	}
	t.Logf("with the instances table locked for 24 minutes: billed $%.2f, the spend the policy saw $%.2f", billed, st.Spend.Accrued)

	if _, err := op.Exec(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	h.step(time.Minute)
	if rows := h.rows(true); len(rows) != 0 {
		t.Fatalf("after the lock: %d live rows, want none (all ended while it lasted)", len(rows))
	}
	noted := false
	for _, d := range h.decisions() {
		for _, n := range d.Notes {
			noted = noted || strings.HasPrefix(n, "state not readable: reading the instances of pool train")
		}
	}
	if !noted || gaugeOf(t, reg, "spillway_state_unreadable") != 0 {
		t.Fatalf("after the lock: a decision noted the state not readable: %v, spillway_state_unreadable %v; want true and 0", noted, gaugeOf(t, reg, "spillway_state_unreadable"))
	}
}
