package postgres

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

// An operator deletes or edits the lease row by hand (to force a failover,
// or by mistake): the next term still begins, at an epoch above every term
// leader_terms recorded, so fenced writes and launch tags never go back.
func TestLeaseRecoversFromARowChangedByHand(t *testing.T) {
	for _, tt := range []struct {
		name string
		sql  string
	}{
		{"row deleted", `DELETE FROM leader_lease`},
		{"epoch set back", `UPDATE leader_lease SET epoch = 1, expires_at = clock_timestamp()`},
		{"epoch set back, still live", `UPDATE leader_lease SET epoch = 1`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, newDB(t))
			ctx := t.Context()
			a, b := lease(t, s, "a", time.Minute), lease(t, s, "b", time.Minute)
			e1, _, err := a.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Release(ctx, e1); err != nil {
				t.Fatal(err)
			}
			e2, ok, err := b.Acquire(ctx)
			if err != nil || !ok {
				t.Fatalf("b.Acquire: %d, %v, %v", e2, ok, err)
			}
			if _, err := s.pool.Exec(ctx, tt.sql); err != nil {
				t.Fatal(err)
			}
			if ok, err := b.Renew(ctx, e2); err != nil || ok {
				t.Fatalf("b.Renew(%d) after the row was changed by hand: %v, %v; want refused (b steps down)", e2, ok, err)
			}
			expire(t, s)
			e3, ok, err := a.Acquire(ctx)
			if err != nil || !ok || e3 != e2+1 {
				t.Fatalf("a.Acquire after the row was changed by hand: epoch %d, %v, %v; want %d, true", e3, ok, err, e2+1)
			}
		})
	}
}

// A database holds one lease name: a second name is refused with an error
// naming both and what to do, and the first name's free row is taken at
// epoch 1 as a never-taken lease would be.
func TestClaimLeaseRefusesASecondName(t *testing.T) {
	s := openStore(t, newDB(t))
	ctx := t.Context()
	for range 2 {
		if err := s.ClaimLease(ctx, "spillway/a"); err != nil {
			t.Fatalf("ClaimLease(spillway/a): %v", err)
		}
	}
	err := s.ClaimLease(ctx, "spillway/b")
	var lc *LeaseConflictError
	if !errors.As(err, &lc) || lc.Want != "spillway/b" || len(lc.Have) != 1 || lc.Have[0] != "spillway/a" ||
		!strings.Contains(err.Error(), `DELETE FROM leader_lease WHERE name = 'spillway/a'`) {
		t.Fatalf("ClaimLease(spillway/b) on a's database: %v, want a *LeaseConflictError naming spillway/a", err)
	}
	info, err := s.LeaseInfo(ctx, "spillway/a")
	if err != nil || info.Holder != "" || info.Live {
		t.Fatalf("LeaseInfo of a claimed lease: %+v, %v; want free", info, err)
	}
	l, err := s.Lease("spillway/a", "x", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok, err := l.Acquire(ctx); err != nil || !ok || e != 1 {
		t.Fatalf("Acquire of a claimed lease: epoch %d, %v, %v; want 1, true", e, ok, err)
	}
}

// A newer binary migrates the database while this one leads (a rolling
// upgrade): this leader hands over at its next renewal, releasing the
// lease, and no server of this binary takes it again; the error says what
// to do.
func TestLeaseNotLedOnceANewerBinaryMigrated(t *testing.T) {
	s := openStore(t, newDB(t))
	ctx := t.Context()
	el := NewElector(lease(t, s, "old", time.Minute), 10*time.Second, nil, nil)
	el.Step(ctx)
	if _, ok := el.Acting(); !ok {
		t.Fatal("the elector did not take a free lease")
	}
	newer := SchemaVersion() + 1
	if _, err := s.pool.Exec(ctx, `INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, 'from_a_newer_build', '', 0)`, newer); err != nil {
		t.Fatal(err)
	}
	el.Step(ctx)
	if e, ok := el.Acting(); ok {
		t.Fatalf("the old binary still leads at epoch %d after a newer one migrated the schema", e)
	}
	if info, err := s.LeaseInfo(ctx, "leader"); err != nil || info.Live {
		t.Fatalf("the lease after the old leader handed over: %+v, %v; want released", info, err)
	}
	_, ok, err := lease(t, s, "old2", time.Minute).Acquire(ctx)
	var se *state.SchemaError
	if ok || !errors.As(err, &se) || se.Have != newer || se.Know != SchemaVersion() || !strings.Contains(err.Error(), "upgrade spillway") {
		t.Fatalf("Acquire by the old binary on a newer schema: %v, %v; want a *state.SchemaError", ok, err)
	}
}
