package terraform_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/terraform"
)

// The errors of a run on one burst name the burst once: a Terminate or
// Reconcile of a burst whose state was removed said "burst KEY: burst
// KEY: its Terraform state ... is gone" (the check named the burst, and
// so did each caller).
func TestBurstErrorsNameTheBurstOnce(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	work := t.TempDir()
	clock := newTestClock()
	p := newProvider(t, terraform.Config{
		Module: "testdata/localstate", Region: region, Zones: zones, WorkDir: work,
		Variables: map[string]any{"hold": filepath.Join(work, "no-hold"), "started": filepath.Join(work, "started")},
	}, terraform.WithClock(clock.Now))
	first, err := p.Launch(ctx, launchRequest("lost", "lost-1", 1))
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	key := burstDirs(t, work)[0]
	dir := filepath.Join(work, "bursts", key)
	state := filepath.Join(dir, "terraform.tfstate")
	saved, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(state); err != nil {
		t.Fatal(err)
	}
	gone := fmt.Sprintf("burst %s held since %s, no Terraform run on it until its state file changes (restored; even touched, to look again now): "+
		"its Terraform state %s is gone, yet its ledger lists instances %q: "+
		"a plan would launch them again and leave these running, tracked by nothing; "+
		"restore the state (Terraform keeps the one before its last write as %s.backup), or end those instances by hand and remove the directory %s",
		key, clock.Now().UTC().Format(time.RFC3339), state, first[0].ID, state, dir)
	for _, tt := range []struct {
		name string
		call func() error
		want string
	}{
		{"Terminate", func() error { return p.Terminate(ctx, idsOf(first)) }, "tf-test: transient error (StateLost): " + gone},
		{"Reconcile", func() error { return p.Reconcile(ctx) }, gone},
	} {
		if err := tt.call(); err == nil || err.Error() != tt.want {
			t.Errorf("%s of a burst whose state is gone:\n got %v\nwant %s", tt.name, err, tt.want)
		}
	}
	if err := os.WriteFile(state, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.Terminate(ctx, idsOf(first)); err != nil {
		t.Fatalf("Terminate with the state restored: %v", err)
	}
}

// A launch that failed and whose clean-up failed too said so in two
// errors, each naming the burst: "burst KEY: its Terraform state ... is
// over 1 KiB ...; ending the failed launch's instances (the next run on
// burst KEY retries): ...". The burst is named once; the next run on the
// burst ends what the launch made.
func TestFailedLaunchAndItsCleanUpNameTheBurstOnce(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	work, fail := t.TempDir(), t.TempDir()
	p := newProvider(t, terraform.Config{
		Module: "testdata/faildestroy", Region: region, Zones: zones, WorkDir: work,
		Variables: map[string]any{"fail_dir": fail},
	}, terraform.WithMaxStateBytes(1<<10))
	if err := os.WriteFile(filepath.Join(fail, "all"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := p.Launch(ctx, launchRequest("twice", "twice-1", 1))
	if err == nil {
		t.Fatal("Launch into a burst whose state is over the bound succeeded")
	}
	key := burstDirs(t, work)[0]
	if n := strings.Count(err.Error(), "burst "+key); n != 1 {
		t.Errorf("the launch's error names its burst %s %d times, want once:\n%v", key, n, err)
	}
	for _, want := range []string{"(StateTooLarge): burst " + key + ": its Terraform state", "ending the failed launch's instances (the next run on the burst retries): terraform destroy in", "is protected from termination"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the launch's error does not say %q:\n%v", want, err)
		}
	}
	// The next run on the burst ends what the launch made.
	if err := os.Remove(filepath.Join(fail, "all")); err != nil {
		t.Fatal(err)
	}
	if err := p.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile once the instance can be ended: %v", err)
	}
	if listed, err := p.List(ctx, providers.ListFilter{Cluster: "lifecycle"}); err != nil || len(listed) != 0 {
		t.Errorf("List after the repair = %v (%v), want none", idsOf(listed), err)
	}
}
