package scheduler_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/spillway-io/spillway/internal/fixture"
	"github.com/spillway-io/spillway/state"
	"github.com/spillway-io/spillway/state/postgres"
)

// TestDeposedLeaderMakesNoTerminate: a terminate's write-ahead record
// (askEnds) that the database refused as a deposed leader's (its fence:
// the lease is at another epoch) was logged and the terminate called
// anyway, by a server whose own clock still said it led (a paused
// process, a skewed clock): it raced the new leader, which read no
// terminate on the row and decides for the instance itself. Such a
// refusal now makes no call, and the row is left as it was; a write that
// fails otherwise (a full disk, a database taking no writes) still
// calls it (TestIdleInstanceEndsWhileTheStateTakesNoWrites).
//
// Server a's state is PostgreSQL, its writes fenced by the lease in the
// database; its Leader says it leads at epoch 1 throughout. The instance
// is stopped by hand, which a tick terminates at once, after server b
// took the lease.
func TestDeposedLeaderMakesNoTerminate(t *testing.T) {
	pg, err := fixture.StartPostgres()
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	t.Cleanup(pg.Stop)
	db, err := pg.CreateDatabase("deposed")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const leaseName = "spillway/" + cluster
	var leaseA *postgres.Lease
	var epochA int64
	rig := newLagRigWith(t, lagClouds[0], 0, func(h *harness) {
		h.pgDSN = pg.DSN(db)
		h.wrap = func(st state.Store) state.Store {
			pst := st.(*postgres.Store)
			l, err := pst.Lease(leaseName, "a", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			e, ok, err := l.Acquire(ctx)
			if err != nil || !ok {
				t.Fatalf("server a did not take a free lease: %v", err)
			}
			leaseA, epochA = l, e
			// a's own view: it leads, whatever the database says.
			h.opts.Leader = &fakeLeader{epoch: e, ok: true, budget: -1}
			return pst.FencedBy(leaseName, func() (int64, bool) { return e, true })
		}
	})
	h := rig.harness
	h.setDemand(2*time.Minute, 8)
	h.tick()
	rows := h.rows(true)
	if len(rows) != 1 {
		t.Fatalf("%d live rows after the launch, want 1", len(rows))
	}
	id := rows[0].ID
	h.until("the instance joins", 30*time.Second, 10, func() bool { return rowOf(t, h, id).State == state.InstanceRunning })

	// Server b takes the lease.
	if err := leaseA.Release(ctx, epochA); err != nil {
		t.Fatal(err)
	}
	stB, err := postgres.Open(ctx, pg.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stB.Close() })
	leaseB, err := stB.Lease(leaseName, "b", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if epochB, ok, err := leaseB.Acquire(ctx); err != nil || !ok || epochB == epochA {
		t.Fatalf("server b did not take the lease: epoch %d, %v, %v", epochB, ok, err)
	}

	stopByHand(t, rig, id)
	ends := rig.ends.Load()
	h.clk.Step(30 * time.Second)
	if err := h.sched.Tick(ctx, h.pool.Name); err != nil && !errors.Is(err, state.ErrFenced) {
		t.Fatalf("a's tick: %v", err)
	}
	if n := rig.ends.Load() - ends; n != 0 {
		t.Errorf("server a, deposed (its record of the terminate fenced), made %d %s call(s) for instance %s; want none: the leader decides", n, rig.c.terminate, id)
	}
	r := rowOf(t, h, id)
	if r.EndReason != "" || r.State == state.InstanceTerminating || r.State == state.InstanceEnded {
		t.Errorf("row of instance %s: %s, end reason %q; want it as it was, no terminate asked", id, r.State, r.EndReason)
	}
	for _, in := range rig.launched() {
		if in.ID == id && in.State != "stopped" && in.State != "stopping" {
			t.Errorf("instance %s is %s in the cloud, want stopped: the deposed server ends nothing", id, in.State)
		}
	}
}
