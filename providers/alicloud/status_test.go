package alicloud

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/providers"
)

// warnings counts the warning records a provider logs, by message.
type warnings struct {
	mu sync.Mutex
	n  map[string]int
}

func (w *warnings) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		w.mu.Lock()
		w.n[r.Message]++
		w.mu.Unlock()
	}
	return nil
}
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnings) WithGroup(string) slog.Handler      { return w }

func (w *warnings) total() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, c := range w.n {
		n += c
	}
	return n
}

// TestUnknownStatusIsNeitherCapacityNorGone: ECS documents the statuses
// Pending, Starting, Running, Stopping and Stopped; one it adds later
// (here "Upgrading", rewritten into the emulator's answers) was taken for
// Pending, booting capacity the scheduler waits for. It is StateUnknown
// now: the instance exists and bills, and it is not capacity; the status
// is logged once, however many listings show it.
func TestUnknownStatusIsNeitherCapacityNorGone(t *testing.T) {
	ctx := context.Background()
	e := emulator.New(emulator.Options{})
	var rewrite atomic.Bool
	ecsHandler := e.ECSHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !rewrite.Load() {
			ecsHandler.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		ecsHandler.ServeHTTP(rec, r)
		body := bytes.ReplaceAll(rec.Body.Bytes(), []byte(`"Status":"Running"`), []byte(`"Status":"Upgrading"`))
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = io.Copy(w, bytes.NewReader(body))
	}))
	t.Cleanup(srv.Close)
	logged := &warnings{n: map[string]int{}}
	p := newEmulatorProvider(t, srv.URL, WithLogger(slog.New(logged)))
	insts, err := p.Launch(ctx, emuLaunchReq("unknown-1", 2, 2))
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	rewrite.Store(true)
	for i := range 3 {
		listed, err := p.List(ctx, providers.ListFilter{Cluster: "c1"})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		desc, err := p.Describe(ctx, []string{insts[0].ID})
		if err != nil {
			t.Fatalf("Describe: %v", err)
		}
		if len(listed) != 2 || len(desc) != 1 {
			t.Fatalf("listing %d: %d listed, %d described; want 2 and 1 (an instance of unknown status is not gone)", i, len(listed), len(desc))
		}
		for _, in := range append(listed, desc...) {
			if in.State != providers.StateUnknown {
				t.Errorf("instance %s of ECS status Upgrading is %q, want %q (not %q: that is capacity the scheduler waits for)", in.ID, in.State, providers.StateUnknown, providers.StatePending)
			}
		}
	}
	if n := logged.total(); n != 1 {
		t.Errorf("the unknown status was logged %d times over three listings of two instances, want once: %v", n, logged.n)
	}
}

// TestStoppingByHandIsStopped: ECS shows Stopping both for an instance it
// releases after a DeleteInstances and for one an operator stops. A stop
// by hand was taken for shutting-down (ending), so the scheduler ended
// its row and did not terminate it while it went on billing. Now an
// instance this provider did not delete is stopping when Stopping and
// stopped when Stopped, and one it deleted is shutting-down. Stopping and
// Stopped read alike (stopped), so the scheduler could not tell a release
// a restarted provider had forgotten from a stop by hand that was done.
func TestStoppingByHandIsStopped(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	e, srv := startEmulator(t, emulator.Options{Clock: clk.Now, BootDelay: time.Minute})
	p := newEmulatorProvider(t, srv.URL, WithClock(clk))
	insts, err := p.Launch(ctx, emuLaunchReq("stopping-1", 2, 2))
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	clk.Step(2 * time.Minute)
	byHand, deleted := insts[0].ID, insts[1].ID
	stop := ecs.CreateStopInstancesRequest()
	stop.RegionId = emuRegion
	stop.InstanceId = &[]string{byHand}
	if _, err := rawClient(t, srv.URL).StopInstances(stop); err != nil {
		t.Fatalf("StopInstances: %v", err)
	}
	if err := p.Terminate(ctx, []string{deleted}); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	want := map[string]providers.State{byHand: providers.StateStopping, deleted: providers.StateShuttingDown}
	check := func(when string) {
		t.Helper()
		desc, err := p.Describe(ctx, []string{byHand, deleted})
		if err != nil {
			t.Fatalf("Describe: %v", err)
		}
		for _, in := range desc {
			if in.State != want[in.ID] {
				t.Errorf("%s: instance %s is %q, want %q", when, in.ID, in.State, want[in.ID])
			}
		}
	}
	for _, in := range e.Instances() {
		if in.State != "stopping" && in.State != "shutting-down" {
			t.Fatalf("instance %s is %s in the emulator, want both Stopping in ECS's words", in.ID, in.State)
		}
	}
	check("both Stopping")
	// A restarted provider does not know it deleted one: both are taken
	// for stopping, neither for stopped.
	if s := strings.ToLower(string(newEmulatorProvider(t, srv.URL, WithClock(clk)).stateOf(ecs.Instance{InstanceId: deleted, Status: "Stopping"}))); s != string(providers.StateStopping) {
		t.Errorf("a fresh provider takes a Stopping instance for %q, want stopping", s)
	}
	clk.Step(2 * time.Minute)
	want[byHand] = providers.StateStopped
	check("stopped by hand, Stopped")
}
