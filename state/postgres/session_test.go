package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/spillway-io/spillway/internal/fixture"
	"github.com/spillway-io/spillway/state"
)

// TestEndedSessionsAreReplaced ends every pooled session of a store while
// they sit idle, as a restart, a failover or pg_terminate_backend() does,
// and checks that once the database is back no call fails: not the first
// read, nor a fenced write, nor the lease's renewal (before, each dead
// session failed one call: a tick's read, a launch's intent, or the
// renewal that keeps the leader's term). The sessions are pinged only when
// their socket shows the end (the idle ping is set to an hour here, so that
// nothing else can save the calls).
func TestEndedSessionsAreReplaced(t *testing.T) {
	t.Parallel() // its own PostgreSQL server, whose sessions it ends
	srv, err := fixture.StartPostgres()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	admin, err := pgx.Connect(t.Context(), srv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.WithoutCancel(t.Context())) })

	const maxConns = 8
	at := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	for _, end := range []struct {
		name string
		end  func(t *testing.T, db string)
	}{
		{"every session terminated", func(t *testing.T, db string) {
			if _, err := admin.Exec(t.Context(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, db); err != nil {
				t.Fatal(err)
			}
			// pg_terminate_backend only signals: wait until the sessions are gone.
			gone := pollUntil(t, 10*time.Second, func() bool {
				var n int
				err := admin.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity WHERE datname = $1`, db).Scan(&n)
				return err == nil && n == 0
			})
			if !gone {
				t.Fatal("the sessions were not ended within 10s")
			}
		}},
		{"the server restarted (pg_ctl restart -m fast)", func(t *testing.T, db string) {
			if err := srv.Restart(); err != nil {
				t.Fatal(err)
			}
			a, err := pgx.Connect(t.Context(), srv.DSN("postgres"))
			if err != nil {
				t.Fatal(err)
			}
			admin.Close(t.Context())
			admin = a
		}},
	} {
		for _, call := range []struct {
			name string
			call func(ctx context.Context, s *Store, l *Lease, epoch int64, i int) error
		}{
			{"a read", func(ctx context.Context, s *Store, _ *Lease, _ int64, _ int) error {
				_, err := s.Intents(ctx, state.IntentFilter{})
				return err
			}},
			{"a fenced write", func(ctx context.Context, s *Store, _ *Lease, epoch int64, i int) error {
				f := s.FencedBy("leader", func() (int64, bool) { return epoch, true })
				id := fmt.Sprintf("intent-%d", i)
				return f.CreateIntent(ctx, state.Intent{ID: id, Pool: "train", Provider: "aws", Offering: "p5-use1-spot", Count: 1, Reason: "demand", ClientToken: "spw-" + id, CreatedAt: at})
			}},
			{"the lease's renewal", func(ctx context.Context, _ *Store, l *Lease, epoch int64, _ int) error {
				ok, err := l.Renew(ctx, epoch)
				if err == nil && !ok {
					return fmt.Errorf("the term at epoch %d was lost", epoch)
				}
				return err
			}},
		} {
			t.Run(end.name+"/"+call.name, func(t *testing.T) {
				db, err := srv.CreateDatabase("s")
				if err != nil {
					t.Fatal(err)
				}
				s, err := Open(t.Context(), srv.DSN(db), WithMaxConns(maxConns), withPingIdle(time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				l := lease(t, s, "a", time.Minute)
				epoch, ok, err := l.Acquire(t.Context())
				if err != nil || !ok {
					t.Fatalf("Acquire = %v, %v", ok, err)
				}
				// Every session of the pool open and idle.
				var held []interface{ Release() }
				for range maxConns {
					c, err := s.pool.Acquire(t.Context())
					if err != nil {
						t.Fatal(err)
					}
					held = append(held, c)
				}
				for _, c := range held {
					c.Release()
				}

				end.end(t, db)

				var failed []string
				for i := range maxConns + 1 { // one call more than there were dead sessions
					if err := call.call(t.Context(), s, l, epoch, i); err != nil {
						failed = append(failed, fmt.Sprintf("call %d: %v", i+1, err))
					}
				}
				if len(failed) > 0 {
					t.Errorf("%d of %d calls failed after the database was back:\n%v", len(failed), maxConns+1, failed)
				}
			})
		}
	}
}
