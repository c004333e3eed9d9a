package scheduler_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/terraform"
)

// failingLaunches is the real provider whose launches fail with fail's
// error while it is set; lists and terminations go through.
type failingLaunches struct {
	providers.Provider
	fail atomic.Pointer[error]
}

func (f *failingLaunches) Launch(ctx context.Context, req providers.LaunchRequest) ([]providers.Instance, error) {
	if err := f.fail.Load(); err != nil {
		return nil, *err
	}
	return f.Provider.Launch(ctx, req)
}

// heldLaunchErr is a launch into a Terraform burst held while its state
// is lost, as the terraform provider returns it, failing for cause.
func heldLaunchErr(since time.Time, code string) error {
	held := &terraform.HeldError{Burst: "tf-abc", Since: since, Err: errors.New("the state file is gone while the ledger lists 2 instances")}
	return &providers.TransientError{Provider: provName, Code: code, Err: held}
}

// TestHeldLaunchFailureIsLoggedOnce: a launch into a Terraform burst held
// while its state is lost fails alike at every tick until an operator
// restores the state, and each tick logged "launch failed, will resume" at
// warning level: over 10 ticks, 10 warnings. It is warned of once, a
// repeat logged at debug, and warned of again when it fails otherwise;
// the intent stays pending and launches once the failure clears.
func TestHeldLaunchFailureIsLoggedOnce(t *testing.T) {
	t.Parallel()
	logs := &lockedBuffer{}
	var failing *failingLaunches
	h := newHarness(t, testPool(), func(h *harness) {
		failing = &failingLaunches{Provider: h.prov}
		h.prov = failing
		h.logs = logs
	})
	held := heldLaunchErr(h.clk.Now(), "StateLost")
	failing.fail.Store(&held)
	h.setDemand(2*time.Minute, 8)
	warned := func() int { return strings.Count(logs.String(), `level=WARN msg="launch failed, will resume`) }
	const ticks = 10
	h.tick()
	for range ticks - 1 {
		h.step(30 * time.Second)
	}
	again := strings.Count(logs.String(), `level=DEBUG msg="launch failed again, will resume"`)
	t.Logf("%d ticks of a held burst: %d warnings, %d debug lines", ticks, warned(), again)
	if warned() != 1 || again != ticks-1 {
		t.Errorf("%d warnings and %d debug lines of a launch failed alike at %d ticks, want 1 and %d", warned(), again, ticks, ticks-1)
	}
	other := heldLaunchErr(h.clk.Now(), "RequestLimitExceeded")
	failing.fail.Store(&other)
	h.step(30 * time.Second)
	if warned() != 2 {
		t.Errorf("%d warnings after the launch failed otherwise, want 2", warned())
	}
	failing.fail.Store(nil)
	h.step(30 * time.Second)
	if n := len(h.live()); n != 1 {
		t.Errorf("%d instances once the failure cleared, want the pending intent's 1", n)
	}
}
