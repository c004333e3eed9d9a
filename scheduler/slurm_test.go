package scheduler_test

import (
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/internal/fixture"
	"github.com/spillway-io/spillway/scheduler"
)

// TestDrainHookDrainsTheSlurmNode drains a burst instance through a real
// Slurm cluster's scontrol before terminating it.
func TestDrainHookDrainsTheSlurmNode(t *testing.T) {
	slurm, err := fixture.StartSlurm()
	if err != nil {
		t.Fatalf("start Slurm (install slurm-wlm, slurmctld, slurmd, slurm-client, munge): %v", err)
	}
	t.Cleanup(func() { _ = slurm.Stop() })
	t.Setenv("SLURM_CONF", slurm.Conf)
	// The fixture's one node stands for the burst instance's node.
	hook := scheduler.CommandHook([]string{"scontrol", "update", "nodename=localhost", "state=drain", "reason=spillway-{{.ID}}"}, 20*time.Second)
	h := newHarness(t, testPool(), func(h *harness) { h.hook = hook })
	h.setDemand(2*time.Minute, 8)
	h.tick()
	h.until("joined", 10*time.Second, 20, func() bool { rs := h.rows(true); return len(rs) == 1 && !rs[0].JoinedAt.IsZero() })
	id := h.rows(true)[0].ID
	h.setDemand(0)
	h.until("drained", 30*time.Second, 30, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.drained) > 0
	})
	out, err := slurm.Run("scontrol", "show", "node", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "DRAIN") || !strings.Contains(out, "Reason=spillway-"+id) {
		t.Fatalf("scontrol show node after the drain hook:\n%s\nwant the node drained with reason spillway-%s", out, id)
	}
	for _, d := range h.decisions() {
		for _, a := range d.Drains {
			if a.Error != "" {
				t.Fatalf("drain recorded an error: %s", a.Error)
			}
		}
	}
	h.until("terminated", 30*time.Second, 30, func() bool { return len(h.live()) == 0 })
}
