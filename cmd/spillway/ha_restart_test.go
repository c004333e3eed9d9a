package main

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/state"
)

// byToken returns the emulator's instances launched with client token tok.
func (h *ha) byToken(tok string) []emulator.Instance {
	var out []emulator.Instance
	for _, in := range h.emu.Instances() {
		if in.ClientToken == tok {
			out = append(out, in)
		}
	}
	return out
}

// settled says whether the launch with client token tok has its intent's
// count of instances on the emulator, each with a live row in the state.
func (h *ha) settled(tok string) bool {
	ins := h.byToken(tok)
	if len(ins) == 0 {
		return false
	}
	intents, err := h.db.Intents(context.Background(), state.IntentFilter{})
	if err != nil {
		return false
	}
	id := haTag(ins[0], providers.TagIntent)
	i := slices.IndexFunc(intents, func(in state.Intent) bool { return in.ID == id })
	if i < 0 || intents[i].Count != len(ins) {
		return false
	}
	for _, in := range ins {
		if !h.recorded(in.ID) {
			return false
		}
	}
	return true
}

// recorded says whether the state has a live row for instance id.
func (h *ha) recorded(id string) bool {
	rows, err := h.db.Instances(context.Background(), state.InstanceFilter{})
	if err != nil {
		return false
	}
	for _, r := range rows {
		if r.ID == id && r.State != state.InstanceEnded {
			return true
		}
	}
	return false
}

// TestHAPostgresRestartMidLaunch restarts PostgreSQL (fast shutdown, same
// data directory) while the leader's RunInstances is in flight: once
// before the emulator serves it (the intent written, the launch not yet
// made) and once after (the launch made, its row not yet written), in
// turn. A server leads again and carries on after each; no intent
// launches twice, nothing leaks, no two servers act.
func TestHAPostgresRestartMidLaunch(t *testing.T) {
	t.Parallel() // its own PostgreSQL, emulator, proxies and servers (startHA)
	h := startHA(t, 2, haFast)
	const restarts = 4
	var mu sync.Mutex
	done := map[string]bool{} // client tokens a restart was played on
	n := 0
	restarted := make(chan string, restarts)
	around := func(c call, serve func()) {
		if c.action != "RunInstances" {
			serve()
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if n >= restarts || done[c.token] {
			serve()
			return
		}
		done[c.token] = true
		after := n%2 == 1
		n++
		if after {
			serve()
		}
		if err := h.pg.Restart(); err != nil {
			t.Errorf("restarting PostgreSQL: %v", err)
		}
		if !after {
			serve()
		}
		restarted <- c.token
	}
	h.log.around.Store(&around)
	h.demand.Store(true)
	for i := range restarts {
		var tok string
		select {
		case tok = <-restarted:
		case <-time.After(40 * time.Second):
			t.Fatalf("restart %d: no launch came within 40s of the last", i)
		}
		// The launch is recorded (its instance adopted, or written by the
		// caller) once a server leads again.
		if !waitFor(20*time.Second, func() bool { return h.settled(tok) }) {
			t.Fatalf("restart %d: 20s after PostgreSQL restarted, the launch with client token %s has instances %+v, not its intent's count, each recorded", i, tok, h.byToken(tok))
		}
		if _, _, ok := h.leader(); !ok && !waitFor(20*time.Second, func() bool { _, _, ok := h.leader(); return ok }) {
			t.Fatalf("restart %d: nobody led within 20s", i)
		}
		// The demand goes and comes back: the burst drains, and the
		// next launch comes. The demand comes back only once the burst
		// has drained: an instance still running would take it, and no
		// launch would come.
		h.demand.Store(false)
		if !waitFor(40*time.Second, func() bool {
			for _, in := range h.byToken(tok) {
				if in.State != "terminated" {
					return false
				}
			}
			return true
		}) {
			t.Fatalf("restart %d: 40s after the demand went, the launch with client token %s still has instances %+v", i, tok, h.byToken(tok))
		}
		h.demand.Store(true)
	}
	// One failover, so that drainAndCheck sees the lease move.
	lead, epoch, ok := h.leader()
	if !ok {
		t.Fatal("nobody leads")
	}
	_ = lead.cmd.Process.Signal(syscall.SIGKILL)
	<-lead.exited
	lead.cmd = nil
	if !waitFor(20*time.Second, func() bool { s, e, ok := h.leader(); return ok && e > epoch && s != lead }) {
		t.Fatalf("after SIGKILL of the leader (epoch %d), no other server led within 20s", epoch)
	}
	h.start(lead) // it comes back, as a follower
	h.drainAndCheck(1, 3)
}

// TestHAFailoverWithLaunchPending: the leader writes a launch intent and
// calls RunInstances; it is then cut from PostgreSQL, and the call's
// answer is lost (the emulator launched) or slow (the emulator launches
// only after the other server leads). The other server leads and adopts
// the instance by its intent tag: exactly one instance, none leaked.
func TestHAFailoverWithLaunchPending(t *testing.T) {
	t.Parallel() // its own PostgreSQL, emulator, proxies and servers (startHA)
	for _, mode := range []string{"lost", "slow"} {
		t.Run(mode, func(t *testing.T) {
			h := startHA(t, 2, haFast)
			var once sync.Once
			played := make(chan call, 1)
			around := func(c call, serve func()) {
				first := false
				if c.action == "RunInstances" {
					once.Do(func() { first = true })
				}
				if !first {
					serve()
					return
				}
				if mode == "lost" {
					serve()
				}
				h.slots[c.slot].proxy.Cut()
				took := waitFor(20*time.Second, func() bool {
					s, e, ok := h.leader()
					return ok && s.i != c.slot && e > c.epoch
				})
				played <- c
				if !took {
					t.Errorf("no other server took the lease within 20s of cutting server %d", c.slot)
				}
				if mode == "slow" {
					serve()
					return
				}
				panic(http.ErrAbortHandler) // the answer is lost
			}
			h.log.around.Store(&around)
			h.demand.Store(true)
			var c call
			select {
			case c = <-played:
			case <-time.After(40 * time.Second):
				t.Fatal("no launch within 40s")
			}
			if !waitFor(30*time.Second, func() bool { return h.settled(c.token) }) {
				t.Fatalf("30s after the failover, the launch with client token %s has instances %+v, not its intent's count, each recorded", c.token, h.byToken(c.token))
			}
			h.slots[c.slot].proxy.Restore()
			h.drainAndCheck(1, 3)
		})
	}
}
