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

// TestRestartKeepsWhatIsHeldOutOfLaunches: a stock-out, a quota block and a
// provider refusing requests as invalid are stored as the server learns
// them; a restarted server (or the next leader) holds them for what is left
// of their time, without a cloud call to learn them again.
func TestRestartKeepsWhatIsHeldOutOfLaunches(t *testing.T) {
	p4d := testPool().Offerings[0].Key()
	for _, tt := range []struct {
		name  string
		setup harnessOption
		kind  string
		held  func(st scheduler.Status) bool
	}{
		{"a stock-out", func(h *harness) {
			h.emu.SetStock(gpuType, "us-east-1a", 0)
			h.emu.SetStock(gpuType, "us-east-1b", 0)
		}, state.UnavailableOffering, func(st scheduler.Status) bool {
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
		}, state.UnavailableInvalid, func(st scheduler.Status) bool {
			return strings.Contains(st.Misconfigured, "refused the request as invalid")
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, testPool(), tt.setup)
			h.setDemand(2*time.Minute, 8)
			h.tick()
			stored, err := h.store.Unavailable(context.Background(), h.clk.Now())
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, u := range stored {
				kinds = append(kinds, u.Kind)
			}
			if len(stored) != 1 || stored[0].Kind != tt.kind {
				t.Fatalf("stored after the failure: %v, want one %s entry", kinds, tt.kind)
			}
			if tt.kind != state.UnavailableOffering && stored[0].Why == "" {
				t.Errorf("the %s entry does not say why", tt.kind)
			}
			if st, _ := h.sched.LastStatus("train"); !reflect.DeepEqual(st.Unavailable, stored) {
				t.Errorf("the status holds %+v, the state %+v: want what was stored", st.Unavailable, stored)
			}
			calls := h.emu.Calls("RunInstances")

			h.restart()
			h.step(10 * time.Second)
			st, _ := h.sched.LastStatus("train")
			if !tt.held(st) {
				t.Fatalf("after a restart: unavailable %v, blocked %v, misconfigured %q: want the %s held",
					st.Snapshot.Unavailable, st.Snapshot.Blocked, st.Misconfigured, tt.kind)
			}
			if n := h.emu.Calls("RunInstances"); n != calls {
				t.Fatalf("RunInstances calls went from %d to %d after the restart: what was held was tried again", calls, n)
			}
		})
	}
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

// TestUnavailableOutlivesAFailedWrite: an entry whose write failed is
// written at a later tick, once; one stored is not written again while
// it holds.
func TestUnavailableOutlivesAFailedWrite(t *testing.T) {
	flaky := &unavailableDown{}
	flaky.down.Store(true)
	h := newHarness(t, testPool(), func(h *harness) {
		h.wrap = func(st state.Store) state.Store { flaky.Store = st; return flaky }
		h.emu.SetStock(gpuType, "us-east-1a", 0)
		h.emu.SetStock(gpuType, "us-east-1b", 0)
	})
	stored := func() []state.Unavailable {
		us, err := h.store.Unavailable(context.Background(), h.clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		return us
	}
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
