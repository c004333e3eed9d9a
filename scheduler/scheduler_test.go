package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/internal/fixture"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/scheduler"
	"github.com/spillway-io/spillway/spotlife"
	"github.com/spillway-io/spillway/state"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
		return
	}
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"), goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.Cleanup(func(int) { fixture.RemovePostgresTemplate() }))
}

func TestSpikeLaunchesJoinsTakesWorkDrainsAndTerminates(t *testing.T) {
	h := newHarness(t, testPool())
	h.setDemand(2*time.Minute, 8, 8)
	h.tick()
	if got := len(h.live()); got != 2 {
		t.Fatalf("after a 16-GPU spike: %d instances on the emulator, want 2", got)
	}
	for _, in := range h.live() {
		if in.InstanceType != gpuType || tag(in, providers.TagPool) != "train" || tag(in, providers.TagIntent) == "" {
			t.Fatalf("instance %s: type %s tags %v, want %s with cluster, pool and intent tags", in.ID, in.InstanceType, in.Tags, gpuType)
		}
	}
	ds := h.decisions()
	if len(ds) == 0 || len(ds[0].Launches) != 1 || ds[0].Launches[0].Reason == "" || ds[0].Launches[0].Intent == "" {
		t.Fatalf("first decision = %+v, want one launch with a reason and an intent", ds)
	}

	// Booted: the agents answer, the instances join and take the work.
	h.until("instances join", 10*time.Second, 20, func() bool {
		rs := h.rows(true)
		return len(rs) == 2 && rs[0].State == state.InstanceRunning && rs[1].State == state.InstanceRunning
	})
	h.setDemand(0)
	h.agents.setBusy(8)
	h.step(10 * time.Second)
	for _, r := range h.rows(true) {
		if r.BusyGPUs != 8 || r.JoinedAt.IsZero() {
			t.Fatalf("row %s: busy %d joined %v, want 8 busy and joined", r.ID, r.BusyGPUs, r.JoinedAt)
		}
	}
	if got := len(h.live()); got != 2 {
		t.Fatalf("busy instances: %d live, want 2 kept", got)
	}

	// The work ends: idle past the idle threshold → drain (hook) → terminate.
	h.agents.setBusy(0)
	h.until("instances end", 30*time.Second, 60, func() bool { return len(h.rows(true)) == 0 })
	h.mu.Lock()
	drained := slices.Clone(h.drained)
	h.mu.Unlock()
	if len(drained) != 2 {
		t.Fatalf("drain hook ran for %v, want both instances once", drained)
	}
	if got := len(h.live()); got != 0 {
		t.Fatalf("after the drain: %d instances live on the emulator, want 0", got)
	}
	for _, r := range h.rows(false) {
		if r.DrainStartedAt.IsZero() || r.EndedAt.Before(r.DrainStartedAt) {
			t.Fatalf("row %s ended at %v, drained at %v: want drained before terminated", r.ID, r.EndedAt, r.DrainStartedAt)
		}
	}
	var sawDrain, sawTerm bool
	for _, d := range h.decisions() {
		sawDrain = sawDrain || len(d.Drains) > 0 && d.Drains[0].Reason != ""
		sawTerm = sawTerm || len(d.Terminates) > 0 && d.Terminates[0].Reason != ""
	}
	if !sawDrain || !sawTerm {
		t.Fatalf("decisions record drains %v and terminations %v with reasons: want both", sawDrain, sawTerm)
	}
}

func TestStockOutLandsOnTheNextOfferingInTheSameTick(t *testing.T) {
	h := newHarness(t, testPool())
	h.emu.SetStock(gpuType, "us-east-1a", 0)
	h.emu.SetStock(gpuType, "us-east-1b", 0)
	h.setDemand(2*time.Minute, 8)
	h.tick()
	live := h.live()
	if len(live) != 1 || live[0].InstanceType != altType {
		t.Fatalf("after a stock-out of %s: live %+v, want one %s launched in the same tick", gpuType, live, altType)
	}
	d := h.decisions()[0]
	if len(d.Launches) != 2 || d.Launches[0].Cause != "capacity" || d.Launches[1].Offering != "p5" {
		t.Fatalf("decision launches = %+v, want a capacity failure on p4d then p5", d.Launches)
	}
}

func TestQuotaErrorBlocksTheRegion(t *testing.T) {
	h := newHarness(t, testPool())
	h.emu.SetVCPUQuota(emulator.APIEC2, "us-east-1", 0)
	h.setDemand(2*time.Minute, 8)
	h.tick()
	if n := h.emu.Calls("RunInstances"); n != 1 {
		t.Fatalf("RunInstances calls = %d, want 1: a quota error blocks the region, so p5 there is not tried", n)
	}
	d := h.decisions()[0]
	if len(d.Launches) != 1 || d.Launches[0].Cause != "quota" {
		t.Fatalf("launches = %+v, want one quota failure", d.Launches)
	}
	h.step(30 * time.Second)
	if n := h.emu.Calls("RunInstances"); n != 1 {
		t.Fatalf("RunInstances calls after the next tick = %d, want still 1 while the region is blocked", n)
	}
}

func TestInstanceThatNeverJoinsIsReplaced(t *testing.T) {
	h := newHarness(t, testPool())
	h.setDemand(2*time.Minute, 8)
	h.tick()
	first := h.live()[0]
	h.agents.never(first.PrivateIP)
	h.untilNoLongerBooting(first.ID)
	var replaced bool
	for _, in := range h.live() {
		replaced = replaced || in.ID != first.ID
	}
	if !replaced {
		t.Fatalf("after join_timeout: live %+v, want a replacement for %s", h.live(), first.ID)
	}
	for _, in := range h.live() {
		if in.ID != first.ID && in.InstanceType != altType {
			t.Fatalf("replacement %s is %s, want %s: the offering that failed to join is penalised", in.ID, in.InstanceType, altType)
		}
	}
	// A restarted server skips it too, for what is left of the capacity
	// TTL, from the ended instance's row.
	h.restart()
	h.step(10 * time.Second)
	st, _ := h.sched.LastStatus("train")
	key := testPool().Offerings[0].Key()
	if _, skipped := st.Snapshot.Unavailable[key]; !skipped || st.Snapshot.UnavailableWhy[key] != policy.WhyNeverJoined {
		t.Fatalf("after a restart: unavailable %v (why %v), want %s skipped: %s", st.Snapshot.Unavailable, st.Snapshot.UnavailableWhy, key.InstanceType, policy.WhyNeverJoined)
	}
}

// TestJoinTimeoutBesideAJoinedSiblingKeepsTheOffering: of two instances
// launched together, one never joins while the other does. The offering
// delivers, so the one that timed out was a bad instance: it is counted as
// a failed launch and replaced on the same offering, which is not skipped,
// and the decision says why.
func TestJoinTimeoutBesideAJoinedSiblingKeepsTheOffering(t *testing.T) {
	h := newHarness(t, testPool())
	reg := prometheus.NewRegistry()
	h.opts.Registerer = reg
	h.restart()
	h.setDemand(2*time.Minute, 8, 8)
	h.tick()
	launched := h.live()
	if len(launched) != 2 || launched[0].InstanceType != gpuType || launched[1].InstanceType != gpuType {
		t.Fatalf("launched %+v, want two %s", launched, gpuType)
	}
	slow := launched[0]
	h.agents.never(slow.PrivateIP)
	h.untilNoLongerBooting(slow.ID)
	h.step(10 * time.Second)
	var replacement bool
	for _, in := range h.live() {
		if in.ID == launched[0].ID || in.ID == launched[1].ID {
			continue
		}
		if in.InstanceType != gpuType {
			t.Fatalf("replacement %s is %s, want %s: its sibling joined, so the offering is not skipped", in.ID, in.InstanceType, gpuType)
		}
		replacement = true
	}
	if !replacement {
		t.Fatalf("live %+v: want a replacement for %s", h.live(), slow.ID)
	}
	if n := failuresOf(t, reg, "join_timeout"); n != 1 {
		t.Errorf("launch failures (join_timeout) = %v, want 1", n)
	}
	st, _ := h.sched.LastStatus("train")
	if _, skipped := st.Snapshot.Unavailable[testPool().Offerings[0].Key()]; skipped {
		t.Errorf("unavailable %v: want %s not skipped", st.Snapshot.Unavailable, gpuType)
	}
	var noted bool
	for _, d := range h.decisions() {
		for _, n := range d.Notes {
			noted = noted || (strings.Contains(n, slow.ID) && strings.Contains(n, "not skipped: "+launched[1].ID+", launched with it or after, joined"))
		}
	}
	if !noted {
		t.Errorf("no decision notes that %s's offering was not skipped because %s joined", slow.ID, launched[1].ID)
	}
}

// TestSpotInterruptionOnSpotOffering: an interruption notice drains the
// instance (its hook runs) and a replacement is launched. Reclaimed after it
// joined, the replacement is spot again: a reclaim of a running instance is
// the price of spot. Reclaimed while still booting, it delivered nothing: a
// failed launch, and the replacement goes to the on-demand offering while
// the spot one is skipped for the capacity TTL, as after a join timeout.
func TestSpotInterruptionOnSpotOffering(t *testing.T) {
	for _, tt := range []struct {
		name        string
		joined      bool
		replacement string
	}{
		{"reclaimed after joining", true, gpuType},
		{"reclaimed while booting", false, altType},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := testPool()
			p.Offerings[0].Market = policy.MarketSpot
			p.Offerings[0].PricePerHour = 12
			// The pool's jobs checkpoint, so spot competes on price
			// (without, it is rented only when no on-demand offering can be).
			p.CheckpointInterval = policy.Duration(30 * time.Minute)
			reg := prometheus.NewRegistry()
			h := newHarness(t, p, func(h *harness) { h.opts.Registerer = reg })
			h.setDemand(2*time.Minute, 8)
			h.tick()
			if tt.joined {
				h.until("joined", 10*time.Second, 20, func() bool { rs := h.rows(true); return len(rs) == 1 && rs[0].State == state.InstanceRunning })
				h.agents.setBusy(8)
			} else {
				h.agents.never(h.live()[0].PrivateIP)
			}
			id := h.rows(true)[0].ID
			if !h.emu.Interrupt(id, 2*time.Minute) {
				t.Fatalf("emulator refused to interrupt %s", id)
			}
			h.setDemand(3*time.Minute, 8) // the job goes back to the queue, or still waits
			h.step(10 * time.Second)
			var drained bool
			for _, r := range h.rows(true) {
				// Booting, it has no work: it ends in the same tick.
				drained = drained || (r.ID == id && !r.DrainStartedAt.IsZero() && (r.State == state.InstanceDraining || r.State == state.InstanceTerminating))
			}
			if !drained {
				t.Fatalf("after an interruption notice: rows %+v, want %s drained", h.rows(true), id)
			}
			h.mu.Lock()
			hooked := slices.Contains(h.drained, id)
			h.mu.Unlock()
			if !hooked {
				t.Fatalf("drain hook not run for interrupted %s", id)
			}
			var replacement []string
			for _, in := range h.live() {
				if in.ID != id {
					replacement = append(replacement, in.InstanceType)
				}
			}
			if !slices.Equal(replacement, []string{tt.replacement}) {
				t.Fatalf("after the interruption: replacements %v, want one %s", replacement, tt.replacement)
			}
			var skipped, named bool
			for _, d := range h.decisions() {
				for _, n := range d.Notes {
					skipped = skipped || strings.Contains(n, "instance "+id+": spot interruption notice") && strings.Contains(n, "before it joined; offering p4d skipped for the capacity TTL")
				}
				for _, l := range d.Launches {
					// The replacement's reason says why p4d is skipped.
					named = named || strings.Contains(l.Reason, "p4d skipped: skipped until") && strings.Contains(l.Reason, policy.WhyReclaimedBooting)
				}
			}
			if named == tt.joined {
				t.Errorf("decisions %+v: a launch reason naming why p4d is skipped: %v, want %v", h.decisions(), named, !tt.joined)
			}
			if skipped == tt.joined {
				t.Fatalf("decisions %+v: a note that %s's offering is skipped: %v, want %v", h.decisions(), id, skipped, !tt.joined)
			}
			// The notice stays until the cloud ends the instance (2
			// minutes): it is counted once.
			for range 6 {
				h.step(10 * time.Second)
			}
			if n := counterOf(t, reg, "spillway_spot_interruptions_total", "p4d"); n != 1 {
				t.Errorf("spillway_spot_interruptions_total{offering=p4d} = %v, want 1", n)
			}
			// The pool learns the reclaim: its rate is above the prior.
			st, _ := h.sched.LastStatus("train")
			before := st.Snapshot.SpotReclaims[p.Offerings[0].Key()]
			if !(before > spotlife.PriorRate) {
				t.Errorf("snapshot's spot reclaim rates %v: want p4d's above the prior %v after a reclaim", st.Snapshot.SpotReclaims, spotlife.PriorRate)
			}
			// A restarted server learns it back from the state, the
			// notice counted once though the cloud still shows it.
			h.opts.Registerer = prometheus.NewRegistry()
			h.restart()
			h.step(10 * time.Second)
			st, _ = h.sched.LastStatus("train")
			if after := st.Snapshot.SpotReclaims[p.Offerings[0].Key()]; math.Abs(after-before) > before/100 {
				t.Errorf("after a restart p4d's reclaim rate is %v, want %v as before it (within 1%%)", after, before)
			}
			// Reclaimed before it joined, it stays skipped across the restart.
			key := p.Offerings[0].Key()
			if _, skipped := st.Snapshot.Unavailable[key]; skipped == tt.joined || (!tt.joined && st.Snapshot.UnavailableWhy[key] != policy.WhyReclaimedBooting) {
				t.Errorf("after a restart: unavailable %v (why %v), want p4d skipped: %v", st.Snapshot.Unavailable, st.Snapshot.UnavailableWhy, !tt.joined)
			}
		})
	}
}

func TestSweeperEndsStrangersOfThisClusterOnly(t *testing.T) {
	h := newHarness(t, testPool())
	ctx := context.Background()
	mine, err := h.prov.Launch(ctx, providers.LaunchRequest{Offering: testPool().Offerings[0], Count: 1, ClientToken: "stray-1",
		Tags: map[string]string{providers.TagCluster: cluster, providers.TagPool: "train"}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := h.prov.Launch(ctx, providers.LaunchRequest{Offering: testPool().Offerings[0], Count: 1, ClientToken: "stray-2",
		Tags: map[string]string{providers.TagCluster: "another-cluster", providers.TagPool: "train"}})
	if err != nil {
		t.Fatal(err)
	}
	h.clk.Step(5 * time.Minute)
	if err := h.sched.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := h.emu.Calls("TerminateInstances"); n != 0 {
		t.Fatalf("sweeper terminated within the grace period (%d calls)", n)
	}
	h.clk.Step(6 * time.Minute)
	if err := h.sched.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, in := range h.emu.Instances() {
		states[in.ID] = in.State
	}
	if s := states[mine[0].ID]; s != "shutting-down" && s != "terminated" {
		t.Fatalf("stray of this cluster is %s after the grace, want terminated", s)
	}
	if s := states[other[0].ID]; s != "running" {
		t.Fatalf("another cluster's instance is %s, want untouched (running)", s)
	}
}

// A pool this server's config lacks (removed, or a leader on the old config
// mid-rollout, while another server's has it) leaves open rows that no pool
// here ticks, drains or ends. The sweeper must not terminate their
// instances (it did, sweep_grace after it first saw them, without a drain,
// while jobs may run on them): it keeps them, says so once and counts them,
// and the pool, put back, drains and ends them as usual.
func TestSweeperKeepsInstancesOfAnUnconfiguredPool(t *testing.T) {
	h, launched, reg := twoOfARemovedPool(t)
	ctx := context.Background()
	for _, d := range []time.Duration{0, 11 * time.Minute, time.Hour} {
		h.clk.Step(d)
		if err := h.sched.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.emu.Calls("TerminateInstances"); n != 0 {
		t.Fatalf("the sweeper terminated instances of a pool not in the config, without a drain (%d calls), want them kept", n)
	}
	if live := h.live(); len(live) != 2 {
		t.Fatalf("%d instances of the unconfigured pool run, want 2 kept", len(live))
	}
	if rs, err := h.store.Instances(ctx, state.InstanceFilter{Pool: "train", Live: true}); err != nil || len(rs) != 2 {
		t.Fatalf("open rows of the unconfigured pool: %+v (%v), want 2 kept", rs, err)
	}
	if g := gaugeOf(t, reg, "spillway_unconfigured_pool_instances"); g != 2 {
		t.Fatalf("spillway_unconfigured_pool_instances{pool=train} = %v, want 2", g)
	}
	if n := strings.Count(h.logs.String(), "is not in this server's config"); n != 2 {
		t.Fatalf("%d warnings of an instance of a pool not in the config in 3 sweeps, want one each of 2:\n%s", n, h.logs.String())
	}

	h.pool = testPool()
	h.opts.Registerer = nil
	h.restart()
	h.setDemand(0)
	h.until("the pool put back ends its instances", time.Minute, 60, func() bool { return len(h.rows(true)) == 0 })
	for _, in := range launched {
		if !slices.Contains(drained(h), in.ID) {
			t.Fatalf("instance %s ended without a drain (drained: %v)", in.ID, drained(h))
		}
	}
}

// twoOfARemovedPool launches two instances of the test pool, an hour
// old, then restarts the scheduler with the pool renamed infer (train is
// no longer in its config), its logs and metrics fresh: it returns the
// harness, the two instances and the metrics' registry.
func twoOfARemovedPool(t *testing.T, opts ...func(*harness)) (*harness, []emulator.Instance, *prometheus.Registry) {
	t.Helper()
	h := newHarness(t, testPool())
	h.setDemand(2*time.Minute, 8, 8)
	h.tick()
	launched := h.live()
	if len(launched) != 2 {
		t.Fatalf("after a 16-GPU spike: %d instances, want 2", len(launched))
	}
	h.clk.Step(time.Hour) // older than the sweep grace already

	renamed := testPool()
	renamed.Name = "infer"
	h.pool = renamed
	h.logs = &lockedBuffer{}
	reg := prometheus.NewRegistry()
	h.opts.Registerer = reg
	for _, o := range opts {
		o(h)
	}
	h.restart()
	return h, launched, reg
}

// An instance of a pool this server's config lacks that someone ended by
// hand in the cloud: no pool here lists it, and its open row billed for
// ever (cost_so_far in status grew, spillway_unconfigured_pool_instances
// counted it) although the cloud no longer listed it. The sweeper, which
// lists it no longer, ends its row as vanished, says so once, and keeps
// the other one.
func TestSweeperEndsTheRowOfAnUnconfiguredPoolsInstanceEndedByHand(t *testing.T) {
	h, launched, reg := twoOfARemovedPool(t)
	ctx := context.Background()
	gone, kept := launched[0].ID, launched[1].ID
	if err := h.prov.Terminate(ctx, []string{gone}); err != nil {
		t.Fatal(err)
	}
	h.clk.Step(time.Minute)
	byHand := h.clk.Now()
	for _, d := range []time.Duration{0, 11 * time.Minute, time.Hour} {
		h.clk.Step(d)
		if err := h.sched.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.emu.Calls("TerminateInstances"); n != 1 {
		t.Fatalf("%d TerminateInstances calls, want the one by hand only", n)
	}
	rs, err := h.store.Instances(ctx, state.InstanceFilter{Pool: "train"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		switch {
		case r.ID == kept && r.State == state.InstanceEnded:
			t.Errorf("the row of %s, still running, was ended: %+v", kept, r)
		case r.ID == gone && (r.State != state.InstanceEnded || r.EndReason != scheduler.VanishedReason || !r.EndedAt.Equal(byHand)):
			t.Errorf("the row of %s, ended by hand, is %s (%q) ended at %v; want ended as vanished at the first sweep past it, %v", gone, r.State, r.EndReason, r.EndedAt, byHand)
		}
	}
	if g := gaugeOf(t, reg, "spillway_unconfigured_pool_instances"); g != 1 {
		t.Fatalf("spillway_unconfigured_pool_instances{pool=train} = %v, want 1", g)
	}
	logs := h.logs.String()
	if n := strings.Count(logs, "is no longer listed by the cloud"); n != 1 || !strings.Contains(logs, gone) {
		t.Fatalf("%d warnings of the instance ended by hand in 3 sweeps, want 1 naming %s:\n%s", n, gone, logs)
	}
	if n := strings.Count(logs, "is not in this server's config"); n != 1 {
		t.Fatalf("%d warnings of an instance kept for a pool not in the config, want 1 (the one still running):\n%s", n, logs)
	}
}

// TestPoolBackBillsTheRunOfAnInstanceEndedWhileItWasOut: an instance of a
// pool the config lacked ran an hour unaccrued (no pool ticked it), was
// ended by hand, and the sweeper ended its row; with the pool back, its
// ledger held nothing of that run ($33.86 for the other instance; the two
// cost $67.18), so its budget could spend the hour again. A pool's
// first tick owes the ledger what its rows ended in this budget period or
// the one before cost, to their ends.
func TestPoolBackBillsTheRunOfAnInstanceEndedWhileItWasOut(t *testing.T) {
	h, launched, _ := twoOfARemovedPool(t)
	ctx := context.Background()
	if err := h.prov.Terminate(ctx, []string{launched[0].ID}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		h.clk.Step(time.Minute)
		if err := h.sched.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	h.pool = testPool() // back
	h.setDemand(0)
	h.opts.Registerer = prometheus.NewRegistry()
	h.restart()
	h.tick()
	if rs := h.rows(false); len(rs) != 2 || rs[0].State != state.InstanceEnded && rs[1].State != state.InstanceEnded {
		t.Fatalf("rows %+v, want the one ended by hand ended", rs)
	}
	want := h.billedByRows(testPool().Offerings[0])
	if got := billedSince(t, h, t0); got < want-0.01 || got > want+0.01 {
		t.Fatalf("pool train back, its ledger holds $%.2f; its two instances cost $%.2f, one ended by hand while the pool was out", got, want)
	}
}

// An instance launched under an intent of a pool this server's config
// lacks, that no row records (its launch answer lost when the server on the
// config with that pool died): the sweeper took it for a stranger, as it
// looked for the intents of its configured pools only, and terminated it
// without a drain sweep_grace after its launch. It keeps it, and says so
// once; a server with the pool adopts it.
func TestSweeperKeepsAnInstanceOfAnUnconfiguredPoolsIntent(t *testing.T) {
	h, _ := launchedForAnUnconfiguredIntent(t)
	ctx := context.Background()
	for _, d := range []time.Duration{time.Hour, 11 * time.Minute} {
		h.clk.Step(d)
		if err := h.sched.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.emu.Calls("TerminateInstances"); n != 0 {
		t.Fatalf("the sweeper terminated the instance of another pool's intent, without a drain (%d calls), want it kept", n)
	}
	if n := strings.Count(h.logs.String(), "launched for a pool not in this server's config"); n != 1 {
		t.Fatalf("%d warnings of the instance kept for another pool's intent in 2 sweeps, want 1:\n%s", n, h.logs.String())
	}
}

// launchedForAnUnconfiguredIntent starts a scheduler whose only pool is
// infer, and launches one instance under a pending intent of pool train,
// which no row records: it returns the harness and the instance.
func launchedForAnUnconfiguredIntent(t *testing.T) (*harness, providers.Instance) {
	t.Helper()
	other := testPool()
	other.Name = "infer"
	h := newHarness(t, other)
	h.logs = &lockedBuffer{}
	h.restart()
	ctx := context.Background()
	in := state.Intent{ID: "20261130t090000-trainintent", Pool: "train", Provider: provName, Offering: "p4d", Count: 1,
		ClientToken: "train-intent-1", Status: state.IntentPending, CreatedAt: h.clk.Now(), UpdatedAt: h.clk.Now()}
	if err := h.store.CreateIntent(ctx, in); err != nil {
		t.Fatal(err)
	}
	launched, err := h.prov.Launch(ctx, providers.LaunchRequest{Offering: testPool().Offerings[0], Count: 1, ClientToken: in.ClientToken,
		Tags: map[string]string{providers.TagCluster: cluster, providers.TagPool: "train", providers.TagIntent: in.ID}})
	if err != nil || len(launched) != 1 {
		t.Fatalf("launch under train's intent: %v (%d instances)", err, len(launched))
	}
	return h, launched[0]
}

// An instance kept only by an intent of a pool the config lacks, no row
// recording it, was named in one WARN line and nowhere else: status
// listed the unconfigured pools' rows only. The sweeper holds each, from
// the first sweep that lists it (within the sweep grace too), with its
// intent's pool and offering and its launch, for status
// (KeptForIntents), and drops it once the cloud no longer lists it.
func TestSweeperHoldsTheInstancesItKeepsForAnIntent(t *testing.T) {
	h, in := launchedForAnUnconfiguredIntent(t)
	ctx := context.Background()
	for _, d := range []time.Duration{time.Minute, time.Hour} {
		h.clk.Step(d)
		if err := h.sched.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		got := h.sched.KeptForIntents()
		if len(got) != 1 || !got[0].Since.Equal(in.LaunchTime) || in.LaunchTime.IsZero() {
			t.Fatalf("kept for intents %+v after %v, want %s launched at %v", got, d, in.ID, in.LaunchTime)
		}
		got[0].Since = time.Time{}
		if want := (scheduler.KeptForIntent{Pool: "train", Provider: provName, ID: in.ID, Offering: "p4d"}); got[0] != want {
			t.Fatalf("kept for intents %+v after %v, want %s of pool train, offering p4d", got, d, in.ID)
		}
	}
	h.emu.SetFaultRate(1)
	if err := h.sched.Sweep(ctx); err == nil {
		t.Fatal("a sweep whose list failed answered no error")
	}
	h.emu.SetFaultRate(0)
	if got := h.sched.KeptForIntents(); len(got) != 1 {
		t.Fatalf("kept for intents %+v after a sweep whose list failed, want %s kept as it was", got, in.ID)
	}
	if err := h.sched.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(h.logs.String(), "launched for a pool not in this server's config"); n != 1 {
		t.Fatalf("%d warnings of the instance kept for another pool's intent, want 1 (a failed list forgets nothing):\n%s", n, h.logs.String())
	}
	if err := h.prov.Terminate(ctx, []string{in.ID}); err != nil {
		t.Fatal(err)
	}
	h.clk.Step(time.Minute)
	if err := h.sched.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := h.sched.KeptForIntents(); len(got) != 0 {
		t.Fatalf("kept for intents %+v once the cloud no longer lists it, want none", got)
	}
}

// TestUnconfiguredGaugeCountsInstancesKeptForAnIntent: an instance kept
// for an intent of a pool the config lacks, no row recording it, is one
// spillway status lists (state "no row") and docs/server.md says
// spillway_unconfigured_pool_instances counts; it counted rows only, and
// had no series for the pool. It counts the instance while the sweeper
// keeps it, and none once the cloud no longer lists it.
func TestUnconfiguredGaugeCountsInstancesKeptForAnIntent(t *testing.T) {
	h, in := launchedForAnUnconfiguredIntent(t)
	reg := prometheus.NewRegistry()
	h.opts.Registerer = reg
	h.restart()
	ctx := context.Background()
	sweep := func(after time.Duration, want float64) {
		t.Helper()
		h.clk.Step(after)
		if err := h.sched.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if g := gaugeOf(t, reg, "spillway_unconfigured_pool_instances"); g != want {
			t.Fatalf("spillway_unconfigured_pool_instances{pool=train} = %v at a sweep %v after the last, want %v (-1: no series)", g, after, want)
		}
	}
	sweep(time.Minute, 1)
	sweep(time.Hour, 1)
	if err := h.prov.Terminate(ctx, []string{in.ID}); err != nil {
		t.Fatal(err)
	}
	sweep(time.Minute, -1)
}

// launchThenMoveOffering launches one instance on the test pool's first
// offering, then restarts the scheduler with that offering removed from the
// config and the pool's other offering moved to a second provider ("other",
// its own emulator), demand gone; withoutMain also removes the first
// offering's provider from the config. It returns the harness and the
// instance's ID.
func launchThenMoveOffering(t *testing.T, withoutMain bool) (*harness, string) {
	t.Helper()
	h := newHarness(t, testPool())
	h.setDemand(2*time.Minute, 8)
	h.tick()
	launched := h.live()
	if len(launched) != 1 {
		t.Fatalf("after an 8-GPU spike: %d instances, want 1", len(launched))
	}
	id := launched[0].ID

	emu2 := emulator.New(emulator.Options{Clock: h.clk.Now, BootDelay: bootTime, Seed: 4, PrivateIPs: nextIPRange(t)})
	srv2 := httptest.NewServer(emu2.EC2Handler())
	t.Cleanup(srv2.Close)
	h.moreProviders = map[string]providers.Provider{"other": h.newProviderAt("other", srv2.URL)}
	h.withoutMain = withoutMain
	moved := testPool()
	moved.Offerings = moved.Offerings[1:]
	moved.Offerings[0].Provider = "other"
	h.pool = moved
	h.restart()
	h.setDemand(0)
	return h, id
}

// An offering removed from the pool's config, and with it the last use of
// its provider, leaves instances the pool still owns: they are still
// listed, drained and ended by Spillway, not taken for vanished (their rows
// ended while the cloud runs them, to be swept later without a drain).
func TestInstancesOfARemovedOfferingStayTrackedOnItsProvider(t *testing.T) {
	h, id := launchThenMoveOffering(t, false)

	h.until("the instance of the removed offering ends", time.Minute, 30, func() bool {
		for _, r := range h.rows(false) {
			if r.ID == id {
				return r.State == state.InstanceEnded || r.State == state.InstanceTerminating
			}
		}
		return false
	})
	for _, r := range h.rows(false) {
		if r.ID == id && strings.Contains(r.EndReason, "vanished") {
			t.Fatalf("instance %s of the removed offering ended as %q while the cloud still runs it, want it drained and terminated", id, r.EndReason)
		}
	}
	if !slices.Contains(drained(h), id) {
		t.Fatalf("instance %s ended without a drain (drained: %v)", id, drained(h))
	}
	for _, in := range h.emu.Instances() {
		if in.ID == id && (in.State == "pending" || in.State == "running") {
			t.Fatalf("instance %s is %s on the cloud after its row ended, want terminated", id, in.State)
		}
	}
}

// A provider removed from the config with live instances on it: they can
// be neither listed nor terminated, so their rows must stay as they are
// (and be noted), not be ended as vanished while the cloud runs them.
func TestInstancesOnARemovedProviderAreNotTakenForVanished(t *testing.T) {
	h, id := launchThenMoveOffering(t, true)
	for range 5 {
		h.step(time.Minute) // past the list grace
	}
	rs := h.rows(true)
	if len(rs) != 1 || rs[0].ID != id {
		t.Fatalf("live rows after the provider left the config: %+v, want %s kept", rs, id)
	}
	ds := h.decisions()
	if len(ds) == 0 || !strings.Contains(strings.Join(ds[0].Notes, "; "), "no longer in the config") {
		t.Fatalf("latest decision %+v does not note the provider that left the config", ds)
	}
}

func TestManualBurstOpensAndEndsOnTime(t *testing.T) {
	h := newHarness(t, testPool())
	ctx := context.Background()
	_, err := h.sched.CreateBurst(ctx, scheduler.BurstRequest{Pool: "train", GPUs: 32, For: time.Hour, Reason: "incident", Principal: "alice"})
	var le *scheduler.LimitError
	if !errors.As(err, &le) || le.Limit != "manual.max_gpus" || !strings.Contains(err.Error(), "16 GPUs") {
		t.Fatalf("32-GPU burst: err %v, want a LimitError naming manual.max_gpus and 16 GPUs", err)
	}
	if _, err := h.sched.CreateBurst(ctx, scheduler.BurstRequest{Pool: "train", GPUs: 8, For: 5 * time.Hour, Reason: "x", Principal: "alice"}); !errors.As(err, &le) || le.Limit != "manual.max_ttl" {
		t.Fatalf("5h burst: err %v, want a LimitError naming manual.max_ttl", err)
	}
	fl, err := h.sched.CreateBurst(ctx, scheduler.BurstRequest{Pool: "train", GPUs: 8, For: 30 * time.Minute, Reason: "incident 42", Principal: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	h.tick()
	if len(h.live()) != 1 || tag(h.live()[0], providers.TagBurst) != fl.ID {
		t.Fatalf("manual burst: live %+v, want one instance tagged with burst %s", h.live(), fl.ID)
	}
	h.until("joined", 10*time.Second, 20, func() bool { rs := h.rows(true); return len(rs) == 1 && rs[0].State == state.InstanceRunning })
	h.restart() // floors survive a restart
	h.until("the floor ends on time", time.Minute, 40, func() bool {
		f, err := h.store.Floor(ctx, fl.ID)
		return err == nil && !f.EndedAt.IsZero()
	})
	f, _ := h.store.Floor(ctx, fl.ID)
	if !f.EndedAt.Equal(fl.Until) {
		t.Fatalf("floor ended at %v, want its end time %v", f.EndedAt, fl.Until)
	}
	h.until("the burst's instance ends", time.Minute, 30, func() bool { return len(h.live()) == 0 })
}

func TestCancelledBurstDrainsThenTerminates(t *testing.T) {
	h := newHarness(t, testPool())
	ctx := context.Background()
	h.cancelledBusyBurst()
	h.step(time.Minute)
	if len(h.live()) != 1 {
		t.Fatal("a draining instance with a running job was terminated before its drain timeout")
	}
	h.agents.setBusy(0) // the job ends
	h.until("terminated", 10*time.Second, 20, func() bool { return len(h.live()) == 0 })
	if _, err := h.sched.CancelBurst(ctx, "b-nope", "bob"); !errors.Is(err, scheduler.ErrUnknownBurst) {
		t.Fatalf("cancel of an unknown burst: %v, want ErrUnknownBurst", err)
	}
}

// cancelledBusyBurst opens a manual burst of 8 GPUs, has its instance
// join and run a job, cancels the burst, and checks that the instance is
// draining.
func (h *harness) cancelledBusyBurst() {
	h.t.Helper()
	ctx := context.Background()
	fl, err := h.sched.CreateBurst(ctx, scheduler.BurstRequest{Pool: "train", GPUs: 8, For: 2 * time.Hour, Reason: "incident", Principal: "bob"})
	if err != nil {
		h.t.Fatal(err)
	}
	h.tick()
	h.until("joined", 10*time.Second, 20, func() bool { rs := h.rows(true); return len(rs) == 1 && rs[0].State == state.InstanceRunning })
	h.agents.setBusy(8) // a job runs on it
	h.step(10 * time.Second)
	if _, err := h.sched.CancelBurst(ctx, fl.ID, "bob"); err != nil {
		h.t.Fatal(err)
	}
	h.step(10 * time.Second)
	if rs := h.rows(true); len(rs) != 1 || rs[0].State != state.InstanceDraining {
		h.t.Fatalf("after cancel: rows %+v, want the burst's busy instance draining", rs)
	}
}

// TestHoldersNameTheFloorThatHoldsEachInstance: a manual burst opened
// while an instance launched for queue demand idles keeps it rather than
// launching another, and holds it; when a schedule opens, the floors take
// what no floor launched in their order (the schedule first) and the burst
// launches what it lacks. Each holder names its floor's owner: the
// schedule's name, or who opened the burst.
func TestHoldersNameTheFloorThatHoldsEachInstance(t *testing.T) {
	p := testPool()
	p.Schedules = []policy.Schedule{{Name: "morning", Cron: "30 9 * * 1-5", GPUs: 8, Duration: policy.Duration(time.Hour)}}
	h := newHarness(t, p)
	ctx := context.Background()
	holders := func() map[string]scheduler.Holder {
		t.Helper()
		held, err := h.sched.Holders(ctx, h.rows(true), h.clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		return held
	}
	h.setDemand(2*time.Minute, 8)
	h.tick()
	h.until("the queue's instance joins", 10*time.Second, 20, func() bool { rs := h.rows(true); return len(rs) == 1 && rs[0].State == state.InstanceRunning })
	queued := h.rows(true)[0].ID
	h.setDemand(0)
	if held := holders(); len(held) != 0 {
		t.Fatalf("before any floor: holders %v, want none", held)
	}
	fl, err := h.sched.CreateBurst(ctx, scheduler.BurstRequest{Pool: "train", GPUs: 8, For: 2 * time.Hour, Reason: "incident", Principal: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	for range 12 { // past the 5m idle threshold: the burst keeps it
		h.step(time.Minute)
	}
	if rs := h.rows(true); len(rs) != 1 || rs[0].ID != queued || rs[0].State != state.InstanceRunning {
		t.Fatalf("rows %+v, want only the queue's instance %s, running: the burst keeps it", rs, queued)
	}
	byBurst := scheduler.Holder{Floor: fl.ID, Owner: "alice", Burst: fl.ID}
	if held := holders(); !maps.Equal(held, map[string]scheduler.Holder{queued: byBurst}) {
		t.Fatalf("holders %v, want %s held by burst %s of alice", held, queued, fl.ID)
	}

	h.until("the schedule opens at 09:30 and the burst launches", time.Minute, 40, func() bool { return len(h.rows(true)) == 2 })
	h.step(time.Minute)
	held := holders()
	morning := scheduler.Holder{Floor: "schedule/train/morning/" + strconv.FormatInt(t0.Add(90*time.Minute).Unix(), 10), Owner: "morning"}
	if held[queued] != morning {
		t.Errorf("%s held by %+v, want the schedule's floor %+v (floors keep what no floor launched in their order)", queued, held[queued], morning)
	}
	for _, r := range h.rows(true) {
		if r.ID != queued && held[r.ID] != byBurst {
			t.Errorf("%s, launched for the burst, held by %+v, want %+v", r.ID, held[r.ID], byBurst)
		}
	}
	// Cancelled, the burst's own instance ends and is still shown as its.
	if _, err := h.sched.CancelBurst(ctx, fl.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	h.step(10 * time.Second)
	held = holders()
	for _, r := range h.rows(true) {
		if r.ID != queued && (r.State == state.InstanceRunning || held[r.ID] != byBurst) {
			t.Errorf("the cancelled burst's instance %s: %s, held by %+v; want it ending, held by %+v", r.ID, r.State, held[r.ID], byBurst)
		}
	}
}

// TestHoldersLeaveACancelledBurstsInstancesToIt: between a burst's
// cancel and the tick that drains its instances, no other floor keeps
// them, as the tick drains them before the policy counts what floors
// hold: a schedule the pool's limit keeps short does not take the
// cancelled burst's instance as its own.
func TestHoldersLeaveACancelledBurstsInstancesToIt(t *testing.T) {
	p := testPool()
	p.Limits.MaxGPUs = 8 // one instance: the schedule cannot launch beside the burst's
	p.Schedules = []policy.Schedule{{Name: "morning", Cron: "30 9 * * 1-5", GPUs: 8, Duration: policy.Duration(time.Hour)}}
	h := newHarness(t, p)
	ctx := context.Background()
	fl, err := h.sched.CreateBurst(ctx, scheduler.BurstRequest{Pool: "train", GPUs: 8, For: 2 * time.Hour, Reason: "incident", Principal: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	h.until("the schedule opens at 09:30", time.Minute, 40, func() bool { return !h.clk.Now().Before(t0.Add(30 * time.Minute)) })
	h.step(time.Minute)
	rs := h.rows(true)
	if len(rs) != 1 || rs[0].Floor != fl.ID || rs[0].State != state.InstanceRunning {
		t.Fatalf("rows %+v, want the burst's one instance running", rs)
	}
	if _, err := h.sched.CancelBurst(ctx, fl.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	held, err := h.sched.Holders(ctx, h.rows(true), h.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := scheduler.Holder{Floor: fl.ID, Owner: "alice", Burst: fl.ID}
	if held[rs[0].ID] != want {
		t.Errorf("at once after the cancel, %s held by %+v, want %+v: the next tick drains it", rs[0].ID, held[rs[0].ID], want)
	}
}

func TestScheduleOpensAndClosesOnTimeAcrossRestart(t *testing.T) {
	p := testPool()
	p.Schedules = []policy.Schedule{{Name: "morning", Cron: "30 9 * * 1-5", GPUs: 8, Duration: policy.Duration(time.Hour)}}
	h := newHarness(t, p)
	h.tick()
	if len(h.live()) != 0 {
		t.Fatalf("before 09:30: %d live, want 0", len(h.live()))
	}
	h.until("the schedule opens at 09:30", time.Minute, 40, func() bool { return len(h.live()) == 1 })
	if now := h.clk.Now(); now.Before(t0.Add(30*time.Minute)) || now.After(t0.Add(31*time.Minute)) {
		t.Fatalf("schedule opened at %v, want 09:30", now)
	}
	h.restart()
	h.step(time.Minute)
	if len(h.live()) != 1 {
		t.Fatalf("after a restart inside the window: %d live, want 1 (no duplicate, not ended)", len(h.live()))
	}
	ctx := context.Background()
	fls, err := h.store.Floors(ctx, state.FloorFilter{Pool: "train", Kind: state.FloorSchedule})
	if err != nil || len(fls) != 1 {
		t.Fatalf("schedule floors = %+v (%v), want one row", fls, err)
	}
	h.until("the floor closes at 10:30", time.Minute, 70, func() bool {
		f, _ := h.store.Floor(ctx, fls[0].ID)
		return !f.EndedAt.IsZero()
	})
	f, _ := h.store.Floor(ctx, fls[0].ID)
	if want := t0.Add(90 * time.Minute); !f.EndedAt.Equal(want) {
		t.Fatalf("schedule floor ended at %v, want %v", f.EndedAt, want)
	}
	h.until("its instance ends", time.Minute, 30, func() bool { return len(h.live()) == 0 })
}

func TestBudgetHoldsAcrossRestarts(t *testing.T) {
	p := testPool()
	p.Limits.Budget = &policy.Budget{Amount: 100, Period: policy.PeriodDay}
	p.Interval = policy.Duration(30 * time.Second)
	h := newHarness(t, p)
	h.setDemand(2*time.Minute, 8, 8, 8)
	for i := range 150 { // 75 minutes of ticks at the pool's interval
		h.agents.setBusy(8)
		h.step(30 * time.Second)
		if i%30 == 29 {
			h.restart()
		}
	}
	start, _ := p.BudgetPeriod(h.clk.Now())
	spent, err := h.store.Spend(context.Background(), "train", start)
	if err != nil {
		t.Fatal(err)
	}
	// What the emulator's instances cost, by their own lifetimes.
	billed := h.billedByRows(p.Offerings[0])
	if spent <= 0 || spent > 100 || billed > 100 {
		t.Fatalf("spend %.2f (ledger), %.2f (instances' lifetimes) of a $100 budget: want some spend and never more than the budget", spent, billed)
	}
}

func TestDryRunMakesNoMutatingCall(t *testing.T) {
	h := newHarness(t, testPool(), func(h *harness) { h.opts.DryRun = true })
	h.setDemand(2*time.Minute, 8, 8)
	for range 5 {
		h.step(30 * time.Second)
	}
	if err := h.sched.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"RunInstances", "TerminateInstances"} {
		if n := h.emu.Calls(a); n != 0 {
			t.Fatalf("dry run made %d %s calls, want 0", n, a)
		}
	}
	ds := h.decisions()
	if len(ds) == 0 || !ds[len(ds)-1].DryRun || len(ds[len(ds)-1].Launches) == 0 || !strings.Contains(ds[len(ds)-1].Launches[0].Outcome, "dry run") {
		t.Fatalf("dry-run decisions = %+v, want recorded launches marked dry run", ds)
	}
}

func TestOldHistoryIsPrunedLiveStateKept(t *testing.T) {
	h := newHarness(t, testPool(), func(h *harness) { h.opts.Retention = 24 * time.Hour })
	h.setDemand(2*time.Minute, 8)
	h.tick()
	h.until("joined", 10*time.Second, 20, func() bool { rs := h.rows(true); return len(rs) == 1 && rs[0].State == state.InstanceRunning })
	h.agents.setBusy(8)
	before := len(h.decisions())
	h.clk.Step(48 * time.Hour)
	if err := h.sched.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(h.decisions()); n != 0 || before == 0 {
		t.Fatalf("decisions: %d before, %d after two days with a 24h retention: want them pruned", before, n)
	}
	if rs := h.rows(true); len(rs) != 1 {
		t.Fatalf("live rows after the prune: %d, want the running instance kept", len(rs))
	}
}

// TestInvalidRequestMarksThePoolMisconfigured: a launch the cloud refuses as
// invalid (user data over EC2's 16 KiB) fails the intent with cause
// invalid, says why in the pool's status, holds the provider back instead of
// retrying every tick, and never marks the offering out of stock.
func TestInvalidRequestMarksThePoolMisconfigured(t *testing.T) {
	huge := strings.Repeat("#", 20_000)
	h := newHarness(t, testPool(), func(h *harness) {
		h.userData = func(config.InstanceFields) (string, error) { return huge, nil }
	})
	h.setDemand(2*time.Minute, 8)
	h.tick()
	d := h.decisions()[0]
	if len(d.Launches) != 1 || d.Launches[0].Cause != "invalid" || !strings.Contains(d.Launches[0].Error, "InvalidParameterValue") {
		t.Fatalf("launches = %+v, want one launch failed as invalid with the cloud's code", d.Launches)
	}
	st, _ := h.sched.LastStatus("train")
	if !strings.Contains(st.Misconfigured, "provider aws refused the request as invalid") {
		t.Fatalf("status misconfigured = %q, want it to name the provider and say why", st.Misconfigured)
	}
	intents, err := h.store.Intents(context.Background(), state.IntentFilter{Pool: "train"})
	if err != nil || len(intents) != 1 || intents[0].Status != state.IntentFailed {
		t.Fatalf("intents = %+v (%v), want one failed intent", intents, err)
	}
	calls := h.emu.Calls("RunInstances")
	h.step(time.Minute)
	if n := h.emu.Calls("RunInstances"); n != calls {
		t.Fatalf("RunInstances calls went from %d to %d within the hold: a misconfigured provider is retried every tick", calls, n)
	}
	if in, _ := h.store.Intents(context.Background(), state.IntentFilter{Pool: "train"}); len(in) != 1 {
		t.Fatalf("%d intents after a tick inside the hold, want still 1: nothing is planned on a held provider", len(in))
	}
	h.step(5 * time.Minute)
	if n := h.emu.Calls("RunInstances"); n == calls {
		t.Fatal("the provider was never tried again after the hold")
	}
}

// TestStatusReadsDoNotWaitForASlowTick: the API reads a pool's last status
// and timeline while a tick is stuck in a slow cloud call.
func TestStatusReadsDoNotWaitForASlowTick(t *testing.T) {
	h := newHarness(t, testPool())
	h.tick()
	h.emu.StallResponses("DescribeInstances", 1, 3*time.Second)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = h.sched.Tick(context.Background(), "train")
	}()
	for h.emu.Calls("DescribeInstances") < 2 { // the first tick made one
		select {
		case <-done:
			t.Fatal("the tick ended before its stalled call")
		default:
			runtime.Gosched()
		}
	}
	st, ok := h.sched.LastStatus("train")
	if _, tok := h.sched.Timeline("train", time.Time{}); !ok || !tok || st.Time.IsZero() {
		t.Fatalf("LastStatus = %+v, %v: want the previous tick's status", st, ok)
	}
	select {
	case <-done:
		t.Fatal("LastStatus returned only after the stalled tick ended")
	default:
	}
	<-done
}

// Joins teach the pool its offerings' boot times: after three instances
// of an offering joined, the snapshot the policy decides on plans with the
// slowest of them (the p90 of so few), not with the configured boot.
func TestJoinsTeachThePolicyTheBootTime(t *testing.T) {
	h := newHarness(t, testPool())
	h.setDemand(2*time.Minute, 8, 8, 8)
	h.tick()
	if got := len(h.live()); got != 3 {
		t.Fatalf("after a 24-GPU spike: %d instances on the emulator, want 3", got)
	}
	h.until("instances join", 10*time.Second, 20, func() bool {
		rs := h.rows(true)
		return len(rs) == 3 && rs[0].State == state.InstanceRunning && rs[1].State == state.InstanceRunning && rs[2].State == state.InstanceRunning
	})
	var slowest time.Duration
	for _, r := range h.rows(true) {
		slowest = max(slowest, r.JoinedAt.Sub(r.LaunchedAt))
	}
	h.step(10 * time.Second)
	st, ok := h.sched.LastStatus(h.pool.Name)
	if !ok {
		t.Fatal("no status after the ticks")
	}
	key := h.pool.Offerings[0].Key()
	if got := st.Snapshot.Boot[key]; got != slowest || got == 0 {
		t.Fatalf("snapshot boot for %s = %s (all: %v), want the slowest join %s", key.InstanceType, got, st.Snapshot.Boot, slowest)
	}
	if got := st.Snapshot.BootMean[key]; got <= 0 || got > slowest {
		t.Fatalf("snapshot mean boot for %s = %s, want the mean of the joins (0 < mean <= %s)", key.InstanceType, got, slowest)
	}

	// A restart reads the joins back from the state.
	h.restart()
	h.step(10 * time.Second)
	st, _ = h.sched.LastStatus(h.pool.Name)
	if got := st.Snapshot.Boot[key]; got != slowest {
		t.Fatalf("after a restart: snapshot boot for %s = %s, want the slowest join %s read back from the state", key.InstanceType, got, slowest)
	}
}

// idleGaps is the idle gaps of offering key the pool's last tick handed
// the policy (Snapshot.IdleGaps).
func (h *harness) idleGaps(key policy.OfferingKey) []time.Duration {
	h.t.Helper()
	st, ok := h.sched.LastStatus(h.pool.Name)
	if !ok {
		h.t.Fatal("no status")
	}
	return st.Snapshot.IdleGaps[key]
}

// idleSpell launches one instance for an 8-GPU job, lets it join idle, and
// has a job land on it after d: an idle spell of d, seen at the next tick.
func (h *harness) idleSpell(d time.Duration) {
	h.t.Helper()
	h.setDemand(2*time.Minute, 8)
	h.tick()
	h.until("the instance joins, idle", 10*time.Second, 20, func() bool {
		rs := h.rows(true)
		return len(rs) == 1 && rs[0].State == state.InstanceRunning && !rs[0].IdleSince.IsZero()
	})
	h.clk.Step(d)
	h.agents.setBusy(8)
	h.setDemand(0)
	h.step(0)
	h.step(10 * time.Second)
}

// TestIdleGapNeverAgrees: the scheduler stores the tracker's gaps as they
// are, so the state's "no launch followed" must be the policy's.
func TestIdleGapNeverAgrees(t *testing.T) {
	if state.IdleGapNever != policy.IdleGapNever {
		t.Fatalf("state.IdleGapNever %v, policy.IdleGapNever %v: a stored never would read back as a gap", state.IdleGapNever, policy.IdleGapNever)
	}
}

// gapsDown fails AddIdleGaps while down is set, as a database briefly
// unavailable would; everything else reaches the state.
type gapsDown struct {
	state.Store
	down atomic.Bool
}

func (g *gapsDown) AddIdleGaps(ctx context.Context, gs []state.IdleGap) error {
	if g.down.Load() {
		return errors.New("database is locked")
	}
	return g.Store.AddIdleGaps(ctx, gs)
}

// TestIdleGapsOutliveAFailedWrite: a gap whose write failed is written with
// a later tick's, and a restart reads it back.
func TestIdleGapsOutliveAFailedWrite(t *testing.T) {
	flaky := &gapsDown{}
	flaky.down.Store(true)
	h := newHarness(t, testPool(), func(h *harness) {
		h.wrap = func(st state.Store) state.Store { flaky.Store = st; return flaky }
	})
	key := h.pool.Offerings[0].Key()
	stored := func() []state.IdleGap {
		gs, err := h.store.IdleGaps(context.Background(), h.pool.Name, 50)
		if err != nil {
			t.Fatal(err)
		}
		return gs
	}
	h.idleSpell(30 * time.Second)
	if gs := stored(); len(gs) != 0 {
		t.Fatalf("stored %+v while the writes fail", gs)
	}
	flaky.down.Store(false)
	h.step(10 * time.Second)
	gs := stored()
	if len(gs) != 1 || gs[0].Gap != 30*time.Second || gs[0].InstanceType != key.InstanceType {
		t.Fatalf("stored %+v once the writes succeed, want the one 30s spell of %s", gs, key.InstanceType)
	}
	h.restart()
	h.step(10 * time.Second)
	st, ok := h.sched.LastStatus(h.pool.Name)
	if !ok || !slices.Equal(st.Snapshot.IdleGaps[key], []time.Duration{30 * time.Second}) {
		t.Fatalf("after a restart: idle gaps %v, want [30s]", st.Snapshot.IdleGaps)
	}
}

// TestIdleSpellsReachTheSnapshot: the scheduler learns how long its idle
// instances wait for work (package idlegap), from its agents' reports, its
// releases and its launches, and hands the gaps to the policy
// (Snapshot.IdleGaps), against the emulator with the real SDK.
func TestIdleSpellsReachTheSnapshot(t *testing.T) {
	h := newHarness(t, testPool())
	key := h.pool.Offerings[0].Key()
	gaps := func() []time.Duration { return h.idleGaps(key) }
	// A job lands on it 30 s later: a spell of 30 s.
	h.idleSpell(30 * time.Second)
	if got := gaps(); len(got) != 1 || got[0] != 30*time.Second {
		t.Fatalf("after a job landed: idle gaps %v, want one of 30s", got)
	}
	// The job ends; the idle instance is released after scale_in.idle.
	h.agents.setBusy(0)
	h.step(10 * time.Second)
	released := h.rows(true)[0].IdleSince
	h.until("the idle instance ends", time.Minute, 12, func() bool { return len(h.rows(true)) == 0 })
	// Work comes back: the launch resolves the released spell.
	h.clk.Step(2 * time.Minute)
	h.setDemand(2*time.Minute, 8)
	launchAt := h.clk.Now()
	h.tick()
	h.step(10 * time.Second)
	got := gaps()
	if len(got) != 2 || got[1] != launchAt.Sub(released) {
		t.Fatalf("after the relaunch: idle gaps %v, want 30s and %s (idle since %s, relaunched at %s)", got, launchAt.Sub(released), released.Format(time.TimeOnly), launchAt.Format(time.TimeOnly))
	}

	// A restart reads the gaps back from the state, once each.
	h.restart()
	h.step(10 * time.Second)
	if again := gaps(); !slices.Equal(again, got) {
		t.Fatalf("after a restart: idle gaps %v, want %v read back from the state", again, got)
	}
	h.restart()
	h.step(10 * time.Second)
	if again := gaps(); !slices.Equal(again, got) {
		t.Fatalf("after a second restart: idle gaps %v, want %v (a restored gap is not stored again)", again, got)
	}
}

// TestDryRunCountsOnce: a dry run leaves an instance as it is, so its spot
// notice and then its join timeout are seen again at every tick; each is
// counted once (spillway_spot_interruptions_total and
// spillway_launch_failures_total, whose cause tells them apart).
func TestDryRunCountsOnce(t *testing.T) {
	p := testPool()
	p.Offerings[0].Market = policy.MarketSpot
	p.Offerings[0].PricePerHour = 12
	p.CheckpointInterval = policy.Duration(30 * time.Minute)
	h := newHarness(t, p)
	h.setDemand(2*time.Minute, 8)
	h.tick()
	id := h.rows(true)[0].ID
	h.agents.never(h.live()[0].PrivateIP)
	if !h.emu.Interrupt(id, time.Hour) {
		t.Fatalf("emulator refused to interrupt %s", id)
	}
	reg := prometheus.NewRegistry()
	h.opts.DryRun, h.opts.Registerer = true, reg
	h.restart()
	for range 6 {
		h.step(10 * time.Second)
	}
	if n := counterOf(t, reg, "spillway_spot_interruptions_total", "p4d"); n != 1 {
		t.Errorf("after 6 dry-run ticks with a notice: spillway_spot_interruptions_total = %v, want 1", n)
	}
	if n := counterOf(t, reg, "spillway_launch_failures_total", "p4d"); n != 1 {
		t.Errorf("after 6 dry-run ticks with a notice on a booting instance: spillway_launch_failures_total = %v, want 1 (reclaimed_booting)", n)
	}
	for range 70 { // past the 10-minute join timeout
		h.step(10 * time.Second)
	}
	if rs := h.rows(true); len(rs) != 1 || rs[0].ID != id || rs[0].State != state.InstanceBooting {
		t.Fatalf("rows %+v: want %s still booting (a dry run ends nothing)", rs, id)
	}
	if n := failuresOf(t, reg, "join_timeout"); n != 1 {
		t.Errorf("after 70 more dry-run ticks, past the join timeout: launch failures (join_timeout) = %v, want 1", n)
	}
	if n := counterOf(t, reg, "spillway_spot_interruptions_total", "p4d"); n != 1 {
		t.Errorf("spillway_spot_interruptions_total = %v, want 1", n)
	}
}

// failuresOf is spillway_launch_failures_total{pool="train",cause=cause}.
func failuresOf(t *testing.T, reg *prometheus.Registry, cause string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "spillway_launch_failures_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "cause" && l.GetValue() == cause {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

// drained is the instances whose drain hook ran.
func drained(h *harness) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.drained)
}

// TestSpendUpToThePeriodsEnd: the ledger holds what each instance cost in
// a budget period up to the period's end, not to the last tick before it,
// also when the server restarted across the end.
func TestSpendUpToThePeriodsEnd(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			p := testPool()
			p.Limits.Budget = &policy.Budget{Amount: 10000, Period: policy.PeriodDay}
			p.Interval = policy.Duration(45 * time.Second)
			h := newHarness(t, p)
			midnight := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			h.clk.SetTime(midnight.Add(-20 * time.Minute))
			h.setDemand(2*time.Minute, 8, 8)
			for h.clk.Now().Add(45 * time.Second).Before(midnight) {
				h.agents.setBusy(8)
				h.step(45 * time.Second)
			}
			if restart {
				h.restart()
			}
			h.agents.setBusy(8)
			h.step(2 * time.Minute)

			prev := midnight.AddDate(0, 0, -1)
			got, err := h.store.Spend(context.Background(), "train", prev)
			if err != nil {
				t.Fatal(err)
			}
			var want float64
			rows := h.rows(false)
			for _, r := range rows {
				o := policy.Offering{GPUs: r.GPUs, PricePerHour: r.PricePerHour, Billing: policy.Billing(r.Billing)}
				end := midnight
				if !r.EndedAt.IsZero() && r.EndedAt.Before(end) {
					end = r.EndedAt
				}
				want += policy.PeriodCost(o, r.LaunchedAt, end, prev)
			}
			if len(rows) == 0 || want <= 0 || math.Abs(got-want) > 1e-6 {
				t.Fatalf("ledger of the day before %s: $%.4f, want $%.4f (%d instances, billed up to midnight)", midnight.Format(time.DateOnly), got, want, len(rows))
			}
		})
	}
}

// TestManualBurstOpenedAheadOfTheClock: a burst opened through a server
// whose clock runs ahead of the leader's (its Start is in the leader's
// future) holds at once, not once the leader's clock catches up.
func TestManualBurstOpenedAheadOfTheClock(t *testing.T) {
	h := newHarness(t, testPool())
	ctx := context.Background()
	ahead := h.clk.Now().Add(5 * time.Minute)
	fl := state.Floor{
		ID: "b-20261130t091500-0bc4c29da535", Pool: "train", Kind: state.FloorManual, Owner: "alice", Reason: "incident",
		GPUs: 8, Start: ahead, Until: ahead.Add(time.Hour), CreatedAt: ahead,
	}
	if err := h.store.CreateFloor(ctx, fl); err != nil {
		t.Fatal(err)
	}
	h.tick()
	if len(h.live()) != 1 || tag(h.live()[0], providers.TagBurst) != fl.ID {
		t.Fatalf("burst opened 5 minutes ahead of the leader's clock: live %+v, want one instance tagged with burst %s at the first tick", h.live(), fl.ID)
	}
	rows := h.rows(true)
	held, err := h.sched.Holders(ctx, rows, h.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || held[rows[0].ID].Burst != fl.ID {
		t.Fatalf("holders %+v of %d rows, want the instance held by burst %s", held, len(rows), fl.ID)
	}
}

// TestDrainHookBoundHoldsTheLongestTimeout: a drain.timeout the config
// takes is one the scheduler's bound on a hook's run lets it use.
func TestDrainHookBoundHoldsTheLongestTimeout(t *testing.T) {
	if config.MaxDrainHookTimeout > scheduler.DefaultCallTimeout {
		t.Fatalf("config takes drain.timeout up to %s, but the scheduler cuts a hook's run at %s", config.MaxDrainHookTimeout, scheduler.DefaultCallTimeout)
	}
}

// TestBudgetHoldsWhenTheTickIsLongerThanTheInterval: a server evaluating
// its pools every 3 minutes holds a hard budget of a pool whose interval
// says 10s: the policy counts on no evaluation before the next tick.
func TestBudgetHoldsWhenTheTickIsLongerThanTheInterval(t *testing.T) {
	p := testPool()
	p.Limits.Budget = &policy.Budget{Amount: 60, Period: policy.PeriodDay}
	p.Interval = policy.Duration(10 * time.Second)
	const tick = 3 * time.Minute
	h := newHarness(t, p, func(h *harness) { h.opts.Tick = tick })
	if got, _ := h.sched.PoolSpec("train"); got.Interval.D() != tick {
		t.Fatalf("the policy's interval is %s, want the tick, %s", got.Interval.D(), tick)
	}
	h.setDemand(2*time.Minute, 8, 8, 8)
	for range 60 { // 3 hours of ticks
		h.agents.setBusy(8)
		h.step(tick)
	}
	billed := h.billedByRows(p.Offerings[0])
	if billed <= 0 || billed > p.Limits.Budget.Amount {
		t.Fatalf("the emulator billed $%.2f of a $%.0f budget: want some spend and never more than the budget", billed, p.Limits.Budget.Amount)
	}
}

// instanceReads counts the instance rows a store hands back to its caller.
type instanceReads struct {
	state.Store
	mu   sync.Mutex
	rows int
}

func (s *instanceReads) Instances(ctx context.Context, f state.InstanceFilter) ([]state.Instance, error) {
	ins, err := s.Store.Instances(ctx, f)
	s.mu.Lock()
	s.rows += len(ins)
	s.mu.Unlock()
	return ins, err
}

// TestSweepReadsOnlyTheRowsThatClaim: the sweeper, every tick, read every
// instance row the state held, ended ones included: a long-lived server
// keeps the retention's worth of them (90 days by default), and at
// 100,000 rows each sweep took 0.7 s and allocated 310 MB. An ended row
// claims its instance only for the sweep grace after its end, so the
// sweep now reads the live rows and those ended within the grace; the
// instance of a row ended within it is still spared until the grace is
// over.
func TestSweepReadsOnlyTheRowsThatClaim(t *testing.T) {
	reads := &instanceReads{}
	h := newHarness(t, testPool(), func(h *harness) {
		h.wrap = func(st state.Store) state.Store { reads.Store = st; return reads }
	})
	ctx := context.Background()
	var old []state.Instance
	for i := range 300 {
		old = append(old, state.Instance{ID: fmt.Sprintf("i-old%04d", i), Provider: provName, Pool: "train", Offering: "p4d", InstanceType: gpuType,
			State: state.InstanceEnded, GPUs: 8, LaunchedAt: t0.Add(-3 * time.Hour), EndedAt: t0.Add(-2 * time.Hour), UpdatedAt: t0.Add(-2 * time.Hour)})
	}
	if err := h.store.PutInstances(ctx, old); err != nil {
		t.Fatal(err)
	}
	ins, err := h.prov.Launch(ctx, providers.LaunchRequest{Offering: testPool().Offerings[0], Count: 1, ClientToken: "ended-late",
		Tags: map[string]string{providers.TagCluster: cluster, providers.TagPool: "train"}})
	if err != nil {
		t.Fatal(err)
	}
	h.clk.Step(20 * time.Minute)
	// Its row ended 5 minutes ago; the cloud still runs it.
	ended := state.Instance{ID: ins[0].ID, Provider: provName, Pool: "train", Offering: "p4d", InstanceType: gpuType,
		State: state.InstanceEnded, GPUs: 8, LaunchedAt: t0, EndedAt: h.clk.Now().Add(-5 * time.Minute), UpdatedAt: h.clk.Now()}
	if err := h.store.PutInstance(ctx, ended); err != nil {
		t.Fatal(err)
	}
	if err := h.sched.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := h.emu.Calls("TerminateInstances"); n != 0 {
		t.Fatalf("the sweep terminated an instance whose row ended within the grace (%d calls)", n)
	}
	if reads.rows != 1 {
		t.Fatalf("the sweep read %d instance rows, want 1 (the one ended within the grace; not the 300 ended long ago)", reads.rows)
	}
	h.clk.Step(6 * time.Minute)
	if err := h.sched.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if live := h.live(); len(live) != 0 {
		t.Fatalf("%d instances still run after their row's sweep grace, want none (leaked)", len(live))
	}
}

// billedByRows is what the emulator's instances of offering o cost, each
// from its launch to the end its row records (now while it runs).
func (h *harness) billedByRows(o policy.Offering) float64 {
	var billed float64
	for _, in := range h.emu.Instances() {
		end := h.clk.Now()
		for _, r := range h.rows(false) {
			if r.ID == in.ID && !r.EndedAt.IsZero() {
				end = r.EndedAt
			}
		}
		billed += policy.BilledCost(o, in.LaunchTime, end)
	}
	return billed
}
