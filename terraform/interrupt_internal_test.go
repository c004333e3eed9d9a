package terraform

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
)

// TestRunPastItsDeadlineReportsNoNegativeGrace: a command whose caller's
// deadline has already passed when it starts is interrupted at once, and
// its error is the context's, not an interrupt a negative grace before the deadline ("interrupted -2ms before its
// caller's deadline").
func TestRunPastItsDeadlineReportsNoNegativeGrace(t *testing.T) {
	p := &Provider{opts: options{waitDelay: time.Minute}, env: map[string]string{}}
	tf, err := tfexec.NewTerraform(t.TempDir(), "/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		err := p.runTerraform(ctx, tf, newRunMark(), slog.New(slog.NewTextHandler(io.Discard, nil)), func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		})
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want it to wrap context.DeadlineExceeded", err)
		}
		if strings.Contains(err.Error(), "-") {
			t.Fatalf("err = %q: a negative grace", err)
		}
	}
}
