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

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/terraform"
)

// A Terminate of instances in two bursts whose destroy fails in one and
// succeeds in the other reports both: the scheduler books the ended
// instance as terminating (not found gone at its next tick and counted as
// vanished) and asks again for the other, which ends once its destroy can.
func TestTerminateFailingInOneBurstReportsTheOthersEnded(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	failDir := t.TempDir()
	p := newProvider(t, terraform.Config{
		Module: "testdata/faildestroy", Region: region, Zones: zones, WorkDir: t.TempDir(),
		Variables: map[string]any{"fail_dir": failDir},
	})
	stuck, err := p.Launch(ctx, launchRequest("stuck", "term-stuck", 1))
	if err != nil {
		t.Fatal(err)
	}
	free, err := p.Launch(ctx, launchRequest("free", "term-free", 1))
	if err != nil {
		t.Fatal(err)
	}
	protected := filepath.Join(failDir, stuck[0].ID)
	if err := os.WriteFile(protected, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	const gone = "tf-no-burst-holds-it"
	ids := []string{stuck[0].ID, free[0].ID, gone}
	err = p.Terminate(ctx, ids)
	var te *providers.TerminateError
	if !errors.As(err, &te) {
		t.Fatalf("Terminate with one burst's destroy failing = %v (%T), want a *providers.TerminateError", err, err)
	}
	if want := []string{free[0].ID, gone}; !slices.Equal(te.Ended, want) || !slices.Equal(providers.Ended(ids, err), want) {
		t.Errorf("ended %v, want %v (the burst destroyed, and an id no burst holds)", te.Ended, want)
	}
	if want := []string{stuck[0].ID}; !slices.Equal(te.Failed, want) {
		t.Errorf("failed %v, want %v", te.Failed, want)
	}
	var re *terraform.RunError
	if !errors.As(err, &re) {
		t.Errorf("the failure %v does not carry Terraform's *RunError", err)
	}
	listed, err := p.List(ctx, providers.ListFilter{Cluster: "lifecycle"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := idsOf(listed), []string{stuck[0].ID}; !slices.Equal(got, want) {
		t.Errorf("List after the partial terminate = %v, want %v", got, want)
	}

	if err := os.Remove(protected); err != nil {
		t.Fatal(err)
	}
	if err := p.Terminate(ctx, []string{stuck[0].ID}); err != nil {
		t.Fatalf("Terminate once its destroy can: %v", err)
	}
	if listed, err := p.List(ctx, providers.ListFilter{Cluster: "lifecycle"}); err != nil || len(listed) != 0 {
		t.Errorf("List after both ended = %v (%v), want none", idsOf(listed), err)
	}
}

// A module whose instance resource sets lifecycle { prevent_destroy =
// true } can never end an instance: every Terminate was a transient
// TerraformError, retried each tick for ever while the instance ran and
// was billed, logged as one more failure. It is now a permanent
// *providers.InvalidError (PreventDestroy) naming the resource, its
// instance and what to do, logged once per instance; the instance stays
// listed (the scheduler counts it) and ends once the module lets it.
// (A module that sets it in its own files, or a local child module's, is
// refused at start, by CheckModule; one from a registry or git, which
// only init fetches, is met here: the burst's copy of the module is
// given prevent_destroy after its launch, as such a child module would.)
func TestTerminateOfAPreventDestroyInstanceIsAPermanentError(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	module, work := t.TempDir(), t.TempDir()
	src, err := os.ReadFile("testdata/preventdestroy/main.tf")
	if err != nil {
		t.Fatal(err)
	}
	allowed := bytes.Replace(src, []byte("prevent_destroy = true"), []byte("prevent_destroy = false"), 1)
	if err := os.WriteFile(filepath.Join(module, "main.tf"), allowed, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := terraform.New(providerName, terraform.Config{Module: "testdata/preventdestroy", Region: region, Zones: zones, WorkDir: t.TempDir()}); err == nil ||
		!strings.Contains(err.Error(), "prevent_destroy") {
		t.Errorf("New with a module setting prevent_destroy = %v, want it refused naming prevent_destroy", err)
	}
	var logs bytes.Buffer
	cfg := terraform.Config{Module: module, Region: region, Zones: zones, WorkDir: work}
	p := newProvider(t, cfg, terraform.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	insts, err := p.Launch(ctx, launchRequest("kept", "prevent-1", 2))
	if err != nil {
		t.Fatal(err)
	}
	burstModule, err := filepath.Glob(filepath.Join(work, "bursts", "kept-*", "main.tf"))
	if err != nil || len(burstModule) != 1 {
		t.Fatalf("the burst's copy of the module: %v (%v)", burstModule, err)
	}
	if err := os.WriteFile(burstModule[0], src, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ids  []string
	}{
		{"one of the burst's instances (an apply)", idsOf(insts[:1])},
		{"every instance of the burst (a destroy)", idsOf(insts)},
		{"the same again", idsOf(insts)},
	} {
		err := p.Terminate(ctx, tc.ids)
		var (
			ie *providers.InvalidError
			pe *terraform.PreventDestroyError
		)
		if !errors.As(err, &ie) || ie.Code != "PreventDestroy" || !errors.As(err, &pe) {
			t.Fatalf("Terminate %s = %v (%T), want a *providers.InvalidError (PreventDestroy) wrapping a *terraform.PreventDestroyError", tc.name, err, err)
		}
		for _, id := range tc.ids {
			for _, want := range []string{"terraform_data.instance[", "(instance " + id + ")", "prevent_destroy", "terraform state rm", pe.Dir} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Terminate %s: %v\ndoes not say %q", tc.name, err, want)
				}
			}
		}
		if providers.IsTransient(err) {
			t.Errorf("Terminate %s: %v is also a transient error", tc.name, err)
		}
		listed, err := p.List(ctx, providers.ListFilter{Cluster: "lifecycle"})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := idsOf(listed), idsOf(insts); !slices.Equal(got, want) {
			t.Errorf("List after Terminate %s = %v, want both still running %v", tc.name, got, want)
		}
	}
	for _, inst := range insts {
		if n := strings.Count(logs.String(), inst.ID); n != 1 {
			t.Errorf("instance %s is named in %d log records, want one:\n%s", inst.ID, n, logs.String())
		}
	}

	// What the message says to do: take prevent_destroy out (here of the
	// burst's copy, as of the child module's next version) and restart.
	if err := os.WriteFile(burstModule[0], allowed, 0o600); err != nil {
		t.Fatal(err)
	}
	p = newProvider(t, cfg)
	if err := p.Terminate(ctx, idsOf(insts)); err != nil {
		t.Fatalf("Terminate once the module lets them end: %v", err)
	}
	if listed, err := p.List(ctx, providers.ListFilter{Cluster: "lifecycle"}); err != nil || len(listed) != 0 {
		t.Errorf("List after they ended = %v (%v), want none", idsOf(listed), err)
	}
}

// A Terraform that dies mid-apply (killed by the OOM killer, or a provider
// plugin that crashes after the cloud made the instance) records nothing of
// the instance it was creating: no state holds it, and no later run of
// Spillway's sees or ends it. The launch failed with "signal: killed" and
// nothing more, and the instance ran on unnoticed. The error now names the
// resource whose create was cut off and the tags to find its instance by,
// and the provider logs it; the launch's other instances are ended.
func TestApplyThatDiesMidCreateNamesWhatItMayHaveLeft(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cloud, crash := t.TempDir(), filepath.Join(t.TempDir(), "crash")
	var logs bytes.Buffer
	p := newProvider(t, terraform.Config{
		Module: "testdata/crashing", Region: region, Zones: zones, WorkDir: t.TempDir(),
		Variables: map[string]any{"cloud": cloud, "crash": crash},
	}, terraform.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err := os.WriteFile(crash, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	insts, err := p.Launch(ctx, launchRequest("crashed", "crashed-1", 1))
	var ce *terraform.CutOffError
	if !errors.As(err, &ce) {
		t.Fatalf("Launch whose Terraform died mid-create = %v, %v (%T); want a *terraform.CutOffError", idsOf(insts), err, err)
	}
	made, rerr := os.ReadDir(cloud)
	if rerr != nil || len(made) != 1 {
		t.Fatalf("the cloud holds %v (%v), want the one instance the dead apply made", made, rerr)
	}
	key := made[0].Name()
	for _, want := range []string{
		`terraform_data.instance["` + key + `"]`, "may hold an instance", "spillway:cluster=lifecycle", "spillway:burst=crashed", "end them by hand",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Launch: %v\ndoes not say %q", err, want)
		}
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), key) {
		t.Errorf("the cut-off create of %s was not logged as an error:\n%s", key, logs.String())
	}
	// Not a permanent error: the next launch may well succeed.
	if !providers.IsTransient(err) {
		t.Errorf("Launch: %v is not a transient error", err)
	}
	if listed, err := p.List(ctx, providers.ListFilter{Cluster: "lifecycle"}); err != nil || len(listed) != 0 {
		t.Errorf("List after the dead apply = %v (%v), want none", idsOf(listed), err)
	}
}
