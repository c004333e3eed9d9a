package terraform_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/terraform"
)

// Two servers sharing a work dir (a second started by mistake, or one
// restarted while the old one still ends its calls) each keep their own
// providers, holds and locks in memory; what keeps them from both running
// Terraform on one burst is the burst's lock file (flock), which two
// providers of one process take as two processes do. While one's apply
// runs, the other's launch into the burst waits (here until its deadline)
// and starts no Terraform; afterwards it launches beside what the first
// made, ending nothing of it. The lock and the wait are a guard (they
// pass on the old code); the wait's error now names the run it waited on.
func TestTwoProvidersOnOneWorkDirNeverRunABurstAtOnce(t *testing.T) {
	t.Parallel()
	work, states := t.TempDir(), t.TempDir()
	hold, started := filepath.Join(work, "hold"), filepath.Join(work, "started")
	bin, runs := countingTerraform(t)
	cfg := terraform.Config{
		Module: "testdata/localstate", Region: region, Zones: zones, WorkDir: work,
		BackendConfig: map[string]string{"path": filepath.Join(states, "{burst}.tfstate")},
		Variables:     map[string]any{"hold": hold, "started": started},
	}
	first := newProvider(t, cfg, terraform.WithBinary(bin))
	second := newProvider(t, cfg, terraform.WithBinary(bin))
	if err := os.WriteFile(hold, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(hold) })
	ctx := testCtx(t)
	type launched struct {
		insts []providers.Instance
		err   error
	}
	done := make(chan launched, 1)
	go func() {
		insts, err := first.Launch(ctx, launchRequest("shared", "shared-1", 1))
		done <- launched{insts, err}
	}()
	awaitFile(t, ctx, started)
	before := ranSince(t, runs)
	waiting, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// The wait says which run holds the lock (here of one process: the
	// two providers share its PID); it said only "waiting for its lock:
	// context deadline exceeded".
	const heldBy = ": waiting for its lock held by terraform apply of this server since "
	if _, err := second.Launch(waiting, launchRequest("shared", "shared-2", 1)); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), heldBy) {
		t.Errorf("the second provider's launch while the first's apply runs: err = %v, want it to wait out its deadline, saying%s…", err, heldBy)
	}
	if ran := ranSince(t, runs); len(ran) != 0 {
		t.Errorf("while the first provider's apply ran (after %v), the second ran terraform %v", before, ran)
	}
	if err := os.Remove(hold); err != nil {
		t.Fatal(err)
	}
	a := <-done
	if a.err != nil {
		t.Fatalf("the first provider's launch: %v", a.err)
	}
	b, err := second.Launch(ctx, launchRequest("shared", "shared-2", 1))
	if err != nil {
		t.Fatalf("the second provider's launch once the first's ended: %v", err)
	}
	listed, err := first.List(ctx, providers.ListFilter{Cluster: "lifecycle"})
	if err != nil {
		t.Fatal(err)
	}
	want := append(idsOf(a.insts), idsOf(b)...)
	if got := idsOf(listed); !slices.Equal(sorted(got), sorted(want)) {
		t.Errorf("the burst lists %v, want both providers' instances %v", got, want)
	}
	if err := second.Terminate(ctx, want); err != nil {
		t.Errorf("Terminate: %v", err)
	}
}

// awaitFile waits until the file at path exists, or ctx ends.
func awaitFile(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never appeared: %v", path, ctx.Err())
		case <-tick.C:
		}
	}
}
