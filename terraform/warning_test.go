package terraform_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/spillway-io/spillway/terraform"
)

// Terraform's warnings (a check block's failed assertion, a deprecated
// argument) were dropped: the run succeeds, and they were in no log the
// operator reads, only in the run's own log file. Each is now logged, once
// a run, naming the burst, the command, the module and the run's log.
func TestTerraformWarningsAreLogged(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	var logs bytes.Buffer
	p := newProvider(t, terraform.Config{Module: "testdata/warning", Region: region, Zones: zones, WorkDir: t.TempDir()},
		terraform.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	insts, err := p.Launch(ctx, launchRequest("warned", "warned-1", 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Terminate(ctx, idsOf(insts)); err != nil {
		t.Fatal(err)
	}
	var warned []string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "The burst holds more instances than the team reserved.") {
			warned = append(warned, line)
		}
	}
	// The plan and the apply of the launch warn; the destroy, with no
	// instance left, does not.
	if len(warned) != 2 {
		t.Fatalf("the check's warning was logged %d times, want twice (the launch's plan and apply):\n%s", len(warned), logs.String())
	}
	for i, op := range []string{"plan", "apply"} {
		for _, want := range []string{"Check block assertion failed", "terraform.op=" + op, "terraform.module=testdata/warning", "terraform.burst=warned-", "-" + op + ".log"} {
			if !strings.Contains(warned[i], want) {
				t.Errorf("the warning of the %s, %s, does not say %q", op, warned[i], want)
			}
		}
	}
}

// A module naming a provider Terraform cannot install (a host without
// access to its registry) failed every launch with init's own text, naming
// the module's snapshot under work_dir, not the module, and nothing of
// what to do. The error now names the module and how to install its
// providers offline, whether init runs once for every burst (no
// backend_config) or in each burst's directory.
func TestInitThatCannotInstallAProviderSaysWhatToDo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		backend map[string]string
	}{
		{"init once for every burst", nil},
		{"init in each burst", map[string]string{"path": "{burst}.tfstate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			const module = "testdata/uninstallable"
			p := newProvider(t, terraform.Config{Module: module, Region: region, Zones: zones, WorkDir: t.TempDir(), BackendConfig: tc.backend})
			insts, err := p.Launch(ctx, launchRequest("offline", "offline-1", 1))
			var re *terraform.RunError
			if !errors.As(err, &re) || re.Op != "init" {
				t.Fatalf("Launch = %v, %v; want init's *terraform.RunError", idsOf(insts), err)
			}
			for _, want := range []string{"registry.invalid/spillway/gpu", "the module " + module + " needs providers", "terraform providers mirror", "filesystem_mirror"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Launch: %v\ndoes not say %q", err, want)
				}
			}
		})
	}
}
