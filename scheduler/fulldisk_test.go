package scheduler_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/scheduler"
	"github.com/spillway-io/spillway/state"
)

// fullDisk is a state whose writes fail, while full is set, with SQLite's
// own "database or disk is full" (SQLITE_FULL); its reads succeed, as a
// full disk's do.
type fullDisk struct {
	refusedWrites
	full   atomic.Bool
	err    error
	mu     sync.Mutex
	failed int // writes refused
}

func newFullDisk(t *testing.T) *fullDisk {
	d := &fullDisk{err: diskFullError(t)}
	d.refusedWrites.refuse = d.refuse
	return d
}

// diskFullError is the error SQLite returns when its file cannot grow: a
// database capped at 2 pages is filled.
func diskFullError(t *testing.T) error {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "full.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{"PRAGMA max_page_count = 2", "CREATE TABLE f (b BLOB)"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	_, err = db.Exec("INSERT INTO f VALUES (zeroblob(100000))")
	var se *sqlite.Error
	if !errors.As(err, &se) || se.Code() != sqlite3.SQLITE_FULL {
		t.Fatalf("filling a 2-page database: %v, want SQLITE_FULL", err)
	}
	return err
}

func (d *fullDisk) refuse(what string) error {
	if !d.full.Load() {
		return nil
	}
	d.mu.Lock()
	d.failed++
	d.mu.Unlock()
	return fmt.Errorf("%s: %w", what, d.err)
}

// refusedWrites is a state whose writes are each put to refuse first: an
// error refuses the write (fullDisk, lockedState).
type refusedWrites struct {
	state.Store
	refuse func(what string) error
}

func (w refusedWrites) CreateIntent(ctx context.Context, in state.Intent) error {
	if err := w.refuse("create intent"); err != nil {
		return err
	}
	return w.Store.CreateIntent(ctx, in)
}

func (w refusedWrites) FinishIntent(ctx context.Context, id string, st state.IntentStatus, ids []string, msg string, at time.Time) error {
	if err := w.refuse("finish intent"); err != nil {
		return err
	}
	return w.Store.FinishIntent(ctx, id, st, ids, msg, at)
}

func (w refusedWrites) PutInstance(ctx context.Context, in state.Instance) error {
	if err := w.refuse("put instance"); err != nil {
		return err
	}
	return w.Store.PutInstance(ctx, in)
}

func (w refusedWrites) PutInstances(ctx context.Context, ins []state.Instance) error {
	if err := w.refuse("put instances"); err != nil {
		return err
	}
	return w.Store.PutInstances(ctx, ins)
}

func (w refusedWrites) CreateFloor(ctx context.Context, fl state.Floor) error {
	if err := w.refuse("create floor"); err != nil {
		return err
	}
	return w.Store.CreateFloor(ctx, fl)
}

func (w refusedWrites) EndFloor(ctx context.Context, id string, at time.Time, reason string) error {
	if err := w.refuse("end floor"); err != nil {
		return err
	}
	return w.Store.EndFloor(ctx, id, at, reason)
}

func (w refusedWrites) SetFloorGPUs(ctx context.Context, id string, gpus int, reason string) error {
	if err := w.refuse("set floor gpus"); err != nil {
		return err
	}
	return w.Store.SetFloorGPUs(ctx, id, gpus, reason)
}

func (w refusedWrites) AddDecision(ctx context.Context, dec state.Decision) (int64, error) {
	if err := w.refuse("add decision"); err != nil {
		return 0, err
	}
	return w.Store.AddDecision(ctx, dec)
}

func (w refusedWrites) RecordSpend(ctx context.Context, e state.SpendEntry) error {
	if err := w.refuse("record spend"); err != nil {
		return err
	}
	return w.Store.RecordSpend(ctx, e)
}

func (w refusedWrites) RecordSpends(ctx context.Context, es []state.SpendEntry) error {
	if err := w.refuse("record spends"); err != nil {
		return err
	}
	return w.Store.RecordSpends(ctx, es)
}

func (w refusedWrites) AddIdleGaps(ctx context.Context, gs []state.IdleGap) error {
	if err := w.refuse("add idle gaps"); err != nil {
		return err
	}
	return w.Store.AddIdleGaps(ctx, gs)
}

func (w refusedWrites) PutHold(ctx context.Context, hd state.Hold) error {
	if err := w.refuse("put hold"); err != nil {
		return err
	}
	return w.Store.PutHold(ctx, hd)
}

func (w refusedWrites) PutUnavailable(ctx context.Context, u state.Unavailable) error {
	if err := w.refuse("put unavailable"); err != nil {
		return err
	}
	return w.Store.PutUnavailable(ctx, u)
}

func (w refusedWrites) DeleteUnavailable(ctx context.Context, u state.Unavailable) error {
	if err := w.refuse("delete unavailable"); err != nil {
		return err
	}
	return w.Store.DeleteUnavailable(ctx, u)
}

// billing follows what the emulator bills: each instance from its launch
// until the step at which the cloud first shows it ending.
type billing struct {
	h     *harness
	ended map[string]time.Time
}

func (b *billing) see() {
	for _, in := range b.h.emu.Instances() {
		if _, ok := b.ended[in.ID]; !ok && (in.State == "shutting-down" || in.State == "terminated") {
			b.ended[in.ID] = b.h.clk.Now()
		}
	}
}

func (b *billing) total(o policy.Offering) float64 {
	var sum float64
	for _, in := range b.h.emu.Instances() {
		end, ok := b.ended[in.ID]
		if !ok {
			end = b.h.clk.Now()
		}
		sum += policy.BilledCost(o, in.LaunchTime, end)
	}
	return sum
}

// stepFull steps as h.step does, but notes a failed tick instead of
// ending the test (without the fix, every tick fails while the state
// takes no writes), and follows the bill.
func (h *harness) stepFull(d time.Duration, b *billing, failed *error) {
	h.t.Helper()
	h.clk.Step(d)
	h.serveAgents()
	if err := h.sched.Tick(context.Background(), h.pool.Name); err != nil && *failed == nil {
		*failed = err
	}
	b.see()
}

// TestHardBudgetHoldsWhileTheStateTakesNoWrites: with the disk full, every
// tick failed at the spend ledger's write before deciding, so three busy
// instances ran on past a $100 hard budget. The ticks now go on from
// memory, counting the spend the ledger could not take, and the budget
// drains and ends them, across a restart too; when the disk frees, the
// ledger and the rows catch up, and nothing was launched meanwhile.
func TestHardBudgetHoldsWhileTheStateTakesNoWrites(t *testing.T) {
	disk := newFullDisk(t)
	p := testPool()
	p.Limits.Budget = &policy.Budget{Amount: 100, Period: policy.PeriodDay}
	p.Interval = policy.Duration(30 * time.Second)
	h := newHarness(t, p, func(h *harness) {
		h.wrap = func(st state.Store) state.Store { disk.Store = st; return disk }
	})
	b := &billing{h: h, ended: map[string]time.Time{}}
	var failed error
	h.setDemand(2*time.Minute, 8, 8, 8)
	for range 10 {
		h.agents.setBusy(8)
		h.stepFull(30*time.Second, b, &failed)
	}
	if failed != nil || len(h.live()) == 0 {
		t.Fatalf("before the disk filled: %d instances, tick error %v; want some and none", len(h.live()), failed)
	}
	launches := h.emu.Calls("RunInstances")
	disk.full.Store(true)
	for i := range 200 { // 100 minutes
		h.agents.setBusy(8)
		h.stepFull(30*time.Second, b, &failed)
		if i == 60 {
			h.restart()
		}
	}
	billed := b.total(p.Offerings[0])
	if billed > p.Limits.Budget.Amount || len(h.live()) != 0 {
		t.Fatalf("with the disk full: the emulator billed $%.2f of a $%.0f budget and %d instances still run (tick error: %v); want within the budget, none running",
			billed, p.Limits.Budget.Amount, len(h.live()), failed)
	}
	if failed != nil {
		t.Fatalf("a tick failed with the disk full: %v", failed)
	}
	st, _ := h.sched.LastStatus(p.Name)
	if !strings.Contains(st.StateErr, "database or disk is full") || st.Spend.Accrued < billed-0.01 {
		t.Fatalf("status with the disk full: state error %q, spend $%.2f; want the disk-full error and at least the $%.2f billed", st.StateErr, st.Spend.Accrued, billed)
	}
	if n := h.emu.Calls("RunInstances"); n != launches {
		t.Fatalf("%d launch calls while the disk was full, want none", n-launches)
	}
	t.Logf("with the disk full: billed $%.2f, the spend the policy saw $%.2f (%d writes refused)", billed, st.Spend.Accrued, disk.failed)

	disk.full.Store(false)
	h.stepFull(30*time.Second, b, &failed)
	start, _ := p.BudgetPeriod(h.clk.Now())
	spent, err := h.store.Spend(context.Background(), p.Name, start)
	if err != nil {
		t.Fatal(err)
	}
	if spent < billed-0.01 || spent > p.Limits.Budget.Amount {
		t.Fatalf("once the disk freed: the ledger holds $%.2f; want what was billed, $%.2f, within the $%.0f budget", spent, billed, p.Limits.Budget.Amount)
	}
	if live := h.rows(true); len(live) != 0 {
		t.Fatalf("once the disk freed: %d rows still live, want every instance's row ended", len(live))
	}
	if st, _ := h.sched.LastStatus(p.Name); st.StateErr != "" {
		t.Fatalf("once the disk freed: status still says %q", st.StateErr)
	}
}

// TestIdleInstanceEndsWhileTheStateTakesNoWrites: an instance left idle
// while the disk is full is drained once (its hook runs once, though its
// drain cannot be recorded) and terminated; when the disk frees, its row
// and the decisions are written, nothing is launched again, nothing leaks.
func TestIdleInstanceEndsWhileTheStateTakesNoWrites(t *testing.T) {
	disk := newFullDisk(t)
	h := newHarness(t, testPool(), func(h *harness) {
		h.wrap = func(st state.Store) state.Store { disk.Store = st; return disk }
	})
	b := &billing{h: h, ended: map[string]time.Time{}}
	var failed error
	h.setDemand(2*time.Minute, 8)
	h.until("one instance launched", 30*time.Second, 10, func() bool { return len(h.rows(true)) == 1 })
	h.setDemand(0) // the job found its instance
	h.until("one instance runs work", 30*time.Second, 10, func() bool {
		h.agents.setBusy(8)
		rs := h.rows(true)
		return len(rs) == 1 && rs[0].BusyGPUs == 8
	})
	id := h.rows(true)[0].ID
	launches := h.emu.Calls("RunInstances")
	decided := len(h.decisions())
	disk.full.Store(true)
	h.setDemand(0)
	h.agents.setBusy(0)
	for range 40 { // 20 minutes: past scale_in.idle and the drain
		h.stepFull(30*time.Second, b, &failed)
	}
	if failed != nil || len(h.live()) != 0 {
		t.Fatalf("with the disk full: %d instances still run, tick error %v; want the idle one ended", len(h.live()), failed)
	}
	h.mu.Lock()
	drained := append([]string(nil), h.drained...)
	h.mu.Unlock()
	if len(drained) != 1 || drained[0] != id {
		t.Fatalf("drain hook ran for %v with the disk full, want once for %s", drained, id)
	}
	if rs := h.rows(true); len(rs) != 1 || rs[0].State != state.InstanceRunning {
		t.Fatalf("rows with the disk full: %+v, want the one running row as last written", rs)
	}

	disk.full.Store(false)
	h.stepFull(30*time.Second, b, &failed)
	if failed != nil {
		t.Fatalf("once the disk freed: %v", failed)
	}
	rs := h.rows(false)
	if len(rs) != 1 || rs[0].State != state.InstanceEnded || rs[0].DrainHookAt.IsZero() || rs[0].EndReason == "" {
		t.Fatalf("once the disk freed: rows %+v, want %s ended, its drain and end recorded", rs, id)
	}
	if len(h.decisions()) <= decided {
		t.Fatal("once the disk freed: no decision recorded")
	}
	if n := h.emu.Calls("RunInstances"); n != launches || len(h.live()) != 0 {
		t.Fatalf("once the disk freed: %d more launch calls, %d instances running; want none", n-launches, len(h.live()))
	}
	start, _ := h.pool.BudgetPeriod(h.clk.Now())
	spent, err := h.store.Spend(context.Background(), h.pool.Name, start)
	if err != nil {
		t.Fatal(err)
	}
	if billed := b.total(h.pool.Offerings[0]); spent < billed-0.01 {
		t.Fatalf("once the disk freed: the ledger holds $%.2f, want the $%.2f billed", spent, billed)
	}
}

// TestCancelledBurstEndsWhileTheStateTakesNoWrites: a burst cancelled just
// before the disk filled has its instance drained and ended all the same,
// and a launch intent left pending for it is neither resumed nor counted,
// though its end cannot be written (that write failed the tick before);
// once the disk frees, it is written failed.
func TestCancelledBurstEndsWhileTheStateTakesNoWrites(t *testing.T) {
	disk := newFullDisk(t)
	h := newHarness(t, testPool(), func(h *harness) {
		h.wrap = func(st state.Store) state.Store { disk.Store = st; return disk }
	})
	b := &billing{h: h, ended: map[string]time.Time{}}
	var failed error
	h.setDemand(0)
	ctx := context.Background()
	fl, err := h.sched.CreateBurst(ctx, scheduler.BurstRequest{Pool: h.pool.Name, GPUs: 8, For: 2 * time.Hour, Reason: "incident", Principal: "oncall"})
	if err != nil {
		t.Fatal(err)
	}
	h.until("the burst's instance runs work", 30*time.Second, 10, func() bool {
		h.agents.setBusy(8)
		rs := h.rows(true)
		return len(rs) == 1 && rs[0].State == state.InstanceRunning
	})
	if _, err := h.sched.CancelBurst(ctx, fl.ID, "oncall"); err != nil {
		t.Fatal(err)
	}
	// A launch for the burst whose answer was lost, written 5 minutes ago.
	left := state.Intent{ID: "20261130t085500-0000000000aa", Pool: h.pool.Name, Provider: provName, Offering: "p4d", Count: 1, Floor: fl.ID,
		Reason: "burst", Status: state.IntentPending, ClientToken: "spw-20261130t085500-0000000000aa",
		CreatedAt: h.clk.Now().Add(-5 * time.Minute), UpdatedAt: h.clk.Now().Add(-5 * time.Minute)}
	if err := h.store.CreateIntent(ctx, left); err != nil {
		t.Fatal(err)
	}
	launches := h.emu.Calls("RunInstances")
	disk.full.Store(true)
	for range 30 { // 15 minutes: past the drain timeout
		h.stepFull(30*time.Second, b, &failed)
	}
	if failed != nil || len(h.live()) != 0 {
		t.Fatalf("with the disk full: %d instances of the cancelled burst still run, tick error %v; want none", len(h.live()), failed)
	}
	if n := h.emu.Calls("RunInstances"); n != launches {
		t.Fatalf("%d launch calls with the disk full, want none (the burst was cancelled)", n-launches)
	}
	disk.full.Store(false)
	h.stepFull(30*time.Second, b, &failed)
	if rs := h.rows(true); failed != nil || len(rs) != 0 {
		t.Fatalf("once the disk freed: live rows %+v, tick error %v; want none", rs, failed)
	}
	pending, err := h.store.Intents(ctx, state.IntentFilter{Pool: h.pool.Name, Status: state.IntentPending})
	if err != nil || len(pending) != 0 {
		t.Fatalf("once the disk freed: pending intents %+v (%v), want the cancelled burst's written failed", pending, err)
	}
}

// TestScheduleEndsWhileTheStateTakesNoWrites: a schedule's window that
// ends while the disk is full (its floor can be neither recorded nor
// ended) holds its instance no longer, which ends; once the disk frees,
// the floor is closed at the window's end.
func TestScheduleEndsWhileTheStateTakesNoWrites(t *testing.T) {
	disk := newFullDisk(t)
	p := testPool()
	p.Schedules = []policy.Schedule{{Name: "morning", Cron: "30 9 * * 1-5", GPUs: 8, Duration: policy.Duration(time.Hour)}}
	h := newHarness(t, p, func(h *harness) {
		h.wrap = func(st state.Store) state.Store { disk.Store = st; return disk }
	})
	b := &billing{h: h, ended: map[string]time.Time{}}
	var failed error
	h.setDemand(0)
	h.until("the schedule opens at 09:30", time.Minute, 40, func() bool { return len(h.live()) == 1 })
	disk.full.Store(true)
	for h.clk.Now().Before(t0.Add(90 * time.Minute)) {
		h.stepFull(time.Minute, b, &failed)
	}
	if failed != nil || len(h.live()) != 1 {
		t.Fatalf("inside the window with the disk full: %d instances, tick error %v; want the schedule's one", len(h.live()), failed)
	}
	for range 20 { // past scale_in.idle and the drain
		h.stepFull(time.Minute, b, &failed)
	}
	if failed != nil || len(h.live()) != 0 {
		t.Fatalf("20 minutes after the window with the disk full: %d instances still run, tick error %v; want none", len(h.live()), failed)
	}
	disk.full.Store(false)
	h.stepFull(time.Minute, b, &failed)
	fls, err := h.store.Floors(context.Background(), state.FloorFilter{Pool: p.Name, Kind: state.FloorSchedule})
	if err != nil || len(fls) != 1 || !fls[0].EndedAt.Equal(t0.Add(90*time.Minute)) {
		t.Fatalf("once the disk freed: schedule floors %+v (%v), want one ended at 10:30", fls, err)
	}
	if rs := h.rows(true); failed != nil || len(rs) != 0 {
		t.Fatalf("once the disk freed: live rows %+v, tick error %v; want none", rs, failed)
	}
}

// TestPendingIntentWaitsWhileTheStateTakesNoWrites: a launch intent left
// pending (its answer lost) is resumed under its client token; while the
// disk is full, what the resume launches cannot be recorded, so it is
// resumed no more until the disk frees, and then gets the same instance,
// never a second.
func TestPendingIntentWaitsWhileTheStateTakesNoWrites(t *testing.T) {
	disk := newFullDisk(t)
	h := newHarness(t, testPool(), func(h *harness) {
		h.wrap = func(st state.Store) state.Store { disk.Store = st; return disk }
	})
	b := &billing{h: h, ended: map[string]time.Time{}}
	var failed error
	h.setDemand(0) // the intent's job runs on what it launches
	ctx := context.Background()
	written := h.clk.Now().Add(-30 * time.Second)
	left := state.Intent{ID: "20261130t085930-0000000000bb", Pool: h.pool.Name, Provider: provName, Offering: "p4d", Count: 1,
		Reason: "queue", Status: state.IntentPending, ClientToken: "spw-20261130t085930-0000000000bb", CreatedAt: written, UpdatedAt: written}
	if err := h.store.CreateIntent(ctx, left); err != nil {
		t.Fatal(err)
	}
	// Found pending, it is resumed once what an earlier process launched
	// for it would be listed (providers.ConsistencyWindow); the disk fills
	// up meanwhile.
	h.tick()
	h.clk.Step(providers.ConsistencyWindow)
	disk.full.Store(true)
	for range 10 {
		h.agents.setBusy(8)
		h.stepFull(30*time.Second, b, &failed)
	}
	if n := h.emu.Calls("RunInstances"); failed != nil || n != 1 || len(h.live()) != 1 {
		t.Fatalf("with the disk full: %d launch calls, %d instances, tick error %v; want the one resume, its one instance, none", n, len(h.live()), failed)
	}
	disk.full.Store(false)
	for range 3 {
		h.agents.setBusy(8)
		h.stepFull(30*time.Second, b, &failed)
	}
	rs := h.rows(true)
	if failed != nil || len(h.live()) != 1 || len(rs) != 1 || rs[0].IntentID != left.ID {
		t.Fatalf("once the disk freed: %d instances, rows %+v, tick error %v; want the intent's one instance, recorded", len(h.live()), rs, failed)
	}
	pending, err := h.store.Intents(ctx, state.IntentFilter{Pool: h.pool.Name, Status: state.IntentPending})
	if err != nil || len(pending) != 0 {
		t.Fatalf("once the disk freed: pending intents %+v (%v), want none", pending, err)
	}
}
