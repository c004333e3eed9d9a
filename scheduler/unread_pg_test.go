package scheduler_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

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
			el := startElector(t, pst, "test/"+t.Name(), 5*time.Second, 200*time.Millisecond)
			if _, ok := el.Acting(); !ok {
				t.Fatal("the elector did not take a free lease")
			}
			h.opts.Leader = el
			return pst.FencedBy("spillway/"+cluster, el.Acting)
		}
	}
}

// TestHardBudgetHoldsWhilePostgresCannotBeRead: on a real PostgreSQL,
// the leader keeps its lease, but its reads fail: an operator's session
// holds the instances table locked (a LOCK TABLE left open in psql, a
// VACUUM FULL), or ends the server's sessions (pg_terminate_backend, a
// pooler or a failover cutting connections) before every tick. Every
// tick failed at its first read, before deciding, so three busy
// instances ran on past a $30 hard budget for as long as it lasted. The
// ticks now go on from what they last read: the budget drains and ends
// the instances, nothing is launched, and afterwards the rows catch up.
func TestHardBudgetHoldsWhilePostgresCannotBeRead(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// start begins the fault on the operator's session op; each is
		// run before every tick while it lasts; end ends it.
		start, each, end func(ctx context.Context, op *pgx.Conn) error
		// read is the read the status names ("": reads may succeed);
		// noted, whether every tick can record its decision (the
		// decisions table takes writes).
		read  string
		noted bool
	}{
		{
			name: "instances table locked",
			start: func(ctx context.Context, op *pgx.Conn) error {
				if _, err := op.Exec(ctx, "BEGIN"); err != nil {
					return err
				}
				_, err := op.Exec(ctx, "LOCK TABLE instances IN ACCESS EXCLUSIVE MODE")
				return err
			},
			end: func(ctx context.Context, op *pgx.Conn) error {
				_, err := op.Exec(ctx, "ROLLBACK")
				return err
			},
			read: "reading the instances of pool train", noted: true,
		},
		{
			name: "sessions ended",
			each: func(ctx context.Context, op *pgx.Conn) error {
				_, err := op.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
				return err
			},
			// The store replaces a pooled session the database ended
			// before using it (state/postgres TestEndedSessionsAreReplaced),
			// so a tick's reads fail only when it starts before the ended
			// sessions are gone: the budget must hold either way.
			read: "",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dsn := startPostgres(t)
			p := testPool()
			p.Limits.Budget = &policy.Budget{Amount: 30, Period: policy.PeriodDay}
			p.Interval = policy.Duration(2 * time.Minute)
			reg := prometheus.NewRegistry()
			h := newHarness(t, p, leading(t), func(h *harness) {
				h.pgDSN = dsn
				h.opts.Registerer = reg
				// A locked read waits for its call timeout; the cloud's
				// calls keep theirs.
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
				t.Fatal("no instance runs before the fault")
			}
			launches := h.emu.Calls("RunInstances")

			ctx := context.Background()
			op, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer op.Close(ctx)
			run := func(what string, f func(context.Context, *pgx.Conn) error) {
				if f == nil {
					return
				}
				if err := f(ctx, op); err != nil {
					t.Fatalf("%s: %v", what, err)
				}
			}
			run("start", tc.start)
			var failed error
			var readErr string // the first a tick's status said
			gauge := 0.0       // the most spillway_state_unreadable said
			for range 12 {     // 24 minutes
				run("each tick", tc.each)
				h.agents.setBusy(8)
				h.stepFull(2*time.Minute, b, &failed)
				if st, _ := h.sched.LastStatus(p.Name); readErr == "" {
					readErr = st.ReadErr
				}
				gauge = max(gauge, gaugeOf(t, reg, "spillway_state_unreadable"))
			}
			billed := b.total(p.Offerings[0])
			if billed > p.Limits.Budget.Amount || len(h.live()) != 0 || failed != nil {
				t.Fatalf("24 minutes of it: the emulator billed $%.2f of a $%.0f budget, %d instances still run, tick error: %v; want within the budget, none running, no error",
					billed, p.Limits.Budget.Amount, len(h.live()), failed)
			}
			if n := h.emu.Calls("RunInstances"); n != launches {
				t.Fatalf("%d launch calls meanwhile, want none", n-launches)
			}
			if tc.read != "" && (!strings.Contains(readErr, tc.read) || gauge != 1) {
				t.Fatalf("status meanwhile: read error %q, spillway_state_unreadable %v; want it to say %q, and 1", readErr, gauge, tc.read)
			}
			st, _ := h.sched.LastStatus(p.Name)
			t.Logf("24 minutes of it: billed $%.2f, the spend the policy saw $%.2f", billed, st.Spend.Accrued)

			run("end", tc.end)
			// A session ended before the last tick may still be in the
			// pool: its first statement fails, and the pool drops it.
			h.until("a tick reads the state again", time.Minute, 8, func() bool {
				return gaugeOf(t, reg, "spillway_state_unreadable") == 0
			})
			if rows := h.rows(true); len(rows) != 0 {
				t.Fatalf("afterwards: %d live rows, want none (all ended meanwhile)", len(rows))
			}
			if !tc.noted {
				return
			}
			noted := false
			for _, d := range h.decisions() {
				for _, n := range d.Notes {
					noted = noted || strings.HasPrefix(n, "state not readable: "+tc.read)
				}
			}
			if !noted {
				t.Fatalf("no decision says %q", "state not readable: "+tc.read)
			}
		})
	}
}
