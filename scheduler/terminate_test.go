package scheduler_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/providers/aws"
	"github.com/spillway-io/spillway/state"
)

// A terminate of two instances that EC2 ends in part (one batch of two
// throttled): the instance it ended is recorded as terminated for the
// scale-in, not found gone at the next tick and counted as vanished, and
// the other is terminated again at a later tick.
func TestPartlyFailedTerminateRecordsTheEndedInstances(t *testing.T) {
	h := newHarness(t, testPool())
	terminates := throttleSecondTerminate(t, h)

	h.setDemand(2*time.Minute, 8, 8)
	h.tick()
	h.until("instances join", 10*time.Second, 20, func() bool {
		rs := h.rows(true)
		return len(rs) == 2 && rs[0].State == state.InstanceRunning && rs[1].State == state.InstanceRunning
	})
	h.setDemand(0)
	h.until("instances end", 30*time.Second, 60, func() bool { return len(h.rows(true)) == 0 })
	if n := terminates(); n < 3 {
		t.Fatalf("%d TerminateInstances calls, want the throttled one retried (3 or more)", n)
	}
	for _, r := range h.rows(false) {
		if strings.Contains(r.EndReason, "vanished") {
			t.Errorf("instance %s ended as %q, want the scale-in's reason: Spillway terminated it", r.ID, r.EndReason)
		}
	}
	if got := len(h.live()); got != 0 {
		t.Errorf("%d instances live on the emulator after scale-in, want 0", got)
	}
}

// throttleSecondTerminate gives h an AWS provider, terminating one
// instance per call, whose second TerminateInstances call EC2 throttles,
// and restarts h's scheduler with it. It returns the count of
// TerminateInstances calls so far.
func throttleSecondTerminate(t *testing.T, h *harness) func() int {
	t.Helper()
	var (
		mu         sync.Mutex
		terminates int
	)
	ec2 := h.emu.EC2Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Errorf("parsing a request: %v", err)
		}
		if r.Form.Get("Action") == "TerminateInstances" {
			mu.Lock()
			terminates++
			n := terminates
			mu.Unlock()
			if n == 2 {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>r-1</RequestID></Response>`)
				return
			}
		}
		ec2.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cfg := config.ProviderConfig{
		Type: config.ProviderAWS, Region: "us-east-1", Endpoint: srv.URL, Image: "ami-0abcdef1234567890",
		Subnets: []config.Subnet{{Zone: "us-east-1a", ID: "subnet-us-east-1a"}, {Zone: "us-east-1b", ID: "subnet-us-east-1b"}},
	}
	p, err := aws.New(context.Background(), cfg, provName, aws.WithCredentials(staticCreds), aws.WithRetry(1, 20*time.Millisecond), aws.WithTerminateBatch(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	h.prov = p
	h.restart()
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return terminates
	}
}
