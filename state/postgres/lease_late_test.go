package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/internal/fixture"
)

// A lease call sent just before a partition is delivered once it lifts,
// after its caller gave up on it (TCP keeps what it sent), and before the
// cancel request pgx sent on a new connection once the deadline passed
// (the proxy holds a connection opened during the partition until the
// test lifts it, as a handshake's retransmission comes long after an
// established connection's): a try begins a term, a renewal extends one,
// that its holder never learned of. Until
// that term expired, nobody led: the holder's next tries were refused as
// another's would be. The holder's next try now renews the term it holds
// and leads at once.

// heldLease is a lease of holder "a" through a proxy the test holds, on a
// pool of one session (so the statement a test caches is the one a held
// call sends in one round trip, as a long-running server's sessions do),
// and a store on the same database reached directly.
func heldLease(t *testing.T, ttl time.Duration) (a *Lease, direct *Store, proxy *fixture.Proxy) {
	t.Helper()
	dsn := newDB(t)
	proxy, err := fixture.StartProxy(pg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	via, err := Open(t.Context(), strings.Replace(dsn, pg.Addr, proxy.Addr, 1), WithMaxConns(1), withPingIdle(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { via.Close() })
	return lease(t, via, "a", ttl), openStore(t, dsn), proxy
}

// lift lifts the partition for the held call and waits until the
// database shows it landed: a live term of holder at epoch (any epoch when
// 0) begun or extended since the lift (a renewal that landed moved its
// expiry on). It then lets through pgx's cancel request for the call,
// which the proxy held on its new connection: it comes once the call has
// landed and ends nothing. It returns the term the call left; ok is false
// when the call was a renewal (renewal) and its term ended first, so that
// it can no longer land: a loaded machine can take longer than the fifth
// of a short TTL that a renewal held past its deadline has to land in.
func lift(t *testing.T, s *Store, proxy *fixture.Proxy, holder string, epoch int64, renewal bool) (li LeaseInfo, ok bool) {
	t.Helper()
	before, err := s.LeaseInfo(t.Context(), "leader")
	if err != nil {
		t.Fatal(err)
	}
	proxy.Lift()
	defer proxy.LiftAll()
	landed := func() bool {
		return li.Live && li.Holder == holder && (epoch == 0 || li.Epoch == epoch) &&
			(li.Epoch != before.Epoch || li.Expires.After(before.Expires))
	}
	missed := func() bool {
		return renewal && !li.Live && li.Epoch == before.Epoch && !li.Expires.After(before.Expires)
	}
	if !pollUntil(t, 10*time.Second, func() bool {
		li, err = s.LeaseInfo(t.Context(), "leader")
		return err == nil && (landed() || missed())
	}) {
		t.Fatalf("the held call never reached the database: the lease is %+v, %v (before the lift %+v)", li, err, before)
	}
	return li, landed()
}

func TestLeaseCallAnsweredAfterItsDeadline(t *testing.T) {
	ctx := t.Context()
	for _, c := range []struct {
		name string
		// held sets up a's lease, makes the call the proxy holds past its
		// deadline, and returns the epoch of the term it lands.
		held func(t *testing.T, a *Lease, direct *Store, proxy *fixture.Proxy) int64
	}{
		{"a try of a free lease", func(t *testing.T, a *Lease, direct *Store, proxy *fixture.Proxy) int64 {
			b := lease(t, direct, "b", time.Minute)
			eb, ok, err := b.Acquire(ctx)
			if err != nil || !ok {
				t.Fatalf("b.Acquire: %v, %v", ok, err)
			}
			if _, ok, err := a.Acquire(ctx); err != nil || ok {
				t.Fatalf("a.Acquire while b leads: %v, %v; want refused", ok, err)
			}
			if err := b.Release(ctx, eb); err != nil {
				t.Fatal(err)
			}
			proxy.Hold()
			tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			defer cancel()
			if _, _, err := a.Acquire(tctx); err == nil {
				t.Fatal("a try through a held partition succeeded")
			}
			return eb + 1
		}},
		{"a renewal", func(t *testing.T, a *Lease, _ *Store, proxy *fixture.Proxy) int64 {
			ea, ok, err := a.Acquire(ctx)
			if err != nil || !ok {
				t.Fatalf("a.Acquire: %v, %v", ok, err)
			}
			if ok, err := a.Renew(ctx, ea); err != nil || !ok {
				t.Fatalf("a.Renew: %v, %v", ok, err)
			}
			proxy.Hold()
			tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			defer cancel()
			if _, err := a.Renew(tctx, ea); err == nil {
				t.Fatal("a renewal through a held partition succeeded")
			}
			return ea
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, direct, proxy := heldLease(t, time.Minute)
			epoch := c.held(t, a, direct, proxy)
			if _, ok := lift(t, direct, proxy, "a", epoch, false); !ok {
				t.Fatal("the held call's term ended before it landed")
			}

			if _, ok, err := lease(t, direct, "b", time.Minute).Acquire(ctx); err != nil || ok {
				t.Fatalf("b.Acquire while a's term runs: %v, %v; want refused", ok, err)
			}
			got, ok, err := a.Acquire(ctx)
			if err != nil || !ok || got != epoch {
				t.Fatalf("a's next try: epoch %d, %v, %v; want epoch %d, the term it holds (else nobody leads until it expires)", got, ok, err, epoch)
			}
			terms, err := direct.Terms(ctx, "leader")
			if err != nil {
				t.Fatal(err)
			}
			if last := terms[len(terms)-1]; last.Epoch != epoch || last.Holder != "a" {
				t.Fatalf("terms %+v: want the last at epoch %d by a, recorded once", terms, epoch)
			}
		})
	}
}

// TestLateLeaseCallLeavesALeader measures, through the elector, how long
// nobody leads after a partition that held the only live server's lease
// call past its deadline lifts (the other server is gone).
func TestLateLeaseCallLeavesALeader(t *testing.T) {
	const ttl = 3 * time.Second
	for _, c := range []struct {
		name string
		// held makes the elector send the call the proxy holds; it ends
		// with the elector not acting.
		held    func(t *testing.T, el *Elector, direct *Store, proxy *fixture.Proxy)
		renewal bool // the held call lands only while its term lasts
	}{
		{"a try after the leader died", func(t *testing.T, el *Elector, direct *Store, proxy *fixture.Proxy) {
			b := lease(t, direct, "b", ttl)
			eb, ok, err := b.Acquire(t.Context())
			if err != nil || !ok {
				t.Fatalf("b.Acquire: %v, %v", ok, err)
			}
			el.Step(t.Context()) // refused: caches the try's statement
			// b dies; its term ends (as at its TTL).
			if err := b.Release(t.Context(), eb); err != nil {
				t.Fatal(err)
			}
			proxy.Hold()
			el.Step(t.Context()) // the try ends at its deadline (the TTL)
		}, false},
		{"a renewal of the leader", func(t *testing.T, el *Elector, _ *Store, proxy *fixture.Proxy) {
			if _, ok := stepUntilActing(t, el); !ok {
				t.Fatal("the elector did not take a free lease")
			}
			el.Step(t.Context()) // a renewal: caches its statement
			proxy.Hold()
			el.Step(t.Context()) // the renewal ends with the term (4/5 of the TTL)
			if _, ok := el.Acting(); ok {
				t.Fatal("the elector still acts after its term ran out")
			}
		}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			// A loaded machine can be slower than the window a held renewal
			// has to land in: the set-up is tried again, a few times, until
			// the held call lands.
			var el *Elector
			var late LeaseInfo
			var lifted time.Time
			for try := 1; ; try++ {
				a, direct, proxy := heldLease(t, ttl)
				el = NewElector(a, ttl/4, nil, nil)
				c.held(t, el, direct, proxy)
				lifted = time.Now()
				var ok bool
				if late, ok = lift(t, direct, proxy, "a", 0, c.renewal); ok {
					break
				}
				if try == 5 {
					t.Fatalf("%d tries: each time the held call's term ended before the partition lifted (ttl %s)", try, ttl)
				}
				t.Logf("try %d: the held call's term ended before the partition lifted; trying again", try)
			}
			var epoch int64
			if !pollUntil(t, 2*ttl, func() bool {
				el.Step(t.Context())
				var ok bool
				epoch, ok = el.Acting()
				return ok
			}) {
				t.Fatalf("nobody led for %s after the partition lifted (ttl %s)", time.Since(lifted).Round(time.Millisecond), ttl)
			}
			gap := time.Since(lifted)
			t.Logf("a led again %s after the lift (ttl %s)", gap.Round(time.Millisecond), ttl)
			// Had the late call's term blocked its own holder, a would have
			// led only once that term expired, in a new one: its epoch tells,
			// however long a loaded machine took over each step.
			if epoch != late.Epoch {
				t.Fatalf("a led again at epoch %d, %s after the partition lifted (ttl %s), not in the late call's term (epoch %d, expiring %s): the late call's term blocked its own holder until it expired",
					epoch, gap.Round(time.Millisecond), ttl, late.Epoch, late.Expires.Format(time.StampMilli))
			}
		})
	}
}
