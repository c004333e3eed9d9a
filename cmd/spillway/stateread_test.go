package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/scheduler"
	"github.com/spillway-io/spillway/state"
)

// spendUnreadable is a state whose spend ledger cannot be read while
// locked is set, as a database another process holds locked.
type spendUnreadable struct {
	state.Store
	locked *atomic.Bool
}

func (s spendUnreadable) Spend(ctx context.Context, pool string, start time.Time) (float64, error) {
	if s.locked.Load() {
		return 0, errors.New("database is locked (5) (SQLITE_BUSY)")
	}
	return s.Store.Spend(ctx, pool, start)
}

// TestStateNotReadableIsShown: a tick that cannot read the state goes on
// from what it last read, and does not fail; the pool's detail
// (last_plan.notes) and the /readyz body (pools.NAME.error) say the state
// is not readable, and which read failed.
func TestStateNotReadableIsShown(t *testing.T) {
	var locked atomic.Bool
	st := spendUnreadable{tempState(t), &locked}
	sched, err := scheduler.New(scheduler.Options{Cluster: "c", Store: st, Providers: nil,
		Pools: []scheduler.Pool{{Policy: policy.Pool{Name: "train"}, Snapshot: func(context.Context) policy.Snapshot { return policy.Snapshot{} }}}})
	if err != nil {
		t.Fatal(err)
	}
	for i, lock := range []bool{false, true} {
		locked.Store(lock)
		if err := sched.Tick(context.Background(), "train"); err != nil {
			t.Fatalf("tick %d: %v, want it to go on from what it last read", i, err)
		}
	}
	h, err := api.NewServer(api.Options{Backend: &backend{cluster: "c", sched: sched, store: st, clock: clock.RealClock{}}, AnonymousRead: true})
	if err != nil {
		t.Fatal(err)
	}
	s := &server{sched: sched, reg: prometheus.NewRegistry(), api: h}
	srv := httptest.NewServer(s.handler())
	t.Cleanup(srv.Close)
	for _, path := range []string{"/v1/pools/train", "/readyz"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := "state not readable: reading the spend of pool train: database is locked (5) (SQLITE_BUSY)"; !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %s, want it to say %q", path, body, want)
		}
	}
}
