package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/internal/fixture"
	"github.com/spillway-io/spillway/state"
)

// A database host that vanishes without closing its sessions (a network
// partition, a frozen VM, a firewall dropping packets) sends no FIN and no
// RST: nothing in a socket tells that it is gone. These tests put a store
// behind a proxy that, once cut, passes no byte either way and keeps every
// socket open, and check that no call outlives its context by more than the
// time to give up on it, and that the store recovers without a restart.

// blackHoled opens a store in a new database behind a proxy the test cuts,
// with every session of its pool open and idle, and returns a store on the
// same database reached directly.
func blackHoled(t *testing.T) (via, direct *Store, proxy *fixture.Proxy) {
	t.Helper()
	dsn := newDB(t)
	proxy, err := fixture.StartProxy(pg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	via, err = Open(t.Context(), strings.Replace(dsn, pg.Addr, proxy.Addr, 1)+"&connect_timeout=1", WithMaxConns(4))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { via.Close() })
	return via, openStore(t, dsn), proxy
}

// within runs call under a context ending after d and reports how long it
// took; it fails the test if call is still running well after that (it
// then lifts the black hole so that the call ends and leaks nothing).
func within(t *testing.T, proxy *fixture.Proxy, d, slack time.Duration, call func(ctx context.Context) error) (time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	type result struct {
		took time.Duration
		err  error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		err := call(ctx)
		done <- result{time.Since(start), err}
	}()
	guard := time.NewTimer(d + slack)
	defer guard.Stop()
	select {
	case r := <-done:
		return r.took, r.err
	case <-guard.C:
		proxy.Restore() // the hung call fails now and ends
		r := <-done
		t.Fatalf("the call hung %s on a database that vanished, past its deadline of %s (it ended only when the connections were closed: %v)", time.Since(start).Round(time.Millisecond), d, r.err)
		return 0, nil
	}
}

// TestVanishedDatabaseCallsEndAtTheirDeadline cuts the database off while
// each kind of call is made, measures how long the call takes (its
// deadline: 500ms), and checks that once the cut is over the same store
// serves the next calls: with the connections reset (as a partition that
// outlived the sessions' TCP timeouts leaves them), or kept (a short one,
// TCP delivering what it held).
func TestVanishedDatabaseCallsEndAtTheirDeadline(t *testing.T) {
	const deadline, slack = 500 * time.Millisecond, 3 * time.Second
	at := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		call func(ctx context.Context, s *Store, l *Lease, epoch int64, cut func()) error
	}{
		{"a read", func(ctx context.Context, s *Store, _ *Lease, _ int64, cut func()) error {
			cut()
			_, err := s.Intents(ctx, state.IntentFilter{})
			return err
		}},
		{"a fenced write", func(ctx context.Context, s *Store, _ *Lease, epoch int64, cut func()) error {
			cut()
			f := s.FencedBy("leader", func() (int64, bool) { return epoch, true })
			return f.CreateIntent(ctx, state.Intent{ID: "i1", Pool: "train", Provider: "aws", Offering: "p5-use1-spot", Count: 1, Reason: "demand", ClientToken: "spw-i1", CreatedAt: at})
		}},
		{"the lease's renewal", func(ctx context.Context, _ *Store, l *Lease, epoch int64, cut func()) error {
			cut()
			_, err := l.Renew(ctx, epoch)
			return err
		}},
		{"a try of the lease", func(ctx context.Context, _ *Store, l *Lease, _ int64, cut func()) error {
			cut()
			_, _, err := l.Acquire(ctx)
			return err
		}},
		{"a ping (readiness)", func(ctx context.Context, s *Store, _ *Lease, _ int64, cut func()) error {
			cut()
			return s.Ping(ctx)
		}},
		// The transaction's statement is answered (here with an error, as a
		// constraint or the fence refuses a write) and the host vanishes
		// before its rollback: the rollback must not wait for ever.
		{"a write whose transaction is rolled back", func(ctx context.Context, s *Store, _ *Lease, _ int64, cut func()) error {
			return s.write(ctx, true, func(q querier) error {
				_, err := q.Exec(ctx, `SELECT 1/0`)
				cut()
				return err
			})
		}},
	} {
		for _, m := range []struct {
			name string
			// cut begins the partition, lift ends it.
			cut, lift func(p *fixture.Proxy)
			// failures is how many of the two calls after the lift may
			// fail: after a reset, one may meet a session closed just as
			// it was sent.
			failures int
		}{
			{"connections reset", (*fixture.Proxy).Cut, (*fixture.Proxy).Restore, 1},
			{"connections kept", (*fixture.Proxy).Hold, (*fixture.Proxy).Lift, 0},
		} {
			t.Run(c.name+"/"+m.name, func(t *testing.T) {
				s, direct, proxy := blackHoled(t)
				l := lease(t, s, "a", time.Minute)
				epoch, ok, err := lease(t, direct, "a", time.Minute).Acquire(t.Context())
				if err != nil || !ok {
					t.Fatalf("Acquire = %v, %v", ok, err)
				}
				took, err := within(t, proxy, deadline, slack, func(ctx context.Context) error {
					return c.call(ctx, s, l, epoch, func() { m.cut(proxy) })
				})
				if err == nil {
					t.Fatal("the call succeeded on a database that vanished")
				}
				t.Logf("took %s (deadline %s): %v", took.Round(time.Millisecond), deadline, err)

				m.lift(proxy)
				after := func() error {
					ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
					defer cancel()
					if _, err := s.Intents(ctx, state.IntentFilter{}); err != nil {
						return fmt.Errorf("read: %w", err)
					}
					if ok, err := l.Renew(ctx, epoch); err != nil || !ok {
						return fmt.Errorf("renewal: %v, %w", ok, err)
					}
					return nil
				}
				var errs []error
				for range 2 {
					if err := after(); err != nil {
						errs = append(errs, err)
					}
				}
				if len(errs) > m.failures {
					t.Fatalf("the store did not recover once the database was reachable again: %v", errors.Join(errs...))
				}
			})
		}
	}
}
