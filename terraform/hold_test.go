package terraform_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/terraform"
)

// A burst whose state file was damaged (Terraform cannot parse it) or
// emptied failed every run on it until an operator restored it, and every
// tick retried: each Terminate of its instance and each Reconcile planned
// again (a damaged state: Terraform started each time, and failed alike),
// and Reconcile returned the same error at every sweep. The burst is now
// held: the run that finds the state so logs it once, at error level, and
// no run on the burst starts until its state file changes; each call says
// it is held, since when, and why. Other bursts launch meanwhile, and a
// restored state resumes the burst's runs.
func TestBurstWhoseStateIsLostIsHeldUntilItChanges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		state  []byte
		reason string
	}{
		{"damaged", []byte("not a state{"), "cannot be read (damaged, or edited by hand)"},
		{"emptied", []byte{}, "is empty (0 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			work, live := t.TempDir(), t.TempDir()
			bin, runs := countingTerraform(t)
			var logs bytes.Buffer
			p := newProvider(t, terraform.Config{
				Module: "testdata/badoutput", Region: region, Zones: zones, WorkDir: work,
				Variables: map[string]any{"mode": "good", "live": live},
			}, terraform.WithBinary(bin), terraform.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			first, err := p.Launch(ctx, launchRequest("held", "held-1", 1))
			if err != nil {
				t.Fatalf("Launch: %v", err)
			}
			statePath := filepath.Join(work, "bursts", burstDirs(t, work)[0], "terraform.tfstate")
			saved, err := os.ReadFile(statePath)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(statePath, tc.state, 0o600); err != nil {
				t.Fatal(err)
			}
			// The call that finds it so (a damaged state: by its plan).
			heldBy(t, "the first Terminate", p.Terminate(ctx, idsOf(first)), tc.reason)
			ranSince(t, runs)
			for i := range 3 {
				heldBy(t, "Terminate", p.Terminate(ctx, idsOf(first)), tc.reason)
				_, err := p.Launch(ctx, launchRequest("held", "held-2", 1))
				heldBy(t, "Launch into the burst", err, tc.reason)
				if !providers.IsTransient(err) {
					t.Errorf("Launch: %v is not transient (an operator restores the state)", err)
				}
				err = p.Reconcile(ctx)
				switch {
				case i == 0:
					heldBy(t, "the first Reconcile", err, tc.reason)
				case err != nil:
					t.Errorf("Reconcile %d: %v, want nil: it said the burst was held at its first", i+1, err)
				}
			}
			if ran := ranSince(t, runs); len(ran) != 0 {
				t.Errorf("with the burst held, terraform ran %v, want nothing", ran)
			}
			if n := strings.Count(logs.String(), "level=ERROR msg=\"the burst's Terraform state is lost or cannot be read"); n != 1 {
				t.Errorf("the hold was logged at error level %d times, want once:\n%s", n, logs.String())
			}

			other, err := p.Launch(ctx, launchRequest("other", "other-1", 1))
			if err != nil {
				t.Fatalf("Launch into another burst while one is held: %v", err)
			}
			if err := os.WriteFile(statePath, saved, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := p.Terminate(ctx, idsOf(first)); err != nil {
				t.Fatalf("Terminate with the state restored: %v", err)
			}
			if left, want := liveFiles(t, live), []string{instanceKey("other-1", 0)}; !slices.Equal(left, want) {
				t.Errorf("the module's instances are %v, want %v", left, want)
			}
			if !strings.Contains(logs.String(), "runs on it resume") {
				t.Errorf("the end of the hold was not logged:\n%s", logs.String())
			}
			if err := p.Terminate(ctx, idsOf(other)); err != nil {
				t.Errorf("Terminate of the other burst: %v", err)
			}
		})
	}
}

// heldBy checks that err (of call) is a *terraform.HeldError saying why.
func heldBy(t *testing.T, call string, err error, why string) {
	t.Helper()
	var he *terraform.HeldError
	if !errors.As(err, &he) || !strings.Contains(err.Error(), " held since ") || !strings.Contains(err.Error(), why) {
		t.Errorf("%s: err = %v; want a *terraform.HeldError saying the burst is held, and that its state %s", call, err, why)
	}
}

// A burst whose remote backend's state is gone is looked at again every
// 10 minutes; each look found it still gone and held the burst anew, and
// Reconcile, which says a hold once, returned it again after every look:
// the sweep's error once each 10 minutes for as long as the state stays
// gone. It says it once per hold, until the state is usable again; the
// hold is logged at error level once, its repeats at debug.
func TestRemoteHoldIsReportedOncePerHold(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg, st := httpState(t)
	clock := newTestClock()
	var logs bytes.Buffer
	p := newProvider(t, cfg, terraform.WithClock(clock.Now),
		terraform.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	first, err := p.Launch(ctx, launchRequest("lost", "lost-1", 1))
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	key := burstDirs(t, cfg.WorkDir)[0]
	st.mu.Lock()
	delete(st.states, "/state/"+key)
	st.mu.Unlock()
	heldBy(t, "Terminate without the state", p.Terminate(ctx, idsOf(first)), "is gone")
	heldBy(t, "the first Reconcile", p.Reconcile(ctx), "is gone")
	for i := range 3 {
		clock.Advance(10 * time.Minute)
		if err := p.Reconcile(ctx); err != nil {
			t.Errorf("Reconcile %d after %d rechecks: %v, want nil: the first said the burst was held", i+2, i+1, err)
		}
	}
	const held = "msg=\"the burst's Terraform state is lost or cannot be read"
	if n := strings.Count(logs.String(), "level=ERROR "+held); n != 1 {
		t.Errorf("the hold was logged at error level %d times, want once:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "level=DEBUG "+held); n != 3 {
		t.Errorf("the hold was logged at debug level %d times, want 3 (one for each recheck):\n%s", n, logs.String())
	}
}
