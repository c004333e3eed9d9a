package terraform_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/terraform"
)

// A module that prints megabytes on every run does not fill the work dir:
// each run's log keeps its head and its tail, saying how much was cut
// between them, and the instances are still read from the apply's own log
// (no `terraform output` run).
func TestChattyModulesRunLogsAreBounded(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	work, live := t.TempDir(), t.TempDir()
	p := newProvider(t, terraform.Config{
		Module: "testdata/chatty", Region: region, Zones: zones, WorkDir: work,
		Variables: map[string]any{"lines": 8000, "live": live},
	})
	insts, err := p.Launch(ctx, launchRequest("chatty", "chatty-1", 2))
	if err != nil || len(insts) != 2 {
		t.Fatalf("Launch of 2 through a module printing 1.6 MB per instance = %v, %v; want 2 instances", idsOf(insts), err)
	}
	logs, err := filepath.Glob(filepath.Join(work, "bursts", "*", ".spillway", "runs", "*.log"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("run logs %v, %v", logs, err)
	}
	const bound = 1<<20 + 200 // head and tail, and the line between them
	var applyLog []byte
	for _, path := range logs {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > bound {
			t.Errorf("run log %s holds %d bytes, want at most %d", filepath.Base(path), len(data), bound)
		}
		if strings.HasSuffix(path, "-output.log") {
			t.Errorf("the instances were read with terraform output (%s), not from the apply's log", filepath.Base(path))
		}
		if strings.HasSuffix(path, "-apply.log") {
			applyLog = data
		}
	}
	if !bytes.Contains(applyLog, []byte("bytes of Terraform's output cut here")) || !bytes.Contains(applyLog, []byte(`"type":"outputs"`)) {
		t.Errorf("the apply's log does not say what was cut, or lost its outputs message:\n%.300s\n...\n%s", applyLog, applyLog[max(0, len(applyLog)-300):])
	}
	if err := p.Terminate(ctx, idsOf(insts)); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	if left := liveFiles(t, live); len(left) != 0 {
		t.Errorf("after Terminate the module's instances %v still exist", left)
	}
	listed, err := p.List(ctx, providers.ListFilter{Cluster: "lifecycle"})
	if err != nil || len(listed) != 0 {
		t.Errorf("List after Terminate = %v, %v; want nothing", idsOf(listed), err)
	}
}
