package postgres

import (
	"testing"
	"time"
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
