package terraform_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	for _, err := range []error{os.Mkdir(cloud, 0o700), os.WriteFile(hold, nil, 0o600)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	p := newProvider(t, terraform.Config{
		Module: "testdata/adopting", Region: region, Zones: zones, WorkDir: t.TempDir(),
		Variables: map[string]any{"cloud": cloud, "hold": hold, "started": started},
	}, terraform.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))

	type result struct {
		insts []providers.Instance
		err   error
	}
	done := make(chan result, 1)
	go func() {
		insts, err := p.Launch(ctx, launchRequest("killed", "killed-1", 1))
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
	if err := os.Remove(hold); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatalf("Launch did not return: %v", ctx.Err())
	}
	var ce *terraform.CutOffError
	if !errors.As(r.err, &ce) || len(ce.Looked) != 1 {
		t.Fatalf("Launch whose Terraform was killed mid-create = %v, %v (%T); want a *terraform.CutOffError looking for its create", idsOf(r.insts), r.err, r.err)
	}
	for _, want := range []string{`terraform_data.instance["`, "cloud_instances", "import and end each they find"} {
		if !strings.Contains(r.err.Error(), want) {
			t.Errorf("Launch: %v\ndoes not say %q", r.err, want)
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
}
