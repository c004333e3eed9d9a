package scheduler_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/terraform"
)

// TestPermanentTerminateFailureIsLoggedOnce: an instance Terraform
// refuses to destroy (its module sets prevent_destroy) fails to end at
// every tick, and the scheduler logged "terminate failed" at every tick
// for as long as it ran. It is logged once (a warning naming the
// instance and the error); each tick still tries, records the error in
// its decision and counts it in spillway_terminate_failures_total.
func TestPermanentTerminateFailureIsLoggedOnce(t *testing.T) {
	t.Parallel()
	module := t.TempDir()
	src, err := os.ReadFile("../terraform/testdata/preventdestroy/main.tf")
	if err != nil {
		t.Fatal(err)
	}
	// A module setting prevent_destroy in its own files is refused at
	// start (terraform.CheckModule); one from a registry or git, which only
	// init fetches, is met at the terminate: the burst's copy is given
	// prevent_destroy once launched, as such a child module would.
	allowed := bytes.Replace(src, []byte("prevent_destroy = true"), []byte("prevent_destroy = false"), 1)
	if err := os.WriteFile(filepath.Join(module, "main.tf"), allowed, 0o600); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	ip := nextIPRange(t).Addr().Next().String()
	p := testPool()
	p.Offerings = p.Offerings[:1]
	logs := &lockedBuffer{}
	h := newHarness(t, p, func(h *harness) {
		tf, err := terraform.New(provName, terraform.Config{Module: module, Region: "us-east-1", Zones: []string{"us-east-1a"}, WorkDir: work,
			Variables: map[string]any{"private_ip": ip}})
		if err != nil {
			t.Fatalf("terraform.New: %v", err)
		}
		h.prov = tf
		h.logs = logs
		h.opts.CallTimeout = 2 * time.Minute
	})
	h.agents.serve(t, ip)
	id := h.joinOne(30*time.Second, 10)
	burstModule, err := filepath.Glob(filepath.Join(work, "bursts", "*", "main.tf"))
	if err != nil || len(burstModule) != 1 {
		t.Fatalf("the burst's copy of the module: %v (%v)", burstModule, err)
	}
	if err := os.WriteFile(burstModule[0], src, 0o600); err != nil {
		t.Fatal(err)
	}
	h.setDemand(0)
	h.agents.setBusy(0)
	failed := 0
	for range 12 {
		h.tick()
		for _, a := range h.decisions()[0].Terminates {
			if a.Instance == id && strings.Contains(a.Error, "prevent_destroy") {
				failed++
			}
		}
		h.clk.Step(time.Minute)
	}
	warned := strings.Count(logs.String(), `level=WARN msg="terminate failed`)
	t.Logf("%d ticks recorded the refused terminate, %d warnings", failed, warned)
	if failed < 3 {
		t.Fatalf("%d ticks recorded a terminate refused for prevent_destroy, want several: the repeated failure was not tested", failed)
	}
	if warned != 1 {
		t.Errorf("%d warnings of a failed terminate over %d ticks that failed alike, want 1", warned, failed)
	}
	if rs := h.rows(true); len(rs) != 1 || rs[0].ID != id {
		t.Errorf("live rows %v, want instance %s, still running and billed", rs, id)
	}
}
