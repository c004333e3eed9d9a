package scheduler_test

import (
	"context"
	"testing"
	"time"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/state"
)

// TestCloudLaunchTimeOutsideTheLaunchIsBounded: a cloud that answers a
// launch, and lists its instance, with a launch time years before the
// launch (a wrong clock, a reused id) had its row launched then: at the
// next tick the ledger billed the instance for the whole budget period so
// far and the one before, the budget spent by an instance minutes old.
// An instance is launched no earlier than its intent was written and no
// later than when it was recorded.
//
// Run on EC2 and ECS, each through its real SDK on the emulator.
func TestCloudLaunchTimeOutsideTheLaunchIsBounded(t *testing.T) {
	for _, c := range lagClouds {
		for _, tc := range []struct {
			name string
			by   time.Duration
		}{
			{"years before", -3 * 365 * 24 * time.Hour},
			{"an hour ahead", time.Hour},
		} {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				rig := newLagRig(t, c, 0)
				h := rig.harness
				rig.wrapProvider(func(p providers.Provider) providers.Provider { return launchTimeSkewed{p, tc.by} })
				h.restart()
				h.setDemand(2*time.Minute, 8)
				asked := h.clk.Now()
				h.tick()
				for range 4 {
					h.step(30 * time.Second)
				}
				rs := h.rows(true)
				if len(rs) != 1 || rs[0].State != state.InstanceRunning {
					t.Fatalf("live rows %+v, want the one launched, running (all rows: %+v)", rs, h.rows(false))
				}
				r, now := rs[0], h.clk.Now()
				if r.LaunchedAt.Before(asked) || r.LaunchedAt.After(now) {
					t.Errorf("instance %s launched at %s by its row; it was asked for at %s and it is %s", r.ID, r.LaunchedAt.Format(time.DateTime), asked.Format(time.DateTime), now.Format(time.DateTime))
				}
				billed := billedSince(t, h, now.Add(-4*365*24*time.Hour))
				if want := rig.spendOf(map[string]bool{r.ID: true}); billed > want+0.01 || billed < want-0.01 {
					t.Errorf("instance %s, %s old, billed $%.2f in the ledger, want $%.2f", r.ID, now.Sub(asked), billed, want)
				}
			})
		}
	}
}

// billedSince sums what the ledger holds for the pool (one instance here)
// in every budget period from the one holding since to now's.
func billedSince(t *testing.T, h *harness, since time.Time) float64 {
	t.Helper()
	var sum float64
	for start, _ := h.pool.BudgetPeriod(since); !start.After(h.clk.Now()); {
		usd, err := h.store.Spend(context.Background(), h.pool.Name, start)
		if err != nil {
			t.Fatal(err)
		}
		sum += usd
		_, start = h.pool.BudgetPeriod(start)
	}
	return sum
}

// launchTimeSkewed is a provider whose answers give each instance's launch
// time moved by by.
type launchTimeSkewed struct {
	providers.Provider
	by time.Duration
}

func (p launchTimeSkewed) skew(out []providers.Instance, err error) ([]providers.Instance, error) {
	for i := range out {
		if !out[i].LaunchTime.IsZero() {
			out[i].LaunchTime = out[i].LaunchTime.Add(p.by)
		}
	}
	return out, err
}

func (p launchTimeSkewed) Launch(ctx context.Context, req providers.LaunchRequest) ([]providers.Instance, error) {
	return p.skew(p.Provider.Launch(ctx, req))
}

func (p launchTimeSkewed) List(ctx context.Context, f providers.ListFilter) ([]providers.Instance, error) {
	return p.skew(p.Provider.List(ctx, f))
}

func (p launchTimeSkewed) Describe(ctx context.Context, ids []string) ([]providers.Instance, error) {
	return p.skew(p.Provider.Describe(ctx, ids))
}

// TestStrangerWithALaunchTimeAheadIsSwept: an instance of the cluster that
// no row or intent claims, which the cloud lists with a launch time a
// year ahead (a wrong clock), was never old enough for the sweep grace:
// it ran and billed, counted nowhere, for the year. Such a stranger is
// swept the sweep grace after the sweeper first listed it.
//
// Run on EC2 and ECS, each through its real SDK on the emulator.
func TestStrangerWithALaunchTimeAheadIsSwept(t *testing.T) {
	for _, c := range lagClouds {
		t.Run(c.name, func(t *testing.T) {
			rig, id := strangerAhead(t, c)
			sweepEvery(t, rig.harness, 5*time.Minute, 4, false)
			wantStrangerSwept(t, rig, id, "15 minutes after the sweeper first listed it")
		})
	}
}

// TestStrangerWithALaunchTimeAheadIsSweptInACrashLoop: the sweeper held
// when it first listed a stranger without a usable launch time in memory
// only, so a server restarting more often than the sweep grace (a crash
// loop, or leaders failing over) took each start's first sweep for the
// first sighting, and never swept it: on EC2, still running after 4
// restarts 5 minutes apart. The first sighting is stored, and the
// stranger is swept the grace after it, whichever server sees it then.
//
// Run on EC2 and ECS, each through its real SDK on the emulator.
func TestStrangerWithALaunchTimeAheadIsSweptInACrashLoop(t *testing.T) {
	for _, c := range lagClouds {
		t.Run(c.name, func(t *testing.T) {
			rig, id := strangerAhead(t, c)
			sweepEvery(t, rig.harness, 5*time.Minute, 4, true)
			wantStrangerSwept(t, rig, id, "15 minutes after the sweeper first listed it, the server restarted every 5 minutes")
			if err := rig.harness.sched.Sweep(context.Background()); err != nil {
				t.Fatal(err)
			}
			gs, err := rig.harness.store.Sightings(context.Background(), c.provider)
			if err != nil || len(gs) != 0 {
				t.Errorf("sightings stored once the stranger is swept and no longer listed: %+v, %v; want none", gs, err)
			}
		})
	}
}

// strangerAhead starts a harness on c whose cloud gives every launch time
// a year ahead, and launches an instance of the cluster no row or intent
// claims; it returns the rig and that stranger's id.
func strangerAhead(t *testing.T, c lagCloud) (*lagRig, string) {
	t.Helper()
	rig := newLagRig(t, c, 0)
	h := rig.harness
	rig.wrapProvider(func(p providers.Provider) providers.Provider { return launchTimeSkewed{p, 365 * 24 * time.Hour} })
	h.restart()
	stray, err := h.providers()[c.provider].Launch(context.Background(), providers.LaunchRequest{Offering: c.pool().Offerings[0], Count: 1, ClientToken: "stray-ahead",
		Tags: map[string]string{providers.TagCluster: cluster, providers.TagPool: c.pool().Name}})
	if err != nil || len(stray) != 1 {
		t.Fatalf("launching a stranger: %v, %d instances", err, len(stray))
	}
	return rig, stray[0].ID
}

// sweepEvery sweeps n times, every, the server restarted before each
// sweep if restart.
func sweepEvery(t *testing.T, h *harness, every time.Duration, n int, restart bool) {
	t.Helper()
	for i := range n {
		if i > 0 {
			h.clk.Step(every)
		}
		if restart {
			h.restart()
		}
		if err := h.sched.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// wantStrangerSwept fails t unless the cloud has instance id ended.
func wantStrangerSwept(t *testing.T, rig *lagRig, id, when string) {
	t.Helper()
	for _, in := range rig.launched() {
		if in.ID == id && (in.State == "running" || in.State == "pending") {
			t.Fatalf("stranger %s, listed launched a year ahead, is %s %s; want it swept after the 10-minute grace", in.ID, in.State, when)
		}
	}
}

// TestAdoptedInstanceListedLaunchedAheadIsBilled: an instance adopted
// from the cloud's listing (its launch's answer lost), which the cloud
// lists with a launch time an hour ahead, had its row launched then: the
// ledger billed nothing for it until that hour had passed, and the
// budget counted none of its run. Its row is launched when it was
// recorded at the latest.
//
// Run on EC2 and ECS, each through its real SDK on the emulator.
func TestAdoptedInstanceListedLaunchedAheadIsBilled(t *testing.T) {
	for _, c := range lagClouds {
		t.Run(c.name, func(t *testing.T) {
			rig := newLagRigWith(t, c, 0, func(h *harness) {
				h.opts.Tick = 30 * time.Second
				h.opts.CallTimeouts = map[string]time.Duration{c.provider: 10 * time.Minute}
			})
			h := rig.harness
			rig.wrapProvider(func(p providers.Provider) providers.Provider {
				return &firstAnswerLost{Provider: launchTimeSkewed{p, time.Hour}, h: h, took: 11 * time.Minute}
			})
			h.restart()
			h.setDemand(2*time.Minute, 8)
			h.tick()
			h.until("the instance adopted", 30*time.Second, 4, func() bool { return len(h.rows(true)) == 1 })
			adopted := h.clk.Now()
			for range 4 {
				h.step(30 * time.Second)
			}
			r := h.rows(true)[0]
			if r.LaunchedAt.After(adopted) {
				t.Errorf("instance %s adopted at %s has its row launched at %s", r.ID, adopted.Format(time.TimeOnly), r.LaunchedAt.Format(time.TimeOnly))
			}
			if billed := billedSince(t, h, r.LaunchedAt); billed < 2*time.Minute.Hours()*r.PricePerHour {
				t.Errorf("instance %s, adopted %s ago, billed $%.2f in the ledger, want at least its 2 minutes since ($%.2f)", r.ID, h.clk.Now().Sub(adopted), billed, 2*time.Minute.Hours()*r.PricePerHour)
			}
		})
	}
}
