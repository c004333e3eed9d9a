package terraform_test

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/spillway-io/spillway/terraform"
)

// Terraform's commands ran through terraform-exec, which keeps all a
// command prints on stderr in memory to quote in its error: a module
// whose provisioner wrote 64 MiB to Terraform's stderr (as a crashing
// provider plugin, or a wrapper script tracing itself, would) grew the
// server by more than that for each run, and a failed run's error held
// all of it. A command's stderr now goes to its bounded run log, and its
// error keeps only the head and tail of it.
//
// Not parallel: it counts the bytes the whole process allocates.
func TestTerraformsStderrIsNotHeldInMemory(t *testing.T) {
	const written = 64 << 20
	for _, tc := range []struct {
		name string
		fail bool
	}{{"succeeding", false}, {"failing", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			p := newProvider(t, terraform.Config{
				Module: "testdata/stderr", Region: region, Zones: zones, WorkDir: t.TempDir(),
				Variables: map[string]any{"bytes": written, "fail": tc.fail},
			})
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			insts, err := p.Launch(ctx, launchRequest("stderr", "stderr-"+tc.name, 1))
			runtime.ReadMemStats(&after)
			allocated := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d MiB written to Terraform's stderr; the launch allocated %.1f MiB; its error is %d bytes", written>>20, float64(allocated)/(1<<20), len(errText(err)))
			if tc.fail {
				if err == nil {
					t.Fatalf("Launch through a failing provisioner = %v, want its error", idsOf(insts))
				}
				var re *terraform.RunError
				if !errors.As(err, &re) {
					t.Fatalf("Launch = %v, want a *terraform.RunError in it", err)
				}
				if n := len(err.Error()) + len(re.Err.Error()); n > 64<<10 {
					t.Errorf("the launch's error holds %d bytes, want at most 64 KiB (it holds Terraform's stderr)", n)
				}
				if !strings.Contains(err.Error(), "local-exec provisioner error") {
					t.Errorf("the launch's error lost Terraform's own text: %.2000s", err)
				}
			} else if err != nil || len(insts) != 1 {
				t.Fatalf("Launch = %v, %v; want 1 instance", idsOf(insts), err)
			}
			if limit := uint64(32 << 20); allocated > limit {
				t.Errorf("the launch allocated %d MiB for %d MiB Terraform wrote to its stderr, want at most %d MiB (however much it wrote)", allocated>>20, written>>20, limit>>20)
			}
		})
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
