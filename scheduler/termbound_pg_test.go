package scheduler_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/internal/fixture"
	"github.com/spillway-io/spillway/state"
	"github.com/spillway-io/spillway/state/postgres"
)

// TestCutOffLeadersTickEndsWithItsTerm partitions a leader from its
// database in the middle of its ticks. Its state calls hang; each used to
// wait for the whole state call timeout (60s by default), one after the
// other, so the pool's tick was held for minutes after the leader had
// stopped acting, and with it the pool's status, its metrics and the
// server's next ticks (the first of a term it takes back waits for it).
// A leader's state calls now end with its term as they do its cloud
// calls: the tick ends by the end of the term.
func TestCutOffLeadersTickEndsWithItsTerm(t *testing.T) {
	pg, err := fixture.StartPostgres()
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	t.Cleanup(pg.Stop)
	for _, partition := range []struct {
		name      string
		cut, lift func(*fixture.Proxy)
	}{
		{"connections reset once lifted", (*fixture.Proxy).Cut, (*fixture.Proxy).Restore},
		{"connections kept", (*fixture.Proxy).Hold, (*fixture.Proxy).Lift},
	} {
		t.Run(partition.name, func(t *testing.T) {
			db, err := pg.CreateDatabase("term")
			if err != nil {
				t.Fatal(err)
			}
			proxy, err := fixture.StartProxy(pg.Addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(proxy.Close)
			const (
				ttl         = 2 * time.Second
				renew       = 200 * time.Millisecond
				callTimeout = 30 * time.Second // stands in for the 60s default
			)
			var el *postgres.Elector
			h := newHarness(t, testPool(), func(h *harness) {
				h.pgDSN = strings.Replace(pg.DSN(db), pg.Addr, proxy.Addr, 1) + "&connect_timeout=1"
				h.opts.CallTimeout = callTimeout
				h.wrap = func(st state.Store) state.Store {
					pst := st.(*postgres.Store)
					el = startElector(t, pst, "a", ttl, renew)
					h.opts.Leader = el
					return pst.FencedBy("spillway/"+cluster, el.Acting)
				}
			})
			if _, ok := el.Acting(); !ok {
				t.Fatal("the server did not take a free lease")
			}
			h.setDemand(2*time.Minute, 8, 8)
			for range 3 {
				h.agents.setBusy(8)
				h.step(time.Minute)
			}
			if len(h.live()) == 0 {
				t.Fatal("no burst before the cut: the ticks while cut off would have nothing to read or write")
			}

			_, until, _ := el.Term()
			partition.cut(proxy)
			h.clk.Step(time.Minute)
			h.serveAgents()
			h.agents.setBusy(8)
			done := make(chan time.Duration, 1)
			began := time.Now()
			go func() {
				_ = h.sched.Tick(context.Background(), testPool().Name)
				done <- time.Since(began)
			}()
			// The term ends by until; the tick's calls end with it. Slack
			// for the calls that were under way (each ends at its deadline
			// plus the time to give it up) and a loaded machine.
			limit := time.Until(until) + 2*time.Second
			guard := time.NewTimer(limit)
			defer guard.Stop()
			select {
			case took := <-done:
				t.Logf("the cut-off leader's tick ended %s after the cut (its term had %s left; state call timeout %s)",
					took.Round(time.Millisecond), until.Sub(began).Round(time.Millisecond), callTimeout)
			case <-guard.C:
				partition.lift(proxy)
				took := <-done
				t.Fatalf("the cut-off leader's tick was still running %s after the cut, though its term ended after %s; it ended %s after the cut, once the partition lifted",
					limit.Round(time.Millisecond), until.Sub(began).Round(time.Millisecond), took.Round(time.Millisecond))
			}
			if _, ok := el.Acting(); ok {
				t.Fatal("the cut-off leader still acts")
			}
			partition.lift(proxy)
		})
	}
}
