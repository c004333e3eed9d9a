package terraform_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/terraform"
)

// A Terraform killed mid-create (the OOM killer) records nothing of the
// instance the cloud made: the launch failed naming it, and it ran on,
// billed, with no state holding it and no Spillway listing it. A module
// that finds its instances in the cloud (output cloud_instances) now has
// it found by the next run on the burst (here the failed launch's own
// clean-up), imported into the create's address and ended with the
// launch's keys: the cloud is left empty, nothing was created twice, and
// the burst is clean.
func TestInstanceOfAnApplyKilledMidCreateIsFoundAndEnded(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	dir := t.TempDir()
	cloud, hold, started := filepath.Join(dir, "cloud"), filepath.Join(dir, "hold"), filepath.Join(dir, "started")
	if err := os.Mkdir(cloud, 0o700); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	work := t.TempDir()
	p := newProvider(t, terraform.Config{
		Module: "testdata/adopting", Region: region, Zones: zones, WorkDir: work,
		Variables: map[string]any{"cloud": cloud, "hold": hold, "started": started},
	}, terraform.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))

	insts, err := launchKilledMidCreate(t, ctx, p, hold, started, "killed", "killed-1")
	var ce *terraform.CutOffError
	if !errors.As(err, &ce) || len(ce.Looked) != 1 {
		t.Fatalf("Launch whose Terraform was killed mid-create = %v, %v (%T); want a *terraform.CutOffError looking for its create", idsOf(insts), err, err)
	}
	for _, want := range []string{`terraform_data.instance["`, "cloud_instances", "import and end each they find"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Launch: %v\ndoes not say %q", err, want)
		}
	}
	if made, err := os.ReadDir(cloud); err != nil || len(made) != 0 {
		t.Errorf("the cloud holds %d instances after the failed launch (%v), want the one the killed apply made found and ended", len(made), err)
	}
	if creates, err := os.ReadFile(cloud + ".creates"); err != nil || strings.Count(string(creates), "\n") != 1 {
		t.Errorf("creates: %q (%v), want the one the killed apply began", creates, err)
	}
	if !strings.Contains(logs.String(), "found the instance of a cut-off create: imported, ended with its key") {
		t.Errorf("finding the instance was not logged:\n%s", logs.String())
	}
	if listed, err := p.List(ctx, providers.ListFilter{Cluster: "lifecycle"}); err != nil || len(listed) != 0 {
		t.Errorf("List after the failed launch = %v (%v), want none", idsOf(listed), err)
	}
	if err := p.Reconcile(ctx); err != nil {
		t.Errorf("Reconcile after the instance was ended: %v", err)
	}

	// The import blocks of an adoption whose server died mid-apply are
	// not left to fail every later plan (their key is no longer wanted).
	bursts, err := filepath.Glob(filepath.Join(work, "bursts", "killed-*"))
	if err != nil || len(bursts) != 1 {
		t.Fatalf("the burst's directory: %v (%v)", bursts, err)
	}
	stale := "import {\n  to = terraform_data.instance[\"gone-0\"]\n  id = \"gone\"\n}\n"
	if err := os.WriteFile(filepath.Join(bursts[0], "spillway_adopt.tf"), []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Launch(ctx, launchRequest("killed", "killed-2", 1)); err != nil {
		t.Errorf("Launch into the burst after an adoption left its import blocks: %v", err)
	}
}

// launchKilledMidCreate launches count instances into burst with token
// on p and kills its Terraform (SIGKILL, as the OOM killer would) once the
// adopting module's create waits on hold, and returns what Launch did.
func launchKilledMidCreate(t *testing.T, ctx context.Context, p *terraform.Provider, hold, started, burst, token string) ([]providers.Instance, error) {
	t.Helper()
	if err := os.WriteFile(hold, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	type result struct {
		insts []providers.Instance
		err   error
	}
	done := make(chan result, 1)
	go func() {
		insts, err := p.Launch(ctx, launchRequest(burst, token, 1))
		done <- result{insts, err}
	}()
	// Kill Terraform while its create waits for the instance to come up.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var pid int
	for pid == 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("the create never started: %v", ctx.Err())
		case r := <-done:
			t.Fatalf("Launch returned before its create started: %v, %v", idsOf(r.insts), r.err)
		case <-tick.C:
			data, err := os.ReadFile(started)
			if err == nil {
				pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
			}
		}
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill terraform %d: %v", pid, err)
	}
	for _, f := range []string{hold, started} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatalf("Launch did not return: %v", ctx.Err())
	}
	return r.insts, r.err
}

// An instance of a cut-off create that the module's cloud_instances does
// not see yet (a lagging listing) is looked for again by each Reconcile:
// once seen, a launch retried with the same token gets it, imported into
// its key, instead of a second instance. One never seen is given up after
// its window, logged at error level with its tags, and the burst is left
// clean (Reconcile stops looking).
func TestInstanceOfACutOffCreateIsKeptForItsRetryOrGivenUp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// seen says whether the module's output sees the instance after
		// the failed launch.
		seen bool
	}{
		{"seen later: kept for the retried launch", true},
		{"never seen: given up", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			dir, work := t.TempDir(), t.TempDir()
			cloud, hold, started := filepath.Join(dir, "cloud"), filepath.Join(dir, "hold"), filepath.Join(dir, "started")
			if err := os.Mkdir(cloud, 0o700); err != nil {
				t.Fatal(err)
			}
			var now atomic.Int64
			now.Store(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC).UnixNano())
			clock := terraform.WithClock(func() time.Time { return time.Unix(0, now.Load()).UTC() })
			var logs bytes.Buffer
			cfg := func(blind bool) terraform.Config {
				return terraform.Config{
					Module: "testdata/adopting", Region: region, Zones: zones, WorkDir: work,
					Variables: map[string]any{"cloud": cloud, "hold": hold, "started": started, "blind": blind},
				}
			}
			logger := terraform.WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))
			p := newProvider(t, cfg(true), clock, logger)
			_, err := launchKilledMidCreate(t, ctx, p, hold, started, "retried", "retried-1")
			if ce := (*terraform.CutOffError)(nil); !errors.As(err, &ce) {
				t.Fatalf("Launch = %v, want a *terraform.CutOffError", err)
			}
			made, err := os.ReadDir(cloud)
			if err != nil || len(made) != 1 {
				t.Fatalf("the cloud holds %v (%v), want the instance the killed apply made", made, err)
			}
			stray := made[0].Name()
			if err := p.Reconcile(ctx); err != nil {
				t.Fatalf("Reconcile: %v", err)
			}
			if !tc.seen {
				now.Add(int64(16 * time.Minute))
				if err := p.Reconcile(ctx); err != nil {
					t.Fatalf("Reconcile past the window: %v", err)
				}
				if !strings.Contains(logs.String(), `level=ERROR msg="the instance of a cut-off create was not found`) || !strings.Contains(logs.String(), "spillway:burst:retried") {
					t.Errorf("giving the create up was not logged at error level with its tags:\n%s", logs.String())
				}
				runs := func() int {
					logs, _ := filepath.Glob(filepath.Join(work, "bursts", "*", ".spillway", "runs", "*.log"))
					return len(logs)
				}
				before := runs()
				if err := p.Reconcile(ctx); err != nil || runs() != before {
					t.Errorf("Reconcile after giving up = %v and ran %d commands, want nothing to repair", err, runs()-before)
				}
				return
			}
			// The listing catches up; the launch is retried.
			p = newProvider(t, cfg(false), clock, logger)
			insts, err := p.Launch(ctx, launchRequest("retried", "retried-1", 1))
			if err != nil {
				t.Fatalf("Launch retried: %v", err)
			}
			if got := idsOf(insts); !slices.Equal(got, []string{stray}) {
				t.Errorf("the retried launch = %v, want the cut-off create's instance %s", got, stray)
			}
			if creates, err := os.ReadFile(cloud + ".creates"); err != nil || strings.Count(string(creates), "\n") != 1 {
				t.Errorf("creates: %q (%v), want only the one the killed apply began", creates, err)
			}
			if !strings.Contains(logs.String(), "imported, kept for its key") {
				t.Errorf("finding the instance was not logged:\n%s", logs.String())
			}
			if err := p.Terminate(ctx, idsOf(insts)); err != nil {
				t.Fatal(err)
			}
			if made, err := os.ReadDir(cloud); err != nil || len(made) != 0 {
				t.Errorf("the cloud holds %d instances after Terminate (%v), want none", len(made), err)
			}
		})
	}
}

// A module whose cloud_instances names thousands of instances for one
// cut-off key (a tag filter matching far too much) had an error line
// logged for each of them, each run that looked: the operator's log
// flooded, the line that matters lost in it. The instances that cannot be
// imported are now logged once a run, counted, the first few named.
func TestManyInstancesFoundForOneCutOffKeyAreLoggedOnce(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	dir := t.TempDir()
	cloud, hold, started := filepath.Join(dir, "cloud"), filepath.Join(dir, "hold"), filepath.Join(dir, "started")
	if err := os.Mkdir(cloud, 0o700); err != nil {
		t.Fatal(err)
	}
	// The launch's one key (launch keys are a digest of the client token
	// and the instance's index); the instances the output finds for it
	// besides the one the killed create made sort after that one's id.
	sum := sha256.Sum256([]byte("doubled-1"))
	key := hex.EncodeToString(sum[:5]) + "-0"
	const doubled = 2000
	for i := range doubled {
		if err := os.WriteFile(filepath.Join(cloud, fmt.Sprintf("zz-double-%04d", i)), []byte(key+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	p := newProvider(t, terraform.Config{
		Module: "testdata/adopting", Region: region, Zones: zones, WorkDir: t.TempDir(),
		Variables: map[string]any{"cloud": cloud, "hold": hold, "started": started},
	}, terraform.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if _, err := launchKilledMidCreate(t, ctx, p, hold, started, "doubled", "doubled-1"); !errors.As(err, new(*terraform.CutOffError)) {
		t.Fatalf("Launch = %v, want a *terraform.CutOffError", err)
	}
	if !strings.Contains(logs.String(), "found the instance of a cut-off create: imported, ended with its key") {
		t.Errorf("the killed create's own instance was not found and ended:\n%s", clip(logs.String()))
	}
	var lines []string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "level=ERROR") && strings.Contains(line, "zz-double-") {
			lines = append(lines, line)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("the %d instances found for a key that has one were logged in %d lines, want 1:\n%s", doubled, len(lines), clip(strings.Join(lines, "\n")))
	}
	for _, want := range []string{"end them by hand", fmt.Sprintf("count=%d", doubled), "zz-double-0000 (key " + key + ")", "zz-double-0009", fmt.Sprintf("and %d more", doubled-10), "output=cloud_instances"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("the line %s\ndoes not say %q", lines[0], want)
		}
	}
	if strings.Contains(lines[0], "zz-double-0010") {
		t.Errorf("the line %s\nnames more than the first ten", lines[0])
	}
}

// clip is s cut to its first 4 KiB, for a failure's message.
func clip(s string) string {
	if len(s) > 4<<10 {
		return s[:4<<10] + "..."
	}
	return s
}
