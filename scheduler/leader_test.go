package scheduler_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/scheduler"
	"github.com/spillway-io/spillway/state"
)

// fakeLeader answers Acting from what the test set; budget, when >= 0, is
// how many more times it answers ok before it answers not leading (a term
// lost in the middle of a tick).
type fakeLeader struct {
	mu     sync.Mutex
	epoch  int64
	ok     bool
	budget int
	until  time.Time // zero: a minute from now
}

func (l *fakeLeader) Term() (int64, time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.ok {
		return 0, time.Time{}, false
	}
	if l.budget == 0 {
		l.ok = false
		return 0, time.Time{}, false
	}
	if l.budget > 0 {
		l.budget--
	}
	if !l.until.IsZero() {
		return l.epoch, l.until, true
	}
	return l.epoch, time.Now().Add(time.Minute), true
}

func (l *fakeLeader) set(epoch int64, ok bool, budget int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epoch, l.ok, l.budget = epoch, ok, budget
}

func TestOnlyTheLeaderActsAndTagsItsEpoch(t *testing.T) {
	lead := &fakeLeader{}
	h := newHarness(t, testPool(), func(h *harness) { h.opts.Leader = lead })
	h.setDemand(2*time.Minute, 8, 8)

	// A follower ticks and sweeps without a call or a write.
	for range 3 {
		h.step(30 * time.Second)
	}
	if err := h.sched.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := h.emu.Calls("RunInstances") + h.emu.Calls("DescribeInstances") + h.emu.Calls("TerminateInstances"); n != 0 {
		t.Fatalf("a follower made %d EC2 calls, want 0", n)
	}
	if ds := h.decisions(); len(ds) != 0 {
		t.Fatalf("a follower recorded %d decisions, want 0", len(ds))
	}

	// It takes the lease at epoch 7, but loses it between writing the
	// intent and calling the cloud: the intent stays pending, nothing is
	// launched.
	lead.set(7, true, 1) // the tick's own check passes, the launch's does not
	h.tick()
	if n := h.emu.Calls("RunInstances"); n != 0 {
		t.Fatalf("a leader deposed before its launch made %d RunInstances calls, want 0", n)
	}
	pending, err := h.store.Intents(context.Background(), state.IntentFilter{Status: state.IntentPending})
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending intents %+v, %v: want the one written before the lease was lost", pending, err)
	}
	ds := h.decisions()
	if len(ds) == 0 || len(ds[0].Launches) != 1 || !strings.Contains(ds[0].Launches[0].Outcome, "no longer leads") {
		t.Fatalf("decisions %+v: want the launch recorded as held because the server no longer leads", ds)
	}

	// The next leader, epoch 8, resumes the intent with its client token
	// and the request the intent was written for, tagged with the epoch
	// that wrote it.
	lead.set(8, true, -1)
	h.tick()
	live := h.live()
	if len(live) != 2 {
		t.Fatalf("after the new leader's tick: %d instances, want 2", len(live))
	}
	for _, in := range live {
		if tag(in, scheduler.TagEpoch) != "7" || tag(in, providers.TagIntent) != pending[0].ID {
			t.Fatalf("instance %s tags %v: want epoch 7 (the intent's) and the resumed intent %s", in.ID, in.Tags, pending[0].ID)
		}
	}
	if n := h.emu.Calls("RunInstances"); n != 1 {
		t.Fatalf("%d RunInstances calls, want 1 (the resumed intent)", n)
	}

	// Deposed again: demand gone, but the follower terminates nothing.
	lead.set(0, false, -1)
	h.setDemand(0)
	for range 20 {
		h.step(time.Minute)
	}
	if n := h.emu.Calls("TerminateInstances"); n != 0 || len(h.live()) != 2 {
		t.Fatalf("a follower made %d TerminateInstances calls (%d live), want 0 (2 live)", n, len(h.live()))
	}
}

// TestCallsEndWithTheTerm: a mutating call, and a state call of the
// leader's tick, runs under a context that ends with the term, so a call
// that could only go out after the term (held back by a rate limit, a
// loaded machine or a database that does not answer) is never sent, and
// the tick does not wait on it.
func TestCallsEndWithTheTerm(t *testing.T) {
	lead := &fakeLeader{epoch: 3, ok: true, budget: -1, until: time.Now().Add(-time.Millisecond)}
	h := newHarness(t, testPool(), func(h *harness) { h.opts.Leader = lead })
	h.setDemand(2*time.Minute, 8)
	err := h.sched.Tick(context.Background(), testPool().Name)
	if err == nil || !strings.Contains(err.Error(), "leader term ended") {
		t.Fatalf("a tick whose term had ended: %v; want its state calls given up, naming the term", err)
	}
	if n := h.emu.Calls("RunInstances"); n != 0 {
		t.Fatalf("a launch whose term had ended made %d RunInstances calls, want 0", n)
	}
	intents, err := h.store.Intents(context.Background(), state.IntentFilter{})
	if err != nil || len(intents) != 0 {
		t.Fatalf("intents %+v, %v: want none written after the term", intents, err)
	}
	lead.mu.Lock()
	lead.until = time.Time{}
	lead.mu.Unlock()
	h.tick()
	if n := len(h.live()); n != 1 {
		t.Fatalf("%d instances after the term was renewed, want 1 (the intent resumed)", n)
	}
}

// TestANewTermReadsWhatTheOtherLeaderStored: a server that loses the lease
// and wins it back learns the idle gaps the other leader stored meanwhile,
// instead of going on with what it knew before; within one term it reads
// the state once.
func TestANewTermReadsWhatTheOtherLeaderStored(t *testing.T) {
	lead := &fakeLeader{epoch: 1, ok: true, budget: -1}
	h := newHarness(t, testPool(), func(h *harness) { h.opts.Leader = lead })
	key := h.pool.Offerings[0].Key()
	gaps := func() []time.Duration { return h.idleGaps(key) }
	h.tick()
	// The other leader's term: it stores a gap of 45 s.
	lead.set(0, false, -1)
	h.step(30 * time.Second)
	other := state.IdleGap{Pool: h.pool.Name, Provider: key.Provider, Region: key.Region, Zone: key.Zone, InstanceType: key.InstanceType,
		Market: string(key.Market), At: h.clk.Now(), Gap: 45 * time.Second}
	if err := h.store.AddIdleGaps(context.Background(), []state.IdleGap{other}); err != nil {
		t.Fatal(err)
	}
	// The same term again would not read it back: a term reads the state
	// once.
	lead.set(1, true, -1)
	h.tick()
	if got := gaps(); len(got) != 0 {
		t.Fatalf("within the first term: idle gaps %v, want none (the state is read once a term)", got)
	}
	// A new term reads it.
	lead.set(3, true, -1)
	h.tick()
	if got := gaps(); len(got) != 1 || got[0] != 45*time.Second {
		t.Fatalf("after winning the lease back: idle gaps %v, want the 45s the other leader stored", got)
	}
}

// TestResumeByANewTermRepeatsTheFirstRequest: a launch written and sent
// under epoch 1 whose answer was lost (it reached the cloud) is resumed by
// the next term, epoch 2, after a failover or a restart. The resume sends the
// first request again, so the cloud returns the instances it launched: no
// IdempotentParameterMismatch, no new instance, the pool not misconfigured.
// When the config changed meanwhile (here the user data), the first request
// cannot be repeated: the intent is failed instead of being sent changed,
// and the instances it launched are adopted through their intent tag.
func TestResumeByANewTermRepeatsTheFirstRequest(t *testing.T) {
	for _, tc := range []struct {
		name     string
		userData string // of the restarted server
		status   state.IntentStatus
	}{
		{"same config", "#!/bin/sh\necho v1\n", state.IntentDone},
		{"user data changed", "#!/bin/sh\necho v2\n", state.IntentFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lead := &fakeLeader{epoch: 1, ok: true, budget: -1}
			var lossy *flakyLaunches
			h := newHarness(t, testPool(), func(h *harness) {
				h.opts.Leader = lead
				lossy = &flakyLaunches{Provider: h.prov}
				h.prov = lossy
				h.userData = func(config.InstanceFields) (string, error) { return "#!/bin/sh\necho v1\n", nil }
			})
			h.setDemand(2*time.Minute, 8, 8)
			lossy.losing.Store(true)                        // executed; the answer is lost
			_ = h.sched.Tick(context.Background(), "train") // what else the tick did is not this test's
			lossy.losing.Store(false)
			first := h.live()
			pending, err := h.store.Intents(context.Background(), state.IntentFilter{Status: state.IntentPending})
			if err != nil || len(pending) != 1 || len(first) != 2 {
				t.Fatalf("after the lost answer: pending intents %+v (%v), %d instances: want one pending intent whose 2 instances run", pending, err, len(first))
			}

			// Failover: a new server leads at epoch 2 and resumes the intent.
			lead.set(2, true, -1)
			h.userData = func(config.InstanceFields) (string, error) { return tc.userData, nil }
			h.restart()
			h.tick() // holds the intent until what epoch 1 launched would be listed
			if n := h.emu.Calls("RunInstances"); n != 1 {
				t.Fatalf("the new term called RunInstances at once (%d calls in all); want the intent held until providers.ConsistencyWindow has passed", n)
			}
			h.step(providers.ConsistencyWindow)
			if st, _ := h.sched.LastStatus("train"); st.Misconfigured != "" || st.Err != "" {
				t.Fatalf("after the resume: misconfigured %q, error %q: want neither", st.Misconfigured, st.Err)
			}
			intents, err := h.store.Intents(context.Background(), state.IntentFilter{})
			if err != nil || len(intents) != 1 || intents[0].Status != tc.status {
				t.Fatalf("intents %+v (%v): want the one intent %s", intents, err, tc.status)
			}
			if strings.Contains(intents[0].Error, "IdempotentParameterMismatch") {
				t.Fatalf("the resume was refused: %s", intents[0].Error)
			}
			var ids []string
			for _, in := range first {
				ids = append(ids, in.ID)
				if got := tag(in, scheduler.TagEpoch); got != "1" {
					t.Errorf("instance %s tagged epoch %q, want 1", in.ID, got)
				}
			}
			var rows []string
			for _, r := range h.rows(true) {
				rows = append(rows, r.ID)
			}
			if !sameIDs(rows, ids) {
				t.Fatalf("the pool holds %v, want the instances the first attempt launched %v", rows, ids)
			}
			if tc.status == state.IntentDone && !sameIDs(intents[0].InstanceIDs, ids) {
				t.Fatalf("the resumed intent recorded %v, want %v", intents[0].InstanceIDs, ids)
			}
			if n := len(h.live()); n != 2 {
				t.Fatalf("%d instances after the resume, want the 2 of the first attempt", n)
			}
		})
	}
}

func sameIDs(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// poolsLeader is a fakeLeader that also says the leader's pools
// (scheduler.LeaderPools): pools, when known.
type poolsLeader struct {
	fakeLeader
	pools []string
	known bool
}

func (l *poolsLeader) LeaderPools(context.Context) ([]string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pools, l.known
}

func (l *poolsLeader) setPools(pools []string, known bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pools, l.known = pools, known
}

// TestFollowerCountsTheRowsOfPoolsTheLeaderLacks: two open rows of pool
// train, which this server's config lacks. Leading, its sweeper counts
// them in spillway_unconfigured_pool_instances; deposed, its sweeper
// returned at once and the gauge said 2 for ever, whether the new
// leader's config had train (its ticks drain and end them) or not. A
// follower counts the open rows of pools the leader's config lacks, as
// its status lists them, and none while the leader's pools are unknown.
func TestFollowerCountsTheRowsOfPoolsTheLeaderLacks(t *testing.T) {
	lead := &poolsLeader{}
	lead.set(3, true, -1)
	h, _, reg := twoOfARemovedPool(t, func(h *harness) { h.opts.Leader = lead })
	ctx := context.Background()
	sweep := func(what string, want float64) {
		t.Helper()
		if err := h.sched.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if g := gaugeOf(t, reg, "spillway_unconfigured_pool_instances"); g != want {
			t.Errorf("%s: spillway_unconfigured_pool_instances{pool=train} = %v, want %v (-1: no series)", what, g, want)
		}
	}
	sweep("leading, a config without train", 2)
	h.tick()
	if g := seriesOf(t, reg, "spillway_spend_usd"); g != 1 {
		t.Fatalf("leading: %d series of spillway_spend_usd, want infer's", g)
	}
	lead.set(0, false, 0)
	lead.setPools([]string{"infer", "train"}, true)
	sweep("following a leader whose config has train", -1)
	lead.setPools([]string{"infer"}, true)
	sweep("following a leader whose config lacks train", 2)
	lead.setPools(nil, false)
	sweep("following a leader whose pools are not known", -1)
	// Nor the pools' figures of its last term: they are the leader's.
	for _, name := range []string{"spillway_spend_usd", "spillway_budget_remaining_usd", "spillway_gpus", "spillway_instances"} {
		if n := seriesOf(t, reg, name); n != 0 {
			t.Errorf("following: %d series of %s, its last term's; want none", n, name)
		}
	}
}

// seriesOf counts the series of the metric name in reg.
func seriesOf(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}
