package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/scheduler"
	"github.com/spillway-io/spillway/state"
)

// decisionsRefused is a state that takes no decision rows, as a full disk
// does not.
type decisionsRefused struct{ state.Store }

func (decisionsRefused) AddDecision(context.Context, state.Decision) (int64, error) {
	return 0, errors.New("database or disk is full (13)")
}

// TestStateNotWritableIsShown: a tick whose writes the state refuses goes
// on from memory, and no longer fails; the pool's detail (last_plan.notes)
// and the /readyz body (pools.NAME.error) say the state is not writable,
// as they said a failed tick's error before.
func TestStateNotWritableIsShown(t *testing.T) {
	stateFailureShown(t, decisionsRefused{tempState(t)}, []func(){func() {}}, "state not writable: recording the decision: database or disk is full (13)")
}

// decisionsRefusedSaying is decisionsRefused saying why in its own words.
type decisionsRefusedSaying struct {
	state.Store
	why string
}

func (d decisionsRefusedSaying) AddDecision(context.Context, state.Decision) (int64, error) {
	return 0, errors.New(d.why)
}

// TestReadyzIsNotHTMLEscaped: /readyz wrote &, < and > in a pool's error
// as \u0026, \u003c and \u003e, while /v1 writes them as they are, so
// the same error read two ways to curl and grep.
func TestReadyzIsNotHTMLEscaped(t *testing.T) {
	const why = "disk </var/lib/spillway> full & read-only -> remount it"
	stateFailureShown(t, decisionsRefusedSaying{tempState(t), why}, []func(){func() {}}, "state not writable: recording the decision: "+why)
}

// stateFailureShown ticks a one-pool scheduler on st once after each of
// before, each tick going on (no error), then checks that the pool's
// detail and the /readyz body say want.
func stateFailureShown(t *testing.T, st state.Store, before []func(), want string) {
	t.Helper()
	sched, err := scheduler.New(scheduler.Options{Cluster: "c", Store: st, Providers: nil,
		Pools: []scheduler.Pool{{Policy: policy.Pool{Name: "train"}, Snapshot: func(context.Context) policy.Snapshot { return policy.Snapshot{} }}}})
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range before {
		f()
		if err := sched.Tick(context.Background(), "train"); err != nil {
			t.Fatalf("tick %d: %v, want it to go on", i, err)
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
		if !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %s, want it to say %q", path, body, want)
		}
	}
}
