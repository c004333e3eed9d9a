package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/state"
)

// skewedClock is the process's clock set off by by: a server whose clock
// is ahead (by > 0) or behind.
type skewedClock struct {
	clock.RealClock
	by time.Duration
}

func (c skewedClock) Now() time.Time                  { return time.Now().Add(c.by) }
func (c skewedClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// TestSkewedClocksKeepTheLeaseAndFence: servers whose clocks are 30 s
// ahead of or behind each other and the database's share a lease. The
// lease is judged on the database's clock: the standby takes over only
// once the leader's term has ended there, the deposed leader's fenced
// writes are refused and the new leader's taken. And the end of its term
// each elector hands the scheduler (Term: the deadline of every cloud and
// state call of the leader) is on the process's clock: it was on the
// skewed one, 30 s late (a leader's calls outlived its term by 30 s) or
// 30 s early (a standby that took over had every call's deadline passed).
func TestSkewedClocksKeepTheLeaseAndFence(t *testing.T) {
	for _, tc := range []struct {
		name           string
		leader, follow time.Duration
	}{
		{"leader behind, standby ahead", -30 * time.Second, 30 * time.Second},
		{"leader ahead, standby behind", 30 * time.Second, -30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, newDB(t))
			ctx := t.Context()
			const ttl = time.Second
			a := NewElector(lease(t, s, "a", ttl), 200*time.Millisecond, skewedClock{by: tc.leader}, nil)
			b := NewElector(lease(t, s, "b", ttl), 200*time.Millisecond, skewedClock{by: tc.follow}, nil)
			e1, ok := stepUntilActing(t, a)
			if !ok {
				t.Fatal("a did not take a free lease")
			}
			checkTerm := func(who string, el *Elector) {
				t.Helper()
				_, until, ok := el.Term()
				if left := time.Until(until); ok && (left <= 0 || left > ttl) {
					t.Errorf("%s's term ends in %v by the process's clock; want within its %v TTL", who, left.Round(time.Millisecond), ttl)
				}
			}
			checkTerm("a", a)
			fencedA := s.FencedBy("leader", a.Acting)
			row := state.Instance{ID: "i-1", Provider: "aws", Pool: "train", State: state.InstanceRunning, GPUs: 8, LaunchedAt: time.Unix(1, 0)}
			if err := fencedA.PutInstance(ctx, row); err != nil {
				t.Fatalf("a's fenced write while it leads: %v", err)
			}
			// a stops renewing (paused, cut off); b tries meanwhile.
			b.Step(ctx)
			if _, acting := b.Acting(); acting {
				t.Fatal("b took the lease while a's term was live")
			}
			var e2 int64
			if !pollUntil(t, 10*time.Second, func() bool {
				if _, acting := a.Acting(); acting {
					if _, bActs := b.Acting(); bActs {
						t.Fatal("a and b acted at once")
					}
				}
				b.Step(ctx)
				e2, ok = b.Acting()
				return ok
			}) {
				t.Fatal("b did not take the lease once a's term ended")
			}
			if _, acting := a.Acting(); acting || e2 != e1+1 {
				t.Fatalf("once b leads at epoch %d: a acting %v; want a stopped and epoch %d", e2, acting, e1+1)
			}
			checkTerm("b", b)
			terms, err := s.Terms(ctx, "leader")
			if err != nil {
				t.Fatal(err)
			}
			li, err := s.LeaseInfo(ctx, "leader")
			if err != nil || len(terms) != 2 || terms[1].Acquired.Before(terms[0].Acquired.Add(ttl)) {
				t.Fatalf("terms %+v (lease %+v, %v); want b's to begin at least a TTL after a's, by the database's clock", terms, li, err)
			}
			up := row
			up.BusyGPUs = 8
			var fe *state.FencedError
			if err := s.FencedBy("leader", func() (int64, bool) { return e1, true }).PutInstance(ctx, up); !errors.As(err, &fe) {
				t.Errorf("a's fenced write at epoch %d once b leads: %v; want a *state.FencedError", e1, err)
			}
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if err := s.FencedBy("leader", b.Acting).PutInstance(wctx, up); err != nil {
				t.Errorf("b's fenced write while it leads: %v", err)
			}
		})
	}
}
