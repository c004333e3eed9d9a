package scheduler_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/state"
)

// TestResumePastALoweredMaxGPUsIsNotCalled: a server stopped between an
// intent's write and its call (2× p4d, 16 GPUs, under max_gpus 32), and
// restarted on a config whose max_gpus is 8, resumed the intent as
// written: 16 GPUs launched past the pool's hard limit. An intent whose
// resume would put the pool past its limits is not called: it is finished
// (what an earlier attempt launched is adopted through its intent tag),
// and the policy launches within the limits (old: 2 launched, the next
// tick ended one).
func TestResumePastALoweredMaxGPUsIsNotCalled(t *testing.T) {
	for _, tc := range []struct {
		name   string
		called bool // the earlier process's call launched the two
		want   int  // instances launched in all
	}{
		{"never called", false, 1},
		{"launched before the restart", true, 2}, // a guard: adopted, no more launched
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testPool()
			p.Limits.MaxGPUs = 8
			h := newHarness(t, p)
			ctx := context.Background()
			in := state.Intent{ID: "20261130t085930-0000000000cc", Pool: p.Name, Provider: provName, Offering: "p4d", Count: 2,
				Reason: "overflow", Status: state.IntentPending, ClientToken: "spw-20261130t085930-0000000000cc",
				CreatedAt: h.clk.Now(), UpdatedAt: h.clk.Now()}
			if err := h.store.CreateIntent(ctx, in); err != nil {
				t.Fatal(err)
			}
			if tc.called {
				_, err := h.prov.Launch(ctx, providers.LaunchRequest{Offering: p.Offerings[0], Count: 2, ClientToken: in.ClientToken,
					Tags: map[string]string{providers.TagCluster: cluster, providers.TagPool: p.Name, providers.TagIntent: in.ID}})
				if err != nil {
					t.Fatal(err)
				}
			}
			h.setDemand(2*time.Minute, 8, 8)
			h.tick()
			for range 6 {
				h.step(providers.ConsistencyWindow / 2)
			}
			if n := len(h.emu.Instances()); n != tc.want {
				t.Fatalf("%d p4d instances (8 GPUs each) launched under max_gpus 8, want %d: the intent written under max_gpus 32 resumed past it", n, tc.want)
			}
			if live := h.live(); len(live) != 1 {
				t.Fatalf("%d instances run under max_gpus 8, want 1", len(live))
			}
			ins, err := h.store.Intents(ctx, state.IntentFilter{Status: state.IntentPending})
			if err != nil || len(ins) != 0 {
				t.Fatalf("pending intents %+v, %v; want none", ins, err)
			}
		})
	}
}

// TestPendingIntentOfARemovedOfferingIsCommitted: a server stopped after
// an intent's call (2× p4d-old, launched, the cloud listing them only
// minutes later) and restarted on a config without offering p4d-old
// counted the intent as nothing toward max_gpus 16 until its instances
// were listed and adopted: with 4 jobs of 8 GPUs queued it launched 2
// more p4d, 32 GPUs in all. The intent is counted as an adopted
// instance no offering describes is (dearestOffering): 16 GPUs, no more
// launched.
func TestPendingIntentOfARemovedOfferingIsCommitted(t *testing.T) {
	p := testPool()
	p.Limits.MaxGPUs = 16
	h := newHarness(t, p)
	ctx := context.Background()
	h.emu.SetConsistencyLag(providers.ConsistencyWindow)
	in := state.Intent{ID: "20261130t085930-0000000000dd", Pool: p.Name, Provider: provName, Offering: "p4d-old", Count: 2,
		Reason: "overflow", Status: state.IntentPending, ClientToken: "spw-20261130t085930-0000000000dd",
		CreatedAt: h.clk.Now(), UpdatedAt: h.clk.Now()}
	if err := h.store.CreateIntent(ctx, in); err != nil {
		t.Fatal(err)
	}
	old := p.Offerings[0]
	old.Name = in.Offering
	if _, err := h.prov.Launch(ctx, providers.LaunchRequest{Offering: old, Count: 2, ClientToken: in.ClientToken,
		Tags: map[string]string{providers.TagCluster: cluster, providers.TagPool: p.Name, providers.TagIntent: in.ID}}); err != nil {
		t.Fatal(err)
	}
	h.setDemand(2*time.Minute, 8, 8, 8, 8)
	h.tick()
	for range 3 {
		h.step(providers.ConsistencyWindow / 4)
	}
	if n := len(h.live()); n != 2 {
		t.Fatalf("%d p4d instances (8 GPUs each) run under max_gpus 16, want the pending intent's 2: it counted nothing", n)
	}
	st, _ := h.sched.LastStatus(p.Name)
	var billed float64
	for _, ci := range h.emu.Instances() {
		billed += policy.BilledCost(old, ci.LaunchTime, st.Time)
	}
	if st.Spend.Accrued < billed-1e-9 {
		t.Fatalf("the pool's spend $%.2f, while the cloud had billed $%.2f for the intent's instances", st.Spend.Accrued, billed)
	}
}

// TestTwoResumedIntentsStayWithinMaxGPUs: two intents written before a
// restart (2× p4d and 2× p5, 16 GPUs each) under a max_gpus lowered to
// 24: the first's resume reached the cloud and its answer was lost (cut
// off at its 1-minute call timeout, the cloud listing fresh instances 2
// minutes late), and the second's resume at the next tick counted the
// live rows and itself only, not the first still pending: both ran, 32
// GPUs, until the policy ended the excess. Each resume counts every
// intent still pending, as the policy does: the first is checked against
// both and not called, the second is.
func TestTwoResumedIntentsStayWithinMaxGPUs(t *testing.T) {
	p := testPool()
	p.Limits.MaxGPUs = 24
	h := newHarness(t, p, func(h *harness) {
		h.opts.Tick = 30 * time.Second
		h.opts.CallTimeouts = map[string]time.Duration{provName: time.Minute}
		h.prov = lateAnswer{Provider: h.prov, h: h, took: map[string]time.Duration{gpuType: 2 * time.Minute}}
	})
	h.emu.SetConsistencyLag(providers.ConsistencyWindow)
	ctx := context.Background()
	for i, off := range []string{"p4d", "p5"} {
		id := fmt.Sprintf("20261130t08593%d-0000000000e%d", i, i)
		in := state.Intent{ID: id, Pool: p.Name, Provider: provName, Offering: off, Count: 2, Reason: "overflow",
			Status: state.IntentPending, ClientToken: "spw-" + id, CreatedAt: h.clk.Now().Add(time.Duration(i) * time.Second), UpdatedAt: h.clk.Now()}
		if err := h.store.CreateIntent(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	h.setDemand(2*time.Minute, 8, 8, 8, 8)
	h.tick()
	most := 0
	for range 20 { // 10 minutes: past the lag, the first intent adopted or ended
		h.step(30 * time.Second)
		most = max(most, len(h.live()))
	}
	if most > 3 {
		t.Fatalf("%d instances of 8 GPUs ran at once under max_gpus 24: the two resumed intents together passed it", most)
	}
}
