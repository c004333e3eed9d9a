package terraform_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/terraform"
)

// A change of a fixed variable that forces new instances (an image) makes
// the next plan of a burst replace its running instances. A launch into
// the burst is refused rather than destroying them under their jobs (the
// scheduler would see their ids vanish); ending one of them still ends it,
// and only it.
func TestPlanReplacingRunningInstancesIsNotApplied(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cfg := terraform.Config{Module: "testdata/replaceable", Region: region, Zones: zones, WorkDir: t.TempDir(), Variables: map[string]any{"image": "v1"}}
	first, err := newProvider(t, cfg).Launch(ctx, launchRequest("grow", "grow-1", 2))
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	running := idsOf(first)

	cfg.Variables = map[string]any{"image": "v2"}
	p := newProvider(t, cfg)
	listed := func() []string {
		t.Helper()
		l, err := p.List(ctx, providers.ListFilter{Cluster: "lifecycle"})
		if err != nil {
			t.Fatal(err)
		}
		return idsOf(l)
	}
	insts, err := p.Launch(ctx, launchRequest("grow", "grow-2", 1))
	var ie *providers.InvalidError
	var re *terraform.ReplaceError
	if !errors.As(err, &ie) || ie.Code != "PlanReplacesRunningInstances" || !errors.As(err, &re) {
		t.Fatalf("Launch whose plan replaces the burst's running instances = %v, %v; want an InvalidError (PlanReplacesRunningInstances) wrapping a *ReplaceError", idsOf(insts), err)
	}
	for _, id := range running {
		if !strings.Contains(err.Error(), "(instance "+id+"): replace") {
			t.Errorf("the error does not name running instance %s: %v", id, err)
		}
	}
	t.Logf("the refused launch: %v", err)
	if got := listed(); !slices.Equal(got, running) {
		t.Fatalf("after the refused launch the burst holds %v, want its running instances %v untouched", got, running)
	}

	if err := p.Terminate(ctx, running[:1]); err != nil {
		t.Fatalf("Terminate one of the burst's instances: %v", err)
	}
	if got := listed(); !slices.Equal(got, running[1:]) {
		t.Fatalf("after ending %s the burst holds %v, want %v (the other not replaced)", running[0], got, running[1:])
	}
	if err := p.Terminate(ctx, running[1:]); err != nil {
		t.Fatalf("Terminate the last instance: %v", err)
	}
	if got := listed(); len(got) != 0 {
		t.Errorf("after ending both the burst holds %v", got)
	}
	if err := p.Reconcile(ctx); err != nil {
		t.Errorf("Reconcile: %v", err)
	}
}
