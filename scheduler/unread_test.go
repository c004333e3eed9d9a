package scheduler_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/scheduler"
	"github.com/spillway-io/spillway/state"
)

// lockedState is a state that, while locked is set, answers every call,
// read or write, with SQLite's own "database is locked" (SQLITE_BUSY), as
// a database another process holds locked past the busy timeout does.
type lockedState struct {
	refusedWrites
	locked atomic.Bool
	err    error
	calls  atomic.Int64 // calls refused
	rows   atomic.Int64 // writes of instance rows refused
}

func newLockedState(t *testing.T) *lockedState {
	l := &lockedState{err: busyError(t)}
	l.refusedWrites.refuse = l.refuse
	return l
}

// busyError is the error SQLite returns to a reader when another
// connection holds the database locked: one connection begins an
// exclusive transaction on a rollback-journal database, another, which
// does not wait, reads.
func busyError(t *testing.T) error {
	t.Helper()
	path := filepath.Join(t.TempDir(), "locked.db")
	holder, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	holder.SetMaxOpenConns(1)
	for _, q := range []string{"CREATE TABLE f (n INTEGER)", "BEGIN EXCLUSIVE", "INSERT INTO f VALUES (1)"} {
		if _, err := holder.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	defer holder.Exec("ROLLBACK") //nolint:errcheck // the holder is closed next
	reader, err := sql.Open("sqlite", "file:"+path+"?_busy_timeout=0")
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	var n int
	err = reader.QueryRow("SELECT count(*) FROM f").Scan(&n)
	var se *sqlite.Error
	if !errors.As(err, &se) || se.Code() != sqlite3.SQLITE_BUSY {
		t.Fatalf("reading a database another connection holds locked: %v, want SQLITE_BUSY", err)
	}
	return err
}

func (l *lockedState) refuse(what string) error {
	if !l.locked.Load() {
		return nil
	}
	l.calls.Add(1)
	return fmt.Errorf("%s: %w", what, l.err)
}

func (l *lockedState) Intents(ctx context.Context, f state.IntentFilter) ([]state.Intent, error) {
	if err := l.refuse("intents"); err != nil {
		return nil, err
	}
	return l.Store.Intents(ctx, f)
}

func (l *lockedState) Instances(ctx context.Context, f state.InstanceFilter) ([]state.Instance, error) {
	if err := l.refuse("instances"); err != nil {
		return nil, err
	}
	return l.Store.Instances(ctx, f)
}

func (l *lockedState) Floor(ctx context.Context, id string) (state.Floor, error) {
	if err := l.refuse("floor"); err != nil {
		return state.Floor{}, err
	}
	return l.Store.Floor(ctx, id)
}

func (l *lockedState) Floors(ctx context.Context, f state.FloorFilter) ([]state.Floor, error) {
	if err := l.refuse("floors"); err != nil {
		return nil, err
	}
	return l.Store.Floors(ctx, f)
}

func (l *lockedState) Spend(ctx context.Context, pool string, start time.Time) (float64, error) {
	if err := l.refuse("spend"); err != nil {
		return 0, err
	}
	return l.Store.Spend(ctx, pool, start)
}

func (l *lockedState) PutInstance(ctx context.Context, in state.Instance) error {
	if err := l.refuse("put instance"); err != nil {
		l.rows.Add(1)
		return err
	}
	return l.Store.PutInstance(ctx, in)
}

func (l *lockedState) PutInstances(ctx context.Context, ins []state.Instance) error {
	if err := l.refuse("put instances"); err != nil {
		l.rows.Add(1)
		return err
	}
	return l.Store.PutInstances(ctx, ins)
}

// TestTicksGoOnWhileTheStateCannotBeRead: with the state locked (every
// read and write answered SQLITE_BUSY), every tick failed at its first
// read, before deciding, so nothing was drained or terminated for as long
// as the lock lasted: busy instances ran on past a hard budget, and a
// manual burst's idle instances, or a cancelled one's, billed on past its
// end. The ticks now go on from what they last read: the budget, the
// burst's end and the cancel drain and end the instances, nothing is
// launched meanwhile, and when the lock goes the ledger and the rows catch
// up with what was done.
func TestTicksGoOnWhileTheStateCannotBeRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		// before sets the pool up and runs it until the lock; it returns
		// the most the emulator may bill in all.
		before func(t *testing.T, h *harness) (most float64)
		busy   int // busy GPUs on each instance while locked
	}{
		{
			name: "hard budget", busy: 8,
			before: func(t *testing.T, h *harness) float64 {
				h.setDemand(2*time.Minute, 8, 8, 8)
				for range 10 {
					h.agents.setBusy(8)
					h.step(30 * time.Second)
				}
				return h.pool.Limits.Budget.Amount
			},
		},
		{
			name: "burst ends", busy: 0,
			before: func(t *testing.T, h *harness) float64 {
				h.setDemand(0)
				if _, err := h.sched.CreateBurst(context.Background(), scheduler.BurstRequest{Pool: h.pool.Name, GPUs: 16, For: 20 * time.Minute, Reason: "incident", Principal: "bob"}); err != nil {
					t.Fatal(err)
				}
				for range 4 {
					h.agents.setBusy(8)
					h.step(30 * time.Second)
				}
				// Two instances for the burst's 20 minutes (idle since the
				// lock, so they are drained and ended as it ends), and a
				// minute or two to see them end.
				return 2 * policy.BilledCost(h.pool.Offerings[0], t0, t0.Add(22*time.Minute))
			},
		},
		{
			name: "burst cancelled", busy: 0,
			before: func(t *testing.T, h *harness) float64 {
				h.setDemand(0)
				fl, err := h.sched.CreateBurst(context.Background(), scheduler.BurstRequest{Pool: h.pool.Name, GPUs: 16, For: 2 * time.Hour, Reason: "incident", Principal: "bob"})
				if err != nil {
					t.Fatal(err)
				}
				for range 4 {
					h.agents.setBusy(8)
					h.step(30 * time.Second)
				}
				if _, err := h.sched.CancelBurst(context.Background(), fl.ID, "bob"); err != nil {
					t.Fatal(err)
				}
				h.agents.setBusy(8)
				h.step(30 * time.Second) // drains them; their jobs run on
				// Cancelled 2 minutes in; ended within 3 more once idle.
				return 2 * policy.BilledCost(h.pool.Offerings[0], t0, t0.Add(5*time.Minute))
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			locked := newLockedState(t)
			p := testPool()
			p.Limits.Budget = &policy.Budget{Amount: 100, Period: policy.PeriodDay}
			p.Interval = policy.Duration(30 * time.Second)
			reg := prometheus.NewRegistry()
			h := newHarness(t, p, func(h *harness) {
				h.wrap = func(st state.Store) state.Store { locked.Store = st; return locked }
				h.opts.Registerer = reg
			})
			b := &billing{h: h, ended: map[string]time.Time{}}
			most := tc.before(t, h)
			b.see()
			if len(h.live()) == 0 {
				t.Fatal("no instance runs before the lock")
			}
			launches := h.emu.Calls("RunInstances")
			locked.locked.Store(true)
			var failed error
			const ticks = 120 // an hour
			for range ticks {
				h.agents.setBusy(tc.busy)
				h.stepFull(30*time.Second, b, &failed)
			}
			billed := b.total(p.Offerings[0])
			if billed > most || len(h.live()) != 0 || failed != nil {
				t.Fatalf("an hour with the state locked: the emulator billed $%.2f (at most $%.2f wanted), %d instances still run, tick error: %v; want within it, none running, no error",
					billed, most, len(h.live()), failed)
			}
			if n := h.emu.Calls("RunInstances"); n != launches {
				t.Fatalf("%d launch calls while the state was locked, want none", n-launches)
			}
			// Each refused call could have taken the call timeout (a
			// locked PostgreSQL table): a tick tries one read and one
			// write of instance rows at most.
			if n := locked.rows.Load(); n > ticks {
				t.Fatalf("%d writes of instance rows refused in %d ticks, want at most one a tick", n, ticks)
			}
			st, _ := h.sched.LastStatus(p.Name)
			if !strings.Contains(st.ReadErr, "database is locked") || st.Err != "" {
				t.Fatalf("status with the state locked: read error %q, error %q; want the SQLITE_BUSY error as a read error and no tick error", st.ReadErr, st.Err)
			}
			if g := gaugeOf(t, reg, "spillway_state_unreadable"); g != 1 {
				t.Fatalf("with the state locked: spillway_state_unreadable = %v, want 1", g)
			}
			t.Logf("with the state locked for an hour: billed $%.2f (at most $%.2f), the spend the policy saw $%.2f, %d calls refused", billed, most, st.Spend.Accrued, locked.calls.Load())

			// The lock goes: the rows and the ledger catch up, and the
			// status and the decisions say the state was not readable.
			// The queue is gone by then, so that no launch the budget's
			// remaining room admits is taken for a row left live.
			h.setDemand(0)
			locked.locked.Store(false)
			h.step(30 * time.Second)
			if rows := h.rows(true); len(rows) != 0 {
				t.Fatalf("after the lock: %d live rows, want none (all ended while it lasted)", len(rows))
			}
			start, _ := p.BudgetPeriod(h.clk.Now())
			spent, err := h.store.Spend(context.Background(), p.Name, start)
			if err != nil {
				t.Fatal(err)
			}
			if spent < billed-0.01 {
				t.Fatalf("after the lock: the ledger holds $%.2f, want at least the $%.2f billed", spent, billed)
			}
			if st, _ := h.sched.LastStatus(p.Name); st.ReadErr != "" {
				t.Fatalf("after the lock: read error %q, want none", st.ReadErr)
			}
			if g := gaugeOf(t, reg, "spillway_state_unreadable"); g != 0 {
				t.Fatalf("after the lock: spillway_state_unreadable = %v, want 0", g)
			}
		})
	}
}

// TestATickFailsWhenItRecallsNothing: a scheduler whose first tick cannot
// read the state (a restart while the database is locked) knows no rows
// and no spend to go on from: the tick fails and says why, and launches
// nothing.
func TestATickFailsWhenItRecallsNothing(t *testing.T) {
	locked := newLockedState(t)
	h := newHarness(t, testPool(), func(h *harness) {
		h.wrap = func(st state.Store) state.Store { locked.Store = st; return locked }
	})
	h.setDemand(2*time.Minute, 8, 8)
	locked.locked.Store(true)
	h.clk.Step(30 * time.Second)
	err := h.sched.Tick(context.Background(), h.pool.Name)
	if err == nil || !strings.Contains(err.Error(), "database is locked") {
		t.Fatalf("first tick with the state locked: %v, want the SQLITE_BUSY error", err)
	}
	if n := h.emu.Calls("RunInstances"); n != 0 {
		t.Fatalf("%d launch calls, want none", n)
	}
}

// gaugeOf is the train pool's gauge name, as gathered from reg (-1 when
// absent).
func gaugeOf(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "pool" && l.GetValue() == "train" {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

// TestANewTermRecallsNothing: what a leader's ticks read is its term's
// own. A server that loses the lease and takes it again (another server
// may have led meanwhile, and ended or launched instances) while the
// state cannot be read must not go on from what it read in its earlier
// term: its tick fails, and ends nothing.
func TestANewTermRecallsNothing(t *testing.T) {
	locked := newLockedState(t)
	lead := &fakeLeader{}
	lead.set(1, true, -1)
	h := newHarness(t, testPool(), func(h *harness) {
		h.wrap = func(st state.Store) state.Store { locked.Store = st; return locked }
		h.opts.Leader = lead
	})
	h.setDemand(2*time.Minute, 8, 8)
	for range 3 {
		h.agents.setBusy(8)
		h.step(30 * time.Second)
	}
	if len(h.live()) != 2 {
		t.Fatalf("%d instances before the lock, want 2", len(h.live()))
	}
	h.setDemand(0)
	h.agents.setBusy(0)
	locked.locked.Store(true)
	lead.set(2, true, -1) // a term of its own again, another may have led in between
	h.clk.Step(30 * time.Minute)
	h.serveAgents()
	err := h.sched.Tick(context.Background(), h.pool.Name)
	if err == nil || !strings.Contains(err.Error(), "database is locked") {
		t.Fatalf("first tick of a new term with the state locked: %v, want it to fail with the SQLITE_BUSY error", err)
	}
	if n := h.emu.Calls("TerminateInstances"); n != 0 || len(h.drainedIDs()) != 0 {
		t.Fatalf("first tick of a new term with the state locked: %d terminate calls, drains %v; want none", n, h.drainedIDs())
	}
}
