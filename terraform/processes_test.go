package terraform_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spillway-io/spillway/terraform"
)

// countingTerraform is a wrapper script standing for the terraform binary
// that writes the subcommand of each run (its first argument) as a line
// of the file it returns, then runs the real Terraform.
func countingTerraform(t *testing.T) (bin, runs string) {
	t.Helper()
	real, err := terraform.LookBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	runs = filepath.Join(dir, "runs")
	bin = filepath.Join(dir, "terraform")
	script := fmt.Sprintf("#!/bin/sh\necho \"$1\" >> '%s'\nexec '%s' \"$@\"\n", runs, real)
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, runs
}

// ranSince returns the subcommands the counting wrapper ran since the
// last call, and forgets them.
func ranSince(t *testing.T, runs string) []string {
	t.Helper()
	data, err := os.ReadFile(runs)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if err := os.Remove(runs); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Fields(string(data))
}

// Each opening of a burst made a new terraform-exec handle, and each
// handle runs `terraform version -json` before its first command: a
// tick's refresh of N bursts ran 2N Terraform processes, not N, and each
// launch, ending and repair one more than its commands. Spillway now runs
// the commands itself (command.go), and never asks the version.
func TestTerraformIsAskedItsVersionOnceABurst(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	bin, runs := countingTerraform(t)
	p := newProvider(t, terraform.Config{Module: "testdata/plain", Region: region, Zones: zones, WorkDir: t.TempDir()},
		terraform.WithBinary(bin))
	const bursts = 3
	var ids []string
	for i := range bursts {
		insts, err := p.Launch(ctx, launchRequest(fmt.Sprintf("counted-%d", i), fmt.Sprintf("counted-%d-1", i), 1))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, idsOf(insts)...)
	}
	ranSince(t, runs)
	for tick := range 2 {
		if _, err := p.Refresh(ctx, "lifecycle"); err != nil {
			t.Fatal(err)
		}
		ran := ranSince(t, runs)
		// One refresh-only plan a burst; nothing drifted, so no apply.
		if want := slices.Repeat([]string{"plan"}, bursts); !slices.Equal(ran, want) {
			t.Errorf("refresh %d of %d bursts ran terraform %d times %v, want %d %v", tick+1, bursts, len(ran), ran, len(want), want)
		}
	}
	if err := p.Terminate(ctx, ids); err != nil {
		t.Fatal(err)
	}
	if ran := ranSince(t, runs); slices.Contains(ran, "version") {
		t.Errorf("ending the instances of %d bursts asked Terraform its version again: ran %v", bursts, ran)
	}
}
