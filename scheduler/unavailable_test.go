package scheduler_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/scheduler"
	"github.com/spillway-io/spillway/state"
)

// TestRestartKeepsWhatIsHeldOutOfLaunches: a stock-out and a quota block
// are stored as the server learns them; a restarted server (or the next
// leader) holds them for what is left of their time, without a cloud call
// to learn them again. A provider's back-off after a request refused as
// invalid is not stored: a restart is how a fixed config is applied, so
// the restarted server tries the provider again.
func TestRestartKeepsWhatIsHeldOutOfLaunches(t *testing.T) {
	p4d := testPool().Offerings[0].Key()
	for _, tt := range []struct {
		name  string
		setup harnessOption
		kind  string
		held  func(st scheduler.Status) bool
	}{
		{"a stock-out", stockedOut, state.UnavailableOffering, func(st scheduler.Status) bool {
			_, held := st.Snapshot.Unavailable[p4d]
			return held && st.Snapshot.UnavailableWhy[p4d] == ""
		}},
		{"a quota error", func(h *harness) {
			h.emu.SetVCPUQuota(emulator.APIEC2, "us-east-1", 0)
		}, state.UnavailableQuota, func(st scheduler.Status) bool {
			_, held := st.Snapshot.Blocked[providers.BlockKey(provName, "us-east-1")]
			return held
		}},
		{"a request refused as invalid", func(h *harness) {
			huge := strings.Repeat("#", 20_000) // over EC2's 16 KiB of user data
			h.userData = func(config.InstanceFields) (string, error) { return huge, nil }
		}, "", func(st scheduler.Status) bool {
			return true // tried again (below), and refused again: the config is as it was
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, testPool(), tt.setup)
			h.setDemand(2*time.Minute, 8)
			h.tick()
			stored := h.storedUnavailable()
			var kinds []string
			for _, u := range stored {
				kinds = append(kinds, u.Kind)
			}
			st, _ := h.sched.LastStatus("train")
			switch {
			case tt.kind == "":
				if len(stored) != 0 || len(st.Unavailable) != 1 || st.Unavailable[0].Kind != state.UnavailableInvalid {
					t.Fatalf("stored %v, shown %+v: want the provider's back-off shown and not stored", kinds, st.Unavailable)
				}
			case len(stored) != 1 || stored[0].Kind != tt.kind:
				t.Fatalf("stored after the failure: %v, want one %s entry", kinds, tt.kind)
			case tt.kind == state.UnavailableQuota && !strings.Contains(stored[0].Why, "quota exceeded"):
				t.Errorf("the quota entry says %q, want the cloud's error", stored[0].Why)
			case !reflect.DeepEqual(st.Unavailable, stored):
				t.Errorf("the status holds %+v, the state %+v: want what was stored", st.Unavailable, stored)
			}
			calls := h.emu.Calls("RunInstances")

			h.restart()
			h.step(10 * time.Second)
			st, _ = h.sched.LastStatus("train")
			if !tt.held(st) {
				t.Fatalf("after a restart: unavailable %v, blocked %v, misconfigured %q", st.Snapshot.Unavailable, st.Snapshot.Blocked, st.Misconfigured)
			}
			tried := h.emu.Calls("RunInstances") != calls
			if want := tt.kind == ""; tried != want {
				t.Fatalf("RunInstances calls went from %d to %d after the restart: tried again %v, want %v", calls, h.emu.Calls("RunInstances"), tried, want)
			}
		})
	}
}

// stockedOut has both zones out of gpuType.
func stockedOut(h *harness) {
	h.emu.SetStock(gpuType, "us-east-1a", 0)
	h.emu.SetStock(gpuType, "us-east-1b", 0)
}

// storedUnavailable is what the state holds out of launches now.
func (h *harness) storedUnavailable() []state.Unavailable {
	h.t.Helper()
	us, err := h.store.Unavailable(context.Background(), h.clk.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	return us
}

// unavailableDown fails PutUnavailable while down is set, as a database
// briefly unavailable would; everything else reaches the state.
type unavailableDown struct {
	state.Store
	down  atomic.Bool
	calls atomic.Int32
}

func (u *unavailableDown) PutUnavailable(ctx context.Context, e state.Unavailable) error {
	u.calls.Add(1)
	if u.down.Load() {
		return errors.New("database is locked")
	}
	return u.Store.PutUnavailable(ctx, e)
}

func (u *unavailableDown) DeleteUnavailable(ctx context.Context, e state.Unavailable) error {
	if u.down.Load() {
		return errors.New("database is locked")
	}
	return u.Store.DeleteUnavailable(ctx, e)
}

// TestUnavailableOutlivesAFailedWrite: an entry whose write failed is
// written at a later tick, once; one stored is not written again while
// it holds.
func TestUnavailableOutlivesAFailedWrite(t *testing.T) {
	flaky := &unavailableDown{}
	flaky.down.Store(true)
	h := newHarness(t, testPool(), stockedOut, func(h *harness) {
		h.wrap = func(st state.Store) state.Store { flaky.Store = st; return flaky }
	})
	stored := h.storedUnavailable
	h.setDemand(2*time.Minute, 8)
	h.tick()
	if us := stored(); len(us) != 0 {
		t.Fatalf("stored %+v while the writes fail", us)
	}
	flaky.down.Store(false)
	h.step(10 * time.Second)
	us := stored()
	if len(us) != 1 || us[0].InstanceType != gpuType || us[0].Kind != state.UnavailableOffering {
		t.Fatalf("stored %+v once the writes succeed, want the stock-out of %s", us, gpuType)
	}
	writes := flaky.calls.Load()
	h.step(10 * time.Second)
	h.step(10 * time.Second)
	if n := flaky.calls.Load(); n != writes {
		t.Fatalf("PutUnavailable called %d more times for an entry already stored", n-writes)
	}
}

// TestUnavailableClearedWhenTheOfferingLaunches: an offering whose launch
// succeeds again before its entry lapses (a resumed intent) is deleted
// from the state too, so that a restart or a follower does not hold it; a
// failed delete is tried again at the next tick.
func TestUnavailableClearedWhenTheOfferingLaunches(t *testing.T) {
	var cache *providers.CapacityCache
	flaky := &unavailableDown{}
	h := newHarness(t, testPool(), stockedOut, func(h *harness) {
		h.wrap = func(st state.Store) state.Store { flaky.Store = st; return flaky }
		cache = providers.NewCapacityCache(providers.WithCacheClock(h.clk.Now))
		h.capacity = cache
	})
	stored := h.storedUnavailable
	h.setDemand(2*time.Minute, 8)
	h.tick()
	if us := stored(); len(us) != 1 || us[0].InstanceType != gpuType {
		t.Fatalf("stored %+v, want the stock-out of %s", us, gpuType)
	}
	cache.Record(nil, testPool().Offerings[0].Key()) // as a resumed launch of it that succeeds does
	flaky.down.Store(true)
	h.step(10 * time.Second)
	if us := stored(); len(us) != 1 {
		t.Fatalf("stored %+v while deletes fail, want the entry kept for now", us)
	}
	flaky.down.Store(false)
	h.step(10 * time.Second)
	if us := stored(); len(us) != 0 {
		t.Fatalf("stored %+v after the offering launched again, want nothing", us)
	}
}
