package terraform_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
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
