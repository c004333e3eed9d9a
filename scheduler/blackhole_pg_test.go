package scheduler_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/internal/fixture"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/scheduler"
	"github.com/spillway-io/spillway/state"
	"github.com/spillway-io/spillway/state/postgres"
)

// TestLeaderCutFromPostgresHandsOver partitions the leader from its
// database only (its sessions stay open, no byte passes: a cut network, a
// firewall dropping packets), while a second server still reaches it. The
// leader's renewals and state calls hang to their deadlines; it must stop
// acting by its own clock before the database lets the follower take the
// lease, the follower must take over without launching an intent's
// instances twice, and once the cut lifts the old leader must stay a
// follower. Both servers tick the same pool on the same emulated cloud.
func TestLeaderCutFromPostgresHandsOver(t *testing.T) {
	pg, err := fixture.StartPostgres()
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	t.Cleanup(pg.Stop)
	db, err := pg.CreateDatabase("ha")
	if err != nil {
		t.Fatal(err)
	}
	direct := pg.DSN(db)
	proxy, err := fixture.StartProxy(pg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	const (
		leaseName = "spillway/" + cluster
		ttl       = 2 * time.Second
		renew     = 200 * time.Millisecond
	)
	elect := func(st *postgres.Store, holder string) *postgres.Elector {
		return startElector(t, st, holder, ttl, renew)
	}

	var elA *postgres.Elector
	p := testPool()
	p.Limits.MaxGPUs = 64 // room for the new leader to burst further
	h := newHarness(t, p, func(h *harness) {
		h.pgDSN = strings.Replace(direct, pg.Addr, proxy.Addr, 1) + "&connect_timeout=1"
		h.opts.CallTimeout = 500 * time.Millisecond
		h.opts.CallTimeouts = map[string]time.Duration{provName: 30 * time.Second}
		h.wrap = func(st state.Store) state.Store {
			pst := st.(*postgres.Store)
			elA = elect(pst, "a")
			if _, ok := elA.Acting(); !ok {
				t.Fatal("server a did not take a free lease")
			}
			h.opts.Leader = elA
			return pst.FencedBy(leaseName, elA.Acting)
		}
	})
	stB, err := postgres.Open(context.Background(), direct)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stB.Close() })
	elB := elect(stB, "b")
	optsB := h.opts
	optsB.Store, optsB.Leader, optsB.Capacity = stB.FencedBy(leaseName, elB.Acting), elB, nil
	schedB, err := scheduler.New(optsB)
	if err != nil {
		t.Fatal(err)
	}

	// Both servers tick; only a acts. It bursts for the queue.
	tickB := func() {
		if err := schedB.Tick(context.Background(), p.Name); err != nil {
			t.Logf("b's tick: %v", err)
		}
	}
	h.setDemand(2*time.Minute, 8, 8, 8)
	for range 4 {
		h.agents.setBusy(8)
		h.step(time.Minute)
		tickB()
	}
	before := h.emu.Calls("RunInstances")
	if before == 0 || len(h.live()) == 0 {
		t.Fatal("no burst before the cut")
	}

	// The cut, with more demand: whoever acts must answer it.
	h.setDemand(2*time.Minute, 8, 8, 8, 8, 8, 8, 8)
	proxy.Cut()
	cutAt := time.Now()
	var lastUntilA, bActsAt time.Time
	var aStopped, longestTickA time.Duration
	watch := func() {
		if _, until, ok := elA.Term(); ok {
			lastUntilA = until
		} else if aStopped == 0 {
			aStopped = time.Since(cutAt)
		}
		if _, ok := elB.Acting(); ok && bActsAt.IsZero() {
			bActsAt = time.Now()
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	actedB := 0
	for actedB < 6 {
		h.clk.Step(20 * time.Second)
		h.serveAgents()
		h.agents.setBusy(8)
		watch()
		began := time.Now()
		if err := h.sched.Tick(context.Background(), p.Name); err != nil {
			t.Logf("a's tick while cut off: %v", err)
		}
		longestTickA = max(longestTickA, time.Since(began))
		watch()
		tickB()
		watch()
		if !bActsAt.IsZero() {
			actedB++
		}
		select {
		case <-ctx.Done():
			t.Fatalf("b did not take over within 60s of the cut (a stopped acting after %s)", aStopped)
		case <-poll.C:
		}
	}
	if !lastUntilA.Before(bActsAt) {
		t.Fatalf("a could act until %s, after b began acting at %s: two leaders", lastUntilA.Format(time.StampMilli), bActsAt.Format(time.StampMilli))
	}
	afterCut := h.emu.Calls("RunInstances")
	if afterCut == before {
		t.Fatal("nobody launched for the new demand while a was cut off: the test proves nothing of a takeover's launches")
	}

	// The cut lifts: a must not act again while b leads.
	proxy.Restore()
	for range 10 {
		h.clk.Step(20 * time.Second)
		h.serveAgents()
		h.agents.setBusy(8)
		if err := h.sched.Tick(context.Background(), p.Name); err != nil {
			t.Logf("a's tick after the cut: %v", err)
		}
		tickB()
		if _, ok := elA.Acting(); ok {
			t.Fatal("a acts again after the cut while b holds the lease")
		}
		<-poll.C
	}

	// No intent launched more than its count, and every instance that runs
	// has a live row (nothing leaked).
	intents, err := stB.Intents(context.Background(), state.IntentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	byIntent := map[string]int{}
	for _, in := range h.emu.Instances() {
		byIntent[tag(in, providers.TagIntent)]++
	}
	for _, in := range intents {
		if n := byIntent[in.ID]; n > in.Count {
			t.Errorf("intent %s (count %d, status %s) launched %d instances", in.ID, in.Count, in.Status, n)
		}
	}
	rows, err := stB.Instances(context.Background(), state.InstanceFilter{Pool: p.Name, Live: true})
	if err != nil {
		t.Fatal(err)
	}
	tracked := map[string]bool{}
	for _, r := range rows {
		tracked[r.ID] = true
	}
	for _, in := range h.live() {
		if !tracked[in.ID] {
			t.Errorf("instance %s runs with no live row: leaked", in.ID)
		}
	}
	t.Logf("a stopped acting %s after the cut; b acted %s after it (ttl %s); a's longest tick while cut off %s; launch calls: %d before the cut, %d during it, %d after; %d instances run, %d intents",
		aStopped.Round(time.Millisecond), bActsAt.Sub(cutAt).Round(time.Millisecond), ttl, longestTickA.Round(time.Millisecond),
		before, afterCut-before, h.emu.Calls("RunInstances")-afterCut, len(h.live()), len(intents))
}
