package terraform_test

import (
	"maps"
	"testing"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/terraform"
)

// A retry of a finished launch whose instances were since terminated
// answered with the instances that still exist only: with all of them
// ended it returned none and no error, which the caller reads as a launch
// that made nothing (an EC2 RunInstances retried with its client token
// answers the same instances, terminated). Each instance the launch had is
// now in the answer: running while it runs, terminated once ended.
func TestRetriedLaunchNamesItsEndedInstances(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	work := t.TempDir()
	p := newProvider(t, terraform.Config{Module: "testdata/plain", Region: region, Zones: zones, WorkDir: work})
	req := launchRequest("resumed", "resumed-1", 2)
	first, err := p.Launch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 2 {
		t.Fatalf("launched %d instances, want 2", len(first))
	}
	ids := idsOf(first)

	stateOf := func(insts []providers.Instance) map[string]providers.State {
		out := map[string]providers.State{}
		for _, in := range insts {
			out[in.ID] = in.State
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		terminate []string
		want      map[string]providers.State
	}{
		{"none ended", nil, map[string]providers.State{ids[0]: providers.StateRunning, ids[1]: providers.StateRunning}},
		{"one ended", ids[:1], map[string]providers.State{ids[0]: providers.StateTerminated, ids[1]: providers.StateRunning}},
		{"all ended", ids[1:], map[string]providers.State{ids[0]: providers.StateTerminated, ids[1]: providers.StateTerminated}},
	} {
		if len(tc.terminate) > 0 {
			if err := p.Terminate(ctx, tc.terminate); err != nil {
				t.Fatalf("%s: Terminate: %v", tc.name, err)
			}
		}
		again, err := p.Launch(ctx, req)
		if err != nil {
			t.Fatalf("%s: retried Launch: %v", tc.name, err)
		}
		if got := stateOf(again); !maps.Equal(got, tc.want) {
			t.Errorf("%s: a retry with the launch's token answered %v, want %v", tc.name, got, tc.want)
		}
		for _, in := range again {
			if in.InstanceType != gpuType || in.Tags[providers.TagBurst] != "resumed" {
				t.Errorf("%s: instance %s answered as %s with tags %v, want the launch's %s and its tags", tc.name, in.ID, in.InstanceType, in.Tags, gpuType)
			}
		}
	}
	// Nothing was launched again by the retries.
	listed, err := p.List(ctx, providers.ListFilter{Cluster: "lifecycle"})
	if err != nil || len(listed) != 0 {
		t.Fatalf("List after every instance ended = %v, %v; want none (a retry launched again)", idsOf(listed), err)
	}
}
