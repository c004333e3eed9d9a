package scheduler_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/providers/alicloud"
	"github.com/spillway-io/spillway/scheduler"
	"github.com/spillway-io/spillway/state"
)

// lagCloud is one cloud the eventual-consistency tests run on: the real
// SDK's provider against the emulator, with two subnets (vSwitches) the
// pool's offering may use, in order.
type lagCloud struct {
	name     string
	provider string // the provider's name in the pool's offering
	pool     func() policy.Pool
	zones    [2]string
	instType string
	handler  func(*emulator.Emulator) http.Handler
	// inSecond reports whether r is a RunInstances call into the second
	// subnet; lostAnswer writes the error that replaces its answer.
	inSecond   func(r *http.Request) bool
	lostAnswer func(w http.ResponseWriter)
	// terminate is the API action that ends instances.
	terminate string
	// newProvider is a fresh provider (a new process's) at url.
	newProvider func(h *harness, url string) providers.Provider
}

var lagClouds = []lagCloud{
	{
		name: "EC2", provider: provName, pool: testPool, zones: [2]string{"us-east-1a", "us-east-1b"}, instType: gpuType,
		handler: (*emulator.Emulator).EC2Handler,
		inSecond: func(r *http.Request) bool {
			return r.Form.Get("Action") == "RunInstances" && r.Form.Get("SubnetId") == "subnet-us-east-1b"
		},
		lostAnswer: func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>ServiceUnavailable</Code><Message>the answer was lost</Message></Error></Errors><RequestID>lost</RequestID></Response>`)
		},
		terminate:   "TerminateInstances",
		newProvider: func(h *harness, url string) providers.Provider { return h.newProviderAt(provName, url) },
	},
	{
		name: "ECS", provider: "alicloud", pool: ecsPool, zones: [2]string{"cn-hangzhou-h", "cn-hangzhou-i"}, instType: ecsType,
		handler: (*emulator.Emulator).ECSHandler,
		inSecond: func(r *http.Request) bool {
			return r.Form.Get("Action") == "RunInstances" && r.Form.Get("VSwitchId") == "vsw-cn-hangzhou-i"
		},
		lostAnswer: func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"RequestId":"lost","HostId":"ecs.aliyuncs.com","Code":"ServiceUnavailable","Message":"the answer was lost"}`)
		},
		terminate: "DeleteInstances",
		newProvider: func(h *harness, url string) providers.Provider {
			cfg := config.ProviderConfig{
				Type: config.ProviderAlicloud, Region: "cn-hangzhou", Endpoint: url, Image: "m-spillway-gpu", SecurityGroups: []string{"sg-spillway"},
				Subnets: []config.Subnet{{Zone: "cn-hangzhou-h", ID: "vsw-cn-hangzhou-h"}, {Zone: "cn-hangzhou-i", ID: "vsw-cn-hangzhou-i"}},
			}
			p, err := alicloud.New(context.Background(), cfg, "alicloud", alicloud.WithStaticCredentials("emulator-key", "emulator-secret"),
				alicloud.WithRetries(3, time.Millisecond, harnessBackoff),
				// ECS's pacing made a thousand times faster, as
				// harnessBuckets does EC2's: at 20 DescribeInstances a
				// second, the ticks of a test waited seconds of wall time
				// for tokens.
				alicloud.WithRateLimit(alicloud.ActionRunInstances, 10_000, 10_000),
				alicloud.WithRateLimit(alicloud.ActionDescribeInstances, 20_000, 20_000),
				alicloud.WithRateLimit(alicloud.ActionDeleteInstances, 10_000, 10_000))
			if err != nil {
				h.t.Fatalf("alicloud.New: %v", err)
			}
			h.t.Cleanup(func() { _ = p.Close() })
			return p
		},
	},
}

const ecsType = "ecs.gn7i-c8g1.2xlarge"

// ecsPool is testPool bursting to one ECS offering (8 GPUs claimed, so
// that the same demand asks for the same count as on EC2).
func ecsPool() policy.Pool {
	p := testPool()
	p.Offerings = []policy.Offering{{Name: "gn7i", Provider: "alicloud", Region: "cn-hangzhou", InstanceType: ecsType, GPUs: 8, PricePerHour: 32.77,
		Boot: policy.Duration(bootTime), Market: policy.MarketOnDemand, Performance: 1, Billing: policy.BillingPerSecondMin60}}
	return p
}

// lagRig is a harness on one lagCloud's emulator, behind a proxy that can
// lose the answers of launches into the second subnet.
type lagRig struct {
	*harness
	c    lagCloud
	url  string // the proxy's
	lose atomic.Bool
	// loseEnds loses the answers of terminate calls (executed); ends
	// counts the terminate calls the proxy passed.
	loseEnds atomic.Bool
	ends     atomic.Int32
	// refuseEnds answers terminate calls with the lost answer's error
	// without passing them on: the cloud did not act.
	refuseEnds atomic.Bool
}

func newLagRig(t *testing.T, c lagCloud, lag time.Duration) *lagRig {
	return newLagRigWith(t, c, lag)
}

// newLagRigWith is newLagRig with more harness options, applied first.
func newLagRigWith(t *testing.T, c lagCloud, lag time.Duration, hopts ...harnessOption) *lagRig {
	rig := &lagRig{c: c}
	rig.harness = newHarness(t, c.pool(), func(h *harness) {
		for _, o := range hopts {
			o(h)
		}
		h.emu.SetConsistencyLag(lag)
		next := c.handler(h.emu)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			err := r.ParseForm()
			if err == nil && r.Form.Get("Action") == c.terminate {
				rig.ends.Add(1)
				if rig.refuseEnds.Load() {
					c.lostAnswer(w)
					return
				}
				if rig.loseEnds.Load() {
					next.ServeHTTP(httptest.NewRecorder(), r) // executed, its answer lost
					c.lostAnswer(w)
					return
				}
			}
			if err == nil && rig.lose.Load() && c.inSecond(r) {
				next.ServeHTTP(httptest.NewRecorder(), r) // executed, its answer lost
				c.lostAnswer(w)
				return
			}
			next.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		rig.url = srv.URL
		rig.useFreshProvider(h)
	})
	return rig
}

// useFreshProvider gives h a new provider, with no memory of earlier
// calls (a new process's).
func (rig *lagRig) useFreshProvider(h *harness) {
	p := rig.c.newProvider(h, rig.url)
	if rig.c.provider == provName {
		h.prov = p
		return
	}
	h.withoutMain = true
	h.moreProviders = map[string]providers.Provider{rig.c.provider: p}
}

// launched is every instance of the test's cluster the cloud created, in
// any state.
func (rig *lagRig) launched() []emulator.Instance {
	var out []emulator.Instance
	for _, in := range rig.emu.Instances() {
		if tag(in, providers.TagCluster) == cluster {
			out = append(out, in)
		}
	}
	return out
}

// spendOf is what the rows of ids cost until now (their billing minimum
// of a minute included), from the state's rows.
func (rig *lagRig) spendOf(ids map[string]bool) float64 {
	var usd float64
	now := rig.clk.Now()
	for _, r := range rig.rows(false) {
		if !ids[r.ID] {
			continue
		}
		end := now
		if !r.EndedAt.IsZero() {
			end = r.EndedAt
		}
		usd += max(end.Sub(r.LaunchedAt), time.Minute).Hours() * r.PricePerHour
	}
	return usd
}

// A launch whose first subnet was out of stock went to the second one,
// which created its instances and lost the answer; the server restarts
// (its provider's memory of where the call went is gone) while the cloud
// does not list the new instances yet, and the first subnet has stock
// again. The restarted server resumes the pending intent: it must not
// launch the intent's count a second time in the first subnet.
func TestRestartDuringConsistencyLagLaunchesOnce(t *testing.T) {
	const lag = 90 * time.Second // within providers.ConsistencyWindow
	for _, c := range lagClouds {
		t.Run(c.name, func(t *testing.T) {
			rig := newLagRig(t, c, lag)
			rig.emu.SetStock(c.instType, c.zones[0], 0)
			rig.lose.Store(true)
			rig.setDemand(5*time.Minute, 8, 8)
			rig.tick()
			first := map[string]bool{}
			for _, in := range rig.launched() {
				first[in.ID] = true
			}
			if len(first) != 2 {
				t.Fatalf("the first launch created %d instances, want 2 (in %s)", len(first), c.zones[1])
			}
			pending, err := rig.store.Intents(context.Background(), state.IntentFilter{Status: state.IntentPending})
			if err != nil || len(pending) != 1 || pending[0].Count != 2 {
				t.Fatalf("after the lost answer, pending intents %v (%v); want one of 2", pending, err)
			}

			// The server restarts; the answers come through again and the
			// first subnet has stock. The jobs found room on-prem: only
			// the intent wants instances now.
			rig.lose.Store(false)
			rig.setDemand(0)
			rig.emu.SetStock(c.instType, c.zones[0], -1)
			rig.useFreshProvider(rig.harness)
			rig.restart()
			maxLive := 0
			for range 60 { // ten minutes of ticks
				rig.step(10 * time.Second)
				maxLive = max(maxLive, len(rig.live()))
			}

			all := rig.launched()
			extra := map[string]bool{}
			for _, in := range all {
				if !first[in.ID] {
					extra[in.ID] = true
				}
			}
			t.Logf("%s: %d instances launched for an intent of 2 (at most %d live at once); the extra ones cost $%.2f in the 10 minutes after the restart",
				c.name, len(all), maxLive, rig.spendOf(extra))
			if len(extra) > 0 {
				t.Errorf("the restarted server launched %d more instances for the intent of 2 (%d in all)", len(extra), len(all))
			}
			intents, err := rig.store.Intents(context.Background(), state.IntentFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(intents) != 1 || intents[0].Status != state.IntentDone || len(intents[0].InstanceIDs) != 2 {
				t.Errorf("intents after the restart: %+v; want the one intent done with its 2 instances", intents)
			}
			for _, id := range intents[0].InstanceIDs {
				if !first[id] {
					t.Errorf("the intent ended with %s, not one of its first attempt's instances", id)
				}
			}
			if maxLive > 2 {
				t.Errorf("%d instances ran at once for an intent of 2", maxLive)
			}
		})
	}
}

// The scheduler allows a cloud up to providers.ConsistencyWindow to list a
// fresh instance before it counts the instance as vanished (and plans its
// replacement). A cloud that lists within it gets the instances it was
// asked for and no more, on both clouds, while the jobs waiting for them
// start once they boot. (Measured beyond it, with a lag of 3 minutes: the
// rows end as vanished at 2 minutes, and the instances, listed at 3, are
// terminated as ones Spillway ended; docs/server.md.)
func TestLagWithinListGraceLaunchesOnce(t *testing.T) {
	for _, c := range lagClouds {
		for _, lag := range []time.Duration{0, 30 * time.Second, providers.ConsistencyWindow - 10*time.Second} {
			t.Run(fmt.Sprintf("%s/lag=%s", c.name, lag), func(t *testing.T) {
				rig := newLagRig(t, c, lag)
				rig.setDemand(5*time.Minute, 8, 8)
				rig.tick()
				maxLive := 0
				for range 60 { // ten minutes
					rig.clk.Step(10 * time.Second)
					rig.serveAgents()
					if booted := rig.booted(); booted >= 2 { // the jobs start on them
						rig.agents.setBusy(8)
						rig.setDemand(0)
					}
					rig.tick()
					maxLive = max(maxLive, len(rig.live()))
				}
				all := rig.launched()
				var vanished []string
				for _, r := range rig.rows(false) {
					if strings.HasPrefix(r.EndReason, "vanished") {
						vanished = append(vanished, r.ID)
					}
				}
				if len(all) != 2 || maxLive != 2 || len(vanished) > 0 || len(rig.rows(true)) != 2 {
					t.Errorf("lag %s: %d instances launched for 2 wanted (%d live at most), rows of %v ended as vanished, %d live rows; want 2, 2, none, 2",
						lag, len(all), maxLive, vanished, len(rig.rows(true)))
				}
			})
		}
	}
}

// booted is how many of the cluster's instances the cloud runs.
func (rig *lagRig) booted() int {
	n := 0
	for _, in := range rig.launched() {
		if in.State == "running" {
			n++
		}
	}
	return n
}

// A cloud that lists a fresh instance later than providers.ConsistencyWindow
// after its launch makes the scheduler take it for vanished (it cannot wait
// for ever: an instance that never appears would be counted as capacity
// for ever). When the cloud lists it at last, running the jobs that
// started on it, it is tracked again, not terminated without a drain as an
// instance whose row Spillway ended.
func TestInstanceListedAfterListGraceIsTrackedAgain(t *testing.T) {
	const lag = 3 * time.Minute
	for _, c := range lagClouds {
		t.Run(c.name, func(t *testing.T) {
			rig := newLagRig(t, c, lag)
			rig.setDemand(5*time.Minute, 8, 8)
			rig.tick()
			first := rig.launched()
			if len(first) != 2 {
				t.Fatalf("the launch created %d instances, want 2", len(first))
			}
			var killed []string
			for range 60 { // ten minutes
				rig.clk.Step(10 * time.Second)
				rig.serveAgents()
				if rig.booted() >= 2 { // the jobs start on them
					rig.agents.setBusy(8)
					rig.setDemand(0)
				}
				rig.tick()
				for _, in := range rig.launched() {
					if in.State != "pending" && in.State != "running" && !slices.Contains(killed, in.ID) {
						killed = append(killed, in.ID)
					}
				}
			}
			if len(killed) > 0 {
				t.Errorf("instances %v, busy with the jobs that started on them, were terminated (the cloud listed them %s after launch)", killed, lag)
			}
			live := rig.rows(true)
			if all := rig.launched(); len(all) != 2 || len(live) != 2 {
				t.Errorf("%d instances launched, %d live rows; want the first 2, tracked", len(all), len(live))
			}
			for _, r := range live {
				if r.State != state.InstanceRunning || r.EndReason != "" {
					t.Errorf("row %s is %s (%q), want running", r.ID, r.State, r.EndReason)
				}
			}
		})
	}
}

// Server A writes a launch intent and loses the lease before calling the
// cloud; server B leads, resumes the intent (the first subnet out of
// stock, the second launches, its answer lost) and dies. A leads again
// within the cloud's lag, the first subnet stocked again. A wrote the
// intent but never learnt where B's call went: it must hold the intent
// until what B launched is listed, as it would one it had never seen.
func TestLeaderBackAfterAnotherLaunchesOnce(t *testing.T) {
	const lag = 90 * time.Second
	for _, c := range lagClouds {
		t.Run(c.name, func(t *testing.T) {
			leadA := &fakeLeader{epoch: 1, ok: true, budget: 1} // the tick's own check passes, the launch's does not
			rig := newLagRig(t, c, lag)
			rig.opts.Leader = leadA
			rig.restart()
			rig.emu.SetStock(c.instType, c.zones[0], 0)
			rig.setDemand(5*time.Minute, 8, 8)
			rig.tick()
			if n := len(rig.launched()); n != 0 {
				t.Fatalf("server A launched %d instances after losing the lease, want none", n)
			}

			leadA.set(0, false, -1)
			leadB := &fakeLeader{epoch: 2, ok: true, budget: -1}
			optsB := rig.opts
			optsB.Leader = leadB
			optsB.Registerer = nil
			provB := c.newProvider(rig.harness, rig.url)
			optsB.Providers = map[string]providers.Provider{c.provider: provB}
			b, err := scheduler.New(optsB)
			if err != nil {
				t.Fatal(err)
			}
			rig.setDemand(0)
			rig.lose.Store(true)
			for range 13 { // B holds what it found, then calls
				rig.clk.Step(10 * time.Second)
				if err := b.Tick(context.Background(), rig.pool.Name); err != nil {
					t.Fatalf("server B's tick: %v", err)
				}
				if len(rig.launched()) > 0 {
					break
				}
			}
			first := map[string]bool{}
			for _, in := range rig.launched() {
				first[in.ID] = true
			}
			if len(first) != 2 {
				t.Fatalf("server B's resume created %d instances, want 2 (in %s)", len(first), c.zones[1])
			}

			// B dies; A leads again at epoch 3.
			leadB.set(0, false, -1)
			rig.lose.Store(false)
			rig.emu.SetStock(c.instType, c.zones[0], -1)
			leadA.set(3, true, -1)
			for range 30 {
				rig.step(10 * time.Second)
			}
			all := rig.launched()
			if len(all) != 2 {
				t.Errorf("%d instances for the intent of 2 once server A led again, want B's 2", len(all))
			}
			for _, in := range all {
				if !first[in.ID] {
					t.Errorf("server A launched %s in %s", in.ID, in.Zone)
				}
			}
		})
	}
}
